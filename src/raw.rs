//! The raw, intrusive API: [`Task`] and [`Batch`].
//!
//! A [`Task`] is a link plus a callback. The pool never allocates, owns or
//! frees task memory: it only links tasks through their `next` field and calls
//! `callback` once per scheduling. A [`Batch`] is a list of tasks scheduled
//! together with one notification; scheduling it performs no heap allocation.
//!
//! Embed a `Task` in your own `#[repr(C)]` struct (first field) and recover the
//! struct from the pointer the callback receives:
//!
//! ```
//! # zap_pool::__skip_doctest_under_models();
//! use std::ptr::NonNull;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use zap_pool::ThreadPool;
//! use zap_pool::raw::{Batch, Task};
//!
//! #[repr(C)]
//! struct Job {
//!     task: Task, // first field: a `*mut Task` is a `*mut Job`
//!     done: &'static AtomicUsize,
//! }
//!
//! unsafe fn run(task: NonNull<Task>) {
//!     // SAFETY: every task scheduled with this callback is the `task` field
//!     // of a live `Job`.
//!     let job = unsafe { task.cast::<Job>().as_ref() };
//!     job.done.fetch_add(1, Ordering::Release);
//! }
//!
//! static DONE: AtomicUsize = AtomicUsize::new(0);
//! let pool = ThreadPool::with_max_threads(2);
//! let mut jobs: Vec<Job> = (0..4).map(|_| Job { task: Task::new(run), done: &DONE }).collect();
//! let mut batch = Batch::new();
//! for job in &mut jobs {
//!     // A pointer to the whole `Job`, so the callback may reach `done`.
//!     // SAFETY: `job` is valid and only this thread touches it now.
//!     unsafe { batch.push_raw(NonNull::from(job).cast()) };
//! }
//! // SAFETY: `jobs` is neither moved nor dropped until every callback ran
//! // (the pool is joined below, before `jobs` goes out of scope).
//! unsafe { pool.schedule(batch) }.expect("the pool is running");
//! pool.shutdown();
//! pool.join_workers();
//! assert_eq!(DONE.load(Ordering::Acquire), 4);
//! ```

use crate::sync::UnsafeCell;
use core::fmt;
use core::ptr::{self, NonNull};

/// A unit of work: an intrusive link and the function that runs it.
///
/// The pool calls `callback` with a pointer to this task, once for each time
/// the task is scheduled. From the moment the callback starts, the pool no
/// longer touches the task: the callback may free it, reuse it or schedule it
/// again.
///
/// Alignment is at least 8, so the pool can keep tag bits in the low bits of
/// task pointers.
#[repr(C, align(8))]
pub struct Task {
    /// The link to the next task of a batch or queue. Written only by the
    /// thread that owns the task at that moment; handed over by the Release /
    /// Acquire edges of the queue and ring-buffer operations.
    pub(crate) next: UnsafeCell<*mut Task>,
    callback: unsafe fn(NonNull<Task>),
}

impl Task {
    crate::sync::const_fn_unless_loom! {
        /// A task that runs `callback` when it is picked up.
        ///
        /// ```
        /// # zap_pool::__skip_doctest_under_models();
        /// use std::ptr::NonNull;
        /// use zap_pool::raw::Task;
        /// unsafe fn hello(_task: NonNull<Task>) {}
        /// let task = Task::new(hello);
        /// # drop(task);
        /// ```
        pub fn new(callback: unsafe fn(NonNull<Task>)) -> Self {
            Self { next: UnsafeCell::new(ptr::null_mut()), callback }
        }
    }

    /// The callback this task runs.
    pub fn callback(&self) -> unsafe fn(NonNull<Task>) {
        self.callback
    }

    /// Sets this task's link.
    ///
    /// # Safety
    /// `this` is valid and no other thread accesses its link now.
    pub(crate) unsafe fn set_next(this: *mut Task, next: *mut Task) {
        // SAFETY: the caller owns the task's link (see above).
        unsafe { (*this).next.with_mut(|p| *p = next) }
    }

    /// Reads this task's link.
    ///
    /// # Safety
    /// `this` is valid and its last link write happens-before this read.
    pub(crate) unsafe fn next(this: *mut Task) -> *mut Task {
        // SAFETY: as stated by the caller.
        unsafe { (*this).next.with(|p| *p) }
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("callback", &(self.callback as *const ()))
            .finish_non_exhaustive()
    }
}

/// An ordered list of tasks to schedule with one call and one notification.
///
/// Building a batch links its tasks and allocates nothing. Every push
/// terminates the list explicitly, so a task that carries a link from an
/// earlier batch can never drag old tasks back in (hazard 7).
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// use std::ptr::NonNull;
/// use zap_pool::raw::{Batch, Task};
/// unsafe fn noop(_: NonNull<Task>) {}
/// let (mut a, mut b) = (Task::new(noop), Task::new(noop));
/// let mut batch = Batch::from(&mut a);
/// batch.push(&mut b);
/// assert_eq!(batch.len(), 2);
/// ```
pub struct Batch {
    pub(crate) head: *mut Task,
    pub(crate) tail: *mut Task,
    pub(crate) len: usize,
}

// SAFETY: a batch is a list of task pointers. Nothing is dereferenced through
// it except by `ThreadPool::schedule`, whose safety contract makes the caller
// responsible for the tasks being usable from the pool's threads.
unsafe impl Send for Batch {}

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl<'a> From<&'a mut Task> for Batch {
    /// A batch of one task.
    fn from(task: &'a mut Task) -> Self {
        let mut batch = Batch::new();
        batch.push(task);
        batch
    }
}

impl Batch {
    /// An empty batch.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let batch = zap_pool::raw::Batch::new();
    /// assert!(batch.is_empty());
    /// ```
    pub const fn new() -> Self {
        Self {
            head: ptr::null_mut(),
            tail: ptr::null_mut(),
            len: 0,
        }
    }

    /// The number of tasks in the batch.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// assert_eq!(zap_pool::raw::Batch::new().len(), 0);
    /// ```
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch has no task.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// assert!(zap_pool::raw::Batch::new().is_empty());
    /// ```
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `task` at the end of the batch, overwriting its link.
    ///
    /// The batch keeps a pointer to `task`; the borrow ends here, and the
    /// contract of [`ThreadPool::schedule`](crate::ThreadPool::schedule)
    /// governs the task from then on.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// use std::ptr::NonNull;
    /// use zap_pool::raw::{Batch, Task};
    /// unsafe fn noop(_: NonNull<Task>) {}
    /// let mut task = Task::new(noop);
    /// let mut batch = Batch::new();
    /// batch.push(&mut task);
    /// assert_eq!(batch.len(), 1);
    /// ```
    pub fn push(&mut self, task: &mut Task) {
        self.push_ptr(task);
    }

    /// Appends a task by pointer, overwriting its link.
    ///
    /// The callback receives this very pointer, with its provenance. A
    /// pointer made from `&mut Task` (as [`push`](Batch::push) takes)
    /// covers the `Task` alone; to reach an enclosing struct from the
    /// callback, pass a pointer made from the whole struct, as below.
    ///
    /// # Safety
    ///
    /// `task` is valid for writes, and no other thread accesses the task
    /// while it is being batched.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// use std::ptr::NonNull;
    /// use zap_pool::raw::{Batch, Task};
    /// #[repr(C)]
    /// struct Job { task: Task, value: u32 }
    /// unsafe fn run(task: NonNull<Task>) {
    ///     // SAFETY: the pointer was made from a whole `Job` (below).
    ///     let job = unsafe { task.cast::<Job>().as_ref() };
    ///     assert_eq!(job.value, 7);
    /// }
    /// let mut job = Job { task: Task::new(run), value: 7 };
    /// let mut batch = Batch::new();
    /// // SAFETY: `job` is ours and valid.
    /// unsafe { batch.push_raw(NonNull::from(&mut job).cast()) };
    /// assert_eq!(batch.len(), 1);
    /// ```
    pub unsafe fn push_raw(&mut self, task: NonNull<Task>) {
        self.push_ptr(task.as_ptr());
    }

    /// Appends every task of `other`, keeping their order.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// use std::ptr::NonNull;
    /// use zap_pool::raw::{Batch, Task};
    /// unsafe fn noop(_: NonNull<Task>) {}
    /// let (mut a, mut b) = (Task::new(noop), Task::new(noop));
    /// let mut first = Batch::from(&mut a);
    /// first.append(Batch::from(&mut b));
    /// assert_eq!(first.len(), 2);
    /// ```
    pub fn append(&mut self, other: Batch) {
        if other.is_empty() {
            return;
        }
        if self.is_empty() {
            *self = other;
            return;
        }
        // SAFETY: `self.tail` is a task of this batch, which only its holder
        // links; `other`'s tail link is already null.
        unsafe { Task::set_next(self.tail, other.head) };
        self.tail = other.tail;
        self.len += other.len;
    }

    /// Appends a task by pointer; its link is overwritten with null.
    pub(crate) fn push_ptr(&mut self, task: *mut Task) {
        // SAFETY: the caller holds the task exclusively while it is being
        // batched (a `&mut Task`, or a task the pool just took out of a ring).
        unsafe { Task::set_next(task, ptr::null_mut()) };
        if self.is_empty() {
            self.head = task;
        } else {
            // SAFETY: as above, for the current tail.
            unsafe { Task::set_next(self.tail, task) };
        }
        self.tail = task;
        self.len += 1;
    }

    /// Removes and returns the first task.
    pub(crate) fn pop_front(&mut self) -> Option<*mut Task> {
        if self.is_empty() {
            return None;
        }
        let task = self.head;
        self.len -= 1;
        if self.len == 0 {
            *self = Batch::new();
        } else {
            // SAFETY: the batch's holder owns its links; counting by `len`
            // (not following links to null) bounds the walk (hazard 7).
            self.head = unsafe { Task::next(task) };
        }
        Some(task)
    }
}
