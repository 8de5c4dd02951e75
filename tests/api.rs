//! The rayon-style API on real threads: `ThreadPool::install`, the free
//! functions (`join`, `scope`, `spawn`, `current_thread_index`,
//! `current_num_threads`) on the current pool or the global one,
//! `Builder::build_global`, default thread names, and `ThreadPool::warm`.
//!
//! The global pool is built once for this test binary (`global`), with its
//! own thread names, so that a test can tell its threads from any other
//! pool's; every test that touches the global pool calls `global` first.
#![cfg(not(any(loom, shuttle)))]

mod common;

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once, mpsc};
use std::thread;

use common::*;
use zap_pool::{Builder, ThreadPool};

const GLOBAL_PREFIX: &str = "api-global-";
const GLOBAL_THREADS: usize = 3;

/// Builds the global pool of this test binary, once.
fn global() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        Builder::new()
            .max_threads(GLOBAL_THREADS)
            .thread_name(|i| format!("{GLOBAL_PREFIX}{i}"))
            .build_global()
            .expect("the first use of the global pool in this binary");
    });
}

fn named_pool(max_threads: usize, prefix: &'static str) -> ThreadPool {
    ThreadPool::builder()
        .max_threads(max_threads)
        .thread_name(move |i| format!("{prefix}{i}"))
        .build()
        .unwrap()
}

/// Where a closure ran: the thread's name and its worker index.
fn whereami() -> (String, Option<usize>) {
    (current_name(), zap_pool::current_thread_index())
}

fn assert_on(place: &(String, Option<usize>), prefix: &str, what: &str) {
    assert!(
        place.0.starts_with(prefix),
        "{what}: ran on {:?}, not on a `{prefix}*` worker",
        place.0
    );
    assert!(
        place.1.is_some(),
        "{what}: no worker index on {:?}",
        place.0
    );
}

// ---------------------------------------------------------------------------
// install
// ---------------------------------------------------------------------------

#[test]
fn install_returns_the_value_from_a_worker_of_that_pool() {
    guarded("install_returns", || {
        let pool = named_pool(2, "api-inst-");
        assert_eq!(zap_pool::current_thread_index(), None);
        let (value, place) = pool.install(|| (6 * 7, whereami()));
        assert_eq!(value, 42);
        assert_on(&place, "api-inst-", "install");
        assert!(place.1.unwrap() < 2);
    });
}

#[test]
fn install_re_raises_a_panic_and_the_pool_carries_on() {
    guarded("install_panics", || {
        let pool = named_pool(1, "api-panic-");
        let got = panic::catch_unwind(AssertUnwindSafe(|| {
            pool.install(|| -> u32 { panic::panic_any(7u32) })
        }));
        let payload = got.expect_err("the panic of the installed closure");
        assert_eq!(payload.downcast_ref::<u32>(), Some(&7));
        assert_eq!(pool.install(|| 1 + 1), 2);
    });
}

#[test]
fn install_nested_on_the_same_pool_runs_inline() {
    guarded("install_nested", || {
        let pool = named_pool(2, "api-nest-");
        let (outer, inner) = pool.install(|| {
            let outer = thread::current().id();
            (outer, pool.install(|| thread::current().id()))
        });
        assert_eq!(outer, inner);
        assert_ne!(outer, thread::current().id());
    });
}

#[test]
fn install_from_a_worker_of_another_pool_which_installs_back() {
    // One thread each: A's only worker waits for B's job, which installs
    // back on A. Only a waiting worker that keeps running its own pool's
    // tasks can run it; otherwise this hangs (and `guarded` fails).
    guarded("install_across", || {
        let a = named_pool(1, "api-a-");
        let b = named_pool(1, "api-b-");
        for round in 0..50 {
            let (on_a, (on_b, back_on_a)) = a.install(|| {
                let on_a = whereami();
                let inner = b.install(|| {
                    let on_b = whereami();
                    let (back, _) = a.join(whereami, || ());
                    (on_b, back)
                });
                (on_a, inner)
            });
            assert_on(&on_a, "api-a-", "install on A");
            assert_on(&on_b, "api-b-", "install on B from A");
            assert_on(&back_on_a, "api-a-", "join on A from B");
            assert_eq!(on_a.0, back_on_a.0, "round {round}: A has one thread");
        }
    });
}

#[test]
fn install_on_a_shut_down_pool_runs_on_the_caller() {
    let pool = named_pool(1, "api-down-");
    pool.shutdown();
    let here = thread::current().id();
    assert_eq!(pool.install(|| thread::current().id()), here);
}

// ---------------------------------------------------------------------------
// The free functions: the current pool, or the global one
// ---------------------------------------------------------------------------

#[test]
fn free_functions_from_main_use_the_global_pool() {
    global();
    guarded("free_global", || {
        assert_eq!(zap_pool::current_thread_index(), None);
        let (a, b) = zap_pool::join(whereami, || 5);
        assert_on(&a, GLOBAL_PREFIX, "join's a");
        assert_eq!(b, 5);

        let mut seen = vec![(String::new(), None); 4];
        zap_pool::scope(|s| {
            for slot in seen.iter_mut() {
                s.spawn(move |_| *slot = whereami());
            }
        });
        for place in &seen {
            assert_on(place, GLOBAL_PREFIX, "a task of a free scope");
        }

        let (tx, rx) = mpsc::channel();
        zap_pool::spawn(move || tx.send(whereami()).unwrap()).unwrap();
        assert_on(&rx.recv().unwrap(), GLOBAL_PREFIX, "a free spawn");
    });
}

#[test]
fn free_functions_inside_install_use_the_installed_pool() {
    global();
    guarded("free_installed", || {
        let pool = named_pool(2, "api-mine-");
        let (joined, scoped, spawned) = pool.install(|| {
            let joined = zap_pool::join(whereami, whereami);
            let mut scoped = (String::new(), None);
            zap_pool::scope(|s| s.spawn(|_| scoped = whereami()));
            let (tx, rx) = mpsc::channel();
            zap_pool::spawn(move || tx.send(whereami()).unwrap()).unwrap();
            (joined, scoped, rx)
        });
        assert_on(&joined.0, "api-mine-", "join's a in install");
        assert_on(&joined.1, "api-mine-", "join's b in install");
        assert_on(&scoped, "api-mine-", "a scope task in install");
        assert_on(&spawned.recv().unwrap(), "api-mine-", "a spawn in install");
    });
}

#[test]
fn free_join_inside_a_task_of_a_pool_uses_that_pool() {
    global();
    guarded("free_in_task", || {
        let pool = named_pool(2, "api-task-");
        let (tx, rx) = mpsc::channel();
        pool.spawn(move || tx.send(zap_pool::join(whereami, whereami)).unwrap())
            .unwrap();
        let (a, b) = rx.recv().unwrap();
        assert_on(&a, "api-task-", "join's a in a task");
        assert_on(&b, "api-task-", "join's b in a task");
    });
}

#[test]
fn build_global_fails_once_the_global_pool_exists() {
    global();
    let err = Builder::new().max_threads(1).build_global().unwrap_err();
    assert!(
        err.to_string().contains("already initialized"),
        "unexpected message: {err}"
    );
    // The global pool kept its first configuration.
    assert_eq!(zap_pool::current_num_threads(), GLOBAL_THREADS);
    // An invalid configuration still reports what is wrong with it.
    let err = Builder::new().max_threads(0).build_global().unwrap_err();
    assert!(err.to_string().contains("max_threads"), "{err}");
}

#[test]
fn current_num_threads_is_the_current_pools() {
    global();
    assert_eq!(zap_pool::current_num_threads(), GLOBAL_THREADS);
    let pool = named_pool(2, "api-num-");
    assert_eq!(pool.current_num_threads(), 2);
    assert_eq!(pool.install(zap_pool::current_num_threads), 2);
    let (tx, rx) = mpsc::channel();
    pool.spawn(move || tx.send(zap_pool::current_num_threads()).unwrap())
        .unwrap();
    assert_eq!(rx.recv().unwrap(), 2);
}

#[test]
fn current_thread_index_is_the_innermost_pools() {
    guarded("index_nested", || {
        let a = named_pool(1, "api-ia-");
        let b = named_pool(3, "api-ib-");
        b.warm(3).unwrap();
        let (outer, inner, after) = a.install(|| {
            let outer = whereami();
            let inner = b.install(whereami);
            (outer, inner, whereami())
        });
        assert_eq!(outer, ("api-ia-0".to_string(), Some(0)));
        // B's index is the one in the name of the thread it runs on.
        let index = inner.1.expect("on a worker of B");
        assert_eq!(inner.0, format!("api-ib-{index}"));
        assert_eq!(after, outer);
    });
}

// ---------------------------------------------------------------------------
// Thread names
// ---------------------------------------------------------------------------

#[test]
fn default_thread_names_differ_between_pools() {
    let p = ThreadPool::with_max_threads(1);
    let q = ThreadPool::with_max_threads(1);
    let (np, nq) = (p.install(current_name), q.install(current_name));
    assert_ne!(np, nq);
    for name in [&np, &nq] {
        // zap-pool-P-N, N = 0 (the first thread of a one-thread pool).
        let rest = name.strip_prefix("zap-pool-").expect("the default prefix");
        let (id, index) = rest.split_once('-').expect("zap-pool-P-N");
        assert!(id.parse::<usize>().is_ok(), "pool number in {name}");
        assert_eq!(index, "0", "thread index in {name}");
    }
}

// ---------------------------------------------------------------------------
// warm
// ---------------------------------------------------------------------------

fn counting_pool(max_threads: usize) -> (ThreadPool, Arc<AtomicUsize>) {
    let started = Arc::new(AtomicUsize::new(0));
    let s = started.clone();
    let pool = ThreadPool::builder()
        .max_threads(max_threads)
        .on_thread_start(move |_| {
            s.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    (pool, started)
}

#[test]
fn warm_starts_threads_up_to_max_threads() {
    guarded("warm", || {
        let (pool, started) = counting_pool(3);
        assert_eq!(pool.warm(2).unwrap(), 2);
        wait_until("two warmed threads", || started.load(Ordering::SeqCst) == 2);
        assert_eq!(pool.warm(5).unwrap(), 1, "capped at max_threads");
        assert_eq!(pool.warm(5).unwrap(), 0);
        wait_until("three warmed threads", || {
            started.load(Ordering::SeqCst) == 3
        });
        // The warmed threads serve the pool's work, and no more start.
        let names: Vec<String> = (0..64)
            .map(|_| pool.install(current_name))
            .collect::<std::collections::HashSet<_>>()
            .into_iter()
            .collect();
        assert!(names.len() <= 3);
        drop(pool);
        assert_eq!(started.load(Ordering::SeqCst), 3);
    });
}

#[test]
fn warm_on_a_shut_down_pool_starts_nothing() {
    let (pool, started) = counting_pool(2);
    pool.shutdown();
    assert_eq!(pool.warm(2).unwrap(), 0);
    pool.join_workers();
    assert_eq!(started.load(Ordering::SeqCst), 0);
}

#[test]
fn warm_returns_the_first_spawn_error_and_the_pool_still_works() {
    guarded("warm_error", || {
        let attempts = Arc::new(AtomicUsize::new(0));
        let a = attempts.clone();
        let pool = ThreadPool::builder()
            .max_threads(2)
            .spawn_handler(move |worker| {
                // The second attempt fails; every other one starts a thread.
                if a.fetch_add(1, Ordering::SeqCst) == 1 {
                    return Err(io::Error::other("no thread this time"));
                }
                thread::Builder::new().spawn(move || worker.run())?;
                Ok(())
            })
            .build()
            .unwrap();
        let err = pool.warm(2).unwrap_err();
        assert_eq!(err.to_string(), "no thread this time");
        // One thread started; the failed one's count was given back, so a
        // second thread can still start.
        assert_eq!(pool.warm(2).unwrap(), 1);
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
        assert_eq!(pool.join(|| 1, || 2), (1, 2));
    });
}

/// `metrics` reads the pool's word: threads counted, idle ones, failed
/// spawns and the shutdown flag, each as it is when read.
#[test]
fn metrics_count_threads_idle_and_failed_spawns() {
    let pool = ThreadPool::builder().max_threads(2).build().unwrap();
    let m = pool.metrics();
    assert_eq!((m.threads, m.idle, m.max_threads), (0, 0, 2));
    assert_eq!(pool.warm(2).unwrap(), 2);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while pool.metrics().idle < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "warmed threads never went idle"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let m = pool.metrics();
    assert_eq!((m.threads, m.idle, m.failed_spawns), (2, 2, 0));
    assert!(!m.is_shut_down);
    pool.shutdown();
    assert!(pool.metrics().is_shut_down);
    pool.join_workers();

    let failing = ThreadPool::builder()
        .max_threads(1)
        .spawn_handler(|_worker| Err(std::io::Error::other("no threads here")))
        .spawn_error_handler(|_| ())
        .build()
        .unwrap();
    // No thread can start: the caller runs the join itself.
    assert_eq!(failing.join(|| 1, || 2), (1, 2));
    let m = failing.metrics();
    assert!(m.failed_spawns >= 1, "{m:?}");
    assert_eq!(m.threads, 0, "{m:?}");
}

/// Spawns a binary tree of tasks of the given depth from inside the pool,
/// counting each node.
fn spawn_tree(pool: &Arc<ThreadPool>, depth: u32, count: &Arc<AtomicUsize>) {
    let (p, c) = (pool.clone(), count.clone());
    pool.spawn(move || {
        c.fetch_add(1, Ordering::Relaxed);
        if depth > 0 {
            spawn_tree(&p, depth - 1, &c);
            spawn_tree(&p, depth - 1, &c);
        }
    })
    .unwrap();
}

#[test]
fn wait_idle_waits_for_every_task_and_its_descendants() {
    for threads in [1, 2, 4] {
        let pool = Arc::new(ThreadPool::with_max_threads(threads));
        for round in 1..=3 {
            let count = Arc::new(AtomicUsize::new(0));
            for _ in 0..4 {
                spawn_tree(&pool, 6, &count);
            }
            pool.wait_idle();
            assert_eq!(
                count.load(Ordering::Relaxed),
                4 * 127,
                "{threads} threads, round {round}"
            );
        }
    }
}

#[test]
fn wait_idle_on_an_unused_pool_returns_at_once() {
    let pool = ThreadPool::with_max_threads(2);
    pool.wait_idle();
    assert_eq!(pool.metrics().threads, 0, "waiting started no thread");
}

#[test]
fn wait_idle_keeps_the_pool_open() {
    let pool = ThreadPool::with_max_threads(2);
    let (tx, rx) = mpsc::channel();
    for i in 0..10 {
        let tx = tx.clone();
        pool.spawn(move || tx.send(i).unwrap()).unwrap();
        pool.wait_idle();
        assert_eq!(rx.try_recv(), Ok(i), "task {i} had run");
    }
    assert!(!pool.metrics().is_shut_down);
}

#[test]
fn wait_idle_from_a_task_of_the_pool_panics() {
    let pool = Arc::new(ThreadPool::with_max_threads(2));
    let p = pool.clone();
    let message = pool.install(move || {
        let payload = panic::catch_unwind(AssertUnwindSafe(|| p.wait_idle())).unwrap_err();
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
    });
    assert!(
        message
            .unwrap()
            .contains("wait_idle called from one of its own tasks")
    );
}

/// A two-thread pool none of whose threads can start.
fn pool_without_threads() -> ThreadPool {
    Builder::new()
        .max_threads(2)
        .spawn_handler(|_| Err(io::Error::other("no threads here")))
        .spawn_error_handler(|_| ())
        .build()
        .unwrap()
}

#[test]
fn wait_idle_runs_the_tasks_itself_when_no_thread_can_start() {
    let pool = pool_without_threads();
    let (tx, rx) = mpsc::channel();
    for _ in 0..5 {
        let tx = tx.clone();
        pool.spawn(move || tx.send(thread::current().id()).unwrap())
            .unwrap();
    }
    pool.wait_idle();
    let ran: Vec<_> = rx.try_iter().collect();
    assert_eq!(ran, vec![thread::current().id(); 5]);
}

#[test]
fn wait_idle_from_several_threads_at_once() {
    let pool = Arc::new(ThreadPool::with_max_threads(3));
    let count = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..4)
        .map(|_| {
            let (pool, count) = (pool.clone(), count.clone());
            thread::spawn(move || {
                for _ in 0..50 {
                    let mine = Arc::new(AtomicUsize::new(0));
                    for _ in 0..3 {
                        let (m, c) = (mine.clone(), count.clone());
                        pool.spawn(move || {
                            m.fetch_add(1, Ordering::Relaxed);
                            c.fetch_add(1, Ordering::Relaxed);
                        })
                        .unwrap();
                    }
                    pool.wait_idle();
                    assert_eq!(mine.load(Ordering::Relaxed), 3);
                }
            })
        })
        .collect();
    for w in waiters {
        w.join().unwrap();
    }
    assert_eq!(count.load(Ordering::Relaxed), 4 * 50 * 3);
}

#[test]
fn wait_idle_after_shutdown_returns_once_the_pool_drained() {
    let pool = ThreadPool::with_max_threads(2);
    let count = Arc::new(AtomicUsize::new(0));
    for _ in 0..20 {
        let c = count.clone();
        pool.spawn(move || {
            c.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
    }
    pool.shutdown();
    pool.wait_idle();
    assert_eq!(count.load(Ordering::Relaxed), 20);
    pool.join_workers();
    pool.wait_idle();
}

#[test]
fn broadcast_runs_once_on_every_thread_in_index_order() {
    for threads in [1, 2, 4, 8] {
        let pool = ThreadPool::with_max_threads(threads);
        for _ in 0..20 {
            let seen = pool.broadcast(|ctx| {
                assert_eq!(ctx.num_threads(), threads);
                (
                    ctx.index(),
                    zap_pool::current_thread_index(),
                    thread::current().id(),
                )
            });
            assert_eq!(seen.len(), threads);
            let ids: std::collections::HashSet<_> = seen.iter().map(|s| s.2).collect();
            assert_eq!(ids.len(), threads, "one piece per thread");
            for (i, (index, current, _)) in seen.iter().enumerate() {
                assert_eq!((*index, *current), (i, Some(i)));
            }
        }
    }
}

#[test]
fn broadcast_reaches_busy_and_waiting_threads() {
    // One thread is inside a join that waits for the other; the broadcast
    // must still reach both.
    let pool = Arc::new(ThreadPool::with_max_threads(2));
    let p = pool.clone();
    let out = pool.install(move || {
        let ((), v) = zap_pool::join(
            || thread::sleep(std::time::Duration::from_millis(20)),
            || p.broadcast(|ctx| ctx.index()),
        );
        v
    });
    assert_eq!(out, [0, 1]);
}

#[test]
fn broadcast_from_inside_the_pool_and_nested() {
    let pool = ThreadPool::with_max_threads(3);
    let out = pool.install(|| {
        zap_pool::broadcast(|outer| (outer.index(), zap_pool::broadcast(|inner| inner.index())))
    });
    assert_eq!(out.len(), 3);
    for (i, (index, inner)) in out.into_iter().enumerate() {
        assert_eq!(index, i);
        assert_eq!(inner, [0, 1, 2]);
    }
}

#[test]
fn broadcast_re_raises_a_panic_after_every_piece() {
    let pool = ThreadPool::with_max_threads(3);
    let ran = AtomicUsize::new(0);
    let err = panic::catch_unwind(AssertUnwindSafe(|| {
        pool.broadcast(|ctx| {
            ran.fetch_add(1, Ordering::SeqCst);
            if ctx.index() == 1 {
                panic!("piece 1");
            }
        })
    }))
    .unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"piece 1"));
    assert_eq!(ran.load(Ordering::SeqCst), 3);
    assert_eq!(
        pool.broadcast(|ctx| ctx.index()),
        [0, 1, 2],
        "the pool carries on"
    );
}

#[test]
fn broadcast_on_a_shut_down_pool_panics_with_a_message() {
    let pool = ThreadPool::with_max_threads(2);
    pool.shutdown();
    pool.join_workers();
    let err =
        panic::catch_unwind(AssertUnwindSafe(|| pool.broadcast(|ctx| ctx.index()))).unwrap_err();
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap();
    assert!(msg.contains("shut down"), "{msg}");
}

#[test]
fn broadcast_when_a_thread_cannot_start_panics_with_the_error() {
    let pool = pool_without_threads();
    let err =
        panic::catch_unwind(AssertUnwindSafe(|| pool.broadcast(|ctx| ctx.index()))).unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap();
    assert!(msg.contains("no threads here"), "{msg}");
}

#[test]
fn broadcast_from_several_threads_at_once() {
    let pool = Arc::new(ThreadPool::with_max_threads(3));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let pool = pool.clone();
            thread::spawn(move || {
                for _ in 0..50 {
                    assert_eq!(pool.broadcast(|ctx| ctx.index()), [0, 1, 2]);
                }
            })
        })
        .collect();
    for c in callers {
        c.join().unwrap();
    }
}
