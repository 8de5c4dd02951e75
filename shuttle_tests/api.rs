//! `ThreadPool::install` across pools, and the global pool, under shuttle.
//!
//! 1. `install_across_two_one_thread_pools`: a task of pool A installs a
//!    closure on pool B, which joins back on A. Each pool has one thread,
//!    so A's only worker waits for B's job while the join that B's job
//!    sends back into A can run nowhere else: the wait must keep running
//!    A's tasks (and wake for them if it sleeps). Checked: the closure ran
//!    on B's worker, the join's closures on A's worker, every closure ran
//!    exactly once, and nothing hung (a hang is shuttle's `deadlock`).
//! 2. `free_join_from_outside_uses_the_global_pool`: the free `join` from
//!    the execution's main thread runs on the global pool (a fresh one per
//!    execution), whose threads `model::end_global` then ends.
//!
//! As everywhere in this suite, no assertion runs inside a task: tasks
//! write into a [`Ledger`] and the execution's main thread checks it.

use crate::common::{Ledger, PoolRef, me};
use crate::{check_outcomes, check_outcomes_times};
use shuttle::sync::mpsc;
use shuttle::thread::ThreadId;
use zap_pool::{ThreadPool, model};

const INSTALLED: usize = 0;
const JOIN_A: usize = 1;
const JOIN_B: usize = 2;

const ACROSS_OUTCOMES: &[&str] = &[
    "a futex wait slept during the install",
    "no futex wait slept during the install",
];

fn one_thread_pool() -> Box<ThreadPool> {
    Box::new(ThreadPool::with_max_threads(1))
}

/// Runs 10 times the suite's executions: "no futex wait slept" needs B's
/// worker to start, run the install and queue the join on A inside the
/// short window in which A's waiting worker has counted itself idle but
/// not yet slept, and A's worker to finish the join before B's sleeps;
/// about 1 schedule in 1,400 does (a waking thread that finds one task
/// and sees no other work posts nothing when it ends its role, so A's
/// worker gets no extra search before it sleeps).
#[test]
fn install_across_two_one_thread_pools() {
    check_outcomes_times(
        "install_across_two_one_thread_pools",
        ACROSS_OUTCOMES,
        false,
        10,
        |outcomes| {
            let a = one_thread_pool();
            let b = one_thread_pool();
            let ledger = Ledger::new(3);
            let (tx, rx) = mpsc::channel::<(ThreadId, Option<usize>, usize)>();
            let (pa, pb) = (PoolRef::new(&a), PoolRef::new(&b));
            let (t_inst, t_a, t_b) = (
                ledger.token(INSTALLED),
                ledger.token(JOIN_A),
                ledger.token(JOIN_B),
            );
            a.spawn(move || {
                let sleeps_before = model::blocked_waits();
                let index_on_b = pb.get().install(move || {
                    t_inst.run();
                    let index = zap_pool::current_thread_index();
                    pa.get().join(move || t_a.run(), move || t_b.run());
                    index
                });
                let slept = model::blocked_waits() - sleeps_before;
                tx.send((me(), index_on_b, slept)).unwrap();
            })
            .unwrap();
            // A shuttle channel, not a pool wait: the main thread's own
            // waiting stays out of the futex count.
            let (a_worker, index_on_b, slept) = rx.recv().unwrap();

            assert_eq!(index_on_b, Some(0), "the install ran on B's worker");
            let installed_on = ledger.ran_on(INSTALLED).unwrap();
            assert_ne!(installed_on, a_worker, "the install left A's worker");
            assert_ne!(installed_on, me());
            assert_eq!(ledger.ran_on(JOIN_A), Some(a_worker), "join on A: a");
            assert_eq!(ledger.ran_on(JOIN_B), Some(a_worker), "join on A: b");
            outcomes.hit(ACROSS_OUTCOMES[usize::from(slept == 0)]);

            drop(b);
            drop(a);
            ledger.check(|_| 1);
        },
    );
}

const GLOBAL_OUTCOMES: &[&str] = &[
    "b ran on the worker that ran a",
    "b was stolen by the other worker",
];

#[test]
fn free_join_from_outside_uses_the_global_pool() {
    check_outcomes(
        "free_join_from_outside_uses_the_global_pool",
        GLOBAL_OUTCOMES,
        false,
        |outcomes| {
            let ledger = Ledger::new(2);
            let (ta, tb) = (ledger.token(0), ledger.token(1));
            let (ia, ib) = zap_pool::join(
                move || {
                    ta.run();
                    zap_pool::current_thread_index()
                },
                move || {
                    tb.run();
                    zap_pool::current_thread_index()
                },
            );
            assert_eq!(zap_pool::current_thread_index(), None);
            assert!(ia.is_some() && ib.is_some(), "on global workers");
            let (on_a, on_b) = (ledger.ran_on(0).unwrap(), ledger.ran_on(1).unwrap());
            assert_ne!(on_a, me(), "a left the main thread");
            assert_ne!(on_b, me(), "b left the main thread");
            outcomes.hit(GLOBAL_OUTCOMES[usize::from(on_a != on_b)]);
            // The global pool's threads outlive the execution otherwise.
            model::end_global();
            ledger.check(|_| 1);
        },
    );
}

/// The global pool is per execution: `Builder::build_global` works again in
/// each one, and fails after the pool's first use within it.
#[test]
fn build_global_once_per_execution() {
    check_outcomes(
        "build_global_once_per_execution",
        &["built, then refused"],
        false,
        |outcomes| {
            zap_pool::Builder::new()
                .max_threads(1)
                .build_global()
                .expect("a fresh global pool in each execution");
            assert_eq!(zap_pool::current_num_threads(), 1);
            assert!(zap_pool::Builder::new().build_global().is_err());
            let (x, _) = zap_pool::join(|| 1, || 2);
            assert_eq!(x, 1);
            model::end_global();
            outcomes.hit("built, then refused");
        },
    );
}
