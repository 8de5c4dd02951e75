//! The trickle workloads: a thread outside the pool submits one empty task
//! every period (1 ms, or 100 µs) for a fixed time, so that the pool's
//! threads go to sleep and are woken again for almost every task.
//!
//! Measured: the CPU time of the whole process over the run, minus that of
//! a baseline run of the same loop and length that submits nothing (the
//! pools built, idle), per task; and the wake latency of each task, from
//! just before its submission until it starts.
//!
//! The submitter sleeps until absolute deadlines (start + i × period), so a
//! late wake-up does not push the later submissions back.

use crate::Latch;
use crate::Shared;
use crate::sys::{Elapsed, Stopwatch};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use zap_pool::ThreadPool;

/// After the last task ran, both the runs and the baseline wait this long
/// before they read the CPU time: by then every pool thread has finished
/// whatever it does after a task (spinning included) and gone to sleep, and
/// the kernel's count of a sleeping thread's CPU time is up to date.
pub const SETTLE: Duration = Duration::from_millis(20);

/// One trickle: a task every `period`, `tasks` times.
#[derive(Clone, Copy)]
pub struct Trickle {
    pub period: Duration,
    pub tasks: usize,
}

/// What one run measured.
pub struct Outcome {
    /// The whole run: the submissions, the wait for the last task, and the
    /// settling time.
    pub elapsed: Elapsed,
    pub p50: Duration,
    pub p99: Duration,
}

/// What the tasks of one run share. Lives on the submitter's heap until
/// every task counted the latch down.
struct Run {
    /// Each task's wake latency, in nanoseconds.
    latencies: Vec<AtomicU64>,
    latch: Latch,
}

/// One submitted task: which one it is and when it was submitted.
pub struct Tick {
    run: Shared<Run>,
    index: usize,
    sent: Instant,
}

impl Tick {
    /// The task's body: it notes how late it started, and that it ran.
    pub fn start(self) {
        let latency = self.sent.elapsed();
        // SAFETY: the submitter keeps the `Run` alive until the latch has
        // been counted down by every task, and this task's count-down below
        // is its last access.
        let run = unsafe { self.run.get() };
        run.latencies[self.index].store(latency.as_nanos() as u64, Ordering::Relaxed);
        run.latch.count_down(1);
    }
}

impl Trickle {
    /// Calls `tick(i, sent)` at each deadline; `sent` is read just before.
    fn pace(self, mut tick: impl FnMut(usize, Instant)) {
        let start = Instant::now();
        for i in 0..self.tasks {
            let deadline = start + self.period * (i as u32 + 1);
            let now = Instant::now();
            if deadline > now {
                thread::sleep(deadline - now);
            }
            tick(i, Instant::now());
        }
    }

    /// The baseline: the same paced loop and settling time, no tasks.
    pub fn idle(self) -> Elapsed {
        let clock = Stopwatch::start();
        self.pace(|i, sent| {
            black_box((i, sent));
        });
        thread::sleep(SETTLE);
        clock.stop()
    }

    /// A run that hands each task to `submit`.
    pub fn run(self, mut submit: impl FnMut(Tick)) -> Outcome {
        let run = Box::new(Run {
            latencies: (0..self.tasks).map(|_| AtomicU64::new(0)).collect(),
            latch: Latch::new(),
        });
        run.latch.arm(self.tasks);
        let shared = Shared::new(&*run);
        let clock = Stopwatch::start();
        self.pace(|index, sent| {
            submit(Tick {
                run: shared,
                index,
                sent,
            });
        });
        // The latch's Acquire makes every task's latency store visible.
        run.latch.wait();
        thread::sleep(SETTLE);
        let elapsed = clock.stop();
        let (p50, p99) = crate::p50_p99(&run.latencies);
        Outcome { elapsed, p50, p99 }
    }
}

pub fn zap(pool: &ThreadPool, trickle: Trickle) -> Outcome {
    trickle.run(|tick| {
        pool.spawn(move || tick.start())
            .expect("the zap pool is running");
    })
}

pub fn rayon(pool: &rayon::ThreadPool, trickle: Trickle) -> Outcome {
    trickle.run(|tick| pool.spawn(move || tick.start()))
}

pub fn tokio(rt: &tokio::runtime::Runtime, trickle: Trickle) -> Outcome {
    trickle.run(|tick| {
        // The task runs detached: its `JoinHandle` is dropped at once.
        drop(rt.spawn(async move { tick.start() }));
    })
}
