//! Shutdown, join and drop on real threads, while the pool is busy: producers
//! racing `shutdown`, workers spawning after it, concurrent joiners, a pool
//! dropped from its own task, short-lived pools, tasks left for the joining
//! thread, and spawns from `on_thread_stop`.
#![cfg(not(any(loom, shuttle)))]

mod common;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use common::*;
use zap_pool::ThreadPool;

// ---------------------------------------------------------------------------
// Shutdown while busy
// ---------------------------------------------------------------------------

const NOT_TRIED: u8 = 0;
const ACCEPTED: u8 = 1;
const REFUSED: u8 = 2;

#[test]
fn shutdown_while_producers_spawn() {
    guarded_rounds("shutdown_busy", 20, || {
        const PRODUCERS: usize = 4;
        const CAP: usize = 50_000;
        // Shut down after this many accepted spawns, well before the caps.
        const THRESHOLD: usize = PRODUCERS * CAP / 8;
        let (pool, life) = counted_pool(4, "busy-");
        let pool = Arc::new(pool);
        let ran = counters(PRODUCERS * CAP);
        let outcome = counters(PRODUCERS * CAP);
        let accepted = Arc::new(AtomicUsize::new(0));
        let shut = Arc::new(AtomicBool::new(false));
        let barrier = Arc::new(Barrier::new(PRODUCERS + 1));
        let off_pool = Arc::new(AtomicUsize::new(0));

        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let (pool, ran, outcome, accepted, shut, barrier, off_pool) = (
                    pool.clone(),
                    ran.clone(),
                    outcome.clone(),
                    accepted.clone(),
                    shut.clone(),
                    barrier.clone(),
                    off_pool.clone(),
                );
                thread::spawn(move || {
                    let mut handed_back = Vec::new();
                    let (mut ok, mut err, mut attempts) = (0usize, 0usize, 0usize);
                    let mut refused_once = false;
                    let mut after_refusal = 0;
                    barrier.wait();
                    for i in 0..CAP {
                        let id = p * CAP + i;
                        let known_shut = shut.load(Ordering::Acquire);
                        let r = ran.clone();
                        let off = off_pool.clone();
                        let task = move || {
                            if !current_name().starts_with("busy-") {
                                off.fetch_add(1, Ordering::Relaxed);
                            }
                            r[id].fetch_add(1, Ordering::Relaxed);
                        };
                        attempts += 1;
                        match pool.spawn(task) {
                            Ok(()) => {
                                assert!(!known_shut, "spawn accepted after shutdown() returned");
                                assert!(!refused_once, "spawn accepted after an earlier refusal");
                                outcome[id].store(ACCEPTED, Ordering::Relaxed);
                                accepted.fetch_add(1, Ordering::Relaxed);
                                ok += 1;
                            }
                            Err(e) => {
                                outcome[id].store(REFUSED, Ordering::Relaxed);
                                handed_back.push((id, e.into_inner()));
                                err += 1;
                                refused_once = true;
                                after_refusal += 1;
                                // Keep spawning a little after the first
                                // refusal; every later one must fail too.
                                if after_refusal == 100 {
                                    break;
                                }
                            }
                        }
                    }
                    if !refused_once {
                        // Out of ids before the shutdown came: wait for it
                        // and check that a spawn is then refused.
                        while !shut.load(Ordering::Acquire) {
                            thread::yield_now();
                        }
                        assert!(pool.spawn(|| ()).is_err(), "spawn accepted after shutdown");
                    }
                    (ok, err, attempts, handed_back)
                })
            })
            .collect();

        let shutter = {
            let (pool, accepted, shut, barrier) = (
                pool.clone(),
                accepted.clone(),
                shut.clone(),
                barrier.clone(),
            );
            thread::spawn(move || {
                barrier.wait();
                while accepted.load(Ordering::Relaxed) < THRESHOLD {
                    thread::yield_now();
                }
                pool.shutdown();
                shut.store(true, Ordering::Release);
            })
        };

        let (mut ok, mut err, mut attempts) = (0, 0, 0);
        let mut handed_back = Vec::new();
        for p in producers {
            let (o, e, a, h) = p.join().unwrap();
            ok += o;
            err += e;
            attempts += a;
            handed_back.extend(h);
        }
        shutter.join().unwrap();
        // A spawn from outside after shutdown is refused, and the closure
        // comes back.
        let probe_ran = Arc::new(AtomicBool::new(false));
        let pr = probe_ran.clone();
        let back = pool
            .spawn(move || pr.store(true, Ordering::Relaxed))
            .expect_err("spawn after shutdown must fail");
        assert_eq!(back.to_string(), "the thread pool is shut down");

        let pool = Arc::into_inner(pool).expect("producers are gone");
        drop(pool); // shutdown (again, idempotent) + join

        assert_eq!(ok + err, attempts);
        assert!(ok >= THRESHOLD, "shutdown came before {THRESHOLD} spawns");
        assert_eq!(handed_back.len(), err);
        let executed: usize = ran
            .iter()
            .map(|c| usize::from(c.load(Ordering::Relaxed)))
            .sum();
        assert_eq!(executed, ok, "executed tasks != accepted spawns");
        for id in 0..PRODUCERS * CAP {
            let runs = ran[id].load(Ordering::Relaxed);
            match outcome[id].load(Ordering::Relaxed) {
                ACCEPTED => assert_eq!(runs, 1, "accepted task {id} ran {runs} times"),
                REFUSED => assert_eq!(runs, 0, "refused task {id} ran"),
                NOT_TRIED => assert_eq!(runs, 0),
                _ => unreachable!(),
            }
        }
        assert!(!probe_ran.load(Ordering::Relaxed));
        // The pool had workers when it was shut down: they drain everything
        // accepted before the close, so nothing is left for the joiner.
        assert_eq!(
            off_pool.load(Ordering::Relaxed),
            0,
            "accepted tasks ran off the pool's threads"
        );
        // The handed-back closures are the originals: running them now
        // marks exactly the refused ids.
        for (id, f) in handed_back {
            assert_eq!(ran[id].load(Ordering::Relaxed), 0);
            f();
            assert_eq!(ran[id].load(Ordering::Relaxed), 1);
        }
        back.into_inner()();
        assert!(probe_ran.load(Ordering::Relaxed));
        assert_lifecycle(&life, 4);
    });
}

#[test]
fn shutdown_while_producers_schedule_raw_batches() {
    guarded_rounds("shutdown_busy_raw", 20, || {
        const PRODUCERS: usize = 3;
        const BATCHES: usize = 20_000;
        const MAX_BATCH: usize = 8;
        let pool = Arc::new(ThreadPool::with_max_threads(3));
        let per = BATCHES * MAX_BATCH;
        let counts: Vec<AtomicU8> = (0..PRODUCERS * per).map(|_| AtomicU8::new(0)).collect();
        let done = AtomicUsize::new(0);
        let mut all_jobs = jobs(PRODUCERS * per, &counts, &done);
        let accepted_batches = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(PRODUCERS + 1));
        let mut outcomes = Vec::new();
        thread::scope(|s| {
            let mut handles = Vec::new();
            for (p, chunk) in all_jobs.chunks_mut(per).enumerate() {
                let (pool, accepted_batches, barrier) =
                    (pool.clone(), accepted_batches.clone(), barrier.clone());
                handles.push(s.spawn(move || {
                    // (first id, len, accepted)
                    let mut log = Vec::new();
                    barrier.wait();
                    let mut next = 0;
                    let mut refused = false;
                    for b in 0..BATCHES {
                        let len = 1 + (b * 7 + p) % MAX_BATCH;
                        let first = next;
                        let batch = batch_of(&mut chunk[first..first + len]);
                        next += len;
                        // SAFETY: the jobs outlive the pool's use: the pool is
                        // joined before `all_jobs` is dropped.
                        match unsafe { pool.schedule(batch) } {
                            Ok(()) => {
                                assert!(!refused, "accepted after a refusal");
                                accepted_batches.fetch_add(1, Ordering::Relaxed);
                                log.push((p * per + first, len, true));
                            }
                            Err(e) => {
                                let batch = e.into_batch();
                                assert_eq!(batch.len(), len, "the batch came back changed");
                                refused = true;
                                log.push((p * per + first, len, false));
                            }
                        }
                    }
                    log
                }));
            }
            let shutter = {
                let (pool, accepted_batches, barrier) =
                    (pool.clone(), accepted_batches.clone(), barrier.clone());
                s.spawn(move || {
                    barrier.wait();
                    while accepted_batches.load(Ordering::Relaxed) < PRODUCERS * BATCHES / 4 {
                        thread::yield_now();
                    }
                    pool.shutdown();
                })
            };
            for h in handles {
                outcomes.extend(h.join().unwrap());
            }
            shutter.join().unwrap();
        });
        pool.join_workers();
        let mut accepted_tasks = 0;
        for (first, len, accepted) in outcomes {
            for (id, c) in counts.iter().enumerate().skip(first).take(len) {
                let runs = c.load(Ordering::Relaxed);
                if accepted {
                    assert_eq!(runs, 1, "accepted raw task {id} ran {runs} times");
                } else {
                    assert_eq!(runs, 0, "refused raw task {id} ran");
                }
            }
            if accepted {
                accepted_tasks += len;
            }
        }
        assert_eq!(done.load(Ordering::Relaxed), accepted_tasks);
        drop(Arc::into_inner(pool).unwrap());
        drop(all_jobs);
    });
}

#[test]
fn workers_spawn_children_after_shutdown() {
    guarded_rounds("children_after_shutdown", 20, || {
        const PARENTS: usize = 6;
        const CHILDREN: usize = 2_000;
        let (pool, life) = counted_pool(2, "late-");
        let pool = Arc::new(pool);
        let parents_ran = counters(PARENTS);
        let children = counters(PARENTS * CHILDREN);
        let grandchildren = counters(PARENTS * CHILDREN);
        let started = Arc::new(AtomicUsize::new(0));
        let go = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicUsize::new(0));
        let off_pool = Arc::new(AtomicUsize::new(0));
        for p in 0..PARENTS {
            let (pool2, parents_ran, children, grandchildren, started, go, refused, off_pool) = (
                pool.clone(),
                parents_ran.clone(),
                children.clone(),
                grandchildren.clone(),
                started.clone(),
                go.clone(),
                refused.clone(),
                off_pool.clone(),
            );
            pool.spawn(move || {
                if !current_name().starts_with("late-") {
                    off_pool.fetch_add(1, Ordering::Relaxed);
                }
                parents_ran[p].fetch_add(1, Ordering::Relaxed);
                started.fetch_add(1, Ordering::Release);
                // Wait until the pool has been shut down.
                while !go.load(Ordering::Acquire) {
                    thread::yield_now();
                }
                spawn_children_and_grandchildren(
                    &pool2,
                    p,
                    CHILDREN,
                    &children,
                    &grandchildren,
                    &refused,
                    move || {
                        if !current_name().starts_with("late-") {
                            off_pool.fetch_add(1, Ordering::Relaxed);
                        }
                    },
                );
            })
            .unwrap();
        }
        // At least one parent is running on a worker; the others are queued.
        wait_until("a parent to start", || started.load(Ordering::Acquire) >= 1);
        pool.shutdown();
        assert!(
            pool.spawn(|| ()).is_err(),
            "outside spawns after shutdown must fail"
        );
        go.store(true, Ordering::Release);
        pool.join_workers();
        assert_eq!(
            refused.load(Ordering::Relaxed),
            0,
            "a worker's spawn after shutdown was refused"
        );
        assert_each_once(&parents_ran, "parents");
        assert_each_once(&children, "children spawned after shutdown");
        assert_each_once(&grandchildren, "grandchildren spawned after shutdown");
        assert_eq!(
            off_pool.load(Ordering::Relaxed),
            0,
            "tasks ran off the pool"
        );
        assert_eq!(Arc::strong_count(&pool), 1, "a task closure was leaked");
        drop(Arc::into_inner(pool).unwrap());
        assert_lifecycle(&life, 2);
    });
}

#[test]
fn concurrent_joiners_all_return() {
    guarded_rounds("concurrent_joiners", 20, || {
        const N: usize = 20_000;
        let pool = Arc::new(ThreadPool::with_max_threads(2));
        let counts = counters(N);
        for id in 0..N {
            let c = counts.clone();
            pool.spawn(move || {
                c[id].fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
        }
        let joiners: Vec<_> = (0..3)
            .map(|_| {
                let (pool, counts) = (pool.clone(), counts.clone());
                thread::spawn(move || {
                    pool.join_workers(); // waits for the shutdown below
                    // When any join returns, every accepted task has run.
                    assert_each_once(&counts, "tasks seen by a joiner");
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(20));
        pool.shutdown();
        for j in joiners {
            j.join().unwrap();
        }
        pool.join_workers(); // already joined: returns at once
        drop(Arc::into_inner(pool).unwrap());
        assert_each_once(&counts, "concurrent joiners");
    });
}

#[test]
fn pool_dropped_from_its_own_task_still_runs_accepted_tasks() {
    guarded_rounds("drop_from_own_task", 10, || {
        const N: usize = 10_000;
        let pool = Arc::new(ThreadPool::with_max_threads(2));
        let counts = counters(N);
        let done = Arc::new(AtomicUsize::new(0));
        for id in 0..N {
            let (c, d) = (counts.clone(), done.clone());
            pool.spawn(move || {
                c[id].fetch_add(1, Ordering::Relaxed);
                d.fetch_add(1, Ordering::Release);
            })
            .unwrap();
        }
        // The last handle goes into a task: the pool is dropped on a worker,
        // which can only shut it down (and leak its state), not join it.
        let dropped = Arc::new(AtomicBool::new(false));
        let d2 = dropped.clone();
        let last = pool.clone();
        pool.spawn(move || {
            // Wait until this is the last handle.
            while Arc::strong_count(&last) > 1 {
                thread::yield_now();
            }
            drop(last);
            d2.store(true, Ordering::Release);
        })
        .unwrap();
        drop(pool);
        wait_until("the dropping task", || dropped.load(Ordering::Acquire));
        wait_until("every task accepted before the drop", || {
            done.load(Ordering::Acquire) == N
        });
        assert_each_once(&counts, "tasks of a pool dropped from its own task");
    });
}

#[test]
fn many_short_lived_pools() {
    // Build, use and drop pools in a tight loop: stresses the exit protocol
    // (the joiner frees the pool while its workers are still leaving).
    guarded("short_lived_pools", || {
        const POOLS: usize = 2_000;
        const TASKS: usize = 8;
        let counts = counters(POOLS * TASKS);
        for k in 0..POOLS {
            let pool = ThreadPool::builder()
                .max_threads(1 + k % 3)
                .build()
                .unwrap();
            for t in 0..TASKS {
                let id = k * TASKS + t;
                let c = counts.clone();
                pool.spawn(move || {
                    c[id].fetch_add(1, Ordering::Relaxed);
                })
                .unwrap();
            }
            if k % 2 == 0 {
                // Sometimes shut down from another thread first.
                thread::scope(|s| {
                    s.spawn(|| pool.shutdown());
                });
            }
            drop(pool);
            for t in 0..TASKS {
                assert_eq!(
                    counts[k * TASKS + t].load(Ordering::Relaxed),
                    1,
                    "pool {k}: task {t} did not run exactly once before drop returned"
                );
            }
        }
        assert_each_once(&counts, "short-lived pools");
    });
}

// ---------------------------------------------------------------------------
// Tasks run by the joining thread
// ---------------------------------------------------------------------------

/// Leftover tasks (accepted while no worker thread existed) run on the
/// thread that joins; they count as tasks of the pool there: their children
/// (and the children's children, and raw batches that overflow a ring) are
/// accepted and run before `join` returns.
#[test]
fn tasks_run_by_the_joiner_can_spawn_children() {
    guarded_rounds("joiner_task_children", 20, || {
        const PARENTS: usize = 50;
        const CHILDREN: usize = 10;
        const RAW: usize = 600; // more than a ring holds
        let pool = Arc::new(
            ThreadPool::builder()
                .max_threads(2)
                .spawn_handler(|_worker| Err(io::Error::other("no thread")))
                .spawn_error_handler(|_| ())
                .build()
                .unwrap(),
        );
        let parents = counters(PARENTS);
        let children = counters(PARENTS * CHILDREN);
        let grandchildren = counters(PARENTS * CHILDREN);
        let raw_counts: Vec<AtomicU8> = (0..RAW).map(|_| AtomicU8::new(0)).collect();
        let raw_done = AtomicUsize::new(0);
        let mut raw_jobs = jobs(RAW, &raw_counts, &raw_done);
        let refused = Arc::new(AtomicUsize::new(0));
        let joiner = thread::current().id();
        let elsewhere = Arc::new(AtomicUsize::new(0));
        for p in 0..PARENTS {
            let (pool2, parents, children, grandchildren, refused, elsewhere) = (
                pool.clone(),
                parents.clone(),
                children.clone(),
                grandchildren.clone(),
                refused.clone(),
                elsewhere.clone(),
            );
            pool.spawn(move || {
                parents[p].fetch_add(1, Ordering::Relaxed);
                spawn_children_and_grandchildren(
                    &pool2,
                    p,
                    CHILDREN,
                    &children,
                    &grandchildren,
                    &refused,
                    move || {
                        if thread::current().id() != joiner {
                            elsewhere.fetch_add(1, Ordering::Relaxed);
                        }
                    },
                );
            })
            .unwrap();
        }
        // One task schedules a raw batch larger than a ring.
        let batch = batch_of(&mut raw_jobs);
        let (p, r) = (pool.clone(), refused.clone());
        pool.spawn(move || {
            // SAFETY: the jobs outlive the pool's use: joined below.
            if unsafe { p.schedule(batch) }.is_err() {
                r.fetch_add(1, Ordering::Relaxed);
            }
        })
        .unwrap();
        assert_eq!(
            parents
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .sum::<u8>(),
            0
        );
        pool.shutdown();
        pool.join_workers();
        assert_eq!(
            refused.load(Ordering::Relaxed),
            0,
            "a child of a joiner-run task was refused"
        );
        assert_each_once(&parents, "leftover parents");
        assert_each_once(&children, "children of leftover tasks");
        assert_each_once(&grandchildren, "grandchildren of leftover tasks");
        assert_each_once(&raw_counts, "raw batch from a leftover task");
        assert_eq!(
            elsewhere.load(Ordering::Relaxed),
            0,
            "ran off the joining thread"
        );
        assert_eq!(Arc::strong_count(&pool), 1, "a task closure was leaked");
        drop(Arc::into_inner(pool).unwrap());
        drop(raw_jobs);
    });
}

/// The same path without any failing spawn: an outside `spawn` races with
/// `shutdown` on a pool that has no thread yet. If the push lands before the
/// queue closes but `shutdown` still sees `spawned == 0`, no thread is ever
/// started and `join` runs the task itself. Whichever way each round goes,
/// an accepted task runs once and its child is accepted and runs before
/// `join` returns. The shutdown delay adapts towards the boundary between
/// "refused" and "accepted", where that window is; on a 2-core machine the
/// joiner path is still hit only about once in 10 000 rounds, so this test
/// mostly guards the common paths of the race.
#[test]
fn outside_spawn_racing_the_shutdown_of_a_threadless_pool() {
    guarded("threadless_shutdown_race", || {
        const ROUNDS: usize = 2_000;
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut center: i64 = 0;
        let (mut accepted, mut on_joiner) = (0, 0);
        fn spin(n: i64) {
            for _ in 0..n.max(0) {
                std::hint::spin_loop();
            }
        }
        for round in 0..ROUNDS {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let offset = center + (rng % 64) as i64 - 32;
            let pool = Arc::new(
                ThreadPool::builder()
                    .max_threads(1)
                    .thread_name(|i| format!("race-{i}"))
                    .build()
                    .unwrap(),
            );
            let barrier = Arc::new(Barrier::new(2));
            let go = Arc::new(AtomicBool::new(false));
            let task_runs = Arc::new(AtomicUsize::new(0));
            let child_runs = Arc::new(AtomicUsize::new(0));
            let child_refused = Arc::new(AtomicBool::new(false));
            let ran_on = Arc::new(Mutex::new(String::new()));
            let producer = {
                let (pool, barrier, go, task_runs, child_runs, child_refused, ran_on) = (
                    pool.clone(),
                    barrier.clone(),
                    go.clone(),
                    task_runs.clone(),
                    child_runs.clone(),
                    child_refused.clone(),
                    ran_on.clone(),
                );
                thread::spawn(move || {
                    barrier.wait();
                    while !go.load(Ordering::Acquire) {
                        std::hint::spin_loop();
                    }
                    spin(-offset);
                    let p = pool.clone();
                    pool.spawn(move || {
                        task_runs.fetch_add(1, Ordering::Relaxed);
                        *ran_on.lock().unwrap() = current_name();
                        let c = child_runs.clone();
                        if p.spawn(move || {
                            c.fetch_add(1, Ordering::Relaxed);
                        })
                        .is_err()
                        {
                            child_refused.store(true, Ordering::Relaxed);
                        }
                    })
                    .is_ok()
                })
            };
            barrier.wait();
            go.store(true, Ordering::Release);
            spin(offset);
            pool.shutdown();
            let was_accepted = producer.join().unwrap();
            pool.join_workers();
            let runs = task_runs.load(Ordering::Relaxed);
            if !was_accepted {
                assert_eq!(runs, 0, "round {round}: a refused task ran");
                center += 2;
                continue;
            }
            accepted += 1;
            let name = ran_on.lock().unwrap().clone();
            if name.starts_with("race-") {
                center -= 2;
            } else {
                on_joiner += 1;
            }
            assert_eq!(runs, 1, "round {round}: the accepted task ran {runs} times");
            assert!(
                !child_refused.load(Ordering::Relaxed),
                "round {round}: the child of a task that ran on {name:?} was refused"
            );
            assert_eq!(
                child_runs.load(Ordering::Relaxed),
                1,
                "round {round}: child"
            );
        }
        println!(
            "threadless shutdown race: {accepted}/{ROUNDS} accepted, {on_joiner} ran on the joiner"
        );
    });
}

/// `on_thread_stop` runs after the worker's last drain, as a plain thread: a
/// `spawn` from it is refused (the pool is shut down) and hands the closure
/// back; nothing is accepted and then lost.
#[test]
fn spawn_from_on_thread_stop_is_refused() {
    guarded_rounds("spawn_from_stop_hook", 10, || {
        type Cell = std::sync::OnceLock<std::sync::Weak<ThreadPool>>;
        let cell: Arc<Cell> = Arc::new(Cell::new());
        let hook_runs = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicUsize::new(0));
        let handed_back_ran = Arc::new(AtomicUsize::new(0));
        let (c, h, rf, r, hb) = (
            cell.clone(),
            hook_runs.clone(),
            refused.clone(),
            ran.clone(),
            handed_back_ran.clone(),
        );
        let pool = Arc::new(
            ThreadPool::builder()
                .max_threads(2)
                .on_thread_stop(move |_| {
                    h.fetch_add(1, Ordering::Relaxed);
                    let Some(pool) = c.get().and_then(std::sync::Weak::upgrade) else {
                        return;
                    };
                    let (r, hb) = (r.clone(), hb.clone());
                    let task = move || {
                        // Runs only if handed back and called below.
                        hb.fetch_add(1, Ordering::Relaxed);
                        drop(r);
                    };
                    if let Err(e) = pool.spawn(task) {
                        rf.fetch_add(1, Ordering::Relaxed);
                        e.into_inner()();
                    }
                })
                .build()
                .unwrap(),
        );
        cell.set(Arc::downgrade(&pool)).unwrap();
        let counts = counters(100);
        for id in 0..100 {
            let c = counts.clone();
            pool.spawn(move || {
                c[id].fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
        }
        pool.shutdown();
        pool.join_workers();
        let hooks = hook_runs.load(Ordering::Relaxed);
        assert!((1..=2).contains(&hooks));
        assert_eq!(
            refused.load(Ordering::Relaxed),
            hooks,
            "a spawn from on_thread_stop was accepted"
        );
        assert_eq!(handed_back_ran.load(Ordering::Relaxed), hooks);
        assert_eq!(ran.load(Ordering::Relaxed), 0);
        assert_each_once(&counts, "tasks before the stop hooks");
        drop(Arc::into_inner(pool).unwrap());
    });
}
