//! `ForkStack`: the lazy forks a worker has recorded but not yet offered,
//! and the ones it offered, in the order they nest (`join_lazy`).
//!
//! A lazy `join(a, b)` records `b`'s job here, where only the owner's
//! thread looks: plain writes, no atomic read-modify-write, no fence. When
//! `a` returns, the owner takes the job back; a job nobody else ever saw
//! runs inline at the cost of a few plain loads and stores. The owner
//! *promotes* a recorded job by pushing it to its [`JoinDeque`]; only then
//! can a thief take it, and only then does it pay the deque's costs (the
//! push, and the SeqCst fence of the owner's pop).
//!
//! The stack is `jobs[0..len]`, oldest first. `jobs[0..promoted]` were
//! pushed to the deque, in that order:
//!
//! * `push` records the newest job at `len`.
//! * `promote` pushes `jobs[promoted]`, the oldest job not yet offered, to
//!   the deque. It is the outermost, so the largest, piece of the recursion
//!   still here: what a thief should get.
//! * `promote_all` promotes every recorded job: an eager `join` calls it
//!   before it pushes its own job, so that a job in the deque never has an
//!   older lazy job hidden beneath it.
//! * `pop` takes the newest job back. Above `promoted`, nobody else ever
//!   saw it: it is the owner's. Otherwise it is the newest promoted job,
//!   and every deque entry pushed after it belonged to a `join` nested in
//!   its `a`, each already popped or stolen; so the deque's own `pop` gives
//!   this job, or nothing when a thief took it (thieves take the oldest
//!   first, so every older promoted job was stolen too; their joins learn
//!   it the same way).
//!
//! So the invariant (P): the deque's entries, oldest first, are the
//! promoted jobs and the eager joins' jobs in the order of the frames that
//! pushed them, and the unpromoted jobs are all newer than every entry.
//! The deque's proof (`docs/join_deque.md`) is untouched: every push and
//! pop is still the owner's, on its own thread.
//!
//! When to promote is the caller's choice (`LocalWorker::fork_lazy`): the
//! first lazy fork of an otherwise empty worker at once, a nested one when
//! another thread could take it. Proof note: `docs/fork_stack.md`; model
//! check: `loom_tests/fork_stack.rs`.

use super::join_deque::{self, Owner};
use crate::raw::Task;
use core::cell::Cell;
use core::marker::PhantomData;
use core::ptr;

/// Jobs a stack records: as many as the join deque holds. A lazy fork
/// beyond that runs its `b` after `a` on the same thread.
pub const CAPACITY: usize = join_deque::CAPACITY;

/// One worker's lazy forks (module docs). Neither `Send` nor `Sync`: only
/// its owner's thread touches it.
pub struct ForkStack {
    jobs: [Cell<*mut Task>; CAPACITY],
    /// Jobs recorded.
    len: Cell<usize>,
    /// The oldest `promoted` jobs were pushed to the join deque.
    promoted: Cell<usize>,
    _one_thread: PhantomData<*const ()>,
}

impl ForkStack {
    /// An empty stack.
    pub fn new() -> Self {
        Self {
            jobs: core::array::from_fn(|_| Cell::new(ptr::null_mut())),
            len: Cell::new(0),
            promoted: Cell::new(0),
            _one_thread: PhantomData,
        }
    }

    /// Records `task` as the newest fork; false (nothing recorded) if the
    /// stack is full.
    #[inline]
    pub fn push(&self, task: *mut Task) -> bool {
        let len = self.len.get();
        if len == CAPACITY {
            return false;
        }
        self.jobs[len].set(task);
        self.len.set(len + 1);
        true
    }

    /// Whether no job is recorded.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len.get() == 0
    }

    /// Whether some recorded job was not promoted yet.
    #[inline]
    pub fn has_hidden(&self) -> bool {
        self.promoted.get() < self.len.get()
    }

    /// Pushes the oldest job not yet promoted to `deque`. False if every
    /// job was promoted already, or the deque is full (the job then stays
    /// hidden, and runs on its owner).
    pub fn promote(&self, deque: &Owner<'_>) -> bool {
        let next = self.promoted.get();
        if next == self.len.get() || deque.push(self.jobs[next].get()).is_err() {
            return false;
        }
        self.promoted.set(next + 1);
        true
    }

    /// Promotes every recorded job (before an eager push: invariant P).
    /// False if the deque filled up first: the caller must then not push.
    pub fn promote_all(&self, deque: &Owner<'_>) -> bool {
        while self.has_hidden() {
            if !self.promote(deque) {
                return false;
            }
        }
        true
    }

    /// Takes back the newest job, `task` (the caller's own: forks and pops
    /// nest): `Some(task)` if it is the owner's to run (never promoted, or
    /// popped back from `deque`), `None` if a thief took it.
    #[inline]
    pub fn pop(&self, task: *mut Task, deque: &Owner<'_>) -> Option<*mut Task> {
        let len = self.len.get() - 1;
        assert!(ptr::eq(self.jobs[len].get(), task), "lazy forks nest");
        self.len.set(len);
        if len >= self.promoted.get() {
            // Never promoted: nobody else saw it.
            return Some(task);
        }
        self.promoted.set(len);
        let popped = deque.pop();
        if let Some(popped) = popped {
            assert!(
                ptr::eq(popped, task),
                "join_lazy: the newest deque entry is not this join's job"
            );
        }
        popped
    }
}

impl Default for ForkStack {
    fn default() -> Self {
        Self::new()
    }
}
