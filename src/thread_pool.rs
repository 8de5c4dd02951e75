//! [`ThreadPool`]: the public face of a pool. It owns the pool's shared
//! state (`scheduler::Pool`, "the core"), allocated lazily at the first use
//! so that a pool can be a `static`, and freed by `Drop` after the workers
//! are joined.

use crate::builder::{Builder, check_max_threads};
use crate::error::{ScheduleError, SpawnError};
use crate::fork_join::{self, HeapTask, JoinHandle, Scope};
use crate::raw::Batch;
use crate::scheduler::{Config, Pool};
use crate::sync::unmodelled::{AtomicPtr, Ordering};
use core::fmt;
use core::ptr;

/// A work-stealing thread pool.
///
/// See the [crate documentation](crate) for the semantics of shutdown,
/// panics and failed thread spawns.
pub struct ThreadPool {
    /// The shared state, allocated at the first use (or by `build`), freed by
    /// `Drop` after `join_workers`. Never moves once allocated. A std atomic
    /// in every build, the model builds included (`sync::unmodelled`), so
    /// that the constructors are `const` there too.
    core: AtomicPtr<Pool>,
    /// The thread limit to build the core with at the first use (0: the
    /// available parallelism). Read only while `core` is null, which it
    /// never is for a pool made by `Builder::build`.
    lazy_max_threads: usize,
}

impl ThreadPool {
    /// A pool with one thread per available CPU, decided at first use.
    ///
    /// `const`: a pool can be a `static`. It starts no thread and
    /// allocates nothing until it is first used.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// use zap_pool::ThreadPool;
    /// static POOL: ThreadPool = ThreadPool::new();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// POOL.spawn(move || tx.send(42).unwrap()).unwrap();
    /// assert_eq!(rx.recv().unwrap(), 42);
    /// // A static is never dropped: shut it down and join it by hand
    /// // when the program wants its threads gone before it exits.
    /// POOL.shutdown();
    /// POOL.join_workers();
    /// ```
    pub const fn new() -> Self {
        Self {
            core: AtomicPtr::new(ptr::null_mut()),
            lazy_max_threads: 0,
        }
    }

    /// A pool of at most `max_threads` threads.
    ///
    /// # Panics
    ///
    /// If `max_threads` is 0 or more than [`MAX_THREADS`](crate::MAX_THREADS). In a `static`
    /// that is a compile-time error. [`ThreadPool::builder`] reports it
    /// as an error value instead.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// use zap_pool::ThreadPool;
    /// static POOL: ThreadPool = ThreadPool::with_max_threads(2);
    /// assert_eq!(POOL.max_threads(), 2);
    /// ```
    pub const fn with_max_threads(max_threads: usize) -> Self {
        if check_max_threads(max_threads).is_err() {
            panic!("max_threads must be between 1 and zap_pool::MAX_THREADS (16383)");
        }
        Self {
            core: AtomicPtr::new(ptr::null_mut()),
            lazy_max_threads: max_threads,
        }
    }

    /// A builder for a pool with more settings.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::builder()
    ///     .max_threads(2)
    ///     .thread_name(|i| format!("worker-{i}"))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(pool.max_threads(), 2);
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A pool whose core exists from the start (`Builder::build`).
    pub(crate) fn with_config(config: Config) -> Self {
        Self {
            core: AtomicPtr::new(Pool::boxed(config)),
            lazy_max_threads: 0,
        }
    }

    pub(crate) fn core(&self) -> &Pool {
        // Acquire: pairs with the Release CAS that published the core.
        let core = self.core.load(Ordering::Acquire);
        // SAFETY: a published core lives until `Drop`, which needs `&mut
        // self` (the model builds never free one).
        match unsafe { core.as_ref() } {
            Some(pool) if pool.is_current() => pool,
            _ => self.init_core(core),
        }
    }

    /// Builds the core at the first use, replacing `seen`: null, or in the
    /// model builds a core of an earlier execution (left to leak, as the
    /// model builds leave every core).
    #[cold]
    fn init_core(&self, seen: *mut Pool) -> &Pool {
        let mut builder = Builder::new();
        if self.lazy_max_threads != 0 {
            builder = builder.max_threads(self.lazy_max_threads);
        }
        let config = builder
            .resolve()
            .expect("the const constructor checked max_threads");
        match self.publish(seen, config) {
            Ok(fresh) => fresh,
            Err(existing) => existing,
        }
    }

    /// Gives a pool made by `new` (a `static`) the core that `config`
    /// describes, unless it has one already: it was used, or given one
    /// before. In the model builds a core of an earlier execution does not
    /// count. Returns whether `config` was taken.
    pub(crate) fn set_core(&self, config: Config) -> bool {
        // Acquire: as in `core`.
        let seen = self.core.load(Ordering::Acquire);
        // SAFETY: a published core lives until `Drop` (the model builds
        // never free one).
        if unsafe { seen.as_ref() }.is_some_and(Pool::is_current) {
            return false;
        }
        self.publish(seen, config).is_ok()
    }

    /// Publishes a fresh core built from `config` in place of `seen`: `Ok`
    /// with it, or `Err` with the core that another thread published first
    /// (the fresh one is freed).
    fn publish(&self, seen: *mut Pool, config: Config) -> Result<&Pool, &Pool> {
        let fresh = Pool::boxed(config);
        // AcqRel: Release publishes the new core; Acquire (also the failure
        // ordering) sees a core that another thread published first.
        match self
            .core
            .compare_exchange(seen, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            // SAFETY: just published; lives until `Drop`.
            Ok(_) => Ok(unsafe { &*fresh }),
            Err(existing) => {
                // SAFETY: `fresh` was never shared.
                unsafe { Pool::free(fresh) };
                // SAFETY: published by the winner; lives until `Drop`.
                Err(unsafe { &*existing })
            }
        }
    }

    /// The most threads this pool runs at once.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// assert_eq!(zap_pool::ThreadPool::with_max_threads(3).max_threads(), 3);
    /// ```
    pub fn max_threads(&self) -> usize {
        self.core().config().max_threads
    }

    /// The most threads this pool runs at once: [`max_threads`], under
    /// rayon's name for it.
    ///
    /// [`max_threads`]: ThreadPool::max_threads
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::with_max_threads(3);
    /// assert_eq!(pool.current_num_threads(), 3);
    /// // Inside the pool, the free function says the same.
    /// assert_eq!(pool.install(zap_pool::current_num_threads), 3);
    /// ```
    pub fn current_num_threads(&self) -> usize {
        self.max_threads()
    }

    /// A snapshot of the pool's threads, read from the word that the
    /// pool keeps anyway: nothing is counted on the task path for it.
    /// Other threads keep changing what it describes, so each field is
    /// exact only for the moment it was read.
    ///
    /// A pool that was never used reports no thread (and this call
    /// starts none).
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::with_max_threads(2);
    /// let m = pool.metrics();
    /// assert_eq!((m.threads, m.idle, m.max_threads), (0, 0, 2));
    /// pool.warm(2)?;
    /// assert_eq!(pool.metrics().threads, 2);
    /// assert!(!pool.metrics().is_shut_down);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn metrics(&self) -> Metrics {
        let core = self.core();
        let word = core.debug_word();
        Metrics {
            threads: word.spawned() as usize,
            idle: word.idle() as usize,
            max_threads: core.config().max_threads,
            failed_spawns: core.failed_spawns(),
            is_shut_down: word.state() == crate::scheduler::State::Shutdown,
        }
    }

    /// Starts up to `n` worker threads now, instead of when work first
    /// needs them: never more than [`max_threads`] in all, counting those
    /// already started. Returns how many it started.
    ///
    /// A thread started this way finds no work and goes idle, as any
    /// worker does when the pool runs dry; the pool's work then wakes it
    /// without the cost of a thread start. A shut-down pool starts none.
    ///
    /// # Errors
    ///
    /// The first failed spawn's error (the threads started before it keep
    /// running). The error is returned here instead of going to the
    /// [spawn error handler](crate::Builder::spawn_error_handler).
    ///
    /// [`max_threads`]: ThreadPool::max_threads
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::with_max_threads(2);
    /// assert_eq!(pool.warm(8)?, 2); // capped at max_threads
    /// assert_eq!(pool.warm(8)?, 0); // all started already
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn warm(&self, n: usize) -> Result<usize, std::io::Error> {
        self.core().warm(n)
    }

    /// Runs `f` on the pool. Allocates once (the task and `f` together).
    ///
    /// Fails, handing `f` back, if the pool was shut down and the caller is
    /// not one of its workers. A task running on this pool can always spawn
    /// more: the pool runs them before `join_workers` returns.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::with_max_threads(2);
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// pool.spawn(move || tx.send("hi").unwrap()).unwrap();
    /// assert_eq!(rx.recv().unwrap(), "hi");
    /// pool.shutdown();
    /// let refused = pool.spawn(|| ()).unwrap_err();
    /// let _f = refused.into_inner(); // the closure, back
    /// ```
    pub fn spawn<F>(&self, f: F) -> Result<(), SpawnError<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        HeapTask::spawn(self.core(), f).map_err(SpawnError::new)
    }

    /// Schedules a batch of raw tasks with one notification. Performs no heap
    /// allocation (beyond starting a thread the first time one is needed).
    ///
    /// Fails, handing the batch back untouched, if the pool was shut down and
    /// the caller is not one of its workers.
    ///
    /// # Safety
    ///
    /// For every task in `batch`, until its callback starts:
    /// * the task stays alive and does not move;
    /// * it is in no other batch, and not scheduled again;
    /// * nothing else reads or writes it.
    ///
    /// The callback runs on some pool thread (or on the thread that calls
    /// [`join_workers`](ThreadPool::join_workers)), so whatever it touches must be safe to use
    /// from there (`Send`).
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// use std::ptr::NonNull;
    /// use zap_pool::{ThreadPool, raw::{Batch, Task}};
    /// unsafe fn noop(_: NonNull<Task>) {}
    /// let pool = ThreadPool::with_max_threads(1);
    /// let mut task = Task::new(noop);
    /// // SAFETY: `task` outlives the pool's use of it: we join before it drops.
    /// unsafe { pool.schedule(Batch::from(&mut task)) }.unwrap();
    /// pool.shutdown();
    /// pool.join_workers();
    /// ```
    pub unsafe fn schedule(&self, batch: Batch) -> Result<(), ScheduleError> {
        self.core().schedule(batch).map_err(ScheduleError::new)
    }

    /// Runs `a` and `b` on this pool, potentially in parallel, and returns
    /// both results: rayon's `join`, with no heap allocation.
    ///
    /// On a worker of this pool this is [`zap_pool::join`](crate::join): `b`
    /// is offered to the other workers while `a` runs here, and runs here
    /// too if nobody took it. From any other thread the whole join is sent
    /// into the pool as one job that lives on this thread's stack, and this
    /// thread waits until it finished; nested calls of
    /// [`zap_pool::join`](crate::join) inside `a` and `b` then fork on the
    /// pool's workers. If the pool was shut down and this thread is not one
    /// of its workers, `a` and then `b` run here, on this thread.
    ///
    /// Waiting never hangs the caller on a pool that cannot run the job:
    ///
    /// * A worker of another pool keeps running its own pool's tasks while
    ///   it waits, so pools may nest in each other in any way.
    /// * Any other thread blocks on a futex while this pool has a worker
    ///   thread. If it has none and none is starting (every thread spawn
    ///   failed), the waiting thread retries the spawn (after running 0, 1,
    ///   2, 4, ... 64 of the pool's tasks, reporting each failure to the
    ///   [spawn error handler](crate::Builder::spawn_error_handler)) and
    ///   runs the pool's queued tasks itself meanwhile, this job among them.
    ///   So when spawns keep failing for ever, the job still completes, on
    ///   the caller's thread.
    ///
    /// # Panics
    ///
    /// Re-raises a panic of `a` or `b` once both have finished (see
    /// [`zap_pool::join`](crate::join)).
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// fn fib(n: u32) -> u64 {
    ///     if n < 2 {
    ///         return n as u64;
    ///     }
    ///     let (a, b) = zap_pool::join(|| fib(n - 1), || fib(n - 2));
    ///     a + b
    /// }
    /// let pool = zap_pool::ThreadPool::with_max_threads(2);
    /// assert_eq!(pool.join(|| fib(20), || fib(19)), (6765, 4181));
    /// ```
    pub fn join<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        fork_join::join::join_in(self.core(), a, b)
    }

    /// Runs `f` on a worker of this pool and returns its result, as
    /// rayon's `install`: inside `f`, [`zap_pool::join`](crate::join),
    /// [`zap_pool::scope`](crate::scope), [`zap_pool::spawn`](crate::spawn)
    /// and [`zap_pool::current_num_threads`](crate::current_num_threads) use
    /// this pool.
    ///
    /// * On a worker of this pool, `f` simply runs here.
    /// * From any other thread, `f` is sent into the pool as one job that
    ///   lives on this thread's stack (no heap allocation), and this thread
    ///   waits for it as [`ThreadPool::join`] does: a worker of another pool
    ///   keeps running its own pool's tasks meanwhile; any other thread
    ///   blocks, and if this pool cannot start a thread at all, it runs the
    ///   pool's queued tasks itself, `f` among them (then `f` runs on this
    ///   thread, in its own context).
    /// * If the pool was shut down (and this thread is not one of its
    ///   workers), `f` runs here, on this thread, as `ThreadPool::join`'s
    ///   closures do then.
    ///
    /// # Panics
    ///
    /// Re-raises a panic of `f`.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::with_max_threads(2);
    /// let sum = pool.install(|| {
    ///     assert!(zap_pool::current_thread_index().is_some()); // on a worker
    ///     let (a, b) = zap_pool::join(|| (0..500u64).sum::<u64>(), || (500..1000u64).sum::<u64>());
    ///     a + b
    /// });
    /// assert_eq!(sum, 499_500);
    /// ```
    pub fn install<F, R>(&self, f: F) -> R
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        fork_join::join::install_in(self.core(), f)
    }

    /// Runs `f` once on each of the pool's [`max_threads`](ThreadPool::max_threads)
    /// threads, starting the ones not yet running, and returns the results
    /// in thread-index order (rayon's `broadcast`). Each call gets a
    /// [`BroadcastContext`](crate::BroadcastContext) with the thread's index.
    ///
    /// A thread runs its piece when it next looks for work: an idle thread
    /// at once, a busy one once its own queued tasks are done (or while it
    /// waits inside a task). So `broadcast` returns only after every thread
    /// got that far. Called from a task of this pool, the calling thread
    /// runs its own piece while it waits.
    ///
    /// # Panics
    ///
    /// If `f` panicked on some thread, the first panic is re-raised here
    /// once every piece finished. If a thread cannot be started (the spawn
    /// error is in the message), or the pool is shut down, `broadcast`
    /// panics without running `f` anywhere. A broadcast that a
    /// [`shutdown`](ThreadPool::shutdown) races either runs on every thread
    /// (they run their pieces before they leave) or is refused.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// let pool = zap_pool::ThreadPool::with_max_threads(3);
    /// let calls = AtomicUsize::new(0);
    /// let names = pool.broadcast(|ctx| {
    ///     calls.fetch_add(1, Ordering::Relaxed);
    ///     format!("{} of {}", ctx.index(), ctx.num_threads())
    /// });
    /// assert_eq!(names, ["0 of 3", "1 of 3", "2 of 3"]);
    /// assert_eq!(calls.into_inner(), 3);
    /// ```
    pub fn broadcast<F, R>(&self, f: F) -> Vec<R>
    where
        F: Fn(crate::BroadcastContext<'_>) -> R + Sync,
        R: Send,
    {
        fork_join::broadcast_in(self.core(), f)
    }

    /// Runs `body` with a [`Scope`] whose tasks may borrow from the caller,
    /// and returns once `body` and every task spawned in the scope have
    /// finished.
    ///
    /// `body` runs on the calling thread, as with [`std::thread::scope`].
    /// On a worker of this pool, waiting for the tasks means running tasks
    /// of the pool meanwhile; on any other thread it waits as
    /// [`ThreadPool::join`] does (and never hangs on a pool that cannot
    /// start a thread: it runs the tasks itself).
    ///
    /// # Panics
    ///
    /// If `body` or a task of the scope panicked, the panic is re-raised
    /// here once all of them have finished (the body's panic first, else
    /// the first task's).
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::with_max_threads(2);
    /// let words = vec!["zap", "pool", "scope"];
    /// let mut lengths = vec![0; words.len()];
    /// pool.scope(|s| {
    ///     for (word, len) in words.iter().zip(&mut lengths) {
    ///         s.spawn(move |_| *len = word.len());
    ///     }
    /// });
    /// assert_eq!(lengths, [3, 4, 5]);
    /// ```
    pub fn scope<'scope, F, R>(&self, body: F) -> R
    where
        F: FnOnce(&Scope<'scope>) -> R,
    {
        Scope::run(self.core(), body)
    }

    /// Runs `f` on the pool and returns a [`JoinHandle`] to wait for its
    /// result. Allocates once (task, closure and result slot together).
    ///
    /// Fails, handing `f` back, if the pool was shut down and the caller is
    /// not one of its workers, as [`spawn`](ThreadPool::spawn) does.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::with_max_threads(2);
    /// let handles: Vec<_> = (0..4u64)
    ///     .map(|i| pool.spawn_with_handle(move || i * i).unwrap())
    ///     .collect();
    /// let squares: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    /// assert_eq!(squares, [0, 1, 4, 9]);
    /// ```
    pub fn spawn_with_handle<F, T>(&self, f: F) -> Result<JoinHandle<T>, SpawnError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        JoinHandle::spawn(self.core(), f).map_err(SpawnError::new)
    }

    /// Runs `future` on the pool: its polls are tasks of this pool, and
    /// its [`JoinHandle`] (itself a `Future`, or [`join`](JoinHandle::join)
    /// to block) gives its output. Allocates once (task, future and output
    /// slot together); a poll or a wake allocates nothing.
    ///
    /// * **Wakes** may come from any thread, of this pool, of another pool
    ///   or of none: the task is always scheduled into this pool (from
    ///   one of its workers, onto that worker's own queue). A wake while
    ///   the future is being polled makes the pool poll it again after
    ///   that poll; several wakes before a poll make one poll.
    /// * **A panicking poll** is caught: the future is dropped, and the
    ///   handle returns `Err` with the payload (the pool's panic handler
    ///   does not see it). So does a panic while dropping a completed
    ///   future.
    /// * **Dropping the handle** detaches the task: it keeps running when
    ///   woken, and its output is dropped. There is no cancellation; a
    ///   future that no waker can reach any more (every waker dropped while
    ///   it waits) is dropped once its handle is gone too.
    /// * **After [`shutdown`](ThreadPool::shutdown)** the futures already
    ///   accepted still run, like every accepted task: a wake from outside
    ///   the pool, which then refuses it, polls the future right there, on
    ///   the waking thread, inside `wake`. So a future is never lost, and
    ///   its handle never waits for a pool that is gone; but after shutdown
    ///   do not wake a pool's futures while holding a lock that they take.
    ///   A task's pool stays allocated (a few hundred bytes, no threads)
    ///   until the task is gone, so a late wake never touches freed memory.
    ///
    /// Fails, handing `future` back, if the pool was shut down and the
    /// caller is not one of its workers, as [`spawn`](ThreadPool::spawn)
    /// does.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::with_max_threads(2);
    /// let a = pool.spawn_future(async { 20 }).unwrap();
    /// let b = pool.spawn_future(async move { a.await.unwrap() + 22 }).unwrap();
    /// assert_eq!(b.join().unwrap(), 42);
    /// let bad = pool.spawn_future(async { panic!("boom") }).unwrap();
    /// assert!(zap_pool::block_on(bad).is_err());
    /// ```
    pub fn spawn_future<F>(&self, future: F) -> Result<JoinHandle<F::Output>, SpawnError<F>>
    where
        F: core::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        fork_join::future::spawn(self.core(), future).map_err(SpawnError::new)
    }

    /// Stops accepting tasks from outside the pool and lets the workers exit
    /// once every accepted task has run. Returns at once; idempotent.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::with_max_threads(1);
    /// pool.shutdown();
    /// assert!(pool.spawn(|| ()).is_err());
    /// ```
    pub fn shutdown(&self) {
        self.core().shutdown();
    }

    /// Waits until the pool has been shut down (by any thread) and every
    /// accepted task has run, then lets the worker threads go.
    ///
    /// Returns at once if the pool was already joined. Without a call to
    /// [`shutdown`](ThreadPool::shutdown) it waits for one, like the
    /// original Zap pool; `Drop` does both.
    ///
    /// The workers are detached threads: when `join_workers` returns none of them
    /// touches the pool any more, and each is about to exit.
    ///
    /// A task that never returns keeps its worker for ever, so
    /// `join_workers` (and `Drop`) never returns either: the pool cannot
    /// end a task from outside.
    ///
    /// # Panics
    ///
    /// If called from a task running on this pool, or from one of its hooks
    /// ([`on_thread_start`](crate::Builder::on_thread_start),
    /// [`on_thread_stop`](crate::Builder::on_thread_stop), the
    /// [`thread_name`](crate::Builder::thread_name) closure, the spawn
    /// handler, the spawn error handler, the panic handler): it would wait
    /// for its own thread. The message names the hook.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::with_max_threads(2);
    /// pool.spawn(|| println!("hello")).unwrap();
    /// pool.shutdown();
    /// pool.join_workers(); // "hello" has been printed
    /// ```
    pub fn join_workers(&self) {
        self.join_workers_checked();
    }

    /// Blocks until the pool is idle: no task queued and none running. So
    /// every task accepted before the call, and every task those spawned in
    /// this pool, has finished, and its effects are visible to the caller.
    /// The pool stays open (unlike [`shutdown`](ThreadPool::shutdown) and
    /// [`join_workers`](ThreadPool::join_workers)).
    ///
    /// It returns at the first *quiet instant* after the call, as Java's
    /// `ForkJoinPool::awaitQuiescence` does. Tasks that other threads submit
    /// meanwhile are not told apart: those accepted before that instant have
    /// finished too, those accepted after it may not have started. If other
    /// threads keep the pool busy without a pause, the call waits until
    /// they pause; a caller that needs only its own tasks should wait for
    /// them instead (a [`scope`](ThreadPool::scope) or
    /// [`JoinHandle`]s). The proof is `docs/quiet.md`.
    ///
    /// Waiting costs the tasks nothing: the pool counts the threads that
    /// may hold a task as they wake up and go idle, not per task.
    ///
    /// On a worker of another pool, that worker keeps running its own
    /// pool's tasks while it waits; on a pool that cannot start a thread,
    /// the caller runs the queued tasks itself (as [`join`](ThreadPool::join)
    /// does). A closure that a [`JoinHandle::join`] ran on the joining
    /// thread (it had not started) counts as finished once claimed, and a
    /// future task that waits for a wake-up
    /// ([`spawn_future`](ThreadPool::spawn_future)) is neither queued nor
    /// running until it is woken: `wait_idle` does not wait for it.
    ///
    /// # Panics
    ///
    /// If called from a task of this pool: the pool cannot be idle while
    /// the caller runs.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// let pool = zap_pool::ThreadPool::with_max_threads(2);
    /// let done = Arc::new(AtomicUsize::new(0));
    /// for _ in 0..100 {
    ///     let done = done.clone();
    ///     pool.spawn(move || {
    ///         done.fetch_add(1, Ordering::Relaxed);
    ///     })
    ///     .unwrap();
    /// }
    /// pool.wait_idle();
    /// assert_eq!(done.load(Ordering::Relaxed), 100);
    /// pool.spawn(|| ()).unwrap(); // still open
    /// ```
    pub fn wait_idle(&self) {
        let core = self.core();
        assert!(
            !core.is_own_worker(),
            "ThreadPool::wait_idle called from one of its own tasks: the pool cannot be idle while it runs"
        );
        core.wait_quiet();
    }

    fn join_workers_checked(&self) {
        let core = self.core();
        if let Some(hook) = core.current_hook() {
            panic!(
                "ThreadPool::join_workers called from the pool's {hook} hook: it would wait for its own thread"
            );
        }
        assert!(
            !core.is_own_worker(),
            "ThreadPool::join_workers called from one of its own tasks: it would wait for itself"
        );
        core.join_workers();
    }
}

impl Default for ThreadPool {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = self.core.load(Ordering::Acquire);
        let mut d = f.debug_struct("ThreadPool");
        if core.is_null() {
            d.field("started", &false);
        } else {
            // SAFETY: published cores live until `Drop`.
            let core = unsafe { &*core };
            d.field("max_threads", &core.config().max_threads)
                .field("sync", &core.debug_word());
        }
        d.finish_non_exhaustive()
    }
}

impl Drop for ThreadPool {
    /// Shuts the pool down and joins it: every accepted task runs first,
    /// then the shared state is freed.
    ///
    /// Dropped where it cannot wait for its own threads (from one of its own
    /// tasks, or from one of its hooks), the pool shuts down and returns at
    /// once; every accepted task still runs, and the last worker thread to
    /// leave releases the others and frees the shared state, so no thread
    /// is left waiting. (If no worker thread exists at that moment, the
    /// dropping thread runs what is left itself and the shared state, a few
    /// hundred bytes, is leaked: it may hold the very closure that runs.)
    fn drop(&mut self) {
        let core = self.core.load(Ordering::Acquire);
        // SAFETY: published cores live until here.
        let Some(pool) = (unsafe { core.as_ref() }) else {
            return;
        };
        if !pool.is_current() {
            // A `static` pool's core of an earlier model execution: nothing
            // of it runs any more.
            return;
        }
        if pool.is_own_worker() || pool.current_hook().is_some() {
            pool.abandon();
            return;
        }
        pool.shutdown();
        pool.join_workers();
        // SAFETY: `join_workers` returned: no worker touches the core any
        // more (hazard 5), and `&mut self` rules out every other user.
        unsafe { Pool::free(core) };
    }
}

/// What [`ThreadPool::metrics`] reports: a snapshot, each field read once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Threads the pool counts: running a task, waiting, idle, or being
    /// started (a spawn in flight). At most `max_threads`.
    pub threads: usize,
    /// Of those, the ones asleep until the pool has work for them (idle
    /// workers, and workers waiting inside a task for forked work).
    pub idle: usize,
    /// The most threads the pool runs at once.
    pub max_threads: usize,
    /// How many thread spawns have failed since the pool was built.
    pub failed_spawns: usize,
    /// Whether [`ThreadPool::shutdown`] has been called.
    pub is_shut_down: bool,
}
