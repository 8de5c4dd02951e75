//! `Slots`: the storage of the ring (`buffer.rs`) and of the join deque
//! (`join_deque.rs`): `N` task pointers indexed by free-running indices
//! (slot `index % N`). Each slot is an atomic because a thief may read it
//! while its owner overwrites it (the thief then discards what it read);
//! what the slots mean, and which orderings publish them, is the business
//! of the structure that holds them.

use crate::raw::Task;
use crate::sync::atomic::AtomicPtr;
use core::ptr;

pub(crate) struct Slots<const N: usize>([AtomicPtr<Task>; N]);

impl<const N: usize> Slots<N> {
    pub(crate) fn new() -> Self {
        const { assert!(N.is_power_of_two()) };
        Self(core::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())))
    }

    /// The slot of the free-running index `index`.
    pub(crate) fn at(&self, index: usize) -> &AtomicPtr<Task> {
        &self.0[index % N]
    }
}
