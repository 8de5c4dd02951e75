//! `Queue`: an unbounded, intrusive multi-producer queue with a try-lock
//! consumer.
//!
//! One `usize` word holds a Treiber stack of task pointers and three tag bits
//! in the pointer's low bits (tasks are 8-aligned):
//!
//! ```text
//! [ top-of-stack pointer | CLOSED | IS_CONSUMING | HAS_CACHE ]
//! ```
//!
//! * `push` links a whole list in front of the stack with one CAS (Release),
//!   keeping the tag bits. It fails once the queue is `CLOSED`.
//! * A consumer takes the lock with one CAS (Acquire) that sets IS_CONSUMING.
//!   If no cache is left from an earlier consumer it takes the whole stack in
//!   the same CAS (and sets HAS_CACHE). It then pops privately from that list,
//!   refilling from the stack with one `fetch_and` when the list runs out.
//! * Releasing stores what is left of the private list in `cache` and clears
//!   IS_CONSUMING (and HAS_CACHE if nothing is left) with a Release RMW, which
//!   the next consumer's Acquire CAS pairs with.
//!
//! Pushing a list reverses nothing: a pushed list keeps its order, but lists
//! pushed later are consumed first. The pool promises no order between tasks.
//!
//! The pool has one `Queue` per worker (pushed only by its owner, consumed by
//! the owner and by thieves) and one global `Queue` for tasks scheduled from
//! outside, which `close` seals at shutdown. Proof: `docs/queue.md`.

use crate::raw::{Batch, Task};
use crate::sync::UnsafeCell;
use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::hint::spin_loop;
use core::ptr;

const HAS_CACHE: usize = 0b001;
const IS_CONSUMING: usize = 0b010;
const CLOSED: usize = 0b100;
const TAGS: usize = HAS_CACHE | IS_CONSUMING | CLOSED;
const PTR_MASK: usize = !TAGS;
const _: () = assert!(align_of::<Task>() > TAGS);

/// The task pointer in a stack word. Pointers enter the word with
/// `expose_provenance` (in `push`) and leave it here, so they keep the
/// provenance of the task they came from.
fn top(stack: usize) -> *mut Task {
    ptr::with_exposed_provenance_mut(stack & PTR_MASK)
}

/// Why a consumer could not be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Busy {
    /// Nothing cached and nothing pushed (at the moment of the read).
    Empty,
    /// Another thread holds the consumer lock.
    Contended,
}

/// What [`Queue::probe`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    Empty,
    NonEmpty,
    /// A consumer holds the lock; it may put tasks back in the cache.
    Consuming,
}

/// An unbounded MPSC-with-try-lock queue of task pointers.
pub struct Queue {
    stack: AtomicUsize,
    /// The list a consumer left behind; owned by whoever holds IS_CONSUMING.
    cache: UnsafeCell<*mut Task>,
}

// SAFETY: `cache` is only touched by the holder of the consumer lock, and the
// lock's Acquire/Release edges order one holder's accesses before the next's.
unsafe impl Sync for Queue {}
// SAFETY: the queue holds raw task pointers only; see `ThreadPool::schedule`.
unsafe impl Send for Queue {}

impl Queue {
    crate::sync::const_fn_unless_loom! {
        pub fn new() -> Self {
            Self { stack: AtomicUsize::new(0), cache: UnsafeCell::new(ptr::null_mut()) }
        }
    }

    /// Pushes every task of `list` (as one unit). Hands the list back if the
    /// queue is closed.
    pub fn push(&self, list: Batch) -> Result<(), Batch> {
        if list.is_empty() {
            return Ok(());
        }
        debug_assert_eq!(list.head.addr() & TAGS, 0);
        let mut stack = self.stack.load(Ordering::Relaxed);
        loop {
            if stack & CLOSED != 0 {
                return Err(list);
            }
            // SAFETY: until the CAS below succeeds the list is ours alone.
            unsafe { Task::set_next(list.tail, top(stack)) };
            let new = list.head.expose_provenance() | (stack & TAGS);
            // Release: the consumer's Acquire (lock CAS or refill) that takes
            // this list sees its links and the tasks' contents.
            match self
                .stack
                .compare_exchange_weak(stack, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(actual) => stack = actual,
            }
        }
    }

    /// Seals the queue: every later `push` fails. Idempotent.
    pub fn close(&self) {
        // Relaxed: the pool publishes the close with the Release CAS that sets
        // its shutdown state right after; pushes race only on this word,
        // whose modification order alone decides accepted vs. refused.
        self.stack.fetch_or(CLOSED, Ordering::Relaxed);
    }

    /// Tries to become the single consumer.
    pub fn try_consume(&self) -> Result<Consumer<'_>, Busy> {
        let mut stack = self.stack.load(Ordering::Relaxed);
        loop {
            if stack & IS_CONSUMING != 0 {
                return Err(Busy::Contended);
            }
            if stack & (HAS_CACHE | PTR_MASK) == 0 {
                return Err(Busy::Empty);
            }
            let mut new = stack | HAS_CACHE | IS_CONSUMING;
            if stack & HAS_CACHE == 0 {
                new &= !PTR_MASK; // take the pushed stack in the same CAS
            }
            // Acquire: synchronizes with the Release of the pushes we take
            // and of the previous consumer's release (its `cache` write).
            match self
                .stack
                .compare_exchange_weak(stack, new, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => {
                    let next = if stack & HAS_CACHE != 0 {
                        // SAFETY: we hold the consumer lock (IS_CONSUMING).
                        self.cache.with(|c| unsafe { *c })
                    } else {
                        top(stack)
                    };
                    return Ok(Consumer { queue: self, next });
                }
                Err(actual) => stack = actual,
            }
        }
    }

    /// Takes one task, waiting out another consumer; `None` once the queue
    /// is seen empty. (A worker refills its ring with [`try_consume`]
    /// instead; this is for a thread that runs one task at a time.)
    ///
    /// [`try_consume`]: Queue::try_consume
    pub fn pop_one(&self) -> Option<*mut Task> {
        loop {
            match self.try_consume() {
                Ok(mut consumer) => return consumer.pop(),
                Err(Busy::Empty) => return None,
                Err(Busy::Contended) => spin_loop(),
            }
        }
    }

    /// A snapshot of whether anything is queued. `Consuming` means another
    /// thread holds the lock and may leave tasks in the cache: look again.
    /// Callers get freshness from coherence: a worker probes its own queue
    /// (it is the only pusher), and the closed global queue after an
    /// Acquire of the shutdown that followed the close (docs/worker.md,
    /// "Drain").
    pub fn probe(&self) -> Probe {
        // Acquire: pairs with the Release RMW that releases the consumer
        // lock (and the Release CAS of a push), so what the last consumer
        // did before it let go (its activation in `Quiet`, `quiet.rs`) is
        // visible to the prober.
        Self::decode(self.stack.load(Ordering::Acquire))
    }

    fn decode(stack: usize) -> Probe {
        if stack & IS_CONSUMING != 0 {
            Probe::Consuming
        } else if stack & (HAS_CACHE | PTR_MASK) != 0 {
            Probe::NonEmpty
        } else {
            Probe::Empty
        }
    }
}

/// The holder of a queue's consumer lock; releases it on drop.
pub struct Consumer<'a> {
    queue: &'a Queue,
    next: *mut Task,
}

impl Consumer<'_> {
    /// Takes the next task: from the private list, else everything pushed
    /// since the lock was taken.
    pub fn pop(&mut self) -> Option<*mut Task> {
        if self.next.is_null() {
            let stack = self.queue.stack.load(Ordering::Relaxed);
            debug_assert!(stack & IS_CONSUMING != 0);
            if stack & PTR_MASK == 0 {
                return None;
            }
            // Acquire: synchronizes with the Release CAS of the pushes taken.
            let stack = self.queue.stack.fetch_and(!PTR_MASK, Ordering::Acquire);
            self.next = top(stack);
            debug_assert!(!self.next.is_null());
        }
        let task = self.next;
        // SAFETY: `task` came from a push that happens-before our Acquire,
        // and the lock makes us its only reader.
        self.next = unsafe { Task::next(task) };
        Some(task)
    }
}

impl Drop for Consumer<'_> {
    fn drop(&mut self) {
        let mut remove = IS_CONSUMING;
        if self.next.is_null() {
            remove |= HAS_CACHE;
        }
        // SAFETY: we still hold the lock.
        self.queue.cache.with_mut(|c| unsafe { *c = self.next });
        // Release: the next consumer's Acquire CAS sees our `cache` write and
        // the links we read.
        let old = self.queue.stack.fetch_and(!remove, Ordering::Release);
        debug_assert!(old & IS_CONSUMING != 0);
    }
}

#[cfg(all(test, not(any(loom, shuttle))))]
mod tests {
    use super::*;
    use core::ptr::NonNull;

    unsafe fn noop(_: NonNull<Task>) {}

    fn drain(q: &Queue) -> Vec<*mut Task> {
        let mut out = Vec::new();
        if let Ok(mut c) = q.try_consume() {
            while let Some(t) = c.pop() {
                out.push(t);
            }
        }
        out
    }

    #[test]
    fn empty_queue_reports_empty() {
        let q = Queue::new();
        assert_eq!(q.try_consume().err(), Some(Busy::Empty));
        assert_eq!(q.probe(), Probe::Empty);
    }

    #[test]
    fn lists_keep_order_and_later_lists_come_first() {
        let mut tasks: Vec<Task> = (0..5).map(|_| Task::new(noop)).collect();
        let ptrs: Vec<*mut Task> = tasks.iter_mut().map(|t| t as *mut Task).collect();
        let q = Queue::new();
        let mut a = Batch::new();
        for &t in &ptrs[..3] {
            a.push_ptr(t);
        }
        let mut b = Batch::new();
        for &t in &ptrs[3..] {
            b.push_ptr(t);
        }
        q.push(a).unwrap();
        q.push(b).unwrap();
        assert_eq!(q.probe(), Probe::NonEmpty);
        assert_eq!(drain(&q), vec![ptrs[3], ptrs[4], ptrs[0], ptrs[1], ptrs[2]]);
        assert_eq!(q.probe(), Probe::Empty);
    }

    #[test]
    fn consumer_is_exclusive_and_cache_survives_release() {
        let mut tasks: Vec<Task> = (0..3).map(|_| Task::new(noop)).collect();
        let q = Queue::new();
        let mut list = Batch::new();
        for t in &mut tasks {
            list.push(t);
        }
        q.push(list).unwrap();
        {
            let mut c = q.try_consume().unwrap();
            assert_eq!(q.try_consume().err(), Some(Busy::Contended));
            assert_eq!(q.probe(), Probe::Consuming);
            assert!(c.pop().is_some());
        } // two left in the cache
        assert_eq!(q.probe(), Probe::NonEmpty);
        assert_eq!(drain(&q).len(), 2);
        assert_eq!(q.try_consume().err(), Some(Busy::Empty));
    }

    #[test]
    fn closed_queue_refuses_and_keeps_what_it_had() {
        let mut tasks: Vec<Task> = (0..2).map(|_| Task::new(noop)).collect();
        let (a, b) = tasks.split_at_mut(1);
        let q = Queue::new();
        q.push(Batch::from(&mut a[0])).unwrap();
        q.close();
        let refused = q.push(Batch::from(&mut b[0])).unwrap_err();
        assert_eq!(refused.len(), 1);
        assert_eq!(drain(&q), vec![&mut a[0] as *mut Task]);
        q.close();
        assert_eq!(q.probe(), Probe::Empty);
    }
}
