//! User code on the pool, checked with shuttle: `RUSTFLAGS="--cfg shuttle"
//! cargo test`. The pool's own threads, atomics and futex run on shuttle's,
//! so shuttle explores the interleavings of the user's tasks through the
//! pool.
#![cfg(shuttle)]

use model_check_your_code::Counter;
use std::sync::Arc;
use zap_pool::ThreadPool;

/// Two tasks on a two-thread pool each record one event; then the counter
/// must say 2.
fn two_tasks_record(racy: bool) {
    let pool = ThreadPool::with_max_threads(2);
    let counter = Arc::new(Counter::new());
    let record = |c: Arc<Counter>| {
        move || {
            if racy { c.record_racy() } else { c.record() }
        }
    };
    pool.join(record(counter.clone()), record(counter.clone()));
    let count = counter.get();
    assert_eq!(
        count, 2,
        "lost update: two tasks recorded, the counter says {count}"
    );
}

/// Passes: `fetch_add` loses nothing, in every explored schedule.
#[test]
fn two_tasks_record_both_events() {
    shuttle::check_random(|| two_tasks_record(false), 1000);
    shuttle::check_pct(|| two_tasks_record(false), 1000, 3);
}

/// The deliberate bug: a load then a store loses an update when the two
/// tasks interleave. Shuttle finds a schedule where it happens, and the
/// test fails with the assertion's own message (expected here). PCT
/// (probabilistic concurrency testing) is the scheduler for bugs that need
/// a preemption at one exact point, as this one does: the second task has
/// to run between the first one's load and its store.
#[test]
#[should_panic(expected = "lost update")]
fn shuttle_finds_the_lost_update() {
    shuttle::check_pct(|| two_tasks_record(true), 5000, 3);
}

/// The failure, caught as a harness would catch it: the payload that
/// leaves `check_pct` is the user's own assertion message, not an error of
/// the checker or of the pool's teardown.
#[test]
fn a_found_failure_carries_the_users_message() {
    let caught = std::panic::catch_unwind(|| {
        shuttle::check_pct(|| two_tasks_record(true), 5000, 3);
    });
    let payload = caught.expect_err("PCT did not find the lost update");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        message.contains("lost update: two tasks recorded"),
        "the failure does not carry the user's message: {message:?}"
    );
}
