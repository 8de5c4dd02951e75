//! The worker: one per pool thread. Its run loop, its search order and its
//! place in the pool's registry.
//!
//! A worker lives on its own thread's stack: a ring [`Buffer`] that only it
//! pushes to, an overflow [`Queue`] that only it pushes to, a join [`Event`]
//! and a link in the pool's lock-free registry stack.
//!
//! Run loop:
//! 1. `wait` on the pool (sleeping when nothing is posted) until notified,
//!    possibly as the one *waking* thread;
//! 2. pop tasks and run them. Before running a task, a waking thread, or one
//!    that moved more than one task into its ring, calls `notify` so another
//!    thread joins in (the waking role is handed on: no thundering herd);
//! 3. when `wait` reports shutdown, keep running tasks until the worker's own
//!    ring, its own queue and the pool's global queue are empty, then leave.
//!
//! Search order (`pop`): own join deque (newest first), own ring, own queue,
//! the global queue, then for each registered worker in turn, its queue and
//! (if it is not us) its ring and the oldest job of its join deque.
//!
//! Waiting inside a task (`wait_for`, used by `join`, `scope` and
//! `JoinHandle::join`): a worker that waits for work of its own pool keeps
//! running that pool's tasks, and blocks on the awaited latch only when the
//! search comes back empty and everything it waits for has started on other
//! threads. Threads that are not workers of the pool just block.
//!
//! Leaving: stop counting as a worker of the pool, run `on_thread_stop`, give up the `spawned` count (the last one
//! out wakes the joiner; that is this thread's last access to the pool), then
//! wait on the worker's own join event. `join` releases the first registered
//! worker, and each released worker releases the next one by its link, never
//! touching the pool again, since the pool may be gone by then.
//!
//! Proof: `docs/worker.md` (search order, drain) and `docs/lifecycle.md`.

use crate::buffer::{Buffer, Stole};
use crate::event::Event;
use crate::join_deque::JoinDeque;
use crate::latch::Latch;
use crate::pool::Pool;
use crate::queue::{Probe, Queue};
use crate::raw::Task;
use crate::sync::atomic::Ordering;
use crate::sync::hint::spin_loop;
use crate::sync::{UnsafeCell, thread_local};
use core::cell::Cell;
use core::ptr;

thread_local! {
    /// The worker running on this thread, if any.
    // Not `const { .. }`: loom's `thread_local!` does not accept it.
    #[allow(clippy::missing_const_for_thread_local)]
    static CURRENT: Cell<*const Worker> = Cell::new(ptr::null());
}

/// The worker of the current thread, if the thread is a pool worker. The
/// reference is only used while the caller runs on this thread, inside a
/// task the worker runs.
pub(crate) fn current_worker<'a>() -> Option<&'a Worker> {
    // SAFETY: `CURRENT` is set only while the worker is alive on this
    // thread's stack, and cleared before it leaves `run`; a task (and so
    // the caller) runs strictly inside that window.
    unsafe { CURRENT.with(Cell::get).as_ref() }
}

/// The worker of the current thread if it serves `pool` (hazard 8: a
/// worker of another pool is not one of ours). `pool` may dangle: it is
/// only compared.
pub(crate) fn current_of<'a>(pool: *const Pool) -> Option<&'a Worker> {
    current_worker().filter(|w| ptr::eq(w.pool, pool))
}

pub(crate) struct Worker {
    /// The registry link: written before the Release CAS that publishes this
    /// worker, read only after an Acquire load of the registry.
    pub(crate) next: UnsafeCell<*const Worker>,
    /// Where the next steal starts (owner only).
    target: UnsafeCell<*const Worker>,
    pub(crate) join_event: Event,
    pub(crate) run_queue: Queue,
    pub(crate) run_buffer: Buffer,
    /// Pending `join` jobs of the tasks running on this worker.
    pub(crate) join_deque: JoinDeque,
    pub(crate) pool: *const Pool,
}

impl Worker {
    fn new(pool: *const Pool) -> Self {
        Self {
            next: UnsafeCell::new(ptr::null()),
            target: UnsafeCell::new(ptr::null()),
            join_event: Event::new(),
            run_queue: Queue::new(),
            run_buffer: Buffer::new(),
            join_deque: JoinDeque::new(),
            pool,
        }
    }
}

/// The body of a worker thread.
///
/// # Safety
/// `pool` points to a live pool that counts this thread in `spawned`; the
/// pool stays alive until this thread gives that count up.
pub(crate) unsafe fn run(pool_ptr: *const Pool, index: usize) {
    // SAFETY: the pool is alive while we are counted (contract above). The
    // reference is not used after `Pool::unregister` below.
    let pool = unsafe { &*pool_ptr };
    let worker = Worker::new(pool_ptr);
    CURRENT.with(|c| c.set(&worker));
    pool.register(&worker);
    pool.call_thread_hook(pool.config.on_thread_start.as_deref(), index);

    run_loop(pool, &worker);

    // The hook runs as a plain thread, not a worker: its ring is drained and
    // will not be looked at again, so a task it spawned there would be lost.
    // From here on a spawn goes to the (closed) global queue and is refused.
    CURRENT.with(|c| c.set(ptr::null()));
    pool.call_thread_hook(pool.config.on_thread_stop.as_deref(), index);
    // SAFETY: we are counted; this is our last access to the pool (hazard 5).
    unsafe { Pool::unregister(pool_ptr) };

    // Wait for `join` (or the worker released before us) to release us,
    // then release the next registered worker. Only worker memory is touched:
    // each worker's stack stays alive until it has been released.
    worker.join_event.wait();
    // SAFETY: `next` was written before we were published and never since.
    let next = worker.next.with(|n| unsafe { *n });
    if !next.is_null() {
        // SAFETY: `next` is registered, so it is waiting on its join event
        // and its stack is alive until that event is notified.
        unsafe { Event::notify(&raw const (*next).join_event) };
    }
}

fn run_loop(pool: &Pool, worker: &Worker) {
    let mut is_waking = false;
    loop {
        match pool.wait(is_waking) {
            Ok(waking) => is_waking = waking,
            Err(crate::pool::Shutdown) => return drain(pool, worker),
        }
        while let Some(stole) = pop(pool, worker) {
            if stole.pushed || is_waking {
                pool.notify(is_waking);
                // The waking role was handed on (or given up) by notify.
                is_waking = false;
            }
            run_task(pool, stole.task);
        }
    }
}

/// Runs, on the thread that joins, what no worker ran: tasks accepted while
/// no worker existed (every spawn failed). For the duration this thread acts
/// as an unregistered worker of `pool`, so the tasks it runs can still
/// schedule children (into its own ring, as a worker's would) and those run
/// here too, before `join` returns.
pub(crate) fn run_leftovers(pool: &Pool) {
    let worker = Worker::new(pool);
    let previous = CURRENT.with(|c| c.replace(&worker));
    drain(pool, &worker);
    CURRENT.with(|c| c.set(previous));
}

/// After shutdown: run everything this worker is responsible for. The global
/// queue is closed and only this thread pushes to its own ring and queue, so
/// once all three are seen empty nothing can appear in them again.
fn drain(pool: &Pool, worker: &Worker) {
    loop {
        while let Some(stole) = pop(pool, worker) {
            run_task(pool, stole.task);
        }
        if settled(&worker.run_queue) && settled(&pool.run_queue) {
            debug_assert!(worker.run_buffer.is_empty());
            return;
        }
    }
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

/// Finds a task: own ring, own queue, global queue, then steals. May report
/// nothing while tasks exist elsewhere (a contended queue lock); the wake
/// protocol, not this search, guarantees that someone comes back for them.
fn pop(pool: &Pool, worker: &Worker) -> Option<Stole> {
    // Own join jobs are only pending while a task of ours is inside `join`
    // (then we are in `wait_for`); the emptiness check, exact for the owner,
    // keeps the deque's fence off the common path.
    if !worker.join_deque.is_empty() {
        if let Some(task) = worker.join_deque.pop() {
            return Some(Stole {
                task,
                pushed: false,
            });
        }
    }
    if let Some(task) = worker.run_buffer.pop() {
        return Some(Stole {
            task,
            pushed: false,
        });
    }
    if let Some(stole) = worker.run_buffer.consume(&worker.run_queue) {
        return Some(stole);
    }
    if let Some(stole) = worker.run_buffer.consume(&pool.run_queue) {
        return Some(stole);
    }
    // Relaxed: only a bound on how many workers to visit this round.
    let mut visits = pool.sync_word(Ordering::Relaxed).spawned();
    while visits > 0 {
        visits -= 1;
        // SAFETY: `target` is owner-only.
        let mut target = worker.target.with(|t| unsafe { *t });
        if target.is_null() {
            // Acquire: pairs with the Release CAS in `register`, so the
            // worker we find (and its `next` link) is initialized.
            target = pool.threads.load(Ordering::Acquire);
        }
        // SAFETY: registered workers stay alive until `join` releases them,
        // which happens only after every worker has stopped searching; their
        // `next` links are immutable once published.
        let victim = unsafe { &*target };
        let after = victim.next.with(|n| unsafe { *n });
        // SAFETY: owner-only, as above.
        worker.target.with_mut(|t| unsafe { *t = after });

        if let Some(stole) = worker.run_buffer.consume(&victim.run_queue) {
            return Some(stole);
        }
        if ptr::eq(victim, worker) {
            continue;
        }
        if let Some(stole) = worker.run_buffer.steal(&victim.run_buffer) {
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
    // SAFETY: a worker's pool outlives the worker's tasks.
    let pool = unsafe { &*worker.pool };
    while !latch.probe() {
        if let Some(stole) = pop(pool, worker) {
            if stole.pushed {
                pool.notify(false);
            }
            run_task(pool, stole.task);
        } else if all_started() {
            return latch.wait();
        } else {
            spin_loop();
        }
    }
}

/// Runs one task, catching a panic (hazard 11).
pub(crate) fn run_task(pool: &Pool, task: *mut Task) {
    // SAFETY: the task was scheduled under `ThreadPool::schedule`'s contract:
    // it is alive until its callback starts. Read the callback first; after
    // the call starts the task belongs to the callback.
    let callback = unsafe { (*task).callback() };
    // SAFETY: as above; `task` is non-null (it came out of a queue or ring).
    let task = unsafe { core::ptr::NonNull::new_unchecked(task) };
    // SAFETY: the callback's own contract is the scheduler's business.
    let result =
        std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| unsafe { callback(task) }));
    if let Err(payload) = result {
        pool.handle_panic(payload);
    }
}
