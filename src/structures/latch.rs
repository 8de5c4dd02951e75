//! `Latch`: a one-shot, one-waiter completion flag on a futex word.
//!
//! ```text
//! UNSET(0) -> SLEEPING(1) -> SET(2)        (or UNSET -> SET directly)
//! ```
//!
//! * `set` swaps in SET with Release and wakes the futex if the waiter had
//!   announced that it sleeps (the old value was SLEEPING). SET is final.
//! * `probe` is an Acquire load: true once `set` happened, and then everything
//!   the setter wrote before `set` is visible.
//! * `wait` blocks the calling thread: it announces SLEEPING with a CAS from
//!   UNSET and sleeps on the futex while the word stays SLEEPING.
//!
//! A wake-up cannot be lost: the waiter sleeps only while the word is
//! SLEEPING, and the setter reads SLEEPING exactly when the waiter's CAS came
//! before its swap in the word's modification order, in which case it wakes.
//!
//! Latches carry the completion of fork-join work: a `join` job, the tasks of
//! a `scope`, a task behind a `JoinHandle`. The waiter usually frees the latch
//! (it lives in the waiter's stack frame) as soon as it sees SET, so `set`
//! takes a raw pointer and touches nothing after the swap except the futex
//! address, which the kernel never dereferences (as `Event::notify`, hazard 5).
//!
//! Proof: `docs/fork_join.md`; model check: `loom_tests/latch.rs`.

use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::futex;

const UNSET: u32 = 0;
const SLEEPING: u32 = 1;
const SET: u32 = 2;

/// A one-shot completion flag that one thread may block on.
#[derive(Debug)]
pub struct Latch {
    state: AtomicU32,
}

impl Latch {
    crate::sync::const_fn_unless_loom! {
        /// A latch that is not set.
        pub fn new() -> Self {
            Self { state: AtomicU32::new(UNSET) }
        }
    }

    /// Whether the latch is set. Once it returns true, the setter's writes
    /// before `set` are visible to the caller.
    pub fn probe(&self) -> bool {
        // Acquire: synchronizes with the Release swap in `set`.
        self.state.load(Ordering::Acquire) == SET
    }

    /// Sets the latch and wakes its waiter, if one sleeps.
    ///
    /// # Safety
    /// `this` points to a live latch. The waiter may free it as soon as the
    /// swap below is visible; this function does not touch it afterwards.
    pub unsafe fn set(this: *const Self) {
        // SAFETY: live until the swap (contract above); the reference ends
        // with the swap.
        let state = unsafe { &raw const (*this).state };
        // Release: synchronizes with the Acquire load in `probe` / `wait`,
        // so the setter's writes (a job's result) come first.
        // SAFETY: as above.
        let old = unsafe { (*state).swap(SET, Ordering::Release) };
        if old == SLEEPING {
            // The word may be freed by now: wake by address only.
            futex::wake_one(state);
        }
    }

    /// Blocks until the latch is set. Only one thread may wait on a latch.
    pub fn wait(&self) {
        // Relaxed: announcing SLEEPING publishes nothing; the futex's own
        // value check orders the sleep against `set`. On failure the word is
        // SET and the Acquire load below synchronizes with the setter.
        let _ = self
            .state
            .compare_exchange(UNSET, SLEEPING, Ordering::Relaxed, Ordering::Relaxed);
        // The futex wait returns when the word is not SLEEPING (any more) and
        // may return spuriously: re-check with the Acquire `probe`.
        while !self.probe() {
            futex::wait(&self.state, SLEEPING);
        }
    }
}
