//! `join(a, b)`: run two closures, potentially in parallel, and return both
//! results. The second closure becomes a task whose memory is the caller's
//! stack frame: no heap allocation.
//!
//! On a worker of the pool:
//! 1. `b` goes into a `JoinJob` on this stack frame, and the job into the
//!    worker's `JoinDeque` (its newest entry); idle threads are notified.
//! 2. `a` runs here, its panic caught.
//! 3. The worker pops the deque's newest entry. Every `join` nested inside
//!    `a` has already popped its own job or found it stolen, and thieves take
//!    the oldest entries first, so the newest entry is this job, or the deque
//!    is empty because a thief took it. Not stolen: `b` runs here, inline.
//!    Stolen: the thief runs it and sets the job's latch; meanwhile this
//!    worker runs other tasks of its pool (`worker::wait_for`), and once the
//!    latch is set it reads `b`'s result.
//! 4. A panic of `a` is re-raised (after `b` finished, if `b` was stolen: it
//!    may borrow from this frame), else a panic of `b`.
//!
//! If the deque is full (joins nested more than `join_deque::CAPACITY` deep
//! on one worker), `b` simply runs after `a` on this thread.
//!
//! From outside the pool, `ThreadPool::join` sends the whole `join` into the
//! pool as one such job (in the global queue) and blocks on its latch: the
//! closures then run on workers and their nested joins stay on the fast path.
//! The free function `join` outside any pool runs `a` and then `b`.
//!
//! Proof: `docs/fork_join.md`; model checks: `loom_tests/fork_join.rs`.

use crate::latch::Latch;
use crate::pool::Pool;
use crate::raw::{Batch, Task};
use crate::sync::UnsafeCell;
use crate::worker::{self, Worker};
use core::ptr::NonNull;
use std::panic::{self, AssertUnwindSafe};

/// What a closure run under `catch_unwind` gives: its value or the payload
/// of its panic (the same type as `std::thread::Result`).
pub(crate) type Outcome<T> = Result<T, Box<dyn core::any::Any + Send>>;

/// The outcome of a closure that runs on another thread, and the latch that
/// announces it: the part that a `join` job and a `JoinHandle` task share.
pub(crate) struct Completion<R> {
    pub(crate) latch: Latch,
    result: UnsafeCell<Option<Outcome<R>>>,
}

impl<R> Completion<R> {
    pub(crate) fn new() -> Self {
        Self {
            latch: Latch::new(),
            result: UnsafeCell::new(None),
        }
    }

    /// Runs `f` under `catch_unwind`, stores its outcome, then sets the
    /// latch: the outcome is written before, and the waiter reads it only
    /// after, the latch's Release/Acquire edge.
    ///
    /// # Safety
    /// `this` is alive until the latch is set, and this is its only run.
    pub(crate) unsafe fn run(this: *const Self, f: impl FnOnce() -> R) {
        let outcome = panic::catch_unwind(AssertUnwindSafe(f));
        // SAFETY: the waiter reads `result` only after the latch is set.
        unsafe { (*this).result.with_mut(|r| *r = Some(outcome)) };
        // SAFETY: alive until the latch is set (contract); `set` touches
        // nothing after its swap.
        unsafe { Latch::set(&raw const (*this).latch) };
    }

    /// The outcome, once the latch is set.
    pub(crate) fn take(&self) -> Outcome<R> {
        debug_assert!(self.latch.probe());
        // SAFETY: the latch is set (the Acquire in `probe` / `wait`
        // synchronized with the runner's `set`), so the runner's write of
        // the result happens-before this read, and it writes nothing more.
        unsafe { self.result.with_mut(|r| (*r).take()) }.expect("a finished closure has an outcome")
    }
}

/// A closure waiting to run as a task, with room for its outcome and the
/// latch that announces it. Lives in the stack frame of whoever waits for it.
#[repr(C)]
pub(crate) struct JoinJob<F, R> {
    /// First field: a `*mut Task` of this job is a `*mut JoinJob`.
    task: Task,
    done: Completion<R>,
    f: UnsafeCell<Option<F>>,
}

impl<F, R> JoinJob<F, R>
where
    F: FnOnce() -> R,
{
    pub(crate) fn new(f: F) -> Self {
        Self {
            task: Task::new(Self::run),
            done: Completion::new(),
            f: UnsafeCell::new(Some(f)),
        }
    }

    /// The task callback, on the thread that took the job from a queue or a
    /// deque: run the closure, store its result, set the latch.
    unsafe fn run(task: NonNull<Task>) {
        let job = task.cast::<Self>().as_ptr().cast_const();
        // SAFETY: the job was published (deque or queue) before this thread
        // took it, with the Release/Acquire edges of that structure, and
        // nobody else touches `f` once it is taken (the owner's pop failed).
        let f = unsafe { (*job).f.with_mut(|f| (*f).take()) }.expect("a join job runs once");
        // SAFETY: the job is alive until its latch is set: its waiter does
        // not return before. The job runs once.
        unsafe { Completion::run(&raw const (*job).done, f) };
    }

    /// Takes the closure back to run it on this thread.
    ///
    /// # Safety
    /// No other thread has taken or can take the job.
    unsafe fn take_f(&self) -> F {
        // SAFETY: exclusive by the contract.
        unsafe { self.f.with_mut(|f| (*f).take()) }.expect("a join job runs once")
    }
}

/// `join` on a worker of `pool`: the fork-join fast path (module docs).
pub(crate) fn join_on_worker<A, B, RA, RB>(worker: &Worker, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let mut job = JoinJob::new(b);
    // A pointer to the whole job, so the callback may reach its fields.
    let task = (&raw mut job).cast::<Task>();
    if worker.join_deque.push(task).is_err() {
        // Full: no parallelism at this depth, and no need for it.
        let ra = a();
        // SAFETY: the job was never published.
        let b = unsafe { job.take_f() };
        return (ra, b());
    }
    // SAFETY: `worker.pool` is the live pool this worker serves.
    let pool: &Pool = unsafe { &*worker.pool };
    // A hint, not the fenced `notify`: if nobody steals the job we run it.
    pool.notify_for_join();

    let ra = panic::catch_unwind(AssertUnwindSafe(a));

    let rb = match worker.join_deque.pop() {
        Some(popped) => {
            assert!(
                core::ptr::eq(popped, task),
                "join: the newest deque entry is not this join's job"
            );
            // Not stolen, and now out of every thief's reach.
            // SAFETY: we popped it: no other thread can take it.
            let b = unsafe { job.take_f() };
            match ra {
                Ok(ra) => return (ra, b()),
                // `b` never ran and is dropped unrun.
                Err(payload) => panic::resume_unwind(payload),
            }
        }
        None => {
            // A thief took it: it runs elsewhere (or ran already).
            worker::wait_for(worker.pool, &job.done.latch, &|| true);
            job.done.take()
        }
    };
    match (ra, rb) {
        (Ok(ra), Ok(rb)) => (ra, rb),
        (Err(payload), _) | (Ok(_), Err(payload)) => panic::resume_unwind(payload),
    }
}

/// `ThreadPool::join`: the fast path on the pool's own workers; from any
/// other thread, the whole join runs as a job inside the pool.
pub(crate) fn join_in<A, B, RA, RB>(pool: &Pool, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    if let Some(worker) = worker::current_of(pool) {
        return join_on_worker(worker, a, b);
    }
    let mut job = JoinJob::new(move || join(a, b));
    let task = (&raw mut job).cast::<Task>();
    let mut batch = Batch::new();
    // SAFETY: `task` points to the whole job, which is alive and unmoved
    // until its latch is set: we wait for it below before returning.
    unsafe { batch.push_raw(NonNull::new(task).expect("a stack address")) };
    if pool.schedule(batch).is_err() {
        // Shut down, and this thread is not a worker: run it here.
        // SAFETY: refused, so never published.
        let f = unsafe { job.take_f() };
        return f();
    }
    // Not a worker of this pool: block (never spin) until a worker ran it.
    job.done.latch.wait();
    match job.done.take() {
        Ok(results) => results,
        Err(payload) => panic::resume_unwind(payload),
    }
}

/// Runs `a` and `b`, potentially in parallel, and returns both results.
///
/// On a worker thread of a [`ThreadPool`](crate::ThreadPool) (inside a task,
/// a [`scope`](crate::ThreadPool::scope) or another `join`), `b` is offered
/// to the pool's other threads while `a` runs on this one; if nobody took
/// `b` by then, it runs here too. Either way, no heap allocation happens.
/// While it waits for a `b` that another thread took, this thread runs
/// other tasks of the pool. On any other thread, `a` runs and then `b`, on
/// the caller; use [`ThreadPool::join`](crate::ThreadPool::join) to run a
/// join on a particular pool.
///
/// # Panics
///
/// If `a` or `b` panics, the panic is re-raised here once both have
/// finished (a panic of `a` wins). If `a` panics and `b` was not taken by
/// another thread, `b` is dropped without running.
///
/// ```
/// fn sum(xs: &[u64]) -> u64 {
///     if xs.len() <= 1024 {
///         return xs.iter().sum();
///     }
///     let (left, right) = xs.split_at(xs.len() / 2);
///     let (l, r) = zap_pool::join(|| sum(left), || sum(right));
///     l + r
/// }
///
/// let pool = zap_pool::ThreadPool::with_max_threads(2);
/// let xs: Vec<u64> = (1..=100_000).collect();
/// // `ThreadPool::join` moves the work into the pool; the nested
/// // `zap_pool::join` calls then fork on its workers.
/// let (a, b) = pool.join(|| sum(&xs[..50_000]), || sum(&xs[50_000..]));
/// assert_eq!(a + b, 5_000_050_000);
/// ```
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    match worker::current_worker() {
        Some(worker) => join_on_worker(worker, a, b),
        None => (a(), b()),
    }
}
