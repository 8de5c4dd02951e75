//! Shutdown and join_workers (src/scheduler/lifecycle.rs, `unregister` and
//! `spawn_failed` in src/scheduler/wake.rs, the exit chain in registry.rs).

use crate::{Latch, Outcomes, model, model_with_bound_cap};
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use std::io;
use std::sync::Arc;
use zap_pool::ThreadPool;
use zap_pool::model::word;

/// Guards against hazard 5: `join_workers` returning (and the pool being freed)
/// while the last worker is still about to post the exit token. The ghost
/// check in the pool's exit path panics on any access to freed pool memory.
/// Kills: `join-fast-path`.
#[test]
fn join_returns_only_after_the_last_access() {
    let outcomes = Outcomes::new(&["task ran before shutdown", "task ran in the drain"]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let pool = Arc::new(ThreadPool::builder().max_threads(1).build().unwrap());
        // 0: not run; 1: ran before shutdown was flagged; 2: ran after.
        let ran = Arc::new(AtomicUsize::new(0));
        let shut = Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let (p, r, s) = (pool.clone(), ran.clone(), shut.clone());
        let producer = thread::spawn(move || {
            let s2 = s.clone();
            p.spawn(move || {
                let when = if s2.load(Ordering::Acquire) { 2 } else { 1 };
                assert_eq!(r.swap(when, Ordering::AcqRel), 0, "the task ran twice");
            })
            .ok()
            .unwrap();
            s.store(true, Ordering::Release);
            p.shutdown();
        });
        producer.join().unwrap();
        let pool = Arc::into_inner(pool).expect("the producer is gone");
        drop(pool); // join, then free: the worker must be done with the pool
        // `ran` was written by the task: it ran exactly once, before join
        // returned, either before or after shutdown was flagged.
        match ran.load(Ordering::Acquire) {
            1 => o.hit("task ran before shutdown"),
            2 => o.hit("task ran in the drain"),
            _ => panic!("join returned before the accepted task ran"),
        }
    });
    outcomes.assert_all_reached("join_returns_only_after_the_last_access", iterations);
}

/// Guards against hazard 6: a joiner that misses a registration never
/// releases that worker, which then waits on its release event for ever (a loom
/// deadlock). Two workers register concurrently; shutdown races their work.
/// Kills: `join-registry-stale`.
///
/// Four threads with two full worker loops: 207,923 iterations at a
/// preemption bound of 2, and more than 18 minutes and 8 GB without finishing
/// at 3, so the bound is capped at 2 here even in the long run.
#[test]
fn join_releases_every_registered_worker() {
    let outcomes = Outcomes::new(&["two workers started", "one worker started"]);
    let o = outcomes.clone();
    let iterations = model_with_bound_cap(2, move || {
        let pool = Arc::new(ThreadPool::builder().max_threads(2).build().unwrap());
        let p = pool.clone();
        let producer = thread::spawn(move || {
            for _ in 0..2 {
                p.spawn(|| {}).ok().unwrap();
            }
            p.shutdown();
        });
        producer.join().unwrap();
        let started = Arc::new(AtomicUsize::new(0));
        let pool = Arc::into_inner(pool).expect("the producer is gone");
        let (_, _, spawned, _) = word(&pool);
        // Snapshot before join: how many workers were started so far.
        started.store(spawned as usize, Ordering::Relaxed);
        drop(pool);
        // Every worker left; the model only ends when every thread did.
        o.hit(if started.load(Ordering::Relaxed) == 2 {
            "two workers started"
        } else {
            "one worker started"
        });
    });
    outcomes.assert_all_reached("join_releases_every_registered_worker", iterations);
}

/// Guards against hazard 4: after a failed spawn the word keeps
/// `notified = true` (and `Signaled`) with no thread alive, so every later
/// notify takes the fast path and no thread is ever started: the latch never
/// opens (a loom deadlock).
/// Kills: `spawn-failure-keeps-notified`.
#[test]
fn a_failed_spawn_does_not_wedge_the_pool() {
    let outcomes = Outcomes::new(&["the worker slept", "the worker never slept"]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let attempts = Arc::new(AtomicUsize::new(0));
        let a = attempts.clone();
        let pool = Arc::new(
            ThreadPool::builder()
                .max_threads(1)
                .spawn_handler(move |worker| {
                    if a.fetch_add(1, Ordering::Relaxed) == 0 {
                        return Err(io::Error::other("injected spawn failure"));
                    }
                    thread::spawn(move || worker.run());
                    Ok(())
                })
                .spawn_error_handler(|_| {})
                .build()
                .unwrap(),
        );
        let latch = Arc::new(Latch::new(2));
        let (p, l) = (pool.clone(), latch.clone());
        let producer = thread::spawn(move || {
            for _ in 0..2 {
                let l = l.clone();
                p.spawn(move || l.count_down()).ok().unwrap();
            }
        });
        producer.join().unwrap();
        latch.wait(); // both ran, on a thread started after the failure
        assert_eq!(attempts.load(Ordering::Relaxed), 2);
        let (_, _, spawned, _) = word(&pool);
        assert_eq!(spawned, 1);
        o.hit(if zap_pool::model::blocked_waits() > 0 {
            "the worker slept"
        } else {
            "the worker never slept"
        });
        drop(pool);
    });
    outcomes.assert_all_reached("a_failed_spawn_does_not_wedge_the_pool", iterations);
}

/// Guards against `warm` counting a thread past `max_threads` (two starts
/// for one slot: a second worker the word cannot count) or after the
/// notify of a racing spawn already counted it, and against a warmed
/// thread that does not serve the pool's tasks. A one-thread pool: one
/// thread warms it while another spawns a task.
/// Kills: `warm-ignores-max`.
#[test]
fn warm_racing_a_spawn_starts_one_thread() {
    let outcomes = Outcomes::new(&["warm started the thread", "the spawn started the thread"]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let pool = Arc::new(ThreadPool::builder().max_threads(1).build().unwrap());
        let ran = Arc::new(AtomicUsize::new(0));
        let p = pool.clone();
        let warmer = thread::spawn(move || {
            let started = p.warm(1).expect("the default spawn does not fail here");
            let (_, _, spawned, _) = word(&p);
            assert!(
                spawned <= 1,
                "{spawned} threads counted in a one-thread pool"
            );
            started
        });
        let r = ran.clone();
        pool.spawn(move || {
            r.fetch_add(1, Ordering::AcqRel);
        })
        .ok()
        .unwrap();
        let started = warmer.join().unwrap();
        let pool = Arc::into_inner(pool).expect("the warmer is gone");
        drop(pool);
        assert_eq!(ran.load(Ordering::Acquire), 1, "the task ran once");
        o.hit(match started {
            1 => "warm started the thread",
            0 => "the spawn started the thread",
            n => panic!("warm reports {n} threads started in a one-thread pool"),
        });
    });
    outcomes.assert_all_reached("warm_racing_a_spawn_starts_one_thread", iterations);
}
