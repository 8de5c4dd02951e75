//! Fork-join on the whole pool (src/fork_join/join.rs, handle.rs, `wait_for` in
//! src/scheduler/worker.rs): a `join` job is run exactly once, by the thief or by its
//! owner, and its result reaches the owner; a `JoinHandle` task is run
//! exactly once, by the pool or inline by a waiting worker.
//!
//! The closures write loom `UnsafeCell`s that the caller reads after the
//! join, so a missing happens-before edge (a result read before the runner's
//! write is visible) is a causality violation, and a double run fails the
//! cell's value check.

use crate::{Outcomes, model_with_bound_cap};
use loom::cell::UnsafeCell;
use loom::thread;
use std::sync::Arc;
use zap_pool::ThreadPool;

struct Cells {
    a: UnsafeCell<u32>,
    b: UnsafeCell<u32>,
}

// SAFETY: each cell is written by one closure and read by the caller after
// the join returned; loom checks the happens-before edge.
unsafe impl Sync for Cells {}

fn bump(cell: &UnsafeCell<u32>) -> thread::ThreadId {
    cell.with_mut(|v| unsafe { *v += 1 });
    thread::current().id()
}

/// Guards against: the owner and a thief both running `b` (the last-job race
/// on the join deque), the owner reading `b`'s result before the thief's
/// write is visible (latch ordering), the owner returning while the thief
/// still uses the job on its stack, and a lost wake-up of an owner that
/// blocks on the latch. Two workers; the join comes from outside, so the
/// whole join runs as a job inside the pool.
/// Kills: `completion-set-before-result`.
///
/// The whole pool (three threads, two worker loops, shutdown and the exit
/// chain) runs here: 253,944 iterations at a preemption bound of 2; the
/// bound is capped at 2 so the long run stays bounded.
#[test]
fn join_job_runs_once_stolen_or_inline() {
    let outcomes = Outcomes::new(&["b stolen", "b taken back"]);
    let o = outcomes.clone();
    let iterations = model_with_bound_cap(2, move || {
        let pool = ThreadPool::builder().max_threads(2).build().unwrap();
        let cells = Cells {
            a: UnsafeCell::new(0),
            b: UnsafeCell::new(0),
        };
        let c = &cells; // the closures borrow the whole (Sync) struct
        let (ta, tb) = pool.join(move || bump(&c.a), move || bump(&c.b));
        cells.a.with(|v| assert_eq!(unsafe { *v }, 1, "a ran once"));
        cells.b.with(|v| assert_eq!(unsafe { *v }, 1, "b ran once"));
        o.hit(if ta == tb { "b taken back" } else { "b stolen" });
        drop(pool);
    });
    outcomes.assert_all_reached("join_job_runs_once_stolen_or_inline", iterations);
}

/// Guards against a handle task run twice (the claim not exclusive) or
/// never, and a result read before it is written. A worker joins the handle
/// of a task spawned from outside: it claims and runs it inline, or a second
/// worker got there first and it waits (helping, then blocking).
/// Kills: `handle-claim-always-wins`.
///
/// 384,221 iterations at a preemption bound of 2, capped there as above.
#[test]
fn handle_task_runs_once_claimed_or_waited() {
    let outcomes = Outcomes::new(&["claimed inline", "run by the pool"]);
    let o = outcomes.clone();
    let iterations = model_with_bound_cap(2, move || {
        let pool = Arc::new(ThreadPool::builder().max_threads(2).build().unwrap());
        let cell = Arc::new(Cells {
            a: UnsafeCell::new(0),
            b: UnsafeCell::new(0),
        });
        let c = cell.clone();
        let inner = pool.spawn_with_handle(move || bump(&c.a)).expect("running");
        let outer = pool
            .spawn_with_handle(move || {
                let me = thread::current().id();
                (me, inner.join().expect("no panic"))
            })
            .expect("running");
        let (waiter, runner) = outer.join().expect("no panic");
        cell.a
            .with(|v| assert_eq!(unsafe { *v }, 1, "the task ran once"));
        o.hit(if waiter == runner {
            "claimed inline"
        } else {
            "run by the pool"
        });
        drop(pool);
    });
    outcomes.assert_all_reached("handle_task_runs_once_claimed_or_waited", iterations);
}
