//! Broadcasts: one closure run once on every thread of the pool
//! (`ThreadPool::broadcast`).
//!
//! Tasks go to whichever thread finds them; a broadcast must reach each
//! thread in particular, and a thread that waits inside a task runs other
//! tasks meanwhile, so a broadcast cannot be a batch of ordinary tasks
//! (one thread could take two pieces while another takes none). Instead:
//!
//! * The broadcaster starts every thread (`warm`), then *publishes* a job
//!   under the pool's broadcast lock: the job gets the next epoch (1, 2,
//!   ...), joins the list of live jobs, and `latest` and `broadcasting`
//!   say so to the threads that only look. It then wakes every idle worker
//!   (below) and waits for the job's latch as `join` waits.
//! * Each worker remembers the last epoch it ran (`seen`, its own). When
//!   its ring is empty (`take_local`), and before it sleeps, it compares
//!   `seen` with `latest`; if it is behind, it takes the oldest job after
//!   `seen` under the lock, advances `seen` to that job's epoch, and runs
//!   the piece with its index. A job counts down the threads still to run
//!   it; the last one sets its latch. So each worker runs each job exactly
//!   once, and a job is not freed while a worker may still run it (the
//!   count includes that worker).
//! * Shutdown and publication exclude each other: `shutdown` moves the
//!   word to `Shutdown` holding the broadcast lock, and a broadcaster
//!   publishes only if, under the lock, the word is not `Shutdown` (else
//!   the broadcast panics: the pool is shut down). So a job is published
//!   before the shutdown, and every worker, which leaves only after it saw
//!   the shutdown, sees the job and runs its piece in its drain, whose
//!   search looks for owed pieces as every search does.
//!
//! Waking. Idle workers sleep on the pool's idle event, which wakes one
//! sleeper per token. While `broadcasting` is non-zero they sleep on the
//! pool's bell instead, whose condition includes "a job I have not run",
//! and which the broadcaster rings after publishing; a worker that comes
//! out of the idle event during a broadcast passes a token on before it
//! moves to the bell, so every worker asleep on the event when the
//! broadcast began is woken in turn (`wake.rs`). When the last broadcast
//! ends the bell rings again and the workers go back to the event.
//!
//! Proof sketch and limits: `docs/broadcast.md`.

use super::Pool;
use super::worker::{LocalWorker, wait_for};
use crate::structures::bell::Bell;
use crate::structures::event::Event;
use crate::structures::latch::Latch;
use crate::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// A published broadcast, on its broadcaster's stack.
struct Job {
    piece: *const (dyn Fn(usize) + Sync),
    /// Threads that have not finished their piece yet.
    remaining: AtomicUsize,
    latch: Latch,
}

/// The broadcast lock's contents.
pub(super) struct Jobs {
    /// Live jobs, oldest first, with their epochs.
    live: Vec<(usize, *const Job)>,
    /// The epoch the last published job got.
    last_epoch: usize,
}

impl Jobs {
    pub(super) const fn new() -> Self {
        Self {
            live: Vec::new(),
            last_epoch: 0,
        }
    }
}

// SAFETY: the job pointers are used only under the broadcast protocol: a
// job outlives every thread that may still run it (its count includes
// them), and its piece is `Sync`.
unsafe impl Send for Jobs {}

/// What idle and searching workers read to learn of a broadcast, on a
/// cache line of its own (128 bytes: adjacent-line prefetchers pair lines),
/// away from the pool's busy words (the `Sync` word, the global queue):
/// read on every empty-ring search and idle step, written only by
/// broadcasters.
#[repr(align(128))]
pub(super) struct Hints {
    /// The epoch of the newest broadcast: a worker behind it owes a piece.
    latest: AtomicUsize,
    /// How many broadcasts are in flight (idle workers then sleep on the
    /// bell).
    active: AtomicU32,
}

impl Hints {
    pub(super) fn new() -> Self {
        Self {
            latest: AtomicUsize::new(0),
            active: AtomicU32::new(0),
        }
    }
}

/// Why a broadcast could not run.
#[derive(Debug)]
pub(crate) enum BroadcastError {
    /// A thread could not be started.
    Spawn(std::io::Error),
    /// The pool is shut down.
    ShutDown,
}

impl Pool {
    /// Runs `piece(index)` once on every thread of the pool, starting them
    /// first. Returns once every piece has finished. `piece` catches its
    /// own panics.
    pub(crate) fn broadcast(&self, piece: &(dyn Fn(usize) + Sync)) -> Result<(), BroadcastError> {
        let threads = self.config.max_threads;
        self.warm(threads).map_err(BroadcastError::Spawn)?;
        if self.debug_word().spawned() as usize != threads {
            return Err(BroadcastError::ShutDown);
        }
        // The job lives on this frame, which returns only after its latch
        // is set, i.e. after the last piece finished and the job left the
        // list.
        let piece: *const (dyn Fn(usize) + Sync + '_) = piece;
        // SAFETY: only the lifetime is erased; the job (and so every use of
        // the pointer) ends before this call returns.
        let piece: *const (dyn Fn(usize) + Sync) = unsafe { core::mem::transmute(piece) };
        let job = Job {
            piece,
            remaining: AtomicUsize::new(threads),
            latch: Latch::new(),
        };
        {
            let mut jobs = self.broadcasts.lock().unwrap_or_else(|e| e.into_inner());
            // Under the lock that `shutdown` holds while it moves the word:
            // this reads the shutdown if it came first (then refuse), and
            // otherwise the shutdown, and every worker's exit after it,
            // comes after this publication.
            if self.debug_word().state() == super::State::Shutdown {
                return Err(BroadcastError::ShutDown);
            }
            jobs.last_epoch += 1;
            let epoch = jobs.last_epoch;
            jobs.live.push((epoch, &job));
            // Relaxed (both): readers that act on them take the lock, or
            // read them after the bell's SeqCst fence (rung below) or after
            // an idle-event token (Acquire) that follows this point.
            self.broadcast_hints.latest.store(epoch, Ordering::Relaxed);
            self.broadcast_hints.active.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller holds the pool alive.
        unsafe {
            Bell::ring(&self.bell);
            Event::notify(&self.idle_event);
        }
        wait_for(Some(self), &job.latch, &|| true);
        {
            let mut jobs = self.broadcasts.lock().unwrap_or_else(|e| e.into_inner());
            jobs.live.retain(|(_, j)| !core::ptr::eq(*j, &job));
            // Relaxed: as above; the bell's fence orders it for sleepers.
            self.broadcast_hints.active.fetch_sub(1, Ordering::Relaxed);
        }
        // The idle workers on the bell go back to the event if this was the
        // last broadcast. SAFETY: the caller holds the pool alive.
        unsafe { Bell::ring(&self.bell) };
        Ok(())
    }

    /// Whether a broadcast is in flight (idle workers sleep on the bell).
    pub(super) fn broadcasting(&self) -> bool {
        // Relaxed: read after the bell's fence or an event token's Acquire.
        self.broadcast_hints.active.load(Ordering::Relaxed) != 0
    }

    /// Whether a job after epoch `seen` has been published: the worker
    /// that has run up to `seen` has a piece to run.
    pub(super) fn has_broadcast(&self, seen: usize) -> bool {
        // Relaxed: a hint; the job itself is taken under the lock.
        self.broadcast_hints.latest.load(Ordering::Relaxed) > seen
    }

    /// Takes the oldest job after `seen` for `worker`, advancing its
    /// `seen`, and runs the piece. False if there was none.
    pub(super) fn run_broadcast(&self, worker: &LocalWorker<'_>) -> bool {
        let Some(index) = worker.index() else {
            return false;
        };
        let job = {
            let jobs = self.broadcasts.lock().unwrap_or_else(|e| e.into_inner());
            let seen = worker.broadcast_seen();
            match jobs.live.iter().find(|(epoch, _)| *epoch > seen) {
                Some(&(epoch, job)) => {
                    worker.set_broadcast_seen(epoch);
                    job
                }
                None => {
                    // Every job this worker could owe has finished (it was
                    // not counted in them: it started after).
                    worker.set_broadcast_seen(jobs.last_epoch);
                    return false;
                }
            }
        };
        // SAFETY: the job is alive: its count includes this worker, which
        // has not run it (its `seen` was behind the job's epoch), so its
        // latch is not set and its broadcaster still waits.
        unsafe { Self::run_piece(job, index) };
        true
    }

    /// Holds the broadcast lock while `shutdown` moves the word: no job is
    /// published across the shutdown (see the module docs).
    pub(super) fn exclude_broadcasts(&self) -> impl Drop + '_ {
        self.broadcasts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// # Safety
    /// `job` is alive and counts the caller, which runs it once.
    unsafe fn run_piece(job: *const Job, index: usize) {
        // SAFETY: alive (contract) until the count below reaches zero.
        unsafe { (*(*job).piece)(index) };
        // AcqRel: Release publishes this piece's writes (its result among
        // them: the broadcaster takes the results with `into_inner`, which
        // synchronizes with nothing) to the last one; Acquire lets the last
        // one carry every piece's writes on through the latch's Release to
        // the broadcaster (`docs/memory-model.md`, pattern j).
        // SAFETY: alive until this RMW (contract).
        if unsafe { (*job).remaining.fetch_sub(1, Ordering::AcqRel) } == 1 {
            // SAFETY: the broadcaster waits for this very latch, so the job
            // is alive until it is set; `set` touches nothing after SET.
            unsafe { Latch::set(&raw const (*job).latch) };
        }
    }
}
