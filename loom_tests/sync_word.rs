//! The `Sync` word protocol (src/scheduler/wake.rs, sync_word.rs):
//! a task pushed while a worker is going to sleep is always found.

use crate::{Latch, Outcomes, model};
use loom::thread;
use std::sync::Arc;
use zap_pool::ThreadPool;
use zap_pool::model::{blocked_waits, word};

/// Guards against hazard 1, the lost wake-up on weak memory: a producer's
/// fast path reads a stale `notified = true` while the only worker clears it,
/// searches without seeing the push, and sleeps. The producer's last task
/// is then stranded and the latch below never opens: a loom deadlock.
/// Three tasks, so that a notification is still posted when the producer's
/// last push reads the word: the worker, taking the first two together,
/// sees more work and posts `notified` as it gives its waking role up (a
/// pool of one thread has nobody to hand it to), or the second push posts
/// it while the worker is waking. With two tasks the worker, seeing no
/// other work, posts nothing, and `wait-fence-removed` survives.
/// Kills: `notify-fence-removed`, `wait-fence-removed`.
#[test]
fn a_pushed_task_is_always_found() {
    let outcomes = Outcomes::new(&["the worker slept", "the worker never slept"]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let pool = Arc::new(ThreadPool::builder().max_threads(1).build().unwrap());
        let latch = Arc::new(Latch::new(3));
        let (p, l) = (pool.clone(), latch.clone());
        let producer = thread::spawn(move || {
            for _ in 0..3 {
                let l = l.clone();
                p.spawn(move || l.count_down()).ok().unwrap();
            }
        });
        producer.join().unwrap();
        latch.wait(); // both tasks ran before any shutdown
        let (_, _, spawned, _) = word(&pool);
        assert_eq!(spawned, 1, "max_threads is 1");
        o.hit(if blocked_waits() > 0 {
            "the worker slept"
        } else {
            "the worker never slept"
        });
        drop(pool);
    });
    outcomes.assert_all_reached("a_pushed_task_is_always_found", iterations);
}

/// Guards against a waking worker that gives up its role while more work
/// waits: it took the first of two tasks and, instead of waking or starting
/// the pool's next thread, only gave the role up, although it saw the
/// second task (queued with the first, now in its own ring) or a
/// notification was posted for it while it was waking. The first task
/// blocks until the second has run, so with the second thread never
/// started nothing runs the second task: a loom deadlock.
/// Kills: `hand-on-ignores-more`, `hand-on-ignores-notified`.
#[test]
fn a_waking_worker_wakes_the_next_when_more_work_waits() {
    let outcomes = Outcomes::new(&[
        "the second task was queued before the first started",
        "the second task was queued after the first started",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let pool = Arc::new(ThreadPool::builder().max_threads(2).build().unwrap());
        let second_ran = Arc::new(Latch::new(1));
        let both = Arc::new(Latch::new(2));
        let queued = Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let started_after = Arc::new(loom::sync::atomic::AtomicBool::new(false));
        let (r, b, q, s) = (
            second_ran.clone(),
            both.clone(),
            queued.clone(),
            started_after.clone(),
        );
        pool.spawn(move || {
            // Relaxed: a label only; the latch carries the edges.
            s.store(
                !q.load(std::sync::atomic::Ordering::Relaxed),
                std::sync::atomic::Ordering::Relaxed,
            );
            r.wait();
            b.count_down();
        })
        .ok()
        .unwrap();
        let (r, b) = (second_ran.clone(), both.clone());
        pool.spawn(move || {
            r.count_down();
            b.count_down();
        })
        .ok()
        .unwrap();
        queued.store(true, std::sync::atomic::Ordering::Relaxed);
        both.wait();
        o.hit(
            if started_after.load(std::sync::atomic::Ordering::Relaxed) {
                "the second task was queued after the first started"
            } else {
                "the second task was queued before the first started"
            },
        );
        drop(pool);
    });
    outcomes.assert_all_reached(
        "a_waking_worker_wakes_the_next_when_more_work_waits",
        iterations,
    );
}
