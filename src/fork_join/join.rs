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
//!    worker runs other tasks of its pool (`scheduler::wait_for`), and once the
//!    latch is set it reads `b`'s result.
//! 4. A panic of `a` is re-raised after `b` finished (run here if it was
//!    not stolen, as when `a` returns: so whether `b` runs never depends on
//!    stealing; if stolen, it may borrow from this frame), else a panic of
//!    `b`.
//!
//! If the deque is full (joins nested more than `join_deque::CAPACITY` deep
//! on one worker), `b` simply runs after `a` on this thread.
//!
//! From outside the pool, `ThreadPool::join` sends the whole `join` into the
//! pool as one such job (in the global queue) and blocks on its latch: the
//! closures then run on workers and their nested joins stay on the fast path.
//! `ThreadPool::install` sends a single closure in the same way. The free
//! function `join` (`global.rs`) is `join_on_worker` on a worker, and
//! `join_in` on the global pool anywhere else.
//!
//! `join_lazy` records `b` on the worker's fork stack instead and offers it
//! only on demand (`structures/fork_stack.rs`, `docs/fork_stack.md`); a
//! `join` first offers every job recorded that way.
//!
//! The job itself (`JoinJob`) is in `job.rs`.
//!
//! Proof: `docs/fork_join.md`; model checks: `loom_tests/fork_join.rs`.

use super::job::{self, JoinJob};
use crate::raw::Task;
use crate::scheduler::{self, LocalWorker, Pool};
use core::ptr::NonNull;
use std::panic::{self, AssertUnwindSafe};

/// `join` on a worker of `pool`: the fork-join fast path (module docs).
pub(crate) fn join_on_worker<A, B, RA, RB>(worker: &LocalWorker<'_>, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let mut job = JoinJob::new(b);
    // A pointer to the whole job, so the callback may reach its fields.
    let task = (&raw mut job).cast::<Task>();
    let deque = worker.join_deque();
    if !worker.before_eager_push() || deque.push(task).is_err() {
        // Full: no parallelism at this depth, and no need for it.
        return run_unforked(&job, a);
    }
    // A hint, not the fenced `notify`: if nobody steals the job we run it.
    worker.pool().notify_for_join();

    let ra = panic::catch_unwind(AssertUnwindSafe(a));

    let popped = deque.pop();
    if let Some(popped) = popped {
        assert!(
            core::ptr::eq(popped, task),
            "join: the newest deque entry is not this join's job"
        );
    }
    finish_forked(worker, &mut job, ra, popped.is_some())
}

/// `join_lazy` on a worker of `pool`: as `join_on_worker`, with the job
/// recorded on the worker's fork stack and offered to other threads only
/// once promoted (`structures/fork_stack.rs`).
pub(crate) fn join_lazy_on_worker<A, B, RA, RB>(worker: &LocalWorker<'_>, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let mut job = JoinJob::new(b);
    // A pointer to the whole job, so the callback may reach its fields.
    let task = (&raw mut job).cast::<Task>();
    if !worker.fork_lazy(task) {
        // Full: no parallelism at this depth, and no need for it.
        return run_unforked(&job, a);
    }

    let ra = panic::catch_unwind(AssertUnwindSafe(a));

    let ours = worker.unfork(task).is_some();
    finish_forked(worker, &mut job, ra, ours)
}

/// A join whose job no other thread can see (the deque or the fork stack
/// was full): `a`, then `b`, here.
fn run_unforked<A, B, RA, RB>(job: &JoinJob<B, RB>, a: A) -> (RA, RB)
where
    A: FnOnce() -> RA,
    B: FnOnce() -> RB + Send,
    RB: Send,
{
    let ra = panic::catch_unwind(AssertUnwindSafe(a));
    // SAFETY: the job was never published.
    let b = unsafe { job.take_f() };
    finish_inline(ra, b)
}

/// The end of a forked join: `ours` if the job came back to this thread
/// (never promoted, or popped back), else a thief took it.
fn finish_forked<B, RA, RB>(
    worker: &LocalWorker<'_>,
    job: &mut JoinJob<B, RB>,
    ra: job::Outcome<RA>,
    ours: bool,
) -> (RA, RB)
where
    B: FnOnce() -> RB + Send,
    RB: Send,
{
    if ours {
        // Not stolen, and now out of every thief's reach.
        // SAFETY: it came back to us: no other thread can take it.
        let b = unsafe { job.take_f() };
        return finish_inline(ra, b);
    }
    // A thief took it: it runs elsewhere (or ran already).
    scheduler::wait_for(Some(worker.pool()), &job.done.latch, &|| true);
    let rb = job.done.take();
    match (ra, rb) {
        (Ok(ra), Ok(rb)) => (ra, rb),
        (Err(payload), _) | (Ok(_), Err(payload)) => panic::resume_unwind(payload),
    }
}

/// The end of a join whose `b` is still here: run `b`, even if `a`
/// panicked (so that `b`'s effects do not depend on whether a thief took
/// it), then re-raise `a`'s panic, else `b`'s.
fn finish_inline<RA, B, RB>(ra: job::Outcome<RA>, b: B) -> (RA, RB)
where
    B: FnOnce() -> RB,
{
    match ra {
        Ok(ra) => (ra, b()),
        Err(payload) => {
            // `a`'s panic wins; `b`'s, if any, is dropped with its payload.
            let _ = panic::catch_unwind(AssertUnwindSafe(b));
            panic::resume_unwind(payload)
        }
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
    if let Some(worker) = scheduler::current_of(pool) {
        return join_on_worker(worker, a, b);
    }
    // On a worker of `pool` the job forks; anywhere else (the job refused
    // and run right here, on a thread of no pool or of another pool) `a`
    // and then `b` run on this thread, as documented.
    install_in(pool, move || match scheduler::current_of(pool) {
        Some(worker) => join_on_worker(worker, a, b),
        None => finish_inline(panic::catch_unwind(AssertUnwindSafe(a)), b),
    })
}

/// `ThreadPool::install`: `f` inline on a worker of `pool`; from any other
/// thread, `f` as one job inside the pool, waited for as `join_in` waits.
pub(crate) fn install_in<F, R>(pool: &Pool, f: F) -> R
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    if scheduler::current_of(pool).is_some() {
        return f();
    }
    let mut job = JoinJob::new(f);
    let task = NonNull::new((&raw mut job).cast::<Task>()).expect("a stack address");
    // SAFETY: `task` points to the whole job, which is alive and unmoved
    // until its latch is set: we wait for it below before returning.
    if !unsafe { job::submit(pool, task) } {
        // Shut down, and this thread is not a worker: run it here.
        // SAFETY: refused, so never published.
        let f = unsafe { job.take_f() };
        return f();
    }
    scheduler::wait_for(Some(pool), &job.done.latch, &|| true);
    match job.done.take() {
        Ok(result) => result,
        Err(payload) => panic::resume_unwind(payload),
    }
}
