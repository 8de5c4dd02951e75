//! The end of a pool: `shutdown`, `join_workers`, `abandon`, and the tasks
//! left over.
//!
//! `shutdown` closes the global queue (outside producers get their tasks
//! back from then on), moves the `Sync` word to `Shutdown` and wakes every
//! idle thread. Workers then drain: each runs what is in its own ring and
//! queue and in the global queue before it leaves (`worker.rs`). The thread
//! that brings `spawned` to zero after shutdown (or `shutdown` itself, if
//! there were no threads) posts the `last_exit` token exactly once
//! (`wake.rs`).
//!
//! `join_workers` waits for that token, always (hazard 5: no fast path),
//! releases the workers' exit chain (`registry.rs`), and runs whatever is
//! left in the global queue, as an unregistered worker so that those tasks
//! can still schedule children (`worker.rs`, `run_leftovers`).
//!
//! `abandon` is the end of a pool that cannot wait for its threads: one
//! dropped from one of its own tasks or hooks. It shuts down and marks the
//! word abandoned; the last thread out then does the joiner's work itself
//! (`worker.rs`, `run`), so no thread waits for a joiner that never comes.
//!
//! Proof: `docs/lifecycle.md`.

use super::Pool;
use super::worker;
use crate::structures::bell::Bell;
use crate::structures::event::Event;
use crate::sync::atomic::Ordering;

impl Pool {
    /// Stops intake from outside and lets the workers drain and exit.
    pub(crate) fn shutdown(&self) {
        self.shut_down(false);
    }

    /// `shutdown` for a pool that nobody will join: the last thread out
    /// releases the workers (and frees the pool, where it can). If no
    /// thread is left at all, the caller is the last one: it finishes the
    /// join here, without waiting, and the pool's memory is left to leak
    /// (the caller may be running one of the pool's own closures).
    pub(crate) fn abandon(&self) {
        if self.shut_down(true) == Some(0) {
            self.finish_join();
        }
    }

    /// Closes intake and moves the word to `Shutdown` (abandoned if asked).
    /// Returns how many threads were counted when the word changed, if it
    /// did.
    fn shut_down(&self, abandon: bool) -> Option<u32> {
        // First: every outside push from now on is refused. Pushes before
        // this point are in the queue when the workers drain it.
        self.global.close();
        let before = {
            let _no_broadcast = self.exclude_broadcasts();
            self.enter_shutdown(abandon)?
        };
        if before.state() == super::sync_word::State::Shutdown {
            // Only the abandoned mark was added: the wake-ups and the exit
            // token were handled by the first shutdown.
            return Some(before.spawned());
        }
        // SAFETY: the caller holds the pool alive.
        unsafe {
            // Always, whatever `idle` was (hazard 3 at the pool level), and
            // the bell, where workers waiting inside a task sleep.
            Event::shutdown(&self.idle_event);
            Bell::ring(&self.bell);
            if before.spawned() == 0 && !abandon {
                // No thread exists or ever will: this call is the "last one
                // out" and hands the joiner its token.
                Event::notify(&self.last_exit);
            }
        }
        Some(before.spawned())
    }

    /// A fresh pool on the heap, as `ThreadPool` keeps it (freed by
    /// [`Pool::free`]).
    pub(crate) fn boxed(config: super::Config) -> *mut Pool {
        let pool = Box::into_raw(Box::new(Pool::new(config)));
        crate::sync::ghost::allocated(pool as *const ());
        pool
    }

    /// Keeps the allocation alive until a matching [`Pool::free`]: a
    /// future task's hold, so that its late wakes may still call
    /// `schedule` (refused once the pool has shut down).
    pub(crate) fn keep(&self) {
        // Relaxed: the caller already holds a count (as `Arc::clone`).
        self.keep.fetch_add(1, Ordering::Relaxed);
    }

    /// Gives back one count of [`Pool::keep`] (or the owner's); the last
    /// one frees a pool made by [`Pool::boxed`].
    ///
    /// # Safety
    /// The caller holds a count and gives it up. The owner's count is
    /// given up once every thread has left the pool and nothing but
    /// future tasks' holds touch it any more (`join_workers` returned, or
    /// this is the last thread out of an abandoned pool).
    pub(crate) unsafe fn free(this: *const Pool) {
        // AcqRel: Release, so this holder's uses happen-before the free;
        // Acquire, for the last one, so every other holder's do too.
        // SAFETY: alive while the caller holds its count.
        if unsafe { (*this).keep.fetch_sub(1, Ordering::AcqRel) } != 1 {
            return;
        }
        crate::sync::ghost::freed(this as *const ());
        // The model builds keep the memory (see `sync::ghost`); the mark
        // above is what their checks look at.
        if cfg!(not(any(loom, shuttle))) {
            // SAFETY: made by `Box::into_raw` in `boxed`; last user
            // (contract).
            drop(unsafe { Box::from_raw(this.cast_mut()) });
        }
    }

    /// Waits for shutdown and for every worker to stop, releases the workers'
    /// exit chain and runs what was left in the global queue (the tasks no
    /// worker ran because none could be started).
    pub(crate) fn join_workers(&self) {
        // Hazard 5: no fast path. Exactly one token is ever posted (by the
        // last thread out, or by `shutdown` when there were no threads); an
        // earlier joiner turns the event into SHUTDOWN for everyone after it.
        self.last_exit.wait();
        self.finish_join();
    }

    /// The joiner's work once every thread has left: release the exit
    /// chain, run the leftovers, let any later joiner through.
    fn finish_join(&self) {
        self.release_workers();
        // Tasks accepted while no worker could run them (every spawn failed)
        // run here, and so do the tasks they schedule.
        worker::run_leftovers(self);
        // SAFETY: the pool is alive: the caller holds it.
        unsafe { Event::shutdown(&self.last_exit) };
    }
}
