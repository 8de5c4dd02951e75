//! Fork-join on real threads: `join`, `scope` and `JoinHandle`.
//!
//! Every test counts executions per leaf and asserts exactly once. The
//! nesting tests run on a 1-thread pool, where a waiting worker that did not
//! run other tasks would deadlock (a watchdog turns the hang into a failure),
//! and on 8 threads, where steals and blocking waits happen.
#![cfg(not(any(loom, shuttle)))]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use zap_pool::{Scope, ThreadPool};

/// A counter per leaf, so a leaf run twice or never is caught.
fn leaves(n: usize) -> Vec<AtomicUsize> {
    (0..n).map(|_| AtomicUsize::new(0)).collect()
}

fn assert_each_once(counts: &[AtomicUsize]) {
    for (i, c) in counts.iter().enumerate() {
        assert_eq!(
            c.load(Ordering::Relaxed),
            1,
            "leaf {i} ran the wrong number of times"
        );
    }
}

/// A full binary tree of joins, `depth` levels deep: leaf `index` bumps its
/// counter; returns the number of leaves below.
fn join_tree(depth: u32, index: usize, counts: &[AtomicUsize]) -> usize {
    if depth == 0 {
        counts[index].fetch_add(1, Ordering::Relaxed);
        return 1;
    }
    let (a, b) = zap_pool::join(
        || join_tree(depth - 1, 2 * index, counts),
        || join_tree(depth - 1, 2 * index + 1, counts),
    );
    a + b
}

/// A chain of joins nested `depth` deep: at each level the left side goes
/// one level deeper and the right side is a leaf.
fn join_chain(depth: usize, counts: &[AtomicUsize]) {
    if depth == 0 {
        counts[0].fetch_add(1, Ordering::Relaxed);
        return;
    }
    zap_pool::join(
        || join_chain(depth - 1, counts),
        || {
            counts[depth].fetch_add(1, Ordering::Relaxed);
        },
    );
}

fn scope_chain<'a>(s: &Scope<'a>, depth: usize, counts: &'a [AtomicUsize]) {
    counts[depth].fetch_add(1, Ordering::Relaxed);
    if depth + 1 < counts.len() {
        s.spawn(move |s| scope_chain(s, depth + 1, counts));
    }
}

/// Runs `f` on its own thread and fails if it does not finish within a
/// minute: a deadlock becomes a test failure instead of a hang.
fn watchdog(name: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(()) => {}
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{name}: the test body panicked"),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{name}: no progress in 60 s (deadlock)"),
    }
}

fn pool(threads: usize) -> ThreadPool {
    ThreadPool::builder().max_threads(threads).build().unwrap()
}

#[test]
fn nested_join_depth_20_on_one_thread() {
    watchdog("nested join", || {
        let pool = pool(1);
        let counts = leaves(21);
        pool.join(|| join_chain(20, &counts), || ());
        assert_each_once(&counts);
    });
}

#[test]
fn nested_join_depth_20_on_eight_threads() {
    let pool = pool(8);
    for _ in 0..20 {
        let counts = leaves(21);
        pool.join(|| join_chain(20, &counts), || ());
        assert_each_once(&counts);
    }
}

#[test]
fn join_tree_of_2_pow_16_leaves_on_one_and_eight_threads() {
    for threads in [1, 8] {
        let pool = pool(threads);
        let counts = leaves(1 << 16);
        let (n, ()) = pool.join(|| join_tree(16, 0, &counts), || ());
        assert_eq!(n, 1 << 16);
        assert_each_once(&counts);
    }
}

#[test]
fn join_deeper_than_the_join_deque_still_runs_everything() {
    // 200 nested levels: past the deque's capacity the second closure runs
    // inline after the first.
    let pool = ThreadPool::builder()
        .max_threads(2)
        .stack_size(16 << 20)
        .build()
        .unwrap();
    let counts = leaves(201);
    pool.join(|| join_chain(200, &counts), || ());
    assert_each_once(&counts);
}

/// Scopes nested `counts.len()` deep: each scope's only task opens the next
/// scope and waits for it, so the waits nest on the waiting workers.
fn scope_nest(pool: &ThreadPool, depth: usize, counts: &[AtomicUsize]) {
    pool.scope(|s| {
        counts[depth].fetch_add(1, Ordering::Relaxed);
        if depth + 1 < counts.len() {
            s.spawn(move |_| scope_nest(pool, depth + 1, counts));
        }
    });
}

#[test]
fn nested_scope_depth_20_on_one_thread() {
    watchdog("nested scope", || {
        let pool = pool(1);
        let counts = leaves(20);
        // From a task of the pool, so every scope waits on the one worker.
        pool.join(|| scope_nest(&pool, 0, &counts), || ());
        assert_each_once(&counts);
        // From outside: the outer scope blocks, the inner ones help.
        let counts = leaves(20);
        scope_nest(&pool, 0, &counts);
        assert_each_once(&counts);
    });
}

#[test]
fn nested_scope_depth_20_on_eight_threads() {
    watchdog("nested scope", || {
        let pool = pool(8);
        for _ in 0..20 {
            let counts = leaves(20);
            pool.join(|| scope_nest(&pool, 0, &counts), || ());
            assert_each_once(&counts);
        }
    });
}

#[test]
fn scope_tasks_spawning_a_chain() {
    let pool = pool(1);
    let counts = leaves(20);
    pool.scope(|s| scope_chain(s, 0, &counts));
    assert_each_once(&counts);
}

#[test]
fn wide_scope_with_joins_inside_on_eight_threads() {
    let pool = pool(8);
    let counts = leaves(64 * 256);
    pool.scope(|s| {
        for chunk in counts.chunks(256) {
            s.spawn(move |_| {
                let n = join_tree(8, 0, chunk);
                assert_eq!(n, 256);
            });
        }
    });
    assert_each_once(&counts);
}

#[test]
fn scope_waits_for_tasks_spawned_by_tasks() {
    let pool = pool(4);
    let counts = leaves(1000);
    pool.scope(|s| {
        for i in 0..10 {
            let counts = &counts;
            s.spawn(move |s| {
                for j in 0..100 {
                    s.spawn(move |_| {
                        counts[i * 100 + j].fetch_add(1, Ordering::Relaxed);
                    });
                }
            });
        }
    });
    assert_each_once(&counts);
}

#[test]
fn scope_returns_the_body_value_and_borrows_mutably() {
    let pool = pool(2);
    let mut data = vec![0u32; 100];
    let r = pool.scope(|s| {
        for (i, x) in data.iter_mut().enumerate() {
            s.spawn(move |_| *x = i as u32 * 2);
        }
        "body"
    });
    assert_eq!(r, "body");
    assert!(data.iter().enumerate().all(|(i, &x)| x == i as u32 * 2));
}

#[test]
fn free_join_outside_a_pool_runs_on_the_global_pool() {
    let here = std::thread::current().id();
    let (a, b) = zap_pool::join(
        || {
            (
                std::thread::current().id(),
                zap_pool::current_thread_index(),
            )
        },
        zap_pool::current_thread_index,
    );
    // `a` runs on a worker of the global pool, not on the caller.
    assert_ne!(a.0, here);
    assert!(a.1.is_some());
    assert!(b.is_some());
}

#[test]
fn pool_join_from_outside_runs_on_a_worker() {
    let pool = pool(2);
    let here = std::thread::current().id();
    let (a, _) = pool.join(|| std::thread::current().id(), || ());
    assert_ne!(a, here);
}

#[test]
fn join_re_raises_a_panic_after_the_other_side_finished() {
    let pool = pool(4);
    for _ in 0..50 {
        let finished = AtomicUsize::new(0);
        let r = catch_unwind(AssertUnwindSafe(|| {
            pool.join(
                || -> () { panic!("left") },
                || {
                    std::thread::yield_now();
                    finished.fetch_add(1, Ordering::Relaxed);
                },
            )
        }));
        let payload = r.expect_err("the left panic is re-raised");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"left"));
        // The right side ran, whether or not another worker took it.
        assert_eq!(finished.load(Ordering::Relaxed), 1);
    }
    let r = catch_unwind(AssertUnwindSafe(|| {
        pool.join(|| 1, || -> u32 { panic!("right") })
    }));
    assert_eq!(
        r.expect_err("re-raised").downcast_ref::<&str>(),
        Some(&"right")
    );
    // The pool is still fine.
    assert_eq!(pool.join(|| 1, || 2), (1, 2));
}

/// `b` runs when `a` panics, on one thread (never stolen) as on two, and
/// in nested joins (where `b` sits in the worker's join deque), so its
/// effects never depend on stealing.
#[test]
fn b_runs_when_a_panics_whoever_runs_it() {
    for threads in [1, 2] {
        let pool = pool(threads);
        for depth in [1usize, 3] {
            let ran = AtomicUsize::new(0);
            let r = catch_unwind(AssertUnwindSafe(|| {
                pool.install(|| {
                    fn nest(depth: usize, ran: &AtomicUsize) {
                        if depth == 0 {
                            panic!("a");
                        }
                        zap_pool::join(
                            || nest(depth - 1, ran),
                            || {
                                ran.fetch_add(1, Ordering::Relaxed);
                            },
                        );
                    }
                    nest(depth, &ran)
                })
            }));
            assert_eq!(r.expect_err("a's panic").downcast_ref::<&str>(), Some(&"a"));
            assert_eq!(
                ran.load(Ordering::Relaxed),
                depth,
                "{threads} thread(s), depth {depth}: a b did not run"
            );
        }
    }
}

#[test]
fn scope_re_raises_a_task_panic_after_all_tasks_finished() {
    let pool = pool(4);
    let done = AtomicUsize::new(0);
    let r = catch_unwind(AssertUnwindSafe(|| {
        pool.scope(|s| {
            s.spawn(|_| panic!("task"));
            for _ in 0..100 {
                s.spawn(|_| {
                    done.fetch_add(1, Ordering::Relaxed);
                });
            }
        })
    }));
    assert_eq!(
        r.expect_err("re-raised").downcast_ref::<&str>(),
        Some(&"task")
    );
    assert_eq!(done.load(Ordering::Relaxed), 100);
}

#[test]
fn scope_body_panic_wins_and_tasks_still_finish() {
    let pool = pool(2);
    let done = AtomicUsize::new(0);
    let r = catch_unwind(AssertUnwindSafe(|| {
        pool.scope(|s| {
            s.spawn(|_| panic!("task"));
            s.spawn(|_| {
                done.fetch_add(1, Ordering::Relaxed);
            });
            panic!("body");
        })
    }));
    assert_eq!(
        r.expect_err("re-raised").downcast_ref::<&str>(),
        Some(&"body")
    );
    assert_eq!(done.load(Ordering::Relaxed), 1);
}

#[test]
fn handles_return_results_and_panics() {
    let pool = pool(4);
    let handles: Vec<_> = (0..1000u64)
        .map(|i| pool.spawn_with_handle(move || i * 3).unwrap())
        .collect();
    let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, 3 * 999 * 1000 / 2);
    let h = pool
        .spawn_with_handle(|| -> () { panic!("in handle") })
        .unwrap();
    let payload = h.join().expect_err("the panic comes back");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"in handle"));
}

#[test]
fn handle_joined_inside_the_pool_on_one_thread() {
    // The worker joins a handle whose task is queued behind the current
    // one: it must run it itself rather than wait.
    watchdog("handle on one thread", || {
        let pool = ThreadPool::builder().max_threads(1).build().unwrap();
        let pool = std::sync::Arc::new(pool);
        let p = pool.clone();
        let outer = pool
            .spawn_with_handle(move || {
                let inner: Vec<_> = (0..10u32)
                    .map(|i| p.spawn_with_handle(move || i).unwrap())
                    .collect();
                inner.into_iter().map(|h| h.join().unwrap()).sum::<u32>()
            })
            .unwrap();
        assert_eq!(outer.join().unwrap(), 45);
    });
}

#[test]
fn handle_from_outside_joined_by_a_worker_that_cannot_see_it_yet() {
    // A 1-thread pool whose only worker waits for a handle that is spawned
    // from outside after the wait began: the worker must not sleep through
    // it (it claims the task or is woken by the pool's notification).
    let pool = std::sync::Arc::new(pool(1));
    for _ in 0..50 {
        let (tx, rx) = mpsc::channel::<zap_pool::JoinHandle<u32>>();
        let waiter = pool
            .spawn_with_handle(move || rx.recv().unwrap().join().unwrap())
            .unwrap();
        let h = pool.spawn_with_handle(|| 7).unwrap();
        tx.send(h).unwrap();
        assert_eq!(waiter.join().unwrap(), 7);
    }
}

#[test]
fn dropped_handle_still_runs_its_task() {
    let pool = pool(2);
    let ran = std::sync::Arc::new(AtomicUsize::new(0));
    for _ in 0..100 {
        let ran = ran.clone();
        drop(
            pool.spawn_with_handle(move || {
                ran.fetch_add(1, Ordering::Relaxed);
            })
            .unwrap(),
        );
    }
    pool.shutdown();
    pool.join_workers();
    assert_eq!(ran.load(Ordering::Relaxed), 100);
}

#[test]
fn after_shutdown_fork_join_from_outside_runs_inline_or_is_refused() {
    let pool = pool(2);
    pool.shutdown();
    let here = std::thread::current().id();
    let (a, b) = pool.join(|| std::thread::current().id(), || 2);
    assert_eq!((a, b), (here, 2));
    let ran = AtomicUsize::new(0);
    pool.scope(|s| {
        s.spawn(|_| {
            ran.fetch_add(1, Ordering::Relaxed);
        });
    });
    assert_eq!(ran.load(Ordering::Relaxed), 1);
    let refused = pool.spawn_with_handle(|| 5).expect_err("shut down");
    assert_eq!((refused.into_inner())(), 5);
}

#[test]
fn handle_on_a_pool_whose_spawns_all_fail_runs_at_join_workers() {
    // No worker can start: the task waits in the global queue and runs on
    // the thread that calls `join_workers`; the handle then has its result.
    let pool = std::sync::Arc::new(
        ThreadPool::builder()
            .max_threads(2)
            .spawn_handler(|_| Err(std::io::Error::other("no threads")))
            .spawn_error_handler(|_| {})
            .build()
            .unwrap(),
    );
    let h = pool.spawn_with_handle(|| 11).unwrap();
    pool.shutdown();
    pool.join_workers(); // runs the task on this thread
    assert!(h.is_finished());
    assert_eq!(h.join().unwrap(), 11);
}
