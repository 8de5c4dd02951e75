//! The `Sync` word: the pool's whole coordination state in one `u32`.
//!
//! ```text
//!  31 30 | 29       | 28        | 27 ........ 14 | 13 ........ 0
//!  state | notified | abandoned | spawned (14)   | idle (14)
//! ```
//!
//! * `idle`: threads that found no work and are (about to be) asleep on the
//!   pool's idle event.
//! * `spawned`: threads started (or being started) and not yet exited.
//! * `notified`: a notification was posted that no thread has consumed yet.
//!   It keeps a `notify` from being lost while a waking thread exists.
//! * `abandoned`: the pool was dropped where it could not wait for its
//!   threads (from one of its own tasks or hooks); the last thread out then
//!   does the joiner's work itself (`docs/lifecycle.md`).
//! * `state`:
//!   - `Pending`: the next notify may wake (or spawn) a thread;
//!   - `Signaled`: a thread was woken or spawned and will become the waking
//!     thread when it consumes the notification;
//!   - `Waking`: one thread is searching for work on behalf of notifiers. No
//!     other thread is woken until it hands the role on (wake throttling);
//!   - `Shutdown`: final. Counts only go down from here.
//!
//! This module is pure bit packing: no atomics, no side effects. The
//! protocol that moves the word lives in `wake.rs`; its proof is
//! `docs/sync_word.md`.

/// The largest `max_threads` a pool accepts: the counters are 14 bits wide
/// (hazard 9: a larger value must be an error, not a wrap into the
/// neighbouring field).
pub const MAX_THREADS: usize = (1 << COUNT_BITS) - 1;

const COUNT_BITS: u32 = 14;
const COUNT_MASK: u32 = (1 << COUNT_BITS) - 1;
const IDLE_SHIFT: u32 = 0;
const SPAWNED_SHIFT: u32 = COUNT_BITS;
const NOTIFIED_BIT: u32 = 1 << 29;
const ABANDONED_BIT: u32 = 1 << 28;
const STATE_SHIFT: u32 = 30;

/// One `spawned` unit, for `fetch_sub` on the packed word.
pub(crate) const ONE_SPAWNED: u32 = 1 << SPAWNED_SHIFT;

/// The 2-bit state field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Pending = 0,
    Signaled = 1,
    Waking = 2,
    Shutdown = 3,
}

/// A decoded copy of the word. Setters return a new value; the pool writes it
/// back with a compare-and-swap.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct SyncWord(u32);

impl SyncWord {
    pub(crate) const EMPTY: SyncWord = SyncWord(0);

    pub(crate) const fn from_bits(bits: u32) -> Self {
        Self(bits)
    }

    pub(crate) const fn bits(self) -> u32 {
        self.0
    }

    pub(crate) const fn idle(self) -> u32 {
        (self.0 >> IDLE_SHIFT) & COUNT_MASK
    }

    pub(crate) const fn spawned(self) -> u32 {
        (self.0 >> SPAWNED_SHIFT) & COUNT_MASK
    }

    pub(crate) const fn notified(self) -> bool {
        self.0 & NOTIFIED_BIT != 0
    }

    pub(crate) const fn abandoned(self) -> bool {
        self.0 & ABANDONED_BIT != 0
    }

    pub(crate) const fn with_abandoned(self) -> Self {
        Self(self.0 | ABANDONED_BIT)
    }

    pub(crate) const fn state(self) -> State {
        match self.0 >> STATE_SHIFT {
            0 => State::Pending,
            1 => State::Signaled,
            2 => State::Waking,
            _ => State::Shutdown,
        }
    }

    /// Panics (in debug builds; the pool never asks) if `idle` leaves 0..=MAX.
    pub(crate) fn with_idle(self, idle: u32) -> Self {
        debug_assert!(idle <= COUNT_MASK, "idle count out of range: {idle}");
        Self((self.0 & !(COUNT_MASK << IDLE_SHIFT)) | ((idle & COUNT_MASK) << IDLE_SHIFT))
    }

    pub(crate) fn with_spawned(self, spawned: u32) -> Self {
        debug_assert!(
            spawned <= COUNT_MASK,
            "spawned count out of range: {spawned}"
        );
        Self((self.0 & !(COUNT_MASK << SPAWNED_SHIFT)) | ((spawned & COUNT_MASK) << SPAWNED_SHIFT))
    }

    pub(crate) const fn with_notified(self, notified: bool) -> Self {
        if notified {
            Self(self.0 | NOTIFIED_BIT)
        } else {
            Self(self.0 & !NOTIFIED_BIT)
        }
    }

    pub(crate) const fn with_state(self, state: State) -> Self {
        Self((self.0 & !(0b11 << STATE_SHIFT)) | ((state as u32) << STATE_SHIFT))
    }
}

impl core::fmt::Debug for SyncWord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SyncWord")
            .field("state", &self.state())
            .field("notified", &self.notified())
            .field("spawned", &self.spawned())
            .field("idle", &self.idle())
            .field("abandoned", &self.abandoned())
            .finish()
    }
}

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use super::*;

    #[test]
    fn empty_word_is_pending_and_zero() {
        let w = SyncWord::EMPTY;
        assert_eq!(w.state(), State::Pending);
        assert!(!w.notified());
        assert_eq!((w.idle(), w.spawned()), (0, 0));
    }

    #[test]
    fn fields_are_independent() {
        let states = [
            State::Pending,
            State::Signaled,
            State::Waking,
            State::Shutdown,
        ];
        for &state in &states {
            for notified in [false, true] {
                for (idle, spawned) in [
                    (0, 0),
                    (1, 0),
                    (0, 1),
                    (MAX_THREADS as u32, 0),
                    (0, MAX_THREADS as u32),
                    (5, 9),
                    (MAX_THREADS as u32, MAX_THREADS as u32),
                ] {
                    let w = SyncWord::EMPTY
                        .with_state(state)
                        .with_notified(notified)
                        .with_idle(idle)
                        .with_spawned(spawned);
                    assert_eq!(w.state(), state);
                    assert_eq!(w.notified(), notified);
                    assert_eq!(w.idle(), idle);
                    assert_eq!(w.spawned(), spawned);
                    assert!(!w.abandoned());
                    let a = w.with_abandoned();
                    assert!(a.abandoned());
                    assert_eq!(
                        (a.state(), a.notified(), a.idle(), a.spawned()),
                        (state, notified, idle, spawned)
                    );
                    // Round trip through the raw bits.
                    assert_eq!(SyncWord::from_bits(w.bits()), w);
                }
            }
        }
    }

    #[test]
    fn one_spawned_subtracts_exactly_one_thread() {
        let w = SyncWord::EMPTY
            .with_spawned(3)
            .with_idle(2)
            .with_state(State::Shutdown)
            .with_notified(true);
        let after = SyncWord::from_bits(w.bits() - ONE_SPAWNED);
        assert_eq!(after.spawned(), 2);
        assert_eq!(after.idle(), 2);
        assert_eq!(after.state(), State::Shutdown);
        assert!(after.notified());
    }

    #[test]
    fn max_threads_fills_the_counter() {
        assert_eq!(MAX_THREADS, 16383);
        let w = SyncWord::EMPTY.with_spawned(MAX_THREADS as u32);
        assert_eq!(w.idle(), 0);
        assert_eq!(w.state(), State::Pending);
        assert!(!w.notified());
    }

    #[test]
    #[should_panic(expected = "spawned count out of range")]
    #[cfg(debug_assertions)]
    fn counter_overflow_is_caught() {
        let _ = SyncWord::EMPTY.with_spawned(MAX_THREADS as u32 + 1);
    }
}
