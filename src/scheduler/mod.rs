//! The scheduler: the Zap pool itself. One [`Pool`] is the state that a
//! `ThreadPool` shares with its worker threads; this module is its narrow
//! face to the rest of the crate, and its files are the pool's parts:
//!
//! | file | part | proof note |
//! |---|---|---|
//! | `sync_word.rs` | the `Sync` word's bit packing | `docs/sync_word.md` |
//! | `wake.rs` | every transition of the `Sync` word: `notify`, `wait`, shutdown, a failed spawn, a worker's exit | `docs/sync_word.md` |
//! | `lifecycle.rs` | `shutdown`, `join_workers`, the tasks left to the joiner | `docs/lifecycle.md` |
//! | `registry.rs` | the stack of live workers: registration, the victims of a search, the exit chain | `docs/lifecycle.md` |
//! | `spawn.rs` | starting worker threads ([`WorkerThread`]), the thread hooks, panic handling | `docs/lifecycle.md` |
//! | `worker.rs` | a worker's run loop, its search for work, and waiting inside a task | `docs/worker.md` |
//!
//! What the rest of the crate uses: [`Pool::new`], [`Pool::schedule`] (the
//! one way in for tasks), [`Pool::notify_for_join`], `shutdown` and
//! `join_workers`, [`Pool::handle_panic`], the calling thread's worker
//! ([`current_worker`], [`current_of`]) with its join deque, and
//! [`wait_for`] (waiting inside a task). Everything else is private to the
//! scheduler. It imports the structures below it and never the fork-join
//! layer above it.

mod broadcast;
mod lifecycle;
mod registry;
mod spawn;
mod sync_word;
mod wake;
mod worker;

use crate::raw::Batch;
use crate::structures::bell::Bell;
use crate::structures::event::Event;
use crate::structures::latch::Latch;
use crate::structures::queue::Queue;
use crate::structures::quiet::Quiet;
use crate::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use crate::sync::unmodelled;
use registry::Registry;
use std::any::Any;
use std::io;
use std::sync::Mutex;
pub(crate) use sync_word::{State, SyncWord};

pub(crate) use broadcast::BroadcastError;
pub use spawn::WorkerThread;
pub use sync_word::MAX_THREADS;
pub(crate) use worker::{LocalWorker, current_of, current_worker, wait_for};

pub(crate) type ThreadHook = dyn Fn(usize) + Send + Sync;
pub(crate) type PanicHandler = dyn Fn(Box<dyn Any + Send>) + Send + Sync;
pub(crate) type SpawnHandler = dyn Fn(WorkerThread) -> io::Result<()> + Send + Sync;
pub(crate) type SpawnErrorHandler = dyn Fn(io::Error) + Send + Sync;
pub(crate) type ThreadName = dyn FnMut(usize) -> String + Send;

/// Everything a `Builder` configures, already validated by it. All optional
/// parts default to `None`.
#[derive(Default)]
pub(crate) struct Config {
    pub(crate) max_threads: usize,
    pub(crate) stack_size: Option<usize>,
    pub(crate) thread_name: Option<Mutex<Box<ThreadName>>>,
    pub(crate) on_thread_start: Option<Box<ThreadHook>>,
    pub(crate) on_thread_stop: Option<Box<ThreadHook>>,
    pub(crate) panic_handler: Option<Box<PanicHandler>>,
    pub(crate) spawn_handler: Option<Box<SpawnHandler>>,
    pub(crate) spawn_error_handler: Option<Box<SpawnErrorHandler>>,
}

/// The number the next pool gets: the `P` of its default thread names
/// `zap-pool-P-N`. A std atomic in every build (`sync::unmodelled`): a
/// `static`, and only a name.
static NEXT_POOL_ID: unmodelled::AtomicUsize = unmodelled::AtomicUsize::new(0);

fn next_pool_id() -> usize {
    // Relaxed: a unique number is all that is needed.
    NEXT_POOL_ID.fetch_add(1, unmodelled::Ordering::Relaxed)
}

/// The state a pool shares with its workers. Never moves once its first
/// worker starts; freed only after `join_workers` returned.
pub(crate) struct Pool {
    /// The `Sync` word (`sync_word.rs`); moved only by `wake.rs`.
    sync: AtomicU32,
    /// Where idle workers sleep (`wake.rs`).
    idle_event: Event,
    /// Where workers that wait inside a task sleep, idle as well; rung by
    /// the pool's wake-ups and by the latches they wait for (`worker.rs`).
    bell: Bell,
    /// Posted once by the last thread out after shutdown; `join_workers`
    /// waits for it (`lifecycle.rs`).
    last_exit: Event,
    /// The global queue: tasks scheduled from outside the pool.
    global: Queue,
    /// Which threads may hold a task, and who waits for none to
    /// (`ThreadPool::wait_idle`).
    quiet: Quiet,
    /// The live broadcasts (`broadcast.rs`), under a lock only broadcasts
    /// and workers that owe a piece take.
    broadcasts: crate::sync::Mutex<broadcast::Jobs>,
    /// The newest broadcast's epoch and the count in flight
    /// (`broadcast.rs`).
    broadcast_hints: broadcast::Hints,
    /// The live workers (`registry.rs`).
    registry: Registry,
    /// The index the next spawned thread gets (`spawn.rs`).
    next_index: AtomicUsize,
    /// How many thread spawns failed, for `ThreadPool::metrics`; counted by
    /// `spawn_failed` (`wake.rs`), off the task path.
    failed_spawns: AtomicUsize,
    /// Who keeps this allocation: 1 for its owner (the `ThreadPool`, or
    /// the last worker of an abandoned pool), plus 1 for each future task
    /// of the pool (`fork_join/future.rs`), whose wakers may still schedule
    /// into it after the owner is gone. [`Pool::free`] gives one back.
    keep: AtomicUsize,
    /// A number unique to this pool in the process, in its default thread
    /// names (`spawn.rs`).
    id: usize,
    config: Config,
    /// The model execution this pool was made in (`sync::execution`; 0 in
    /// real builds).
    execution: usize,
}

// SAFETY: every field is an atomic, an `Event`/`Queue`/`Registry` (themselves
// shared only through atomics), or immutable configuration whose closures
// are `Send + Sync` (the name closure sits behind a mutex).
unsafe impl Sync for Pool {}
// SAFETY: as above; the registry's raw pointers only name workers and are
// used under the registry protocol.
unsafe impl Send for Pool {}

impl Pool {
    /// A pool with no thread yet. `config.max_threads` is already validated
    /// (1..=[`MAX_THREADS`]) by the builder.
    pub(crate) fn new(config: Config) -> Self {
        Self {
            sync: AtomicU32::new(SyncWord::EMPTY.bits()),
            idle_event: Event::new(),
            bell: Bell::new(),
            last_exit: Event::new(),
            global: Queue::new(),
            quiet: Quiet::new(),
            broadcasts: crate::sync::Mutex::new(broadcast::Jobs::new()),
            broadcast_hints: broadcast::Hints::new(),
            registry: Registry::new(),
            next_index: AtomicUsize::new(0),
            failed_spawns: AtomicUsize::new(0),
            keep: AtomicUsize::new(1),
            id: next_pool_id(),
            config,
            execution: crate::sync::execution(),
        }
    }

    /// Whether this pool belongs to the current model execution (always, in
    /// real builds): a `static` pool's core from an earlier one is stale.
    pub(crate) fn is_current(&self) -> bool {
        self.execution == crate::sync::execution()
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// This pool's number, unique in the process.
    pub(crate) fn id(&self) -> usize {
        self.id
    }

    fn sync_word(&self, order: Ordering) -> SyncWord {
        SyncWord::from_bits(self.sync.load(order))
    }

    fn max_threads(&self) -> u32 {
        self.config.max_threads as u32
    }

    /// Pushes `batch` where it belongs and notifies. Hands the batch back if
    /// the pool no longer accepts tasks from this thread.
    pub(crate) fn schedule(&self, batch: Batch) -> Result<(), Batch> {
        if batch.is_empty() {
            return Ok(());
        }
        // Hazard 8: only a worker of *this* pool may use its own ring.
        if let Some(worker) = current_of(self) {
            worker.push(batch);
        } else {
            self.global.push(batch)?;
        }
        self.notify();
        Ok(())
    }

    /// Blocks until the first quiet instant after the call: no task queued
    /// or running (`structures/quiet.rs`). The caller is not a worker of
    /// this pool. Waits as a `join` does: a worker of another pool keeps
    /// running its own pool's tasks, and a thread of no pool runs this
    /// pool's queued tasks itself while the pool has no thread.
    pub(crate) fn wait_quiet(&self) {
        debug_assert!(!self.is_own_worker());
        let latch = Latch::new();
        self.quiet
            .wait_register(&latch, &|f| self.scan_presences(f), &self.global);
        wait_for(Some(self), &latch, &|| true);
    }

    /// Visits every registered worker's presence (`Quiet`'s collects).
    fn scan_presences(&self, f: &mut dyn FnMut(&crate::structures::quiet::Presence)) {
        self.registry.for_each(&mut |worker| f(&worker.presence));
    }

    /// A worker leaves `Quiet` (it holds no task any more).
    fn quiet_leave(&self, presence: &crate::structures::quiet::Presence) {
        self.quiet
            .leave(presence, &|f| self.scan_presences(f), &self.global);
    }

    /// A guest leaves `Quiet`.
    fn quiet_guest_leave(&self) {
        self.quiet
            .guest_leave(&|f| self.scan_presences(f), &self.global);
    }

    /// Releases the registered workers (`join_workers`, or the last thread
    /// out of an abandoned pool), after any running `Quiet` check: a check
    /// walks the registered workers' presences.
    fn release_workers(&self) {
        let _no_check = self.quiet.exclude_checks();
        self.registry.release_all();
    }

    /// Whether the calling thread is a worker of this pool (hazard 8: a
    /// worker of another pool is not).
    pub(crate) fn is_own_worker(&self) -> bool {
        current_of(self).is_some()
    }

    /// How many thread spawns have failed so far.
    pub(crate) fn failed_spawns(&self) -> usize {
        // Relaxed: a statistic; it orders nothing.
        self.failed_spawns.load(Ordering::Relaxed)
    }

    /// The word, for `ThreadPool::metrics` and the model-check hooks.
    pub(crate) fn debug_word(&self) -> SyncWord {
        self.sync_word(Ordering::Relaxed)
    }
}
