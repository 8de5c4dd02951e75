//! `Quiet`: tells threads that wait for a pool to go quiet when it has.
//!
//! A pool is *quiet* at an instant when no task is queued or running in it.
//! `ThreadPool::wait_idle` waits for the first quiet instant after its call:
//! every task accepted before the call, and every task those spawned, has
//! finished by then. Neither the tasks nor the path from one task to the
//! next touch this structure, and the threads that run them write only a
//! word of their own:
//!
//! * Each worker has a [`Presence`]: a word that only it counts up,
//!   whose generation is odd while the worker may hold a task, plus a
//!   `WAITED` bit that a waiter sets. `enter` (odd) comes before the worker
//!   takes anything; `leave` (even) once it holds nothing: nothing in its
//!   hands, and its own ring and queue, which only it fills, empty. Both
//!   are RMWs on the worker's own word (uncontended); `leave` returns the
//!   `WAITED` bit, and if it is set the worker runs `check`.
//! * Threads that run a pool's task without being its workers (a waiter of
//!   a pool with no thread, `join_workers` running leftovers) count in a
//!   shared `guests` counter instead: a rare path.
//! * `wait_register`: under the lock, a waiter adds its latch to the list,
//!   sets `WAITING`, and sets `WAITED` in every registered worker's
//!   presence; then it runs `check` itself. A worker that registers later
//!   reads `WAITING` with an RMW right after its registration and marks
//!   itself (one of the two RMWs on `WAITING` sees the other).
//! * `check`, under the lock, is a double collect: every presence is read
//!   (all even, or it fails), `guests` is 0, the global queue (the one
//!   outside producers push to) is seen empty, then every presence is read
//!   again and must be unchanged (a worker that registered in between must
//!   never have entered: it holds nothing, and it may not leave soon, since
//!   a new worker that finds nothing sleeps without entering), and
//!   `guests` still 0. Then the instant
//!   between the two collects was quiet: the check clears `WAITING` and the
//!   marks and sets every latch in the list. Otherwise it does nothing: a
//!   worker that was present, or that takes the queued task, leaves later
//!   and, being marked, checks again.
//!
//! Why that proves quiet (`docs/quiet.md`): a task accepted before the
//! waiter registered was, at the queue read, still queued (the check fails)
//! or taken by a thread whose `enter` happens before that read (the take
//! is a Release that the probe acquires); from then until the task
//! finishes some holder is present (a thread leaves only with empty hands,
//! and a thief enters before it steals), so the second collect sees a
//! holder odd, or a generation changed since the first, unless every
//! holder's `leave` happened before the first collect, after the task
//! finished.
//!
//! No wake-up is lost, and no fence is needed: a waiter's mark and a
//! worker's `leave` are RMWs on the worker's word, so one sees the other.
//! No worker synchronizes with another through this structure either (the
//! pool's exit protocol must not lean on such an edge: `docs/lifecycle.md`,
//! hazard 6).
//!
//! Alternatives, and why not: a shared count of active threads (one RMW per
//! wake-up and per sleep, by every worker, on one word) makes the check a
//! single read, but in a chain of spawns on two threads a worker sleeps and
//! wakes about once per task, and that word's cache line then moves between
//! the cores on every task (measured: `chained_spawn` 2x slower). A count
//! of tasks in flight puts a contended RMW on every spawn. A marker task
//! queued behind the waiter's tasks cannot see tasks in rings or running.
//!
//! Model check: `loom_tests/quiet.rs`; whole pool: `shuttle_tests/quiet.rs`.

use super::latch::Latch;
use super::queue::{Probe, Queue};
use crate::sync::Mutex;
use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::hint::spin_loop;

/// One worker's part of `Quiet`: `WAITED` in bit 0, and above it a
/// generation, odd while the worker may hold a task. Only the worker moves
/// the generation; waiters set and clear the bit.
#[derive(Debug)]
pub struct Presence {
    word: AtomicU32,
}

/// A waiter wants this worker to check when it leaves.
const WAITED: u32 = 1;
/// One generation.
const STEP: u32 = 2;

fn present(word: u32) -> bool {
    (word / STEP) % 2 == 1
}

impl Presence {
    /// Not present, not marked.
    pub fn new() -> Self {
        Self {
            word: AtomicU32::new(0),
        }
    }

    /// The generation, for a collect.
    fn read(&self) -> u32 {
        // Acquire: pairs with `leave`'s Release RMW, so the writes of the
        // tasks its worker ran are visible to the check (and its waiters).
        self.word.load(Ordering::Acquire) & !WAITED
    }

    fn mark(&self) {
        // Relaxed: only the bit matters, and this RMW and the worker's
        // `leave` are ordered by their one location.
        self.word.fetch_or(WAITED, Ordering::Relaxed);
    }

    fn unmark(&self) {
        // Relaxed: as `mark`.
        self.word.fetch_and(!WAITED, Ordering::Relaxed);
    }
}

impl Default for Presence {
    fn default() -> Self {
        Self::new()
    }
}

/// Visits every presence of the pool (every registered worker).
pub type Scan<'a> = &'a dyn Fn(&mut dyn FnMut(&Presence));

/// The latches of the threads waiting for a quiet instant.
struct Waiters(Vec<*const Latch>);

// SAFETY: the pointers name latches on their waiters' stacks; they are only
// used, under the lock, to set each latch once, and a waiter does not
// return before its latch is set.
unsafe impl Send for Waiters {}

/// The waiters of one pool, and its guests.
pub struct Quiet {
    /// 1 while a waiter is registered.
    waiting: AtomicU32,
    /// Threads that run the pool's tasks without being its workers.
    guests: AtomicU32,
    waiters: Mutex<Waiters>,
}

impl Quiet {
    /// Nobody waiting, no guest.
    pub fn new() -> Self {
        Self {
            waiting: AtomicU32::new(0),
            guests: AtomicU32::new(0),
            waiters: Mutex::new(Waiters(Vec::new())),
        }
    }

    /// `presence`'s worker has just registered: it marks itself if a
    /// waiter is registered (a waiter marks only the workers it finds).
    /// Returns whether it did.
    pub fn join(&self, presence: &Presence) -> bool {
        // Release: a waiter whose swap of WAITING reads this RMW (or a later
        // one) sees the registration before it, and marks this worker.
        // Not Acquire: workers must not synchronize with each other here.
        // An RMW, not a load: of it and the waiter's swap, one sees the
        // other.
        let waiting = self.waiting.fetch_add(0, Ordering::Release) != 0;
        if waiting {
            presence.mark();
        }
        waiting
    }

    /// `presence`'s worker may take tasks from now on.
    pub fn enter(&self, presence: &Presence) {
        // Relaxed: what orders this before a check that must see it is the
        // take that follows (a Release unlock of a queue, a Release CAS on
        // a ring's head) and the Acquire read that sees that take
        // (`docs/quiet.md`, Q2).
        let old = presence.word.fetch_add(STEP, Ordering::Relaxed);
        debug_assert!(!present(old), "entered twice");
    }

    /// `presence`'s worker holds no task any more (and its own ring and
    /// queue are empty). `scan` visits every presence; `global` is the
    /// queue outside producers push to.
    pub fn leave(&self, presence: &Presence, scan: Scan<'_>, global: &Queue) {
        // Release: publishes the writes of the tasks this worker ran to a
        // check that reads this generation (Acquire).
        let old = presence.word.fetch_add(STEP, Ordering::Release);
        debug_assert!(present(old), "left without entering");
        if old & WAITED != 0 {
            self.check(scan, global, Some(presence));
        }
    }

    /// A thread that is not a worker of the pool is about to take one of
    /// its tasks.
    pub fn guest_enter(&self) {
        // Relaxed: as `enter` (the take orders it), and the count is read
        // after the queue probe in `check`.
        self.guests.fetch_add(1, Ordering::Relaxed);
    }

    /// The guest holds no task any more.
    pub fn guest_leave(&self, scan: Scan<'_>, global: &Queue) {
        // Release: as `leave`'s, for the check's Acquire read of `guests`.
        self.guests.fetch_sub(1, Ordering::Release);
        // Release: a registration whose swap reads this RMW (or a later one)
        // acquires the decrement above, so its check reads `guests` 0. An
        // RMW: of this and the swap, one sees the other. Not Acquire: a
        // guest that reads WAITING checks under the waiters' lock, which
        // orders the registration before it.
        if self.waiting.fetch_add(0, Ordering::Release) != 0 {
            self.check(scan, global, None);
        }
    }

    /// Holds the lock under which checks walk the workers: the workers'
    /// release (`join_workers`) waits for a running check.
    pub fn exclude_checks(&self) -> impl Drop + '_ {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `latch` to be set at the next quiet instant, and checks.
    /// The latch must stay alive until set.
    pub fn wait_register(&self, latch: &Latch, scan: Scan<'_>, global: &Queue) {
        {
            let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            waiters.0.push(latch);
            // Acquire: a worker whose `join` RMW (Release) came first is
            // found by the scan below (its registration is visible), and a
            // guest whose leave RMW came first has its decrement read by
            // the check. One of this and a `join` or leave sees the other.
            // Not Release: a thread that reads WAITING from this swap marks
            // itself or checks under this lock, and needs nothing else.
            self.waiting.swap(1, Ordering::Acquire);
            scan(&mut |presence| presence.mark());
        }
        self.check(scan, global, None);
    }

    /// Sets every waiter's latch if the pool was quiet at an instant
    /// between the two collects. `leaving` is the presence of the worker
    /// that checks, if it is one: unmarked if nobody waits any more.
    fn check(&self, scan: Scan<'_>, global: &Queue, leaving: Option<&Presence>) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if waiters.0.is_empty() {
            // A mark left over from a waiter already released.
            if let Some(presence) = leaving {
                presence.unmark();
            }
            return;
        }
        let first = collect(scan);
        // Relaxed: an early exit. A check that goes on to release reads
        // `guests` again below with Acquire (0, at or after this read).
        if first.is_none() || self.guests.load(Ordering::Relaxed) != 0 {
            return;
        }
        if !settled_empty(global) {
            return;
        }
        let Some(first) = first else { return };
        let moved = collect(scan).is_none_or(|second| !unchanged(&first, &second));
        // Acquire: pairs with a guest's Release leave, as the collects do
        // for the workers' generations.
        if moved || self.guests.load(Ordering::Acquire) != 0 {
            return;
        }
        // Relaxed: the lock orders this against the registrations.
        self.waiting.store(0, Ordering::Relaxed);
        scan(&mut |presence| presence.unmark());
        for latch in waiters.0.drain(..) {
            // SAFETY: a registered latch lives until it is set (the waiter
            // does not return before), and each is set once: it leaves the
            // list here.
            unsafe { Latch::set(latch) };
        }
    }
}

impl Default for Quiet {
    fn default() -> Self {
        Self::new()
    }
}

/// Every presence with its generation, in scan order; `None` if one is
/// odd (its worker may hold a task).
fn collect(scan: Scan<'_>) -> Option<Vec<(*const Presence, u32)>> {
    let mut generations = Vec::new();
    let mut all_even = true;
    scan(&mut |presence| {
        let generation = presence.read();
        all_even &= !present(generation);
        generations.push((presence as *const Presence, generation));
    });
    all_even.then_some(generations)
}

/// Whether nothing moved between two collects: every presence of the
/// first has the same generation in the second, and a presence that only
/// the second has (a worker that registered in between) never entered.
fn unchanged(first: &[(*const Presence, u32)], second: &[(*const Presence, u32)]) -> bool {
    second.iter().all(|(presence, generation)| {
        match first.iter().find(|(p, _)| core::ptr::eq(*p, *presence)) {
            Some((_, before)) => before == generation,
            None => *generation == 0,
        }
    })
}

/// Whether `queue` is empty, waiting out a consumer that holds its lock (it
/// may put tasks back when it releases). Its probe is an Acquire load: a
/// take seen as done (the consumer's Release unlock) brings its taker's
/// `enter` with it.
fn settled_empty(queue: &Queue) -> bool {
    loop {
        match queue.probe() {
            Probe::Empty => return true,
            Probe::NonEmpty => return false,
            Probe::Consuming => spin_loop(),
        }
    }
}
