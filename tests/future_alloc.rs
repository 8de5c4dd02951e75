//! Heap allocations of future tasks, counted by a global allocator: one per
//! spawned future (task, future and output together), none per poll, per
//! wake, per waker clone or per await of a handle.
//!
//! A separate test binary with a single `#[test]`, as `alloc.rs`, so that
//! nothing else in the process allocates during the measured window.
#![cfg(not(any(loom, shuttle)))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use zap_pool::ThreadPool;

struct Counting;

static ENABLED: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ENABLED.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ENABLED.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Pending `n` times: each time it clones its waker, wakes the clone (by
/// value) and wakes the original by reference, all during the poll.
struct Yield(u32);

impl Future for Yield {
    type Output = u32;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        if self.0 == 0 {
            return Poll::Ready(7);
        }
        self.0 -= 1;
        let clone: Waker = cx.waker().clone();
        clone.wake();
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn one_allocation_per_future_none_per_poll_or_wake() {
    const N: usize = 1_000;
    let pool = ThreadPool::with_max_threads(2);
    pool.warm(2).unwrap();
    // Warm up every path on both workers, uncounted (a thread's first
    // task may set up thread-locals).
    let mut handles = Vec::with_capacity(N);
    for _ in 0..N {
        handles.push(pool.spawn_future(Yield(3)).unwrap());
    }
    for h in handles.drain(..) {
        assert_eq!(h.join().unwrap(), 7);
    }
    ALLOCS.store(0, Ordering::SeqCst);
    ENABLED.store(true, Ordering::SeqCst);
    for _ in 0..N {
        handles.push(pool.spawn_future(Yield(10)).unwrap());
    }
    let mut sum = 0;
    for h in handles.drain(..) {
        sum += h.join().unwrap();
    }
    ENABLED.store(false, Ordering::SeqCst);
    assert_eq!(sum, 7 * N as u32);
    let allocs = ALLOCS.load(Ordering::SeqCst);
    println!("{N} futures, 10 wakes each: {allocs} allocations");
    assert_eq!(
        allocs, N,
        "one allocation per future, none per poll or wake"
    );
}
