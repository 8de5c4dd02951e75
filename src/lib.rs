//! # zap-pool
//!
//! The Zap thread pool in Rust: lock-free, allocation-free work stealing with
//! intrusive tasks, batch scheduling and lazy, failure-tolerant thread
//! spawning, checked with loom and shuttle.
//!
//! ```
//! # zap_pool::__skip_doctest_under_models();
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use zap_pool::ThreadPool;
//!
//! let pool = ThreadPool::builder().max_threads(4).build()?;
//! let count = Arc::new(AtomicUsize::new(0));
//! for _ in 0..100 {
//!     let count = count.clone();
//!     pool.spawn(move || {
//!         count.fetch_add(1, Ordering::Relaxed);
//!     })?;
//! }
//! drop(pool); // shutdown + join_workers: every accepted task has run
//! assert_eq!(count.load(Ordering::Relaxed), 100);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Three kinds of work share one scheduler:
//!
//! * [`ThreadPool::spawn`] boxes a closure: one heap allocation per task.
//! * [`ThreadPool::schedule`] takes a [`raw::Batch`] of intrusive
//!   [`raw::Task`]s that the caller owns: no heap allocation at all.
//! * Fork-join, as in rayon: [`join`] / [`ThreadPool::join`] (no heap
//!   allocation: the forked closure lives on the caller's stack),
//!   [`ThreadPool::scope`] (tasks that borrow from the caller; one allocation
//!   each), [`ThreadPool::spawn_with_handle`] (a [`JoinHandle`] for the
//!   result; one allocation) and [`ThreadPool::install`] (a closure run on
//!   a worker of the pool; no allocation); [`join_lazy`], a `join` whose
//!   nested forks are offered to other threads only when one could take
//!   them (heartbeat-style: a fork nobody needs costs no atomic operation).
//!   The free functions [`join`],
//!   [`scope`], [`spawn`], [`current_thread_index`] and
//!   [`current_num_threads`] use the current pool: the pool of the worker
//!   thread that calls them (inside `install` or any task), and on any
//!   other thread the global pool, created at its first use or by
//!   [`Builder::build_global`]. A worker that waits for forked work, of its
//!   own pool or of another, runs other tasks of its pool meanwhile and
//!   sleeps where the pool's wake-ups reach it, so nesting never deadlocks,
//!   even on one thread and across pools; a thread outside the pool blocks
//!   on a futex (and runs the work itself if the pool cannot start a
//!   thread).
//!
//! Futures run on the same scheduler: [`ThreadPool::spawn_future`] (and
//! [`spawn_future`] on the current pool) polls a future as a task of the
//! pool, one heap allocation per future and none per poll or wake; every
//! [`JoinHandle`] is a `Future` that any executor can await; and
//! [`block_on`] runs a future on the calling thread, helping the pool
//! meanwhile when that thread is one of its workers.
//!
//! On top of `join`, [`par`] has parallel loops over ranges and slices
//! (`for_each`, `map`, `map_reduce`, ...), split adaptively among the
//! threads: no heap allocation per element.
//!
//! ## Semantics
//!
//! * **Threads are lazy.** A pool starts no thread and allocates nothing
//!   until its first use. A task wakes an idle worker or starts a new one, up
//!   to `max_threads`. A pool can be a `static` ([`ThreadPool::new`] and
//!   [`ThreadPool::with_max_threads`] are `const`).
//! * **The global pool** lives for the process: it is never dropped, and
//!   its threads, once started, idle until the process exits.
//!   [`Builder::build_global`] configures it once, before its first use.
//! * **Shutdown drains.** [`ThreadPool::shutdown`] stops intake from outside
//!   the pool; every task accepted before it still runs, and so does every task
//!   that a running task of this pool schedules, before [`ThreadPool::join_workers`]
//!   returns. No task is dropped unrun, and none is leaked.
//! * **Waiting for quiet.** [`ThreadPool::wait_idle`] returns at the first
//!   instant after its call with no task queued or running: every task
//!   accepted before the call, and all it spawned, has finished; the pool
//!   stays open (`docs/quiet.md`). [`ThreadPool::broadcast`] runs a closure
//!   once on each of the pool's threads (`docs/broadcast.md`).
//! * **After shutdown**, `spawn` and `schedule` from any thread that is not a
//!   worker of this pool fail with [`SpawnError`] / [`ScheduleError`], which
//!   hand the task back.
//! * **Panics** in tasks are caught; the worker carries on. The payload goes
//!   to the [`Builder::panic_handler`]; by default it is dropped, since the
//!   standard panic hook has already printed the message. (rayon aborts the
//!   process by default; tokio keeps the payload for the task's `JoinHandle`.
//!   A pool of independent fire-and-forget tasks is closer to tokio: one
//!   failing task should not take the others down.) A panicking panic
//!   handler aborts the process.
//! * **A failed thread spawn** is undone: the pool's state is repaired, the
//!   error goes to the [`Builder::spawn_error_handler`] (by default it is
//!   printed to stderr), and every accepted task still runs: on a thread that
//!   does start, on a thread that waits for it (`join`, `scope`, a handle:
//!   such a thread retries the spawn and runs the queued tasks itself while
//!   no worker exists), or at the latest on the thread that calls
//!   `join_workers`.
//! * **Ending a pool leaves no thread behind**, whichever way it ends:
//!   `shutdown` + `join_workers`, `Drop`, or `Drop` from one of the pool's
//!   own tasks or hooks (then the last worker out releases the others). A
//!   task that never returns keeps its thread, and `join_workers` and `Drop`
//!   wait for it.
//!
//! ## Correctness
//!
//! The lock-free parts are written against one `sync` facade that the model
//! checkers replace: `RUSTFLAGS="--cfg loom" cargo test --release --test
//! loom_tests` explores every interleaving of small scenarios, and
//! `RUSTFLAGS="--cfg shuttle" cargo test --release --test shuttle_tests`
//! runs randomized schedules of whole-pool ones. The proof notes are in
//! `docs/`.
//!
//! The same switch reaches the crates that use this one: your code that
//! runs on a pool can be model-checked through the pool
//! (`docs/testing-your-code.md` in the repository; hooks in `model`, only
//! under `--cfg loom` / `--cfg shuttle`).
//!
//! ## Module map
//!
//! Each folder is a layer and imports only the layers listed below it
//! (`scripts/check-layers.py` checks it); each file holds one component,
//! with its algorithm at the top, and has a proof note and a model test of
//! the same name (`docs/README.md` maps them):
//!
//! | layer | files | what |
//! |---|---|---|
//! | public face | `thread_pool.rs`, `builder.rs`, `error.rs`, `global.rs`, `par.rs` | [`ThreadPool`], [`Builder`], the errors; the global pool and the free functions; [`par`], parallel loops over ranges and slices |
//! | `fork_join/` | `job.rs`, `join.rs`, `scope.rs`, `handle.rs`, `future.rs` | join and install, [`Scope`], [`JoinHandle`], future tasks and [`block_on`], and the jobs under them |
//! | `scheduler/` | `sync_word.rs`, `wake.rs`, `lifecycle.rs`, `registry.rs`, `spawn.rs`, `worker.rs` | the Zap pool: the wake protocol, workers, search, shutdown |
//! | `structures/` | `event.rs`, `latch.rs`, `queue.rs`, `buffer.rs`, `join_deque.rs` | the lock-free structures |
//! | base | `raw.rs`, `sync/` | [`raw::Task`] and [`raw::Batch`]; the facade that loom and shuttle replace |

#![warn(missing_docs, unsafe_op_in_unsafe_fn)]
// The model-checking builds expose internal components to their test suites.
#![cfg_attr(any(loom, shuttle), allow(missing_docs))]

mod builder;
mod error;
mod fork_join;
mod global;
pub mod par;
pub mod raw;
mod scheduler;
mod structures;
mod sync;
mod thread_pool;

pub use crate::builder::{Builder, MIN_STACK_SIZE};
pub use crate::error::{BuildError, ScheduleError, SpawnError};
pub use crate::fork_join::{BroadcastContext, JoinHandle, Scope};
pub use crate::global::{
    broadcast, current_num_threads, current_thread_index, join, join_lazy, scope, spawn,
};
pub use crate::scheduler::{MAX_THREADS, WorkerThread};
pub use crate::thread_pool::{Metrics, ThreadPool};

// Futures on the pool.
pub use crate::fork_join::block_on;
pub use crate::global::spawn_future;

/// Hooks for the loom and shuttle test suites. Absent from normal builds.
#[cfg(any(loom, shuttle))]
#[doc(hidden)]
pub mod model;

/// Ends a doctest at once, successfully, when the crate was built for a
/// model checker (`RUSTFLAGS="--cfg loom"` or `--cfg shuttle`): doctests
/// are std programs, and the model builds' atomics and threads work only
/// inside a model. Every example in these docs calls it first (a hidden
/// line), so that `RUSTFLAGS="--cfg loom" cargo test` passes as typed. Does
/// nothing in a normal build.
#[doc(hidden)]
pub fn __skip_doctest_under_models() {
    #[cfg(any(loom, shuttle))]
    {
        eprintln!("doctest skipped: zap-pool was built for a model checker");
        std::process::exit(0);
    }
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
