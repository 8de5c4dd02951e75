//! `Scope` on the whole pool (src/fork_join/scope.rs, `wait_for` in
//! src/scheduler/worker.rs): the scope returns only after every task, one
//! of them spawned by another task (possibly after the body gave its count
//! back), has finished, and then sees every task's writes and the first
//! task panic, whichever decrement of `pending` came last.
//!
//! The writes go to loom cells that the scope's caller reads after the
//! scope returns: a missing happens-before edge along the chain of
//! `pending` decrements and the latch is a causality violation. The panic
//! payload carries a cell too, so the panic slot's publication is checked
//! the same way.

use crate::{Outcomes, bound_cap, model_with_bound_cap};
use loom::cell::UnsafeCell;
use loom::thread;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use zap_pool::{ThreadPool, model};

struct Cells {
    a: UnsafeCell<u32>,
    b: UnsafeCell<u32>,
    body: UnsafeCell<u32>,
}

// SAFETY: each cell is written by one closure and read after the scope
// returned; loom checks the happens-before edge.
unsafe impl Sync for Cells {}

/// A task's panic payload, written by the panicking task and read by the
/// scope's caller.
struct Payload(UnsafeCell<u32>);

// SAFETY: written before the panic, read after the scope re-raised it.
unsafe impl Send for Payload {}

/// What the scenario saw, kept outside the model (loom runs the threads one
/// at a time, so these std flags record what really happened).
#[derive(Default)]
struct Seen {
    /// The body saw only its own count left in `pending` before giving it
    /// back: its decrement was the last.
    body_last: AtomicBool,
    /// The first task saw only its own count in `pending` when it spawned
    /// the second: the body had given its count back.
    spawned_after_the_body: AtomicBool,
}

fn bump(cell: &UnsafeCell<u32>) {
    cell.with_mut(|v| unsafe { *v += 1 });
}

fn read(cell: &UnsafeCell<u32>) -> u32 {
    cell.with(|v| unsafe { *v })
}

/// Guards against: a scope that returns before a task finished (a task
/// spawned by another task after the body gave its count back keeps
/// `pending` above zero), and a missing edge from a task's writes to the
/// scope's caller: each task's decrement must release its writes and the
/// last one must acquire the others' before it sets the latch, and the
/// body's decrement, when it is the last, must acquire the tasks' writes.
/// Two workers, so the two tasks can run on different threads; the scope
/// is opened from outside the pool.
/// Kills: `scope-complete-no-acquire`, `scope-complete-no-release`,
/// `scope-finish-body-no-acquire`.
///
/// The preemption bound is capped at 2: the whole pool runs here.
#[test]
fn a_scope_waits_for_every_task_and_sees_its_writes() {
    let outcomes = Outcomes::new(&[
        "a task spawned a task after the body gave its count back",
        "the body's decrement was the last",
        "a task's decrement was (or may have been) the last",
    ]);
    let o = outcomes.clone();
    let iterations = model_with_bound_cap(1, move || {
        let pool = Arc::new(ThreadPool::builder().max_threads(2).build().unwrap());
        let cells = Arc::new(Cells {
            a: UnsafeCell::new(0),
            b: UnsafeCell::new(0),
            body: UnsafeCell::new(0),
        });
        let seen = Arc::new(Seen::default());
        let (p, c, s) = (pool.clone(), cells.clone(), seen.clone());
        let caller = thread::spawn(move || {
            p.scope(|scope| {
                scope.spawn(|scope| {
                    bump(&c.a);
                    if model::scope_pending(scope) == 1 {
                        s.spawned_after_the_body.store(true, Ordering::SeqCst);
                    }
                    scope.spawn(|_| bump(&c.b));
                });
                bump(&c.body);
                // Let the workers run here (a yield is not a preemption).
                thread::yield_now();
                if model::scope_pending(scope) == 1 {
                    s.body_last.store(true, Ordering::SeqCst);
                }
            })
        });
        caller.join().unwrap();
        assert_eq!(
            (read(&cells.a), read(&cells.b), read(&cells.body)),
            (1, 1, 1),
            "every task ran once, before the scope returned"
        );
        if seen.spawned_after_the_body.load(Ordering::SeqCst) {
            o.hit("a task spawned a task after the body gave its count back");
        }
        o.hit(if seen.body_last.load(Ordering::SeqCst) {
            "the body's decrement was the last"
        } else {
            "a task's decrement was (or may have been) the last"
        });
        drop(pool);
    });
    outcomes.assert_all_reached(
        "a_scope_waits_for_every_task_and_sees_its_writes",
        iterations,
    );
}

/// Guards against a last decrement that does not acquire the others: two
/// sibling tasks on two workers; the one that finishes last sets the latch,
/// and the latch must carry the other one's writes too (its decrement is
/// Release, the last one's Acquire reads it).
/// Kills: `scope-complete-no-acquire`, at a preemption bound of 2 only (the
/// long run: `ZAP_LOOM_LONG=1`, about 6 minutes; the CI run explores it at
/// 1, which reaches both outcomes but not that interleaving).
#[test]
fn the_last_task_carries_the_other_tasks_writes() {
    let outcomes = Outcomes::new(&[
        "the tasks ran on two threads",
        "the tasks ran on one thread",
    ]);
    let o = outcomes.clone();
    let iterations = model_with_bound_cap(bound_cap(1, 2), move || {
        let pool = Arc::new(ThreadPool::builder().max_threads(2).build().unwrap());
        let cells = Arc::new(Cells {
            a: UnsafeCell::new(0),
            b: UnsafeCell::new(0),
            body: UnsafeCell::new(0),
        });
        let (p, c) = (pool.clone(), cells.clone());
        let caller = thread::spawn(move || {
            let (ta, tb) = (std::sync::Mutex::new(None), std::sync::Mutex::new(None));
            p.scope(|scope| {
                scope.spawn(|_| {
                    bump(&c.a);
                    *ta.lock().unwrap() = Some(thread::current().id());
                });
                scope.spawn(|_| {
                    bump(&c.b);
                    *tb.lock().unwrap() = Some(thread::current().id());
                });
            });
            ta.into_inner().unwrap() != tb.into_inner().unwrap()
        });
        let two_threads = caller.join().unwrap();
        assert_eq!((read(&cells.a), read(&cells.b)), (1, 1));
        o.hit(if two_threads {
            "the tasks ran on two threads"
        } else {
            "the tasks ran on one thread"
        });
        drop(pool);
    });
    outcomes.assert_all_reached("the_last_task_carries_the_other_tasks_writes", iterations);
}

/// Keeps the payloads of this file's deliberate panics out of the output;
/// every other panic is printed as usual.
fn quiet_payload_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !info.payload().is::<Payload>() {
                previous(info);
            }
        }));
    });
}

/// Guards against a task's panic that the scope loses or reads before it
/// is published: the panicking task stores its payload (a Relaxed CAS) and
/// then gives its count back; the decrement chain and the latch must carry
/// the payload to the caller, which reads the cell inside it. One worker,
/// so the task always runs on another thread than the caller.
/// Kills: `scope-complete-no-release`, `scope-finish-body-no-acquire`.
#[test]
fn a_task_panic_reaches_the_scope_caller() {
    quiet_payload_panics();
    let outcomes = Outcomes::new(&[
        "the task had panicked when the body ended",
        "the task panicked after the body ended",
    ]);
    let o = outcomes.clone();
    let iterations = model_with_bound_cap(2, move || {
        let pool = Arc::new(ThreadPool::builder().max_threads(1).build().unwrap());
        let p = pool.clone();
        let caller = thread::spawn(move || {
            let panicked = AtomicBool::new(false);
            let mut panicked_first = false;
            let result = panic::catch_unwind(AssertUnwindSafe(|| {
                p.scope(|scope| {
                    scope.spawn(|_| {
                        let payload = Payload(UnsafeCell::new(0));
                        bump(&payload.0);
                        panicked.store(true, Ordering::SeqCst);
                        panic::panic_any(payload);
                    });
                    thread::yield_now();
                    panicked_first = panicked.load(Ordering::SeqCst);
                });
            }));
            let payload = result.expect_err("the task's panic is re-raised");
            let payload = payload
                .downcast::<Payload>()
                .unwrap_or_else(|_| panic!("not the task's own payload"));
            assert_eq!(read(&payload.0), 1);
            panicked_first
        });
        let panicked_first = caller.join().unwrap();
        o.hit(if panicked_first {
            "the task had panicked when the body ended"
        } else {
            "the task panicked after the body ended"
        });
        drop(pool);
    });
    outcomes.assert_all_reached("a_task_panic_reaches_the_scope_caller", iterations);
}
