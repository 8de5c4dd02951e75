//! Thread spawns that fail, or that the spawn handler defers or drops: every
//! accepted task still runs exactly once, on a worker or on the joining
//! thread, and every failure reaches the spawn error handler.
#![cfg(not(any(loom, shuttle)))]

mod common;

use std::io;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use common::*;
use zap_pool::{ThreadPool, WorkerThread};

// ---------------------------------------------------------------------------
// Failing thread spawns
// ---------------------------------------------------------------------------

/// Spawns `n` tasks that record their runs and the thread they ran on.
struct Probe {
    counts: Arc<Vec<AtomicU8>>,
    threads: Arc<Mutex<Vec<(usize, thread::ThreadId)>>>,
    done: Arc<AtomicUsize>,
}

impl Probe {
    fn new(n: usize) -> Self {
        Self {
            counts: counters(n),
            threads: Arc::new(Mutex::new(Vec::with_capacity(n))),
            done: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn spawn_all(&self, pool: &ThreadPool, range: std::ops::Range<usize>) {
        for id in range {
            let (c, t, d) = (self.counts.clone(), self.threads.clone(), self.done.clone());
            pool.spawn(move || {
                c[id].fetch_add(1, Ordering::Relaxed);
                t.lock().unwrap().push((id, thread::current().id()));
                d.fetch_add(1, Ordering::Release);
            })
            .expect("the pool is running");
        }
    }
}

/// A spawn handler that starts the worker on a named std thread.
fn start_thread(worker: WorkerThread) -> io::Result<()> {
    let name = worker.name().map(str::to_owned);
    let mut b = thread::Builder::new();
    if let Some(name) = name {
        b = b.name(name);
    }
    b.spawn(move || worker.run()).map(drop)
}

#[test]
fn spawn_fails_always_tasks_run_on_the_joiner() {
    guarded_rounds("spawn_fails_always", 10, || {
        const N: usize = 1_000;
        let attempts = Arc::new(AtomicUsize::new(0));
        let errors = Arc::new(AtomicUsize::new(0));
        let (a, e) = (attempts.clone(), errors.clone());
        let pool = ThreadPool::builder()
            .max_threads(4)
            .spawn_handler(move |_worker| {
                a.fetch_add(1, Ordering::Relaxed);
                Err(io::Error::other("no threads today"))
            })
            .spawn_error_handler(move |error| {
                if error.to_string() == "no threads today" {
                    e.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build()
            .unwrap();
        let probe = Probe::new(N);
        probe.spawn_all(&pool, 0..N);
        thread::sleep(Duration::from_millis(10));
        assert_eq!(
            probe.done.load(Ordering::Relaxed),
            0,
            "a task ran although no thread could be started"
        );
        let errs = errors.load(Ordering::Relaxed);
        assert!(errs >= 1, "the spawn error handler got no error");
        assert_eq!(errs, attempts.load(Ordering::Relaxed));
        assert!(errs <= N, "{errs} spawn attempts for {N} tasks");
        let joiner = thread::current().id();
        drop(pool); // shutdown + join: runs every task here
        assert_each_once(&probe.counts, "tasks with no worker thread");
        let threads = probe.threads.lock().unwrap();
        assert_eq!(threads.len(), N);
        assert!(
            threads.iter().all(|&(_, t)| t == joiner),
            "tasks must run on the thread that joins"
        );
    });
}

#[test]
fn first_spawn_fails_later_spawns_succeed() {
    guarded_rounds("first_spawn_fails", 10, || {
        const N: usize = 20_000;
        let attempts = Arc::new(AtomicUsize::new(0));
        let errors = Arc::new(AtomicUsize::new(0));
        let (a, e) = (attempts.clone(), errors.clone());
        let pool = ThreadPool::builder()
            .max_threads(4)
            .thread_name(|i| format!("late-start-{i}"))
            .spawn_handler(move |worker| {
                if a.fetch_add(1, Ordering::Relaxed) == 0 {
                    Err(io::Error::other("first spawn fails"))
                } else {
                    start_thread(worker)
                }
            })
            .spawn_error_handler(move |_| {
                e.fetch_add(1, Ordering::Relaxed);
            })
            .build()
            .unwrap();
        let probe = Probe::new(N);
        probe.spawn_all(&pool, 0..N);
        // The first failure must not stop later spawns: the tasks run on
        // workers, without waiting for join.
        wait_until("tasks to run on later workers", || {
            probe.done.load(Ordering::Acquire) == N
        });
        let joiner = thread::current().id();
        drop(pool);
        assert_eq!(errors.load(Ordering::Relaxed), 1);
        assert!(attempts.load(Ordering::Relaxed) >= 2);
        assert_each_once(&probe.counts, "first spawn fails");
        assert!(
            probe
                .threads
                .lock()
                .unwrap()
                .iter()
                .all(|&(_, t)| t != joiner),
            "with working threads, no task should be left for the joiner"
        );
    });
}

#[test]
fn random_spawn_failures() {
    guarded("random_spawn_failures", || {
        const PRODUCERS: usize = 4;
        const PER_PRODUCER: usize = 25_000;
        for k in 1..=12_u64 {
            let seed = k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let state = Arc::new(Mutex::new(seed));
            let errors = Arc::new(AtomicUsize::new(0));
            let failures = Arc::new(AtomicUsize::new(0));
            let started = Arc::new(AtomicUsize::new(0));
            let (st, f, e, s) = (
                state.clone(),
                failures.clone(),
                errors.clone(),
                started.clone(),
            );
            let pool = Arc::new(
                ThreadPool::builder()
                    .max_threads(4)
                    .spawn_handler(move |worker| {
                        let fail = {
                            let mut x = st.lock().unwrap();
                            *x ^= *x << 13;
                            *x ^= *x >> 7;
                            *x ^= *x << 17;
                            *x % 3 != 0 // two thirds of the spawns fail
                        };
                        if fail {
                            f.fetch_add(1, Ordering::Relaxed);
                            Err(io::Error::other("random failure"))
                        } else {
                            start_thread(worker)
                        }
                    })
                    .on_thread_start(move |_| {
                        s.fetch_add(1, Ordering::Relaxed);
                    })
                    .spawn_error_handler(move |_| {
                        e.fetch_add(1, Ordering::Relaxed);
                    })
                    .build()
                    .unwrap(),
            );
            let probe = Arc::new(Probe::new(PRODUCERS * PER_PRODUCER));
            let producers: Vec<_> = (0..PRODUCERS)
                .map(|p| {
                    let (pool, probe) = (pool.clone(), probe.clone());
                    thread::spawn(move || {
                        probe.spawn_all(&pool, p * PER_PRODUCER..(p + 1) * PER_PRODUCER);
                    })
                })
                .collect();
            for p in producers {
                p.join().unwrap();
            }
            drop(Arc::into_inner(pool).unwrap());
            assert_each_once(
                &probe.counts,
                &format!("random spawn failures, seed {seed:#x}"),
            );
            assert_eq!(
                errors.load(Ordering::Relaxed),
                failures.load(Ordering::Relaxed),
                "every failed spawn must be reported once"
            );
            assert!(started.load(Ordering::Relaxed) <= 4);
        }
    });
}

#[test]
fn spawn_handler_drops_the_worker_thread() {
    guarded_rounds("dropped_worker_thread", 10, || {
        const N: usize = 2_000;
        let calls = Arc::new(AtomicUsize::new(0));
        let errors = Arc::new(AtomicUsize::new(0));
        let (c, e) = (calls.clone(), errors.clone());
        let pool = ThreadPool::builder()
            .max_threads(4)
            .spawn_handler(move |worker| {
                c.fetch_add(1, Ordering::Relaxed);
                drop(worker); // never run: a failed spawn
                Ok(())
            })
            .spawn_error_handler(move |_| {
                e.fetch_add(1, Ordering::Relaxed);
            })
            .build()
            .unwrap();
        let probe = Probe::new(N);
        probe.spawn_all(&pool, 0..N);
        assert!(calls.load(Ordering::Relaxed) >= 1);
        assert_eq!(probe.done.load(Ordering::Relaxed), 0);
        let joiner = thread::current().id();
        drop(pool); // must not wait for the thread that never started
        assert_each_once(&probe.counts, "dropped WorkerThread");
        assert!(
            probe
                .threads
                .lock()
                .unwrap()
                .iter()
                .all(|&(_, t)| t == joiner)
        );
        // Nothing returned an error: the handler said Ok.
        assert_eq!(errors.load(Ordering::Relaxed), 0);
    });
}

#[test]
fn spawn_handler_alternates_dropping_and_starting() {
    guarded_rounds("alternating_spawns", 10, || {
        const N: usize = 20_000;
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let pool = ThreadPool::builder()
            .max_threads(4)
            .spawn_handler(move |worker| {
                if c.fetch_add(1, Ordering::Relaxed) % 2 == 0 {
                    drop(worker);
                    Ok(())
                } else {
                    start_thread(worker)
                }
            })
            .build()
            .unwrap();
        let probe = Probe::new(N);
        probe.spawn_all(&pool, 0..N);
        drop(pool);
        assert!(calls.load(Ordering::Relaxed) >= 2);
        assert_each_once(&probe.counts, "alternating dropped / started workers");
    });
}

#[test]
fn spawn_handler_starts_workers_late() {
    // The handler returns Ok at once and a launcher thread starts the worker
    // later: join must wait for it.
    guarded_rounds("late_workers", 5, || {
        const N: usize = 10_000;
        let (tx, rx) = mpsc::channel::<WorkerThread>();
        let tx = Mutex::new(tx);
        let launcher = thread::spawn(move || {
            let mut launched = 0;
            for worker in rx {
                thread::sleep(Duration::from_millis(5));
                thread::spawn(move || worker.run());
                launched += 1;
            }
            launched
        });
        let pool = ThreadPool::builder()
            .max_threads(3)
            .spawn_handler(move |worker| {
                tx.lock()
                    .unwrap()
                    .send(worker)
                    .map_err(|_| io::Error::other("the launcher is gone"))
            })
            .build()
            .unwrap();
        let probe = Probe::new(N);
        probe.spawn_all(&pool, 0..N);
        drop(pool); // drops the handler and its sender too
        assert_each_once(&probe.counts, "late-started workers");
        let launched = launcher.join().unwrap();
        assert!((1..=3).contains(&launched), "{launched} workers launched");
    });
}
