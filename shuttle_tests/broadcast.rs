//! `ThreadPool::broadcast` on the whole pool, under shuttle.
//!
//! 1. `broadcast_racing_shutdown`: one thread broadcasts up to three times
//!    while the main thread shuts the pool down. Each broadcast either ran
//!    exactly once on each of the pool's threads, or was refused (a panic
//!    naming the shutdown) before any piece ran; never a hang, never a
//!    piece twice or on the wrong thread. Both outcomes must be reached.
//! 2. `broadcasts_reach_sleeping_workers`: the pool's three threads are
//!    started and left idle; then two outside threads and a task of the
//!    pool broadcast at once (the task's broadcast is nested in the pool).
//!    Every idle worker must be woken for every broadcast, each runs each
//!    piece once, and every broadcast returns `[0, 1, 2]`.
//!
//! shuttle runs every atomic as SeqCst: this checks the protocol (epochs,
//! the lock, the wake-up of sleepers), not orderings.

use crate::check_outcomes;
use crate::common::PoolRef;
use shuttle::sync::mpsc;
use shuttle::thread;
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex, Once};
use zap_pool::{ThreadPool, model};

/// Keeps the panic hook quiet about the refusal this scenario expects
/// (shuttle's hook prints every panic, caught or not); any other panic
/// still reaches the hooks installed before.
fn quiet_refusals() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        crate::common::quiet_task_panics();
        let earlier = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let refusal = crate::common::describe(info.payload())
                .contains("broadcast on a pool that is shut down");
            if !refusal {
                earlier(info);
            }
        }));
    });
}

const SHUTDOWN_OUTCOMES: &[&str] = &[
    "every broadcast ran on every thread",
    "a broadcast was refused: the pool shut down",
];

/// How many times `broadcast_racing_shutdown` explores (each time the
/// suite's executions per scheduler): the lost publication it guards
/// against needs a shutdown, a whole drain and an exit to fit between two
/// steps of the broadcaster, which one round of random and PCT schedules
/// does not always reach.
const SHUTDOWN_ROUNDS: usize = 8;

#[test]
fn broadcast_racing_shutdown() {
    for _ in 0..SHUTDOWN_ROUNDS {
        broadcast_racing_shutdown_round();
    }
}

fn broadcast_racing_shutdown_round() {
    check_outcomes(
        "broadcast_racing_shutdown",
        SHUTDOWN_OUTCOMES,
        false,
        |outcomes| {
            quiet_refusals();
            let pool = Box::new(ThreadPool::with_max_threads(2));
            let pieces = Arc::new(Mutex::new(Vec::new()));
            let (p, pc) = (PoolRef::new(&pool), pieces.clone());
            // Up to three broadcasts in a row: each may straddle the
            // shutdown, which makes a lost publication likelier to show.
            let caster = thread::spawn(move || {
                let mut ran = 0;
                for _ in 0..3 {
                    let result = panic::catch_unwind(AssertUnwindSafe(|| {
                        p.get().broadcast(|ctx| {
                            pc.lock()
                                .unwrap()
                                .push((ctx.index(), zap_pool::current_thread_index()));
                            ctx.index()
                        })
                    }));
                    match result {
                        Ok(indices) => {
                            assert_eq!(indices, [0, 1]);
                            ran += 1;
                        }
                        Err(e) => return (ran, Some(crate::common::describe(&*e))),
                    }
                }
                (ran, None)
            });
            pool.shutdown();
            let (ran, refused) = caster.join().unwrap();
            pool.join_workers();
            let mut pieces = pieces.lock().unwrap().clone();
            pieces.sort();
            let expected: Vec<_> = (0..ran)
                .flat_map(|_| [(0, Some(0)), (1, Some(1))])
                .collect();
            let mut expected = expected;
            expected.sort();
            assert_eq!(
                pieces, expected,
                "each broadcast that ran, once on each thread"
            );
            match refused {
                None => outcomes.hit(SHUTDOWN_OUTCOMES[0]),
                Some(message) => {
                    assert!(message.contains("shut down"), "{message}");
                    outcomes.hit(SHUTDOWN_OUTCOMES[1]);
                }
            }
        },
    );
}

const SLEEPERS_OUTCOMES: &[&str] = &[
    "every worker was idle when the broadcasts began",
    "some worker had not gone idle yet",
];

#[test]
fn broadcasts_reach_sleeping_workers() {
    check_outcomes(
        "broadcasts_reach_sleeping_workers",
        SLEEPERS_OUTCOMES,
        false,
        |outcomes| {
            let pool = Box::new(ThreadPool::with_max_threads(3));
            assert_eq!(pool.warm(3).unwrap(), 3);
            let p = PoolRef::new(&pool);
            let runs = Arc::new(Mutex::new(Vec::new()));
            let all_idle = model::word(&pool).3 == 3;
            let casters: Vec<_> = (0..2)
                .map(|k| {
                    let r = runs.clone();
                    thread::spawn(move || {
                        p.get().broadcast(|ctx| {
                            r.lock()
                                .unwrap()
                                .push((k, ctx.index(), thread::current().id()));
                            ctx.index()
                        })
                    })
                })
                .collect();
            let (tx, rx) = mpsc::channel();
            let r = runs.clone();
            pool.spawn(move || {
                let got = p.get().broadcast(|ctx| {
                    r.lock()
                        .unwrap()
                        .push((2, ctx.index(), thread::current().id()));
                    ctx.index()
                });
                tx.send(got).unwrap();
            })
            .unwrap();
            for c in casters {
                assert_eq!(c.join().unwrap(), [0, 1, 2]);
            }
            assert_eq!(rx.recv().unwrap(), [0, 1, 2]);
            let runs = runs.lock().unwrap().clone();
            assert_eq!(runs.len(), 9, "three broadcasts, three pieces each");
            for k in 0..3 {
                let threads: HashSet<_> = runs.iter().filter(|r| r.0 == k).map(|r| r.2).collect();
                assert_eq!(threads.len(), 3, "broadcast {k}: one piece per thread");
            }
            outcomes.hit(SLEEPERS_OUTCOMES[usize::from(!all_idle)]);
        },
    );
}
