//! The pool: notify / wait on the `Sync` word, schedule, spawning, shutdown
//! and join.
//!
//! # The wake protocol
//!
//! Producers push a task and then `notify`; workers that find nothing `wait`.
//! Both meet in one atomic word (see `sync_word.rs`):
//!
//! * `notify` posts `notified = true`. If the state is `Pending` (nobody is
//!   waking) it also moves the state to `Signaled` and either wakes an idle
//!   thread or spawns a new one (up to `max_threads`). A waking thread that
//!   found work calls `notify(is_waking = true)` to hand its role on.
//! * `wait` consumes `notified` (turning `Signaled` into `Waking` if it is
//!   the signalled thread) and returns to search again; with nothing posted
//!   it counts itself idle and sleeps on the idle event.
//!
//! So at most one thread is waking at a time, no notification is lost while
//! one is (the `notified` bit outlives it), and an idle thread is woken only
//! when nobody is already searching.
//!
//! The `notify` fast path only *reads* the word: if `notified` is already
//! set, someone will consume it and search again. That read races with the
//! consumer's clearing CAS followed by its search (store buffering): the
//! producer could read a stale `notified = true` while the consumer's search
//! misses the push. A SeqCst fence after the push (in `notify`) and one after
//! the consuming CAS (in `wait`) forbid that outcome: of two SeqCst fences
//! one is first, and the thread after it sees the other's write
//! (hazard 1; `docs/sync_word.md`).
//!
//! # Lifecycle
//!
//! `shutdown` closes the global queue (outside producers get their tasks
//! back from then on), sets the state to `Shutdown` and wakes every idle
//! thread. Workers then drain: each runs what is in its own ring and queue and
//! in the global queue before it exits. The thread that brings `spawned` to
//! zero after shutdown (or `shutdown` itself, if there were no threads)
//! notifies the join event exactly once; `join` waits for that token, always
//! (hazard 5), takes the registry with an RMW (hazard 6), releases the
//! workers' exit chain, and runs whatever is left in the global queue (as
//! an unregistered worker, so those tasks can still schedule children).

use crate::event::Event;
use crate::queue::Queue;
use crate::raw::Batch;
use crate::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering, fence};
use crate::sync::thread;
use crate::sync_word::{ONE_SPAWNED, State, SyncWord};
use crate::worker::{self, Worker};
use std::any::Any;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

/// `wait` saw the pool shut down.
#[derive(Debug)]
pub(crate) struct Shutdown;

pub(crate) type ThreadHook = dyn Fn(usize) + Send + Sync;
pub(crate) type PanicHandler = dyn Fn(Box<dyn Any + Send>) + Send + Sync;
pub(crate) type SpawnHandler = dyn Fn(WorkerThread) -> io::Result<()> + Send + Sync;
pub(crate) type SpawnErrorHandler = dyn Fn(io::Error) + Send + Sync;
pub(crate) type ThreadName = dyn FnMut(usize) -> String + Send;

/// Everything a `Builder` configures. All optional parts default to `None`.
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

pub(crate) struct Pool {
    sync: AtomicU32,
    idle_event: Event,
    join_event: Event,
    /// The global queue, for tasks scheduled from outside the pool.
    pub(crate) run_queue: Queue,
    /// The registry: a Treiber stack of live workers, linked by `next`.
    pub(crate) threads: AtomicPtr<Worker>,
    next_index: AtomicUsize,
    pub(crate) config: Config,
}

// SAFETY: every field is an atomic, an `Event`/`Queue` (themselves `Sync`),
// or immutable configuration whose closures are `Send + Sync` (the name
// closure sits behind a mutex).
unsafe impl Sync for Pool {}
// SAFETY: as above; the raw pointers only name workers and are used under
// the registry protocol.
unsafe impl Send for Pool {}

impl Pool {
    pub(crate) fn new(config: Config) -> Self {
        debug_assert!((1..=crate::MAX_THREADS).contains(&config.max_threads));
        Self {
            sync: AtomicU32::new(SyncWord::EMPTY.bits()),
            idle_event: Event::new(),
            join_event: Event::new(),
            run_queue: Queue::new(),
            threads: AtomicPtr::new(core::ptr::null_mut()),
            next_index: AtomicUsize::new(0),
            config,
        }
    }

    pub(crate) fn sync_word(&self, order: Ordering) -> SyncWord {
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
        if let Some(worker) = worker::current_of(self) {
            // We are that worker's thread, the only pusher of its ring.
            if let Err(overflow) = worker.run_buffer.push(batch) {
                // A worker's own queue is never closed: it drains it itself.
                let pushed = worker.run_queue.push(overflow);
                debug_assert!(pushed.is_ok());
            }
        } else {
            self.run_queue.push(batch)?;
        }
        self.notify(false);
        Ok(())
    }

    /// Makes sure some thread will look for the work just pushed.
    pub(crate) fn notify(&self, is_waking: bool) {
        if !is_waking {
            // SeqCst (hazard 1): orders the caller's push before the read of
            // `notified`; pairs with the SeqCst fence after the consuming CAS
            // in `wait`.
            fence(Ordering::SeqCst);
            if self.sync_word(Ordering::Relaxed).notified() {
                return;
            }
        }
        self.notify_slow(is_waking);
    }

    /// After a worker published a `join` job: wake a thread to steal it if
    /// one is idle or may be started, judged from a Relaxed snapshot.
    ///
    /// Unlike `notify`, this needs no SeqCst fence (hazard 1): a `join` job
    /// is never stranded, because its owner takes it back and runs it if no
    /// thread stole it. A stale snapshot only costs parallelism for this
    /// one job, and saves a fence on every `join` (`docs/fork_join.md`).
    pub(crate) fn notify_for_join(&self) {
        // Relaxed: a hint only (see above).
        let sync = self.sync_word(Ordering::Relaxed);
        if !sync.notified() && (sync.idle() > 0 || sync.spawned() < self.max_threads()) {
            self.notify_slow(false);
        }
    }

    #[cold]
    fn notify_slow(&self, is_waking: bool) {
        enum Action {
            Wake,
            Spawn,
            Nothing,
        }
        let mut sync = self.sync_word(Ordering::Relaxed);
        while sync.state() != State::Shutdown {
            let can_wake = is_waking || sync.state() == State::Pending;
            if is_waking {
                debug_assert_eq!(sync.state(), State::Waking);
            }
            let mut new = sync.with_notified(true);
            let action = if can_wake && sync.idle() > 0 {
                new = new.with_state(State::Signaled);
                Action::Wake
            } else if can_wake && sync.spawned() < self.max_threads() {
                new = new
                    .with_state(State::Signaled)
                    .with_spawned(sync.spawned() + 1);
                Action::Spawn
            } else if is_waking {
                // Nobody to hand the waking role to: give it up.
                new = new.with_state(State::Pending);
                Action::Nothing
            } else if sync.notified() {
                return;
            } else {
                Action::Nothing
            };
            // Release: pairs with the Acquire consuming CAS in `wait`, so the
            // thread that consumes this notification sees the push before it.
            match self.sync.compare_exchange_weak(
                sync.bits(),
                new.bits(),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    match action {
                        // SAFETY: the pool is alive: the caller holds it.
                        Action::Wake => unsafe {
                            Event::notify(&self.idle_event);
                        },
                        Action::Spawn => self.spawn_worker(),
                        Action::Nothing => {}
                    }
                    return;
                }
                Err(actual) => sync = SyncWord::from_bits(actual),
            }
        }
    }

    /// Blocks until notified. Returns whether this thread is now the waking
    /// thread, or `Shutdown`.
    pub(crate) fn wait(&self, mut is_waking: bool) -> Result<bool, Shutdown> {
        let mut is_idle = false;
        let mut sync = self.sync_word(Ordering::Relaxed);
        loop {
            if sync.state() == State::Shutdown {
                // Acquire: pairs with the AcqRel shutdown CAS (every later
                // change of the word is an RMW, so this read is in its release
                // sequence), so the closed global queue and everything pushed
                // before it are visible to the drain that follows. A load,
                // not a fence: ThreadSanitizer does not model fences.
                self.sync.load(Ordering::Acquire);
                return Err(Shutdown);
            }
            if is_waking {
                debug_assert_eq!(sync.state(), State::Waking);
            }

            if sync.notified() {
                let mut new = sync.with_notified(false);
                if is_idle {
                    new = new.with_idle(sync.idle() - 1);
                }
                if sync.state() == State::Signaled {
                    new = new.with_state(State::Waking);
                }
                // Acquire: pairs with the Release CAS in `notify_slow`.
                match self.sync.compare_exchange_weak(
                    sync.bits(),
                    new.bits(),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SeqCst (hazard 1): orders this consuming CAS before
                        // the search that follows; pairs with the fence in
                        // `notify`.
                        fence(Ordering::SeqCst);
                        return Ok(is_waking || sync.state() == State::Signaled);
                    }
                    Err(actual) => sync = SyncWord::from_bits(actual),
                }
            } else if !is_idle {
                let mut new = sync.with_idle(sync.idle() + 1);
                if is_waking {
                    new = new.with_state(State::Pending);
                }
                // Relaxed: going idle publishes nothing; the notification
                // that ends it carries the edge.
                match self.sync.compare_exchange_weak(
                    sync.bits(),
                    new.bits(),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        is_waking = false;
                        is_idle = true;
                        sync = new;
                    }
                    Err(actual) => sync = SyncWord::from_bits(actual),
                }
            } else {
                self.idle_event.wait();
                sync = self.sync_word(Ordering::Relaxed);
            }
        }
    }

    /// Stops intake from outside and lets the workers drain and exit.
    pub(crate) fn shutdown(&self) {
        // First: every outside push from now on is refused. Pushes before
        // this point are in the queue when the workers drain it.
        self.run_queue.close();
        let mut sync = self.sync_word(Ordering::Relaxed);
        loop {
            if sync.state() == State::Shutdown {
                return;
            }
            let new = sync
                .with_state(State::Shutdown)
                .with_notified(true)
                .with_idle(0);
            // AcqRel: Release publishes the close above to the workers' drain
            // (their Acquire load in `wait`); Acquire orders the join
            // notification below after every earlier exit.
            match self.sync.compare_exchange_weak(
                sync.bits(),
                new.bits(),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => sync = SyncWord::from_bits(actual),
            }
        }
        // SAFETY: the caller holds the pool alive.
        unsafe {
            // Always, whatever `idle` was (hazard 3 at the pool level).
            Event::shutdown(&self.idle_event);
            if sync.spawned() == 0 {
                // No thread exists or ever will: this call is the "last one
                // out" and hands the joiner its token.
                Event::notify(&self.join_event);
            }
        }
    }

    /// Waits for shutdown and for every worker to stop, releases the workers'
    /// exit chain and runs what was left in the global queue (the tasks no
    /// worker ran because none could be started).
    pub(crate) fn join(&self) {
        // Hazard 5: no fast path. Exactly one token is ever posted (by the
        // last thread out, or by `shutdown` when there were no threads); an
        // earlier joiner turns the event into SHUTDOWN for everyone after it.
        self.join_event.wait();
        // AcqRel swap (hazard 6): an RMW reads the latest registry, so every
        // registration is seen; Acquire makes the workers' links visible.
        let first = self.threads.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !first.is_null() {
            // SAFETY: every registered worker waits on its join event, and
            // its stack stays alive until that event is notified.
            unsafe { Event::notify(&raw const (*first).join_event) };
        }
        // Tasks accepted while no worker could run them (every spawn failed)
        // run here, and so do the tasks they schedule.
        worker::run_leftovers(self);
        // SAFETY: the pool is alive: the caller holds it.
        unsafe { Event::shutdown(&self.join_event) };
    }

    /// Pushes `worker` on the registry.
    pub(crate) fn register(&self, worker: &Worker) {
        let mut head = self.threads.load(Ordering::Relaxed);
        loop {
            // SAFETY: not yet published: the link is ours alone.
            worker.next.with_mut(|n| unsafe { *n = head });
            // Release: a thief's or the joiner's Acquire load of the registry
            // sees this worker initialized and its link written.
            match self.threads.compare_exchange_weak(
                head,
                worker as *const Worker as *mut Worker,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => head = actual,
            }
        }
    }

    /// A worker leaves: gives up its `spawned` count; the last one out after
    /// shutdown wakes the joiner.
    ///
    /// # Safety
    /// `pool` is alive and the caller is counted in `spawned`. After this
    /// call the caller must not touch the pool: the joiner may free it.
    pub(crate) unsafe fn unregister(pool: *const Pool) {
        crate::sync::ghost::assert_live(pool.cast(), "a leaving worker");
        // SAFETY: alive until this RMW, by the contract.
        let sync = unsafe { &raw const (*pool).sync };
        // AcqRel (hazard 6): the Release half puts this worker's registration
        // and its whole run before the exit; the Acquire half lets the last
        // one out carry every earlier exit on to the joiner.
        // SAFETY: as above.
        let old = SyncWord::from_bits(unsafe { (*sync).fetch_sub(ONE_SPAWNED, Ordering::AcqRel) });
        debug_assert!(old.spawned() > 0);
        debug_assert_eq!(
            old.state(),
            State::Shutdown,
            "workers leave only after shutdown"
        );
        if old.state() == State::Shutdown && old.spawned() == 1 {
            crate::sync::ghost::assert_live(pool.cast(), "the last worker's join notification");
            // SAFETY: the joiner cannot have returned: it waits for this very
            // token. The event takes the pointer, not a reference (hazard 5).
            unsafe { Event::notify(&raw const (*pool).join_event) };
        }
    }

    /// A spawn decided by `notify_slow` did not happen: undo it (hazard 4).
    ///
    /// # Safety
    /// `pool` is alive and the failed thread was counted in `spawned`.
    pub(crate) unsafe fn spawn_failed(pool: *const Pool) {
        crate::sync::ghost::assert_live(pool.cast(), "a failed spawn's repair");
        // SAFETY: alive by the contract, until the CAS below.
        let word = unsafe { &raw const (*pool).sync };
        // SAFETY: as above.
        let mut sync = SyncWord::from_bits(unsafe { (*word).load(Ordering::Relaxed) });
        let mut woken = false;
        loop {
            debug_assert!(sync.spawned() > 0);
            let remaining = sync.spawned() - 1;
            let mut new = sync.with_spawned(remaining);
            match sync.state() {
                // The signal our spawn stood for may still be unconsumed.
                // Pass it to an idle thread if there is one; otherwise give
                // it up so the next notify can try again.
                //
                // The wake comes *before* the CAS that gives our count back:
                // the count is what keeps the pool alive for this thread,
                // which may be any thread that dropped an unrun
                // `WorkerThread`, not a user of the pool. A wake that turns
                // out early is harmless: the woken thread reloads the word,
                // and our CAS then fails and decides again.
                State::Signaled if sync.idle() > 0 => {
                    if !woken {
                        // SAFETY: we still hold a count: the pool is alive.
                        unsafe { Event::notify(&raw const (*pool).idle_event) };
                        woken = true;
                    }
                }
                State::Signaled | State::Pending => {
                    new = new.with_state(State::Pending);
                    if remaining == 0 {
                        // No thread is left to consume `notified`: clear it,
                        // or every later notify would take the fast path and
                        // no thread would ever be spawned again.
                        new = new.with_notified(false);
                    }
                }
                // Another thread already took the signal (it is waking), or
                // the pool is shutting down.
                State::Waking | State::Shutdown => {}
            }
            // AcqRel: as in `unregister` (this may be the last count after
            // shutdown, handing the joiner its token).
            // SAFETY: alive until this RMW succeeds.
            match unsafe {
                (*word).compare_exchange_weak(
                    sync.bits(),
                    new.bits(),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
            } {
                Ok(_) => {
                    if sync.state() == State::Shutdown && remaining == 0 {
                        crate::sync::ghost::assert_live(
                            pool.cast(),
                            "a failed spawn's join notification",
                        );
                        // SAFETY: the joiner waits for this very token, so the
                        // pool is alive until it is posted; the event takes a
                        // pointer (hazard 5). Nothing else touches the pool
                        // after the CAS: our count is gone.
                        unsafe { Event::notify(&raw const (*pool).join_event) };
                    }
                    return;
                }
                Err(actual) => sync = SyncWord::from_bits(actual),
            }
        }
    }

    fn spawn_worker(&self) {
        // Relaxed: a unique number is all that is needed.
        let index = self.next_index.fetch_add(1, Ordering::Relaxed);
        let name = match &self.config.thread_name {
            Some(f) => {
                let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
                catch_unwind(AssertUnwindSafe(|| f(index))).ok()
            }
            None => Some(format!("zap-pool-{index}")),
        };
        let thread = WorkerThread {
            pool: self,
            index,
            name,
            stack_size: self.config.stack_size,
            armed: true,
        };
        let result = match &self.config.spawn_handler {
            Some(handler) => catch_unwind(AssertUnwindSafe(|| handler(thread)))
                .unwrap_or_else(|_| Err(io::Error::other("the spawn handler panicked"))),
            None => thread.spawn_default(),
        };
        if let Err(error) = result {
            self.report_spawn_error(error);
        }
    }

    fn report_spawn_error(&self, error: io::Error) {
        match &self.config.spawn_error_handler {
            Some(handler) => {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| handler(error))) {
                    self.handle_panic(payload);
                }
            }
            None => eprintln!("zap-pool: could not start a worker thread: {error}"),
        }
    }

    pub(crate) fn call_thread_hook(&self, hook: Option<&ThreadHook>, index: usize) {
        if let Some(hook) = hook {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| hook(index))) {
                self.handle_panic(payload);
            }
        }
    }

    /// Hands a task's panic to the panic handler. The default handler drops
    /// it: the panic hook has already reported it. A panic in the handler
    /// itself aborts: nothing above the pool could observe it.
    pub(crate) fn handle_panic(&self, payload: Box<dyn Any + Send>) {
        let outcome = catch_unwind(AssertUnwindSafe(|| match &self.config.panic_handler {
            Some(handler) => handler(payload),
            None => drop(payload),
        }));
        if outcome.is_err() {
            eprintln!("zap-pool: the panic handler panicked; aborting");
            std::process::abort();
        }
    }

    #[cfg(any(loom, shuttle))]
    pub(crate) fn debug_word(&self) -> SyncWord {
        self.sync_word(Ordering::Relaxed)
    }
}

/// A worker thread that the pool wants started, handed to a
/// [`spawn_handler`](crate::Builder::spawn_handler).
///
/// Call [`run`](WorkerThread::run) on the new thread. Dropping it without
/// running it counts as a failed spawn: the pool undoes the spawn and keeps
/// every task it accepted for the next thread it can start (or for `join`).
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

impl core::fmt::Debug for WorkerThread {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WorkerThread")
            .field("index", &self.index)
            .field("name", &self.name)
            .field("stack_size", &self.stack_size)
            .finish()
    }
}

impl WorkerThread {
    /// The worker's number, counting spawn attempts from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The thread name the pool's configuration asks for.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The stack size the pool's configuration asks for.
    pub fn stack_size(&self) -> Option<usize> {
        self.stack_size
    }

    /// Runs the worker on the current thread until the pool is shut down and
    /// joined. Call it on a fresh thread.
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
