//! Hooks for the loom and shuttle test suites: the internal components and
//! the futex model's counters. Compiled only with `--cfg loom` or
//! `--cfg shuttle`.

pub use crate::structures::bell::Bell;
pub use crate::structures::buffer::{Buffer, CAPACITY, Owner as BufferOwner, Stole};
pub use crate::structures::event::{EMPTY, Event, NOTIFIED, SHUTDOWN, WAITING};
pub use crate::structures::join_deque::{
    CAPACITY as JOIN_CAPACITY, JoinDeque, Owner as JoinDequeOwner,
};
pub use crate::structures::latch::Latch;
pub use crate::structures::queue::{Busy, Consumer, Probe, Queue};

/// Resets the futex model and the use-after-free ghost; call at the start
/// of every model iteration.
pub fn reset() {
    crate::sync::futex::reset();
    crate::sync::ghost::reset();
}

/// How many futex waits in this iteration actually slept.
pub fn blocked_waits() -> usize {
    crate::sync::futex::blocked_waits()
}

/// Lets the shuttle futex model return spuriously.
#[cfg(shuttle)]
pub fn set_spurious(on: bool) {
    crate::sync::futex::set_spurious(on);
}

/// The pool's word: (state 0..=3, notified, spawned, idle).
pub fn word(pool: &crate::ThreadPool) -> (u32, bool, u32, u32) {
    let w = pool.core().debug_word();
    (w.state() as u32, w.notified(), w.spawned(), w.idle())
}

/// How many counts a scope's `pending` holds: its body's (until the body
/// returns) and one per task that has not finished.
pub fn scope_pending(scope: &crate::Scope<'_>) -> usize {
    scope.pending_snapshot()
}
