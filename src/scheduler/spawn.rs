//! Starting worker threads, the thread hooks, and panic handling.
//!
//! `notify_slow` counts a new thread in `spawned` first and then calls
//! `spawn_worker`, which hands a [`WorkerThread`] carrying that count to the
//! spawn handler (or to `std::thread`). The count moves with the value:
//! `WorkerThread::run` gives it to the worker, which gives it back when it
//! leaves (`wake.rs`, `unregister`); a `WorkerThread` dropped unrun gives it
//! back through `spawn_failed` (hazard 4), exactly once either way.
//!
//! Every user callback (thread name, hooks, spawn handler, spawn error
//! handler) runs under `catch_unwind`; a panic goes to the panic handler, and
//! a panic of the panic handler aborts, since nothing could observe it.

use super::{Pool, ThreadHook, worker};
use crate::sync::atomic::Ordering;
use crate::sync::{thread, thread_local};
use core::cell::Cell;
use core::fmt;
use core::ptr;
use std::any::Any;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};

thread_local! {
    /// The hook of which pool this thread is running, if any, and its name.
    // Not `const { .. }`: loom's `thread_local!` does not accept it.
    #[allow(clippy::missing_const_for_thread_local)]
    static HOOK: Cell<(*const Pool, &'static str)> = Cell::new((ptr::null(), ""));
}

impl Pool {
    /// Runs one of this pool's user callbacks, named `hook`, so that pool
    /// methods called from inside it can tell (`current_hook`).
    fn in_hook<R>(&self, hook: &'static str, f: impl FnOnce() -> R) -> R {
        struct Restore((*const Pool, &'static str));
        impl Drop for Restore {
            fn drop(&mut self) {
                HOOK.with(|h| h.set(self.0));
            }
        }
        let _restore = Restore(HOOK.with(|h| h.replace((self, hook))));
        f()
    }

    /// The name of the hook of this pool that the calling thread is running,
    /// if it is running one: `join_workers` refuses to wait there, since it
    /// would wait for the very thread (or spawn) the hook belongs to, and
    /// `Drop` does not wait there.
    pub(crate) fn current_hook(&self) -> Option<&'static str> {
        let (pool, hook) = HOOK.with(Cell::get);
        ptr::eq(pool, self).then_some(hook)
    }

    /// Starts the thread that `notify_slow` just counted; a failure goes
    /// to the spawn error handler.
    pub(super) fn spawn_worker(&self) {
        if let Err(error) = self.start_worker() {
            self.report_spawn_error(error);
        }
    }

    /// Starts a thread that the caller counted in `spawned`, returning the
    /// spawn's error (the count was given back by then, through the
    /// dropped `WorkerThread`).
    pub(super) fn start_worker(&self) -> io::Result<()> {
        // Relaxed: a unique number is all that is needed.
        let index = self.next_index.fetch_add(1, Ordering::Relaxed);
        let id = self.id();
        let default_name = || Some(format!("zap-pool-{id}-{index}"));
        let name = match &self.config.thread_name {
            // A spawn started from inside the name closure itself (it
            // scheduled work on its own pool) cannot call it again: the
            // closure is `FnMut` behind a lock this thread holds.
            Some(_) if self.current_hook() == Some("thread_name") => default_name(),
            Some(f) => {
                let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
                self.in_hook("thread_name", || {
                    catch_unwind(AssertUnwindSafe(|| f(index))).ok()
                })
            }
            None => default_name(),
        };
        let thread = WorkerThread {
            pool: self,
            index,
            name,
            stack_size: self.config.stack_size,
            armed: true,
        };
        match &self.config.spawn_handler {
            Some(handler) => self
                .in_hook("spawn_handler", || {
                    catch_unwind(AssertUnwindSafe(|| handler(thread)))
                })
                .unwrap_or_else(|_| Err(io::Error::other("the spawn handler panicked"))),
            None => thread.spawn_default(),
        }
    }

    fn report_spawn_error(&self, error: io::Error) {
        match &self.config.spawn_error_handler {
            // A spawn that failed while the handler itself was reporting
            // one (it scheduled work on its own pool) is printed instead:
            // calling the handler again could recurse without end.
            Some(handler) if self.current_hook() != Some("spawn_error_handler") => {
                let outcome = self.in_hook("spawn_error_handler", || {
                    catch_unwind(AssertUnwindSafe(|| handler(error)))
                });
                if let Err(payload) = outcome {
                    self.handle_panic(payload);
                }
            }
            _ => eprintln!("zap-pool: could not start a worker thread: {error}"),
        }
    }

    /// Runs `on_thread_start` or `on_thread_stop` (named `name`).
    pub(super) fn call_thread_hook(
        &self,
        name: &'static str,
        hook: Option<&ThreadHook>,
        index: usize,
    ) {
        if let Some(hook) = hook {
            let outcome = self.in_hook(name, || catch_unwind(AssertUnwindSafe(|| hook(index))));
            if let Err(payload) = outcome {
                self.handle_panic(payload);
            }
        }
    }

    /// Hands a task's panic to the panic handler. The default handler drops
    /// it: the panic hook has already reported it. A panic in the handler
    /// itself aborts: nothing above the pool could observe it.
    pub(crate) fn handle_panic(&self, payload: Box<dyn Any + Send>) {
        let outcome = self.in_hook("panic_handler", || {
            catch_unwind(AssertUnwindSafe(|| match &self.config.panic_handler {
                Some(handler) => handler(payload),
                None => drop(payload),
            }))
        });
        if outcome.is_err() {
            eprintln!("zap-pool: the panic handler panicked; aborting");
            std::process::abort();
        }
    }
}

/// A worker thread that the pool wants started, handed to a
/// [`spawn_handler`](crate::Builder::spawn_handler).
///
/// Call [`run`](WorkerThread::run) on the new thread. Dropping it without
/// running it counts as a failed spawn: the pool undoes the spawn and keeps
/// every task it accepted for the next thread it can start (or for
/// `join_workers`).
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
/// pool.spawn(|| ()).unwrap();
/// ```
pub struct WorkerThread {
    pool: *const Pool,
    index: usize,
    name: Option<String>,
    stack_size: Option<usize>,
    armed: bool,
}

// SAFETY: the pool pointer is only dereferenced under the pool's lifetime
// protocol: the pool cannot be freed while this value holds a `spawned`
// count (the joiner waits for it).
unsafe impl Send for WorkerThread {}

impl fmt::Debug for WorkerThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerThread")
            .field("index", &self.index)
            .field("name", &self.name)
            .field("stack_size", &self.stack_size)
            .finish()
    }
}

impl WorkerThread {
    /// The worker's number, counting spawn attempts from 0.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::builder()
    ///     .spawn_handler(|worker| {
    ///         assert_eq!(worker.index(), 0);
    ///         std::thread::spawn(move || worker.run());
    ///         Ok(())
    ///     })
    ///     .max_threads(1)
    ///     .build()
    ///     .unwrap();
    /// pool.spawn(|| ()).unwrap();
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// The thread name the pool's configuration asks for.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::builder()
    ///     .thread_name(|i| format!("w{i}"))
    ///     .spawn_handler(|worker| {
    ///         let name = worker.name().unwrap().to_string();
    ///         std::thread::Builder::new().name(name).spawn(move || worker.run())?;
    ///         Ok(())
    ///     })
    ///     .build()
    ///     .unwrap();
    /// pool.spawn(|| ()).unwrap();
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The stack size the pool's configuration asks for.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::builder()
    ///     .stack_size(1 << 20)
    ///     .spawn_handler(|worker| {
    ///         let mut b = std::thread::Builder::new();
    ///         if let Some(size) = worker.stack_size() {
    ///             b = b.stack_size(size);
    ///         }
    ///         b.spawn(move || worker.run())?;
    ///         Ok(())
    ///     })
    ///     .build()
    ///     .unwrap();
    /// pool.spawn(|| ()).unwrap();
    /// ```
    pub fn stack_size(&self) -> Option<usize> {
        self.stack_size
    }

    /// Runs the worker on the current thread until the pool is shut down and
    /// joined. Call it on a fresh thread.
    ///
    /// ```
    /// # zap_pool::__skip_doctest_under_models();
    /// let pool = zap_pool::ThreadPool::builder()
    ///     .spawn_handler(|worker| {
    ///         std::thread::spawn(move || worker.run());
    ///         Ok(())
    ///     })
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(pool.join(|| 1, || 2), (1, 2));
    /// ```
    pub fn run(mut self) {
        self.armed = false;
        // SAFETY: this value held a `spawned` count, which the worker now
        // owns and gives up when it leaves.
        unsafe { worker::run(self.pool, self.index) };
    }

    fn spawn_default(mut self) -> io::Result<()> {
        let name = self.name.take();
        let stack_size = self.stack_size;
        // On failure the closure, and `self` in it, is dropped: the spawn is
        // undone by `Drop`.
        thread::spawn(name, stack_size, move || self.run())
    }
}

impl Drop for WorkerThread {
    fn drop(&mut self) {
        if self.armed {
            // SAFETY: we hold a `spawned` count, so the pool is alive.
            unsafe { Pool::spawn_failed(self.pool) };
        }
    }
}
