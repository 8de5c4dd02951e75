//! The wake protocol: every transition of the `Sync` word.
//!
//! Producers push a task and then `notify`; workers that find nothing `wait`.
//! Both meet in one atomic word (`sync_word.rs`):
//!
//! * `notify` posts `notified = true`. If the state is `Pending` (nobody is
//!   waking) it also moves the state to `Signaled` and either wakes an idle
//!   thread or spawns a new one (up to `max_threads`).
//! * `hand_on`: a waking thread that found work ends its role. If more work
//!   may be waiting (it saw some, or a notification arrived while it was
//!   waking) it wakes or starts the next thread, as `notify` would;
//!   otherwise it only gives the role up (`Pending`), and the next push
//!   wakes a thread.
//! * `wait` consumes `notified` (turning `Signaled` into `Waking` if it is
//!   the signalled thread) and returns to search again; with nothing posted
//!   it counts itself idle and sleeps on the idle event.
//! * `enter_shutdown` makes the state `Shutdown`, final; counts only go down
//!   from there.
//! * `spawn_failed` gives back the count of a thread that never started and
//!   repairs what its spawn stood for (hazard 4); `unregister` gives back the
//!   count of a worker that leaves, and the last one out after shutdown
//!   posts the joiner's token.
//!
//! So at most one thread is waking at a time, no notification is lost while
//! one is (the `notified` bit outlives it), and an idle thread is woken only
//! when nobody is already searching.
//!
//! # Why this design
//!
//! The word throttles wake-ups: a burst of schedules wakes one thread, and
//! that thread wakes the next only once it found work. Alternatives, and why
//! they lose here:
//!
//! * *Wake on every push* (a futex wake, or a semaphore post, per task): a
//!   burst of N spawns costs N system calls and wakes N threads that mostly
//!   find nothing (the thundering herd). The `notified` bit merges every
//!   push that lands while a notification is pending into that one.
//! * *Hand-off* (the producer gives the task itself to a chosen sleeper, as
//!   a channel per worker would): the producer must pick a thread, the
//!   chosen thread may be slow to wake while another is already awake, and
//!   a task bound to a thread cannot be stolen. Here tasks stay in queues
//!   that any awake thread searches.
//! * *Always hand on* (a waking thread that found work wakes the next one
//!   whatever it saw, as Go's `resetspinning` and tokio's last searcher
//!   do): every lone task then costs a second thread's wake-up, fruitless
//!   search and sleep. With one task at a time arriving from outside, that
//!   was about 20 µs of CPU per task at 2 threads, against about 1 µs
//!   without it (`docs/benchmarks`, trickle). `hand_on` wakes the next
//!   thread only when more work may be waiting; the one case it cannot see
//!   (a push that lands after its look) posts `notified` or finds the state
//!   `Pending`, and so wakes a thread itself.
//! * *A count of searching threads* (Go's `nmspinning`, tokio's `num_searching`):
//!   several threads may search at once, and a producer wakes another only
//!   if none is searching. It needs a second counter that must agree with
//!   the idle count under races; the single `Waking` token gives the same
//!   "nobody is searching, so wake one" test in the word the producer
//!   already reads, with one thread searching at a time.
//!
//! # Hazard 1: the read-only fast path
//!
//! The `notify` fast path only *reads* the word: if `notified` is already
//! set, someone will consume it and search again. That read races with the
//! consumer's clearing CAS followed by its search (store buffering): the
//! producer could read a stale `notified = true` while the consumer's search
//! misses the push. A SeqCst fence after the push (in `notify`) and one after
//! the consuming CAS (in `wait`) forbid that outcome: of two SeqCst fences
//! one is first, and the thread after it sees the other's write
//! (`docs/sync_word.md`). The alternative, an RMW in place of the read,
//! writes the shared word on every schedule; it was measured no faster
//! here, and costs more on more cores.

use super::Pool;
use super::sync_word::{ONE_SPAWNED, State, SyncWord};
use crate::structures::bell::Bell;
use crate::structures::event::Event;
use crate::structures::latch::Latch;
use crate::sync::atomic::{Ordering, fence};

/// Why `wait` returned without a notification.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Stop {
    /// The pool is shut down: no notification will come any more.
    Shutdown,
    /// The latch the caller waits for is being set (`wait_idle` only).
    LatchSet,
}

/// Whether a counted thread is on its way to register (`Pool::starting`).
#[derive(Debug)]
pub(super) enum Starting {
    /// No thread is counted: nothing will run the pool's queued tasks
    /// unless a spawn is retried (`open`) or the waiter runs them.
    Nobody { open: bool },
    /// A thread is counted but has not registered: its spawn is still in
    /// the hands of the thread that started it (or of a custom spawn
    /// handler) and may yet fail, or it has started and is about to
    /// register. Either way another thread resolves it.
    OnItsWay,
}

/// Whether a leaving thread was the last one out of a pool.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Exit {
    /// Not the last, or the last with a joiner to hand the exit token to.
    Done,
    /// The last thread out of an abandoned pool: nobody will join it, so
    /// this thread must release the workers itself (`registry.rs`).
    LastOfAbandoned,
}

impl Pool {
    /// Makes sure some thread will look for the work just pushed.
    pub(super) fn notify(&self) {
        // SeqCst (hazard 1): orders the caller's push before the read of
        // `notified`; pairs with the SeqCst fence after the consuming CAS
        // in `wait`.
        fence(Ordering::SeqCst);
        let sync = self.sync_word(Ordering::Relaxed);
        // After shutdown `notified` stays set for good: the slow path,
        // which then only rings the bell, must still run.
        if sync.notified() && sync.state() != State::Shutdown {
            return;
        }
        self.notify_slow(false, false);
    }

    /// Ends the caller's waking role (it found work, or stopped looking).
    /// `more`: whether the caller saw work besides the task it took. With
    /// `more`, or with a notification posted since the caller started
    /// waking, the next thread is woken or started (the role passes to
    /// it); otherwise the role is only given up, and a later push wakes a
    /// thread because it finds the state `Pending`.
    ///
    /// Nothing is stranded either way: a push that the caller's look
    /// missed was followed by its producer's `notify`, whose slow path
    /// either posted `notified` before the CAS here (so this CAS sees it,
    /// and wakes) or runs after it (and finds `Pending`, and wakes). Its
    /// fast path returns only on a posted `notified`, which some thread
    /// consumes and searches after (I3 of `docs/sync_word.md`).
    pub(super) fn hand_on(&self, more: bool) {
        self.notify_slow(true, more);
    }

    /// After a worker published a `join` job: wake a thread to steal it if
    /// one is idle or may be started, judged from a Relaxed snapshot.
    ///
    /// Unlike `notify`, this needs no SeqCst fence (hazard 1): a `join` job
    /// is never stranded, because its owner takes it back and runs it if no
    /// thread stole it. A stale snapshot only costs parallelism for this
    /// one job, and saves a fence on every `join` (`docs/fork_join.md`).
    pub(crate) fn notify_for_join(&self) {
        if self.could_take_work() {
            self.notify_slow(false, false);
        }
    }

    /// Whether another thread could take a `join` job now: one is idle, or
    /// one more may be started, and no notification is pending. The test
    /// of `notify_for_join`, and the demand that promotes a lazy fork
    /// (`structures/fork_stack.rs`).
    #[inline]
    pub(crate) fn could_take_work(&self) -> bool {
        // Relaxed: a hint only. A stale answer wakes a thread that finds
        // nothing, or leaves a job to its owner (never stranded: the owner
        // takes its join jobs back).
        let sync = self.sync_word(Ordering::Relaxed);
        !sync.notified() && (sync.idle() > 0 || sync.spawned() < self.max_threads())
    }

    /// After a lazy fork was promoted because `could_take_work` said so:
    /// wake or start that thread (no fence, as `notify_for_join`).
    pub(crate) fn notify_promoted(&self) {
        self.notify_slow(false, false);
    }

    /// `more` is read only when `is_waking` (`hand_on`).
    #[cold]
    fn notify_slow(&self, is_waking: bool, more: bool) {
        enum Action {
            Wake,
            Spawn,
            Nothing,
        }
        let mut sync = self.sync_word(Ordering::Relaxed);
        while sync.state() != State::Shutdown {
            let can_wake = is_waking || sync.state() == State::Pending;
            if is_waking {
                debug_assert_eq!(sync.state(), State::Waking);
            }
            let mut new = sync.with_notified(true);
            let action = if is_waking && !more && !sync.notified() {
                // Nothing more seen and nothing posted: give the role up
                // and post nothing (`hand_on`).
                new = sync.with_state(State::Pending);
                Action::Nothing
            } else if can_wake && sync.idle() > 0 {
                new = new.with_state(State::Signaled);
                Action::Wake
            } else if can_wake && sync.spawned() < self.max_threads() {
                new = new
                    .with_state(State::Signaled)
                    .with_spawned(sync.spawned() + 1);
                Action::Spawn
            } else if is_waking {
                // Nobody to hand the waking role to: give it up.
                new = new.with_state(State::Pending);
                Action::Nothing
            } else if sync.notified() {
                return;
            } else {
                Action::Nothing
            };
            // Release: pairs with the Acquire consuming CAS in `wait`, so the
            // thread that consumes this notification sees the push before it.
            match self.sync.compare_exchange_weak(
                sync.bits(),
                new.bits(),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    match action {
                        // SAFETY: the pool is alive: the caller holds it.
                        Action::Wake => unsafe { Self::wake_one_idle(self) },
                        Action::Spawn => self.spawn_worker(),
                        Action::Nothing => {}
                    }
                    return;
                }
                Err(actual) => sync = SyncWord::from_bits(actual),
            }
        }
        // Shut down: nobody is idle any more and no thread starts, but a
        // worker that waits inside a task may be asleep on the bell, and
        // the work just pushed (into a worker's own ring, or left in the
        // global queue) may be what it can run: ring.
        // SAFETY: the pool is alive: the caller holds it.
        unsafe { Bell::ring(&self.bell) };
    }

    /// Starts up to `n` threads now, without a notification: each is
    /// counted in `spawned` by the same CAS discipline as `notify_slow`'s
    /// spawn (never past `max_threads`, never after shutdown), then started.
    /// A started thread finds nothing posted and goes idle, as a worker
    /// that finished its tasks does. Returns how many were started, or the
    /// first spawn's error (its count already given back by `spawn_failed`,
    /// whose repair is then at worst one spurious wake-up: a signal it
    /// gives up belongs to a thread that is still counted and consumes the
    /// notification anyway).
    pub(crate) fn warm(&self, n: usize) -> std::io::Result<usize> {
        let mut started = 0;
        while started < n {
            // Relaxed: counting a thread publishes nothing; the thread
            // spawn orders the pool's memory before the new thread.
            let counted = self
                .sync
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                    let sync = SyncWord::from_bits(bits);
                    let room =
                        sync.state() != State::Shutdown && sync.spawned() < self.max_threads();
                    room.then(|| sync.with_spawned(sync.spawned() + 1).bits())
                });
            if counted.is_err() {
                break;
            }
            self.start_worker()?;
            started += 1;
        }
        Ok(started)
    }

    /// Wakes one idle thread: a worker asleep on the idle event (it gets the
    /// token), and every worker asleep on the bell, inside a task (each
    /// checks the word again; one of them, or the token's taker, consumes
    /// the notification).
    ///
    /// # Safety
    /// `this` is alive for the whole call (the caller holds a count or a
    /// reference).
    unsafe fn wake_one_idle(this: *const Pool) {
        // SAFETY: alive (contract).
        unsafe {
            Event::notify(&raw const (*this).idle_event);
            Bell::ring(&raw const (*this).bell);
        }
    }

    /// A worker's run loop found nothing: blocks until notified. Returns
    /// whether this thread is now the waking thread, or `Shutdown`.
    ///
    /// `seen` is the last broadcast epoch the worker ran: while a broadcast
    /// it has not run is in flight, it returns `Ok(false)` to search (and
    /// run its piece) instead of sleeping (`broadcast.rs`).
    pub(super) fn wait(&self, is_waking: bool, seen: usize) -> Result<bool, Stop> {
        self.wait_idle(is_waking, None, seen)
    }

    /// As `wait`, for a worker inside a task that waits for `latch` and
    /// found nothing to run: idle in the word (so `notify` counts on it, and
    /// wakes it through the bell), asleep on the bell, until notified or
    /// until the latch is being set (`Stop::LatchSet`, idle count given
    /// back). The caller announced the bell on the latch.
    /// As `wait`, a broadcast piece it has not run also ends the wait.
    pub(super) fn wait_until(
        &self,
        is_waking: bool,
        latch: &Latch,
        seen: usize,
    ) -> Result<bool, Stop> {
        self.wait_idle(is_waking, Some(latch), seen)
    }

    fn wait_idle(
        &self,
        mut is_waking: bool,
        until: Option<&Latch>,
        seen: usize,
    ) -> Result<bool, Stop> {
        let mut is_idle = false;
        let mut sync = self.sync_word(Ordering::Relaxed);
        loop {
            if sync.state() == State::Shutdown {
                // Acquire: pairs with the AcqRel shutdown CAS (every later
                // change of the word is an RMW, so this read is in its release
                // sequence), so the closed global queue and everything pushed
                // before it are visible to the drain that follows. A load,
                // not a fence: ThreadSanitizer does not model fences.
                self.sync.load(Ordering::Acquire);
                return Err(Stop::Shutdown);
            }
            if is_waking {
                debug_assert_eq!(sync.state(), State::Waking);
            }

            if sync.notified() {
                let mut new = sync.with_notified(false);
                if is_idle {
                    new = new.with_idle(sync.idle() - 1);
                }
                if sync.state() == State::Signaled {
                    new = new.with_state(State::Waking);
                }
                // Acquire: pairs with the Release CAS in `notify_slow`.
                match self.sync.compare_exchange_weak(
                    sync.bits(),
                    new.bits(),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SeqCst (hazard 1): orders this consuming CAS before
                        // the search that follows; pairs with the fence in
                        // `notify`.
                        fence(Ordering::SeqCst);
                        return Ok(is_waking || sync.state() == State::Signaled);
                    }
                    Err(actual) => sync = SyncWord::from_bits(actual),
                }
            } else if !is_idle {
                let mut new = sync.with_idle(sync.idle() + 1);
                if is_waking {
                    new = new.with_state(State::Pending);
                }
                // Relaxed: going idle publishes nothing; the notification
                // that ends it carries the edge.
                match self.sync.compare_exchange_weak(
                    sync.bits(),
                    new.bits(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        is_waking = false;
                        is_idle = true;
                        sync = new;
                    }
                    Err(actual) => sync = SyncWord::from_bits(actual),
                }
            } else if until.is_some_and(Latch::is_setting) || self.has_broadcast(seen) {
                // Leave: the latch, or a broadcast piece to run, not a
                // notification, ends this wait. Only with `notified` clear
                // (the branch above comes first), so no notification
                // counted on this thread. Relaxed: as going idle.
                match self.sync.compare_exchange_weak(
                    sync.bits(),
                    sync.with_idle(sync.idle() - 1).bits(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) if until.is_some_and(Latch::is_setting) => return Err(Stop::LatchSet),
                    Ok(_) => return Ok(false),
                    Err(actual) => sync = SyncWord::from_bits(actual),
                }
            } else if until.is_some() || self.broadcasting() {
                // Sleep on the bell, whose condition is "notified, shut
                // down, the latch being set, or a broadcast piece to run"
                // (and, for an idle worker of the run loop, "no broadcast
                // any more": back to the event): `wake_one_idle` rings it
                // after a notification, `shutdown` after the state, the
                // latch's setter after SETTING, a broadcaster after it
                // publishes and after it is done.
                let epoch = self.bell.prepare();
                sync = self.sync_word(Ordering::Relaxed);
                if sync.notified()
                    || sync.state() == State::Shutdown
                    || until.is_some_and(Latch::is_setting)
                    || self.has_broadcast(seen)
                    || (until.is_none() && !self.broadcasting())
                {
                    self.bell.cancel();
                } else {
                    self.bell.sleep(epoch);
                    sync = self.sync_word(Ordering::Relaxed);
                }
            } else {
                self.idle_event.wait();
                if self.broadcasting() {
                    // Every worker asleep on the event when a broadcast
                    // began must wake: pass a token on before moving to
                    // the bell (`broadcast.rs`).
                    // SAFETY: the pool is alive: the caller is its worker.
                    unsafe { Event::notify(&self.idle_event) };
                }
                sync = self.sync_word(Ordering::Relaxed);
            }
        }
    }

    /// Moves the word to `Shutdown` (and releases every idle count), marking
    /// it abandoned if `abandon`. Returns the word as it was, or `None` if
    /// nothing changed (already shut down, and abandoned if asked).
    pub(super) fn enter_shutdown(&self, abandon: bool) -> Option<SyncWord> {
        let mut sync = self.sync_word(Ordering::Relaxed);
        loop {
            if sync.state() == State::Shutdown && (sync.abandoned() || !abandon) {
                return None;
            }
            let mut new = sync
                .with_state(State::Shutdown)
                .with_notified(true)
                .with_idle(0);
            if abandon {
                new = new.with_abandoned();
            }
            // AcqRel: Release publishes the close of the global queue (just
            // before, in `shutdown`) to the workers' drain (their Acquire
            // load in `wait`); Acquire orders the exit notification that
            // `shutdown` may post after every earlier exit.
            match self.sync.compare_exchange_weak(
                sync.bits(),
                new.bits(),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(sync),
                Err(actual) => sync = SyncWord::from_bits(actual),
            }
        }
    }

    /// A worker leaves: gives up its `spawned` count; the last one out after
    /// shutdown wakes the joiner, or, if the pool was abandoned, is told so.
    ///
    /// # Safety
    /// `pool` is alive and the caller is counted in `spawned`. After this
    /// call the caller must not touch the pool (the joiner may free it),
    /// unless it returned `Exit::LastOfAbandoned`.
    pub(super) unsafe fn unregister(pool: *const Pool) -> Exit {
        crate::sync::ghost::assert_live(pool.cast(), "a leaving worker");
        // SAFETY: alive until this RMW, by the contract.
        let sync = unsafe { &raw const (*pool).sync };
        // AcqRel (hazard 6): the Release half puts this worker's registration
        // and its whole run before the exit; the Acquire half lets the last
        // one out carry every earlier exit on to the joiner.
        // SAFETY: as above.
        let old = SyncWord::from_bits(unsafe { (*sync).fetch_sub(ONE_SPAWNED, Ordering::AcqRel) });
        debug_assert!(old.spawned() > 0);
        debug_assert_eq!(
            old.state(),
            State::Shutdown,
            "workers leave only after shutdown"
        );
        if old.state() == State::Shutdown && old.spawned() == 1 {
            if old.abandoned() {
                // Nobody joins: the caller does (and it may touch the pool,
                // since nobody else will free it).
                return Exit::LastOfAbandoned;
            }
            crate::sync::ghost::assert_live(pool.cast(), "the last worker's exit notification");
            // SAFETY: the joiner cannot have returned: it waits for this very
            // token. The event takes the pointer, not a reference (hazard 5).
            unsafe { Event::notify(&raw const (*pool).last_exit) };
        }
        Exit::Done
    }

    /// A spawn decided by `notify_slow` did not happen: undo it (hazard 4).
    ///
    /// # Safety
    /// `pool` is alive and the failed thread was counted in `spawned`.
    pub(super) unsafe fn spawn_failed(pool: *const Pool) {
        crate::sync::ghost::assert_live(pool.cast(), "a failed spawn's repair");
        // SAFETY: alive by the contract, until the CAS below. Relaxed: a
        // statistic for `ThreadPool::metrics`; it orders nothing.
        unsafe { (*pool).failed_spawns.fetch_add(1, Ordering::Relaxed) };
        // SAFETY: alive by the contract, until the CAS below.
        let word = unsafe { &raw const (*pool).sync };
        // SAFETY: as above.
        let mut sync = SyncWord::from_bits(unsafe { (*word).load(Ordering::Relaxed) });
        let mut woken = false;
        loop {
            debug_assert!(sync.spawned() > 0);
            let remaining = sync.spawned() - 1;
            let mut new = sync.with_spawned(remaining);
            match sync.state() {
                // The signal our spawn stood for may still be unconsumed.
                // Pass it to an idle thread if there is one; otherwise give
                // it up so the next notify can try again.
                //
                // The wake comes *before* the CAS that gives our count back:
                // the count is what keeps the pool alive for this thread,
                // which may be any thread that dropped an unrun
                // `WorkerThread`, not a user of the pool. A wake that turns
                // out early is harmless: the woken thread reloads the word,
                // and our CAS then fails and decides again.
                State::Signaled if sync.idle() > 0 => {
                    if !woken {
                        // SAFETY: we still hold a count: the pool is alive.
                        unsafe { Self::wake_one_idle(pool) };
                        woken = true;
                    }
                }
                State::Signaled | State::Pending => {
                    new = new.with_state(State::Pending);
                    if remaining == 0 {
                        // No thread is left to consume `notified`: clear it,
                        // or every later notify would take the fast path and
                        // no thread would ever be spawned again.
                        new = new.with_notified(false);
                    }
                }
                // Another thread already took the signal (it is waking), or
                // the pool is shutting down.
                State::Waking | State::Shutdown => {}
            }
            // AcqRel: as in `unregister` (this may be the last count after
            // shutdown, handing the joiner its token).
            // SAFETY: alive until this RMW succeeds.
            match unsafe {
                (*word).compare_exchange_weak(
                    sync.bits(),
                    new.bits(),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
            } {
                Ok(_) => {
                    if sync.state() == State::Shutdown && remaining == 0 {
                        if sync.abandoned() {
                            // Nobody joins: release the workers. The pool is
                            // not freed here (this may run inside the spawn
                            // handler, a closure the pool owns): it leaks.
                            // SAFETY: nobody else frees it.
                            unsafe { (*pool).release_workers() };
                            return;
                        }
                        crate::sync::ghost::assert_live(
                            pool.cast(),
                            "a failed spawn's exit notification",
                        );
                        // SAFETY: the joiner waits for this very token, so the
                        // pool is alive until it is posted; the event takes a
                        // pointer (hazard 5). Nothing else touches the pool
                        // after the CAS: our count is gone.
                        unsafe { Event::notify(&raw const (*pool).last_exit) };
                    }
                    return;
                }
                Err(actual) => sync = SyncWord::from_bits(actual),
            }
        }
    }

    /// For a waiter whose job's pool has no registered worker: is a thread
    /// on its way?
    pub(super) fn starting(&self) -> Starting {
        // Relaxed: a hint; `notify` decides with its own CAS, and a stale
        // answer only costs the waiter one more round.
        let sync = self.sync_word(Ordering::Relaxed);
        if sync.spawned() == 0 {
            Starting::Nobody {
                open: sync.state() != State::Shutdown,
            }
        } else {
            Starting::OnItsWay
        }
    }

    /// Tries to start a worker for work that is already queued: a `notify`
    /// on behalf of a waiter (a failure goes to the spawn error handler).
    pub(super) fn retry_spawn(&self) {
        self.notify();
    }

    /// How many workers a search should visit this round.
    pub(super) fn spawned_hint(&self) -> u32 {
        // Relaxed: only a bound on how many workers to visit.
        self.sync_word(Ordering::Relaxed).spawned()
    }
}
