//! Waiting never hangs, on real threads: the behaviours that once hung or
//! did something else than the docs say (failing spawns with a thread
//! outside the pool waiting, pools nested in each other, a waiting worker
//! that must be woken for work that appears later, dropping a pool from its
//! own task, hooks calling pool methods, a refused join on another pool's
//! worker), and the stack-size floor. The exhaustive versions are in
//! `shuttle_tests/liveness.rs`; these run the real futex and real threads.
#![cfg(not(any(loom, shuttle)))]

mod common;

use common::{guarded, wait_until};
use std::any::Any;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use zap_pool::{ThreadPool, WorkerThread};

/// A spawn handler that fails the spawns for which `fail(n)` holds (`n`
/// counts attempts from 0) and starts the others on a std thread.
fn failing_pool(max_threads: usize, fail: fn(usize) -> bool) -> (ThreadPool, Arc<AtomicUsize>) {
    let attempts = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let (a, e) = (attempts.clone(), errors.clone());
    let pool = ThreadPool::builder()
        .max_threads(max_threads)
        .spawn_handler(move |worker: WorkerThread| {
            if fail(a.fetch_add(1, Ordering::SeqCst)) {
                return Err(io::Error::other("no thread this time"));
            }
            thread::spawn(move || worker.run());
            Ok(())
        })
        .spawn_error_handler(move |_| {
            e.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    (pool, errors)
}

fn fork_join_from_outside(pool: &ThreadPool) {
    assert_eq!(pool.join(|| 1, || 2), (1, 2));
    let mut cells = [0u32; 8];
    pool.scope(|s| {
        for (i, c) in cells.iter_mut().enumerate() {
            s.spawn(move |_| *c = i as u32 + 1);
        }
    });
    assert_eq!(cells, [1, 2, 3, 4, 5, 6, 7, 8]);
    let h = pool.spawn_with_handle(|| 6 * 7).unwrap();
    assert_eq!(h.join().unwrap(), 42);
}

/// Behaviour 1: after a failed spawn (once, every other time, always), a
/// thread outside the pool that waits for pool work still gets it done.
#[test]
fn outside_waiters_complete_whatever_spawns_do() {
    type Policy = (&'static str, fn(usize) -> bool);
    let policies: [Policy; 3] = [
        ("fails once", |n| n == 0),
        ("fails every other time", |n| n % 2 == 0),
        ("always fails", |_| true),
    ];
    for (name, fail) in policies {
        guarded(name, move || {
            let (pool, errors) = failing_pool(2, fail);
            fork_join_from_outside(&pool);
            assert!(
                errors.load(Ordering::SeqCst) >= 1,
                "{name}: a failure was reported"
            );
        });
    }
}

/// Behaviour 2: pool A and pool B of one thread each; a task of A joins on
/// B, whose work joins on A.
#[test]
fn pools_nest_in_each_other() {
    guarded("nested pools", || {
        let a = Arc::new(ThreadPool::with_max_threads(1));
        let b = Arc::new(ThreadPool::with_max_threads(1));
        for _ in 0..100 {
            let (a2, b2) = (a.clone(), b.clone());
            let h = a
                .spawn_with_handle(move || b2.join(|| a2.join(|| 1, || 2), || 3))
                .unwrap();
            assert_eq!(h.join().unwrap(), ((1, 2), 3));
            let (a2, b2) = (a.clone(), b.clone());
            let r = a.join(
                move || b2.scope(|s| s.spawn(|_| assert_eq!(a2.join(|| 4, || 5), (4, 5)))),
                || (),
            );
            assert_eq!(r, ((), ()));
        }
    });
}

/// Behaviour 3: a worker waiting at a scope's end must be woken to run a
/// task that another task spawns (into its own ring) and then waits for
/// outside the pool.
#[test]
fn a_waiting_worker_runs_work_that_appears_later() {
    guarded("late work", || {
        let pool = Arc::new(ThreadPool::with_max_threads(2));
        for _ in 0..200 {
            let p = pool.clone();
            let h = pool
                .spawn_with_handle(move || {
                    p.scope(|s| {
                        s.spawn(|s| {
                            let (tx, rx) = mpsc::channel();
                            // T2 goes into this worker's ring; this task then
                            // blocks outside the pool until T2 ran.
                            s.spawn(move |_| tx.send(()).unwrap());
                            rx.recv().unwrap();
                        });
                    })
                })
                .unwrap();
            h.join().unwrap();
        }
    });
}

/// Behaviour 4: a pool dropped from one of its own tasks still runs every
/// accepted task, and every one of its threads exits (the spawn handler
/// counts the threads whose `WorkerThread::run` returned).
#[test]
fn dropping_a_pool_from_its_own_task_leaves_no_thread() {
    guarded("drop from task", || {
        for _ in 0..20 {
            let started = Arc::new(AtomicUsize::new(0));
            let exited = Arc::new(AtomicUsize::new(0));
            let ran = Arc::new(AtomicUsize::new(0));
            let (s, e) = (started.clone(), exited.clone());
            let pool = ThreadPool::builder()
                .max_threads(2)
                .spawn_handler(move |worker: WorkerThread| {
                    s.fetch_add(1, Ordering::SeqCst);
                    let e = e.clone();
                    thread::spawn(move || {
                        worker.run();
                        e.fetch_add(1, Ordering::SeqCst);
                    });
                    Ok(())
                })
                .build()
                .unwrap();
            for _ in 0..10 {
                let r = ran.clone();
                pool.spawn(move || {
                    r.fetch_add(1, Ordering::SeqCst);
                })
                .unwrap();
            }
            let (give, take) = mpsc::channel::<ThreadPool>();
            let r = ran.clone();
            pool.spawn(move || {
                drop(take.recv().unwrap());
                r.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
            give.send(pool).unwrap();
            wait_until("every worker thread exited", || {
                let started = started.load(Ordering::SeqCst);
                started > 0 && exited.load(Ordering::SeqCst) == started
            });
            assert_eq!(ran.load(Ordering::SeqCst), 11);
        }
    });
}

fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Behaviour 5: `join_workers` from `on_thread_stop` panics with a message
/// that names the hook, instead of waiting for its own thread.
#[test]
fn join_workers_from_a_hook_panics_naming_it() {
    guarded("hook join", || {
        let messages = Arc::new(Mutex::new(Vec::new()));
        let m = messages.clone();
        let slot: Arc<Mutex<Option<Arc<ThreadPool>>>> = Arc::default();
        let s = slot.clone();
        let pool = Arc::new(
            ThreadPool::builder()
                .max_threads(1)
                .on_thread_stop(move |_| {
                    let pool = s.lock().unwrap().clone();
                    if let Some(pool) = pool {
                        pool.join_workers();
                    }
                })
                .panic_handler(move |payload| m.lock().unwrap().push(message(&*payload)))
                .build()
                .unwrap(),
        );
        *slot.lock().unwrap() = Some(pool.clone());
        pool.spawn(|| ()).unwrap();
        pool.shutdown();
        pool.join_workers();
        let messages = messages.lock().unwrap();
        assert!(
            messages.iter().any(|m| m.contains("on_thread_stop")),
            "{messages:?}"
        );
        slot.lock().unwrap().take();
    });
}

/// Behaviour 5, the other hooks: pool methods from `on_thread_start`, the
/// `thread_name` closure, the spawn handler and the spawn error handler
/// work and do not deadlock.
#[test]
fn hooks_may_use_their_pool() {
    guarded("hooks", || {
        let slot: Arc<Mutex<Option<Arc<ThreadPool>>>> = Arc::default();
        let ran = Arc::new(AtomicUsize::new(0));
        let (s1, s2, s3, s4) = (slot.clone(), slot.clone(), slot.clone(), slot.clone());
        let (r1, r2, r3, r4) = (ran.clone(), ran.clone(), ran.clone(), ran.clone());
        let pool = Arc::new(
            ThreadPool::builder()
                .max_threads(3)
                .on_thread_start(move |_| {
                    if let Some(pool) = s1.lock().unwrap().clone() {
                        assert_eq!(pool.join(|| 1, || 2), (1, 2));
                        let r = r1.clone();
                        pool.spawn(move || {
                            r.fetch_add(1, Ordering::SeqCst);
                        })
                        .unwrap();
                    }
                })
                .thread_name(move |i| {
                    if let Some(pool) = s2.lock().unwrap().clone() {
                        let r = r2.clone();
                        pool.spawn(move || {
                            r.fetch_add(1, Ordering::SeqCst);
                        })
                        .unwrap();
                    }
                    format!("hooked-{i}")
                })
                .spawn_handler(move |worker: WorkerThread| {
                    if let Some(pool) = s3.lock().unwrap().clone() {
                        let r = r3.clone();
                        let _ = pool.spawn(move || {
                            r.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                    if worker.index() == 1 {
                        return Err(io::Error::other("one failure"));
                    }
                    thread::spawn(move || worker.run());
                    Ok(())
                })
                .spawn_error_handler(move |_| {
                    if let Some(pool) = s4.lock().unwrap().clone() {
                        let r = r4.clone();
                        let _ = pool.spawn(move || {
                            r.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                })
                .build()
                .unwrap(),
        );
        *slot.lock().unwrap() = Some(pool.clone());
        let all = Arc::new(AtomicBool::new(false));
        let a = all.clone();
        pool.join(|| (), move || a.store(true, Ordering::SeqCst));
        for _ in 0..20 {
            let r = ran.clone();
            pool.spawn(move || {
                r.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        slot.lock().unwrap().take();
        let Ok(pool) = Arc::try_unwrap(pool) else {
            panic!("the hooks dropped their references");
        };
        drop(pool);
        assert!(all.load(Ordering::SeqCst));
        assert!(ran.load(Ordering::SeqCst) >= 20);
    });
}

/// Behaviour 6: `P.join(a, b)` on a shut-down pool P, from a worker of
/// another pool Q: `a` and then `b` on the calling thread.
#[test]
fn a_refused_join_runs_both_halves_on_the_caller() {
    guarded("refused join", || {
        let p = Arc::new(ThreadPool::with_max_threads(2));
        p.shutdown();
        let q = ThreadPool::with_max_threads(2);
        let p2 = p.clone();
        let h = q
            .spawn_with_handle(move || {
                let me = thread::current().id();
                let order = Mutex::new(Vec::new());
                let (ta, tb) = p2.join(
                    || {
                        order.lock().unwrap().push('a');
                        thread::current().id()
                    },
                    || {
                        order.lock().unwrap().push('b');
                        thread::current().id()
                    },
                );
                (me, ta, tb, order.into_inner().unwrap())
            })
            .unwrap();
        let (me, ta, tb, order) = h.join().unwrap();
        assert_eq!((ta, tb), (me, me));
        assert_eq!(order, ['a', 'b']);
    });
}

/// A stack below `MIN_STACK_SIZE` is a build error, not a stack overflow
/// later.
#[test]
fn a_stack_below_the_minimum_is_refused() {
    for bytes in [0, 1, 4096, zap_pool::MIN_STACK_SIZE - 1] {
        let err = ThreadPool::builder().stack_size(bytes).build().unwrap_err();
        assert!(err.to_string().contains("stack_size"), "{err}");
    }
    let pool = ThreadPool::builder()
        .stack_size(zap_pool::MIN_STACK_SIZE)
        .build()
        .unwrap();
    assert_eq!(pool.join(|| 1, || 2), (1, 2));
}
