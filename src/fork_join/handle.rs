//! `JoinHandle`: a spawned task whose result can be waited for.
//!
//! One heap allocation holds the task, the closure, the result slot, a latch
//! and a reference count of 2: one for the pool's side (the task callback),
//! one for the handle. Whichever side lets go last frees it, so neither the
//! runner's `Latch::set` nor the handle's read of the result can touch freed
//! memory, whatever the order.
//!
//! `claimed` decides who runs the closure, with one CAS from false to true:
//! * the task callback, when a worker picks the task up;
//! * or `JoinHandle::join`, on any thread, if the task has not started yet:
//!   the joiner runs the closure itself instead of waiting for it (the
//!   callback later finds it claimed and only lets go of its count).
//!
//! Whoever wins runs the closure under `catch_unwind`, stores the result and
//! sets the latch. A waiter that lost the race therefore waits for a task
//! that is running on another thread, which is what lets it sleep without
//! risking a deadlock, and without naming the task's pool, which may be gone
//! by then (`docs/fork_join.md`, "waiting").
//!
//! The same allocation, with a future in place of the closure, is a
//! future task (`future.rs`): its header is this one, created claimed, so
//! `join` always waits. For both kinds, `JoinHandle` is a `Future` too: the
//! header's `joiner` holds the waker of the task that awaits the handle,
//! which the completer wakes after it set the latch.
//!
//! Proof: `docs/fork_join.md`, `docs/future.md`; model checks:
//! `loom_tests/fork_join.rs`, `loom_tests/future.rs`.

use super::future::JoinWaker;
use super::job::{self, Completion, Outcome};
use crate::raw::Task;
use crate::scheduler::{self, Pool};
use crate::sync::UnsafeCell;
use crate::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context, Poll};

/// The part of a handle task that does not depend on the closure's type.
#[repr(C)]
pub(super) struct Header<T> {
    /// First field: a `*mut Task` of this allocation is a `*mut Header`.
    pub(super) task: Task,
    /// 0 until someone claims the closure, then 1 (a future task: 1 from
    /// the start).
    pub(super) claimed: AtomicU32,
    /// The counts that keep the allocation: the handle's and the pool
    /// side's (a future task: also one per waker, `future.rs`).
    pub(super) refs: AtomicUsize,
    /// The closure's outcome and the latch that announces it.
    pub(super) done: Completion<T>,
    /// The waker of whoever awaits the handle (`future.rs`).
    pub(super) joiner: JoinWaker,
    /// Runs the closure and stores its result (the claimer only).
    pub(super) execute: unsafe fn(NonNull<Header<T>>),
    /// Frees the whole allocation.
    pub(super) free: unsafe fn(NonNull<Header<T>>),
}

#[repr(C)]
struct HandleTask<F, T> {
    /// First field: a pointer to the header is a pointer to this.
    header: Header<T>,
    f: UnsafeCell<Option<F>>,
}

impl<T> Header<T> {
    /// Claims the closure. True for exactly one caller.
    fn claim(&self) -> bool {
        // Relaxed: the claim only decides who runs; the closure's contents
        // were published with the task (queue edges) and the result travels
        // through the latch.
        self.claimed
            .compare_exchange(0, 1, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }

    /// Gives one count back; the last one frees the allocation.
    ///
    /// # Safety
    /// `this` is alive and the caller holds a count, which it gives up.
    pub(super) unsafe fn release(this: NonNull<Self>) {
        // The model builds check that a future task is still allocated
        // (`sync::ghost`; other handles are not tracked).
        crate::sync::ghost::assert_live(this.as_ptr().cast(), "a handle's count");
        // AcqRel: Release so this side's accesses happen-before the free;
        // Acquire, for the last one, so the other side's accesses do too.
        // SAFETY: alive while we hold a count.
        if unsafe { this.as_ref() }.refs.fetch_sub(1, Ordering::AcqRel) == 1 {
            // SAFETY: the last count: nobody else can reach it.
            unsafe { (this.as_ref().free)(this) };
        }
    }

    /// The task callback: run the closure unless a waiter claimed it, then
    /// let go of the pool side's count.
    unsafe fn run_task(task: NonNull<Task>) {
        let this = task.cast::<Self>();
        // SAFETY: the pool side holds a count until `release` below.
        let header = unsafe { this.as_ref() };
        if header.claim() {
            // SAFETY: claimed by us.
            unsafe { (header.execute)(this) };
        }
        // SAFETY: we hold the pool side's count.
        unsafe { Self::release(this) };
    }
}

impl<F, T> HandleTask<F, T>
where
    F: FnOnce() -> T,
{
    /// # Safety
    /// The caller won `claim` on this allocation and holds a count.
    unsafe fn execute(header: NonNull<Header<T>>) {
        let this = header.cast::<Self>();
        // SAFETY: the claim makes the closure ours; alive (a count is held).
        let f = unsafe { this.as_ref().f.with_mut(|f| (*f).take()) }.expect("claimed once");
        // SAFETY: alive while our count is held (the handle side keeps its
        // own, so the memory outlives `set` whatever it does); the claim
        // makes this the only run.
        unsafe { Completion::run(&raw const (*header.as_ptr()).done, f) };
        // SAFETY: alive (a count is held); the latch is set.
        unsafe { header.as_ref() }.joiner.complete();
    }

    /// # Safety
    /// The last count of the allocation.
    unsafe fn free(header: NonNull<Header<T>>) {
        // SAFETY: made by `Box::into_raw` in `spawn`; last owner.
        drop(unsafe { Box::from_raw(header.cast::<Self>().as_ptr()) });
    }
}

/// An owned permission to wait for a spawned task and take its result.
/// Made by [`ThreadPool::spawn_with_handle`](crate::ThreadPool::spawn_with_handle)
/// (a closure) and [`ThreadPool::spawn_future`](crate::ThreadPool::spawn_future)
/// (a future).
///
/// Dropping the handle detaches the task: it still runs, and its result is
/// dropped. Like [`std::thread::JoinHandle`], [`join`](JoinHandle::join)
/// returns `Err` with the payload if the task panicked; such a panic does
/// not reach the pool's panic handler.
///
/// A `JoinHandle` is also a [`Future`] with the same output as `join`,
/// for both kinds of task: `.await` it from any executor (tokio,
/// [`block_on`](crate::block_on), a future on this pool); the task that
/// completes wakes the last waker the handle was polled with. Take the
/// result once: polling the handle again after it returned `Ready`, or
/// calling `join` after that, panics.
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// let pool = zap_pool::ThreadPool::with_max_threads(2);
/// let handle = pool.spawn_with_handle(|| 6 * 7).unwrap();
/// assert_eq!(handle.join().unwrap(), 42);
/// // Awaited instead of joined:
/// let handle = pool.spawn_with_handle(|| 6 * 7).unwrap();
/// assert_eq!(zap_pool::block_on(handle).unwrap(), 42);
/// ```
pub struct JoinHandle<T> {
    header: NonNull<Header<T>>,
    _owns: PhantomData<T>,
}

// SAFETY: the handle gives its thread the task's result (`T: Send`) and
// touches the shared header only through atomics and the latch's edge.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only allows `is_finished`, an atomic load.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> JoinHandle<T> {
    /// Spawns `f` on `pool` with a handle. Hands `f` back if the pool
    /// refuses it.
    pub(crate) fn spawn<F>(pool: &Pool, f: F) -> Result<Self, F>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let job = HandleTask {
            header: Header {
                task: Task::new(Header::<T>::run_task),
                claimed: AtomicU32::new(0),
                refs: AtomicUsize::new(2),
                done: Completion::new(),
                joiner: JoinWaker::new(),
                execute: HandleTask::<F, T>::execute,
                free: HandleTask::<F, T>::free,
            },
            f: UnsafeCell::new(Some(f)),
        };
        // SAFETY: `#[repr(C)]` with the header first and the task first in
        // it; the allocation lives until both counts are given back.
        match unsafe { job::submit_boxed(pool, job) } {
            Ok(heap) => Ok(Self {
                header: heap.cast(),
                _owns: PhantomData,
            }),
            Err(refused) => Err(refused.f.into_inner().expect("not run")),
        }
    }

    /// A handle for the allocation at `header`, taking over one count.
    ///
    /// # Safety
    /// `header` heads a live handle allocation, and the caller gives the
    /// handle's count to the new handle.
    pub(super) unsafe fn from_header(header: NonNull<Header<T>>) -> Self {
        Self {
            header,
            _owns: PhantomData,
        }
    }

    /// Whether the task has finished (its result is ready). Does not block.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::with_max_threads(1);
    /// let handle = pool.spawn_with_handle(|| ()).unwrap();
    /// while !handle.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// handle.join().unwrap();
    /// ```
    pub fn is_finished(&self) -> bool {
        // SAFETY: the handle holds a count.
        unsafe { self.header.as_ref() }.done.latch.probe()
    }

    /// Waits for the task and returns its result, or the payload of its
    /// panic.
    ///
    /// A task that has not started yet runs right here instead, on any
    /// thread: `join` never waits for a task that nobody runs (as a worker
    /// of the pool would, a thread that joins takes the work over). While
    /// the task runs on another thread, a worker (of any pool) runs other
    /// tasks of its own pool meanwhile; any other thread blocks on a futex,
    /// without spinning.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::with_max_threads(2);
    /// let ok = pool.spawn_with_handle(|| "done").unwrap();
    /// let bad = pool.spawn_with_handle(|| -> u32 { panic!("boom") }).unwrap();
    /// assert_eq!(ok.join().unwrap(), "done");
    /// assert!(bad.join().is_err());
    /// ```
    pub fn join(self) -> Outcome<T> {
        let header = self.header;
        core::mem::forget(self);
        // SAFETY: we hold the handle's count until `release` below.
        let h = unsafe { header.as_ref() };
        if h.claim() {
            // Not started: run it here rather than wait for it.
            // SAFETY: claimed by us; we hold a count.
            unsafe { (h.execute)(header) };
        } else {
            // Running (or about to) on another thread: it can always finish.
            // The pool is not named: it may be gone once the task is done.
            scheduler::wait_for(None, &h.done.latch, &|| true);
        }
        let result = h.done.take();
        h.joiner.leave();
        // SAFETY: we give up the handle's count and do not touch `h` again.
        unsafe { Header::release(header) };
        result
    }
}

/// Awaits the task: `Ready` with what [`JoinHandle::join`] would return.
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// let pool = zap_pool::ThreadPool::with_max_threads(2);
/// let a = pool.spawn_with_handle(|| 20).unwrap();
/// let b = pool.spawn_future(async { 22 }).unwrap();
/// let sum = zap_pool::block_on(async { a.await.unwrap() + b.await.unwrap() });
/// assert_eq!(sum, 42);
/// ```
impl<T> Future for JoinHandle<T> {
    type Output = Outcome<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<T>> {
        // SAFETY: the handle holds a count.
        let h = unsafe { self.header.as_ref() };
        // Done already, or done before our waker was in place: the latch is
        // set either way (the completer sets it before it reads the waker).
        if h.done.latch.probe() || h.joiner.register(cx.waker()) {
            let output = h.done.take();
            // Done with the waker slot: the awaiting task's waker must not
            // live on in this finished task.
            h.joiner.leave();
            Poll::Ready(output)
        } else {
            Poll::Pending
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        // SAFETY: the handle holds a count.
        unsafe { self.header.as_ref() }.joiner.leave();
        // SAFETY: the handle's count, given up once.
        unsafe { Header::release(self.header) };
    }
}
