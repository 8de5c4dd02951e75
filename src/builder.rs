//! [`Builder`]: every setting of a pool, resolved and validated in one
//! place (`resolve`).

use crate::error::BuildError;
use crate::global;
use crate::scheduler::{Config, MAX_THREADS, WorkerThread};
use crate::sync;
use crate::thread_pool::ThreadPool;
use core::fmt;
use std::any::Any;
use std::io;

/// Configures a [`ThreadPool`].
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
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
    /// platform's stack size, threads named `zap-pool-P-N` (`P` numbers the
    /// pools of the process, `N` the threads of the pool), panics dropped after
    /// the panic hook printed them, spawn errors printed to stderr.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
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
    /// # zap_pool::__skip_doctest_under_models();
    /// assert!(zap_pool::ThreadPool::builder().max_threads(0).build().is_err());
    /// ```
    pub fn max_threads(mut self, max_threads: usize) -> Self {
        self.max_threads = Some(max_threads);
        self
    }

    /// The stack size of each worker thread, in bytes: at least
    /// [`MIN_STACK_SIZE`] (64 KiB), or `build` fails. Default: the
    /// platform's default for new threads (2 MiB on Linux).
    ///
    /// The minimum leaves room for the pool's own frames and for a task that
    /// panics while the panic hook prints a backtrace; anything below it is
    /// an error rather than a stack overflow waiting to happen. A task that
    /// waits inside the pool (`join`, `scope`, a handle) may run other tasks
    /// on top of its own frames meanwhile: size the stack for the deepest
    /// nesting of your tasks.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::builder().stack_size(1 << 20).build().unwrap();
    /// # drop(pool);
    /// assert!(zap_pool::ThreadPool::builder().stack_size(4096).build().is_err());
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.config.stack_size = Some(bytes);
        self
    }

    /// Names the worker threads: called with each worker's index. Default:
    /// `zap-pool-P-N`, where `P` is a number unique to the pool in the
    /// process and `N` the index, so that the threads of two pools differ.
    ///
    /// The closure runs on whichever thread starts the worker (the one that
    /// scheduled the work). It may use the pool; a thread that it causes to
    /// start while it runs gets the default name (the closure is `FnMut`
    /// and cannot run twice at once). A panic in it leaves the thread
    /// unnamed.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
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
    /// The thread is a worker of the pool already: pool methods work as in a
    /// task, except [`ThreadPool::join_workers`] (and so `Drop`'s wait),
    /// which would wait for this very thread: it panics (the panic goes to
    /// the [`panic_handler`](Builder::panic_handler)), and `Drop` does not
    /// wait. The same holds in every hook of the pool.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
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
    /// and the pool is shut down: a `spawn` from the hook is refused, and
    /// [`ThreadPool::join_workers`] panics with a message naming this hook
    /// (the thread still holds its place in the pool, so the join would
    /// wait for it).
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
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
    /// If the handler itself panics, the process aborts (so a
    /// [`ThreadPool::join_workers`] from here, which panics, aborts too).
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
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
    /// The handler runs on the thread that schedules work; it may use the
    /// pool (a spawn from it may start a further thread, up to
    /// `max_threads`). A handler that keeps the `WorkerThread` and starts it
    /// later is allowed; while it holds one, a thread that waits for the
    /// pool's work polls until the worker starts or the spawn fails.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
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
    /// It may use the pool; a spawn that fails while the handler runs is
    /// printed to stderr instead of being reported to the handler again (so
    /// that a handler that spawns cannot recurse without end).
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
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
    /// [`BuildError`] if `max_threads` is 0 or more than [`MAX_THREADS`], or
    /// `stack_size` is below [`MIN_STACK_SIZE`].
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let err = zap_pool::ThreadPool::builder().max_threads(20_000).build().unwrap_err();
    /// assert!(err.to_string().contains("16383"));
    /// ```
    pub fn build(self) -> Result<ThreadPool, BuildError> {
        Ok(ThreadPool::with_config(self.resolve()?))
    }

    /// Makes this configuration the global pool's: the pool that
    /// [`join`](crate::join), [`scope`](crate::scope),
    /// [`spawn`](crate::spawn) and
    /// [`current_num_threads`](crate::current_num_threads) use on threads
    /// that are not workers of a pool. Without it, the global pool is
    /// created with the defaults at its first use. It is never dropped.
    ///
    /// # Errors
    ///
    /// [`BuildError`] if the configuration is invalid (as for
    /// [`Builder::build`]), or if the global pool exists already: built by
    /// an earlier call, or created by a first use.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// zap_pool::Builder::new()
    ///     .max_threads(2)
    ///     .thread_name(|i| format!("global-{i}"))
    ///     .build_global()
    ///     .unwrap();
    /// assert_eq!(zap_pool::current_num_threads(), 2);
    /// let name = zap_pool::join(|| std::thread::current().name().map(String::from), || ()).0;
    /// assert!(name.unwrap().starts_with("global-"));
    /// // Once only.
    /// let err = zap_pool::Builder::new().build_global().unwrap_err();
    /// assert!(err.to_string().contains("already initialized"));
    /// ```
    pub fn build_global(self) -> Result<(), BuildError> {
        global::build_global(self.resolve()?)
    }

    /// Resolves the defaults and validates every option: the one place
    /// where a configuration is checked.
    pub(crate) fn resolve(self) -> Result<Config, BuildError> {
        let max_threads = match self.max_threads {
            None => sync::thread::available_parallelism().clamp(1, MAX_THREADS),
            Some(n) => check_max_threads(n)?,
        };
        if let Some(bytes) = self.config.stack_size.filter(|&b| b < MIN_STACK_SIZE) {
            return Err(BuildError::stack_size(bytes));
        }
        Ok(Config {
            max_threads,
            ..self.config
        })
    }
}

/// The smallest stack a worker thread may be given
/// ([`Builder::stack_size`]): 64 KiB.
pub const MIN_STACK_SIZE: usize = 64 * 1024;

/// The rule for `max_threads`, `const` so that
/// [`ThreadPool::with_max_threads`] applies it at compile time in a `static`.
pub(crate) const fn check_max_threads(max_threads: usize) -> Result<usize, BuildError> {
    if max_threads >= 1 && max_threads <= MAX_THREADS {
        Ok(max_threads)
    } else {
        Err(BuildError::max_threads(max_threads))
    }
}
