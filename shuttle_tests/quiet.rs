//! `ThreadPool::wait_idle` on the whole pool, under shuttle.
//!
//! 1. `wait_idle_racing_a_submitter`: the main thread spawns tasks (one of
//!    which spawns a child from inside the pool) while another thread keeps
//!    submitting, then waits for the pool to go idle. Checked: every task
//!    accepted before the call, and the child, finished, and the pool still
//!    takes tasks afterwards. The submitter's tasks may or may not have run
//!    (both outcomes must be reached: the wait does not simply wait for
//!    everything, nor return at once).
//! 2. `wait_idle_on_a_pool_that_cannot_start_a_thread`: every spawn fails,
//!    so the waiter is the only thread that can run the tasks (another
//!    thread submits meanwhile): it must run them itself and still be
//!    released (a hang is shuttle's `deadlock`), counting itself active
//!    while it runs one.
//! 3. `wait_idle_from_a_worker_of_another_pool`: a task of pool A waits for
//!    pool B, whose task joins back on A. A's only worker must keep running
//!    A's tasks while it waits, or neither pool finishes.
//!
//! shuttle runs every atomic as SeqCst: these scenarios check the protocol
//! (who activates, who checks, who helps); the orderings are loom's
//! (`loom_tests/quiet.rs`).

use crate::check_outcomes;
use crate::common::PoolRef;
use shuttle::sync::mpsc;
use shuttle::thread;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use zap_pool::{ThreadPool, model};

const RACING_OUTCOMES: &[&str] = &[
    "a concurrent task had not run when the wait returned",
    "every concurrent task had run when the wait returned",
];

#[test]
fn wait_idle_racing_a_submitter() {
    check_outcomes(
        "wait_idle_racing_a_submitter",
        RACING_OUTCOMES,
        false,
        |outcomes| {
            let pool = Box::new(ThreadPool::with_max_threads(2));
            let mine = Arc::new(AtomicUsize::new(0));
            let theirs = Arc::new(AtomicUsize::new(0));
            let p = PoolRef::new(&pool);
            let t = theirs.clone();
            let submitter = thread::spawn(move || {
                for _ in 0..2 {
                    let t = t.clone();
                    p.get()
                        .spawn(move || {
                            t.fetch_add(1, SeqCst);
                        })
                        .unwrap();
                }
            });
            for i in 0..2 {
                let m = mine.clone();
                pool.spawn(move || {
                    if i == 0 {
                        let child = m.clone();
                        p.get()
                            .spawn(move || {
                                child.fetch_add(1, SeqCst);
                            })
                            .unwrap();
                    }
                    m.fetch_add(1, SeqCst);
                })
                .unwrap();
            }
            pool.wait_idle();
            assert_eq!(
                mine.load(SeqCst),
                3,
                "a task accepted before the wait had not run"
            );
            outcomes.hit(RACING_OUTCOMES[usize::from(theirs.load(SeqCst) == 2)]);
            submitter.join().unwrap();
            // Still open: a task spawned now runs, and a second wait sees it.
            let m = mine.clone();
            pool.spawn(move || {
                m.fetch_add(1, SeqCst);
            })
            .unwrap();
            pool.wait_idle();
            assert_eq!(mine.load(SeqCst), 4);
            assert_eq!(theirs.load(SeqCst), 2);
        },
    );
}

const NO_THREAD_OUTCOMES: &[&str] = &[
    "the racing task had run when the first wait returned",
    "the racing task had not run when the first wait returned",
];

/// Clears the injected spawn failures when dropped (also when the
/// execution panics), so that none is left for a later execution or test.
struct NoMoreFailures;

impl Drop for NoMoreFailures {
    fn drop(&mut self) {
        model::fail_next_spawns(0);
    }
}

#[test]
fn wait_idle_on_a_pool_that_cannot_start_a_thread() {
    check_outcomes(
        "wait_idle_on_a_pool_that_cannot_start_a_thread",
        NO_THREAD_OUTCOMES,
        false,
        |outcomes| {
            let _clear = NoMoreFailures;
            model::fail_next_spawns(usize::MAX);
            let pool = Box::new(
                ThreadPool::builder()
                    .max_threads(1)
                    .spawn_error_handler(|_| ())
                    .build()
                    .unwrap(),
            );
            let ran = Arc::new(std::sync::Mutex::new(Vec::new()));
            let (p, r) = (PoolRef::new(&pool), ran.clone());
            // A second thread submits while the main thread waits.
            let racer = thread::spawn(move || {
                p.get().spawn(move || r.lock().unwrap().push(1)).unwrap();
            });
            let r = ran.clone();
            pool.spawn(move || r.lock().unwrap().push(0)).unwrap();
            pool.wait_idle();
            let first = ran.lock().unwrap().clone();
            assert!(first.contains(&0), "the wait returned before its task ran");
            outcomes.hit(NO_THREAD_OUTCOMES[usize::from(!first.contains(&1))]);
            racer.join().unwrap();
            pool.wait_idle();
            assert_eq!(ran.lock().unwrap().len(), 2);
        },
    );
}

const ACROSS_OUTCOMES: &[&str] = &["B's task joined back on A and A's worker waited for B"];

#[test]
fn wait_idle_from_a_worker_of_another_pool() {
    check_outcomes(
        "wait_idle_from_a_worker_of_another_pool",
        ACROSS_OUTCOMES,
        false,
        |outcomes| {
            let a = Box::new(ThreadPool::with_max_threads(1));
            let b = Box::new(ThreadPool::with_max_threads(1));
            let (pa, pb) = (PoolRef::new(&a), PoolRef::new(&b));
            let joined = Arc::new(AtomicUsize::new(0));
            let (tx, rx) = mpsc::channel();
            let j = joined.clone();
            a.spawn(move || {
                let j2 = j.clone();
                pb.get()
                    .spawn(move || {
                        let (x, y) = pa.get().join(|| 1, || 2);
                        j2.fetch_add(x + y, SeqCst);
                    })
                    .unwrap();
                pb.get().wait_idle();
                tx.send(j.load(SeqCst)).unwrap();
            })
            .unwrap();
            assert_eq!(
                rx.recv().unwrap(),
                3,
                "A's worker was released before B's task ended"
            );
            outcomes.hit(ACROSS_OUTCOMES[0]);
        },
    );
}

const FIRST_THREAD_OUTCOMES: &[&str] = &[
    "no thread was idle when the wait began",
    "a thread was idle when the wait began",
];

/// A waiter registers while the pool's only thread may still be starting:
/// a worker that registers after the waiter marked the workers it found
/// must mark itself, or it leaves without checking and the waiter hangs;
/// and a worker that registers between a check's two collects, and sleeps
/// without taking anything, must not fail that check for good.
#[test]
fn wait_idle_before_the_first_thread_starts() {
    check_outcomes(
        "wait_idle_before_the_first_thread_starts",
        FIRST_THREAD_OUTCOMES,
        false,
        |outcomes| {
            let pool = Box::new(ThreadPool::with_max_threads(2));
            let done = Arc::new(AtomicUsize::new(0));
            let d = done.clone();
            pool.spawn(move || {
                d.fetch_add(1, SeqCst);
            })
            .unwrap();
            thread::yield_now();
            let idle_before = model::word(&pool).3 > 0;
            pool.wait_idle();
            assert_eq!(
                done.load(SeqCst),
                1,
                "the wait returned before the task ran"
            );
            outcomes.hit(FIRST_THREAD_OUTCOMES[usize::from(idle_before)]);
        },
    );
}
