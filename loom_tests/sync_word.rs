//! The `Sync` word protocol (src/scheduler/wake.rs, sync_word.rs):
//! a task pushed while a worker is going to sleep is always found.

use crate::{Latch, Outcomes, model};
use loom::thread;
use std::sync::Arc;
use zap_pool::ThreadPool;
use zap_pool::model::{blocked_waits, word};

/// Guards against hazard 1, the lost wake-up on weak memory: a producer's
/// fast path reads a stale `notified = true` while the only worker clears it,
/// searches without seeing the push, and sleeps. The producer's second task
/// is then stranded and the latch below never opens: a loom deadlock.
/// Kills: `notify-fence-removed`, `wait-fence-removed`.
#[test]
fn a_pushed_task_is_always_found() {
    let outcomes = Outcomes::new(&["the worker slept", "the worker never slept"]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let pool = Arc::new(ThreadPool::builder().max_threads(1).build().unwrap());
        let latch = Arc::new(Latch::new(2));
        let (p, l) = (pool.clone(), latch.clone());
        let producer = thread::spawn(move || {
            for _ in 0..2 {
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
