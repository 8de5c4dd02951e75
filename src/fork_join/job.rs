//! The job vocabulary: every kind of work the crate builds on top of the
//! raw [`Task`], and the one way each of them enters a pool.
//!
//! A job is a `#[repr(C)]` struct whose first field is its `Task`, so the
//! task pointer the callback receives is a pointer to the whole job:
//!
//! | job | memory | made by | callback |
//! |---|---|---|---|
//! | [`HeapTask`] | one heap allocation, freed before the closure runs | `ThreadPool::spawn` | runs the closure |
//! | [`JoinJob`] | the stack frame of its waiter | `join`, `ThreadPool::join` | runs the closure into a [`Completion`] |
//! | `ScopeTask` (`scope.rs`) | one heap allocation, freed before the closure runs | `Scope::spawn` | runs the closure, then gives its scope count back |
//! | `HandleTask` (`handle.rs`) | one reference-counted heap allocation | `spawn_with_handle` | claims and runs the closure into a [`Completion`] |
//! | `FutureTask` (`future.rs`) | one reference-counted heap allocation | `spawn_future` | polls the future; on `Ready`, its output into a [`Completion`] |
//!
//! [`submit`] schedules a job that lives elsewhere (a stack frame);
//! [`submit_boxed`] boxes a job and schedules it, handing the box back if
//! the pool refuses it. A [`Completion`] is the outcome slot plus the latch
//! that announces it, shared by join jobs and handle tasks.

use crate::raw::{Batch, Task};
use crate::scheduler::Pool;
use crate::structures::latch::Latch;
use crate::sync::UnsafeCell;
use core::ptr::NonNull;
use std::panic::{self, AssertUnwindSafe};

/// What a closure run under `catch_unwind` gives: its value or the payload
/// of its panic (the same type as `std::thread::Result`).
pub(crate) type Outcome<T> = Result<T, Box<dyn core::any::Any + Send>>;

/// Schedules the job whose `Task` (its first field) is at `task`. Returns
/// `false` if the pool refused it: then no thread ever saw it.
///
/// # Safety
/// `task` points to a whole job (not just its `Task` field) that stays
/// alive and in place until its callback starts, and is in no other batch.
pub(crate) unsafe fn submit(pool: &Pool, task: NonNull<Task>) -> bool {
    let mut batch = Batch::new();
    // SAFETY: by the contract, `task` is valid and ours to link.
    unsafe { batch.push_raw(task) };
    pool.schedule(batch).is_ok()
}

/// Boxes `job` and schedules it. Returns the allocation (now the pool's
/// until the callback frees it or gives it back) or, if the pool refused
/// it, the box, which no thread has seen.
///
/// # Safety
/// `J` is `#[repr(C)]` with a `Task` as its first field, and that task's
/// callback takes over the allocation (frees it, or shares it under its own
/// protocol) when it runs.
pub(crate) unsafe fn submit_boxed<J>(pool: &Pool, job: J) -> Result<NonNull<J>, Box<J>> {
    let heap = NonNull::from(Box::leak(Box::new(job)));
    // SAFETY: a pointer to the whole, fresh allocation, which lives until
    // its callback takes it over (contract).
    if unsafe { submit(pool, heap.cast()) } {
        Ok(heap)
    } else {
        // SAFETY: refused, so never published: the allocation is still ours.
        Err(unsafe { Box::from_raw(heap.as_ptr()) })
    }
}

/// A fire-and-forget closure: `ThreadPool::spawn`.
#[repr(C)]
pub(crate) struct HeapTask<F> {
    /// First field: a `*mut Task` of this allocation is a `*mut HeapTask`.
    task: Task,
    f: F,
}

impl<F: FnOnce() + Send + 'static> HeapTask<F> {
    /// Spawns `f` on `pool`, or hands it back if the pool refuses.
    pub(crate) fn spawn(pool: &Pool, f: F) -> Result<(), F> {
        let job = HeapTask {
            task: Task::new(Self::run),
            f,
        };
        // SAFETY: `#[repr(C)]`, task first; `run` frees the allocation.
        match unsafe { submit_boxed(pool, job) } {
            Ok(_) => Ok(()),
            Err(refused) => Err(refused.f),
        }
    }

    unsafe fn run(task: NonNull<Task>) {
        // SAFETY: `task` is the first field of a `HeapTask<F>` boxed by
        // `spawn`, and the pool calls this once.
        let heap = unsafe { Box::from_raw(task.cast::<Self>().as_ptr()) };
        let HeapTask { f, .. } = *heap; // frees the allocation first
        f();
    }
}

/// The outcome of a closure that runs on another thread, and the latch that
/// announces it: the part that a `join` job and a `JoinHandle` task share.
pub(crate) struct Completion<R> {
    pub(crate) latch: Latch,
    result: UnsafeCell<Option<Outcome<R>>>,
}

impl<R> Completion<R> {
    pub(crate) fn new() -> Self {
        Self {
            latch: Latch::new(),
            result: UnsafeCell::new(None),
        }
    }

    /// Runs `f` under `catch_unwind`, stores its outcome, then sets the
    /// latch: the outcome is written before, and the waiter reads it only
    /// after, the latch's Release/Acquire edge.
    ///
    /// # Safety
    /// `this` is alive until the latch is set, and this is its only run.
    pub(crate) unsafe fn run(this: *const Self, f: impl FnOnce() -> R) {
        let outcome = panic::catch_unwind(AssertUnwindSafe(f));
        // SAFETY: the contract is ours.
        unsafe { Self::finish(this, outcome) };
    }

    /// Stores `outcome`, then sets the latch (as `run`, for an outcome
    /// made elsewhere: a future's last poll).
    ///
    /// # Safety
    /// As `run`.
    pub(crate) unsafe fn finish(this: *const Self, outcome: Outcome<R>) {
        // SAFETY: the waiter reads `result` only after the latch is set.
        unsafe { (*this).result.with_mut(|r| *r = Some(outcome)) };
        // SAFETY: alive until the latch is set (contract); `set` touches
        // nothing after its swap.
        unsafe { Latch::set(&raw const (*this).latch) };
    }

    /// The outcome, once the latch is set.
    pub(crate) fn take(&self) -> Outcome<R> {
        debug_assert!(self.latch.probe());
        // SAFETY: the latch is set (the Acquire in `probe` / `wait`
        // synchronized with the runner's `set`), so the runner's write of
        // the result happens-before this read, and it writes nothing more.
        unsafe { self.result.with_mut(|r| (*r).take()) }.expect("a finished closure has an outcome")
    }
}

/// A closure waiting to run as a task, with room for its outcome and the
/// latch that announces it. Lives in the stack frame of whoever waits for it.
#[repr(C)]
pub(crate) struct JoinJob<F, R> {
    /// First field: a `*mut Task` of this job is a `*mut JoinJob`.
    task: Task,
    pub(crate) done: Completion<R>,
    f: UnsafeCell<Option<F>>,
}

impl<F, R> JoinJob<F, R>
where
    F: FnOnce() -> R,
{
    pub(crate) fn new(f: F) -> Self {
        Self {
            task: Task::new(Self::run),
            done: Completion::new(),
            f: UnsafeCell::new(Some(f)),
        }
    }

    /// The task callback, on the thread that took the job from a queue or a
    /// deque: run the closure, store its result, set the latch.
    unsafe fn run(task: NonNull<Task>) {
        let job = task.cast::<Self>().as_ptr().cast_const();
        // SAFETY: the job was published (deque or queue) before this thread
        // took it, with the Release/Acquire edges of that structure, and
        // nobody else touches `f` once it is taken (the owner's pop failed).
        let f = unsafe { (*job).f.with_mut(|f| (*f).take()) }.expect("a join job runs once");
        // SAFETY: the job is alive until its latch is set: its waiter does
        // not return before. The job runs once.
        unsafe { Completion::run(&raw const (*job).done, f) };
    }

    /// Takes the closure back to run it on this thread.
    ///
    /// # Safety
    /// No other thread has taken or can take the job.
    pub(crate) unsafe fn take_f(&self) -> F {
        // SAFETY: exclusive by the contract.
        unsafe { self.f.with_mut(|f| (*f).take()) }.expect("a join job runs once")
    }
}
