//! Helpers shared by the stress tests of the real pool on real threads
//! (`spawn`, `raw`, `lifecycle`, `several_pools`, `spawn_failure`, `builder`).
//!
//! Every test counts executions *per task* and checks that each task ran
//! exactly once (or, for refused tasks, not at all), not just a total. Every
//! test runs under a timeout guard ([`guarded`], [`wait_until`]), so a lost
//! wake-up or a hang in `join` shows up as a failure instead of a stuck run.
//!
//! Debug and release builds run the same sizes (each test takes a few seconds
//! on a 2-core machine); the debug build also checks the crate's internal
//! `debug_assert!`s.
//!
//! Not every test file uses every helper.
#![allow(dead_code)]

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use zap_pool::ThreadPool;
use zap_pool::raw::{Batch, Task};

// ---------------------------------------------------------------------------
// Timeouts, per-task counters, thread start/stop
// ---------------------------------------------------------------------------

/// How long any single scenario may take before it counts as a hang.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `f` on its own thread and fails if it does not finish within
/// [`TIMEOUT`]. A panic inside `f` is propagated with its original payload.
/// On a timeout the scenario thread is left behind (it is stuck); the test
/// fails and the harness reports it.
pub fn guarded<F: FnOnce() + Send + 'static>(name: &str, f: F) {
    let (tx, rx) = mpsc::channel::<()>();
    let handle = thread::Builder::new()
        .name(format!("scenario-{name}"))
        .spawn(move || {
            f();
            let _ = tx.send(());
        })
        .expect("spawn the scenario thread");
    match rx.recv_timeout(TIMEOUT) {
        Ok(()) => handle.join().expect("scenario finished"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The scenario panicked: re-raise its payload here.
            if let Err(payload) = handle.join() {
                std::panic::resume_unwind(payload);
            }
            unreachable!("the sender was dropped without a send or a panic");
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("scenario `{name}` did not finish within {TIMEOUT:?}: the pool hangs")
        }
    }
}

/// [`guarded`], running `f` `rounds` times: fresh pools each round, for more
/// interleavings of start-up, shutdown and join.
pub fn guarded_rounds<F: Fn() + Send + 'static>(name: &str, rounds: usize, f: F) {
    guarded(name, move || {
        for _ in 0..rounds {
            f();
        }
    });
}

/// Polls `cond` until it holds; panics after [`TIMEOUT`].
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    let mut spins = 0u32;
    while !cond() {
        if start.elapsed() > TIMEOUT {
            panic!("timed out after {TIMEOUT:?} waiting for {what}");
        }
        spins += 1;
        if spins < 100 {
            thread::yield_now();
        } else {
            thread::sleep(Duration::from_micros(200));
        }
    }
}

pub fn counters(n: usize) -> Arc<Vec<AtomicU8>> {
    Arc::new((0..n).map(|_| AtomicU8::new(0)).collect())
}

/// Asserts that every counter is exactly `expected`, reporting the first
/// offenders and a histogram.
pub fn assert_each(counts: &[AtomicU8], expected: u8, what: &str) {
    let mut bad = Vec::new();
    let mut histogram = [0usize; 4];
    for (id, c) in counts.iter().enumerate() {
        let v = c.load(Ordering::Acquire);
        histogram[usize::from(v.min(3))] += 1;
        if v != expected && bad.len() < 10 {
            bad.push((id, v));
        }
    }
    assert!(
        bad.is_empty(),
        "{what}: every one of {} tasks must have run exactly {expected} time(s); \
         first offenders (id, runs): {bad:?}; histogram of runs [0,1,2,3+]: {histogram:?}",
        counts.len()
    );
}

pub fn assert_each_once(counts: &[AtomicU8], what: &str) {
    assert_each(counts, 1, what);
}

/// The current thread's name, or "" for an unnamed thread.
pub fn current_name() -> String {
    thread::current().name().unwrap_or("").to_owned()
}

/// Thread start/stop counters, checked after `join`.
#[derive(Default)]
pub struct Lifecycle {
    started: AtomicUsize,
    stopped: AtomicUsize,
}

pub fn counted_pool(max_threads: usize, prefix: &'static str) -> (ThreadPool, Arc<Lifecycle>) {
    let life = Arc::new(Lifecycle::default());
    let (a, b) = (life.clone(), life.clone());
    let pool = ThreadPool::builder()
        .max_threads(max_threads)
        .thread_name(move |i| format!("{prefix}{i}"))
        .on_thread_start(move |_| {
            a.started.fetch_add(1, Ordering::Relaxed);
        })
        .on_thread_stop(move |_| {
            b.stopped.fetch_add(1, Ordering::Relaxed);
        })
        .build()
        .expect("valid max_threads");
    (pool, life)
}

/// After `join`: no more threads than allowed, and every started thread
/// ran its stop hook before `join` returned.
pub fn assert_lifecycle(life: &Lifecycle, max_threads: usize) {
    let started = life.started.load(Ordering::Relaxed);
    let stopped = life.stopped.load(Ordering::Relaxed);
    assert!(
        (1..=max_threads).contains(&started),
        "{started} worker threads started, max_threads is {max_threads}"
    );
    assert_eq!(
        stopped, started,
        "every worker must have stopped by the time join returns"
    );
}

// ---------------------------------------------------------------------------
// A three-level spawn tree
// ---------------------------------------------------------------------------

/// Run by parent task `p` on `pool`: spawns its `per_parent` children. Child
/// `id = p * per_parent + c` first calls `check_thread` (which counts the
/// child if it runs on a thread it should not), counts its run in
/// `children[id]`, then spawns grandchild `id`, which counts its run in
/// `grandchildren[id]`. Every refused spawn, of a child or of a grandchild,
/// counts in `refused`.
pub fn spawn_children_and_grandchildren(
    pool: &Arc<ThreadPool>,
    p: usize,
    per_parent: usize,
    children: &Arc<Vec<AtomicU8>>,
    grandchildren: &Arc<Vec<AtomicU8>>,
    refused: &Arc<AtomicUsize>,
    check_thread: impl Fn() + Clone + Send + 'static,
) {
    for c in 0..per_parent {
        let id = p * per_parent + c;
        let (pool2, children, grandchildren, refused2, check_thread) = (
            pool.clone(),
            children.clone(),
            grandchildren.clone(),
            refused.clone(),
            check_thread.clone(),
        );
        let r = pool.spawn(move || {
            check_thread();
            children[id].fetch_add(1, Ordering::Relaxed);
            let g = grandchildren.clone();
            if pool2
                .spawn(move || {
                    g[id].fetch_add(1, Ordering::Relaxed);
                })
                .is_err()
            {
                refused2.fetch_add(1, Ordering::Relaxed);
            }
        });
        if r.is_err() {
            refused.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// ---------------------------------------------------------------------------
// Raw jobs (used by the raw-batch and the lifecycle tests)
// ---------------------------------------------------------------------------

/// A raw job: the `Task` first, so a `*mut Task` is a `*mut Job`.
#[repr(C)]
pub struct Job {
    pub task: Task,
    id: usize,
    counts: *const AtomicU8,
    done: *const AtomicUsize,
}

// SAFETY: the pointers name counters that outlive every use of the job (each
// test joins the pool, or waits for `done`, before freeing them).
unsafe impl Send for Job {}
unsafe impl Sync for Job {}

unsafe fn run_job(task: NonNull<Task>) {
    // SAFETY: every task scheduled with this callback is the `task` field of
    // a live `Job` whose counters outlive the pool's use of it.
    unsafe {
        let job = task.cast::<Job>().as_ptr();
        let (id, counts, done) = ((*job).id, (*job).counts, (*job).done);
        (*counts.add(id)).fetch_add(1, Ordering::Relaxed);
        // Last access: after this the test may free the job.
        (*done).fetch_add(1, Ordering::Release);
    }
}

pub fn jobs(n: usize, counts: &[AtomicU8], done: &AtomicUsize) -> Vec<Job> {
    assert!(counts.len() >= n);
    (0..n)
        .map(|id| Job {
            task: Task::new(run_job),
            id,
            counts: counts.as_ptr(),
            done,
        })
        .collect()
}

pub fn batch_of(jobs: &mut [Job]) -> Batch {
    let mut batch = Batch::new();
    for job in jobs {
        batch.push(&mut job.task);
    }
    batch
}
