//! `Scope`: tasks that may borrow from the caller's stack, because the scope
//! does not return before every one of them has finished.
//!
//! Counting:
//! * `pending` counts the scope's body plus every spawned task that has not
//!   finished. It starts at 1 (the body). A spawn adds 1 before the task is
//!   published; it is made by the body or by a task of the scope, each of
//!   which still holds its own count, so `pending` cannot reach 0 meanwhile.
//!   A task gives its count back after its closure returned (or panicked);
//!   the body gives its count back when it returns. Whoever brings `pending`
//!   to 0 after the body has set the latch; if the body's own decrement is
//!   the last, nothing waits.
//! * `queued` counts spawned tasks that have not started. A worker waiting
//!   for the scope keeps searching for work while it is not 0 and may block
//!   on the latch once it is: the tasks it waits for then all run on other
//!   threads (`docs/fork_join.md`, "waiting").
//! * The first panic of a task is kept; the body's own panic wins over it.
//!   Both are re-raised only after every task has finished.
//!
//! Each spawned task is one heap allocation (the task and its closure
//! together), freed before the closure runs.
//!
//! Proof: `docs/fork_join.md`; model checks: `shuttle_tests/fork_join.rs`.

use super::job;
use crate::raw::Task;
use crate::scheduler::{self, Pool};
use crate::structures::latch::Latch;
use crate::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use core::fmt;
use core::marker::PhantomData;
use core::ptr::{self, NonNull};
use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

type Payload = Box<dyn Any + Send>;

/// A scope in which tasks that borrow non-`'static` data can be spawned on a
/// pool. Made by [`ThreadPool::scope`](crate::ThreadPool::scope).
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// let pool = zap_pool::ThreadPool::with_max_threads(2);
/// let mut halves = [0u64; 2];
/// let (left, right) = halves.split_at_mut(1);
/// pool.scope(|s| {
///     s.spawn(|_| left[0] = (0..1000).sum());
///     s.spawn(|_| right[0] = (1000..2000).sum());
/// });
/// assert_eq!(halves[0] + halves[1], (0..2000).sum());
/// ```
pub struct Scope<'scope> {
    pool: *const Pool,
    pending: AtomicUsize,
    queued: AtomicUsize,
    latch: Latch,
    /// The first task panic, boxed once more to fit a thin pointer.
    panic: AtomicPtr<Payload>,
    /// Invariant in `'scope`, as `std::thread::Scope` is.
    _scope: PhantomData<&'scope mut &'scope ()>,
}

// SAFETY: every field shared between threads is atomic; `pool` points to a
// pool that outlives the scope (it is only compared and dereferenced while
// the `ThreadPool` that made the scope is borrowed).
unsafe impl Sync for Scope<'_> {}
// SAFETY: as above; nothing in a scope is tied to the thread that made it.
unsafe impl Send for Scope<'_> {}

impl fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            // Relaxed: a snapshot for display.
            .field("pending", &self.pending.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[repr(C)]
struct ScopeTask<'scope, F> {
    /// First field: a `*mut Task` of this allocation is a `*mut ScopeTask`.
    task: Task,
    scope: *const Scope<'scope>,
    f: F,
}

impl<'scope> Scope<'scope> {
    /// Runs `body` in a new scope on `pool` and returns once it and every
    /// task spawned in the scope have finished.
    pub(crate) fn run<F, R>(pool: &Pool, body: F) -> R
    where
        F: FnOnce(&Scope<'scope>) -> R,
    {
        let scope = Scope {
            pool,
            pending: AtomicUsize::new(1),
            queued: AtomicUsize::new(0),
            latch: Latch::new(),
            panic: AtomicPtr::new(ptr::null_mut()),
            _scope: PhantomData,
        };
        let result = panic::catch_unwind(AssertUnwindSafe(|| body(&scope)));
        scope.finish_body();
        // Every task has finished; their panics and results are visible.
        // Relaxed: the latch (or the last decrement of `pending`, AcqRel)
        // ordered every task's writes, this one included, before us.
        let task_panic = scope.panic.swap(ptr::null_mut(), Ordering::Relaxed);
        let task_panic = (!task_panic.is_null()).then(|| {
            // SAFETY: made by `Box::into_raw` in `record_panic`, taken once.
            *unsafe { Box::from_raw(task_panic) }
        });
        match result {
            Err(payload) => panic::resume_unwind(payload),
            Ok(_) if task_panic.is_some() => panic::resume_unwind(task_panic.expect("checked")),
            Ok(value) => value,
        }
    }

    /// How many counts `pending` holds now (the body's and the unfinished
    /// tasks'): a snapshot for the model-check suites.
    #[cfg(any(loom, shuttle))]
    pub(crate) fn pending_snapshot(&self) -> usize {
        // Relaxed: a snapshot that orders nothing.
        self.pending.load(Ordering::Relaxed)
    }

    /// Gives the body's count back and waits for the tasks.
    fn finish_body(&self) {
        // AcqRel: Release so a task that finishes last sees the body's
        // writes; Acquire (if we are last) so we see every task's writes,
        // through the release sequence of their decrements.
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            return;
        }
        // Tasks are still running or queued: the last one sets the latch.
        // Relaxed: only counts; see the module docs ("queued").
        // SAFETY: the pool outlives the scope.
        let pool = unsafe { &*self.pool };
        scheduler::wait_for(Some(pool), &self.latch, &|| {
            self.queued.load(Ordering::Relaxed) == 0
        });
    }

    /// Spawns `f` as a task of this scope. `f` may borrow anything that
    /// outlives the scope; it gets the scope, so it can spawn more.
    ///
    /// The task runs on the pool. If the pool no longer accepts tasks from
    /// this thread (it was shut down and this thread is not one of its
    /// workers), `f` runs on this thread before `spawn` returns. One heap
    /// allocation per spawn.
    ///
    /// A panic in `f` is caught; the scope re-raises the first one when it
    /// ends, after all its tasks have finished.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// let pool = zap_pool::ThreadPool::with_max_threads(2);
    /// let count = AtomicUsize::new(0);
    /// pool.scope(|s| {
    ///     for _ in 0..4 {
    ///         s.spawn(|s| {
    ///             count.fetch_add(1, Ordering::Relaxed);
    ///             // A task may spawn more tasks into the same scope.
    ///             s.spawn(|_| {
    ///                 count.fetch_add(1, Ordering::Relaxed);
    ///             });
    ///         });
    ///     }
    /// });
    /// assert_eq!(count.into_inner(), 8);
    /// ```
    pub fn spawn<F>(&self, f: F)
    where
        F: FnOnce(&Scope<'scope>) + Send + 'scope,
    {
        // Relaxed: the caller holds a count (the body's or its task's), so
        // `pending` is not 0 and cannot reach 0 before this task's count is
        // given back; the increment publishes nothing.
        self.pending.fetch_add(1, Ordering::Relaxed);
        // Relaxed: a count only (module docs).
        self.queued.fetch_add(1, Ordering::Relaxed);
        let job = ScopeTask {
            task: Task::new(Self::run_task::<F>),
            scope: self,
            f,
        };
        // SAFETY: the pool outlives the scope (the `ThreadPool` that made it
        // is borrowed meanwhile). `#[repr(C)]`, task first; `run_task` frees
        // the allocation. The callback reaches the scope, which does not end
        // before the task's count is given back, and `f` borrows only what
        // outlives the scope.
        if let Err(refused) = unsafe { job::submit_boxed(&*self.pool, job) } {
            // Never published: run it here, once.
            let ScopeTask { scope, f, .. } = *refused;
            // SAFETY: this task holds one count of `scope`, which is alive.
            unsafe { Self::execute(scope, f) };
        }
    }

    unsafe fn run_task<F>(task: NonNull<Task>)
    where
        F: FnOnce(&Scope<'scope>) + Send + 'scope,
    {
        // SAFETY: boxed by `spawn`; the pool calls this once. Moving out
        // frees the allocation before `f` runs.
        let ScopeTask { scope, f, .. } =
            *unsafe { Box::from_raw(task.cast::<ScopeTask<'scope, F>>().as_ptr()) };
        // SAFETY: the task holds one count of `scope`, which is alive.
        unsafe { Self::execute(scope, f) };
    }

    /// Runs a task of the scope and gives its count back.
    ///
    /// # Safety
    /// The caller holds one count of the live scope `scope`.
    unsafe fn execute<F>(scope: *const Scope<'scope>, f: F)
    where
        F: FnOnce(&Scope<'scope>) + Send + 'scope,
    {
        // SAFETY: the scope is alive while this task holds its count.
        let this = unsafe { &*scope };
        // Relaxed: a count only (module docs).
        this.queued.fetch_sub(1, Ordering::Relaxed);
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| f(this))) {
            this.record_panic(payload);
        }
        // SAFETY: `scope` is alive; `complete` stops touching it after the
        // decrement unless it was the last count.
        unsafe { Self::complete(scope) };
    }

    fn record_panic(&self, payload: Payload) {
        let boxed = Box::into_raw(Box::new(payload));
        // Relaxed: the payload is published to the scope's end by the
        // `pending` decrement that follows in this thread (AcqRel) and the
        // latch; only the first panic is kept.
        if self
            .panic
            .compare_exchange(ptr::null_mut(), boxed, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            // SAFETY: not published: still ours.
            drop(unsafe { Box::from_raw(boxed) });
        }
    }

    /// A task's last access to its scope: give its count back, and if it
    /// was the last one, wake the scope's waiter.
    ///
    /// # Safety
    /// `this` is alive, and the caller holds one count.
    unsafe fn complete(this: *const Self) {
        // AcqRel: Release publishes this task's writes (and its panic) to
        // whoever brings the count to 0; Acquire, for that last one, takes
        // every earlier task's writes along into the latch's Release.
        // SAFETY: alive while we hold our count (contract).
        if unsafe { (*this).pending.fetch_sub(1, Ordering::AcqRel) } == 1 {
            // The body gave its count back before us, so it waits (or is
            // about to) on the latch. After the decrement no other task can
            // finish the scope, and the waiter cannot leave before `set`.
            // SAFETY: as above; `set` touches nothing after its swap.
            unsafe { Latch::set(&raw const (*this).latch) };
        }
    }
}
