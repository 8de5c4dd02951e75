//! User code on the pool, checked with loom: `RUSTFLAGS="--cfg loom"
//! cargo test --release`. loom explores every interleaving (up to a
//! preemption bound) and the weak-memory outcomes of the user's atomics
//! and the pool's.
#![cfg(loom)]

use model_check_your_code::Mailbox;
use std::sync::Arc;
use zap_pool::ThreadPool;

/// One loom model: the pool's futex model is reset first, as every loom
/// test of code on zap-pool must do (`zap_pool::model::reset`).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound.get_or_insert(2);
    builder.check(move || {
        zap_pool::model::reset();
        f();
    });
}

/// A task of a one-thread pool puts 42 in the mailbox; this thread waits
/// until it sees the flag and then reads the value.
fn hand_over(racy: bool) {
    let pool = ThreadPool::with_max_threads(1);
    let mailbox = Arc::new(Mailbox::new());
    let m = mailbox.clone();
    pool.spawn(move || if racy { m.put_racy(42) } else { m.put(42) })
        .expect("the pool is open");
    let value = loop {
        if let Some(v) = mailbox.take() {
            break v;
        }
        loom::thread::yield_now();
    };
    assert_eq!(
        value, 42,
        "unsynchronized read: the flag was set, the value is {value}"
    );
}

/// Passes: the Release flag publishes the value to the Acquire reader.
#[test]
fn the_value_is_seen_with_the_flag() {
    model(|| hand_over(false));
}

/// The deliberate bug: with the flag set Relaxed, loom finds an execution
/// in which the reader sees the flag but not the value, and the test fails
/// with the assertion's own message (expected here).
#[test]
#[should_panic(expected = "unsynchronized read")]
fn loom_finds_the_unsynchronized_read() {
    model(|| hand_over(true));
}
