//! `join_lazy` on real threads: results, exactly-once leaves, panics, nesting
//! with `join`, forks deeper than the fork stack, and the promotion on
//! demand that lets a blocked nested fork reach an idle thread.
#![cfg(not(any(loom, shuttle)))]

mod common;

use common::{assert_each_once, counters, guarded};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::thread;
use zap_pool::ThreadPool;

/// A binary tree of joins over `lo..hi`: leaf `i` bumps `counts[i]`; every
/// level uses `join_lazy`, or `join` where `eager(depth)` says so.
fn tree(
    lo: usize,
    hi: usize,
    depth: u32,
    counts: &[AtomicU8],
    eager: &(dyn Fn(u32) -> bool + Sync),
) {
    if hi - lo == 1 {
        counts[lo].fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mid = lo + (hi - lo) / 2;
    let a = || tree(lo, mid, depth + 1, counts, eager);
    let b = || tree(mid, hi, depth + 1, counts, eager);
    if eager(depth) {
        zap_pool::join(a, b);
    } else {
        zap_pool::join_lazy(a, b);
    }
}

/// Sums `xs` with `join_lazy` at every split down to single elements.
fn sum(xs: &[u64]) -> u64 {
    match xs {
        [] => 0,
        [x] => *x,
        _ => {
            let (l, r) = xs.split_at(xs.len() / 2);
            let (a, b) = zap_pool::join_lazy(|| sum(l), || sum(r));
            a + b
        }
    }
}

#[test]
fn results_match_the_sequential_sum_on_every_pool_size() {
    guarded("sums", || {
        let xs: Vec<u64> = (1..=50_000).collect();
        let expected: u64 = xs.iter().sum();
        for threads in [1, 2, 4] {
            let pool = ThreadPool::with_max_threads(threads);
            for _ in 0..20 {
                assert_eq!(pool.install(|| sum(&xs)), expected, "{threads} threads");
            }
        }
        // Off any pool: the global pool.
        assert_eq!(sum(&xs), expected);
    });
}

#[test]
fn every_leaf_runs_once_with_join_and_join_lazy_nested_in_any_order() {
    guarded("mixed", || {
        // Which depths use `join`: none, all, alternate levels, a band.
        // At 2 threads the second is often idle, so lazy forks are promoted
        // on demand between eager ones.
        let patterns: [&(dyn Fn(u32) -> bool + Sync); 5] = [
            &|_| false,
            &|_| true,
            &|d| d % 2 == 0,
            &|d| d % 2 == 1,
            &|d| (3..6).contains(&d),
        ];
        for threads in [2, 4] {
            let pool = ThreadPool::with_max_threads(threads);
            for eager in patterns {
                for _ in 0..10 {
                    let counts = counters(1 << 16);
                    pool.install(|| tree(0, 1 << 16, 0, &counts, eager));
                    assert_each_once(&counts, "tree(0..65536)");
                }
            }
        }
    });
}

#[test]
fn forks_deeper_than_the_fork_stack_run_inline() {
    guarded("deep", || {
        // A chain of nested `join_lazy` calls far deeper than the stack
        // holds (256 jobs); each `b` counts its depth.
        fn chain(depth: usize, counts: &[AtomicU8]) {
            if depth == counts.len() {
                return;
            }
            zap_pool::join_lazy(
                || chain(depth + 1, counts),
                || {
                    counts[depth].fetch_add(1, Ordering::Relaxed);
                },
            );
        }
        let pool = ThreadPool::builder()
            .max_threads(2)
            .stack_size(64 << 20)
            .build()
            .unwrap();
        let counts = counters(2_000);
        pool.install(|| chain(0, &counts));
        assert_each_once(&counts, "chain of 2000");
    });
}

#[test]
fn a_panic_is_re_raised_after_both_halves_and_the_worker_stays_usable() {
    guarded("panics", || {
        let pool = ThreadPool::with_max_threads(2);
        for round in 0..50 {
            let counts = counters(64);
            let got = catch_unwind(AssertUnwindSafe(|| {
                pool.install(|| {
                    tree_with_panic(0, 64, &counts, round % 64);
                })
            }));
            let payload = got.expect_err("the leaf's panic is re-raised");
            assert_eq!(payload.downcast_ref::<&str>(), Some(&"leaf panic"));
            // Every leaf ran, the panicking one included, exactly once.
            assert_each_once(&counts, "leaves around a panic");
            // The worker's fork stack is consistent afterwards.
            let xs: Vec<u64> = (0..1000).collect();
            assert_eq!(pool.install(|| sum(&xs)), 499_500);
        }
    });

    fn tree_with_panic(lo: usize, hi: usize, counts: &[AtomicU8], bad: usize) {
        if hi - lo == 1 {
            counts[lo].fetch_add(1, Ordering::Relaxed);
            if lo == bad {
                std::panic::panic_any("leaf panic");
            }
            return;
        }
        let mid = lo + (hi - lo) / 2;
        zap_pool::join_lazy(
            || tree_with_panic(lo, mid, counts, bad),
            || tree_with_panic(mid, hi, counts, bad),
        );
    }
}

/// The demand rule: a nested `b` that nobody was idle to take when it was
/// recorded is offered at a later fork once a thread is idle. Here the
/// outer `a` is busy until the nested `b` runs, and keeps forking while it
/// waits: only another thread can run that `b`. With `join` as the fork in
/// the loop, its promotion of every hidden fork does the same.
#[test]
fn a_hidden_fork_is_offered_once_a_thread_is_idle() {
    guarded("demand", || {
        let pool = ThreadPool::with_max_threads(2);
        for eager_loop in [false, true] {
            for _ in 0..50 {
                let ran = AtomicBool::new(false);
                pool.install(|| {
                    zap_pool::join_lazy(
                        || {
                            zap_pool::join_lazy(
                                || {
                                    while !ran.load(Ordering::Acquire) {
                                        if eager_loop {
                                            zap_pool::join(|| (), || ());
                                        } else {
                                            zap_pool::join_lazy(|| (), || ());
                                        }
                                        thread::yield_now();
                                    }
                                },
                                || ran.store(true, Ordering::Release),
                            )
                        },
                        || (),
                    )
                });
            }
        }
    });
}
