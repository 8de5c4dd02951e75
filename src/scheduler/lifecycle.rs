//! The end of a pool: `shutdown`, `join_workers`, and the tasks left over.
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
//! Proof: `docs/lifecycle.md`.

use super::Pool;
use super::worker;
use crate::structures::event::Event;

impl Pool {
    /// Stops intake from outside and lets the workers drain and exit.
    pub(crate) fn shutdown(&self) {
        // First: every outside push from now on is refused. Pushes before
        // this point are in the queue when the workers drain it.
        self.global.close();
        let Some(before) = self.enter_shutdown() else {
            return;
        };
        // SAFETY: the caller holds the pool alive.
        unsafe {
            // Always, whatever `idle` was (hazard 3 at the pool level).
            Event::shutdown(&self.idle_event);
            if before.spawned() == 0 {
                // No thread exists or ever will: this call is the "last one
                // out" and hands the joiner its token.
                Event::notify(&self.last_exit);
            }
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
        self.registry.release_all();
        // Tasks accepted while no worker could run them (every spawn failed)
        // run here, and so do the tasks they schedule.
        worker::run_leftovers(self);
        // SAFETY: the pool is alive: the caller holds it.
        unsafe { Event::shutdown(&self.last_exit) };
    }
}
