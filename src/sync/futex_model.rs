//! The futex of the model builds (loom and shuttle), written once over the
//! backend's modelled `Mutex` and `Condvar` (`backend::futex_table`).
//!
//! An address-keyed table of condition variables under one modelled mutex:
//! the value check in `wait` and every `wake_*` run under that mutex, so a
//! wake cannot slip between the check and the sleep, and a lost wake-up
//! shows up as a deadlock that the checker reports. The address is only a
//! key, never dereferenced, so a wake may name memory that has been freed,
//! as with the real futex. Where the backend allows it (shuttle, when
//! switched on), `wait` may also return at once without sleeping, as a real
//! futex may.

use super::atomic::{AtomicU32, Ordering};
use super::backend::futex_table::{self, Condvar, Table};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::Arc;

std::thread_local! {
    static BLOCKED: Cell<usize> = const { Cell::new(0) };
}

/// The table's type: one condition variable per address that was waited on.
pub(super) type Waiters = HashMap<usize, Arc<Condvar>>;

/// Forgets the previous execution's state. Call at the start of every
/// execution (the test suites' helpers do).
pub(crate) fn reset() {
    futex_table::reset();
    BLOCKED.with(|b| b.set(0));
}

/// How many `wait` calls in this execution actually went to sleep.
pub(crate) fn blocked_waits() -> usize {
    BLOCKED.with(Cell::get)
}

/// Blocks while `*word == expected`, checked atomically with respect to
/// `wake_*`; may return spuriously (shuttle, when switched on).
pub(crate) fn wait(word: &AtomicU32, expected: u32) {
    if futex_table::spurious_return() {
        return;
    }
    futex_table::with(|table: &Table| {
        let mut guard = table.lock().unwrap();
        // Relaxed: a real futex orders nothing; the table mutex alone makes
        // the check atomic with respect to wake.
        if word.load(Ordering::Relaxed) != expected {
            return;
        }
        let key = word as *const AtomicU32 as usize;
        let condvar = guard
            .entry(key)
            .or_insert_with(|| Arc::new(Condvar::new()))
            .clone();
        BLOCKED.with(|b| b.set(b.get() + 1));
        drop(condvar.wait(guard).unwrap());
    });
}

fn wake(word: *const AtomicU32, all: bool) {
    futex_table::with(|table: &Table| {
        let guard = table.lock().unwrap();
        if let Some(condvar) = guard.get(&(word as usize)) {
            if all {
                condvar.notify_all();
            } else {
                condvar.notify_one();
            }
        }
    });
}

/// Wakes at most one thread blocked on `word`, which may dangle.
pub(crate) fn wake_one(word: *const AtomicU32) {
    wake(word, false);
}

/// Wakes every thread blocked on `word`, which may dangle.
pub(crate) fn wake_all(word: *const AtomicU32) {
    wake(word, true);
}
