//! The registry: a lock-free stack of the pool's live workers.
//!
//! * A worker pushes itself once, when it starts (`register`, a Release
//!   CAS), and is never removed: workers only leave after shutdown, when
//!   nothing searches any more.
//! * A searching worker walks the stack from where its last search stopped
//!   (`next_victim`), visiting as many workers as `spawned` counts.
//! * The exit chain: a leaving worker gives up its count and then waits on
//!   its own `release` event. `join_workers` takes the whole stack with one
//!   RMW (hazard 6) and releases the first worker; each released worker
//!   releases the one its link names, touching only worker memory, since
//!   the pool may be freed as soon as the joiner returns. Each worker's
//!   stack frame stays alive until it has been released.
//!
//! Proof: `docs/lifecycle.md` ("every worker is released").

use super::worker::Worker;
use crate::structures::event::Event;
use crate::sync::UnsafeCell;
use crate::sync::atomic::{AtomicPtr, Ordering};
use core::cell::Cell;
use core::ptr;

/// A worker's place in the registry.
pub(super) struct Link {
    /// The next worker down the stack: written before the Release CAS that
    /// publishes this worker, read only after an Acquire load of the
    /// registry (or by the worker itself), never changed after.
    next: UnsafeCell<*const Worker>,
    /// Posted when `join_workers` (or the worker registered after this one)
    /// lets this worker's thread go.
    release: Event,
}

impl Link {
    pub(super) fn new() -> Self {
        Self {
            next: UnsafeCell::new(ptr::null()),
            release: Event::new(),
        }
    }

    fn next(&self) -> *const Worker {
        // SAFETY: `next` was written before the worker was published (the
        // Release CAS in `register`) and never since; the reader got the
        // worker through an Acquire load of the registry, or is its owner.
        self.next.with(|n| unsafe { *n })
    }
}

/// The stack of live workers, newest first.
pub(super) struct Registry {
    head: AtomicPtr<Worker>,
}

impl Registry {
    pub(super) fn new() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Pushes `worker`, which stays alive (on its thread's stack) until it
    /// has been released.
    pub(super) fn register(&self, worker: &Worker) {
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: not yet published: the link is ours alone.
            worker.link.next.with_mut(|n| unsafe { *n = head });
            // Release: a thief's or the joiner's Acquire load of the registry
            // sees this worker initialized and its link written.
            match self.head.compare_exchange_weak(
                head,
                worker as *const Worker as *mut Worker,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => head = actual,
            }
        }
    }

    /// Whether any worker ever registered (and was not yet released). Until
    /// shutdown such a worker is alive: workers leave only after it.
    pub(super) fn has_worker(&self) -> bool {
        // Relaxed: a hint for a waiter deciding whether to help; a stale
        // "no" only makes it help, and "yes" is never undone before the
        // workers drained.
        !self.head.load(Ordering::Relaxed).is_null()
    }

    /// The worker at `cursor` (the top of the stack when `cursor` is null),
    /// moving `cursor` one worker on; `None` if nobody registered yet (a
    /// searching guest, while a spawn is still on its way).
    pub(super) fn next_victim<'a>(&'a self, cursor: &Cell<*const Worker>) -> Option<&'a Worker> {
        let mut target = cursor.get();
        if target.is_null() {
            // Acquire: pairs with the Release CAS in `register`, so the
            // worker we find (and its `next` link) is initialized.
            target = self.head.load(Ordering::Acquire);
        }
        // SAFETY: registered workers stay alive until `join_workers` releases
        // them, which happens only after every worker has stopped searching.
        let victim = unsafe { target.as_ref() }?;
        cursor.set(victim.link.next());
        Some(victim)
    }

    /// Calls `f` on every registered worker, newest first. The caller keeps
    /// the workers from being released meanwhile (`Pool::release_workers`
    /// waits for `Quiet`'s lock, under which this runs).
    pub(super) fn for_each(&self, f: &mut dyn FnMut(&Worker)) {
        // Acquire: pairs with the Release CAS in `register`, as in
        // `next_victim`.
        let mut worker: *const Worker = self.head.load(Ordering::Acquire);
        // SAFETY: registered workers stay alive until they are released,
        // which the caller excludes (above).
        while let Some(w) = unsafe { worker.as_ref() } {
            f(w);
            worker = w.link.next();
        }
    }

    /// `join_workers`: takes every registered worker and releases the first;
    /// the chain does the rest. Called once every worker has given up its
    /// count, so nobody registers any more.
    pub(super) fn release_all(&self) {
        // AcqRel swap (hazard 6): an RMW reads the latest registry, so every
        // registration is seen; Acquire makes the workers' links visible.
        let first = self.head.swap(ptr::null_mut(), Ordering::AcqRel);
        if !first.is_null() {
            // SAFETY: every registered worker waits on its release event, and
            // its stack stays alive until that event is notified.
            unsafe { Event::notify(&raw const (*first).link.release) };
        }
    }

    /// A leaving worker, after its last access to the pool: waits to be
    /// released, then releases the worker below it. Touches only worker
    /// memory: the pool may be gone.
    pub(super) fn await_release(worker: &Worker) {
        worker.link.release.wait();
        let next = worker.link.next();
        if !next.is_null() {
            // SAFETY: `next` is registered, so it is waiting on its release
            // event and its stack is alive until that event is notified.
            unsafe { Event::notify(&raw const (*next).link.release) };
        }
    }
}
