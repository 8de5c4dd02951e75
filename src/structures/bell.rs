//! `Bell`: an event count. Threads sleep on it until some condition they
//! check holds; whoever makes the condition true rings it, waking every
//! sleeper that might have missed the change. The bell itself carries no
//! state of the condition.
//!
//! ```text
//! sleeper:                            ringer:
//!   epoch = prepare()                   make the condition true
//!     (sleepers += 1; read epoch;       ring():
//!      SeqCst fence)                      SeqCst fence
//!   if condition: cancel()                if sleepers > 0:
//!   else: sleep(epoch)                      epoch += 1; futex wake all
//!     (futex wait while epoch is
//!      unchanged; sleepers -= 1)
//! ```
//!
//! No wake-up is lost. Of the two SeqCst fences one comes first in the
//! single total order of SeqCst operations. If the ringer's is first, the
//! sleeper's check of the condition (after its fence) sees the ringer's
//! write (before its fence), and the sleeper does not sleep. If the
//! sleeper's is first, the ringer's read of `sleepers` sees the sleeper's
//! increment (before the sleeper's fence), so it bumps the epoch; and the
//! sleeper's read of the epoch, before its fence, cannot read that bump,
//! which comes after the ringer's fence: the sleeper's futex wait finds the
//! epoch changed and returns, or the wake-all finds it asleep. (C++20
//! [atomics.order]: a SeqCst fence X that is sequenced before a read A and
//! a fence Y sequenced after a write B, with B coherence-ordered after
//! what A read, have X before Y in S; both directions are instances.)
//!
//! Unlike [`Event`](super::event::Event), a ring wakes every sleeper and
//! stores no token: each sleeper re-checks its own condition. The epoch is a
//! sequence number, so a sleeper's futex value cannot come back while it
//! sleeps (a `u32` would have to wrap within one sleep).
//!
//! Used by the scheduler for workers that wait inside a task: they sleep on
//! their pool's bell, and both the pool's notifications and the latch they
//! wait for ring it (`docs/bell.md`).

use crate::sync::atomic::{AtomicU32, Ordering, fence};
use crate::sync::futex;

/// An event count on a futex word: sleepers re-check a condition after
/// every ring.
#[derive(Debug)]
pub struct Bell {
    epoch: AtomicU32,
    sleepers: AtomicU32,
}

impl Bell {
    crate::sync::const_fn_unless_loom! {
        /// A bell with no sleeper.
        pub fn new() -> Self {
            Self { epoch: AtomicU32::new(0), sleepers: AtomicU32::new(0) }
        }
    }

    /// A sleeper's first step: counts itself and returns the epoch to pass
    /// to [`sleep`](Bell::sleep). The caller then checks its condition and
    /// either calls `cancel` or `sleep`, exactly one of them.
    pub fn prepare(&self) -> u32 {
        // Relaxed: ordered by the fence below (see the module docs).
        self.sleepers.fetch_add(1, Ordering::Relaxed);
        // Relaxed: as above.
        let epoch = self.epoch.load(Ordering::Relaxed);
        // SeqCst: pairs with the fence in `ring`; the caller's check of its
        // condition comes after it.
        fence(Ordering::SeqCst);
        epoch
    }

    /// The condition held after `prepare`: do not sleep.
    pub fn cancel(&self) {
        // Relaxed: a count; a ringer that still sees it only rings for
        // nothing.
        self.sleepers.fetch_sub(1, Ordering::Relaxed);
    }

    /// Sleeps until a ring that came after `prepare` (or returns at once if
    /// there was one); may return spuriously. The caller re-checks its
    /// condition.
    pub fn sleep(&self, epoch: u32) {
        futex::wait(&self.epoch, epoch);
        // Relaxed: as in `cancel`.
        self.sleepers.fetch_sub(1, Ordering::Relaxed);
    }

    /// Wakes every sleeper that prepared before the condition became true.
    /// Call it after making the condition true.
    ///
    /// # Safety
    /// `this` points to a live `Bell` for the whole call except the final
    /// futex wake, which uses only the address.
    pub unsafe fn ring(this: *const Self) {
        // SeqCst: pairs with the fence in `prepare`: the caller's write of
        // the condition comes before it.
        fence(Ordering::SeqCst);
        // SAFETY: live (contract).
        let bell = unsafe { &*this };
        // Relaxed: ordered by the fence above.
        if bell.sleepers.load(Ordering::Relaxed) > 0 {
            // Relaxed: the fences order the epoch against the sleepers'
            // reads; the bump only has to change the futex word.
            bell.epoch.fetch_add(1, Ordering::Relaxed);
            futex::wake_all(&raw const bell.epoch);
        }
    }
}
