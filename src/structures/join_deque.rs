//! `JoinDeque`: a worker's owner-LIFO stack of pending `join` jobs that
//! other threads steal from the other end, one job at a time.
//!
//! Why a second structure next to the ring [`Buffer`](crate::buffer::Buffer):
//! the ring is FIFO for its owner, which is right for spawned tasks (oldest
//! first, as the original) and wrong for fork-join. A worker in
//! `join(a, b)` publishes `b`, runs `a`, and then wants `b` back *if nobody
//! took it*: that is the newest job it published, at the owner's end. Thieves
//! take the oldest job, at the other end: the outermost, largest piece of the
//! recursion, which is what a thief should get.
//!
//! The algorithm is the bounded Chase-Lev deque in the form proved for C11 by
//! Lê, Pop, Cohen and Zappa Nardelli (PPoPP 2013), without growth:
//!
//! * `bottom` is written by the owner only, `top` only by successful CASes.
//!   Jobs sit in `slots[top % CAPACITY .. bottom % CAPACITY]`. Indices are
//!   free-running `usize`s; comparisons use the wrapping difference.
//! * `push` (owner): refuse when full (the caller then runs the job itself);
//!   else write the slot and publish it with a Release store of `bottom`.
//! * `pop` (owner): take the newest job. Lower `bottom` first, then a SeqCst
//!   fence, then read `top`. If more than one job is left the newest is ours
//!   without a CAS; if exactly one is left, the owner races the thieves for
//!   it with a CAS on `top`, like a thief would.
//! * `steal` (any thread): read `top`, a SeqCst fence, read `bottom`; if
//!   non-empty, read the slot at `top` and claim it with a CAS on `top`.
//!
//! The two SeqCst fences are the heart of it: owner (store `bottom`; fence;
//! load `top`) against thief (load `top`; fence; load `bottom`) is the
//! store-buffering shape, and the fences forbid both sides missing each
//! other, so the owner and a thief never both take the last job.
//! `push` and `pop` are methods of the owner's handle, [`Owner`], which one
//! thread gets once ([`JoinDeque::owner`]) and which cannot leave it.
//!
//! Proof: `docs/join_deque.md`; model check: `loom_tests/join_deque.rs`.

use super::slots::Slots;
use crate::raw::Task;
use crate::sync::atomic::{AtomicUsize, Ordering, fence};
use crate::sync::hint::spin_loop;
use core::marker::PhantomData;

/// Jobs per deque: 64 in real builds (a join nested deeper than that runs its
/// second closure itself), 2 under loom so the full case is explored, 8
/// under shuttle (small model atomics, and the full case is reached by the
/// deeper join trees).
#[cfg(not(any(loom, shuttle)))]
pub const CAPACITY: usize = 64;
#[cfg(loom)]
pub const CAPACITY: usize = 2;
#[cfg(shuttle)]
pub const CAPACITY: usize = 8;

const _: () = assert!(CAPACITY.is_power_of_two());

/// The owner-LIFO, thief-FIFO deque of one worker's pending join jobs.
pub struct JoinDeque {
    top: AtomicUsize,
    bottom: AtomicUsize,
    slots: Slots<CAPACITY>,
}

/// Whether `a < b` in free-running index order.
fn before(a: usize, b: usize) -> bool {
    (b.wrapping_sub(a) as isize) > 0
}

impl JoinDeque {
    /// An empty deque.
    pub fn new() -> Self {
        Self::starting_at(0)
    }

    /// An empty deque whose indices start at `index`: tests use it to cross
    /// the wrap-around point.
    pub fn starting_at(index: usize) -> Self {
        Self {
            top: AtomicUsize::new(index),
            bottom: AtomicUsize::new(index),
            slots: Slots::new(),
        }
    }

    /// The owner's handle: the only way to push and pop.
    ///
    /// # Safety
    /// At most one thread uses owner handles of this deque, and not two at
    /// once: `push` and `pop` assume that nobody else writes `bottom`.
    pub unsafe fn owner(&self) -> Owner<'_> {
        Owner {
            deque: self,
            _one_thread: PhantomData,
        }
    }

    /// Any thread. Takes the oldest job.
    pub fn steal(&self) -> Option<*mut Task> {
        loop {
            // Acquire, as in Le et al.; the argument in docs/join_deque.md
            // does not use it: a stale `top` only makes the CAS below fail.
            let top = self.top.load(Ordering::Acquire);
            // SeqCst: pairs with the fence in `pop` (see there).
            fence(Ordering::SeqCst);
            // Acquire: pairs with the owner's Release stores of `bottom` (in
            // `push`, and the lowered one in `pop`): the slot and the job it
            // points to are visible.
            let bottom = self.bottom.load(Ordering::Acquire);
            if !before(top, bottom) {
                return None;
            }
            // Relaxed: published by the `bottom` load above; if the owner
            // overwrites it meanwhile, `top` has moved and the CAS fails.
            let task = self.slots.at(top).load(Ordering::Relaxed);
            // Release: our read of the slot happens-before the owner's
            // Acquire load of `top` in `push` that lets it reuse the slot.
            match self.top.compare_exchange(
                top,
                top.wrapping_add(1),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(task),
                // Another thief or the owner took it: look again.
                Err(_) => spin_loop(),
            }
        }
    }

    /// Whether the deque holds no job: a hint for thieves (exact when the
    /// owner asks and it says "empty": only the owner pushes).
    pub fn is_empty(&self) -> bool {
        // Relaxed: a snapshot; see above.
        let bottom = self.bottom.load(Ordering::Relaxed);
        // Relaxed: as above.
        let top = self.top.load(Ordering::Relaxed);
        !before(top, bottom)
    }
}

/// The owner's side of a [`JoinDeque`] (made by [`JoinDeque::owner`]): the
/// only way to push and pop. Neither `Send` nor `Sync`: it stays on the
/// owner's thread. Thieves hold the `JoinDeque` and can only `steal`.
pub struct Owner<'a> {
    deque: &'a JoinDeque,
    _one_thread: PhantomData<*const ()>,
}

impl<'a> Owner<'a> {
    /// Publishes `task` at the owner's end; hands it back if the
    /// deque is full.
    pub fn push(&self, task: *mut Task) -> Result<(), *mut Task> {
        let deque = self.deque;
        // Relaxed: only this thread writes `bottom`.
        let bottom = deque.bottom.load(Ordering::Relaxed);
        // Acquire: pairs with a thief's Release CAS on `top`, so its read of
        // the slot we may be about to reuse happens-before our write.
        let top = deque.top.load(Ordering::Acquire);
        if bottom.wrapping_sub(top) >= CAPACITY {
            return Err(task);
        }
        // Relaxed: published by the Release store of `bottom` below.
        deque.slots.at(bottom).store(task, Ordering::Relaxed);
        // Release: a thief's Acquire load of `bottom` sees the slot and the
        // job's contents written before the push.
        deque
            .bottom
            .store(bottom.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// Takes the newest job, unless a thief took it.
    pub fn pop(&self) -> Option<*mut Task> {
        let deque = self.deque;
        // Relaxed: only this thread writes `bottom`.
        let bottom = deque.bottom.load(Ordering::Relaxed).wrapping_sub(1);
        // Release, not Relaxed: a thief's Acquire load of `bottom` may read
        // this store instead of the push that published the jobs below it,
        // and then steal one of them. A Relaxed store continues no release
        // sequence of those pushes (only RMWs do), so the thief would take a
        // job it cannot see. Ordered before the `top` load by the fence.
        deque.bottom.store(bottom, Ordering::Release);
        // SeqCst: the store of `bottom` above and the load of `top` below
        // cannot be reordered, and pair with the fence in `steal`: a thief
        // either sees the lowered `bottom` or we see its advanced `top`.
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fence above.
        let top = deque.top.load(Ordering::Relaxed);
        if before(bottom, top) {
            // Empty: undo the reservation. Relaxed: owner-only word.
            deque.bottom.store(top, Ordering::Relaxed);
            return None;
        }
        // Relaxed: we wrote this slot; the reservation (or the CAS below)
        // makes it ours.
        let task = deque.slots.at(bottom).load(Ordering::Relaxed);
        if bottom != top {
            // More than one job was left: no thief can reach this one.
            return Some(task);
        }
        // The last job: race the thieves for it on `top`.
        // Relaxed: a CAS on `top` is ordered with the thieves' CASes by the
        // modification order of `top` alone; the slot is ours to read.
        let won = deque
            .top
            .compare_exchange(
                top,
                top.wrapping_add(1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .is_ok();
        // Either way the deque is now empty at `top + 1`.
        // Relaxed: owner-only word.
        deque.bottom.store(top.wrapping_add(1), Ordering::Relaxed);
        won.then_some(task)
    }
}

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use super::*;
    use core::ptr::NonNull;

    unsafe fn noop(_: NonNull<Task>) {}

    /// Runs `test` with `n` tasks and a deque whose indices start at
    /// `start`, the first `pushed` tasks already pushed by its owner.
    fn with_deque(
        n: usize,
        start: usize,
        pushed: usize,
        test: impl FnOnce(&[*mut Task], &JoinDeque, &Owner<'_>),
    ) {
        let mut tasks: Vec<Task> = (0..n).map(|_| Task::new(noop)).collect();
        let p: Vec<*mut Task> = tasks.iter_mut().map(|t| t as *mut Task).collect();
        let deque = JoinDeque::starting_at(start);
        // SAFETY: this test's thread is the only owner.
        let owner = unsafe { deque.owner() };
        for &t in &p[..pushed] {
            owner.push(t).unwrap();
        }
        test(&p, &deque, &owner);
    }

    /// Takes jobs until `take` finds none.
    fn take_all(take: impl FnMut() -> Option<*mut Task>) -> Vec<*mut Task> {
        core::iter::from_fn(take).collect()
    }

    #[test]
    fn the_owner_pops_newest_first() {
        with_deque(3, 0, 3, |p, deque, d| {
            assert!(!deque.is_empty());
            assert_eq!(take_all(|| d.pop()), [p[2], p[1], p[0]]);
            assert!(deque.is_empty());
        });
    }

    #[test]
    fn thieves_steal_oldest_first() {
        with_deque(3, 0, 3, |p, deque, _| {
            assert_eq!(take_all(|| deque.steal()), p);
            assert!(deque.is_empty());
        });
    }

    #[test]
    fn both_ends_meet_in_the_middle() {
        with_deque(4, 0, 4, |p, deque, d| {
            assert_eq!((deque.steal(), d.pop()), (Some(p[0]), Some(p[3])));
            assert_eq!((deque.steal(), d.pop()), (Some(p[1]), Some(p[2])));
            assert_eq!((deque.steal(), d.pop()), (None, None));
        });
    }

    #[test]
    fn a_full_deque_hands_the_task_back() {
        with_deque(CAPACITY + 1, 0, CAPACITY, |p, deque, d| {
            assert_eq!(d.push(p[CAPACITY]), Err(p[CAPACITY]));
            // A steal frees the oldest slot, which the refused task then reuses.
            assert_eq!(deque.steal(), Some(p[0]));
            d.push(p[CAPACITY]).unwrap();
            assert_eq!(d.pop(), Some(p[CAPACITY]));
            for i in (1..CAPACITY).rev() {
                assert_eq!(d.pop(), Some(p[i]));
            }
            assert_eq!(d.pop(), None);
        });
    }

    #[test]
    fn indices_wrap_around() {
        // Indices MAX - 1, MAX, 0, 1, ...: the wrap is crossed while the
        // deque holds jobs on both sides of it.
        with_deque(6, usize::MAX - 1, 4, |p, deque, d| {
            assert_eq!(deque.steal(), Some(p[0]));
            assert_eq!(d.pop(), Some(p[3]));
            assert_eq!(deque.steal(), Some(p[1])); // top goes from MAX to 0
            d.push(p[4]).unwrap();
            d.push(p[5]).unwrap();
            assert_eq!(d.pop(), Some(p[5]));
            assert_eq!(deque.steal(), Some(p[2]));
            // The last job, across the wrap from where the deque started.
            assert_eq!(d.pop(), Some(p[4]));
            assert_eq!((d.pop(), deque.steal()), (None, None));
            assert!(deque.is_empty());
        });
        // Full across the wrap.
        with_deque(CAPACITY + 1, usize::MAX - 1, CAPACITY, |q, deque, d| {
            assert_eq!(d.push(q[CAPACITY]), Err(q[CAPACITY]));
            assert_eq!(deque.steal(), Some(q[0]));
            assert_eq!(d.pop(), Some(q[CAPACITY - 1]));
        });
    }

    #[test]
    fn pop_and_steal_on_empty_leave_it_usable() {
        with_deque(CAPACITY + 2, 0, 0, |p, deque, d| {
            assert_eq!((d.pop(), d.pop(), deque.steal()), (None, None, None));
            assert!(deque.is_empty());
            d.push(p[0]).unwrap();
            assert_eq!(d.pop(), Some(p[0]));
            assert_eq!(d.pop(), None);
            d.push(p[1]).unwrap();
            assert_eq!(deque.steal(), Some(p[1]));
            assert_eq!((d.pop(), deque.steal()), (None, None));
            // Emptied by a pop of the last job and then by a steal: the
            // indices still agree, so a full round of pushes fits.
            for &t in &p[2..] {
                d.push(t).unwrap();
            }
        });
    }
}
