//! API checks: the `max_threads` bounds of `with_max_threads` and the
//! builder, static pools used from several threads, and the closure handed
//! back by a refused `spawn`.
#![cfg(not(any(loom, shuttle)))]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use common::*;
use zap_pool::{MAX_THREADS, SpawnError, ThreadPool};

// ---------------------------------------------------------------------------
// Limits, statics
// ---------------------------------------------------------------------------

#[test]
#[should_panic(expected = "max_threads")]
fn with_max_threads_zero_panics() {
    let pool = ThreadPool::with_max_threads(0);
    drop(pool);
}

#[test]
#[should_panic(expected = "max_threads")]
fn with_max_threads_too_many_panics() {
    let pool = ThreadPool::with_max_threads(MAX_THREADS + 1);
    drop(pool);
}

#[test]
fn builder_rejects_bad_max_threads() {
    assert_eq!(MAX_THREADS, 16_383);
    for bad in [0, MAX_THREADS + 1, 20_000, usize::MAX] {
        let err = ThreadPool::builder()
            .max_threads(bad)
            .build()
            .expect_err("out-of-range max_threads must be an error");
        let msg = err.to_string();
        assert!(
            msg.contains(&bad.to_string()) && msg.contains("16383"),
            "unhelpful error: {msg}"
        );
    }
    for good in [1, 2, MAX_THREADS] {
        let pool = ThreadPool::builder().max_threads(good).build().unwrap();
        assert_eq!(pool.max_threads(), good);
        // Threads are lazy: a few tasks start only a few threads.
        let counts = counters(8);
        for id in 0..8 {
            let c = counts.clone();
            pool.spawn(move || {
                c[id].fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
        }
        drop(pool);
        assert_each_once(&counts, "pool at a max_threads bound");
    }
    assert_eq!(
        ThreadPool::with_max_threads(MAX_THREADS).max_threads(),
        MAX_THREADS
    );
}

static POOL: ThreadPool = ThreadPool::new();
static SMALL_POOL: ThreadPool = ThreadPool::with_max_threads(2);

#[test]
fn static_pools_from_several_threads() {
    guarded("static_pools", || {
        const THREADS: usize = 6;
        const PER_THREAD: usize = 10_000;
        let counts = counters(2 * THREADS * PER_THREAD);
        let done = Arc::new(AtomicUsize::new(0));
        // All threads race to the first use (lazy initialization).
        let barrier = Arc::new(Barrier::new(THREADS));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (counts, done, barrier) = (counts.clone(), done.clone(), barrier.clone());
                thread::spawn(move || {
                    barrier.wait();
                    for i in 0..PER_THREAD {
                        for (k, pool) in [&POOL, &SMALL_POOL].into_iter().enumerate() {
                            let id = (k * THREADS + t) * PER_THREAD + i;
                            let (c, d) = (counts.clone(), done.clone());
                            pool.spawn(move || {
                                c[id].fetch_add(1, Ordering::Relaxed);
                                d.fetch_add(1, Ordering::Release);
                            })
                            .unwrap();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        wait_until("the static pools' tasks", || {
            done.load(Ordering::Acquire) == counts.len()
        });
        assert_each_once(&counts, "static pools");
        assert_eq!(SMALL_POOL.max_threads(), 2);
        assert_eq!(
            POOL.max_threads(),
            thread::available_parallelism().map_or(1, |n| n.get())
        );
        // A static is never dropped: shut it down and join it by hand.
        for pool in [&POOL, &SMALL_POOL] {
            pool.shutdown();
            pool.join_workers();
            assert!(
                pool.spawn(|| ()).is_err(),
                "a joined static pool accepted a task"
            );
            pool.join_workers(); // already joined: returns at once
        }
    });
}

#[test]
fn spawn_error_gives_the_closure_back() {
    let pool = ThreadPool::with_max_threads(1);
    pool.shutdown();
    let token = Arc::new(());
    let t = token.clone();
    let err: SpawnError<_> = pool
        .spawn(move || drop(t))
        .expect_err("spawn after shutdown must fail");
    assert_eq!(Arc::strong_count(&token), 2, "the closure was dropped");
    assert_eq!(format!("{err:?}"), "SpawnError { .. }");
    let f = err.into_inner();
    f();
    assert_eq!(Arc::strong_count(&token), 1);
    pool.join_workers();
}
