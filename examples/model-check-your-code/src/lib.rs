//! A tiny piece of user code that runs on a zap-pool: a counter that tasks
//! bump, in a correct and in a deliberately broken version, and a flag that
//! publishes a value, likewise. The tests in `tests/` model-check them
//! through the pool with shuttle and with loom (see
//! `docs/testing-your-code.md` in the zap-pool repository).
//!
//! The atomics come from whichever checker the crate is built for, as in
//! zap-pool itself: with `--cfg shuttle` shuttle's, with `--cfg loom`
//! loom's, otherwise std's.

#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
#[cfg(shuttle)]
use shuttle::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
#[cfg(not(any(loom, shuttle)))]
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A counter of events that several tasks record.
#[derive(Debug, Default)]
pub struct Counter {
    count: AtomicUsize,
}

impl Counter {
    pub fn new() -> Self {
        Self {
            count: AtomicUsize::new(0),
        }
    }

    /// Records one event: an atomic read-modify-write, correct.
    pub fn record(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one event with a load and then a store: two tasks can both
    /// read the same value and one event is lost. The bug the tests find.
    pub fn record_racy(&self) {
        let seen = self.count.load(Ordering::Relaxed);
        self.count.store(seen + 1, Ordering::Relaxed);
    }

    pub fn get(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

/// A value handed from one task to another through a flag.
#[derive(Debug, Default)]
pub struct Mailbox {
    value: AtomicUsize,
    full: AtomicBool,
}

impl Mailbox {
    pub fn new() -> Self {
        Self {
            value: AtomicUsize::new(0),
            full: AtomicBool::new(false),
        }
    }

    /// Publishes `v`: the flag is set with Release, after the value.
    pub fn put(&self, v: usize) {
        self.value.store(v, Ordering::Relaxed);
        self.full.store(true, Ordering::Release);
    }

    /// As `put`, with the flag set Relaxed: a reader that sees the flag may
    /// still read the old value (an unsynchronized read). The bug the loom
    /// test finds.
    pub fn put_racy(&self, v: usize) {
        self.value.store(v, Ordering::Relaxed);
        self.full.store(true, Ordering::Relaxed);
    }

    /// The value, if the flag is seen set (Acquire).
    pub fn take(&self) -> Option<usize> {
        self.full
            .load(Ordering::Acquire)
            .then(|| self.value.load(Ordering::Relaxed))
    }
}
