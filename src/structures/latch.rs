//! `Latch`: a one-shot, one-waiter completion flag on a futex word, whose
//! waiter may sleep either on the latch itself or on a [`Bell`] elsewhere.
//!
//! ```text
//! UNSET(0) ──> SET(2)                        nobody slept
//! UNSET ──> SLEEPING(1) ──> SET              the waiter sleeps on this futex
//! UNSET ──> RINGING(3) ──> SETTING(4) ──> SET
//!                                            the waiter sleeps on a bell
//! RINGING ──> SLEEPING                       ... and moves to this futex
//! ```
//!
//! * `probe` is an Acquire load: true once the word is SET, and then
//!   everything the setter wrote before `set` is visible. SET is final.
//! * `wait` blocks the calling thread on the latch's own futex: it announces
//!   SLEEPING with a CAS and sleeps while the word stays SLEEPING.
//! * `announce(bell)` records a bell that the waiter is going to sleep on
//!   (a worker inside a task sleeps on its pool's bell, where the pool's own
//!   notifications reach it too), then CASes UNSET to RINGING.
//! * `set` CASes the word to SET, or, if it finds RINGING, to SETTING; then
//!   it reads the recorded bell, rings it, and only then stores SET.
//!
//! A wake-up cannot be lost. The futex sleeper sleeps only while the word is
//! SLEEPING, and the setter reads SLEEPING exactly when the waiter's CAS came
//! first, in which case it wakes the futex. The bell sleeper checks "SETTING
//! or SET" as its bell condition, and the setter rings after writing
//! SETTING (`bell.rs`).
//!
//! Latches carry the completion of fork-join work: a `join` job, the tasks of
//! a `scope`, a task behind a `JoinHandle`. The waiter usually frees the latch
//! (it lives in the waiter's stack frame) as soon as it sees SET, so `set`
//! takes a raw pointer and touches nothing after the word becomes SET except
//! the futex address, which the kernel never dereferences (as
//! `Event::notify`, hazard 5). SETTING is what keeps the latch, and the bell,
//! alive while the setter rings: the waiter does not return before SET, and
//! the bell's owner (the waiter's pool) outlives the waiter's task.
//!
//! Proof: `docs/fork_join.md` ("the latch"); model check: `loom_tests/latch.rs`.

use super::bell::Bell;
use crate::sync::UnsafeCell;
use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::futex;
use crate::sync::hint::spin_loop;
use core::ptr;

const UNSET: u32 = 0;
const SLEEPING: u32 = 1;
const SET: u32 = 2;
const RINGING: u32 = 3;
const SETTING: u32 = 4;

/// A one-shot completion flag that one thread may block on.
#[derive(Debug)]
pub struct Latch {
    state: AtomicU32,
    /// The bell the waiter sleeps on (RINGING): written by the waiter before
    /// its Release CAS to RINGING, read by the setter after its Acquire CAS
    /// from RINGING; never written again once announced.
    bell: UnsafeCell<*const Bell>,
}

// SAFETY: `bell` is written once, before the Release CAS that publishes it,
// and read only after an Acquire CAS that read that publication.
unsafe impl Sync for Latch {}
// SAFETY: as above; the pointer names a bell that outlives its use.
unsafe impl Send for Latch {}

impl Latch {
    crate::sync::const_fn_unless_loom! {
        /// A latch that is not set.
        pub fn new() -> Self {
            Self { state: AtomicU32::new(UNSET), bell: UnsafeCell::new(ptr::null()) }
        }
    }

    /// Whether the latch is set. Once it returns true, the setter's writes
    /// before `set` are visible to the caller.
    pub fn probe(&self) -> bool {
        // Acquire: synchronizes with the Release write of SET in `set`.
        self.state.load(Ordering::Acquire) == SET
    }

    /// Whether `set` has begun: the condition a bell sleeper checks. Not a
    /// licence to free the latch (`probe` is).
    pub fn is_setting(&self) -> bool {
        // Relaxed: read after the bell's SeqCst fence, which orders it.
        matches!(self.state.load(Ordering::Relaxed), SETTING | SET)
    }

    /// The waiter is about to sleep on `bell`: `set` will ring it. False if
    /// the latch is already being set (then do not sleep). Call at most once
    /// per latch.
    pub fn announce(&self, bell: &Bell) -> bool {
        // SAFETY: before the CAS below no setter reads `bell` (it reads it
        // only after seeing RINGING), and only the waiter writes it.
        self.bell.with_mut(|b| unsafe { *b = bell });
        // Release: the setter's Acquire CAS from RINGING sees `bell`.
        // Failure: SETTING or SET (a setter came first); Relaxed, since the
        // caller re-checks with `probe` before it frees anything.
        match self
            .state
            .compare_exchange(UNSET, RINGING, Ordering::Release, Ordering::Relaxed)
        {
            Ok(_) => true,
            Err(actual) => {
                debug_assert!(matches!(actual, SETTING | SET), "announced twice");
                false
            }
        }
    }

    /// Sets the latch and wakes its waiter, if one sleeps.
    ///
    /// # Safety
    /// `this` points to a live latch. The waiter may free it as soon as the
    /// word is SET; this function does not touch it afterwards. A bell
    /// announced on the latch is live until the latch is SET.
    pub unsafe fn set(this: *const Self) {
        // SAFETY: live until the word is SET (contract above).
        let state = unsafe { &raw const (*this).state };
        // First guess: nobody sleeps (the common case costs one CAS).
        let mut old = UNSET;
        loop {
            let new = if old == RINGING { SETTING } else { SET };
            // AcqRel. Release: the setter's writes (a job's result) come
            // before SET, for the Acquire loads of `probe`. Acquire: from
            // RINGING, the waiter's write of `bell` is visible.
            // SAFETY: as above.
            match unsafe {
                (*state).compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Relaxed)
            } {
                Ok(_) => break,
                Err(actual) => old = actual,
            }
        }
        match old {
            UNSET => {}
            // The word may be freed by now: wake by address only.
            SLEEPING => futex::wake_one(state),
            RINGING => {
                // SETTING: the waiter does not return before SET, so the
                // latch, and the bell (owned by the waiter's pool, which
                // outlives the waiter's task), are alive.
                // SAFETY: published by the waiter's Release CAS, which our
                // Acquire CAS read.
                let bell = unsafe { (*this).bell.with(|b| *b) };
                // SAFETY: alive, as above.
                unsafe { Bell::ring(bell) };
                // Release: as for SET above; the waiter may free the latch
                // once it sees this.
                // SAFETY: alive until this store.
                unsafe { (*state).store(SET, Ordering::Release) };
            }
            _ => unreachable!("a latch set twice"),
        }
    }

    /// Makes a set latch usable again (UNSET), for a waiter that waits
    /// for a series of events (`block_on`, `fork_join/future.rs`).
    ///
    /// # Safety
    /// The caller is the latch's waiter, it saw the latch set (`probe` or
    /// `wait` returned), and no `set` can start before a later Release
    /// operation of the caller publishes the reset.
    pub unsafe fn reset(&self) {
        debug_assert!(self.probe(), "reset before set");
        // Relaxed: published to the next setter by the caller's Release.
        self.state.store(UNSET, Ordering::Relaxed);
    }

    /// Blocks until the latch is set, on its own futex. Only one thread may
    /// wait on a latch (a worker that announced a bell may fall back to this
    /// after its pool shut down).
    pub fn wait(&self) {
        loop {
            // Acquire: as in `probe`.
            match self.state.load(Ordering::Acquire) {
                SET => return,
                // The setter is ringing: it stores SET next.
                SETTING => spin_loop(),
                SLEEPING => futex::wait(&self.state, SLEEPING),
                current => {
                    // Relaxed: announcing SLEEPING publishes nothing; the
                    // futex's own value check orders the sleep against
                    // `set`. A failure re-reads the word.
                    let _ = self.state.compare_exchange(
                        current,
                        SLEEPING,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                }
            }
        }
    }
}
