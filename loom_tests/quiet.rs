//! `Quiet` (src/structures/quiet.rs): a waiter is released only at a quiet
//! instant (no task queued, no thread that took one still active), never
//! misses that instant, and sees the writes of every task that finished.
//!
//! The pool's side is modelled by two threads, each with a `Presence`: a
//! *runner* that enters, takes the one queued task from the global queue,
//! writes its result and leaves (a worker that found work), and a
//! *bystander* that enters and leaves without taking anything (a worker
//! woken for nothing).
//! The task is queued before either starts, so it was accepted before the
//! waiter called. The waiter registers its latch, blocks on it, and then
//! reads the task's result: a loom cell, so a release without a
//! happens-before edge from the runner's write is a causality violation,
//! and a release before the write fails the assertion.

use crate::queue::Tasks;
use crate::{Outcomes, model};
use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicUsize;
use loom::thread;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use zap_pool::model::{Latch, Presence, Queue, Quiet};

struct Shared {
    quiet: Quiet,
    global: Queue,
    /// The two model workers' presences.
    presences: [Presence; 2],
    tasks: Arc<Tasks>,
    result: UnsafeCell<u32>,
}

impl Shared {
    fn new(tasks: Arc<Tasks>) -> Arc<Self> {
        Arc::new(Shared {
            quiet: Quiet::new(),
            global: Queue::new(),
            presences: [Presence::new(), Presence::new()],
            tasks,
            result: UnsafeCell::new(0),
        })
    }

    /// The state of every scenario that waits for a task: one task,
    /// accepted (queued in the global queue) before any thread starts.
    fn with_a_queued_task() -> Arc<Self> {
        let tasks = Tasks::new(1);
        tasks.publish(0);
        let shared = Self::new(tasks.clone());
        assert!(shared.global.push(tasks.batch(&[0])).is_ok());
        shared
    }

    fn scan(&self, f: &mut dyn FnMut(&Presence)) {
        self.presences.iter().for_each(f);
    }

    fn enter(&self, worker: usize) {
        self.quiet.enter(&self.presences[worker]);
    }

    fn leave(&self, worker: usize) {
        self.quiet
            .leave(&self.presences[worker], &|f| self.scan(f), &self.global);
    }

    fn register(&self, latch: &Latch) {
        self.quiet
            .wait_register(latch, &|f| self.scan(f), &self.global);
    }

    /// The waiter's side: registers, runs `registered`, labels whether the
    /// registration's own check released it (`[early, late]`), then waits
    /// and reads the task's result, which must be there and visible.
    fn wait_for_the_task(
        &self,
        o: &Outcomes,
        labels: [&'static str; 2],
        registered: impl FnOnce(),
    ) {
        let latch = Latch::new();
        self.register(&latch);
        registered();
        o.hit(if latch.probe() { labels[0] } else { labels[1] });
        latch.wait();
        self.result
            .with(|v| assert_eq!(unsafe { *v }, 7, "released before the task ran"));
    }
}

// SAFETY: `result` is written by the runner and read by the waiter after
// its latch is set; loom's cell checks that ordering in every execution.
unsafe impl Sync for Shared {}
// SAFETY: as above.
unsafe impl Send for Shared {}

/// Guards against a waiter released while a task accepted before its call
/// is still queued or running: a check that trusts one collect of the
/// presences taken before the queue read (a thread may enter and take the
/// task in between), a probe of the queue that does not see the taker's
/// entry, a leave or a collect that does not carry the tasks' writes, and a
/// lost check: a waiter that registers after the last leave and does not
/// check, or a leave and a registration that miss each other (store
/// buffering, a loom deadlock).
/// Kills: `quiet-check-single-collect`, `quiet-leave-relaxed`,
/// `quiet-collect-relaxed`, `quiet-no-self-check`, `quiet-probe-relaxed`,
/// `quiet-leave-no-fence`, `quiet-register-no-fence`.
#[test]
fn the_waiter_is_released_only_when_the_task_has_run() {
    let outcomes = Outcomes::new(&[
        "set during registration",
        "set by a deactivation",
        "task ran before registration",
        "task ran after registration",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let shared = Shared::with_a_queued_task();
        // A ghost (outside the model): whether the waiter had registered
        // when the task ran. Labels outcomes only.
        let registered = Arc::new(AtomicBool::new(false));

        let s = shared.clone();
        let r = registered.clone();
        let o2 = o.clone();
        let runner = thread::spawn(move || {
            s.enter(0);
            let task = s.global.pop_one().expect("only the runner takes");
            s.tasks.take(task);
            s.result.with_mut(|v| unsafe { *v = 7 });
            o2.hit(if r.load(Ordering::Relaxed) {
                "task ran after registration"
            } else {
                "task ran before registration"
            });
            s.leave(0);
        });
        let s = shared.clone();
        let bystander = thread::spawn(move || {
            s.enter(1);
            s.leave(1);
        });
        let s = shared.clone();
        let r = registered.clone();
        let o2 = o.clone();
        let waiter = thread::spawn(move || {
            s.wait_for_the_task(
                &o2,
                ["set during registration", "set by a deactivation"],
                || r.store(true, Ordering::Relaxed),
            );
        });
        runner.join().unwrap();
        bystander.join().unwrap();
        waiter.join().unwrap();
    });
    outcomes.assert_all_reached(
        "the_waiter_is_released_only_when_the_task_has_run",
        iterations,
    );
}

/// Guards against a lost release when several threads wait: each check
/// that finds the pool quiet must set every latch registered before it,
/// including one registered by a thread that found the pool busy.
/// Kills: `quiet-check-sets-one`.
#[test]
fn every_registered_waiter_is_released() {
    let outcomes = Outcomes::new(&["both set during registration", "one set later"]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let tasks = Tasks::new(1);
        let shared = Shared::new(tasks);
        let s = shared.clone();
        let worker = thread::spawn(move || {
            s.enter(0);
            s.leave(0);
        });
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let s = shared.clone();
                thread::spawn(move || {
                    let latch = Latch::new();
                    s.register(&latch);
                    let early = latch.probe();
                    latch.wait();
                    early
                })
            })
            .collect();
        worker.join().unwrap();
        let early: Vec<bool> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
        o.hit(if early.iter().all(|e| *e) {
            "both set during registration"
        } else {
            "one set later"
        });
    });
    outcomes.assert_all_reached("every_registered_waiter_is_released", iterations);
}

/// Guards against a waiter released while a guest (a thread that is not a
/// worker, running a task of the global queue) still holds the task, or
/// released without the guest's writes: the guest's decrement of `guests`
/// must release its writes to the check that reads 0, and its RMW on
/// `WAITING` must release that decrement to a waiter whose registration
/// swap reads it (or the waiter's check reads a stale count, fails, and
/// nobody checks again: a loom deadlock).
/// Kills: `quiet-guest-leave-relaxed`; and of the generated weakenings
/// (`docs/weakenings.md`) `guest_leave`'s `guests.fetch_sub` and
/// `waiting.fetch_add` Release -> Relaxed, `wait_register`'s swap
/// Acquire -> Relaxed, and the check's second `guests` read Acquire ->
/// Relaxed.
#[test]
fn a_guest_holds_the_waiter_until_its_task_has_run() {
    const RELEASED: [&str; 2] = [
        "released by the waiter's check",
        "released by the guest's check",
    ];
    let outcomes = Outcomes::new(&RELEASED);
    let o = outcomes.clone();
    let iterations = model(move || {
        let shared = Shared::with_a_queued_task();
        let s = shared.clone();
        let guest = thread::spawn(move || {
            s.quiet.guest_enter();
            let task = s.global.pop_one().expect("only the guest takes");
            s.tasks.take(task);
            s.result.with_mut(|v| unsafe { *v = 7 });
            s.quiet.guest_leave(&|f| s.scan(f), &s.global);
        });
        let s = shared.clone();
        let o2 = o.clone();
        let waiter = thread::spawn(move || {
            s.wait_for_the_task(&o2, RELEASED, || ());
        });
        guest.join().unwrap();
        waiter.join().unwrap();
    });
    outcomes.assert_all_reached(
        "a_guest_holds_the_waiter_until_its_task_has_run",
        iterations,
    );
}

/// The registry of `a_worker_that_registers_during_a_wait_is_marked`:
/// presence 0 is visible to a scan once `registered` (Acquire, as
/// `Registry::for_each`'s head load) reads 1, which the worker stores with
/// Release (as `Registry::register`'s CAS).
struct Late {
    shared: Arc<Shared>,
    registered: AtomicUsize,
}

impl Late {
    /// Visits the registered presences; returns how many.
    fn scan(&self, f: &mut dyn FnMut(&Presence)) -> usize {
        let n = self.registered.load(Ordering::Acquire);
        self.shared.presences[..n].iter().for_each(f);
        n
    }
}

/// Guards against a worker that registers while a waiter registers, and
/// then takes a task that was accepted before the wait, without being
/// marked: either its `join` sees `WAITING` and marks itself, or the
/// waiter's swap sees the `join` and its scan finds the worker. Lost if the
/// `join` RMW does not release the registration, or the swap does not
/// acquire it: the scan then misses the worker, which leaves without a
/// check, and the waiter is released while the task runs (or waits
/// forever: a loom deadlock).
/// Kills: `quiet-join-relaxed`, `quiet-join-no-mark`; and of the generated
/// weakenings (`docs/weakenings.md`) `join`'s `waiting.fetch_add` Release
/// -> Relaxed and `wait_register`'s swap Acquire -> Relaxed.
#[test]
fn a_worker_that_registers_during_a_wait_is_marked() {
    let outcomes = Outcomes::new(&[
        "the worker marked itself",
        "the waiter's scan found the worker",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let late = Arc::new(Late {
            shared: Shared::with_a_queued_task(),
            registered: AtomicUsize::new(0),
        });
        // A ghost (outside the model): whether a scan of the waiter's found
        // the worker.
        let found = Arc::new(AtomicBool::new(false));
        let l = late.clone();
        let worker = thread::spawn(move || {
            let s = &l.shared;
            l.registered.store(1, Ordering::Release);
            let presence = &s.presences[0];
            let self_marked = s.quiet.join(presence);
            s.quiet.enter(presence);
            let task = s.global.pop_one().expect("only the worker takes");
            s.tasks.take(task);
            s.result.with_mut(|v| unsafe { *v = 7 });
            s.quiet.leave(
                presence,
                &|f| {
                    l.scan(f);
                },
                &s.global,
            );
            self_marked
        });
        let l = late.clone();
        let f2 = found.clone();
        let waiter = thread::spawn(move || {
            let latch = Latch::new();
            let s = &l.shared;
            let scan = |f: &mut dyn FnMut(&Presence)| {
                if l.scan(f) == 1 {
                    f2.store(true, Ordering::Relaxed);
                }
            };
            s.quiet.wait_register(&latch, &scan, &s.global);
            latch.wait();
            s.result
                .with(|v| assert_eq!(unsafe { *v }, 7, "released before the task ran"));
        });
        let self_marked = worker.join().unwrap();
        waiter.join().unwrap();
        let found = found.load(Ordering::Relaxed);
        assert!(
            self_marked || found,
            "a worker that registered before the waiter's swap was not found"
        );
        o.hit(if self_marked {
            "the worker marked itself"
        } else {
            "the waiter's scan found the worker"
        });
    });
    outcomes.assert_all_reached(
        "a_worker_that_registers_during_a_wait_is_marked",
        iterations,
    );
}
