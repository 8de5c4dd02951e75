//! Liveness under shuttle: every wait that the docs promise will end must
//! end, whatever the spawn handler does, however pools nest in each other,
//! and whichever thread drops a pool or calls into it from a hook.
//!
//! A hang shows up as shuttle's `deadlock` panic (every thread blocked): each
//! scenario is built so that, with the semantics below, no thread can be
//! blocked for ever, and so that, without them, some schedule blocks every
//! thread. The six behaviours (a test each, three for the
//! hooks; then `random_compositions`, which composes them at random) are:
//!
//! 1. a thread outside a pool that waits for pool work (`ThreadPool::join`,
//!    a scope's end, `JoinHandle::join`) retries failed thread spawns and,
//!    while the pool has no worker, runs the queued tasks itself;
//! 2. a worker waiting on another pool's work keeps running its own pool's
//!    tasks meanwhile, so pools may nest in each other in any way;
//! 3. a worker waiting inside a task is woken when work appears that it
//!    could run;
//! 4. a pool dropped from one of its own tasks still runs every accepted
//!    task, and all its threads exit;
//! 5. hooks: `join_workers` from a thread hook panics naming the hook (the
//!    panic goes to the panic handler); pool methods from the hooks work; the
//!    last reference dropped in a hook does not deadlock;
//! 6. `P.join(a, b)` on a shut-down `P`, called from a worker of another
//!    pool, runs `a` and then `b` on the calling thread.
//!
//! Three more tests guard bugs found on the way: a wait inside nested joins
//! that breaks the join deque's order (J2); and two hangs that the Spin
//! model of waiting found in the first version of the new waiting
//! (`docs/liveness.md`, findings F1 and F3): an outside waiter that trusts a
//! counted default spawn which then fails
//! (`outside_waiter_survives_a_default_spawn_failing_meanwhile`), and a
//! worker waiting inside a task while its pool shuts down, with work of
//! that pool accepted before the close
//! (`a_worker_waiting_across_its_pools_shutdown_still_runs_its_work`).
//! (F2, a thread helping another pool as a guest, has no guest any more:
//! the helper runs the pool's tasks as the thread it is.)
//!
//! As everywhere in this suite, no assertion runs inside a task (the pool
//! would catch it): tasks write into a [`Ledger`], and the execution's main
//! thread checks it. Every closure handed to a pool carries a [`Token`], so
//! each execution also checks that every one ran exactly once and was
//! dropped exactly once.
//!
//! Run just these: `RUSTFLAGS="--cfg shuttle" cargo test --release --test
//! shuttle_tests liveness -- --test-threads=1`.

use crate::common::{Ledger, PoolRef, Token, describe, is_shut_down, me};
use crate::{Outcomes, check_outcomes, iterations};
use shuttle::rand::{Rng, thread_rng};
use shuttle::sync::mpsc;
use shuttle::thread::{self, ThreadId};
use std::cell::Cell;
use std::collections::HashSet;
use std::io;
use std::panic;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;
use zap_pool::{Builder, JoinHandle, Scope, SpawnError, ThreadPool, WorkerThread, model};

/// Stack size of the worker threads our spawn handlers start, and of the
/// driver threads that wait for pool work from outside (the execution's
/// main thread has `check`'s stack size, shuttle's 60 KiB by default). Generous: a thread that waits runs
/// other tasks inside its wait, so its stack holds a chain of tasks, each
/// waiting, up to the size of the whole program; a shuttle stack overflow
/// kills the test binary. shuttle's stacks are committed as they are used.
const WORKER_STACK: usize = 2 << 20;
const DRIVER_STACK: usize = 2 << 20;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// What a spawn handler does with its `attempt`-th call (counting from 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Policy {
    Never,
    /// Attempt 0 fails (a transient EAGAIN), every later one starts a thread.
    FailOnce,
    /// Attempts 0, 2, 4, ... fail.
    EveryOther,
    Always,
}

impl Policy {
    fn fails(self, attempt: usize) -> bool {
        match self {
            Policy::Never => false,
            Policy::FailOnce => attempt == 0,
            Policy::EveryOther => attempt % 2 == 0,
            Policy::Always => true,
        }
    }

    /// One of the three policies that fail at least once.
    fn failing(rng: &mut impl Rng) -> Self {
        [Policy::FailOnce, Policy::EveryOther, Policy::Always][rng.gen_range(0..3)]
    }

    /// Any policy, never failing two times in five.
    fn any(rng: &mut impl Rng) -> Self {
        match rng.gen_range(0..5) {
            0 | 1 => Policy::Never,
            2 => Policy::FailOnce,
            3 => Policy::EveryOther,
            _ => Policy::Always,
        }
    }
}

/// One pool's threads, as its spawn handler, spawn error handler and thread
/// hooks saw them; the spawn handler keeps every thread's `JoinHandle`, so
/// that the execution can join them (a thread that never exits is then a
/// `deadlock` report).
#[derive(Default)]
struct Threads {
    attempts: AtomicUsize,
    failed: AtomicUsize,
    /// Threads started by the spawn handler.
    started: AtomicUsize,
    /// Failures that reached the spawn error handler.
    reported: AtomicUsize,
    /// A thread was started after an earlier attempt had failed.
    repaired: AtomicBool,
    /// `on_thread_start` and `on_thread_stop` calls.
    starts: AtomicUsize,
    stops: AtomicUsize,
    /// The threads that ran `on_thread_start`: the pool's workers.
    workers: Mutex<HashSet<ThreadId>>,
    handles: Mutex<Vec<thread::JoinHandle<()>>>,
}

impl Threads {
    fn new() -> Arc<Self> {
        Arc::default()
    }

    /// The spawn handler's body.
    fn spawn(&self, policy: Policy, worker: WorkerThread) -> io::Result<()> {
        let attempt = self.attempts.fetch_add(1, SeqCst);
        if policy.fails(attempt) {
            self.failed.fetch_add(1, SeqCst);
            return Err(io::Error::other("no thread this time"));
        }
        if self.failed.load(SeqCst) > 0 {
            self.repaired.store(true, SeqCst);
        }
        let name = worker.name().map(String::from).unwrap_or_default();
        let handle = thread::Builder::new()
            .name(name)
            .stack_size(WORKER_STACK)
            .spawn(move || worker.run())?;
        self.started.fetch_add(1, SeqCst);
        self.handles.lock().unwrap().push(handle);
        Ok(())
    }

    fn thread_started(&self) {
        self.starts.fetch_add(1, SeqCst);
        self.workers.lock().unwrap().insert(me());
    }

    fn thread_stopped(&self) {
        self.stops.fetch_add(1, SeqCst);
    }

    /// Whether the calling thread is one of the pool's worker threads.
    fn is_worker(&self) -> bool {
        self.workers.lock().unwrap().contains(&me())
    }

    /// Joins every thread the handler started, until none is left; returns
    /// how many. A thread that never exits makes this a deadlock.
    fn join_all(&self) -> usize {
        let mut joined = 0;
        loop {
            let handles: Vec<_> = self.handles.lock().unwrap().drain(..).collect();
            if handles.is_empty() {
                return joined;
            }
            for h in handles {
                h.join().expect("a worker thread panicked");
                joined += 1;
            }
        }
    }

    /// Every failure was reported once; every attempt failed or started a
    /// thread.
    fn check_spawns(&self, pool: &str) {
        let failed = self.failed.load(SeqCst);
        assert_eq!(
            self.reported.load(SeqCst),
            failed,
            "{pool}: every failed spawn reaches the spawn error handler once"
        );
        assert_eq!(
            self.attempts.load(SeqCst),
            failed + self.started.load(SeqCst),
            "{pool}: attempts = failed + started"
        );
    }

    /// After `join_all`: every started thread ran both hooks and exited.
    fn check_exits(&self, pool: &str, joined: usize) {
        let started = self.started.load(SeqCst);
        assert_eq!(joined, started, "{pool}: threads joined vs started");
        assert_eq!(
            self.starts.load(SeqCst),
            started,
            "{pool}: on_thread_start calls vs threads started"
        );
        assert_eq!(
            self.stops.load(SeqCst),
            started,
            "{pool}: on_thread_stop calls vs threads started (a worker that never stopped leaked)"
        );
    }
}

/// A pool whose threads are started (or not) by `policy` and counted in
/// `threads`, and whose panic handler reports every payload as a problem.
fn counted_pool(
    max_threads: usize,
    policy: Policy,
    threads: &Arc<Threads>,
    ledger: &Arc<Ledger>,
) -> Builder {
    let (s, r, a, b) = (
        threads.clone(),
        threads.clone(),
        threads.clone(),
        threads.clone(),
    );
    let l = ledger.clone();
    ThreadPool::builder()
        .max_threads(max_threads)
        .spawn_handler(move |worker| s.spawn(policy, worker))
        .spawn_error_handler(move |_| {
            r.reported.fetch_add(1, SeqCst);
        })
        .on_thread_start(move |_| a.thread_started())
        .on_thread_stop(move |_| b.thread_stopped())
        .panic_handler(move |payload| {
            l.problem(format!(
                "a panic reached the pool's panic handler: {}",
                describe(&*payload)
            ))
        })
}

/// A pool on the default spawn path, its threads named `name-N`, whose
/// panic handler reports every payload as a problem.
fn plain_pool(name: &'static str, max_threads: usize, ledger: &Arc<Ledger>) -> Box<ThreadPool> {
    let l = ledger.clone();
    Box::new(
        ThreadPool::builder()
            .max_threads(max_threads)
            .thread_name(move |i| format!("{name}-{i}"))
            .panic_handler(move |payload| {
                l.problem(format!(
                    "a panic reached the pool's panic handler: {}",
                    describe(&*payload)
                ))
            })
            .build()
            .unwrap(),
    )
}

/// Runs `f` on a new shuttle thread (outside every pool) with a large
/// stack, and returns its result.
fn on_driver<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let driver = thread::Builder::new()
        .name("driver".into())
        .stack_size(DRIVER_STACK)
        .spawn(f)
        .unwrap();
    // One scheduling choice between two runnable threads in every
    // execution: PCT rejects a test whose first execution has none (with a
    // spawn handler that always fails, no worker ever starts).
    thread::yield_now();
    driver.join().unwrap()
}

/// A task that records the run of `id` and then reports `id` on `done`.
fn reporting_leaf(
    ledger: &Arc<Ledger>,
    id: usize,
    done: &mpsc::Sender<usize>,
) -> impl FnOnce() + Send + 'static {
    let (token, done) = (ledger.token(id), done.clone());
    move || {
        token.run();
        let _ = done.send(id);
    }
}

/// Silences the panic hook for panics of the library whose message names
/// `join_workers` (the ones the hook scenarios provoke on purpose; the pool
/// catches them),
/// as `quiet_task_panics` does for `Boom`. Anything else still reaches the
/// hooks installed before.
fn quiet_join_workers_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // shuttle installs its hook on its first run; ours must wrap it.
        shuttle::check_random(|| {}, 1);
        let earlier = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let in_tests = info
                .location()
                .is_some_and(|l| l.file().contains("shuttle_tests"));
            if in_tests || !describe(info.payload()).contains("join_workers") {
                earlier(info);
            }
        }));
    });
}

/// Aborts the test binary (with a message) if the test has not finished
/// after `minutes`: for a scenario where a regression could block the OS
/// thread itself (a std mutex taken twice by shuttle threads, which run as
/// coroutines on one OS thread) instead of producing a shuttle `deadlock`.
/// No cost while the test runs: the watchdog waits on a channel.
struct Watchdog(Option<std::sync::mpsc::Sender<()>>);

impl Watchdog {
    fn start(test: &'static str, minutes: u64) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                rx.recv_timeout(Duration::from_secs(60 * minutes))
            {
                eprintln!(
                    "{test}: no progress for {minutes} minutes: the OS thread itself is blocked \
                     (a std mutex taken twice?); aborting"
                );
                std::process::abort();
            }
        });
        Self(Some(tx))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Dropping the sender (also when the test panics) ends the watchdog.
        let _ = self.0.take().map(|tx| tx.send(()));
    }
}

// ---------------------------------------------------------------------------
// 1. An outside waiter after failed spawns
// ---------------------------------------------------------------------------

const FAILED_SPAWN_OUTCOMES: &[&str] = &[
    "a spawn failed and the outside waiter ran a task itself",
    "a retried spawn started a worker, which ran a task",
    "every spawn failed and the outside waiter ran every task",
];

// Ids: the join's `a` (0) with its nested leaves (1, 2) and `b` (3); the
// scope's tasks (4, 5) and 5's child (6); two handles (7, 8).
const FS_IDS: usize = 9;

/// `ThreadPool::join` from outside the pool, with a nested `zap_pool::join`
/// inside `a`.
fn outside_join(pool: &ThreadPool, ledger: &Arc<Ledger>) {
    let (ta, t1, t2, tb) = (
        ledger.token(0),
        ledger.token(1),
        ledger.token(2),
        ledger.token(3),
    );
    let got = pool.join(
        move || {
            ta.begin();
            zap_pool::join(
                move || {
                    t1.run();
                },
                move || {
                    t2.run();
                },
            );
            ta.end();
            'a'
        },
        move || {
            tb.run();
            'b'
        },
    );
    if got != ('a', 'b') {
        ledger.problem(format!("ThreadPool::join returned {got:?}"));
    }
    ledger.expect_done(0..4, "when ThreadPool::join returned");
}

/// A scope opened from outside whose body spawns one task (so that, after
/// a failed spawn, no second submission retries it); that task spawns two
/// children into the scope. Each writes a slot of this frame.
fn outside_scope(pool: &ThreadPool, ledger: &Arc<Ledger>) {
    let mut marks = [0usize; 3];
    let [m4, m5, m6] = &mut marks;
    let (t4, t5, t6) = (ledger.token(4), ledger.token(5), ledger.token(6));
    pool.scope(|s| {
        s.spawn(move |s| {
            t4.begin();
            *m4 = 5;
            s.spawn(move |_| {
                t5.run();
                *m5 = 6;
            });
            s.spawn(move |_| {
                t6.run();
                *m6 = 7;
            });
            t4.end();
        });
    });
    ledger.expect_done(4..7, "when the scope returned");
    if marks != [5, 6, 7] {
        ledger.problem(format!("the scope's frame holds {marks:?}"));
    }
}

/// A handle spawned from outside and joined at once (one submission, then
/// the wait), then a second one.
fn outside_handles(pool: &ThreadPool, ledger: &Arc<Ledger>) {
    let (t7, t8) = (ledger.token(7), ledger.token(8));
    let h7 = pool.spawn_with_handle(move || {
        t7.run();
        7
    });
    join_handle(ledger, 7, h7);
    let h8 = pool.spawn_with_handle(move || {
        t8.run();
        8
    });
    join_handle(ledger, 8, h8);
    ledger.expect_done(7..9, "when JoinHandle::join returned");
}

/// Joins handle `id`, which must return `id`.
fn join_handle<F>(ledger: &Ledger, id: usize, handle: Result<JoinHandle<usize>, SpawnError<F>>) {
    match handle {
        Ok(h) => match h.join() {
            Ok(got) if got == id => {}
            Ok(got) => ledger.problem(format!("handle {id} returned {got}")),
            Err(p) => ledger.problem(format!("handle {id}: {}", describe(&*p))),
        },
        Err(refused) => {
            drop(refused.into_inner());
            ledger.problem(format!("handle {id} refused by a running pool"));
        }
    }
}

/// A pool of 1 or 2 threads whose spawn handler fails once, every other
/// time or always; from a driver thread (outside the pool), a join, a
/// scope and two handles, in a random order, so that each of them is the
/// first to meet the failed spawn in some executions.
fn failed_spawn_scenario(outcomes: &Arc<Outcomes>) {
    let mut rng = thread_rng();
    let policy = Policy::failing(&mut rng);
    let max_threads = rng.gen_range(1..=2);
    let mut order = [0, 1, 2];
    for i in (1..3).rev() {
        order.swap(i, rng.gen_range(0..=i));
    }
    let ledger = Ledger::new(FS_IDS);
    let threads = Threads::new();
    let pool = Box::new(
        counted_pool(max_threads, policy, &threads, &ledger)
            .build()
            .unwrap(),
    );
    let (pref, l) = (PoolRef::new(&pool), ledger.clone());
    on_driver(move || {
        // The waiter: the thread whose runs count as "on the joiner".
        l.set_joiner();
        for op in order {
            match op {
                0 => outside_join(pref.get(), &l),
                1 => outside_scope(pref.get(), &l),
                _ => outside_handles(pref.get(), &l),
            }
            // Fail at once rather than run on with a broken pool.
            l.assert_no_problems();
        }
    });
    // Every task ran before the call that waited for it returned (checked
    // above), so what ran on this thread ran while it waited.
    let on_waiter = ledger.any_on_joiner();
    let all_on_waiter = (0..FS_IDS).all(|id| ledger.ran_on_joiner(id));
    drop(pool);
    let joined = threads.join_all();

    ledger.check(|_| 1);
    threads.check_spawns("the pool");
    threads.check_exits("the pool", joined);
    if policy == Policy::Always {
        assert!(
            all_on_waiter,
            "no thread could start, yet a task ran elsewhere"
        );
        outcomes.hit("every spawn failed and the outside waiter ran every task");
    }
    if on_waiter {
        outcomes.hit("a spawn failed and the outside waiter ran a task itself");
    }
    if threads.repaired.load(SeqCst) && ledger.worker_threads() > 0 {
        outcomes.hit("a retried spawn started a worker, which ran a task");
    }
}

/// Behaviour 1: a thread outside the pool waits for pool work after a
/// thread spawn failed. Guards against: a lost wake-up of the spawn path
/// (a hang). After a failed spawn (repaired to "nobody notified, no thread"), nothing
/// retries it, and `ThreadPool::join`, a scope's end or `JoinHandle::join`
/// from outside blocks for ever on its latch while the job sits in the
/// global queue (or, if every spawn fails, until another thread calls
/// `join_workers`). The waiter must retry the spawn and, while the pool has
/// no worker, run the queued tasks itself; every closure runs once, results
/// and borrowed slots are right, every failure is reported once, and every
/// thread that did start exits.
#[test]
fn outside_waiter_survives_failed_spawns() {
    check_outcomes(
        "outside_waiter_survives_failed_spawns",
        FAILED_SPAWN_OUTCOMES,
        false,
        failed_spawn_scenario,
    );
}

// ---------------------------------------------------------------------------
// 2. Pools nested in each other
// ---------------------------------------------------------------------------

const NESTED_OUTCOMES: &[&str] = &[
    "joins: A's worker, waiting on B, ran A's work",
    "scopes: A's worker, waiting on B, ran A's work",
    "handles: A's worker, waiting on B, ran A's work",
    "three pools: A's worker, waiting on B and C, ran A's work",
    "cycle: B's worker, waiting on C (waiting on A), ran B's work",
    "guest: A's worker, running B's job itself (B has no thread), ran A's work",
];

/// Ids each shape uses (0 is the outer task on A), and which of them are
/// closures of A that ran while the outer task waited.
const NESTED_SHAPES: [(usize, &[usize]); 6] = [
    (5, &[2, 3]),
    (5, &[2, 3]),
    (3, &[2]),
    (6, &[3, 4]),
    (9, &[3, 6]),
    (5, &[2, 3]),
];

/// One nesting shape, run by the outer task on a worker of A.
fn nested_shape(shape: usize, ledger: &Arc<Ledger>, a: PoolRef, b: PoolRef, c: PoolRef) {
    let t = |id| ledger.token(id);
    match shape {
        // The nesting shape of behaviour 2: B.join(|| A.join(|| 1, || 2), || 3). In shape
        // 5, B never gets a thread: A's worker runs B's job itself, and the
        // inner A.join comes from inside that job.
        0 | 5 => {
            let (t1, t2, t3, t4) = (t(1), t(2), t(3), t(4));
            let got = b.get().join(
                move || {
                    t1.begin();
                    let r = a
                        .get()
                        .join(move || (t2.run(), 1).1, move || (t3.run(), 2).1);
                    t1.end();
                    r
                },
                move || (t4.run(), 3).1,
            );
            if got != ((1, 2), 3) {
                ledger.problem(format!("B.join(|| A.join(..), ..) returned {got:?}"));
            }
        }
        // A scope of B whose task opens a scope of A.
        1 => {
            let (t1, t2, t3, t4) = (t(1), t(2), t(3), t(4));
            b.get().scope(|s| {
                s.spawn(move |_| {
                    t1.begin();
                    a.get().scope(|s| {
                        s.spawn(move |_| {
                            t2.run();
                        });
                        s.spawn(move |_| {
                            t3.run();
                        });
                    });
                    t1.end();
                });
                t4.run();
            });
        }
        // A handle of B whose task joins a handle of A.
        2 => {
            let (t1, t2) = (t(1), t(2));
            let l = ledger.clone();
            let outer = b.get().spawn_with_handle(move || {
                t1.begin();
                let r = match a.get().spawn_with_handle(move || (t2.run(), 2).1) {
                    Ok(h) => h.join().ok(),
                    Err(refused) => {
                        drop(refused.into_inner());
                        l.problem("A refused a handle".into());
                        None
                    }
                };
                t1.end();
                r
            });
            match outer.map(|h| h.join()) {
                Ok(Ok(Some(2))) => {}
                Ok(got) => ledger.problem(format!(
                    "B's handle returned {:?}",
                    got.map_err(|p| describe(&*p))
                )),
                Err(refused) => {
                    drop(refused.into_inner());
                    ledger.problem("B refused a handle".into());
                }
            }
        }
        // A join of B, whose `a` joins a handle of C, whose task opens a
        // scope of A.
        3 => {
            let (t1, t2, t3, t4, t5) = (t(1), t(2), t(3), t(4), t(5));
            let l = ledger.clone();
            b.get().join(
                move || {
                    t1.begin();
                    let h = c.get().spawn_with_handle(move || {
                        t2.begin();
                        a.get().scope(|s| {
                            s.spawn(move |_| {
                                t3.run();
                            });
                            s.spawn(move |_| {
                                t4.run();
                            });
                        });
                        t2.end();
                    });
                    match h.map(|h| h.join()) {
                        Ok(Ok(())) => {}
                        Ok(Err(p)) => l.problem(format!("C's handle: {}", describe(&*p))),
                        Err(refused) => {
                            drop(refused.into_inner());
                            l.problem("C refused a handle".into());
                        }
                    }
                    t1.end();
                },
                move || {
                    t5.run();
                },
            );
        }
        // A cycle: B.join(|| C.join(|| A.join(|| B.join(4, 5), 6), 7), 8).
        _ => {
            let ts: Vec<Token> = (1..9).map(t).collect();
            let [t1, t2, t3, t4, t5, t6, t7, t8]: [Token; 8] = ts.try_into().ok().unwrap();
            b.get().join(
                move || {
                    t1.begin();
                    c.get().join(
                        move || {
                            t2.begin();
                            a.get().join(
                                move || {
                                    t3.begin();
                                    b.get().join(move || t4.run(), move || t5.run());
                                    t3.end();
                                },
                                move || t6.run(),
                            );
                            t2.end();
                        },
                        move || t7.run(),
                    );
                    t1.end();
                },
                move || t8.run(),
            );
        }
    }
}

/// Pools A, B and C of one thread each (of two, in a quarter of the
/// executions); a task of A runs one of six shapes that nest joins,
/// scopes and handles of the pools in each other (in the sixth, B's every
/// thread spawn fails), and the main thread waits for it on a channel.
fn nested_scenario(outcomes: &Arc<Outcomes>) {
    let mut rng = thread_rng();
    let shape = rng.gen_range(0..NESTED_SHAPES.len());
    let (used, a_work) = NESTED_SHAPES[shape];
    let ledger = Ledger::new(9);
    let mut pools: Vec<Box<ThreadPool>> = ["A", "B", "C"]
        .into_iter()
        .map(|name| plain_pool(name, if rng.gen_bool(0.75) { 1 } else { 2 }, &ledger))
        .collect();
    let no_threads = Threads::new();
    if shape == 5 {
        pools[1] = Box::new(
            counted_pool(1, Policy::Always, &no_threads, &ledger)
                .build()
                .unwrap(),
        );
    }
    let (a, b, c) = (
        PoolRef::new(&pools[0]),
        PoolRef::new(&pools[1]),
        PoolRef::new(&pools[2]),
    );
    let (done, finished) = mpsc::channel();
    let l = ledger.clone();
    let outer = ledger.token(0);
    pools[0]
        .spawn(move || {
            outer.begin();
            nested_shape(shape, &l, a, b, c);
            l.expect_done(1..used, "when the outer task's wait returned");
            outer.end();
            let _ = done.send(me());
        })
        .unwrap();
    let waiter = finished.recv().unwrap();
    drop(pools);

    ledger.check(|id| usize::from(id < used));
    if shape != 4 && a_work.iter().any(|&id| ledger.ran_on(id) == Some(waiter)) {
        outcomes.hit(NESTED_OUTCOMES[shape]);
    }
    if shape == 5 {
        assert!(
            ledger.ran_on(1) == Some(waiter),
            "B has no thread, yet its job did not run on A's waiting worker"
        );
        no_threads.check_spawns("B");
    }
    // The cycle: B's second join (4, 5) ran on the worker of B that waits
    // (through C and A) for it.
    if shape == 4 && ledger.ran_on(4).is_some() && ledger.ran_on(4) == ledger.ran_on(1) {
        outcomes.hit(NESTED_OUTCOMES[4]);
    }
}

/// Behaviour 2: pools nested in each other. Guards against: a worker that
/// blocks on another pool's latch without running its own pool's tasks:
/// with one thread per pool, A's only worker waits on B's work while B's
/// worker waits on A's (`B.join(|| A.join(|| 1, || 2), || 3)` from a task
/// of A, and the same shape built from scopes, handles, three pools, and a
/// cycle A → B → C → A → B), so each waiting worker must run its own
/// pool's tasks while it waits, and every such composition completes with
/// every closure run once. In the sixth shape B has no thread at all, so
/// A's worker runs B's job itself (behaviour 1); the `A.join` inside that
/// job must still find the thread to be A's worker (a worker that runs
/// another pool's task must not stop counting as one of its own pool).
#[test]
fn workers_waiting_on_another_pool_run_their_own_tasks() {
    check_outcomes(
        "workers_waiting_on_another_pool_run_their_own_tasks",
        NESTED_OUTCOMES,
        false,
        nested_scenario,
    );
}

// ---------------------------------------------------------------------------
// 3. A waiter that blocked too early
// ---------------------------------------------------------------------------

const WOKEN_OUTCOMES: &[&str] = &[
    "scope: the waiting worker slept, was woken and ran T2",
    "join: the waiting worker slept, was woken and ran T2",
    "handle: the waiting worker slept, was woken and ran T2",
    "T1 ran on the waiting worker itself",
];

// Ids: the outer task, T1, T2, and the `a` of the join shape.
const W_OUTER: usize = 0;
const W_T1: usize = 1;
const W_T2: usize = 2;
const W_A: usize = 3;

struct WokenCtx {
    pool: PoolRef,
    ledger: Arc<Ledger>,
    /// A futex wait slept while T1 ran on the other worker, before T2 was
    /// spawned: with two workers, one running T1 and the main thread on a
    /// channel, only the waiting worker can have slept.
    slept: AtomicBool,
}

/// T1: on the other worker, gives the waiter time to block; then spawns T2
/// (into the scope, or into its worker's ring) and waits for it outside the
/// pool, on a channel, as a task blocked on I/O would.
fn t1_body(ctx: &WokenCtx, waiter: ThreadId, scope: Option<&Scope<'_>>) -> usize {
    let (t1, t2) = (ctx.ledger.token(W_T1), ctx.ledger.token(W_T2));
    t1.begin();
    if me() != waiter {
        let before = model::blocked_waits();
        for _ in 0..3 {
            thread::yield_now();
        }
        if model::blocked_waits() > before {
            ctx.slept.store(true, SeqCst);
        }
    }
    let (tx, rx) = mpsc::channel::<()>();
    let task = move || {
        t2.run();
        let _ = tx.send(());
    };
    match scope {
        Some(s) => s.spawn(move |_| task()),
        None => {
            if let Err(refused) = ctx.pool.get().spawn(task) {
                drop(refused.into_inner());
                ctx.ledger.problem("T2 refused by a running pool".into());
            }
        }
    }
    if rx.recv().is_err() {
        ctx.ledger.problem("T2 dropped unrun".into());
    }
    t1.end();
    W_T1
}

/// On exactly two threads, a task (the waiter) forks T1 as a scope task, as
/// the stolen `b` of a `zap_pool::join`, or as a handle, and waits for it;
/// T1 spawns T2 and waits for it on a channel (see `t1_body`). When T1 was
/// taken by the other worker and the waiter went to sleep before T2
/// appeared, only the waiter can run T2.
fn woken_scenario(outcomes: &Arc<Outcomes>) {
    let mut rng = thread_rng();
    let shape = rng.gen_range(0..3);
    let t2_in_scope = rng.gen_bool(0.5);
    let ledger = Ledger::new(4);
    let pool = plain_pool("w", 2, &ledger);
    let ctx = Arc::new(WokenCtx {
        pool: PoolRef::new(&pool),
        ledger: ledger.clone(),
        slept: AtomicBool::new(false),
    });
    let (done, finished) = mpsc::channel();
    let c = ctx.clone();
    let outer = ledger.token(W_OUTER);
    pool.spawn(move || {
        let waiter = me();
        outer.begin();
        match shape {
            0 => c.pool.get().scope(|s| {
                let c = &*c;
                s.spawn(move |s| {
                    t1_body(c, waiter, t2_in_scope.then_some(s));
                });
            }),
            1 => {
                let ta = c.ledger.token(W_A);
                let got = zap_pool::join(move || (ta.run(), W_A).1, || t1_body(&c, waiter, None));
                if got != (W_A, W_T1) {
                    c.ledger.problem(format!("join returned {got:?}"));
                }
            }
            _ => {
                let c2 = c.clone();
                match c
                    .pool
                    .get()
                    .spawn_with_handle(move || t1_body(&c2, waiter, None))
                {
                    Ok(h) => match h.join() {
                        Ok(W_T1) => {}
                        Ok(got) => c.ledger.problem(format!("T1's handle returned {got}")),
                        Err(p) => c.ledger.problem(format!("T1's handle: {}", describe(&*p))),
                    },
                    Err(refused) => {
                        drop(refused.into_inner());
                        c.ledger.problem("T1's handle refused".into());
                    }
                }
            }
        }
        c.ledger
            .expect_done(W_T1..W_T2 + 1, "when the waiter's wait returned");
        outer.end();
        let _ = done.send(waiter);
    })
    .unwrap();
    let waiter = finished.recv().unwrap();
    drop(pool);

    ledger.check(|id| usize::from(id != W_A || shape == 1));
    if ledger.ran_on(W_T1) == Some(waiter) {
        outcomes.hit("T1 ran on the waiting worker itself");
    } else if ctx.slept.load(SeqCst) && ledger.ran_on(W_T2) == Some(waiter) {
        outcomes.hit(WOKEN_OUTCOMES[shape]);
    }
}

/// Behaviour 3: a waiter that blocked too early. Guards against: a lost
/// wake-up of a worker that sleeps inside a task (at a scope's end, in `join` after its `b` was
/// stolen, in `JoinHandle::join` after losing the claim) where `notify`
/// cannot reach it: it is not idle in the pool's word, so when the task it
/// waits for spawns T2 and blocks outside the pool (a channel) until T2
/// ran, T2 sits in a ring that nobody searches, and both workers hang. The
/// waiting worker must be woken when T2 appears, and run it.
#[test]
fn a_worker_blocked_in_a_wait_is_woken_for_new_work() {
    check_outcomes(
        "a_worker_blocked_in_a_wait_is_woken_for_new_work",
        WOKEN_OUTCOMES,
        false,
        woken_scenario,
    );
}

// ---------------------------------------------------------------------------
// 4. Dropping a pool from one of its own tasks
// ---------------------------------------------------------------------------

const DROP_IN_TASK_OUTCOMES: &[&str] = &[
    "the pool was dropped from its own task while tasks were still queued",
    "the pool was dropped from its own task after its other tasks had run",
    "the pool was dropped in a join closure stolen by another worker",
    "two or more worker threads exited after the drop",
];

/// A pool of 1 to 3 threads in an `Arc`: the main thread spawns 0 to 2
/// leaves and task X, which holds a clone, then drops its own reference
/// and lets X go. X spawns 0 to 2 children and drops the last reference,
/// in its body or in the `b` of a `zap_pool::join` (which another worker
/// may steal). Every leaf reports on a channel; the main thread waits for
/// all of them and then joins every thread the spawn handler started.
fn drop_in_task_scenario(outcomes: &Arc<Outcomes>) {
    let mut rng = thread_rng();
    let max_threads = rng.gen_range(1..=3);
    let before = rng.gen_range(0..=2);
    let children = rng.gen_range(0..=2);
    let in_join = rng.gen_bool(0.5);
    // Ids: X (0), main's leaves (1..=before), X's children.
    let total = 1 + before + children;
    let ledger = Ledger::new(total);
    let threads = Threads::new();
    let pool = Arc::new(
        counted_pool(max_threads, Policy::Never, &threads, &ledger)
            .build()
            .unwrap(),
    );
    let (done, finished) = mpsc::channel::<usize>();
    let (go, wait_for_go) = mpsc::channel::<()>();
    for id in 1..=before {
        pool.spawn(reporting_leaf(&ledger, id, &done)).unwrap();
    }
    let dropped_on: Arc<Mutex<Option<(ThreadId, ThreadId, bool)>>> = Arc::default();
    let (p, l, d, on) = (
        pool.clone(),
        ledger.clone(),
        done.clone(),
        dropped_on.clone(),
    );
    let x = ledger.token(0);
    pool.spawn(move || {
        x.begin();
        let _ = wait_for_go.recv();
        for id in 1 + before..total {
            if let Err(refused) = p.spawn(reporting_leaf(&l, id, &d)) {
                drop(refused.into_inner());
                l.problem(format!("child {id} refused"));
            }
        }
        let queued = (1..total).any(|id| l.runs(id) == 0);
        let here = me();
        let drop_it = move || {
            *on.lock().unwrap() = Some((here, me(), queued));
            drop(p); // the last reference
        };
        if in_join {
            zap_pool::join(|| (), drop_it);
        } else {
            drop_it();
        }
        x.end();
        let _ = d.send(0);
    })
    .unwrap();
    drop(pool);
    go.send(()).unwrap();
    let mut reported = HashSet::new();
    while reported.len() < total {
        reported.insert(finished.recv().unwrap());
    }
    let joined = threads.join_all();

    ledger.check(|_| 1);
    threads.check_spawns("the pool");
    threads.check_exits("the pool", joined);
    let (x_thread, dropper, queued) = dropped_on.lock().unwrap().expect("X dropped the pool");
    outcomes.hit(if queued {
        "the pool was dropped from its own task while tasks were still queued"
    } else {
        "the pool was dropped from its own task after its other tasks had run"
    });
    if dropper != x_thread {
        outcomes.hit("the pool was dropped in a join closure stolen by another worker");
    }
    if joined >= 2 {
        outcomes.hit("two or more worker threads exited after the drop");
    }
}

/// Behaviour 4: a pool dropped from one of its own tasks. Guards against:
/// leaked worker threads. `Drop` on a worker of the pool cannot join it, so
/// it only shuts down, and each worker, after its drain, waits to be
/// released by a `join_workers` that never comes. Every accepted task must
/// still run (the main thread's, and those X spawned just before the drop),
/// and every worker thread must exit: its `on_thread_stop` runs and its
/// thread can be joined (a leaked thread is a shuttle `deadlock`).
#[test]
fn dropping_a_pool_from_its_own_task_lets_every_worker_exit() {
    check_outcomes(
        "dropping_a_pool_from_its_own_task_lets_every_worker_exit",
        DROP_IN_TASK_OUTCOMES,
        false,
        drop_in_task_scenario,
    );
}

// ---------------------------------------------------------------------------
// 5. Hooks that call into their own pool
// ---------------------------------------------------------------------------

/// The pool that a hook of it calls into: set once the pool is built (a
/// hook is configured before the pool exists), cleared before it is freed.
#[derive(Default)]
struct Slot(AtomicPtr<ThreadPool>);

impl Slot {
    fn set(&self, pool: &ThreadPool) {
        self.0.store(ptr::from_ref(pool).cast_mut(), SeqCst);
    }

    fn clear(&self) {
        self.0.store(ptr::null_mut(), SeqCst);
    }

    fn get(&self) -> Option<&ThreadPool> {
        // SAFETY: set only to a boxed pool that the execution's main thread
        // keeps alive until after its drop returned (no hook runs after
        // that: every thread has stopped and no spawn is attempted after
        // shutdown), then cleared.
        unsafe { self.0.load(SeqCst).as_ref() }
    }
}

const JOIN_WORKERS_IN_HOOK_OUTCOMES: &[&str] = &[
    "join_workers from on_thread_stop panicked naming the hook",
    "join_workers from on_thread_start panicked naming the hook",
];

/// A pool of 1 or 2 threads whose `on_thread_stop` (or `on_thread_start`)
/// calls `join_workers` on the pool; a panic handler records every payload.
/// The main thread spawns two leaves and drops the pool.
fn join_workers_in_hook_scenario(outcomes: &Arc<Outcomes>) {
    let mut rng = thread_rng();
    let stop = rng.gen_bool(0.5);
    let hook_name = if stop {
        "on_thread_stop"
    } else {
        "on_thread_start"
    };
    let ledger = Ledger::new(2);
    let slot = Arc::new(Slot::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let messages: Arc<Mutex<Vec<String>>> = Arc::default();
    let (starts, stops) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let hook = {
        let (slot, calls) = (slot.clone(), calls.clone());
        move || {
            calls.fetch_add(1, SeqCst);
            if let Some(pool) = slot.get() {
                pool.join_workers();
            }
        }
    };
    let (s, t) = (starts.clone(), stops.clone());
    let builder = ThreadPool::builder().max_threads(rng.gen_range(1..=2));
    let builder = if stop {
        builder
            .on_thread_start(move |_| {
                s.fetch_add(1, SeqCst);
            })
            .on_thread_stop(move |_| {
                t.fetch_add(1, SeqCst);
                hook();
            })
    } else {
        builder
            .on_thread_start(move |_| {
                s.fetch_add(1, SeqCst);
                hook();
            })
            .on_thread_stop(move |_| {
                t.fetch_add(1, SeqCst);
            })
    };
    let m = messages.clone();
    let pool = Box::new(
        builder
            .panic_handler(move |payload| m.lock().unwrap().push(describe(&*payload)))
            .build()
            .unwrap(),
    );
    slot.set(&pool);
    for id in 0..2 {
        let token = ledger.token(id);
        pool.spawn(move || {
            token.run();
        })
        .unwrap();
    }
    drop(pool); // shutdown + join_workers: every thread has stopped after it
    slot.clear();

    ledger.check(|_| 1);
    let messages = messages.lock().unwrap().clone();
    let calls = calls.load(SeqCst);
    assert!(calls > 0, "{hook_name} never ran");
    assert_eq!(
        messages.len(),
        calls,
        "every join_workers from {hook_name} panics into the panic handler; got {messages:?}"
    );
    for message in &messages {
        assert!(
            message.contains(hook_name),
            "the panic of join_workers from {hook_name} does not name the hook: {message:?}"
        );
    }
    assert_eq!(
        stops.load(SeqCst),
        starts.load(SeqCst),
        "a worker thread did not stop"
    );
    outcomes.hit(JOIN_WORKERS_IN_HOOK_OUTCOMES[usize::from(!stop)]);
}

/// Behaviour 5 (join_workers from a hook). Guards against: a self-deadlock.
/// `on_thread_stop` runs after the worker stopped counting as a worker of
/// the pool, so `join_workers` there passes the "not from one of its own
/// tasks" check and waits for the exit token that this very thread would
/// post after the hook. From any thread hook `join_workers` must panic,
/// with a message that names the hook (`on_thread_stop`,
/// `on_thread_start`), and the panic must reach the pool's panic handler;
/// the pool then shuts down and joins normally.
#[test]
fn join_workers_from_a_thread_hook_panics_naming_the_hook() {
    quiet_join_workers_panics();
    check_outcomes(
        "join_workers_from_a_thread_hook_panics_naming_the_hook",
        JOIN_WORKERS_IN_HOOK_OUTCOMES,
        false,
        join_workers_in_hook_scenario,
    );
}

const HOOK_METHODS_OUTCOMES: &[&str] = &[
    "on_thread_start ran spawn, join and scope on its own pool",
    "thread_name spawned on its own pool",
    "the spawn handler spawned on its own pool",
    "the spawn error handler spawned on its own pool",
    "every spawn failed and join_workers ran the hooks' tasks",
];

/// Ids the hooks may hand out in one execution; more means the hooks were
/// called without end.
const HOOK_IDS: usize = 64;
/// How deep hooks may be nested on one thread (a hook's spawn entering the
/// spawn path, which calls a hook, ...) before this counts as unbounded
/// recursion.
const MAX_HOOK_DEPTH: usize = 8;

shuttle::thread_local! {
    /// How many hooks of the current execution are on this shuttle thread's
    /// stack.
    static HOOK_DEPTH: Cell<usize> = const { Cell::new(0) };
    /// The spawn error handler is on this shuttle thread's stack.
    static IN_ERROR_HANDLER: Cell<bool> = const { Cell::new(false) };
}

struct HookCtx {
    slot: Slot,
    ledger: Arc<Ledger>,
    next_id: AtomicUsize,
    /// Ids whose spawn was refused (their closure came back unrun).
    refused: Mutex<HashSet<usize>>,
    /// Per hook (start, name, spawn handler, spawn error handler): a spawn
    /// from it was accepted.
    spawned_from: [AtomicBool; 4],
    start_ops: AtomicBool,
}

impl HookCtx {
    fn id(&self) -> Option<usize> {
        let id = self.next_id.fetch_add(1, SeqCst);
        if id < HOOK_IDS {
            Some(id)
        } else {
            self.ledger.problem(format!(
                "the hooks spawned more than {HOOK_IDS} tasks: called without end"
            ));
            None
        }
    }

    /// `pool.spawn` of a leaf from hook `hook`, unless hooks are already
    /// nested `MAX_HOOK_DEPTH` deep on this thread.
    fn spawn_from(&self, hook: usize, name: &str) {
        let depth = HOOK_DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get()
        });
        if depth > MAX_HOOK_DEPTH {
            self.ledger.problem(format!(
                "{name} entered {depth} deep on one thread: spawning from a hook recurses"
            ));
        } else if let (Some(pool), Some(id)) = (self.slot.get(), self.id()) {
            let token = self.ledger.token(id);
            match pool.spawn(move || {
                token.run();
            }) {
                Ok(()) => self.spawned_from[hook].store(true, SeqCst),
                Err(refused) => {
                    drop(refused.into_inner());
                    self.refused.lock().unwrap().insert(id);
                }
            }
        }
        HOOK_DEPTH.with(|d| d.set(d.get() - 1));
    }

    /// `on_thread_start`'s calls: a spawn, a join and a scope on its pool.
    fn start_ops(&self) {
        self.spawn_from(0, "on_thread_start");
        let Some(pool) = self.slot.get() else { return };
        let (Some(a), Some(b), Some(c)) = (self.id(), self.id(), self.id()) else {
            return;
        };
        let (ta, tb, tc) = (
            self.ledger.token(a),
            self.ledger.token(b),
            self.ledger.token(c),
        );
        let got = pool.join(move || (ta.run(), a).1, move || (tb.run(), b).1);
        pool.scope(|s| {
            s.spawn(move |_| {
                tc.run();
            })
        });
        if got == (a, b) && self.ledger.runs(c) == 1 {
            self.start_ops.store(true, SeqCst);
        } else {
            self.ledger.problem(format!(
                "on_thread_start: join returned {got:?}, scope ran {}",
                self.ledger.runs(c)
            ));
        }
    }
}

/// A pool of 1 or 2 threads whose spawn handler never fails, fails once,
/// every other time or always, and every one of whose hooks calls into it:
/// `on_thread_start` spawns, joins and opens a scope; `thread_name`, the
/// spawn handler and the spawn error handler each spawn a leaf, every time
/// they are called. A driver thread spawns two leaves and drops the pool.
fn hook_methods_scenario(outcomes: &Arc<Outcomes>) {
    let mut rng = thread_rng();
    let policy = Policy::any(&mut rng);
    let max_threads = rng.gen_range(1..=2);
    let ledger = Ledger::new(HOOK_IDS);
    let threads = Threads::new();
    let ctx = Arc::new(HookCtx {
        slot: Slot::default(),
        ledger: ledger.clone(),
        next_id: AtomicUsize::new(0),
        refused: Mutex::default(),
        spawned_from: Default::default(),
        start_ops: AtomicBool::new(false),
    });
    let (c0, c1, c2, c3) = (ctx.clone(), ctx.clone(), ctx.clone(), ctx.clone());
    let (t0, t2, t3) = (threads.clone(), threads.clone(), threads.clone());
    // Spawns that failed while the spawn error handler was on the same
    // thread's stack (it spawned, and that spawn tried a thread).
    let nested_failures = Arc::new(AtomicUsize::new(0));
    let nested = nested_failures.clone();
    let pool = Box::new(
        counted_pool(max_threads, policy, &threads, &ledger)
            .on_thread_start(move |_| {
                t0.thread_started();
                c0.start_ops();
            })
            .thread_name(move |i| {
                c1.spawn_from(1, "thread_name");
                format!("lv-{i}")
            })
            .spawn_handler(move |worker| {
                c2.spawn_from(2, "the spawn handler");
                let result = t2.spawn(policy, worker);
                if result.is_err() && IN_ERROR_HANDLER.with(Cell::get) {
                    nested.fetch_add(1, SeqCst);
                }
                result
            })
            .spawn_error_handler(move |_| {
                t3.reported.fetch_add(1, SeqCst);
                let outer = IN_ERROR_HANDLER.with(|f| f.replace(true));
                c3.spawn_from(3, "the spawn error handler");
                IN_ERROR_HANDLER.with(|f| f.set(outer));
            })
            .build()
            .unwrap(),
    );
    ctx.slot.set(&pool);
    // On a driver thread: with every spawn failing there is no other
    // thread, and PCT needs a choice between two.
    let (c, l) = (ctx.clone(), ledger.clone());
    on_driver(move || {
        // `join_workers` (in the drop) runs leftovers on this thread.
        l.set_joiner();
        for _ in 0..2 {
            if let Some(id) = c.id() {
                let token = l.token(id);
                pool.spawn(move || {
                    token.run();
                })
                .unwrap();
            }
        }
        drop(pool);
        c.slot.clear();
    });
    let joined = threads.join_all();

    ledger.assert_no_problems();
    let allocated = ctx.next_id.load(SeqCst).min(HOOK_IDS);
    let refused = ctx.refused.lock().unwrap().clone();
    ledger.check(|id| usize::from(id < allocated && !refused.contains(&id)));
    // Every failure reaches the spawn error handler, except (a pool may do
    // either) one that happens while that handler is already running on
    // the same thread: reporting it there would recurse.
    let (failed, reported) = (threads.failed.load(SeqCst), threads.reported.load(SeqCst));
    let nested = nested_failures.load(SeqCst);
    assert!(
        reported <= failed && failed - nested <= reported,
        "{failed} failed spawns ({nested} of them inside the spawn error handler), {reported} reported"
    );
    assert_eq!(
        threads.attempts.load(SeqCst),
        failed + threads.started.load(SeqCst),
        "attempts = failed + started"
    );
    threads.check_exits("the pool", joined);
    if ctx.start_ops.load(SeqCst) {
        outcomes.hit(HOOK_METHODS_OUTCOMES[0]);
    }
    for (spawned, outcome) in ctx.spawned_from[1..]
        .iter()
        .zip(&HOOK_METHODS_OUTCOMES[1..4])
    {
        if spawned.load(SeqCst) {
            outcomes.hit(outcome);
        }
    }
    if policy == Policy::Always && allocated > 2 && ledger.any_on_joiner() {
        outcomes.hit(HOOK_METHODS_OUTCOMES[4]);
    }
}

/// Behaviour 5 (pool methods from hooks). Guards against: the spawn path
/// re-entering itself through the hooks (a deadlock on the name lock, or
/// unbounded recursion): a `thread_name` closure that
/// spawns on its own pool while the name lock is held, a spawn handler
/// that spawns on its own pool, and a spawn error handler that spawns on a
/// pool whose every spawn fails (each spawn retries the thread spawn, which
/// fails, which calls the handler, which spawns, ...: unbounded recursion
/// unless the pool breaks the cycle; this test counts hooks nested deeper
/// than `MAX_HOOK_DEPTH` on one thread, or more than `HOOK_IDS` hook
/// spawns, as that). Also checks that `spawn`, `join` and `scope` work
/// from `on_thread_start`. Every task spawned by a hook runs exactly once,
/// every thread exits, and every failed spawn reaches the spawn error
/// handler, except one that fails while that handler runs on the same
/// thread (a pool may report it elsewhere to avoid the recursion).
///
/// A watchdog aborts the binary (with a message) if this test blocks the
/// OS thread: the name closure runs under a std mutex, and a second
/// shuttle thread locking it while the first is descheduled would block
/// every shuttle thread at once, which shuttle cannot report.
#[test]
fn pool_methods_from_hooks_work() {
    let _watchdog = Watchdog::start("pool_methods_from_hooks_work", 15);
    check_outcomes(
        "pool_methods_from_hooks_work",
        HOOK_METHODS_OUTCOMES,
        false,
        hook_methods_scenario,
    );
}

const DROP_IN_HOOK_OUTCOMES: &[&str] = &[
    "on_thread_start dropped the last reference",
    "on_thread_stop dropped the last reference",
    "the main thread dropped the last reference",
];

/// A pool of 1 or 2 threads in an `Arc`, one clone of which sits in a slot
/// that `on_thread_start` (or `on_thread_stop`) empties and drops. The main
/// thread spawns two leaves, shuts the pool down (for `on_thread_stop`,
/// which runs only after shutdown) and drops its own reference: whichever
/// of the two goes second drops the pool. The main thread then waits for
/// the leaves and joins every worker thread.
fn drop_in_hook_scenario(outcomes: &Arc<Outcomes>) {
    let mut rng = thread_rng();
    let stop = rng.gen_bool(0.5);
    let ledger = Ledger::new(2);
    let threads = Threads::new();
    let slot: Arc<Mutex<Option<Arc<ThreadPool>>>> = Arc::default();
    let last_in_hook = Arc::new(AtomicBool::new(false));
    let take_and_drop = {
        let (slot, last) = (slot.clone(), last_in_hook.clone());
        move || {
            // Out of the std mutex before dropping: the drop may block.
            let pool = slot.lock().unwrap().take();
            if let Some(pool) = pool.and_then(Arc::into_inner) {
                last.store(true, SeqCst);
                drop(pool);
            }
        }
    };
    let (a, b) = (threads.clone(), threads.clone());
    let builder = counted_pool(rng.gen_range(1..=2), Policy::Never, &threads, &ledger);
    let builder = if stop {
        builder.on_thread_stop(move |_| {
            b.thread_stopped();
            take_and_drop();
        })
    } else {
        builder.on_thread_start(move |_| {
            a.thread_started();
            take_and_drop();
        })
    };
    let pool = Arc::new(builder.build().unwrap());
    *slot.lock().unwrap() = Some(pool.clone());
    let (done, finished) = mpsc::channel::<usize>();
    for id in 0..2 {
        pool.spawn(reporting_leaf(&ledger, id, &done)).unwrap();
    }
    if stop {
        pool.shutdown();
    }
    let main_last = match Arc::into_inner(pool) {
        Some(pool) => {
            drop(pool);
            true
        }
        None => false,
    };
    for _ in 0..2 {
        finished.recv().unwrap();
    }
    let joined = threads.join_all();
    // A pool that never started a thread never ran the hook: the slot still
    // holds the last reference.
    let leftover = slot.lock().unwrap().take();
    drop(leftover);

    ledger.check(|_| 1);
    threads.check_spawns("the pool");
    threads.check_exits("the pool", joined);
    if main_last {
        outcomes.hit("the main thread dropped the last reference");
    } else if last_in_hook.load(SeqCst) {
        outcomes.hit(DROP_IN_HOOK_OUTCOMES[usize::from(stop)]);
    }
}

/// Behaviour 5 (the last reference dropped in a hook). Guards against: a
/// self-deadlock or leaked threads when a pool is dropped from inside one
/// of its thread hooks: from `on_thread_stop`
/// (the thread no longer counts as a worker) `Drop` joins the pool and
/// waits for this very thread's exit; from `on_thread_start` (the thread is
/// a worker) `Drop` only shuts down and the workers wait for a join that
/// never comes. Either way every leaf must run and every thread exit.
#[test]
fn dropping_the_last_reference_in_a_hook_does_not_deadlock() {
    check_outcomes(
        "dropping_the_last_reference_in_a_hook_does_not_deadlock",
        DROP_IN_HOOK_OUTCOMES,
        false,
        drop_in_hook_scenario,
    );
}

// ---------------------------------------------------------------------------
// 6. Joining on a shut-down pool from another pool's worker
// ---------------------------------------------------------------------------

const SHUT_DOWN_JOIN_OUTCOMES: &[&str] = &[
    "a and then b ran on the calling worker of Q",
    "Q's other worker existed while a ran",
    "P had been shut down and joined",
    "P had only been shut down",
];

/// What the task on Q saw: its thread, and each closure's thread and
/// place in the order.
type Seen = (ThreadId, (ThreadId, usize), (ThreadId, usize), bool);

/// P (1 or 2 threads, one task run or not) is shut down, and joined or not;
/// then a task on Q (two threads) forks a `zap_pool::join` (which starts
/// or wakes Q's other worker) and calls `P.join(a, b)`, where `a` yields
/// so that Q's other worker has time to steal `b` if it was offered.
fn shut_down_join_scenario(outcomes: &Arc<Outcomes>) {
    let mut rng = thread_rng();
    let ledger = Ledger::new(6);
    let p = plain_pool("P", rng.gen_range(1..=2), &ledger);
    let q = plain_pool("Q", 2, &ledger);
    let (pp, qq) = (PoolRef::new(&p), PoolRef::new(&q));
    let p_task = rng.gen_bool(0.5);
    if p_task {
        let token = ledger.token(5);
        p.spawn(move || {
            token.run();
        })
        .unwrap();
    }
    p.shutdown();
    let joined = rng.gen_bool(0.5);
    if joined {
        p.join_workers();
    }
    let seen: Arc<Mutex<Option<Seen>>> = Arc::default();
    let (done, finished) = mpsc::channel::<()>();
    let (l, s) = (ledger.clone(), seen.clone());
    let x = ledger.token(0);
    q.spawn(move || {
        x.begin();
        let (t3, t4) = (l.token(3), l.token(4));
        zap_pool::join(move || t3.run(), move || t4.run());
        let caller = me();
        let order = AtomicUsize::new(0);
        let other_worker = AtomicBool::new(false);
        let (ta, tb) = (l.token(1), l.token(2));
        let (ra, rb) = pp.get().join(
            || {
                ta.run();
                for _ in 0..3 {
                    thread::yield_now();
                }
                other_worker.store(model::word(qq.get()).2 == 2, SeqCst);
                (me(), order.fetch_add(1, SeqCst))
            },
            || {
                tb.run();
                (me(), order.fetch_add(1, SeqCst))
            },
        );
        *s.lock().unwrap() = Some((caller, ra, rb, other_worker.load(SeqCst)));
        x.end();
        let _ = done.send(());
    })
    .unwrap();
    finished.recv().unwrap();
    drop(q);
    drop(p);

    ledger.check(|id| usize::from(id != 5 || p_task));
    let (caller, (a_on, a_at), (b_on, b_at), other_worker) =
        seen.lock().unwrap().expect("the task on Q reported");
    assert_eq!(a_on, caller, "a did not run on the calling worker of Q");
    assert_eq!(
        b_on, caller,
        "b did not run on the calling worker of Q (another worker of Q took it)"
    );
    assert_eq!((a_at, b_at), (0, 1), "a did not run before b");
    outcomes.hit("a and then b ran on the calling worker of Q");
    if other_worker {
        outcomes.hit("Q's other worker existed while a ran");
    }
    outcomes.hit(if joined {
        "P had been shut down and joined"
    } else {
        "P had only been shut down"
    });
}

/// Behaviour 6: `P.join(a, b)` on a shut-down pool P, from a task on a
/// worker of another pool Q. Guards against: a wrong result (not a hang),
/// the refused join falling back
/// to the free `zap_pool::join`, which on Q's worker forks `b` into Q's
/// join deque, where Q's other worker may steal it: the documented
/// behaviour is "`a` and then `b` on the calling thread".
#[test]
fn join_on_a_shut_down_pool_from_another_pools_worker_runs_inline() {
    check_outcomes(
        "join_on_a_shut_down_pool_from_another_pools_worker_runs_inline",
        SHUT_DOWN_JOIN_OUTCOMES,
        false,
        shut_down_join_scenario,
    );
}

// ---------------------------------------------------------------------------
// Found by the Spin model: a spawn on its way, a wait across a shutdown
// ---------------------------------------------------------------------------

const ON_ITS_WAY_OUTCOMES: &[&str] = &[
    "a spawn failed while the outside waiter waited",
    "the outside waiter ran the join itself",
    "a worker thread ran the join",
];

// Ids: the join's `a` (0) and `b` (1), the spawner's task (2).
const OW_IDS: usize = 3;

/// Clears the injected spawn failures when dropped (also when the
/// execution panics), so that none is left for a later execution or test.
struct NoMoreFailures;

impl Drop for NoMoreFailures {
    fn drop(&mut self) {
        model::fail_next_spawns(0);
    }
}

/// A one-thread pool on the default spawn path (`std::thread`'s place in
/// the model), whose next 1 to 3 spawns fail. Two threads outside the pool
/// race: a spawner spawns a task, and a driver calls `join` and waits. The
/// pool's first spawn, counted in the word before it is attempted, may be
/// the spawner's while the driver looks at the word, and then fail.
fn on_its_way_scenario(outcomes: &Arc<Outcomes>) {
    let mut rng = thread_rng();
    let failures = rng.gen_range(1..=3);
    let _clear = NoMoreFailures;
    model::fail_next_spawns(failures);
    let ledger = Ledger::new(OW_IDS);
    let waiting = Arc::new(AtomicBool::new(false));
    let failed_during_wait = Arc::new(AtomicBool::new(false));
    let reported = Arc::new(AtomicUsize::new(0));
    let (w, f, r, l) = (
        waiting.clone(),
        failed_during_wait.clone(),
        reported.clone(),
        ledger.clone(),
    );
    let pool = Box::new(
        ThreadPool::builder()
            .max_threads(1)
            .thread_name(|i| format!("w-{i}"))
            .spawn_error_handler(move |_| {
                r.fetch_add(1, SeqCst);
                if w.load(SeqCst) {
                    f.store(true, SeqCst);
                }
            })
            .panic_handler(move |payload| {
                l.problem(format!(
                    "a panic reached the pool's panic handler: {}",
                    describe(&*payload)
                ))
            })
            .build()
            .unwrap(),
    );
    let (pref, l) = (PoolRef::new(&pool), ledger.clone());
    let task = ledger.token(2);
    let spawner = thread::Builder::new()
        .name("spawner".into())
        .stack_size(DRIVER_STACK)
        .spawn(move || {
            if let Err(refused) = pref.get().spawn(move || {
                task.run();
            }) {
                drop(refused.into_inner());
                l.problem("the spawner's task was refused by a running pool".into());
            }
        })
        .unwrap();
    let (pref, l, w) = (PoolRef::new(&pool), ledger.clone(), waiting.clone());
    on_driver(move || {
        l.set_joiner();
        let (ta, tb) = (l.token(0), l.token(1));
        w.store(true, SeqCst);
        pref.get().join(
            move || {
                ta.run();
            },
            move || {
                tb.run();
            },
        );
        w.store(false, SeqCst);
    });
    spawner.join().unwrap();
    let on_waiter = ledger.ran_on_joiner(0);
    drop(pool);

    ledger.check(|_| 1);
    assert!(
        (1..=failures).contains(&reported.load(SeqCst)),
        "{} spawn failures reported, {failures} injected",
        reported.load(SeqCst)
    );
    if failed_during_wait.load(SeqCst) {
        outcomes.hit("a spawn failed while the outside waiter waited");
    }
    outcomes.hit(if on_waiter {
        "the outside waiter ran the join itself"
    } else {
        "a worker thread ran the join"
    });
}

/// Found by the Spin model (`docs/liveness.md`, F1). Guards against: a lost
/// wake-up of the spawn path (a hang). A waiter outside the pool that sees
/// a thread counted in the word but not registered trusted the default
/// spawn path to deliver it and blocked on its latch; but the count is
/// taken before `std::thread` is asked, which may still fail (EAGAIN), and
/// the failed spawner does not come back for the waiter's job. The waiter
/// must poll until the thread registers or its spawn fails, then retry or
/// run the job itself; every closure runs once and every failure is
/// reported.
#[test]
fn outside_waiter_survives_a_default_spawn_failing_meanwhile() {
    check_outcomes(
        "outside_waiter_survives_a_default_spawn_failing_meanwhile",
        ON_ITS_WAY_OUTCOMES,
        false,
        on_its_way_scenario,
    );
}

const SHUTDOWN_WAIT_OUTCOMES: &[&str] = &[
    "A's join was accepted and ran on A's worker after A shut down",
    "A's join ran on A's worker before A shut down",
    "A's join was refused and ran on B's worker",
];

// Ids: the task on A (0), A's join's `a` (1) and `b` (2), B's join's `b`
// (3).
const SW_IDS: usize = 4;

/// Two one-thread pools. A task on A calls `B.join(|| A.join(p, q), r)`:
/// A's only worker waits for B's work, and B's worker submits A's join
/// back to A, while the main thread drops A (shutdown, then
/// `join_workers`) at a random point. If A's join is accepted before the
/// shutdown, only A's worker, itself waiting inside a task, can run it.
fn shutdown_wait_scenario(outcomes: &Arc<Outcomes>) {
    let mut rng = thread_rng();
    let yields = rng.gen_range(0..=3);
    let ledger = Ledger::new(SW_IDS);
    let a = plain_pool("a", 1, &ledger);
    let b = plain_pool("b", 1, &ledger);
    let (aa, bb) = (PoolRef::new(&a), PoolRef::new(&b));
    let seen: Arc<Mutex<Option<(String, bool)>>> = Arc::default();
    let (l, s) = (ledger.clone(), seen.clone());
    let x = ledger.token(0);
    a.spawn(move || {
        x.begin();
        let (tp, tq, tr) = (l.token(1), l.token(2), l.token(3));
        bb.get().join(
            || {
                aa.get().join(
                    || {
                        tp.run();
                        let name = thread::current().name().unwrap_or("?").to_string();
                        *s.lock().unwrap() = Some((name, is_shut_down(aa.get())));
                    },
                    move || {
                        tq.run();
                    },
                )
            },
            move || {
                tr.run();
            },
        );
        x.end();
    })
    .unwrap();
    for _ in 0..yields {
        thread::yield_now();
    }
    drop(a);
    drop(b);

    ledger.check(|_| 1);
    let (on, after_shutdown) = seen.lock().unwrap().take().expect("p ran");
    outcomes.hit(match (on.as_str(), after_shutdown) {
        ("a-0", true) => "A's join was accepted and ran on A's worker after A shut down",
        ("a-0", false) => "A's join ran on A's worker before A shut down",
        ("b-0", _) => "A's join was refused and ran on B's worker",
        _ => panic!("p ran on {on}, neither A's worker nor B's"),
    });
}

/// Found by the Spin model (`docs/liveness.md`, F3). Guards against: a
/// worker waiting inside a task that stops serving its pool at shutdown (a
/// hang). A worker asleep in `wait_for` was woken by the shutdown and went
/// to block on its latch; but work accepted before the shutdown (here A's
/// join, submitted by B's worker) may be what that latch waits for, and
/// the worker is the pool's only thread: A's join never runs, B's worker
/// waits for it for ever, and `Drop` of A waits for A's worker. After
/// shutdown the waiter must keep searching its pool and sleep on the bell,
/// which every push after shutdown rings.
#[test]
fn a_worker_waiting_across_its_pools_shutdown_still_runs_its_work() {
    check_outcomes(
        "a_worker_waiting_across_its_pools_shutdown_still_runs_its_work",
        SHUTDOWN_WAIT_OUTCOMES,
        false,
        shutdown_wait_scenario,
    );
}

// ---------------------------------------------------------------------------
// Found on the way: a wait inside nested joins
// ---------------------------------------------------------------------------

const DEQUE_ORDER_OUTCOMES: &[&str] = &[
    "scope: a2 began to wait while b2 had not started",
    "handle: a2 began to wait for a started task while b2 had not started",
    "b2 did not run inside a2's wait",
];

// Ids: the scope task or handle task (0), the inner `b` (1), the outer
// `b` (2), the outer task (3).
const D_WAITED: usize = 0;
const D_B2: usize = 1;
const D_B1: usize = 2;
const D_OUTER: usize = 3;

/// Sends on the channel when dropped, also when the task unwinds, so that
/// the main thread gets to check the ledger instead of waiting for ever.
struct SendOnDrop(Option<mpsc::Sender<ThreadId>>, ThreadId);

impl Drop for SendOnDrop {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(self.1);
        }
    }
}

/// On two threads, a task runs `join(|| join(|| wait, b2), b1)` where
/// `wait` is a scope whose one task yields (or a handle of such a task,
/// joined): while `a2` waits, the worker's search may pop `b2`'s job from
/// its own join deque, and when `a2` returns the inner `join` pops again.
fn deque_order_scenario(outcomes: &Arc<Outcomes>) {
    let mut rng = thread_rng();
    let handle = rng.gen_bool(0.5);
    let ledger = Ledger::new(4);
    let pool = plain_pool("d", 2, &ledger);
    let pref = PoolRef::new(&pool);
    let (done, finished) = mpsc::channel();
    let l = ledger.clone();
    let a2_returned = Arc::new(AtomicBool::new(false));
    let b2_during_wait = Arc::new(AtomicBool::new(false));
    // The hazard's precondition: a2 began to wait (for a task that had
    // not ended) while b2's job was still in the worker's join deque.
    let hazard = Arc::new(AtomicBool::new(false));
    let (a2r, b2w, hz) = (a2_returned.clone(), b2_during_wait.clone(), hazard.clone());
    let outer = ledger.token(D_OUTER);
    pool.spawn(move || {
        let _done = SendOnDrop(Some(done), me());
        outer.begin();
        let (tw, t2, t1) = (l.token(D_WAITED), l.token(D_B2), l.token(D_B1));
        let waiter = me();
        let waited = move || {
            tw.begin();
            for _ in 0..3 {
                thread::yield_now();
            }
            tw.end();
        };
        zap_pool::join(
            || {
                zap_pool::join(
                    || {
                        if handle {
                            match pref.get().spawn_with_handle(waited) {
                                Ok(h) => {
                                    // Time for the other worker to start it.
                                    for _ in 0..2 {
                                        thread::yield_now();
                                    }
                                    if l.runs(D_WAITED) == 1
                                        && !l.ended(D_WAITED)
                                        && l.runs(D_B2) == 0
                                    {
                                        hz.store(true, SeqCst);
                                    }
                                    let _ = h.join();
                                }
                                Err(refused) => drop(refused.into_inner()),
                            }
                        } else {
                            pref.get().scope(|s| {
                                s.spawn(move |_| waited());
                                if !l.ended(D_WAITED) && l.runs(D_B2) == 0 {
                                    hz.store(true, SeqCst);
                                }
                            });
                        }
                        a2r.store(true, SeqCst);
                    },
                    || {
                        t2.run();
                        if me() == waiter && !a2r.load(SeqCst) {
                            b2w.store(true, SeqCst);
                        }
                    },
                )
            },
            move || t1.run(),
        );
        outer.end();
    })
    .unwrap();
    let _ = finished.recv();
    drop(pool);

    if b2_during_wait.load(SeqCst) {
        // Nothing else can run b2 on the waiter during a2's wait: no
        // other worker hands it back, and J2 keeps the wait's search off
        // its own join deque. (When a thief took b1 meanwhile, the
        // popped b2 leaves no other trace: every closure still runs once.)
        ledger.problem(
            "b2 ran on the waiter inside a2's wait: the wait popped its own join deque".into(),
        );
    }
    ledger.check(|_| 1);
    if hazard.load(SeqCst) {
        outcomes.hit(DEQUE_ORDER_OUTCOMES[usize::from(handle)]);
    }
    if !b2_during_wait.load(SeqCst) {
        outcomes.hit("b2 did not run inside a2's wait");
    }
}

/// Not one of the six behaviours above: found while writing these tests (the
/// generative test reaches it too). Guards against: a wait inside nested
/// joins breaking the join deque's order (`docs/fork_join.md`, J2): a
/// worker inside `join(|| join(|| wait, b2), b1)` whose wait (a scope's
/// end, a lost handle claim) searches its own join deque pops `b2`'s job,
/// the newest, and runs it; when `a2` returns, the inner `join` pops again
/// and gets the outer job, and its `assert!` ("the newest deque entry is
/// not this join's job") panics out of the task; the outer `join` then
/// finds its job gone and waits for ever for a job that nobody will run
/// (today: that panic, then a shuttle `deadlock`). The joins must complete,
/// each closure once, with no panic reaching the panic handler, and `b2`
/// must never run on the waiter during `a2`'s wait: when the other worker
/// has taken `b1` meanwhile, the popped `b2` leaves no other trace (the
/// inner `join` finds the deque empty, and `b2`'s latch already set).
#[test]
fn a_wait_inside_nested_joins_keeps_the_join_deque_in_order() {
    check_outcomes(
        "a_wait_inside_nested_joins_keeps_the_join_deque_in_order",
        DEQUE_ORDER_OUTCOMES,
        false,
        deque_order_scenario,
    );
}

// ---------------------------------------------------------------------------
// Random compositions of all of the above
// ---------------------------------------------------------------------------

const RANDOM_OUTCOMES: &[&str] = &[
    "a worker of one pool waited on another pool's work",
    "a thread spawn failed",
    "a pool's task ran on a thread that is not one of its workers",
    "a task waited outside the pool for a sibling",
    "three pools with nesting four deep",
];

/// Nodes of one program, at most (each node is a closure and a ledger id).
const MAX_NODES: usize = 20;
const MAX_DEPTH: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// Records its run.
    Leaf,
    /// `pool.spawn(kid)`, fire and forget (it runs before the pool's
    /// `join_workers` returns).
    Spawn,
    /// `pool.join(kid0, kid1)`.
    Join,
    /// `pool.scope` with each kid as a scope task.
    Scope,
    /// `pool.spawn_with_handle(kid)`, then `join`.
    Handle,
    /// On a worker of `pool` (which has two or more threads and a spawn
    /// handler that never fails), with one of the pool's `threads - 1`
    /// wait permits: `pool.spawn(kid)` and block on a channel until it ran.
    /// Otherwise the kid runs inline.
    Wait,
}

#[derive(Debug)]
struct Node {
    op: Op,
    pool: usize,
    kids: Vec<usize>,
}

/// A random program: pools (threads, spawn policy) and a tree of nodes,
/// node 0 the root.
#[derive(Debug)]
struct Program {
    pools: Vec<(usize, Policy)>,
    nodes: Vec<Node>,
}

impl Program {
    fn random(rng: &mut impl Rng) -> Self {
        let pools = (0..rng.gen_range(1..=3))
            .map(|_| (rng.gen_range(1..=3), Policy::any(rng)))
            .collect();
        let mut program = Program {
            pools,
            nodes: Vec::new(),
        };
        program.node(rng, 0, false);
        program
    }

    /// Adds a node at `depth` (and its subtree) and returns its index.
    /// `under_spawn`: a fire-and-forget task is above it, so it may run
    /// during a pool's drain, where an outside wait is not safe (a draining
    /// worker may leave before the sibling appears in the waiter's ring).
    fn node(&mut self, rng: &mut impl Rng, depth: usize, under_spawn: bool) -> usize {
        let idx = self.nodes.len();
        self.nodes.push(Node {
            op: Op::Leaf,
            pool: 0,
            kids: Vec::new(),
        });
        let op = if idx == 0 {
            [Op::Join, Op::Scope, Op::Handle][rng.gen_range(0..3)]
        } else if depth >= MAX_DEPTH || self.nodes.len() >= MAX_NODES {
            Op::Leaf
        } else {
            match rng.gen_range(0..12) {
                0..=2 => Op::Leaf,
                3 => Op::Spawn,
                4 | 5 => Op::Join,
                6 | 7 => Op::Scope,
                8 | 9 => Op::Handle,
                _ if under_spawn => Op::Join,
                _ => Op::Wait,
            }
        };
        let pool = rng.gen_range(0..self.pools.len());
        let kids = match op {
            Op::Leaf => 0,
            Op::Join => 2,
            Op::Scope => rng.gen_range(1..=3),
            Op::Spawn | Op::Handle | Op::Wait => 1,
        };
        let kids = (0..kids)
            .map(|_| self.node(rng, depth + 1, under_spawn || op == Op::Spawn))
            .collect();
        self.nodes[idx] = Node { op, pool, kids };
        idx
    }

    fn depth(&self, idx: usize) -> usize {
        1 + self.nodes[idx]
            .kids
            .iter()
            .map(|&k| self.depth(k))
            .max()
            .unwrap_or(0)
    }
}

std::thread_local! {
    /// The program of the execution that ran last on this OS thread (where
    /// shuttle runs every execution of a test): printed when one fails.
    static LAST_PROGRAM: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// One execution of a program.
struct Composition {
    program: Program,
    pools: Vec<PoolRef>,
    threads: Vec<Arc<Threads>>,
    ledger: Arc<Ledger>,
    /// Per pool: outside waits outstanding on its workers.
    waits: Vec<AtomicUsize>,
    crossed: AtomicBool,
    foreign: AtomicBool,
    waited: AtomicBool,
}

impl Composition {
    /// The pool whose worker the calling thread is, if any.
    fn worker_of(&self) -> Option<usize> {
        self.threads.iter().position(|t| t.is_worker())
    }

    /// At the start of a task submitted to `pool`.
    fn task_starts(&self, pool: usize) {
        if !self.threads[pool].is_worker() {
            self.foreign.store(true, SeqCst);
        }
    }

    /// Takes one of `pool`'s outside-wait permits, without blocking.
    fn take_wait_permit(&self, pool: usize) -> bool {
        let (threads, policy) = self.program.pools[pool];
        if threads < 2 || policy != Policy::Never || !self.threads[pool].is_worker() {
            return false;
        }
        self.waits[pool]
            .fetch_update(SeqCst, SeqCst, |n| (n + 1 < threads).then_some(n + 1))
            .is_ok()
    }
}

/// Runs node `idx`, whose token is `token`; returns `idx`.
fn exec(run: &Arc<Composition>, idx: usize, token: Token) -> usize {
    token.begin();
    let node = &run.program.nodes[idx];
    let p = node.pool;
    let pool = run.pools[p].get();
    if matches!(node.op, Op::Join | Op::Scope | Op::Handle | Op::Wait)
        && run.worker_of().is_some_and(|q| q != p)
    {
        run.crossed.store(true, SeqCst);
    }
    let ledger = &run.ledger;
    match node.op {
        Op::Leaf => {}
        Op::Join => {
            let (l, r) = (node.kids[0], node.kids[1]);
            let (tl, tr) = (ledger.token(l), ledger.token(r));
            let got = pool.join(|| exec(run, l, tl), || exec(run, r, tr));
            if got != (l, r) {
                ledger.problem(format!("node {idx}: join returned {got:?}"));
            }
        }
        Op::Scope => {
            pool.scope(|s| {
                for &k in &node.kids {
                    let t = ledger.token(k);
                    s.spawn(move |_| {
                        run.task_starts(p);
                        exec(run, k, t);
                    });
                }
            });
        }
        Op::Handle => {
            let (k, t, r) = (node.kids[0], ledger.token(node.kids[0]), run.clone());
            match pool.spawn_with_handle(move || {
                r.task_starts(p);
                exec(&r, k, t)
            }) {
                Ok(h) => match h.join() {
                    Ok(got) if got == k => {}
                    Ok(got) => ledger.problem(format!("node {idx}: handle returned {got}")),
                    Err(e) => ledger.problem(format!("node {idx}: handle: {}", describe(&*e))),
                },
                // Shut down (during the final drain): run it here.
                Err(refused) => {
                    refused.into_inner()();
                }
            }
        }
        Op::Spawn => {
            let (k, t, r) = (node.kids[0], ledger.token(node.kids[0]), run.clone());
            if let Err(refused) = pool.spawn(move || {
                r.task_starts(p);
                exec(&r, k, t);
            }) {
                refused.into_inner()();
            }
        }
        Op::Wait => {
            let (k, t) = (node.kids[0], ledger.token(node.kids[0]));
            if run.take_wait_permit(p) {
                let (tx, rx) = mpsc::channel::<()>();
                let r = run.clone();
                let task = move || {
                    exec(&r, k, t);
                    let _ = tx.send(());
                };
                match pool.spawn(task) {
                    Ok(()) => {
                        if rx.recv().is_err() {
                            ledger.problem(format!("node {idx}: the awaited sibling was dropped"));
                        }
                        run.waited.store(true, SeqCst);
                    }
                    Err(refused) => refused.into_inner()(),
                }
                run.waits[p].fetch_sub(1, SeqCst);
            } else {
                exec(run, k, t);
            }
        }
    }
    if node.op != Op::Spawn {
        // Every fork-join below this node has returned.
        for &k in &node.kids {
            if !ledger.ended(k) {
                ledger.problem(format!("node {idx}: kid {k} not done when it returned"));
            }
        }
    }
    token.end();
    idx
}

/// Builds a random program, runs its root from a driver thread (outside
/// every pool), then shuts every pool down and joins it, and checks that
/// every node ran exactly once and every thread exited.
fn random_scenario(outcomes: &Arc<Outcomes>) {
    let mut rng = thread_rng();
    let program = Program::random(&mut rng);
    LAST_PROGRAM.with(|p| *p.borrow_mut() = format!("{program:#?}"));
    let n = program.nodes.len();
    let ledger = Ledger::new(n);
    let threads: Vec<Arc<Threads>> = program.pools.iter().map(|_| Threads::new()).collect();
    let pools: Vec<Box<ThreadPool>> = program
        .pools
        .iter()
        .zip(&threads)
        .enumerate()
        .map(|(i, (&(max, policy), t))| {
            let builder = counted_pool(max, policy, t, &ledger);
            Box::new(
                builder
                    .thread_name(move |j| format!("p{i}-{j}"))
                    .build()
                    .unwrap(),
            )
        })
        .collect();
    let three_deep = program.pools.len() == 3 && program.depth(0) > MAX_DEPTH;
    let run = Arc::new(Composition {
        waits: program.pools.iter().map(|_| AtomicUsize::new(0)).collect(),
        program,
        pools: pools.iter().map(|p| PoolRef::new(p)).collect(),
        threads: threads.clone(),
        ledger: ledger.clone(),
        crossed: AtomicBool::new(false),
        foreign: AtomicBool::new(false),
        waited: AtomicBool::new(false),
    });
    let r = run.clone();
    let root = ledger.token(0);
    on_driver(move || {
        exec(&r, 0, root);
        r.ledger.assert_no_problems();
        for pool in &r.pools {
            pool.get().shutdown();
        }
        // Fire-and-forget tasks still run (or run here, as leftovers).
        for pool in &r.pools {
            pool.get().join_workers();
        }
    });
    let joined: Vec<usize> = threads.iter().map(|t| t.join_all()).collect();
    let flag = |f: &AtomicBool| f.load(SeqCst);
    let (crossed, foreign, waited) = (flag(&run.crossed), flag(&run.foreign), flag(&run.waited));
    drop(run);
    drop(pools);

    ledger.check(|_| 1);
    for (i, t) in threads.iter().enumerate() {
        t.check_spawns(&format!("pool {i}"));
        t.check_exits(&format!("pool {i}"), joined[i]);
    }
    if crossed {
        outcomes.hit("a worker of one pool waited on another pool's work");
    }
    if threads.iter().any(|t| t.failed.load(SeqCst) > 0) {
        outcomes.hit("a thread spawn failed");
    }
    if foreign {
        outcomes.hit("a pool's task ran on a thread that is not one of its workers");
    }
    if waited {
        outcomes.hit("a task waited outside the pool for a sibling");
    }
    if three_deep {
        outcomes.hit("three pools with nesting four deep");
    }
}

/// Random compositions of everything above. Per execution, `shuttle::rand`
/// builds a program: one to three pools of one to three threads, each with
/// a spawn handler that never fails, fails once, every other time or
/// always; a tree of up to 20 operations nested up to four deep (spawn,
/// join, scope, handle; each node on a random pool, so pools nest in each
/// other in any order), plus tasks that wait outside the pool (on a
/// channel) for a sibling they spawned, where that cannot deadlock by
/// construction (the pool has two or more threads, spawns that never fail,
/// and at most `threads - 1` such waits outstanding, taken as permits
/// without blocking; never below a fire-and-forget spawn). The root runs
/// from a thread outside every pool; then every pool is shut down and
/// joined. Every node must run exactly once, every closure be dropped
/// once, every spawn failure be reported, every thread exit, and nothing
/// hang.
///
/// Guards against: every hang above (and the join-deque bug) in
/// combinations that the scenario tests do not spell out. Iterations per scheduler come from
/// `SHUTTLE_ITERATIONS` (1,000 by default, as in CI); the long run is
///
/// ```text
/// SHUTTLE_ITERATIONS=100000 RUSTFLAGS="--cfg shuttle" \
///     cargo test --release --test shuttle_tests -- --exact liveness::random_compositions
/// ```
#[test]
fn random_compositions() {
    let started = std::time::Instant::now();
    let explored = panic::catch_unwind(|| {
        check_outcomes(
            "random_compositions",
            RANDOM_OUTCOMES,
            false,
            random_scenario,
        )
    });
    if let Err(payload) = explored {
        LAST_PROGRAM.with(|p| eprintln!("the program of the failing execution:\n{}", p.borrow()));
        panic::resume_unwind(payload);
    }
    println!(
        "random_compositions: {} + {} executions in {:.1?}",
        iterations(),
        iterations(),
        started.elapsed()
    );
}
