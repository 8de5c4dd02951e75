//! The workloads made of many small tasks: spawn_many, chained_spawn,
//! fanout (the forms without a fork-join API), ping_pong and idle.
//!
//! Each function times one run and returns the elapsed wall-clock and
//! process CPU time (or, for ping_pong and idle, what it measured). Setup
//! that every contender needs alike (allocating raw tasks, arming a latch)
//! happens before the clock starts.

use crate::sys::{self, Elapsed, Stopwatch};
use crate::{Latch, Shared};
use std::hint;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use zap_pool::ThreadPool;
use zap_pool::raw::{Batch, Task};

/// The latch of spawn_many and chained_spawn. A static, so that a task
/// needs to capture nothing to reach it: one run at a time uses it, and the
/// run is over (every task counted down) before the next arms it again.
static LATCH: Latch = Latch::new();

// ---------------------------------------------------------------------------
// spawn_many: `count` empty tasks from a thread outside the pool, then wait
// for all of them. Each task's only work is to count the latch down.

pub fn spawn_many_zap(pool: &ThreadPool, count: usize) -> Elapsed {
    LATCH.arm(count);
    let clock = Stopwatch::start();
    for _ in 0..count {
        pool.spawn(|| LATCH.count_down(1))
            .expect("the zap pool is running");
    }
    LATCH.wait();
    clock.stop()
}

/// Raw tasks for `spawn_many_zap_batch`, allocated once, outside the
/// timed region, and reused by every round.
pub fn raw_tasks(count: usize) -> Vec<Task> {
    (0..count).map(|_| Task::new(count_down_task)).collect()
}

/// The callback of the raw spawn_many tasks.
///
/// # Safety
/// None needed beyond the pool's own contract: it reads nothing through
/// `_task`.
unsafe fn count_down_task(_task: NonNull<Task>) {
    LATCH.count_down(1);
}

/// Links every task of `tasks` into one batch and schedules it with one
/// call: no allocation at all.
pub fn spawn_many_zap_batch(pool: &ThreadPool, tasks: &mut [Task]) -> Elapsed {
    LATCH.arm(tasks.len());
    let clock = Stopwatch::start();
    let mut batch = Batch::new();
    for task in tasks.iter_mut() {
        batch.push(task);
    }
    // SAFETY: `tasks` is borrowed until this function returns, which is after
    // every callback started (each counts the latch down; we wait for it),
    // so every task stays alive and in place and nothing else touches it
    // until its callback starts. The callback uses only a static.
    unsafe { pool.schedule(batch) }.expect("the zap pool is running");
    LATCH.wait();
    clock.stop()
}

pub fn spawn_many_rayon(pool: &rayon::ThreadPool, count: usize) -> Elapsed {
    LATCH.arm(count);
    let clock = Stopwatch::start();
    for _ in 0..count {
        pool.spawn(|| LATCH.count_down(1));
    }
    LATCH.wait();
    clock.stop()
}

pub fn spawn_many_tokio(rt: &tokio::runtime::Runtime, count: usize) -> Elapsed {
    LATCH.arm(count);
    let clock = Stopwatch::start();
    for _ in 0..count {
        // The `JoinHandle` is dropped at once: the task runs detached.
        drop(rt.spawn(async { LATCH.count_down(1) }));
    }
    LATCH.wait();
    clock.stop()
}

// ---------------------------------------------------------------------------
// chained_spawn: each task spawns the next; the last counts the latch down.

pub fn chain_zap(pool: &ThreadPool, length: usize) -> Elapsed {
    LATCH.arm(1);
    // The pool outlives the chain: this function waits for its last task.
    let shared = Shared::new(pool);
    let clock = Stopwatch::start();
    pool.spawn(move || zap_link(shared, length))
        .expect("the zap pool is running");
    LATCH.wait();
    clock.stop()
}

fn zap_link(pool: Shared<ThreadPool>, left: usize) {
    if left <= 1 {
        LATCH.count_down(1);
        return;
    }
    // SAFETY: `chain_zap` keeps the pool alive until the last link ran.
    unsafe { pool.get() }
        .spawn(move || zap_link(pool, left - 1))
        .expect("a worker's spawn is always accepted");
}

/// The raw chain: one task that schedules itself again, `length` times.
#[repr(C)]
struct ChainTask {
    task: Task,
    left: usize,
    pool: *const ThreadPool,
}

pub fn chain_zap_raw(pool: &ThreadPool, length: usize) -> Elapsed {
    LATCH.arm(1);
    let mut chain = ChainTask {
        task: Task::new(chain_step),
        left: length,
        pool,
    };
    let clock = Stopwatch::start();
    let mut batch = Batch::new();
    // SAFETY: `chain` is ours; the pointer covers the whole struct, so the
    // callback may reach its fields.
    unsafe { batch.push_raw(NonNull::from(&mut chain).cast()) };
    // SAFETY: `chain` stays in place until its last callback counted the
    // latch down (we wait for it below), and after each schedule only the
    // callback touches it. Its fields are a count and a pointer to a pool
    // that outlives the chain, fine to use from any worker.
    unsafe { pool.schedule(batch) }.expect("the zap pool is running");
    LATCH.wait();
    clock.stop()
}

/// # Safety
/// `task` points to a whole `ChainTask` that only this callback uses now,
/// and its pool is alive.
unsafe fn chain_step(task: NonNull<Task>) {
    let chain = task.cast::<ChainTask>().as_ptr();
    // SAFETY: ours until we schedule it again or count the latch down.
    let (left, pool) = unsafe { ((*chain).left, (*chain).pool) };
    if left <= 1 {
        // Last access: after this the owner may drop the struct.
        LATCH.count_down(1);
        return;
    }
    // SAFETY: as above: not yet handed back to the pool.
    unsafe { (*chain).left = left - 1 };
    let mut batch = Batch::new();
    // SAFETY: the task is ours again (its callback is running) and in no
    // batch; the pointer keeps its whole-struct provenance.
    unsafe { batch.push_raw(task) };
    // SAFETY: the struct outlives the chain (`chain_zap_raw` waits for the
    // latch) and we touch it no more after this call; `pool` is alive.
    unsafe { (*pool).schedule(batch) }.expect("a worker's schedule is always accepted");
}

pub fn chain_rayon(pool: &rayon::ThreadPool, length: usize) -> Elapsed {
    LATCH.arm(1);
    let clock = Stopwatch::start();
    pool.spawn(move || rayon_link(length));
    LATCH.wait();
    clock.stop()
}

fn rayon_link(left: usize) {
    if left <= 1 {
        LATCH.count_down(1);
        return;
    }
    // On a worker, `rayon::spawn` pushes to the current pool.
    rayon::spawn(move || rayon_link(left - 1));
}

pub fn chain_tokio(rt: &tokio::runtime::Runtime, length: usize) -> Elapsed {
    LATCH.arm(1);
    let clock = Stopwatch::start();
    {
        let _context = rt.enter();
        tokio_link(length);
    }
    LATCH.wait();
    clock.stop()
}

fn tokio_link(left: usize) {
    drop(tokio::spawn(async move {
        if left <= 1 {
            LATCH.count_down(1);
        } else {
            tokio_link(left - 1);
        }
    }));
}

// ---------------------------------------------------------------------------
// fanout: a binary tree of 2^depth leaves, a join at every inner node. The
// result (the number of leaves) is checked by the caller.

pub fn fanout_rayon(pool: &rayon::ThreadPool, depth: u32) -> u64 {
    pool.install(|| rayon_tree(depth))
}

fn rayon_tree(depth: u32) -> u64 {
    if depth == 0 {
        return 1;
    }
    let (a, b) = rayon::join(|| rayon_tree(depth - 1), || rayon_tree(depth - 1));
    a + b
}

pub fn fanout_tokio(rt: &tokio::runtime::Runtime, depth: u32) -> u64 {
    rt.block_on(async move { tokio_tree(depth).await })
        .expect("a fanout task panicked")
}

/// A node spawns a task for each child and awaits both.
fn tokio_tree(depth: u32) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        if depth == 0 {
            return 1;
        }
        let a = tokio_tree(depth - 1);
        let b = tokio_tree(depth - 1);
        a.await.expect("a fanout task panicked") + b.await.expect("a fanout task panicked")
    })
}

// ---------------------------------------------------------------------------
// ping_pong: a ball passed between tasks on different workers.
//
// A hop is a task. It records how long after its sender scheduled it it
// started (the wake latency), waits `gap` so that the worker that ran the
// previous hop has gone idle, schedules the next hop, and keeps its own
// worker busy until that hop has started. So the next hop can only start
// on another worker: one that was idle, and is woken by the schedule.

/// The state of one ping-pong run. Held by the caller (which waits until
/// every hop is done with it) and reached by the hops through pointers.
pub struct PingPong {
    epoch: Instant,
    hops: usize,
    gap: Duration,
    /// When the latest hop was scheduled, in ns since `epoch`.
    sent_at: AtomicU64,
    /// How many hops have started.
    started: AtomicUsize,
    /// How many hops have made their last access to this struct.
    finished: AtomicUsize,
    /// Latencies of hops 1..=hops (hop 0 is sent from outside), in ns.
    latencies: Vec<AtomicU64>,
    /// Set when a hop waited in vain for its successor to start elsewhere.
    stalled: AtomicBool,
    latch: Latch,
}

/// What one ping-pong run measured.
pub struct PingPongResult {
    pub median: Duration,
    pub p99: Duration,
    pub stalled: bool,
}

impl PingPong {
    fn new(hops: usize, gap: Duration) -> Self {
        PingPong {
            epoch: Instant::now(),
            hops,
            gap,
            sent_at: AtomicU64::new(0),
            started: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            latencies: (0..hops).map(|_| AtomicU64::new(0)).collect(),
            stalled: AtomicBool::new(false),
            latch: Latch::new(),
        }
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// One hop. `send` schedules the next one.
    fn hop(&self, send: impl FnOnce()) {
        let now = self.now_ns();
        // Acquire (both): the previous hop's stores, handed over by the
        // pool's schedule, which orders them before this task anyway.
        let index = self.started.load(Ordering::Acquire);
        if index > 0 {
            let sent = self.sent_at.load(Ordering::Acquire);
            self.latencies[index - 1].store(now.saturating_sub(sent), Ordering::Relaxed);
        }
        // Release: the previous hop spins on this to know we started.
        self.started.store(index + 1, Ordering::Release);
        if index == self.hops {
            self.latch.count_down(1);
            self.finished.fetch_add(1, Ordering::Release);
            return;
        }
        let gap_ns = self.gap.as_nanos() as u64;
        while self.now_ns() < now + gap_ns {
            hint::spin_loop();
        }
        self.sent_at.store(self.now_ns(), Ordering::Release);
        send();
        // Keep this worker busy until the next hop started elsewhere. A
        // pool that never starts it (it would have to steal it from a busy
        // worker) is reported as stalled rather than left hanging.
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.started.load(Ordering::Acquire) <= index + 1 {
            if Instant::now() > deadline {
                self.stalled.store(true, Ordering::Relaxed);
                break;
            }
            hint::spin_loop();
        }
        // Release: the caller frees this struct once it counts every hop.
        self.finished.fetch_add(1, Ordering::Release);
    }

    /// Waits for the last hop and for every hop to be done with `self`.
    fn finish(&self) -> PingPongResult {
        self.latch.wait();
        while self.finished.load(Ordering::Acquire) < self.hops + 1 {
            thread::yield_now();
        }
        let (median, p99) = crate::p50_p99(&self.latencies);
        PingPongResult {
            median,
            p99,
            stalled: self.stalled.load(Ordering::Relaxed),
        }
    }
}

/// Arms a fresh run; the caller sends hop 0 and then calls `finish`.
fn ping_pong_state(hops: usize, gap: Duration) -> Box<PingPong> {
    assert!(hops >= 1, "ping_pong needs at least one hop");
    let state = Box::new(PingPong::new(hops, gap));
    state.latch.arm(1);
    state
}

pub fn ping_pong_zap(pool: &ThreadPool, hops: usize, gap: Duration) -> PingPongResult {
    fn hop(state: Shared<PingPong>, pool: Shared<ThreadPool>) {
        // SAFETY: the caller waits for every hop's last access before it
        // drops the state or the pool.
        let (s, p) = unsafe { (state.get(), pool.get()) };
        s.hop(|| {
            p.spawn(move || hop(state, pool))
                .expect("a worker's spawn is always accepted");
        });
    }
    let state = ping_pong_state(hops, gap);
    let (s, p) = (Shared::new(&*state), Shared::new(pool));
    pool.spawn(move || hop(s, p))
        .expect("the zap pool is running");
    state.finish()
}

/// The raw form: two tasks, each scheduling the other.
#[repr(C)]
struct PingTask {
    task: Task,
    state: *const PingPong,
    pool: *const ThreadPool,
    partner: *mut PingTask,
}

pub fn ping_pong_zap_raw(pool: &ThreadPool, hops: usize, gap: Duration) -> PingPongResult {
    let state = ping_pong_state(hops, gap);
    let new_task = || PingTask {
        task: Task::new(ping_task),
        state: &*state,
        pool,
        partner: std::ptr::null_mut(),
    };
    let pair = Box::into_raw(Box::new([new_task(), new_task()]));
    let a = pair.cast::<PingTask>();
    // SAFETY: `pair` holds two tasks; `a + 1` is the second.
    let b = unsafe { a.add(1) };
    // SAFETY: both are ours until scheduled; each learns its partner.
    unsafe {
        (*a).partner = b;
        (*b).partner = a;
    }
    let mut batch = Batch::new();
    // SAFETY: a pointer to the whole `PingTask`, from the raw allocation.
    unsafe { batch.push_raw(NonNull::new(a).expect("allocated").cast()) };
    // SAFETY: both tasks live until `finish` has seen every hop's last
    // access; each is scheduled only by the hop before it, once that hop's
    // callback (the previous owner) no longer touches it. Their fields are
    // pointers to the state and the pool, both alive until then.
    unsafe { pool.schedule(batch) }.expect("the zap pool is running");
    let result = state.finish();
    // SAFETY: every hop is done with both tasks; made by `Box::into_raw`.
    drop(unsafe { Box::from_raw(pair) });
    result
}

/// # Safety
/// `task` points to a whole `PingTask` whose state, pool and partner are
/// alive, and whose partner's previous callback no longer touches it.
unsafe fn ping_task(task: NonNull<Task>) {
    let this = task.cast::<PingTask>().as_ptr();
    // SAFETY: read at once: once the partner runs, it may schedule this task
    // again, and then its next callback owns it.
    let (state, pool, partner) = unsafe { ((*this).state, (*this).pool, (*this).partner) };
    // SAFETY: alive until every hop is done (function contract).
    let (state, pool) = unsafe { (&*state, &*pool) };
    state.hop(|| {
        let mut batch = Batch::new();
        // SAFETY: the partner's callback copied its fields at its start and
        // has since only waited for this hop: it no longer touches its task.
        unsafe { batch.push_raw(NonNull::new(partner).expect("set").cast()) };
        // SAFETY: see `ping_pong_zap_raw`.
        unsafe { pool.schedule(batch) }.expect("a worker's schedule is always accepted");
    });
}

pub fn ping_pong_rayon(pool: &rayon::ThreadPool, hops: usize, gap: Duration) -> PingPongResult {
    fn hop(state: Shared<PingPong>) {
        // SAFETY: the caller waits for every hop's last access.
        let s = unsafe { state.get() };
        // On a worker, `rayon::spawn` pushes to the current pool.
        s.hop(|| rayon::spawn(move || hop(state)));
    }
    let state = ping_pong_state(hops, gap);
    let s = Shared::new(&*state);
    pool.spawn(move || hop(s));
    state.finish()
}

pub fn ping_pong_tokio(rt: &tokio::runtime::Runtime, hops: usize, gap: Duration) -> PingPongResult {
    fn hop(state: Shared<PingPong>) {
        // SAFETY: the caller waits for every hop's last access.
        let s = unsafe { state.get() };
        s.hop(|| {
            drop(tokio::spawn(async move { hop(state) }));
            // A task spawned by a busy worker waits in that worker's LIFO
            // slot, which other workers cannot steal from, and no idle
            // worker is woken for it. A second spawn moves it to the
            // stealable queue and wakes one: the path a busy worker's spawn
            // takes whenever the slot is already taken.
            drop(tokio::spawn(async {}));
        });
    }
    let state = ping_pong_state(hops, gap);
    let s = Shared::new(&*state);
    drop(rt.spawn(async move { hop(s) }));
    state.finish()
}

// ---------------------------------------------------------------------------
// idle: after a burst of work, how much CPU the pool's threads burn in a
// window with nothing to do, and how often they wake up.

pub struct IdleResult {
    /// CPU time of the pool's threads during the window.
    pub cpu: Duration,
    /// The window, and what the whole process used in it.
    pub window: Elapsed,
    /// Their context switches during the window (sleeps and wake-ups).
    pub switches: u64,
    pub threads: usize,
}

/// Measures the threads named `prefix*` for `window`, right after `burst`
/// has returned (with all its work done).
pub fn idle_after(prefix: &str, window: Duration, burst: impl FnOnce()) -> IdleResult {
    burst();
    let before = sys::threads_cpu(prefix);
    let clock = Stopwatch::start();
    thread::sleep(window);
    let elapsed = clock.stop();
    let after = sys::threads_cpu(prefix);
    let used = sys::cpu_since(&before, &after);
    IdleResult {
        cpu: Duration::from_nanos(used.cpu_ns),
        window: elapsed,
        switches: used.switches,
        threads: after.len(),
    }
}
