//! The worker: one per pool thread. Its run loop, its search for work, and
//! waiting inside a task.
//!
//! A worker lives on its own thread's stack in two parts:
//! * [`Worker`], what other threads reach through the registry: its ring
//!   [`Buffer`], its overflow [`Queue`], its [`JoinDeque`] and its registry
//!   link (`registry.rs`);
//! * [`LocalWorker`], what only its own thread holds: the owner handles of
//!   the ring and the join deque, and the cursor of its steals. The
//!   thread-local `CURRENT` points to it while the worker runs, so every
//!   owner-only operation starts from `current_worker()` on that thread.
//!
//! Run loop:
//! 1. `wait` on the pool (sleeping when nothing is posted) until notified,
//!    possibly as the one *waking* thread;
//! 2. find tasks and run them. Before running a task, a waking thread, or one
//!    that moved more than one task into its ring, calls `notify` so another
//!    thread joins in (the waking role is handed on: no thundering herd);
//! 3. when `wait` reports shutdown, keep running tasks until the worker's own
//!    ring, its own queue and the pool's global queue are empty, then leave.
//!
//! The search (`find_task`), in three steps:
//! 1. `take_local`: own join deque (newest first), own ring, own queue;
//! 2. `take_global`: the pool's global queue;
//! 3. `steal`: for each registered worker in turn, its queue and (if it is
//!    not us) its ring and the oldest job of its join deque.
//!
//! Waiting inside a task (`wait_for`, used by `join`, `scope` and
//! `JoinHandle::join`): a worker that waits for work of its own pool keeps
//! running that pool's tasks, and blocks on the awaited latch only when the
//! search comes back empty and everything it waits for has started on other
//! threads. Threads that are not workers of the pool just block.
//!
//! Leaving: stop counting as a worker of the pool, run `on_thread_stop`, give
//! up the `spawned` count (the last one out wakes the joiner; that is this
//! thread's last access to the pool), then wait to be released
//! (`registry.rs`).
//!
//! Proof: `docs/worker.md` (search order, drain) and `docs/lifecycle.md`.

use super::Pool;
use super::registry::{Link, Registry};
use super::wake::Shutdown;
use crate::raw::{Batch, Task};
use crate::structures::buffer::{self, Buffer, Stole};
use crate::structures::join_deque::{self, JoinDeque};
use crate::structures::latch::Latch;
use crate::structures::queue::{Probe, Queue};
use crate::sync::hint::spin_loop;
use crate::sync::thread_local;
use core::cell::Cell;
use core::ptr::{self, NonNull};

thread_local! {
    /// The worker running on this thread, if any.
    // Not `const { .. }`: loom's `thread_local!` does not accept it.
    #[allow(clippy::missing_const_for_thread_local)]
    static CURRENT: Cell<*const LocalWorker<'static>> = Cell::new(ptr::null());
}

/// The worker of the current thread, if the thread is a pool worker. The
/// reference is only used while the caller runs on this thread, inside a
/// task the worker runs.
pub(crate) fn current_worker<'a>() -> Option<&'a LocalWorker<'a>> {
    // SAFETY: `CURRENT` is set only while the worker is alive on this
    // thread's stack, and cleared before it leaves `run`; a task (and so
    // the caller) runs strictly inside that window.
    unsafe { CURRENT.with(Cell::get).cast::<LocalWorker<'a>>().as_ref() }
}

/// The worker of the current thread if it serves `pool` (hazard 8: a
/// worker of another pool is not one of ours). `pool` may dangle: it is
/// only compared.
pub(crate) fn current_of<'a>(pool: *const Pool) -> Option<&'a LocalWorker<'a>> {
    current_worker().filter(|w| ptr::eq(w.pool, pool))
}

/// Makes `local` the current thread's worker until the returned guard drops.
fn enter<'a>(local: &'a LocalWorker<'a>) -> impl Drop + 'a {
    struct Restore(*const LocalWorker<'static>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let this = (local as *const LocalWorker<'a>).cast::<LocalWorker<'static>>();
    Restore(CURRENT.with(|c| c.replace(this)))
}

/// The part of a worker that other threads reach through the registry.
pub(super) struct Worker {
    pub(super) link: Link,
    /// Overflow from the ring; only this worker pushes to it.
    queue: Queue,
    /// Spawned tasks; only this worker pushes to it, anyone steals.
    ring: Buffer,
    /// Pending `join` jobs of the tasks running on this worker.
    join_deque: JoinDeque,
}

impl Worker {
    fn new() -> Self {
        Self {
            link: Link::new(),
            queue: Queue::new(),
            ring: Buffer::new(),
            join_deque: JoinDeque::new(),
        }
    }
}

/// A worker as its own thread sees it: the owner's side of its ring and
/// join deque. Exactly one exists per [`Worker`], made right after it, and
/// it never leaves the worker's thread.
pub(crate) struct LocalWorker<'a> {
    worker: &'a Worker,
    pool: &'a Pool,
    ring: buffer::Owner<'a>,
    join_deque: join_deque::Owner<'a>,
    /// Where the next steal starts.
    cursor: Cell<*const Worker>,
}

impl<'a> LocalWorker<'a> {
    fn new(worker: &'a Worker, pool: &'a Pool) -> Self {
        Self {
            worker,
            pool,
            // SAFETY: this is the only `LocalWorker` of `worker` (each
            // `Worker` made in this module gets one, at once), and it stays
            // on this thread (it is neither `Send` nor `Sync`).
            ring: unsafe { worker.ring.owner() },
            // SAFETY: as above.
            join_deque: unsafe { worker.join_deque.owner() },
            cursor: Cell::new(ptr::null()),
        }
    }

    /// The pool this worker serves. It outlives the worker and every task
    /// the worker runs (the worker holds a `spawned` count).
    pub(crate) fn pool(&self) -> &'a Pool {
        self.pool
    }

    /// The owner's side of this worker's join deque (`fork_join/join.rs`).
    pub(crate) fn join_deque(&self) -> &join_deque::Owner<'a> {
        &self.join_deque
    }

    /// `Pool::schedule` from this worker: into its own ring, the overflow
    /// into its own queue.
    pub(super) fn push(&self, batch: Batch) {
        if let Err(overflow) = self.ring.push(batch) {
            // A worker's own queue is never closed: it drains it itself.
            let pushed = self.worker.queue.push(overflow);
            debug_assert!(pushed.is_ok());
        }
    }

    /// Finds a task, in three steps. May report nothing while tasks exist
    /// elsewhere (a contended queue lock); the wake protocol, not this
    /// search, guarantees that someone comes back for them.
    fn find_task(&self) -> Option<Stole> {
        self.take_local()
            .or_else(|| self.take_global())
            .or_else(|| self.steal())
    }

    /// Step 1: this worker's own join deque, ring and queue.
    fn take_local(&self) -> Option<Stole> {
        // Own join jobs are only pending while a task of ours is inside
        // `join` (then we are in `wait_for`); the emptiness check, exact for
        // the owner, keeps the deque's fence off the common path.
        if !self.join_deque.is_empty() {
            if let Some(task) = self.join_deque.pop() {
                return Some(Stole {
                    task,
                    pushed: false,
                });
            }
        }
        if let Some(task) = self.ring.pop() {
            return Some(Stole {
                task,
                pushed: false,
            });
        }
        self.ring.consume(&self.worker.queue)
    }

    /// Step 2: the pool's global queue.
    fn take_global(&self) -> Option<Stole> {
        self.ring.consume(&self.pool.global)
    }

    /// Step 3: the other workers, starting where the last steal stopped.
    fn steal(&self) -> Option<Stole> {
        for _ in 0..self.pool.spawned_hint() {
            let victim = self.pool.registry.next_victim(&self.cursor);
            if let Some(stole) = self.ring.consume(&victim.queue) {
                return Some(stole);
            }
            if ptr::eq(victim, self.worker) {
                continue;
            }
            if let Some(stole) = self.ring.steal(&victim.ring) {
                return Some(stole);
            }
            // A hint first: a stale "empty" only delays the steal (the victim
            // takes its own join jobs back), and it keeps the deque's SeqCst
            // fence off searches of idle victims.
            if !victim.join_deque.is_empty() {
                if let Some(task) = victim.join_deque.steal() {
                    return Some(Stole {
                        task,
                        pushed: false,
                    });
                }
            }
        }
        None
    }

    /// After shutdown: run everything this worker is responsible for. The
    /// global queue is closed and only this thread pushes to its own ring
    /// and queue, so once all three are seen empty nothing can appear in
    /// them again.
    fn drain(&self) {
        loop {
            while let Some(stole) = self.find_task() {
                run_task(self.pool, stole.task);
            }
            if settled(&self.worker.queue) && settled(&self.pool.global) {
                debug_assert!(self.ring.is_empty());
                return;
            }
        }
    }

    fn run_loop(&self) {
        let pool = self.pool;
        let mut is_waking = false;
        loop {
            match pool.wait(is_waking) {
                Ok(waking) => is_waking = waking,
                Err(Shutdown) => return self.drain(),
            }
            while let Some(stole) = self.find_task() {
                if stole.pushed || is_waking {
                    pool.notify(is_waking);
                    // The waking role was handed on (or given up) by notify.
                    is_waking = false;
                }
                run_task(pool, stole.task);
            }
        }
    }
}

/// The body of a worker thread.
///
/// # Safety
/// `pool` points to a live pool that counts this thread in `spawned`; the
/// pool stays alive until this thread gives that count up.
pub(super) unsafe fn run(pool_ptr: *const Pool, index: usize) {
    // SAFETY: the pool is alive while we are counted (contract above). The
    // reference is not used after `Pool::unregister` below.
    let pool = unsafe { &*pool_ptr };
    let worker = Worker::new();
    {
        let local = LocalWorker::new(&worker, pool);
        let _current = enter(&local);
        pool.registry.register(&worker);
        pool.call_thread_hook(pool.config.on_thread_start.as_deref(), index);
        local.run_loop();
        // The guard clears `CURRENT` here: the stop hook runs as a plain
        // thread, not a worker. Its ring is drained and will not be looked
        // at again, so a task it spawned there would be lost; from here on a
        // spawn goes to the (closed) global queue and is refused.
    }
    pool.call_thread_hook(pool.config.on_thread_stop.as_deref(), index);
    // SAFETY: we are counted; this is our last access to the pool (hazard 5).
    unsafe { Pool::unregister(pool_ptr) };
    // Only worker memory from here on.
    Registry::await_release(&worker);
}

/// Runs, on the thread in `join_workers`, what no worker ran: tasks accepted
/// while no worker existed (every spawn failed). For the duration this
/// thread acts as an unregistered worker of `pool`, so the tasks it runs can
/// still schedule children (into its own ring, as a worker's would) and
/// those run here too, before `join_workers` returns.
pub(super) fn run_leftovers(pool: &Pool) {
    let worker = Worker::new();
    let local = LocalWorker::new(&worker, pool);
    let _current = enter(&local);
    local.drain();
}

/// Whether `queue` is empty, waiting out a consumer that holds its lock (it
/// may put tasks back into the cache when it releases).
fn settled(queue: &Queue) -> bool {
    loop {
        match queue.probe() {
            Probe::Empty => return true,
            Probe::NonEmpty => return false,
            Probe::Consuming => spin_loop(),
        }
    }
}

/// Waits until `latch` is set, on behalf of a `join`, a `scope` or a
/// `JoinHandle` of `pool` (which may dangle if the latch is already set).
///
/// On a worker of `pool` this runs the pool's other tasks meanwhile, so that
/// nested fork-join never deadlocks (even on one thread) and the waiting
/// thread stays useful. It blocks on the latch only when its search found
/// nothing and `all_started()` says that every task it waits for has
/// started running on another thread: those finish without help from this
/// one (`docs/fork_join.md`, "waiting"). Until then a failed search is
/// transient (a queue's consumer lock was held) and is simply repeated.
///
/// On any other thread it blocks on the latch's futex.
pub(crate) fn wait_for(pool: *const Pool, latch: &Latch, all_started: &dyn Fn() -> bool) {
    let Some(worker) = current_of(pool) else {
        return latch.wait();
    };
    while !latch.probe() {
        if let Some(stole) = worker.find_task() {
            if stole.pushed {
                worker.pool.notify(false);
            }
            run_task(worker.pool, stole.task);
        } else if all_started() {
            return latch.wait();
        } else {
            spin_loop();
        }
    }
}

/// Runs one task, catching a panic (hazard 11).
fn run_task(pool: &Pool, task: *mut Task) {
    // SAFETY: the task was scheduled under `ThreadPool::schedule`'s contract:
    // it is alive until its callback starts. Read the callback first; after
    // the call starts the task belongs to the callback.
    let callback = unsafe { (*task).callback() };
    // SAFETY: as above; `task` is non-null (it came out of a queue or ring).
    let task = unsafe { NonNull::new_unchecked(task) };
    // SAFETY: the callback's own contract is the scheduler's business.
    let result =
        std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| unsafe { callback(task) }));
    if let Err(payload) = result {
        pool.handle_panic(payload);
    }
}
