//! The crate's errors: a configuration the builder rejects, and work a
//! shut-down pool hands back.

use crate::builder::MIN_STACK_SIZE;
use crate::raw::Batch;
use crate::scheduler::MAX_THREADS;
use core::fmt;

/// [`Builder::build`](crate::Builder::build) was given a setting it cannot
/// honour, or [`Builder::build_global`](crate::Builder::build_global) came
/// after the global pool existed.
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// let err = zap_pool::ThreadPool::builder().max_threads(0).build().unwrap_err();
/// assert!(err.to_string().contains("max_threads"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildError {
    kind: BuildErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum BuildErrorKind {
    MaxThreads(usize),
    StackSize(usize),
    GlobalPoolAlreadyInitialized,
}

impl BuildError {
    /// `max_threads` outside `1..=MAX_THREADS`. `const`, so that the `const`
    /// constructors can check with the same rule.
    pub(crate) const fn max_threads(max_threads: usize) -> Self {
        Self {
            kind: BuildErrorKind::MaxThreads(max_threads),
        }
    }
}

impl BuildError {
    /// `stack_size` below `MIN_STACK_SIZE`.
    pub(crate) fn stack_size(bytes: usize) -> Self {
        Self {
            kind: BuildErrorKind::StackSize(bytes),
        }
    }
}

impl BuildError {
    /// `build_global` after the global pool was built or first used.
    pub(crate) fn global_already_initialized() -> Self {
        Self {
            kind: BuildErrorKind::GlobalPoolAlreadyInitialized,
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            BuildErrorKind::MaxThreads(n) => write!(
                f,
                "max_threads is {n}, but must be between 1 and {MAX_THREADS}"
            ),
            BuildErrorKind::StackSize(n) => write!(
                f,
                "stack_size is {n} bytes, but must be at least {MIN_STACK_SIZE}"
            ),
            BuildErrorKind::GlobalPoolAlreadyInitialized => f.write_str(
                "the global thread pool is already initialized (built by build_global, or created by a first use)",
            ),
        }
    }
}

impl std::error::Error for BuildError {}

/// [`ThreadPool::spawn`](crate::ThreadPool::spawn) (or
/// [`spawn_with_handle`](crate::ThreadPool::spawn_with_handle)) after
/// shutdown: the closure, handed back.
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// let pool = zap_pool::ThreadPool::with_max_threads(1);
/// pool.shutdown();
/// let err = pool.spawn(|| ()).unwrap_err();
/// assert_eq!(err.to_string(), "the thread pool is shut down");
/// ```
pub struct SpawnError<F> {
    task: F,
}

impl<F> SpawnError<F> {
    pub(crate) fn new(task: F) -> Self {
        Self { task }
    }

    /// The closure that was not run.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::with_max_threads(1);
    /// pool.shutdown();
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let f = pool.spawn(move || tx.send(1).unwrap()).unwrap_err().into_inner();
    /// f(); // run it here instead
    /// assert_eq!(rx.recv().unwrap(), 1);
    /// ```
    pub fn into_inner(self) -> F {
        self.task
    }
}

impl<F> fmt::Debug for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SpawnError { .. }")
    }
}

impl<F> fmt::Display for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the thread pool is shut down")
    }
}

impl<F> std::error::Error for SpawnError<F> {}

/// [`ThreadPool::schedule`](crate::ThreadPool::schedule) after shutdown: the
/// batch, handed back untouched.
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// use std::ptr::NonNull;
/// use zap_pool::{ThreadPool, raw::{Batch, Task}};
/// unsafe fn noop(_: NonNull<Task>) {}
/// let pool = ThreadPool::with_max_threads(1);
/// pool.shutdown();
/// let mut task = Task::new(noop);
/// // SAFETY: refused at once: the pool never holds `task`.
/// let err = unsafe { pool.schedule(Batch::from(&mut task)) }.unwrap_err();
/// assert_eq!(err.into_batch().len(), 1);
/// ```
pub struct ScheduleError {
    batch: Batch,
}

impl ScheduleError {
    pub(crate) fn new(batch: Batch) -> Self {
        Self { batch }
    }

    /// The batch that was not scheduled.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// use std::ptr::NonNull;
    /// use zap_pool::{ThreadPool, raw::{Batch, Task}};
    /// unsafe fn noop(_: NonNull<Task>) {}
    /// let pool = ThreadPool::with_max_threads(1);
    /// pool.shutdown();
    /// let mut task = Task::new(noop);
    /// // SAFETY: refused at once: the pool never holds `task`.
    /// let batch = unsafe { pool.schedule(Batch::from(&mut task)) }.unwrap_err().into_batch();
    /// assert!(!batch.is_empty());
    /// ```
    pub fn into_batch(self) -> Batch {
        self.batch
    }
}

impl fmt::Debug for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScheduleError")
            .field("len", &self.batch.len())
            .finish()
    }
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the thread pool is shut down")
    }
}

impl std::error::Error for ScheduleError {}
