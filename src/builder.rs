//! [`Builder`]: every setting of a pool, resolved and validated in one
//! place (`resolve`).

use crate::error::BuildError;
use crate::scheduler::{Config, MAX_THREADS, WorkerThread};
use crate::sync;
use crate::thread_pool::ThreadPool;
use core::fmt;
use std::any::Any;
use std::io;

/// Configures a [`ThreadPool`].
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// let started = Arc::new(AtomicUsize::new(0));
/// let s = started.clone();
/// let pool = zap_pool::ThreadPool::builder()
///     .max_threads(2)
///     .stack_size(256 * 1024)
///     .on_thread_start(move |_index| { s.fetch_add(1, Ordering::Relaxed); })
///     .panic_handler(|payload| eprintln!("task panicked: {payload:?}"))
///     .build()
///     .unwrap();
/// pool.spawn(|| ()).unwrap();
/// drop(pool);
/// assert!(started.load(Ordering::Relaxed) >= 1);
/// ```
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Default)]
pub struct Builder {
    max_threads: Option<usize>,
    config: Config,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("max_threads", &self.max_threads)
            .field("stack_size", &self.config.stack_size)
            .finish_non_exhaustive()
    }
}

impl Builder {
    /// A builder with the defaults: one thread per available CPU, the
    /// platform's stack size, threads named `zap-pool-N`, panics dropped after
    /// the panic hook printed them, spawn errors printed to stderr.
    ///
    /// ```
    /// let pool = zap_pool::Builder::new().build().unwrap();
    /// assert!(pool.max_threads() >= 1);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The most threads the pool runs at once: 1 to [`MAX_THREADS`].
    /// Default: the available parallelism.
    ///
    /// ```
    /// assert!(zap_pool::ThreadPool::builder().max_threads(0).build().is_err());
    /// ```
    pub fn max_threads(mut self, max_threads: usize) -> Self {
        self.max_threads = Some(max_threads);
        self
    }

    /// The stack size of each worker thread, in bytes.
    ///
    /// ```
    /// let pool = zap_pool::ThreadPool::builder().stack_size(1 << 20).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.config.stack_size = Some(bytes);
        self
    }

    /// Names the worker threads: called with each worker's index.
    ///
    /// ```
    /// let pool = zap_pool::ThreadPool::builder().thread_name(|i| format!("sorter-{i}")).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn thread_name<F>(mut self, name: F) -> Self
    where
        F: FnMut(usize) -> String + Send + 'static,
    {
        self.config.thread_name = Some(std::sync::Mutex::new(Box::new(name)));
        self
    }

    /// Runs on each worker thread when it starts, with its index.
    ///
    /// ```
    /// let pool = zap_pool::ThreadPool::builder().on_thread_start(|i| eprintln!("worker {i} up")).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn on_thread_start<F>(mut self, hook: F) -> Self
    where
        F: Fn(usize) + Send + Sync + 'static,
    {
        self.config.on_thread_start = Some(Box::new(hook));
        self
    }

    /// Runs on each worker thread when it stops, with its index, after its
    /// last task. The thread no longer counts as a worker of the pool then,
    /// and the pool is shut down: a `spawn` from the hook is refused.
    ///
    /// ```
    /// let pool = zap_pool::ThreadPool::builder().on_thread_stop(|i| eprintln!("worker {i} done")).build().unwrap();
    /// # drop(pool);
    /// ```
    pub fn on_thread_stop<F>(mut self, hook: F) -> Self
    where
        F: Fn(usize) + Send + Sync + 'static,
    {
        self.config.on_thread_stop = Some(Box::new(hook));
        self
    }

    /// Receives the payload of every panic of a task (or of a thread hook).
    /// If the handler itself panics, the process aborts.
    ///
    /// ```
    /// let pool = zap_pool::ThreadPool::builder()
    ///     .panic_handler(|payload| eprintln!("a task panicked: {payload:?}"))
    ///     .build()
    ///     .unwrap();
    /// # drop(pool);
    /// ```
    pub fn panic_handler<F>(mut self, handler: F) -> Self
    where
        F: Fn(Box<dyn Any + Send>) + Send + Sync + 'static,
    {
        self.config.panic_handler = Some(Box::new(handler));
        self
    }

    /// Starts worker threads in place of `std::thread::Builder`: the handler
    /// receives a [`WorkerThread`] and must call [`WorkerThread::run`] on a new
    /// thread. Returning an error (or dropping the `WorkerThread`) is a failed
    /// spawn: the pool undoes it and carries on.
    ///
    /// ```
    /// let pool = zap_pool::ThreadPool::builder()
    ///     .spawn_handler(|worker| {
    ///         std::thread::Builder::new()
    ///             .name(format!("custom-{}", worker.index()))
    ///             .spawn(move || worker.run())?;
    ///         Ok(())
    ///     })
    ///     .build()
    ///     .unwrap();
    /// # drop(pool);
    /// ```
    pub fn spawn_handler<F>(mut self, handler: F) -> Self
    where
        F: Fn(WorkerThread) -> io::Result<()> + Send + Sync + 'static,
    {
        self.config.spawn_handler = Some(Box::new(handler));
        self
    }

    /// Receives the error of every failed thread spawn. Default: print it to
    /// stderr.
    ///
    /// ```
    /// let pool = zap_pool::ThreadPool::builder()
    ///     .spawn_error_handler(|error| eprintln!("no thread: {error}"))
    ///     .build()
    ///     .unwrap();
    /// # drop(pool);
    /// ```
    pub fn spawn_error_handler<F>(mut self, handler: F) -> Self
    where
        F: Fn(io::Error) + Send + Sync + 'static,
    {
        self.config.spawn_error_handler = Some(Box::new(handler));
        self
    }

    /// Builds the pool. No thread starts until the first task arrives.
    ///
    /// # Errors
    ///
    /// [`BuildError`] if `max_threads` is 0 or more than [`MAX_THREADS`].
    ///
    /// ```
    /// let err = zap_pool::ThreadPool::builder().max_threads(20_000).build().unwrap_err();
    /// assert!(err.to_string().contains("16383"));
    /// ```
    pub fn build(self) -> Result<ThreadPool, BuildError> {
        Ok(ThreadPool::with_config(self.resolve()?))
    }

    /// Resolves the defaults and validates every option: the one place
    /// where a configuration is checked.
    pub(crate) fn resolve(self) -> Result<Config, BuildError> {
        let max_threads = match self.max_threads {
            None => sync::thread::available_parallelism().clamp(1, MAX_THREADS),
            Some(n) => check_max_threads(n)?,
        };
        Ok(Config {
            max_threads,
            ..self.config
        })
    }
}

/// The rule for `max_threads`, `const` so that
/// [`ThreadPool::with_max_threads`] applies it at compile time in a `static`.
pub(crate) const fn check_max_threads(max_threads: usize) -> Result<usize, BuildError> {
    if max_threads >= 1 && max_threads <= MAX_THREADS {
        Ok(max_threads)
    } else {
        Err(BuildError::max_threads(max_threads))
    }
}
