//! `Quiet`: tells threads that wait for a pool to go quiet when it has.
//!
//! A pool is *quiet* at an instant when no task is queued or running in it.
//! `ThreadPool::wait_idle` waits for the first quiet instant after its call:
//! every task accepted before the call, and every task those spawned, has
//! finished by then. The pool's tasks never touch this structure: only the
//! threads that run them do, when they start and stop looking for work.
//!
//! ```text
//!  31      | 30 ........................... 0
//!  WAITERS | active: threads that may hold a task
//! ```
//!
//! * `activate` (`fetch_add`): a thread is about to look for tasks (a worker
//!   woken in its run loop, a worker draining after shutdown, a thread that
//!   runs a pool's queued task itself).
//! * `deactivate` (`fetch_sub`): it holds no task any more: nothing in its
//!   hands, and its own ring and queue, which only it fills, are empty.
//!   The thread that brings `active` to 0 while `WAITERS` is set runs
//!   `check`.
//! * `wait_register`: a waiter adds its latch to the list and sets `WAITERS`
//!   (both under the lock); if `active` was 0 it runs `check` itself.
//! * `check`, under the lock: the queue the pool's outside producers push
//!   to (the *global* queue) is seen empty, *then* `active` is read as 0.
//!   If both hold, that read is a quiet instant: the check clears `WAITERS`,
//!   takes the whole list and sets every latch in it. Otherwise it does
//!   nothing: a thread still active, or one that will take the queued task,
//!   deactivates later and checks again. A check runs only after an RMW
//!   that read 0, and it first reads the word again with Acquire, so it
//!   sees every take of the threads that deactivated: a task it sees
//!   queued is really there, or was taken by a thread that is still
//!   active.
//!
//! Why the two reads prove quiet (`docs/quiet.md`): a task accepted before
//! the waiter registered is, at the queue read, either still queued (the
//! check fails) or was taken by an active thread; from then until it
//! finishes some active thread holds it (a thread deactivates only with
//! empty hands, and a thief activates before it steals), so `active`
//! cannot read 0 in between. The registration, the queue read and the
//! counter read all happen under the lock, so every waiter in the list
//! registered before the queue read.
//!
//! Alternatives, and why not: a count of tasks in flight (one RMW on a
//! shared word per task spawned and per task finished) would make
//! `wait_idle` exact without a quiet instant, but it puts a contended write
//! on every task; the pool's idle path already writes the `Sync` word, so
//! `active` costs two uncontended RMWs per wake-up and none per task. A
//! marker task queued behind the waiter's tasks cannot see tasks that are
//! in workers' rings or running.
//!
//! Model check: `loom_tests/quiet.rs`; whole pool: `shuttle_tests/api.rs`.

use super::latch::Latch;
use super::queue::{Probe, Queue};
use crate::sync::Mutex;
use crate::sync::atomic::{AtomicU32, Ordering};
use crate::sync::hint::spin_loop;

const WAITERS: u32 = 1 << 31;
const ACTIVE_MASK: u32 = WAITERS - 1;

/// The latches of the threads waiting for a quiet instant.
struct Waiters(Vec<*const Latch>);

// SAFETY: the pointers name latches on their waiters' stacks; they are only
// used, under the lock, to set each latch once, and a waiter does not
// return before its latch is set.
unsafe impl Send for Waiters {}

/// The active count and the waiters of one pool.
pub struct Quiet {
    word: AtomicU32,
    waiters: Mutex<Waiters>,
}

impl Quiet {
    /// No thread active, nobody waiting.
    pub fn new() -> Self {
        Self {
            word: AtomicU32::new(0),
            waiters: Mutex::new(Waiters(Vec::new())),
        }
    }

    /// The calling thread may take tasks from now on.
    pub fn activate(&self) {
        // Relaxed: what orders this before a `check` that must count it is
        // the take or steal that follows it (a Release unlock of a queue, a
        // Release CAS of a ring's head) and the Acquire read that sees that
        // take: `docs/quiet.md`, Q2.
        let old = self.word.fetch_add(1, Ordering::Relaxed);
        debug_assert!(old & ACTIVE_MASK < ACTIVE_MASK, "active count overflow");
    }

    /// The calling thread holds no task any more (and its own ring and
    /// queue are empty). `global` is the queue outside producers push to.
    pub fn deactivate(&self, global: &Queue) {
        // Release: publishes what the tasks this thread ran wrote, and its
        // takes from the queue; pairs with the Acquire loads in `check`
        // (every write of the word is an RMW, so a later value still
        // carries it). Not AcqRel: only the thread that checks needs the
        // other threads' takes, and it acquires them there; an Acquire
        // here would order every worker's exit after every other's.
        let old = self.word.fetch_sub(1, Ordering::Release);
        debug_assert!(old & ACTIVE_MASK > 0, "deactivated more than activated");
        if old == WAITERS | 1 {
            self.check(global);
        }
    }

    /// Registers `latch` to be set at the next quiet instant, checking at
    /// once if no thread is active. The latch must stay alive until set.
    pub fn wait_register(&self, latch: &Latch, global: &Queue) {
        let idle = {
            let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            waiters.0.push(latch);
            // Relaxed: the lock carries the registration to any other
            // check, and a waiter that checks itself acquires there.
            let old = self.word.fetch_or(WAITERS, Ordering::Relaxed);
            old & ACTIVE_MASK == 0
        };
        if idle {
            self.check(global);
        }
    }

    /// Sets every waiter's latch if the pool is quiet now.
    fn check(&self, global: &Queue) {
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        // Acquire: the check runs after an RMW that read 0 (its caller's
        // deactivation or registration); this load reads that value or a
        // later one, so it synchronizes with every deactivation before it,
        // and the probe below sees their takes: a task already taken is not
        // seen queued (a stale "queued" would skip the only check: a
        // hang). A load, not a fence: ThreadSanitizer does not model
        // fences.
        self.word.load(Ordering::Acquire);
        // First the queue, then the count: a task taken from the queue
        // after the count was read could be running unseen.
        if !settled_empty(global) {
            return;
        }
        // Acquire: pairs with every deactivation (they form one release
        // sequence: all writes of the word are RMWs), so the effects of
        // every finished task are visible to the woken waiters.
        if self.word.load(Ordering::Acquire) & ACTIVE_MASK != 0 {
            return;
        }
        // Relaxed: the lock orders this against the registrations.
        self.word.fetch_and(!WAITERS, Ordering::Relaxed);
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

/// Whether `queue` is empty, waiting out a consumer that holds its lock (it
/// may put tasks back when it releases). Acquire: a take seen as done
/// (the consumer's Release unlock) brings its taker's activation with it.
fn settled_empty(queue: &Queue) -> bool {
    loop {
        match queue.probe() {
            Probe::Empty => return true,
            Probe::NonEmpty => return false,
            Probe::Consuming => spin_loop(),
        }
    }
}
