//! `Event`: a futex word that holds at most one wake-up token and can be shut
//! down for ever.
//!
//! ```text
//! EMPTY(0) < WAITING(1) < NOTIFIED(2) < SHUTDOWN(3)
//! ```
//!
//! * `wait` returns after consuming a token (NOTIFIED -> EMPTY or WAITING), or
//!   at once when the event is shut down. Otherwise it marks the word WAITING
//!   and sleeps on the futex while it stays WAITING.
//! * `notify` posts a token (max(word, NOTIFIED)) and wakes one sleeper if
//!   the word was WAITING. Two tokens posted before either is consumed merge.
//! * `shutdown` makes the word SHUTDOWN (max(word, SHUTDOWN)), which no later
//!   operation can change, and wakes every sleeper.
//!
//! A woken thread that consumes a token writes WAITING back rather than EMPTY:
//! other threads may still sleep on the word, and WAITING makes the next
//! `notify` wake one of them. The cost is an occasional futex wake with no
//! sleeper.
//!
//! The two fixes over the original (see `docs/event.md`):
//! * hazard 2: `wake` used a plain swap, so a `notify` decided before
//!   `shutdown` but landing after it turned SHUTDOWN back into NOTIFIED. One
//!   sleeper consumed that and left; another slept for ever. Taking the
//!   maximum keeps SHUTDOWN final.
//! * hazard 3: `shutdown` woke the futex only if the old word was WAITING,
//!   but sleepers can exist while the word is transiently NOTIFIED or EMPTY
//!   (a token consumed by a thread that never slept). `shutdown` now always
//!   wakes all.
//!
//! The waking side takes a raw pointer: the thread that is woken may free the
//! event's memory as soon as it observes the new state, so no reference to it
//! may be live across the futex wake (hazard 5).

use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::futex;

pub const EMPTY: u32 = 0;
pub const WAITING: u32 = 1;
pub const NOTIFIED: u32 = 2;
pub const SHUTDOWN: u32 = 3;

/// A one-token, shut-down-able futex event.
#[derive(Debug)]
pub struct Event {
    state: AtomicU32,
}

impl Event {
    crate::sync::const_fn_unless_loom! {
        /// A new event with no token.
        pub fn new() -> Self {
            Self { state: AtomicU32::new(EMPTY) }
        }
    }

    /// Blocks until a token is consumed or the event is shut down.
    pub fn wait(&self) {
        let mut acquire_with = EMPTY;
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state == SHUTDOWN {
                // Acquire: synchronizes with the Release CAS of `wake` in
                // `shutdown` (SHUTDOWN is final, so this reads it again), so
                // what preceded the shutdown is visible here. Only this rare
                // path pays for it; the common loads stay Relaxed. A load,
                // not a fence: ThreadSanitizer does not model fences.
                self.state.load(Ordering::Acquire);
                return;
            }

            if state == NOTIFIED {
                // Acquire: synchronizes with the Release CAS of `wake` in the
                // `notify` that posted this token.
                match self.state.compare_exchange(
                    NOTIFIED,
                    acquire_with,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return,
                    Err(actual) => state = actual,
                }
                continue;
            }

            if state != WAITING {
                // Relaxed: announcing a sleeper publishes no data; the futex
                // value check orders the sleep against `wake`.
                if let Err(actual) = self.state.compare_exchange(
                    state,
                    WAITING,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    state = actual;
                    continue;
                }
            }

            futex::wait(&self.state, WAITING);
            state = self.state.load(Ordering::Relaxed);
            // Other sleepers may remain: consume a token as WAITING from now on.
            acquire_with = WAITING;
        }
    }

    /// Posts a token and wakes one sleeper. Returns the previous state.
    ///
    /// # Safety
    ///
    /// `this` must point to a live `Event` when the call starts. The event may
    /// be freed by a woken thread at any point after the state changes; this
    /// function touches only the pointer's address after that.
    pub unsafe fn notify(this: *const Self) -> u32 {
        // SAFETY: forwarded from the caller's contract.
        unsafe { Self::wake(this, NOTIFIED) }
    }

    /// Shuts the event down for ever and wakes every sleeper. Returns the
    /// previous state.
    ///
    /// # Safety
    ///
    /// As for [`Event::notify`].
    pub unsafe fn shutdown(this: *const Self) -> u32 {
        // SAFETY: forwarded from the caller's contract.
        unsafe { Self::wake(this, SHUTDOWN) }
    }

    unsafe fn wake(this: *const Self, new_state: u32) -> u32 {
        // SAFETY: the caller guarantees `this` is live now. The successful
        // CAS below is the last access through it; after it only the address
        // is used.
        let word: *const AtomicU32 = unsafe { &raw const (*this).state };
        // The new state is max(old, new_state): SHUTDOWN is the largest
        // value, so a late NOTIFIED can never replace it (hazard 2). This is
        // `fetch_max` written out as a CAS loop, because ThreadSanitizer does
        // not instrument `fetch_max` and would miss the release edge (x86 has
        // no atomic max, so the machine code is a CAS loop either way).
        // Relaxed: a first guess for the CAS.
        // SAFETY: `word` points into the live event (see above).
        let mut old = unsafe { (*word).load(Ordering::Relaxed) };
        loop {
            // Release: a waiter that consumes this token (Acquire CAS) or
            // sees SHUTDOWN (Acquire load) sees everything before the wake.
            // Always a write, even of the same value, so a merged token still
            // publishes this waker's writes.
            // SAFETY: as above; the event is live until this CAS succeeds.
            match unsafe {
                (*word).compare_exchange_weak(
                    old,
                    old.max(new_state),
                    Ordering::Release,
                    Ordering::Relaxed,
                )
            } {
                Ok(_) => break,
                Err(actual) => old = actual,
            }
        }
        if new_state == SHUTDOWN {
            // Always: a sleeper can exist while the word was EMPTY or
            // NOTIFIED (hazard 3).
            futex::wake_all(word);
        } else if old == WAITING {
            futex::wake_one(word);
        }
        old
    }

    /// The raw state, for tests.
    #[cfg(any(test, loom, shuttle))]
    pub fn state(&self) -> u32 {
        self.state.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn token_is_consumed_once() {
        let e = Event::new();
        // SAFETY: `e` lives on this stack for the whole test.
        unsafe { Event::notify(&e) };
        e.wait(); // consumes
        assert_eq!(e.state(), EMPTY);
    }

    #[test]
    fn tokens_merge() {
        let e = Event::new();
        // SAFETY: `e` outlives the calls.
        unsafe {
            assert_eq!(Event::notify(&e), EMPTY);
            assert_eq!(Event::notify(&e), NOTIFIED);
        }
        e.wait();
        assert_eq!(e.state(), EMPTY);
    }

    #[test]
    fn shutdown_is_final() {
        let e = Event::new();
        // SAFETY: `e` outlives the calls.
        unsafe {
            Event::shutdown(&e);
            assert_eq!(Event::notify(&e), SHUTDOWN);
        }
        assert_eq!(e.state(), SHUTDOWN);
        e.wait();
        e.wait();
    }

    #[test]
    fn notify_wakes_a_sleeper() {
        let e = Arc::new(Event::new());
        let e2 = e.clone();
        let t = std::thread::spawn(move || e2.wait());
        std::thread::sleep(std::time::Duration::from_millis(20));
        // SAFETY: the Arc keeps the event alive.
        unsafe { Event::notify(&*e) };
        t.join().unwrap();
    }

    #[test]
    fn shutdown_wakes_every_sleeper() {
        let e = Arc::new(Event::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let e = e.clone();
                std::thread::spawn(move || e.wait())
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(20));
        // SAFETY: the Arc keeps the event alive.
        unsafe { Event::shutdown(&*e) };
        for t in threads {
            t.join().unwrap();
        }
    }
}
