//! The global pool, and the free functions that run on "the current pool":
//! the pool of the worker thread that calls them, or the global pool on any
//! other thread (as rayon's free functions do).
//!
//! The global pool is `GLOBAL`, a `static ThreadPool` made by the `const`
//! constructor, so it needs no lazy initialization of its own: its core is
//! built at its first use with the defaults, as any `static` pool's is, or
//! by [`Builder::build_global`](crate::Builder::build_global) with a
//! configuration, whichever comes first. `ThreadPool::set_core` refuses the
//! second of them with one compare-and-swap on the core pointer, so a race
//! between a first use and `build_global` has one winner and `build_global`
//! reports whether it was that winner. The pool is never dropped: its
//! threads idle for the rest of the process once started.
//!
//! The current pool is found from the thread's innermost worker
//! (`scheduler::current_worker`): a task of pool P that calls
//! `Q.install(f)` runs `f` on a worker of Q, where the free functions use
//! Q; back in P's task they use P again.
//!
//! In the model builds, a core records the model execution it was made in,
//! and a `static` pool used in a later execution builds a fresh one, so
//! the global pool works across executions; there is one per test thread
//! (`global`), since tests run their models side by side. Its threads
//! never exit, so an execution that starts them must end them
//! (`model::end_global`).

use crate::error::{BuildError, SpawnError};
use crate::fork_join::{self, HeapTask, JoinHandle, Scope};
use crate::scheduler::{self, Config, Pool};
use crate::thread_pool::ThreadPool;
use core::future::Future;

/// The global pool.
#[cfg(not(any(loom, shuttle)))]
static GLOBAL: ThreadPool = ThreadPool::new();

/// The global pool.
#[cfg(not(any(loom, shuttle)))]
pub(crate) fn global() -> &'static ThreadPool {
    &GLOBAL
}

// In the model builds, one global pool per test thread: tests run side by
// side on their own OS threads, each model on its own, and one `static`
// would have each test's executions replace the others' cores. Leaked
// once per test thread, never dropped (a drop at the thread's exit would
// run outside any model).
#[cfg(any(loom, shuttle))]
crate::sync::os_thread_local! {
    static GLOBAL: &'static ThreadPool = Box::leak(Box::new(ThreadPool::new()));
}

/// The global pool (of this test thread, in the model builds).
#[cfg(any(loom, shuttle))]
pub(crate) fn global() -> &'static ThreadPool {
    GLOBAL.with(|global| *global)
}

/// `Builder::build_global`: gives the global pool this configuration,
/// unless it exists already.
pub(crate) fn build_global(config: Config) -> Result<(), BuildError> {
    if global().set_core(config) {
        Ok(())
    } else {
        Err(BuildError::global_already_initialized())
    }
}

/// The pool that the free functions use on this thread.
fn current_pool<'a>() -> &'a Pool {
    match scheduler::current_worker() {
        Some(worker) => worker.pool(),
        None => global().core(),
    }
}

/// Runs `a` and `b`, potentially in parallel, and returns both results:
/// rayon's `join`.
///
/// On a worker thread of a [`ThreadPool`] (inside a task, a
/// [`scope`](ThreadPool::scope), an [`install`](ThreadPool::install) or
/// another `join`), `b` is offered to the pool's other threads while `a`
/// runs on this one; if nobody took `b` by then, it runs here too. Either
/// way, no heap allocation happens. While it waits for a `b` that another
/// thread took, this thread runs other tasks of the pool.
///
/// On any other thread the join runs on the global pool (see
/// [`Builder::build_global`](crate::Builder::build_global)), as [`ThreadPool::join`] on that pool: the
/// caller waits, and nested joins fork on the global pool's workers.
/// Earlier versions of this crate ran `a` and then `b` on the calling
/// thread here; `join` now behaves as rayon's does, so that a recursive
/// computation started from `main` is parallel without naming a pool. Use
/// [`ThreadPool::join`] or [`ThreadPool::install`] to pick the pool.
///
/// # Panics
///
/// If `a` or `b` panics, the panic is re-raised here once both have
/// finished (a panic of `a` wins, and `b`'s is then dropped). `b` runs
/// even when `a` panics, whether or not another thread took it, as in
/// rayon.
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// fn sum(xs: &[u64]) -> u64 {
///     if xs.len() <= 1024 {
///         return xs.iter().sum();
///     }
///     let (left, right) = xs.split_at(xs.len() / 2);
///     let (l, r) = zap_pool::join(|| sum(left), || sum(right));
///     l + r
/// }
///
/// let xs: Vec<u64> = (1..=100_000).collect();
/// // From `main`: on the global pool.
/// assert_eq!(sum(&xs), 5_000_050_000);
/// // On a pool of your own: its workers run the nested joins.
/// let pool = zap_pool::ThreadPool::with_max_threads(2);
/// assert_eq!(pool.install(|| sum(&xs)), 5_000_050_000);
/// ```
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    match scheduler::current_worker() {
        Some(worker) => fork_join::join::join_on_worker(worker, a, b),
        None => fork_join::join::join_in(global().core(), a, b),
    }
}

/// [`join`] with a lazy fork: `b` is offered to other threads only when
/// one of them could take it, so a join that nobody steals costs no atomic
/// read-modify-write and no fence.
///
/// The outermost `join_lazy` of a task (no other `join_lazy` of this
/// thread in progress) offers `b` at once, as [`join`] does. A nested one
/// records `b` where only this thread sees it; at each later `join_lazy`
/// on this thread the oldest recorded `b` is offered to the pool's other
/// threads if one of them is idle, or may be started, and none was woken
/// yet. A [`join`] on this thread offers every recorded `b` first. A
/// recorded `b` that was never offered runs here after `a`, as if `a` had
/// returned before anyone could help. So the parallelism follows demand,
/// as in heartbeat schedulers, and a tree of small joins pays almost
/// nothing for the forks nobody needed.
///
/// The price: a nested `b` may wait until `a` returns or forks again.
/// `a` must therefore not wait for something that `b`, or a `b` recorded
/// inside `a`, provides (such as a flag that `b` sets) unless `a` keeps
/// calling `join_lazy` or [`join`] while it waits; with [`join`] that
/// wait ends once another thread takes `b`. Off a worker thread,
/// `join_lazy` is [`join`].
///
/// Results, panics and the guarantee that `b` runs even if `a` panics are
/// those of [`join`].
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// fn sum(xs: &[u64]) -> u64 {
///     if xs.len() <= 16 {
///         return xs.iter().sum();
///     }
///     let (left, right) = xs.split_at(xs.len() / 2);
///     let (l, r) = zap_pool::join_lazy(|| sum(left), || sum(right));
///     l + r
/// }
///
/// let xs: Vec<u64> = (1..=100_000).collect();
/// let pool = zap_pool::ThreadPool::with_max_threads(2);
/// assert_eq!(pool.install(|| sum(&xs)), 5_000_050_000);
/// ```
pub fn join_lazy<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    match scheduler::current_worker() {
        Some(worker) => fork_join::join::join_lazy_on_worker(worker, a, b),
        None => fork_join::join::join_in(global().core(), a, b),
    }
}

/// Runs `body` with a [`Scope`] on the current pool: the pool of the worker
/// thread that calls it, or the global pool on any other thread. Returns
/// once `body` and every task spawned in the scope have finished. Otherwise
/// as [`ThreadPool::scope`].
///
/// # Panics
///
/// If `body` or a task of the scope panicked, the panic is re-raised here
/// once all of them have finished (the body's panic first, else the first
/// task's).
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// let mut squares = [0u64; 4];
/// zap_pool::scope(|s| {
///     for (i, square) in squares.iter_mut().enumerate() {
///         s.spawn(move |_| *square = (i * i) as u64);
///     }
/// });
/// assert_eq!(squares, [0, 1, 4, 9]);
/// ```
pub fn scope<'scope, F, R>(body: F) -> R
where
    F: FnOnce(&Scope<'scope>) -> R,
{
    Scope::run(current_pool(), body)
}

/// Runs `f` on the current pool: the pool of the worker thread that calls
/// it, or the global pool on any other thread. Otherwise as
/// [`ThreadPool::spawn`].
///
/// # Errors
///
/// Hands `f` back if the pool was shut down and the caller is not one of
/// its workers (the global pool is never shut down).
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// let (tx, rx) = std::sync::mpsc::channel();
/// zap_pool::spawn(move || tx.send(zap_pool::current_thread_index()).unwrap()).unwrap();
/// assert!(rx.recv().unwrap().is_some()); // it ran on a worker of the global pool
/// ```
pub fn spawn<F>(f: F) -> Result<(), SpawnError<F>>
where
    F: FnOnce() + Send + 'static,
{
    HeapTask::spawn(current_pool(), f).map_err(SpawnError::new)
}

/// Spawns `future` on the current pool: the pool of the worker thread
/// that calls it (inside a task, or a future on the pool), or the global
/// pool on any other thread. Otherwise as [`ThreadPool::spawn_future`].
///
/// # Errors
///
/// Hands `future` back if the pool was shut down and the caller is not one
/// of its workers (the global pool is never shut down).
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// let handle = zap_pool::spawn_future(async { zap_pool::current_thread_index() }).unwrap();
/// // It was polled on a worker of the global pool.
/// assert!(zap_pool::block_on(handle).unwrap().is_some());
/// ```
pub fn spawn_future<F>(future: F) -> Result<JoinHandle<F::Output>, SpawnError<F>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fork_join::future::spawn(current_pool(), future).map_err(SpawnError::new)
}

/// The index of the calling thread within its pool, if it is a worker
/// thread of a pool (of the innermost one, when a worker waits inside
/// another pool's work); `None` on any other thread.
///
/// The index is the one that [`Builder::thread_name`](crate::Builder::thread_name) and the thread hooks
/// receive ([`WorkerThread::index`](crate::WorkerThread::index)): threads
/// are numbered in the order they were started, from 0, so an index is
/// below [`current_num_threads`] unless a thread spawn failed (a failed
/// spawn uses up its number). The thread that runs a shut-down pool's
/// leftover tasks in [`ThreadPool::join_workers`] has no index.
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// assert_eq!(zap_pool::current_thread_index(), None);
/// let pool = zap_pool::ThreadPool::with_max_threads(1);
/// assert_eq!(pool.install(zap_pool::current_thread_index), Some(0));
/// ```
pub fn current_thread_index() -> Option<usize> {
    scheduler::current_worker().and_then(|worker| worker.index())
}

/// The most threads the current pool runs at once: the pool of the worker
/// thread that calls it, or the global pool on any other thread (this
/// creates the global pool if nothing did yet, after which
/// [`Builder::build_global`](crate::Builder::build_global) fails).
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// let pool = zap_pool::ThreadPool::with_max_threads(3);
/// assert_eq!(pool.install(zap_pool::current_num_threads), 3);
/// assert!(zap_pool::current_num_threads() >= 1); // the global pool's
/// ```
pub fn current_num_threads() -> usize {
    current_pool().config().max_threads
}

/// Runs `f` once on each thread of the current pool (the pool of the worker
/// thread that calls it, or the global pool on any other thread) and
/// returns the results in thread-index order: rayon's `broadcast`. See
/// [`ThreadPool::broadcast`].
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// let pool = zap_pool::ThreadPool::with_max_threads(2);
/// let indices = pool.install(|| zap_pool::broadcast(|ctx| ctx.index()));
/// assert_eq!(indices, [0, 1]);
/// ```
pub fn broadcast<F, R>(f: F) -> Vec<R>
where
    F: Fn(crate::BroadcastContext<'_>) -> R + Sync,
    R: Send,
{
    crate::fork_join::broadcast_in(current_pool(), f)
}
