//! Panics in tasks, hooks and handlers.
//!
//! A separate test binary (its own process), because these tests replace the
//! process-wide panic hook to keep the expected panics quiet. The hook stays
//! loud for every other panic, so a failing assertion is still reported.
#![cfg(not(any(loom, shuttle)))]

use std::any::Any;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use zap_pool::ThreadPool;
use zap_pool::raw::{Batch, Task};

/// Every intentional panic message contains this marker.
const MARKER: &str = "intentional";

/// Installs (once) a panic hook that silences the expected panics: those
/// whose message contains [`MARKER`] and the pool's "join called from one of
/// its own tasks". Everything else goes to the default hook.
fn quiet_expected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = message(info.payload()).unwrap_or_default();
            if msg.contains(MARKER) || msg.contains("join called from one of its own tasks") {
                return;
            }
            default(info);
        }));
    });
}

/// The text of a `&str` or `String` panic payload.
fn message(payload: &(dyn Any + Send)) -> Option<String> {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
}

const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `f` on its own thread; fails if it takes longer than `timeout`.
fn guarded_for<F: FnOnce() + Send + 'static>(name: &str, timeout: Duration, f: F) {
    let (tx, rx) = mpsc::channel::<()>();
    let handle = thread::Builder::new()
        .name(format!("scenario-{name}"))
        .spawn(move || {
            f();
            let _ = tx.send(());
        })
        .unwrap();
    match rx.recv_timeout(timeout) {
        Ok(()) => handle.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(payload) = handle.join() {
                std::panic::resume_unwind(payload);
            }
            unreachable!();
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("scenario `{name}` did not finish within {timeout:?}: the pool hangs")
        }
    }
}

fn guarded<F: FnOnce() + Send + 'static>(name: &str, f: F) {
    guarded_for(name, TIMEOUT, f);
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        thread::sleep(Duration::from_micros(200));
    }
}

fn counters(n: usize) -> Arc<Vec<AtomicU8>> {
    Arc::new((0..n).map(|_| AtomicU8::new(0)).collect())
}

/// A panic handler that stores the messages it receives (and counts
/// payloads it cannot read as text).
#[derive(Default)]
struct Payloads {
    messages: Mutex<Vec<String>>,
    other: Mutex<Vec<Box<dyn Any + Send>>>,
}

impl Payloads {
    fn handler(self: &Arc<Self>) -> impl Fn(Box<dyn Any + Send>) + Send + Sync + 'static {
        let this = self.clone();
        move |payload| match message(&*payload) {
            Some(msg) => this.messages.lock().unwrap().push(msg),
            None => this.other.lock().unwrap().push(payload),
        }
    }

    fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.messages.lock().unwrap().len() + self.other.lock().unwrap().len()
    }
}

#[test]
fn panicking_tasks_go_to_the_handler_and_workers_survive() {
    quiet_expected_panics();
    guarded("panicking_tasks", || {
        const N: usize = 1000;
        const MAX: usize = 3;
        let payloads = Arc::new(Payloads::default());
        let started = Arc::new(AtomicUsize::new(0));
        let s = started.clone();
        let pool = ThreadPool::builder()
            .max_threads(MAX)
            .panic_handler(payloads.handler())
            .on_thread_start(move |_| {
                s.fetch_add(1, Ordering::Relaxed);
            })
            .build()
            .unwrap();
        let counts = counters(N);
        let finished = Arc::new(AtomicUsize::new(0));
        for id in 0..N {
            let (c, f) = (counts.clone(), finished.clone());
            pool.spawn(move || {
                // Counted whether or not it panics: each task runs once.
                c[id].fetch_add(1, Ordering::Relaxed);
                f.fetch_add(1, Ordering::Release);
                if id % 10 == 0 {
                    panic!("{MARKER} panic of task {id}");
                }
            })
            .unwrap();
        }
        wait_until("all tasks, panicking or not", || {
            finished.load(Ordering::Acquire) == N
        });
        // The handler runs right after the task's unwind: give the last
        // ones a moment.
        wait_until("100 payloads", || payloads.count() >= 100);
        for (id, c) in counts.iter().enumerate() {
            assert_eq!(c.load(Ordering::Relaxed), 1, "task {id}");
        }

        // The workers survived: the pool still runs tasks, without starting
        // replacement threads beyond max_threads.
        let after = counters(N);
        let done = Arc::new(AtomicUsize::new(0));
        for id in 0..N {
            let (c, d) = (after.clone(), done.clone());
            pool.spawn(move || {
                c[id].fetch_add(1, Ordering::Relaxed);
                d.fetch_add(1, Ordering::Release);
            })
            .unwrap();
        }
        wait_until("tasks after the panics", || {
            done.load(Ordering::Acquire) == N
        });
        drop(pool);
        for (id, c) in after.iter().enumerate() {
            assert_eq!(c.load(Ordering::Relaxed), 1, "task {id} after the panics");
        }
        assert!(started.load(Ordering::Relaxed) <= MAX);

        let mut msgs = payloads.messages();
        assert_eq!(msgs.len(), 100, "exactly one payload per panicking task");
        assert!(payloads.other.lock().unwrap().is_empty());
        msgs.sort();
        let mut expected: Vec<String> = (0..N)
            .step_by(10)
            .map(|id| format!("{MARKER} panic of task {id}"))
            .collect();
        expected.sort();
        assert_eq!(msgs, expected);
    });
}

#[test]
fn non_string_payloads_reach_the_handler() {
    quiet_expected_panics();
    guarded("any_payloads", || {
        #[derive(Debug, PartialEq)]
        struct Custom(u32);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let pool = ThreadPool::builder()
            .max_threads(2)
            .panic_handler(move |payload| {
                let v = payload
                    .downcast::<Custom>()
                    .expect("the payload keeps its type");
                s.lock().unwrap().push(v.0);
            })
            .build()
            .unwrap();
        for i in 0..50 {
            pool.spawn(move || std::panic::panic_any(Custom(i)))
                .unwrap();
        }
        drop(pool);
        let mut seen = seen.lock().unwrap().clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
    });
}

#[test]
fn default_panic_handler_keeps_the_pool_running() {
    quiet_expected_panics();
    guarded("default_handler", || {
        let pool = ThreadPool::with_max_threads(2);
        let counts = counters(200);
        for id in 0..200 {
            let c = counts.clone();
            pool.spawn(move || {
                c[id].fetch_add(1, Ordering::Relaxed);
                if id % 3 == 0 {
                    panic!("{MARKER}: default handler");
                }
            })
            .unwrap();
        }
        drop(pool);
        for (id, c) in counts.iter().enumerate() {
            assert_eq!(c.load(Ordering::Relaxed), 1, "task {id}");
        }
    });
}

#[repr(C)]
struct RawJob {
    task: Task,
    id: usize,
    runs: *const AtomicU8,
}

unsafe fn raw_panics(task: NonNull<Task>) {
    // SAFETY: every task with this callback is the `task` of a live RawJob.
    let (id, runs) = unsafe {
        let job = task.cast::<RawJob>().as_ptr();
        ((*job).id, (*job).runs)
    };
    // SAFETY: `runs` outlives the pool (joined before it is dropped).
    unsafe { (*runs).fetch_add(1, Ordering::Relaxed) };
    if id % 2 == 1 {
        panic!("{MARKER}: raw task {id}");
    }
}

#[test]
fn panicking_raw_tasks() {
    quiet_expected_panics();
    guarded("raw_panics", || {
        const N: usize = 300;
        let payloads = Arc::new(Payloads::default());
        let pool = ThreadPool::builder()
            .max_threads(2)
            .panic_handler(payloads.handler())
            .build()
            .unwrap();
        let runs: Vec<AtomicU8> = (0..N).map(|_| AtomicU8::new(0)).collect();
        let mut jobs: Vec<RawJob> = (0..N)
            .map(|id| RawJob {
                task: Task::new(raw_panics),
                id,
                runs: &runs[id],
            })
            .collect();
        let mut batch = Batch::new();
        for job in &mut jobs {
            batch.push(&mut job.task);
        }
        // SAFETY: `jobs` and `runs` outlive the pool's use: joined below.
        unsafe { pool.schedule(batch) }.unwrap();
        pool.shutdown();
        pool.join_workers();
        for (id, r) in runs.iter().enumerate() {
            assert_eq!(r.load(Ordering::Relaxed), 1, "raw task {id}");
        }
        assert_eq!(payloads.count(), N / 2);
        drop(pool);
        drop(jobs);
    });
}

#[test]
fn join_from_an_own_task_panics_into_the_handler() {
    quiet_expected_panics();
    guarded("join_from_task", || {
        let payloads = Arc::new(Payloads::default());
        let pool = Arc::new(
            ThreadPool::builder()
                .max_threads(2)
                .panic_handler(payloads.handler())
                .build()
                .unwrap(),
        );
        let returned = Arc::new(AtomicBool::new(false));
        let (p, r) = (pool.clone(), returned.clone());
        pool.spawn(move || {
            p.join_workers(); // must panic: it would wait for itself
            r.store(true, Ordering::Relaxed);
        })
        .unwrap();
        wait_until("the panic payload", || payloads.count() == 1);
        assert!(
            !returned.load(Ordering::Relaxed),
            "join returned inside a task"
        );
        let msgs = payloads.messages();
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].contains("join"), "payload: {:?}", msgs[0]);

        // The pool still works and joins normally from outside.
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            let ran = ran.clone();
            pool.spawn(move || {
                ran.fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
        }
        pool.shutdown();
        pool.join_workers();
        assert_eq!(ran.load(Ordering::Relaxed), 100);
        drop(Arc::into_inner(pool).expect("the panicking task's handle was dropped"));
    });
}

#[test]
fn panicking_thread_hooks_go_to_the_handler() {
    quiet_expected_panics();
    guarded("panicking_hooks", || {
        let payloads = Arc::new(Payloads::default());
        let starts = Arc::new(AtomicUsize::new(0));
        let st = starts.clone();
        let pool = ThreadPool::builder()
            .max_threads(2)
            .panic_handler(payloads.handler())
            .on_thread_start(move |i| {
                st.fetch_add(1, Ordering::Relaxed);
                panic!("{MARKER}: start hook of worker {i}");
            })
            .on_thread_stop(|i| panic!("{MARKER}: stop hook of worker {i}"))
            .build()
            .unwrap();
        let counts = counters(500);
        for id in 0..500 {
            let c = counts.clone();
            pool.spawn(move || {
                c[id].fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
        }
        drop(pool);
        for (id, c) in counts.iter().enumerate() {
            assert_eq!(c.load(Ordering::Relaxed), 1, "task {id}");
        }
        let threads = starts.load(Ordering::Relaxed);
        assert!((1..=2).contains(&threads));
        let msgs = payloads.messages();
        let start_panics = msgs.iter().filter(|m| m.contains("start hook")).count();
        let stop_panics = msgs.iter().filter(|m| m.contains("stop hook")).count();
        assert_eq!(start_panics, threads);
        assert_eq!(stop_panics, threads);
    });
}

#[test]
fn panicking_spawn_handler_is_a_failed_spawn() {
    quiet_expected_panics();
    guarded("panicking_spawn_handler", || {
        let errors = Arc::new(Mutex::new(Vec::new()));
        let e = errors.clone();
        let pool = ThreadPool::builder()
            .max_threads(2)
            .spawn_handler(|_worker| panic!("{MARKER}: spawn handler"))
            .spawn_error_handler(move |error: io::Error| e.lock().unwrap().push(error.to_string()))
            .build()
            .unwrap();
        let counts = counters(100);
        let joiner = thread::current().id();
        let on_joiner = Arc::new(AtomicUsize::new(0));
        for id in 0..100 {
            let (c, j) = (counts.clone(), on_joiner.clone());
            pool.spawn(move || {
                c[id].fetch_add(1, Ordering::Relaxed);
                if thread::current().id() == joiner {
                    j.fetch_add(1, Ordering::Relaxed);
                }
            })
            .unwrap();
        }
        drop(pool);
        for (id, c) in counts.iter().enumerate() {
            assert_eq!(c.load(Ordering::Relaxed), 1, "task {id}");
        }
        assert_eq!(on_joiner.load(Ordering::Relaxed), 100);
        let errors = errors.lock().unwrap();
        assert!(!errors.is_empty());
        assert!(errors.iter().all(|e| e.contains("panicked")), "{errors:?}");
    });
}

#[test]
fn panicking_spawn_error_handler_goes_to_the_panic_handler() {
    quiet_expected_panics();
    guarded("panicking_error_handler", || {
        let payloads = Arc::new(Payloads::default());
        let pool = ThreadPool::builder()
            .max_threads(2)
            .spawn_handler(|_worker| Err(io::Error::other("no thread")))
            .spawn_error_handler(|error| panic!("{MARKER}: error handler got {error}"))
            .panic_handler(payloads.handler())
            .build()
            .unwrap();
        let counts = counters(10);
        for id in 0..10 {
            let c = counts.clone();
            pool.spawn(move || {
                c[id].fetch_add(1, Ordering::Relaxed);
            })
            .unwrap();
        }
        drop(pool);
        for (id, c) in counts.iter().enumerate() {
            assert_eq!(c.load(Ordering::Relaxed), 1, "task {id}");
        }
        let msgs = payloads.messages();
        assert!(!msgs.is_empty());
        assert!(
            msgs.iter()
                .all(|m| m.contains("error handler got no thread"))
        );
    });
}

/// When no worker thread ever started, `join` runs the leftover tasks itself,
/// as a worker of the pool: a task run that way that calls `join` on its
/// pool must get the documented panic, not wait for itself (the last_exit event's
/// one token is already consumed) for ever.
#[test]
fn join_from_a_task_run_by_the_joiner_panics() {
    quiet_expected_panics();
    guarded_for("join_from_joiner_task", Duration::from_secs(5), || {
        let payloads = Arc::new(Payloads::default());
        let pool = Arc::new(
            ThreadPool::builder()
                .max_threads(1)
                // No thread can start: the task runs on the joining thread.
                .spawn_handler(|_worker| Err(io::Error::other("no thread")))
                .spawn_error_handler(|_| ())
                .panic_handler(payloads.handler())
                .build()
                .unwrap(),
        );
        let p = pool.clone();
        let returned = Arc::new(AtomicBool::new(false));
        let r = returned.clone();
        pool.spawn(move || {
            p.join_workers();
            r.store(true, Ordering::Relaxed);
        })
        .unwrap();
        pool.shutdown();
        pool.join_workers();
        assert!(!returned.load(Ordering::Relaxed));
        let msgs = payloads.messages();
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert!(
            msgs[0].contains("join"),
            "expected the documented panic, got {msgs:?}"
        );
        drop(Arc::into_inner(pool).expect("the task's handle was dropped"));
    });
}
