//! # zap-pool
//!
//! The Zap thread pool in Rust: lock-free, allocation-free work stealing with
//! intrusive tasks, batch scheduling and lazy, failure-tolerant thread
//! spawning, checked with loom and shuttle.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use zap_pool::ThreadPool;
//!
//! let pool = ThreadPool::builder().max_threads(4).build()?;
//! let count = Arc::new(AtomicUsize::new(0));
//! for _ in 0..100 {
//!     let count = count.clone();
//!     pool.spawn(move || {
//!         count.fetch_add(1, Ordering::Relaxed);
//!     })?;
//! }
//! drop(pool); // shutdown + join_workers: every accepted task has run
//! assert_eq!(count.load(Ordering::Relaxed), 100);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Three kinds of work share one scheduler:
//!
//! * [`ThreadPool::spawn`] boxes a closure: one heap allocation per task.
//! * [`ThreadPool::schedule`] takes a [`raw::Batch`] of intrusive
//!   [`raw::Task`]s that the caller owns: no heap allocation at all.
//! * Fork-join, as in rayon: [`join`] / [`ThreadPool::join`] (no heap
//!   allocation: the forked closure lives on the caller's stack),
//!   [`ThreadPool::scope`] (tasks that borrow from the caller; one allocation
//!   each) and [`ThreadPool::spawn_with_handle`] (a [`JoinHandle`] for the
//!   result; one allocation). A worker that waits for forked work runs other
//!   tasks of its pool meanwhile, so nesting never deadlocks, even on one
//!   thread; a thread outside the pool blocks on a futex.
//!
//! ## Semantics
//!
//! * **Threads are lazy.** A pool starts no thread and allocates nothing
//!   until its first use. A task wakes an idle worker or starts a new one, up
//!   to `max_threads`. A pool can be a `static` ([`ThreadPool::new`] and
//!   [`ThreadPool::with_max_threads`] are `const`).
//! * **Shutdown drains.** [`ThreadPool::shutdown`] stops intake from outside
//!   the pool; every task accepted before it still runs, and so does every task
//!   that a running task of this pool schedules, before [`ThreadPool::join_workers`]
//!   returns. No task is dropped unrun, and none is leaked.
//! * **After shutdown**, `spawn` and `schedule` from any thread that is not a
//!   worker of this pool fail with [`SpawnError`] / [`ScheduleError`], which
//!   hand the task back.
//! * **Panics** in tasks are caught; the worker carries on. The payload goes
//!   to the [`Builder::panic_handler`]; by default it is dropped, since the
//!   standard panic hook has already printed the message. (rayon aborts the
//!   process by default; tokio keeps the payload for the task's `JoinHandle`.
//!   A pool of independent fire-and-forget tasks is closer to tokio: one
//!   failing task should not take the others down.) A panicking panic
//!   handler aborts the process.
//! * **A failed thread spawn** is undone: the pool's state is repaired, the
//!   error goes to the [`Builder::spawn_error_handler`] (by default it is
//!   printed to stderr), and every accepted task still runs on a thread that
//!   does start, or at the latest on the thread that calls `join`.
//!
//! ## Correctness
//!
//! The lock-free parts are written against one `sync` facade that the model
//! checkers replace: `RUSTFLAGS="--cfg loom" cargo test --release --test
//! loom_tests` explores every interleaving of small scenarios, and
//! `RUSTFLAGS="--cfg shuttle" cargo test --release --test shuttle_tests`
//! runs randomized schedules of whole-pool ones. The proof notes are in
//! `docs/`.

#![warn(missing_docs, unsafe_op_in_unsafe_fn)]
// The model-checking builds expose internal components to their test suites.
#![cfg_attr(any(loom, shuttle), allow(missing_docs))]

mod buffer;
mod event;
mod handle;
mod join;
mod join_deque;
mod latch;
mod pool;
mod queue;
pub mod raw;
mod scope;
mod sync;
mod sync_word;
mod worker;

use crate::pool::{Config, Pool};
use crate::raw::{Batch, Task};
use crate::sync::atomic::{AtomicPtr, Ordering};
use core::fmt;
use core::ptr::{self, NonNull};
use std::any::Any;
use std::io;

pub use crate::handle::JoinHandle;
pub use crate::join::join;
pub use crate::pool::WorkerThread;
pub use crate::scope::Scope;
pub use crate::sync_word::MAX_THREADS;

/// A work-stealing thread pool.
///
/// See the [crate documentation](crate) for the semantics of shutdown,
/// panics and failed thread spawns.
pub struct ThreadPool {
    /// The shared state, allocated at the first use (or by `build`), freed by
    /// `Drop` after `join`. Never moves once allocated.
    core: AtomicPtr<Pool>,
    /// For pools made by a `const` constructor: the thread limit to use at
    /// the first use; 0 means the machine's available parallelism.
    lazy_max_threads: usize,
}

impl ThreadPool {
    sync::const_fn_unless_loom! {
        /// A pool with one thread per available CPU, decided at first use.
        ///
        /// `const`: a pool can be a `static`. It starts no thread and
        /// allocates nothing until it is first used.
        ///
        /// ```
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
        pub fn new() -> Self {
            Self { core: AtomicPtr::new(ptr::null_mut()), lazy_max_threads: 0 }
        }
    }

    sync::const_fn_unless_loom! {
        /// A pool of at most `max_threads` threads.
        ///
        /// # Panics
        ///
        /// If `max_threads` is 0 or more than [`MAX_THREADS`]. In a `static`
        /// that is a compile-time error. [`ThreadPool::builder`] reports it
        /// as an error value instead.
        ///
        /// ```
        /// use zap_pool::ThreadPool;
        /// static POOL: ThreadPool = ThreadPool::with_max_threads(2);
        /// assert_eq!(POOL.max_threads(), 2);
        /// ```
        pub fn with_max_threads(max_threads: usize) -> Self {
            assert!(
                max_threads >= 1 && max_threads <= MAX_THREADS,
                "max_threads must be between 1 and zap_pool::MAX_THREADS (16383)"
            );
            Self { core: AtomicPtr::new(ptr::null_mut()), lazy_max_threads: max_threads }
        }
    }

    /// A builder for a pool with more settings.
    ///
    /// ```
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

    fn core(&self) -> &Pool {
        // Acquire: pairs with the Release CAS that published the core.
        let core = self.core.load(Ordering::Acquire);
        if core.is_null() {
            return self.init_core();
        }
        // SAFETY: a published core lives until `Drop`, which needs `&mut self`.
        unsafe { &*core }
    }

    #[cold]
    fn init_core(&self) -> &Pool {
        let max_threads = match self.lazy_max_threads {
            0 => sync::thread::available_parallelism().clamp(1, MAX_THREADS),
            n => n,
        };
        let fresh = Box::into_raw(Box::new(Pool::new(Config {
            max_threads,
            ..Config::default()
        })));
        sync::ghost::allocated(fresh as *const ());
        // AcqRel: Release publishes the new core; Acquire (also the failure
        // ordering) sees a core that another thread published first.
        match self.core.compare_exchange(
            ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: just published; lives until `Drop`.
            Ok(_) => unsafe { &*fresh },
            Err(existing) => {
                // SAFETY: `fresh` was never shared.
                drop(unsafe { Box::from_raw(fresh) });
                // SAFETY: published by the winner; lives until `Drop`.
                unsafe { &*existing }
            }
        }
    }

    /// The most threads this pool runs at once.
    ///
    /// ```
    /// assert_eq!(zap_pool::ThreadPool::with_max_threads(3).max_threads(), 3);
    /// ```
    pub fn max_threads(&self) -> usize {
        self.core().config.max_threads
    }

    /// Runs `f` on the pool. Allocates once (the task and `f` together).
    ///
    /// Fails, handing `f` back, if the pool was shut down and the caller is
    /// not one of its workers. A task running on this pool can always spawn
    /// more: the pool runs them before `join` returns.
    ///
    /// ```
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
        #[repr(C)]
        struct HeapTask<F> {
            task: Task,
            f: F,
        }

        unsafe fn run<F: FnOnce()>(task: NonNull<Task>) {
            // SAFETY: `task` is the first field of a `HeapTask<F>` made by
            // `Box::into_raw` in `spawn`, and the pool calls this once.
            let heap = unsafe { Box::from_raw(task.cast::<HeapTask<F>>().as_ptr()) };
            let HeapTask { f, .. } = *heap; // frees the allocation first
            f();
        }

        let heap = Box::into_raw(Box::new(HeapTask {
            task: Task::new(run::<F>),
            f,
        }));
        let mut batch = Batch::new();
        // A pointer to the whole allocation (not to its `task` field), so
        // `run` may turn it back into the `Box`.
        // SAFETY: `heap` is a fresh, unique allocation.
        unsafe { batch.push_raw(NonNull::new_unchecked(heap).cast()) };
        // SAFETY: the task is heap-allocated (pinned) and lives until its
        // callback frees it; it is in no other batch.
        match unsafe { self.schedule(batch) } {
            Ok(()) => Ok(()),
            Err(_refused) => {
                // SAFETY: refused, so the pool never saw it: still ours.
                let HeapTask { f, .. } = *unsafe { Box::from_raw(heap) };
                Err(SpawnError { task: f })
            }
        }
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
        self.core()
            .schedule(batch)
            .map_err(|batch| ScheduleError { batch })
    }

    /// Runs `a` and `b` on this pool, potentially in parallel, and returns
    /// both results: rayon's `join`, with no heap allocation.
    ///
    /// On a worker of this pool this is [`zap_pool::join`](crate::join): `b`
    /// is offered to the other workers while `a` runs here, and runs here
    /// too if nobody took it. From any other thread the whole join is sent
    /// into the pool as one job that lives on this thread's stack, and this
    /// thread blocks (on a futex) until it finished; nested calls of
    /// [`zap_pool::join`](crate::join) inside `a` and `b` then fork on the
    /// pool's workers. If the pool was shut down and this thread is not one
    /// of its workers, `a` and then `b` run here.
    ///
    /// # Panics
    ///
    /// Re-raises a panic of `a` or `b` once both have finished (see
    /// [`zap_pool::join`](crate::join)).
    ///
    /// ```
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
        join::join_in(self.core(), a, b)
    }

    /// Runs `body` with a [`Scope`] whose tasks may borrow from the caller,
    /// and returns once `body` and every task spawned in the scope have
    /// finished.
    ///
    /// `body` runs on the calling thread, as with [`std::thread::scope`].
    /// On a worker of this pool, waiting for the tasks means running tasks
    /// of the pool meanwhile; on any other thread it blocks on a futex.
    ///
    /// # Panics
    ///
    /// If `body` or a task of the scope panicked, the panic is re-raised
    /// here once all of them have finished (the body's panic first, else
    /// the first task's).
    ///
    /// ```
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
        JoinHandle::spawn(self.core(), f).map_err(|task| SpawnError { task })
    }

    /// Stops accepting tasks from outside the pool and lets the workers exit
    /// once every accepted task has run. Returns at once; idempotent.
    ///
    /// ```
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
    /// The workers are detached threads: when `join` returns none of them
    /// touches the pool any more, and each is about to exit.
    ///
    /// # Panics
    ///
    /// If called from a task running on this pool, which would wait for
    /// itself.
    ///
    /// ```
    /// let pool = zap_pool::ThreadPool::with_max_threads(2);
    /// pool.spawn(|| println!("hello")).unwrap();
    /// pool.shutdown();
    /// pool.join_workers(); // "hello" has been printed
    /// ```
    pub fn join_workers(&self) {
        let core = self.core();
        assert!(
            !self.is_own_worker(core),
            "ThreadPool::join_workers called from one of its own tasks: it would wait for itself"
        );
        core.join();
    }

    fn is_own_worker(&self, core: &Pool) -> bool {
        worker::current_of(core).is_some()
    }

    #[cfg(any(loom, shuttle))]
    fn debug_word(&self) -> sync_word::SyncWord {
        self.core().debug_word()
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
            d.field("max_threads", &core.config.max_threads)
                .field("sync", &core.sync_word(Ordering::Relaxed));
        }
        d.finish_non_exhaustive()
    }
}

impl Drop for ThreadPool {
    /// Shuts the pool down and joins it: every accepted task runs first.
    ///
    /// Dropped from one of its own tasks, the pool cannot wait for itself:
    /// it shuts down and its shared state is leaked (a few hundred bytes)
    /// instead of freed under the running workers.
    fn drop(&mut self) {
        let core = self.core.load(Ordering::Acquire);
        if core.is_null() {
            return;
        }
        // SAFETY: published cores live until here.
        let pool = unsafe { &*core };
        pool.shutdown();
        if self.is_own_worker(pool) {
            return;
        }
        pool.join();
        sync::ghost::freed(core as *const ());
        // The model builds keep the memory (see `sync::ghost`); the mark
        // above is what their checks look at.
        if cfg!(not(any(loom, shuttle))) {
            // SAFETY: `join` returned: no worker touches the core any more
            // (hazard 5), and `&mut self` rules out every other user.
            drop(unsafe { Box::from_raw(core) });
        }
    }
}

/// Configures a [`ThreadPool`].
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// let started = Arc::new(AtomicUsize::new(0));
/// let s = started.clone();
/// let pool = zap_pool::ThreadPool::builder()
///     .max_threads(2)
///     .stack_size(256 * 1024)
///     .on_thread_start(move |_index| { s.fetch_add(1, Ordering::Relaxed); })
///     .panic_handler(|payload| eprintln!("task panicked: {payload:?}"))
///     .build()
///     .unwrap();
/// pool.spawn(|| ()).unwrap();
/// drop(pool);
/// assert!(started.load(Ordering::Relaxed) >= 1);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    max_threads: Option<usize>,
    config: Config,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("max_threads", &self.max_threads)
            .field("stack_size", &self.config.stack_size)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// A builder with the defaults: one thread per available CPU, the
    /// platform's stack size, threads named `zap-pool-N`, panics dropped after
    /// the panic hook printed them, spawn errors printed to stderr.
    ///
    /// ```
    /// let pool = zap_pool::Builder::new().build().unwrap();
    /// assert!(pool.max_threads() >= 1);
    /// ```
    pub fn new() -> Self {
        Self {
            max_threads: None,
            config: Config::default(),
        }
    }

    /// The most threads the pool runs at once: 1 to [`MAX_THREADS`].
    /// Default: the available parallelism.
    ///
    /// ```
    /// assert!(zap_pool::ThreadPool::builder().max_threads(0).build().is_err());
    /// ```
    pub fn max_threads(mut self, max_threads: usize) -> Self {
        self.max_threads = Some(max_threads);
        self
    }

    /// The stack size of each worker thread, in bytes.
    ///
    /// ```
    /// let pool = zap_pool::ThreadPool::builder().stack_size(1 << 20).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.config.stack_size = Some(bytes);
        self
    }

    /// Names the worker threads: called with each worker's index.
    ///
    /// ```
    /// let pool = zap_pool::ThreadPool::builder().thread_name(|i| format!("sorter-{i}")).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn thread_name<F>(mut self, name: F) -> Self
    where
        F: FnMut(usize) -> String + Send + 'static,
    {
        self.config.thread_name = Some(std::sync::Mutex::new(Box::new(name)));
        self
    }

    /// Runs on each worker thread when it starts, with its index.
    ///
    /// ```
    /// let pool = zap_pool::ThreadPool::builder().on_thread_start(|i| eprintln!("worker {i} up")).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn on_thread_start<F>(mut self, hook: F) -> Self
    where
        F: Fn(usize) + Send + Sync + 'static,
    {
        self.config.on_thread_start = Some(Box::new(hook));
        self
    }

    /// Runs on each worker thread when it stops, with its index, after its
    /// last task. The thread no longer counts as a worker of the pool then,
    /// and the pool is shut down: a `spawn` from the hook is refused.
    ///
    /// ```
    /// let pool = zap_pool::ThreadPool::builder().on_thread_stop(|i| eprintln!("worker {i} done")).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn on_thread_stop<F>(mut self, hook: F) -> Self
    where
        F: Fn(usize) + Send + Sync + 'static,
    {
        self.config.on_thread_stop = Some(Box::new(hook));
        self
    }

    /// Receives the payload of every panic of a task (or of a thread hook).
    /// If the handler itself panics, the process aborts.
    ///
    /// ```
    /// let pool = zap_pool::ThreadPool::builder()
    ///     .panic_handler(|payload| eprintln!("a task panicked: {payload:?}"))
    ///     .build()
    ///     .unwrap();
    /// # drop(pool);
    /// ```
    pub fn panic_handler<F>(mut self, handler: F) -> Self
    where
        F: Fn(Box<dyn Any + Send>) + Send + Sync + 'static,
    {
        self.config.panic_handler = Some(Box::new(handler));
        self
    }

    /// Starts worker threads in place of `std::thread::Builder`: the handler
    /// receives a [`WorkerThread`] and must call [`WorkerThread::run`] on a new
    /// thread. Returning an error (or dropping the `WorkerThread`) is a failed
    /// spawn: the pool undoes it and carries on.
    ///
    /// ```
    /// let pool = zap_pool::ThreadPool::builder()
    ///     .spawn_handler(|worker| {
    ///         std::thread::Builder::new()
    ///             .name(format!("custom-{}", worker.index()))
    ///             .spawn(move || worker.run())?;
    ///         Ok(())
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # drop(pool);
    /// ```
    pub fn spawn_handler<F>(mut self, handler: F) -> Self
    where
        F: Fn(WorkerThread) -> io::Result<()> + Send + Sync + 'static,
    {
        self.config.spawn_handler = Some(Box::new(handler));
        self
    }

    /// Receives the error of every failed thread spawn. Default: print it to
    /// stderr.
    ///
    /// ```
    /// let pool = zap_pool::ThreadPool::builder()
    ///     .spawn_error_handler(|error| eprintln!("no thread: {error}"))
    ///     .build()
    ///     .unwrap();
    /// # drop(pool);
    /// ```
    pub fn spawn_error_handler<F>(mut self, handler: F) -> Self
    where
        F: Fn(io::Error) + Send + Sync + 'static,
    {
        self.config.spawn_error_handler = Some(Box::new(handler));
        self
    }

    /// Builds the pool. No thread starts until the first task arrives.
    ///
    /// # Errors
    ///
    /// [`BuildError`] if `max_threads` is 0 or more than [`MAX_THREADS`].
    ///
    /// ```
    /// let err = zap_pool::ThreadPool::builder().max_threads(20_000).build().unwrap_err();
    /// assert!(err.to_string().contains("16383"));
    /// ```
    pub fn build(self) -> Result<ThreadPool, BuildError> {
        let max_threads = match self.max_threads {
            None => sync::thread::available_parallelism().clamp(1, MAX_THREADS),
            Some(0) => return Err(BuildError { max_threads: 0 }),
            Some(n) if n > MAX_THREADS => return Err(BuildError { max_threads: n }),
            Some(n) => n,
        };
        let core = Box::into_raw(Box::new(Pool::new(Config {
            max_threads,
            ..self.config
        })));
        sync::ghost::allocated(core as *const ());
        Ok(ThreadPool {
            core: AtomicPtr::new(core),
            lazy_max_threads: max_threads,
        })
    }
}

/// [`Builder::build`] was given a thread count outside 1..=[`MAX_THREADS`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildError {
    max_threads: usize,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "max_threads is {}, but must be between 1 and {MAX_THREADS}",
            self.max_threads
        )
    }
}

impl std::error::Error for BuildError {}

/// [`ThreadPool::spawn`] after shutdown: the closure, handed back.
pub struct SpawnError<F> {
    task: F,
}

impl<F> SpawnError<F> {
    /// The closure that was not run.
    pub fn into_inner(self) -> F {
        self.task
    }
}

impl<F> fmt::Debug for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SpawnError { .. }")
    }
}

impl<F> fmt::Display for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the thread pool is shut down")
    }
}

impl<F> std::error::Error for SpawnError<F> {}

/// [`ThreadPool::schedule`] after shutdown: the batch, handed back untouched.
pub struct ScheduleError {
    batch: Batch,
}

impl ScheduleError {
    /// The batch that was not scheduled.
    pub fn into_batch(self) -> Batch {
        self.batch
    }
}

impl fmt::Debug for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScheduleError")
            .field("len", &self.batch.len())
            .finish()
    }
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the thread pool is shut down")
    }
}

impl std::error::Error for ScheduleError {}

/// Hooks for the loom and shuttle test suites: the internal components and
/// the futex model's counters. Absent from normal builds.
#[cfg(any(loom, shuttle))]
#[doc(hidden)]
pub mod model {
    pub use crate::buffer::{Buffer, CAPACITY, Stole};
    pub use crate::event::{EMPTY, Event, NOTIFIED, SHUTDOWN, WAITING};
    pub use crate::join_deque::{CAPACITY as JOIN_CAPACITY, JoinDeque};
    pub use crate::latch::Latch;
    pub use crate::queue::{Busy, Consumer, Probe, Queue};

    /// Resets the futex model and the use-after-free ghost; call at the
    /// start of every model iteration.
    pub fn reset() {
        crate::sync::futex::reset();
        crate::sync::ghost::reset();
    }

    /// How many futex waits in this iteration actually slept.
    pub fn blocked_waits() -> usize {
        crate::sync::futex::blocked_waits()
    }

    /// Lets the shuttle futex model return spuriously.
    #[cfg(shuttle)]
    pub fn set_spurious(on: bool) {
        crate::sync::futex::set_spurious(on);
    }

    /// The pool's word: (state 0..=3, notified, spawned, idle).
    pub fn word(pool: &crate::ThreadPool) -> (u32, bool, u32, u32) {
        let w = pool.debug_word();
        (w.state() as u32, w.notified(), w.spawned(), w.idle())
    }
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
