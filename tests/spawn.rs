//! Stress tests of `spawn` on real threads: many producers at once, tasks
//! that spawn trees of tasks, one task fanning out while others steal, and a
//! ping-pong that races every push with a worker going to sleep.
#![cfg(not(any(loom, shuttle)))]

mod common;

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use zap_pool::ThreadPool;

// ---------------------------------------------------------------------------
// Many producers
// ---------------------------------------------------------------------------

#[test]
fn many_producers_each_task_runs_once() {
    guarded_rounds("many_producers", 5, || {
        const PRODUCERS: usize = 8;
        const PER_PRODUCER: usize = 20_000;
        const MAX: usize = 4;
        let (pool, life) = counted_pool(MAX, "many-");
        let pool = Arc::new(pool);
        let counts = counters(PRODUCERS * PER_PRODUCER);
        let done = Arc::new(AtomicUsize::new(0));
        let off_pool = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(PRODUCERS));
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let (pool, counts, done, off_pool, barrier) = (
                    pool.clone(),
                    counts.clone(),
                    done.clone(),
                    off_pool.clone(),
                    barrier.clone(),
                );
                thread::spawn(move || {
                    barrier.wait();
                    for i in 0..PER_PRODUCER {
                        let id = p * PER_PRODUCER + i;
                        let (counts, done, off_pool) =
                            (counts.clone(), done.clone(), off_pool.clone());
                        pool.spawn(move || {
                            if !current_name().starts_with("many-") {
                                off_pool.fetch_add(1, Ordering::Relaxed);
                            }
                            counts[id].fetch_add(1, Ordering::Relaxed);
                            done.fetch_add(1, Ordering::Release);
                        })
                        .expect("the pool is running");
                    }
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        // Liveness without shutdown: no wake-up may be lost.
        wait_until("all tasks to run before shutdown", || {
            done.load(Ordering::Acquire) == PRODUCERS * PER_PRODUCER
        });
        let pool = Arc::into_inner(pool).expect("producers are gone");
        drop(pool);
        assert_each_once(&counts, "many producers");
        assert_eq!(
            off_pool.load(Ordering::Relaxed),
            0,
            "tasks ran off the pool"
        );
        assert_lifecycle(&life, MAX);
    });
}

// ---------------------------------------------------------------------------
// Tasks that spawn tasks
// ---------------------------------------------------------------------------

/// Node `id` of an implicit binary tree of `n` nodes: runs, then spawns its
/// children `2id+1` and `2id+2` (those below `n`).
fn tree_node(
    pool: Arc<ThreadPool>,
    id: usize,
    n: usize,
    counts: Arc<Vec<AtomicU8>>,
    refused: Arc<AtomicUsize>,
) {
    counts[id].fetch_add(1, Ordering::Relaxed);
    for child in [2 * id + 1, 2 * id + 2] {
        if child < n {
            let (p, c, r) = (pool.clone(), counts.clone(), refused.clone());
            if pool.spawn(move || tree_node(p, child, n, c, r)).is_err() {
                refused.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[test]
fn task_tree_waited_with_a_counter() {
    guarded_rounds("task_tree_counter", 5, || {
        const N: usize = 300_000;
        let (pool, life) = counted_pool(4, "tree-");
        let pool = Arc::new(pool);
        let counts = counters(N);
        let refused = Arc::new(AtomicUsize::new(0));
        {
            let (p, c, r) = (pool.clone(), counts.clone(), refused.clone());
            pool.spawn(move || tree_node(p, 0, N, c, r)).unwrap();
        }
        wait_until("the whole tree to run", || {
            counts.iter().all(|c| c.load(Ordering::Relaxed) > 0)
        });
        // Every closure (and the pool handle it captured) has been dropped
        // by the time join returns: none is leaked.
        pool.shutdown();
        pool.join_workers();
        assert_eq!(Arc::strong_count(&pool), 1, "a task closure was leaked");
        drop(Arc::into_inner(pool).unwrap());
        assert_eq!(refused.load(Ordering::Relaxed), 0);
        assert_each_once(&counts, "task tree (counter)");
        assert_lifecycle(&life, 4);
    });
}

#[test]
fn task_tree_drained_by_shutdown_and_join() {
    guarded_rounds("task_tree_drain", 10, || {
        const N: usize = 300_000;
        let (pool, life) = counted_pool(4, "drain-");
        let pool = Arc::new(pool);
        let counts = counters(N);
        let refused = Arc::new(AtomicUsize::new(0));
        {
            let (p, c, r) = (pool.clone(), counts.clone(), refused.clone());
            pool.spawn(move || tree_node(p, 0, N, c, r)).unwrap();
        }
        // Shut down at once: almost the whole tree is spawned by running
        // tasks after shutdown, and must be accepted and run before join
        // returns.
        pool.shutdown();
        pool.join_workers();
        assert_eq!(
            refused.load(Ordering::Relaxed),
            0,
            "a worker's spawn after shutdown was refused"
        );
        assert_each_once(&counts, "task tree (drained by join)");
        assert_eq!(Arc::strong_count(&pool), 1, "a task closure was leaked");
        drop(Arc::into_inner(pool).unwrap());
        assert_lifecycle(&life, 4);
    });
}

#[test]
fn one_task_fans_out_while_others_steal() {
    // One task spawns its children one at a time: its ring fills up and
    // overflows into its queue again and again, while the other workers
    // steal from that ring and queue.
    guarded_rounds("fan_out", 5, || {
        const CHILDREN: usize = 200_000;
        let pool = Arc::new(ThreadPool::with_max_threads(4));
        let counts = counters(CHILDREN);
        let done = Arc::new(AtomicUsize::new(0));
        let (p, c, d) = (pool.clone(), counts.clone(), done.clone());
        pool.spawn(move || {
            for id in 0..CHILDREN {
                let (c, d) = (c.clone(), d.clone());
                p.spawn(move || {
                    // A little work, so that thieves find a full ring.
                    for _ in 0..(id % 64) {
                        std::hint::spin_loop();
                    }
                    c[id].fetch_add(1, Ordering::Relaxed);
                    d.fetch_add(1, Ordering::Release);
                })
                .unwrap();
            }
        })
        .unwrap();
        wait_until("the fanned-out children", || {
            done.load(Ordering::Acquire) == CHILDREN
        });
        pool.shutdown();
        pool.join_workers();
        drop(Arc::into_inner(pool).unwrap());
        assert_each_once(&counts, "fan-out children");
    });
}

#[test]
fn ping_pong_wakes_an_idle_worker_every_time() {
    // Each task is spawned only after the previous one finished, so every
    // push races with a worker on its way to sleep: a lost wake-up leaves
    // the task stranded and shows up here as a timeout.
    guarded("ping_pong", || {
        const ROUNDS: usize = 100_000;
        for max_threads in [1, 2, 4] {
            let pool = ThreadPool::with_max_threads(max_threads);
            let done = Arc::new(AtomicUsize::new(0));
            for round in 0..ROUNDS {
                let d = done.clone();
                pool.spawn(move || {
                    d.fetch_add(1, Ordering::Release);
                })
                .unwrap();
                let start = Instant::now();
                let mut spins = 0u32;
                while done.load(Ordering::Acquire) == round {
                    spins += 1;
                    if spins % 1024 == 0 {
                        assert!(
                            start.elapsed() < Duration::from_secs(10),
                            "max_threads {max_threads}, round {round}: a task was not \
                             picked up within 10 s (lost wake-up)"
                        );
                        thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                }
            }
            drop(pool);
            assert_eq!(done.load(Ordering::Relaxed), ROUNDS);
        }
    });
}
