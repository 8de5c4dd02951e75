//! `Buffer`: a bounded single-producer ring of task pointers that other
//! threads steal half of at a time.
//!
//! `head` and `tail` are free-running indices; `tail - head` tasks sit in
//! `slots[head % CAPACITY .. tail % CAPACITY]`.
//!
//! * The owner alone writes `tail` and the slots past it. `push` fills free
//!   slots and publishes them with a Release store of `tail`. When the ring
//!   is full it claims half of it with a CAS on `head` and hands those tasks,
//!   linked, plus the rest of the list back to the caller, which pushes them
//!   to its unbounded `Queue` (overflow migration).
//! * The owner pops from the front with a CAS on `head`: the ring is FIFO.
//! * A thief reads `head` and `tail`, copies half (rounded up) of the
//!   victim's tasks into its own empty ring, then commits with one CAS on the
//!   victim's `head`. If the CAS fails the copies are ignored and it retries.
//!   Only after a successful CAS does it publish its copies (its own `tail`).
//! * `consume` refills the owner's empty ring from a `Queue`.
//!
//! Every operation that writes `tail` or the slots is a method of the
//! owner's handle, [`Owner`], which one thread gets once ([`Buffer::owner`])
//! and which cannot leave that thread; thieves only ever hold the `Buffer`.
//!
//! Fixes over the original (proof in `docs/buffer.md`):
//! * hazard 10: every owner load of `head` that precedes writing slots is
//!   Acquire, pairing with the thief's Release CAS, so a thief's copy of a
//!   slot happens-before the owner overwrites it.
//! * hazard 12: indices are `usize`. On 64-bit targets a thief's CAS cannot
//!   be fooled by wrap-around (it would take 2^64 ring operations inside one
//!   steal window); on 32-bit targets the assumption is 2^32 operations.
//! * the original's x86-only `fetch_add` pop is not ported: one code path is
//!   the one the model checkers see.

use super::queue::Queue;
use super::slots::Slots;
use crate::raw::{Batch, Task};
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::hint::spin_loop;
use core::marker::PhantomData;

/// Slots per ring: 256 in real builds; 4 under loom to keep the state space
/// small while still exercising overflow and wrap-around; 8 under shuttle,
/// where modelled atomics are large (a worker lives on a model thread's
/// stack) and a small ring makes overflow and steal-half common.
#[cfg(not(any(loom, shuttle)))]
pub const CAPACITY: usize = 256;
#[cfg(loom)]
pub const CAPACITY: usize = 4;
#[cfg(shuttle)]
pub const CAPACITY: usize = 8;

const _: () = assert!(CAPACITY.is_power_of_two() && CAPACITY >= 2);

/// A task taken by `consume` or `steal`, and whether more were moved into the
/// taker's ring (then the taker wakes another thread to share them).
#[derive(Debug)]
pub struct Stole {
    pub task: *mut Task,
    pub pushed: bool,
}

/// A single-producer, multi-thief ring.
pub struct Buffer {
    head: AtomicUsize,
    tail: AtomicUsize,
    slots: Slots<CAPACITY>,
}

impl Buffer {
    /// Whether the ring looks empty from another thread: a snapshot that
    /// may be stale by the time it returns, for hints only (a waking
    /// worker deciding whether to wake the next, `scheduler/wake.rs`).
    pub fn looks_empty(&self) -> bool {
        // Relaxed: a hint; a stale or torn pair only wakes a thread for
        // nothing or skips a wake that the pusher's own notify makes.
        let head = self.head.load(Ordering::Relaxed);
        // Relaxed: as above.
        let tail = self.tail.load(Ordering::Relaxed);
        head == tail
    }

    /// An empty ring.
    pub fn new() -> Self {
        Self::starting_at(0)
    }

    /// An empty ring whose indices start at `index`: tests use it to cross
    /// the wrap-around point.
    pub fn starting_at(index: usize) -> Self {
        Self {
            head: AtomicUsize::new(index),
            tail: AtomicUsize::new(index),
            slots: Slots::new(),
        }
    }

    /// The owner's handle: the only way to push to, pop from, or refill this
    /// ring, or to steal into it.
    ///
    /// # Safety
    /// At most one thread uses owner handles of this ring, and not two at
    /// once: every operation of [`Owner`] assumes that nobody else writes
    /// `tail` or the slots past it.
    pub unsafe fn owner(&self) -> Owner<'_> {
        Owner {
            ring: self,
            _one_thread: PhantomData,
        }
    }
}

/// The owner's side of a [`Buffer`] (made by [`Buffer::owner`]). Neither
/// `Send` nor `Sync`: it stays on the owner's thread. Thieves see only the
/// `Buffer`, as the `victim` of [`Owner::steal`].
pub struct Owner<'a> {
    ring: &'a Buffer,
    _one_thread: PhantomData<*const ()>,
}

impl<'a> Owner<'a> {
    /// How many tasks the ring holds (owner's view).
    pub fn len(&self) -> usize {
        let ring = self.ring;
        let tail = ring.tail.load(Ordering::Relaxed);
        tail.wrapping_sub(ring.head.load(Ordering::Relaxed))
    }

    /// Whether the ring is empty (owner's view).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pushes `list`; if the ring fills up, returns the overflow
    /// (half of the ring, then what was not pushed), linked and terminated,
    /// for the caller to push to its queue.
    pub fn push(&self, mut list: Batch) -> Result<(), Batch> {
        let ring = self.ring;
        // Acquire (hazard 10): pairs with thieves' Release CAS on `head`, so
        // their copies of the slots we are about to reuse come first.
        let mut head = ring.head.load(Ordering::Acquire);
        // Relaxed: only this thread writes `tail`.
        let mut tail = ring.tail.load(Ordering::Relaxed);
        loop {
            let size = tail.wrapping_sub(head);
            debug_assert!(size <= CAPACITY);
            if size < CAPACITY {
                let room = CAPACITY - size;
                for _ in 0..room.min(list.len()) {
                    let task = list.pop_front().expect("counted");
                    // Relaxed: published by the Release store of `tail`.
                    ring.slots.at(tail).store(task, Ordering::Relaxed);
                    tail = tail.wrapping_add(1);
                }
                // Release: a thief's Acquire load of `tail` sees the slots.
                ring.tail.store(tail, Ordering::Release);
                if list.is_empty() {
                    return Ok(());
                }
                // Acquire: as above (hazard 10).
                head = ring.head.load(Ordering::Acquire);
                continue;
            }

            // Full: claim half of the ring for the overflow queue.
            let migrate = size / 2;
            // Acquire, on success and on failure (hazard 10): either way the
            // `head` we read decides which slots we write next (the claimed
            // ones after a success; after a failure the loop refills the
            // room a thief made), so the thieves' copies of them, before
            // their Release CAS, come first.
            match ring.head.compare_exchange(
                head,
                head.wrapping_add(migrate),
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let mut overflow = Batch::new();
                    for i in 0..migrate {
                        // Relaxed: we wrote these slots ourselves.
                        let task = ring.slots.at(head.wrapping_add(i)).load(Ordering::Relaxed);
                        overflow.push_ptr(task);
                    }
                    overflow.append(list);
                    return Err(overflow);
                }
                Err(actual) => head = actual,
            }
        }
    }

    /// Takes the oldest task.
    pub fn pop(&self) -> Option<*mut Task> {
        let ring = self.ring;
        // Acquire (hazard 10): see `push`.
        let mut head = ring.head.load(Ordering::Acquire);
        // Relaxed: only this thread writes `tail`.
        let tail = ring.tail.load(Ordering::Relaxed);
        loop {
            let size = tail.wrapping_sub(head);
            debug_assert!(size <= CAPACITY);
            if size == 0 {
                return None;
            }
            // Acquire, on success and on failure (hazard 10): pairs with
            // thieves' Release CAS, as in `push`. A failure can end in
            // `None` (thieves emptied the ring), after which this thread
            // refills the ring's slots (`consume`, `steal`) on the strength
            // of this read alone.
            match ring.head.compare_exchange_weak(
                head,
                head.wrapping_add(1),
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                // Relaxed: we wrote the slot; the CAS made it ours.
                Ok(_) => return Some(ring.slots.at(head).load(Ordering::Relaxed)),
                Err(actual) => head = actual,
            }
        }
    }

    /// With an empty ring. Moves up to `CAPACITY + 1` tasks out of
    /// `queue` (if its consumer lock is free): one to return, the rest into
    /// this ring.
    pub fn consume(&self, queue: &Queue) -> Option<Stole> {
        let ring = self.ring;
        let mut consumer = queue.try_consume().ok()?;
        // Acquire (hazard 10): we overwrite slots that thieves may have
        // copied; their Release CAS on `head` must be seen first.
        let head = ring.head.load(Ordering::Acquire);
        // Relaxed: only this thread writes `tail`.
        let tail = ring.tail.load(Ordering::Relaxed);
        debug_assert_eq!(tail.wrapping_sub(head), 0, "consume into a non-empty ring");

        let mut pushed = 0;
        while pushed < CAPACITY {
            let Some(task) = consumer.pop() else { break };
            // Relaxed: published by the Release store of `tail` below.
            ring.slots
                .at(tail.wrapping_add(pushed))
                .store(task, Ordering::Relaxed);
            pushed += 1;
        }
        let task = match consumer.pop() {
            Some(task) => task,
            None if pushed == 0 => return None,
            None => {
                pushed -= 1;
                // Relaxed: our own unpublished slot.
                ring.slots
                    .at(tail.wrapping_add(pushed))
                    .load(Ordering::Relaxed)
            }
        };
        if pushed > 0 {
            // Release: a thief's Acquire load of `tail` sees the slots.
            ring.tail
                .store(tail.wrapping_add(pushed), Ordering::Release);
        }
        Some(Stole {
            task,
            pushed: pushed > 0,
        })
    }

    /// With an empty ring. Steals half (rounded up) of
    /// `victim`'s tasks: one to return, the rest into this ring.
    pub fn steal(&self, victim: &Buffer) -> Option<Stole> {
        let ring = self.ring;
        // Relaxed: only this thread writes our `tail`; `head` equals it.
        let tail = ring.tail.load(Ordering::Relaxed);
        debug_assert!(self.is_empty(), "steal into a non-empty ring");
        loop {
            // Acquire, kept from the original; the proof needs none here: a
            // stale `head` only makes the CAS below fail.
            let victim_head = victim.head.load(Ordering::Acquire);
            // Acquire: pairs with the victim's Release store of `tail`, so
            // the slots below hold the tasks it published.
            let victim_tail = victim.tail.load(Ordering::Acquire);
            let size = victim_tail.wrapping_sub(victim_head);
            if size > CAPACITY {
                // `head` was read long before `tail`: a torn snapshot.
                spin_loop();
                continue;
            }
            let take = size - size / 2;
            if take == 0 {
                return None;
            }
            for i in 0..take {
                // Relaxed: the victim may overwrite the slot concurrently;
                // the CAS below then fails and the copy is discarded.
                let task = victim
                    .slots
                    .at(victim_head.wrapping_add(i))
                    .load(Ordering::Relaxed);
                // Relaxed: published by our Release store of `tail` below.
                ring.slots
                    .at(tail.wrapping_add(i))
                    .store(task, Ordering::Relaxed);
            }
            // Release: our copies above happen-before the victim's Acquire
            // load of `head` that lets it reuse those slots (hazard 10).
            // The Acquire half is kept from the original but not used by the
            // proof: the tasks' contents came with the Acquire `tail` load.
            match victim.head.compare_exchange(
                victim_head,
                victim_head.wrapping_add(take),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    let pushed = take - 1;
                    // Relaxed: our own unpublished slot.
                    let task = ring
                        .slots
                        .at(tail.wrapping_add(pushed))
                        .load(Ordering::Relaxed);
                    if pushed > 0 {
                        // Release: a thief of ours sees the copied slots.
                        ring.tail
                            .store(tail.wrapping_add(pushed), Ordering::Release);
                    }
                    return Some(Stole {
                        task,
                        pushed: pushed > 0,
                    });
                }
                Err(_) => spin_loop(),
            }
        }
    }
}

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use super::*;
    use core::ptr::NonNull;

    unsafe fn noop(_: NonNull<Task>) {}

    fn tasks(n: usize) -> Vec<Task> {
        (0..n).map(|_| Task::new(noop)).collect()
    }

    fn batch(tasks: &mut [Task]) -> Batch {
        let mut b = Batch::new();
        for t in tasks {
            b.push(t);
        }
        b
    }

    #[test]
    fn push_pop_is_fifo() {
        let mut ts = tasks(3);
        let ptrs: Vec<*mut Task> = ts.iter_mut().map(|t| t as *mut Task).collect();
        let ring = Buffer::new();
        // SAFETY: this test's thread is the only owner.
        let b = unsafe { ring.owner() };
        b.push(batch(&mut ts)).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(
            (b.pop(), b.pop(), b.pop(), b.pop()),
            (Some(ptrs[0]), Some(ptrs[1]), Some(ptrs[2]), None)
        );
    }

    #[test]
    fn overflow_migrates_half_plus_the_rest() {
        let mut ts = tasks(CAPACITY + 10);
        let ring = Buffer::new();
        // SAFETY: this test's thread is the only owner.
        let b = unsafe { ring.owner() };
        let overflow = b.push(batch(&mut ts)).unwrap_err();
        assert_eq!(overflow.len(), CAPACITY / 2 + 10);
        assert_eq!(b.len(), CAPACITY / 2);
        // Every task is either in the ring or in the overflow, once.
        let mut seen: Vec<*mut Task> = Vec::new();
        while let Some(t) = b.pop() {
            seen.push(t);
        }
        let mut overflow = overflow;
        while let Some(t) = overflow.pop_front() {
            seen.push(t);
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), CAPACITY + 10);
    }

    #[test]
    fn steal_takes_half_rounded_up() {
        let mut ts = tasks(5);
        let (victim_ring, thief_ring) = (Buffer::new(), Buffer::new());
        // SAFETY: this test's thread is the only owner of both rings.
        let (victim, thief) = unsafe { (victim_ring.owner(), thief_ring.owner()) };
        victim.push(batch(&mut ts)).unwrap();
        let stole = thief.steal(&victim_ring).unwrap();
        assert!(stole.pushed);
        assert_eq!(thief.len(), 2); // 3 taken: 1 returned, 2 in the ring
        assert_eq!(victim.len(), 2);
    }

    #[test]
    fn indices_wrap_around() {
        let start = usize::MAX - 2;
        let mut ts = tasks(6);
        let ptrs: Vec<*mut Task> = ts.iter_mut().map(|t| t as *mut Task).collect();
        let (ring, thief_ring) = (Buffer::starting_at(start), Buffer::starting_at(start));
        // SAFETY: this test's thread is the only owner of both rings.
        let (b, thief) = unsafe { (ring.owner(), thief_ring.owner()) };
        b.push(batch(&mut ts)).unwrap();
        let stole = thief.steal(&ring).unwrap();
        assert_eq!(stole.task, ptrs[2]);
        assert_eq!((b.pop(), thief.pop()), (Some(ptrs[3]), Some(ptrs[0])));
    }

    #[test]
    fn consume_fills_the_ring_from_a_queue() {
        let mut ts = tasks(CAPACITY + 5);
        let q = Queue::new();
        q.push(batch(&mut ts)).unwrap();
        let ring = Buffer::new();
        // SAFETY: this test's thread is the only owner.
        let b = unsafe { ring.owner() };
        let first = b.consume(&q).unwrap();
        assert!(first.pushed);
        assert_eq!(b.len(), CAPACITY);
        // CAPACITY + 1 were moved; 4 remain in the queue's cache.
        while b.pop().is_some() {}
        let next = b.consume(&q).unwrap();
        assert!(next.pushed);
        assert_eq!(b.len(), 3);
    }
}
