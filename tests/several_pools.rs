//! Several pools alive at once on real threads: each pool's tasks run on that
//! pool's threads only, and a worker of one pool spawning into another is an
//! outside caller there (refused once the other pool is shut down).
#![cfg(not(any(loom, shuttle)))]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use common::*;
use zap_pool::ThreadPool;

// ---------------------------------------------------------------------------
// Several pools
// ---------------------------------------------------------------------------

#[test]
fn several_pools_at_once() {
    guarded_rounds("several_pools", 5, || {
        const POOLS: usize = 3;
        const PRODUCERS_PER_POOL: usize = 2;
        const PER_PRODUCER: usize = 15_000;
        let pools: Vec<Arc<ThreadPool>> = (0..POOLS)
            .map(|k| {
                Arc::new(
                    ThreadPool::builder()
                        .max_threads(2)
                        .thread_name(move |i| format!("multi{k}-{i}"))
                        .build()
                        .unwrap(),
                )
            })
            .collect();
        let per_pool = PRODUCERS_PER_POOL * PER_PRODUCER;
        let counts = counters(POOLS * per_pool);
        let wrong_pool = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let mut producers = Vec::new();
        for (k, pool) in pools.iter().enumerate() {
            for p in 0..PRODUCERS_PER_POOL {
                let (pool, counts, wrong_pool, done) = (
                    pool.clone(),
                    counts.clone(),
                    wrong_pool.clone(),
                    done.clone(),
                );
                producers.push(thread::spawn(move || {
                    let prefix = format!("multi{k}-");
                    for i in 0..PER_PRODUCER {
                        let id = k * per_pool + p * PER_PRODUCER + i;
                        let (counts, wrong_pool, done, prefix) = (
                            counts.clone(),
                            wrong_pool.clone(),
                            done.clone(),
                            prefix.clone(),
                        );
                        pool.spawn(move || {
                            if !current_name().starts_with(&prefix) {
                                wrong_pool.fetch_add(1, Ordering::Relaxed);
                            }
                            counts[id].fetch_add(1, Ordering::Relaxed);
                            done.fetch_add(1, Ordering::Release);
                        })
                        .unwrap();
                    }
                }));
            }
        }
        for p in producers {
            p.join().unwrap();
        }
        wait_until("every pool's tasks", || {
            done.load(Ordering::Acquire) == POOLS * per_pool
        });
        for pool in pools {
            drop(Arc::into_inner(pool).unwrap());
        }
        assert_each_once(&counts, "several pools");
        assert_eq!(
            wrong_pool.load(Ordering::Relaxed),
            0,
            "a task ran on another pool's thread"
        );
    });
}

#[test]
fn worker_of_one_pool_spawns_into_another() {
    guarded_rounds("cross_pool", 5, || {
        const OUTER: usize = 200;
        const INNER: usize = 50;
        let a = Arc::new(
            ThreadPool::builder()
                .max_threads(2)
                .thread_name(|i| format!("pool-a-{i}"))
                .build()
                .unwrap(),
        );
        let b = Arc::new(
            ThreadPool::builder()
                .max_threads(2)
                .thread_name(|i| format!("pool-b-{i}"))
                .build()
                .unwrap(),
        );
        let outer = counters(OUTER);
        let inner = counters(OUTER * INNER);
        let names_a = Arc::new(Mutex::new(Vec::<String>::new()));
        let names_b = Arc::new(Mutex::new(Vec::<String>::new()));
        let refused = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        for o in 0..OUTER {
            let (b, outer, inner, names_a, names_b, refused, done) = (
                b.clone(),
                outer.clone(),
                inner.clone(),
                names_a.clone(),
                names_b.clone(),
                refused.clone(),
                done.clone(),
            );
            a.spawn(move || {
                names_a.lock().unwrap().push(current_name());
                outer[o].fetch_add(1, Ordering::Relaxed);
                for i in 0..INNER {
                    let id = o * INNER + i;
                    let (inner, names_b, done) = (inner.clone(), names_b.clone(), done.clone());
                    if b.spawn(move || {
                        names_b.lock().unwrap().push(current_name());
                        inner[id].fetch_add(1, Ordering::Relaxed);
                        done.fetch_add(1, Ordering::Release);
                    })
                    .is_err()
                    {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
            .unwrap();
        }
        wait_until("the tasks spawned into B", || {
            done.load(Ordering::Acquire) == OUTER * INNER
        });
        assert_eq!(refused.load(Ordering::Relaxed), 0);
        assert_each_once(&outer, "A's tasks");
        assert_each_once(&inner, "tasks spawned from A into B");
        for name in names_a.lock().unwrap().iter() {
            assert!(name.starts_with("pool-a-"), "A's task ran on {name:?}");
        }
        let names_b_seen = names_b.lock().unwrap().clone();
        assert_eq!(names_b_seen.len(), OUTER * INNER);
        for name in &names_b_seen {
            assert!(
                name.starts_with("pool-b-"),
                "a task spawned into B by A's worker ran on {name:?}"
            );
        }

        // Shut B down: A's workers are outside B, so they are refused, and
        // they get their closures back.
        b.shutdown();
        b.join_workers();
        let results = Arc::new(Mutex::new(Vec::new()));
        let late_ran = Arc::new(AtomicUsize::new(0));
        let a_done = Arc::new(AtomicUsize::new(0));
        for _ in 0..20 {
            let (b, results, late_ran, a_done) =
                (b.clone(), results.clone(), late_ran.clone(), a_done.clone());
            a.spawn(move || {
                let lr = late_ran.clone();
                let r = b.spawn(move || {
                    lr.fetch_add(1, Ordering::Relaxed);
                });
                let refused_and_returned = match r {
                    Ok(()) => false,
                    Err(e) => {
                        // The closure comes back intact and can be run here.
                        let f = e.into_inner();
                        f();
                        true
                    }
                };
                results.lock().unwrap().push(refused_and_returned);
                a_done.fetch_add(1, Ordering::Release);
            })
            .unwrap();
        }
        wait_until("A's tasks after B's shutdown", || {
            a_done.load(Ordering::Acquire) == 20
        });
        let results = results.lock().unwrap().clone();
        assert_eq!(results.len(), 20);
        assert!(
            results.iter().all(|&refused| refused),
            "B accepted a task from A's worker after B's shutdown"
        );
        // Each refused closure was run exactly once, by its A task.
        assert_eq!(late_ran.load(Ordering::Relaxed), 20);
        a.shutdown();
        a.join_workers();
        drop(Arc::into_inner(a).unwrap());
        drop(Arc::into_inner(b).unwrap());
    });
}
