//! Hooks for the loom and shuttle test suites: the internal components and
//! the futex model's counters. Compiled only with `--cfg loom` or
//! `--cfg shuttle`.

pub use crate::structures::bell::Bell;
pub use crate::structures::buffer::{Buffer, CAPACITY, Owner as BufferOwner, Stole};
pub use crate::structures::event::{EMPTY, Event, NOTIFIED, SHUTDOWN, WAITING};
pub use crate::structures::fork_stack::ForkStack;
pub use crate::structures::join_deque::{
    CAPACITY as JOIN_CAPACITY, JoinDeque, Owner as JoinDequeOwner,
};
pub use crate::structures::latch::Latch;
pub use crate::structures::queue::{Busy, Consumer, Probe, Queue};
pub use crate::structures::quiet::{Presence, Quiet};

/// Starts a new model execution: resets the futex model and the
/// use-after-free ghost, and makes a `static` pool build a fresh core at
/// its next use. Call it at the start of every execution (under loom it is
/// required; under shuttle, only for `static` pools; see
/// `docs/testing-your-code.md`).
pub fn reset() {
    crate::sync::futex::reset();
    crate::sync::ghost::reset();
    crate::sync::next_execution();
}

/// Makes the next `n` thread spawns through the default path
/// (`std::thread`'s place in the model) fail, as a real `thread::spawn` may
/// (EAGAIN). `reset` does not clear it: set it inside the execution.
pub fn fail_next_spawns(n: usize) {
    crate::sync::failing::set(n);
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

/// Shuts the global pool down and joins its threads: call it at the end of
/// an execution that used the global pool (the free `join`, `scope` or
/// `spawn` outside any pool), whose threads would otherwise never exit.
/// The next execution's first use builds a fresh global pool. (There is
/// one global pool per test thread in the model builds.)
pub fn end_global() {
    let global = crate::global::global();
    global.shutdown();
    global.join_workers();
}

pub use crate::fork_join::future::Home;

/// Spawns `future` as a future task whose wakes go to `home` (a test's own
/// queue) instead of a pool: the state machine of `fork_join/future.rs`
/// alone. Hands the future back if `home` refuses it.
pub fn spawn_future_with<F, H>(home: H, future: F) -> Result<crate::JoinHandle<F::Output>, F>
where
    F: core::future::Future + Send + 'static,
    F::Output: Send + 'static,
    H: Home,
{
    crate::fork_join::future::FutureTask::spawn(home, future)
}
