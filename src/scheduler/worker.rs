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
//! 1. `take_local`: own ring, own queue (never its own join deque: each
//!    job there belongs to a `join` on this thread's stack);
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
use super::wake::{Exit, Starting, Stop};
use crate::raw::{Batch, Task};
use crate::structures::buffer::{self, Buffer, Stole};
use crate::structures::fork_stack::ForkStack;
use crate::structures::join_deque::{self, JoinDeque};
use crate::structures::latch::Latch;
use crate::structures::queue::{Probe, Queue};
use crate::structures::quiet::Presence;
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

/// The worker of the current thread that serves `pool`, if any (hazard 8:
/// a worker of another pool is not one of ours). A thread can be two
/// workers at once, nested: a worker of pool P that joins pool Q and runs
/// Q's leftovers there is Q's guest and still P's worker. `pool` may
/// dangle: it is only compared.
pub(crate) fn current_of<'a>(pool: *const Pool) -> Option<&'a LocalWorker<'a>> {
    let mut worker = current_worker();
    while let Some(w) = worker {
        if ptr::eq(w.pool, pool) {
            return Some(w);
        }
        // SAFETY: the outer worker was entered before this one and is left
        // after it: it is alive on this thread's stack.
        worker = unsafe { w.outer.get().cast::<LocalWorker<'a>>().as_ref() };
    }
    None
}

/// The registered worker among the current thread's workers, if any: the
/// pool thread this is.
fn registered_worker<'a>() -> Option<&'a LocalWorker<'a>> {
    let mut worker = current_worker();
    while let Some(w) = worker {
        if w.registered {
            return Some(w);
        }
        // SAFETY: as in `current_of`.
        worker = unsafe { w.outer.get().cast::<LocalWorker<'a>>().as_ref() };
    }
    None
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
    let outer = CURRENT.with(|c| c.replace(this));
    local.outer.set(outer);
    Restore(outer)
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
    /// Odd while this worker may hold a task (`structures/quiet.rs`).
    pub(super) presence: Presence,
}

impl Worker {
    fn new() -> Self {
        Self {
            link: Link::new(),
            queue: Queue::new(),
            ring: Buffer::new(),
            join_deque: JoinDeque::new(),
            presence: Presence::new(),
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
    /// The lazy forks (`join_lazy`) recorded here; the promoted ones are
    /// also in `join_deque` (`structures/fork_stack.rs`).
    forks: ForkStack,
    /// Where the next steal starts.
    cursor: Cell<*const Worker>,
    /// Whether the last task this thread took was a `join` job stolen from
    /// another worker: fork-join work, which comes back in short bursts, so
    /// the run loop spins a little before it sleeps (`Spin`).
    took_join: Cell<bool>,
    /// The worker this thread was before this one was entered (the host of
    /// a leftovers guest), or null.
    outer: Cell<*const LocalWorker<'static>>,
    /// A worker thread of the pool, counted and registered; otherwise a
    /// guest: the thread in `join_workers` that runs the leftovers as if it
    /// were one of the pool's workers (`run_leftovers`). A guest is never
    /// idle in the pool's word and nobody steals from it.
    registered: bool,
    /// The worker thread's index in its pool (`WorkerThread::index`);
    /// `None` for a guest.
    index: Option<usize>,
    /// The epoch of the last broadcast this worker ran (`broadcast.rs`).
    broadcast_seen: Cell<usize>,
}

impl<'a> LocalWorker<'a> {
    /// A registered worker if `index` is given, else a guest.
    fn new(worker: &'a Worker, pool: &'a Pool, index: Option<usize>) -> Self {
        Self {
            worker,
            pool,
            registered: index.is_some(),
            index,
            // SAFETY: this is the only `LocalWorker` of `worker` (each
            // `Worker` made in this module gets one, at once), and it stays
            // on this thread (it is neither `Send` nor `Sync`).
            ring: unsafe { worker.ring.owner() },
            // SAFETY: as above.
            join_deque: unsafe { worker.join_deque.owner() },
            forks: ForkStack::new(),
            cursor: Cell::new(ptr::null()),
            took_join: Cell::new(false),
            outer: Cell::new(ptr::null()),
            // A guest runs no broadcast: it owes none.
            broadcast_seen: Cell::new(if index.is_some() { 0 } else { usize::MAX }),
        }
    }

    /// The epoch of the last broadcast this worker ran.
    pub(super) fn broadcast_seen(&self) -> usize {
        self.broadcast_seen.get()
    }

    pub(super) fn set_broadcast_seen(&self, epoch: usize) {
        self.broadcast_seen.set(epoch);
    }

    /// The pool this worker serves. It outlives the worker and every task
    /// the worker runs (the worker holds a `spawned` count).
    pub(crate) fn pool(&self) -> &'a Pool {
        self.pool
    }

    /// The worker thread's index in its pool (as [`WorkerThread::index`]
    /// reports it); `None` for the thread that runs a shut-down pool's
    /// leftovers in `join_workers`.
    ///
    /// [`WorkerThread::index`]: super::WorkerThread::index
    pub(crate) fn index(&self) -> Option<usize> {
        self.index
    }

    /// The owner's side of this worker's join deque (`fork_join/join.rs`).
    pub(crate) fn join_deque(&self) -> &join_deque::Owner<'a> {
        &self.join_deque
    }

    /// Before an eager `join` pushes its job to the join deque: promotes
    /// every lazy fork still hidden, so that none lies beneath a deque
    /// entry (`fork_stack.rs`, P). False if the deque filled up: the caller
    /// then runs its `b` itself.
    #[inline]
    pub(crate) fn before_eager_push(&self) -> bool {
        !self.forks.has_hidden() || self.forks.promote_all(&self.join_deque)
    }

    /// Records a lazy fork, `task` (`fork_join/join.rs`, `join_lazy`); false
    /// if the fork stack is full (the caller runs the job itself).
    ///
    /// The first lazy fork on an empty stack is promoted to the join deque
    /// at once, so the outermost `join_lazy` of a task is offered to other
    /// threads as an eager `join` is. A nested one stays hidden, and at
    /// each lazy fork the oldest hidden job is promoted when the pool's
    /// word says another thread could take it (`Pool::could_take_work`).
    #[inline]
    pub(crate) fn fork_lazy(&self, task: *mut Task) -> bool {
        let outermost = self.forks.is_empty();
        if !self.forks.push(task) {
            return false;
        }
        if outermost || self.pool.could_take_work() {
            self.promote();
        }
        true
    }

    /// Promotes the oldest hidden lazy fork and wakes a thread for it.
    #[cold]
    #[inline(never)]
    fn promote(&self) {
        if self.forks.promote(&self.join_deque) {
            self.pool.notify_promoted();
        }
    }

    /// Takes back this worker's newest lazy fork, `task`: `Some(task)` if
    /// it is this thread's to run, `None` if a thief took it.
    #[inline]
    pub(crate) fn unfork(&self, task: *mut Task) -> Option<*mut Task> {
        self.forks.pop(task, &self.join_deque)
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
    #[inline(always)]
    fn find_task(&self) -> Option<Stole> {
        self.take_local()
            .or_else(|| self.take_global())
            .or_else(|| self.steal())
    }

    /// The search of a thread that found nothing and spins a little before
    /// it sleeps (`Spin`): the global queue and the other workers' join
    /// deques, the work that arrives in bursts shorter than a sleep (a new
    /// task from outside; the next fork of a `join` loop, or a half its
    /// owner waits for). Not the other workers' rings: a spinning thief
    /// would take each task a worker spawns for itself the moment it is
    /// pushed, and a chain of spawns would bounce between threads. Its own
    /// ring and queue stay empty meanwhile, since only this thread fills
    /// them.
    fn find_while_spinning(&self) -> Option<Stole> {
        self.take_global().or_else(|| {
            let cursor = &self.cursor;
            for _ in 0..self.pool.spawned_hint() {
                let victim = self.pool.registry.next_victim(cursor)?;
                if !ptr::eq(victim, self.worker) {
                    if let Some(stole) = self.steal_join(victim) {
                        return Some(stole);
                    }
                }
            }
            None
        })
    }

    /// Step 1: this worker's own ring and queue.
    #[inline(always)]
    fn take_local(&self) -> Option<Stole> {
        // Not the own join deque: every job in it belongs to a `join` on
        // this thread's stack, which takes its own job back (or finds it
        // stolen) when its `a` returns. A search that popped one (a wait
        // inside nested joins) would hand the inner `join` its outer job's
        // entry (`docs/fork_join.md`, J2).
        if let Some(task) = self.ring.pop() {
            return Some(Stole {
                task,
                pushed: false,
            });
        }
        if self.pool.has_broadcast(self.broadcast_seen()) {
            return self.take_broadcast();
        }
        self.ring.consume(&self.worker.queue)
    }

    /// A broadcast piece this worker owes: run it here, then go on looking
    /// (it may have spawned into the ring). Off the per-task path.
    #[cold]
    #[inline(never)]
    fn take_broadcast(&self) -> Option<Stole> {
        if self.pool.run_broadcast(self) {
            if let Some(task) = self.ring.pop() {
                return Some(Stole {
                    task,
                    pushed: false,
                });
            }
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
            let victim = self.pool.registry.next_victim(&self.cursor)?;
            if let Some(stole) = self.ring.consume(&victim.queue) {
                return Some(stole);
            }
            if ptr::eq(victim, self.worker) {
                continue;
            }
            if let Some(stole) = self.ring.steal(&victim.ring) {
                return Some(stole);
            }
            if let Some(stole) = self.steal_join(victim) {
                return Some(stole);
            }
        }
        None
    }

    /// The oldest job of another worker's join deque, noting that this
    /// thread now runs fork-join work (`took_join`).
    fn steal_join(&self, victim: &Worker) -> Option<Stole> {
        // A hint first: a stale "empty" only delays the steal (the victim
        // takes its own join jobs back), and it keeps the deque's SeqCst
        // fence off searches of idle victims.
        if victim.join_deque.is_empty() {
            return None;
        }
        let task = victim.join_deque.steal()?;
        self.took_join.set(true);
        Some(Stole {
            task,
            pushed: false,
        })
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
            let woken = pool.wait(is_waking, self.broadcast_seen());
            // Active (`Quiet`) from before the first take to after the
            // last: `wait_idle` counts on it.
            pool.quiet.enter(&self.worker.presence);
            match woken {
                Ok(waking) => is_waking = waking,
                Err(_) => {
                    self.drain();
                    pool.quiet_leave(&self.worker.presence);
                    return;
                }
            }
            loop {
                is_waking = self.run_found_tasks(is_waking);
                // Inactive only with empty hands: the failed pop saw the
                // ring empty (only this thread fills it), and the queue,
                // whose consume may have failed on a thief's lock, must be
                // seen empty too (`docs/quiet.md`, Q1).
                if settled(&self.worker.queue) {
                    break;
                }
            }
            pool.quiet_leave(&self.worker.presence);
        }
    }

    /// Runs tasks until the search finds none; returns whether this thread
    /// is still the waking one. The per-task loop, kept apart from the run
    /// loop's bookkeeping.
    #[inline(never)]
    fn run_found_tasks(&self, mut is_waking: bool) -> bool {
        let pool = self.pool;
        let mut spin = Spin::new();
        let mut found = self.find_task();
        loop {
            if let Some(stole) = found {
                self.announce(&stole, &mut is_waking);
                run_task(pool, stole.task);
                spin = Spin::new();
                self.took_join.set(false);
                found = self.find_task();
            } else if self.took_join.get() && spin.again() {
                // The previous task was a stolen `join` job: more may
                // come soon. Any other task (a spawn, from inside or
                // outside) gives no such hint: a thread that spun after
                // it would keep a chain of spawns waking it for nothing.
                found = self.find_while_spinning();
            } else {
                self.took_join.set(false);
                return is_waking;
            }
        }
    }

    /// Before running a task just found: a waking thread ends its role
    /// (`Pool::hand_on`, waking the next thread if it sees more work); any
    /// other thread that moved tasks into its ring makes them known.
    #[inline]
    fn announce(&self, stole: &Stole, is_waking: &mut bool) {
        if *is_waking {
            self.pool.hand_on(self.sees_work());
            *is_waking = false;
        } else if stole.pushed {
            self.pool.notify();
        }
    }

    /// Whether any queue of the pool visibly holds a task: this worker's
    /// ring and queue, the global queue, and every other worker's ring,
    /// queue and join deque. Snapshots read without ordering, for
    /// `hand_on`'s choice only: a task they miss was pushed late enough
    /// that its producer's `notify` wakes a thread itself.
    fn sees_work(&self) -> bool {
        let busy = |queue: &Queue| !matches!(queue.probe(), Probe::Empty);
        if !self.ring.is_empty() || busy(&self.worker.queue) || busy(&self.pool.global) {
            return true;
        }
        // The walk of `steal`, from the top: the same workers, alive for
        // the same reason.
        let cursor = Cell::new(ptr::null());
        for _ in 0..self.pool.spawned_hint() {
            let Some(victim) = self.pool.registry.next_victim(&cursor) else {
                break;
            };
            if ptr::eq(victim, self.worker) {
                continue;
            }
            if !victim.ring.looks_empty() || busy(&victim.queue) || !victim.join_deque.is_empty() {
                return true;
            }
        }
        false
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
        let local = LocalWorker::new(&worker, pool, Some(index));
        let _current = enter(&local);
        pool.registry.register(&worker);
        pool.quiet.join(&worker.presence);
        pool.call_thread_hook(
            "on_thread_start",
            pool.config.on_thread_start.as_deref(),
            index,
        );
        local.run_loop();
        // The guard clears `CURRENT` here: the stop hook runs as a plain
        // thread, not a worker. Its ring is drained and will not be looked
        // at again, so a task it spawned there would be lost; from here on a
        // spawn goes to the (closed) global queue and is refused.
    }
    pool.call_thread_hook(
        "on_thread_stop",
        pool.config.on_thread_stop.as_deref(),
        index,
    );
    // SAFETY: we are counted; this is our last access to the pool (hazard 5)
    // unless nobody will join it.
    if unsafe { Pool::unregister(pool_ptr) } == Exit::LastOfAbandoned {
        // The pool was dropped from one of its own tasks or hooks and we are
        // the last thread out: do the joiner's work (every worker drained,
        // so there are no leftovers), then free the pool: nothing touches
        // it any more, and its owner is gone.
        pool.release_workers();
        // SAFETY: every other thread has left, and the `ThreadPool` that
        // owned the pool was dropped without freeing it.
        unsafe { Pool::free(pool_ptr) };
    }
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
    let guest = LocalWorker::new(&worker, pool, None);
    let _current = enter(&guest);
    pool.quiet.guest_enter();
    guest.drain();
    pool.quiet_guest_leave();
}

/// Runs one task of `pool`'s global queue on this thread. False if the
/// queue was empty. This is how a thread waiting for work of a pool with no
/// worker thread (every spawn failed) makes progress itself.
///
/// On a worker of another pool, the task runs in the thread's own context:
/// entering a guest worker of `pool` here would hide the thread's own
/// worker from the task, and a `join` of the thread's own pool inside it
/// would then block that pool's worker (`docs/liveness.md`, F2). What such
/// a task spawns on `pool` goes to the global queue, where this waiter, or
/// the worker that finally starts, finds it.
///
/// On a thread of no pool there is no worker to hide: the task runs as a
/// guest worker of `pool`, so that it runs in its pool's context as on any
/// worker (the free `join`, `scope` and `spawn` inside it mean `pool`), and
/// what it leaves in the guest's ring and queue, which no other thread can
/// reach, runs here before this returns.
///
/// The thread counts as a guest in the pool's `Quiet` while it may hold a
/// task, so `wait_idle` waits for it.
fn help_run_one(pool: &Pool) -> bool {
    pool.quiet.guest_enter();
    let ran = pool.global.pop_one().map(|task| {
        if current_worker().is_some() {
            run_task(pool, task);
            return;
        }
        let worker = Worker::new();
        let guest = LocalWorker::new(&worker, pool, None);
        let _current = enter(&guest);
        run_task(pool, task);
        while let Some(stole) = guest.take_local() {
            run_task(pool, stole.task);
        }
    });
    pool.quiet_guest_leave();
    ran.is_some()
}

/// The searches a thread that found nothing makes before it sleeps.
///
/// A sleep costs a futex wait here and a futex wake in whoever ends it,
/// with a context switch on each side: microseconds of CPU, and more of
/// latency. Work that comes back sooner than that is better caught by a
/// few more searches: the next fork of a loop of small `join`s (summing a
/// 1,023-node tree 16,384 times at 2 threads took 17-23 ns per node with
/// every idle spell a sleep, about 10 ns with these searches), or the
/// stolen half a `join` waits for. So a waiter inside a task spins before
/// it sleeps, and the run loop does only after a `join` job it stole: after
/// any other task the spin only kept a chain of spawns waking this thread
/// (a link of `chained_spawn` took 90 ns instead of 30 ns at 2 threads).
/// The searches are `find_while_spinning`,
/// which leaves the other workers' rings alone (stealing every freshly
/// spawned task of a chain made a link cost 200 ns instead of 30 ns), and
/// there are few of them, so a lone task still costs little CPU
/// (`docs/benchmarks`, trickle), and a busy fork-join program little more
/// (quicksort at 2 threads: CPU time 1.00x the sequential run's without
/// the spin, about 1.06x with 8 searches, about 1.03x with 3, while 3
/// keep most of the gain on the tree).
///
/// Under the model checkers there are none: they would multiply the
/// schedules explored, and they only repeat steps of `find_task` (the
/// global queue's consume, a join deque's steal), which the checks cover.
struct Spin(u32);

impl Spin {
    /// Extra searches before sleeping.
    const SEARCHES: u32 = if cfg!(any(loom, shuttle)) { 0 } else { 3 };
    /// `spin_loop` hints before each of them.
    const PAUSES: u32 = 8;

    fn new() -> Self {
        Self(0)
    }

    /// Whether to search again (after a short pause) rather than sleep.
    fn again(&mut self) -> bool {
        if self.0 == Self::SEARCHES {
            return false;
        }
        self.0 += 1;
        for _ in 0..Self::PAUSES {
            spin_loop();
        }
        true
    }
}

/// When a waiter with no worker to wait for retries a spawn: after it ran
/// 0, 1, 2, 4, ... [`Retry::MAX_GAP`] tasks itself since the last try.
struct Retry {
    ran: u32,
    gap: u32,
}

impl Retry {
    /// The most tasks a waiter runs between two tries.
    const MAX_GAP: u32 = 64;

    fn new() -> Self {
        Self { ran: 0, gap: 0 }
    }

    /// Whether to try now; if so, the next try waits twice as long.
    fn due(&mut self) -> bool {
        if self.ran < self.gap {
            return false;
        }
        self.ran = 0;
        self.gap = (self.gap * 2).clamp(1, Self::MAX_GAP);
        true
    }
}

/// Whether `queue` is empty, waiting out a consumer that holds its lock (it
/// may put tasks back into the cache when it releases). With Acquire, so
/// that a thief that emptied the queue is seen as present (`quiet.rs`).
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
/// `JoinHandle`. `job` is the pool that runs the awaited work, when the
/// waiter holds it alive (`None` for a handle, whose pool may be gone).
///
/// The rule: a waiting thread stays useful and reachable, so that waiting
/// never hangs (`docs/fork_join.md`, "waiting"):
///
/// 1. On a worker of any pool, it runs that pool's tasks meanwhile (a
///    worker of another pool keeps working for its own).
/// 2. If `job` has no worker thread that will come back for the work (no
///    worker registered and none starting: every spawn failed), it retries
///    the spawn now and then (after 0, 1, 2, 4, ... 64 tasks run since the
///    last try; a failure goes to the spawn error handler) and runs `job`'s
///    queued tasks itself, one at a time. While a thread is counted but
///    not registered (its spawn, by `std::thread` or a custom handler, has
///    not returned, or the thread has yet to register), it polls until the
///    thread registers or its spawn fails: either may still happen.
/// 3. While the awaited tasks of its own pool are still queued
///    (`all_started()` is false), it keeps searching: they may sit where a
///    search is the only way to them.
/// 4. Otherwise it sleeps: a worker idle in its pool's word, on the pool's
///    bell, where both its pool's notifications and the latch wake it; a
///    guest or any other thread on the latch's own futex. A worker uses its
///    own pool's bell even while acting as another pool's guest: it is the
///    pool whose notifications must reach it.
pub(crate) fn wait_for(job: Option<&Pool>, latch: &Latch, all_started: &dyn Fn() -> bool) {
    // The thread's worker of the job's pool if it is one, else the worker
    // thread it is (a registered worker, maybe beneath the leftovers guest
    // of another pool), else whatever worker it is acting as.
    let here = job
        .and_then(|job| current_of(job))
        .or_else(registered_worker)
        .or_else(current_worker);
    let own = match (here, job) {
        (Some(w), Some(job)) => ptr::eq(w.pool, job),
        _ => false,
    };
    let mut retry = Retry::new();
    let mut spin = Spin::new();
    let mut announced = false;
    let mut is_waking = false;
    while !latch.probe() {
        if let Some(w) = here {
            if let Some(stole) = w.find_task() {
                w.announce(&stole, &mut is_waking);
                run_task(w.pool, stole.task);
                spin = Spin::new();
                continue;
            }
            if spin.again() {
                if let Some(stole) = w.find_while_spinning() {
                    w.announce(&stole, &mut is_waking);
                    run_task(w.pool, stole.task);
                    spin = Spin::new();
                }
                continue;
            }
        }
        if let Some(job) = job.filter(|job| !own && !job.registry.has_worker()) {
            match job.starting() {
                // No thread exists or is on its way: start one now and then,
                // and run the queued tasks here meanwhile.
                Starting::Nobody { open } => {
                    if open && retry.due() {
                        job.retry_spawn();
                        continue;
                    }
                    if help_run_one(job) {
                        retry.ran += 1;
                        continue;
                    }
                    // Nothing queued: a thread took the work and runs it.
                }
                // Another thread resolves it soon (the spawn returns, or
                // the new thread registers): poll until it does. A custom
                // spawn handler may hold the thread longer.
                Starting::OnItsWay => {
                    crate::sync::thread::yield_now();
                    continue;
                }
            }
        }
        if own && !all_started() {
            spin_loop();
            continue;
        }
        let Some(w) = here.filter(|w| w.registered) else {
            break;
        };
        if !announced {
            if !latch.announce(&w.pool.bell) {
                break;
            }
            announced = true;
        }
        match w.pool.wait_until(is_waking, latch, w.broadcast_seen()) {
            // Notified: search again (as the waking thread, maybe).
            Ok(waking) => is_waking = waking,
            // The latch is being set: `wait` below sees it through.
            Err(Stop::LatchSet) => {
                is_waking = false;
                break;
            }
            // The pool shut down: nobody is idle any more, but work the
            // waiter can run may still appear (pushed before the close, or
            // by the pool's running tasks), and it may be what the latch
            // waits for. Search, and sleep on the bell, which every push
            // after shutdown rings.
            Err(Stop::Shutdown) => {
                is_waking = false;
                wait_after_shutdown(w, latch);
                break;
            }
        }
    }
    if is_waking {
        if let Some(w) = here {
            // Woken to search, but done waiting: hand the role on.
            w.pool.hand_on(w.sees_work());
        }
    }
    latch.wait();
}

/// `wait_for` on a registered worker whose pool shut down: search the pool
/// (the drain's search) until the latch is being set, sleeping on the
/// pool's bell, announced on the latch, when there is nothing to run.
/// After shutdown `notify` rings the bell for every push, so a sleeper
/// misses no new work (the bell's argument: `docs/bell.md`).
fn wait_after_shutdown(w: &LocalWorker<'_>, latch: &Latch) {
    loop {
        let epoch = w.pool.bell.prepare();
        if let Some(stole) = w.find_task() {
            w.pool.bell.cancel();
            run_task(w.pool, stole.task);
        } else if latch.is_setting() {
            w.pool.bell.cancel();
            return;
        } else {
            w.pool.bell.sleep(epoch);
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
