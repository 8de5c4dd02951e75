//! Fork-join on the whole pool under shuttle: `join` trees, nested scopes,
//! join handles, panics, shutdown racing fork-join from outside, a pool of
//! one thread, and spurious futex returns.
//!
//! As in `pool.rs`, every scenario runs inside the check closure with the
//! pool's workers as shuttle threads, and no assertion runs inside a task
//! (the pool would catch it): tasks write what they saw into a `Ledger`,
//! which the execution's main thread checks once the pool is gone. Every
//! task has an id that must run exactly as often as expected, and every
//! closure (and every `JoinHandle` result) carries a `Token`, so each
//! execution also checks that each one was dropped exactly once, whether it
//! ran or not. The pools' panic handlers record any panic that reaches them:
//! in these scenarios none may (a panic of a `join` side, a scope task or a
//! handle's task belongs to whoever waits for it).
//!
//! Waiting is the delicate part of fork-join. A worker that waits (for a
//! stolen `join` job, for the end of a scope, in `JoinHandle::join`) runs
//! other tasks of its pool and blocks on the awaited latch only when its
//! search finds nothing and every awaited task has started elsewhere.
//! Whether a waiter really slept is observed with the futex model's sleep
//! counter; see [`Watch`] for when that observation can be attributed.

use crate::common::{
    Ledger, PoolRef, Token, boom, boom_id, describe, is_shut_down, me, quiet_task_panics,
};
use crate::{Outcomes, check_outcomes};
use shuttle::rand::{Rng, thread_rng};
use shuttle::sync::mpsc;
use shuttle::thread::{self, ThreadId};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use zap_pool::{JoinHandle, ThreadPool, model};

// ---------------------------------------------------------------------------
// Helpers (those shared with `pool.rs` are in `common.rs`)
// ---------------------------------------------------------------------------

/// A pool whose panic handler reports every payload it receives as a
/// problem.
fn build(max_threads: usize, ledger: &Arc<Ledger>) -> Box<ThreadPool> {
    let ledger = ledger.clone();
    Box::new(
        ThreadPool::builder()
            .max_threads(max_threads)
            .panic_handler(move |payload| {
                ledger.problem(format!(
                    "a panic reached the pool's panic handler: {}",
                    describe(&*payload)
                ))
            })
            .build()
            .unwrap(),
    )
}

/// Sees whether a waiting worker slept on its latch while a task it awaits
/// ran on the other worker of a two-thread pool.
///
/// The futex model counts every wait that really slept, on any thread. A
/// sleep can be pinned on a waiter when the execution's main thread waits
/// on a shuttle channel (not a futex) and the pool has two workers: one
/// runs the awaited task, the other is inside the task that waits (so it is
/// not idle, and its only possible sleep is on a latch, its own or that of a
/// task it runs while it waits). The awaited task yields at its end, before
/// its latch is set, so that the waiter gets the chance to go to sleep.
struct Watch {
    before: Option<usize>,
}

impl Watch {
    /// `on`: the conditions above hold, and this task runs on another thread
    /// than the one waiting for it.
    fn start(on: bool) -> Self {
        Self {
            before: on.then(model::blocked_waits),
        }
    }

    fn saw_sleep(self) -> bool {
        let Some(before) = self.before else {
            return false;
        };
        for _ in 0..3 {
            thread::yield_now();
        }
        model::blocked_waits() > before
    }
}

/// Per-execution record of whether a waiting worker was seen asleep, and
/// whether the execution could see it at all.
#[derive(Default)]
struct Sleeps {
    watched: AtomicBool,
    slept: AtomicBool,
}

impl Sleeps {
    fn saw(&self, watch: Watch) {
        if watch.before.is_some() {
            self.watched.store(true, SeqCst);
            if watch.saw_sleep() {
                self.slept.store(true, SeqCst);
            }
        }
    }

    fn report(&self, outcomes: &Outcomes, slept: &str, never: &str) {
        if self.slept.load(SeqCst) {
            outcomes.hit(slept);
        } else if self.watched.load(SeqCst) {
            outcomes.hit(never);
        }
    }
}

// ---------------------------------------------------------------------------
// Join trees
// ---------------------------------------------------------------------------

const TREE_OUTCOMES: &[&str] = &[
    "a join job was stolen",
    "a join job was taken back and run inline",
    "a worker waiting for a stolen job slept on its latch",
    "no worker waiting for a stolen job slept",
];

struct TreeCtx {
    ledger: Arc<Ledger>,
    outcomes: Arc<Outcomes>,
    /// Whether `Watch` may attribute sleeps now (see there).
    watch: AtomicBool,
    sleeps: Sleeps,
}

/// The leaves `first..first + 2^depth` of a binary tree of `zap_pool::join`
/// calls. Each leaf writes its id + 1 into its slot of `out`, which is
/// borrowed from the frame that started the tree, and the tree returns the
/// sum of its leaf ids.
fn join_tree(ctx: &TreeCtx, depth: u32, first: usize, out: &mut [usize]) -> usize {
    if depth == 0 {
        ctx.ledger.run(first);
        out[0] = first + 1;
        return first;
    }
    let half = 1 << (depth - 1);
    let (lo, hi) = out.split_at_mut(half);
    let caller = me();
    let (l, r) = zap_pool::join(
        || join_tree(ctx, depth - 1, first, lo),
        || {
            let stolen = me() != caller;
            let watch = Watch::start(stolen && ctx.watch.load(SeqCst));
            let sum = join_tree(ctx, depth - 1, first + half, hi);
            if stolen {
                ctx.outcomes.hit("a join job was stolen");
            } else {
                ctx.outcomes.hit("a join job was taken back and run inline");
            }
            ctx.sleeps.saw(watch);
            sum
        },
    );
    l + r
}

/// Records a problem unless `out` holds `first + i + 1` at each `i` and `sum`
/// is the sum of the ids.
fn check_tree(ledger: &Ledger, first: usize, out: &[usize], sum: usize) {
    let ids = first..first + out.len();
    if sum != ids.clone().sum::<usize>() {
        ledger.problem(format!("tree at {first}: sum {sum}"));
    }
    for (i, (&got, id)) in out.iter().zip(ids).enumerate() {
        if got != id + 1 {
            ledger.problem(format!("tree at {first}: slot {i} holds {got}"));
        }
    }
}

/// A join tree of depth 3 to 5 started inside a task (with
/// `ThreadPool::join` on a worker of its own pool, the fast path, and
/// `zap_pool::join` below it), then another one from outside the pool with
/// `ThreadPool::join`, on 2 to 4 threads.
fn join_tree_scenario(outcomes: &Arc<Outcomes>) {
    let mut rng = thread_rng();
    let max_threads = rng.gen_range(2..=4);
    let depth: u32 = rng.gen_range(3..=5);
    let leaves = 1usize << depth;
    let half = leaves / 2;
    let ledger = Ledger::new(2 * leaves);
    let pool = build(max_threads, &ledger);
    let pref = PoolRef::new(&pool);
    let ctx = Arc::new(TreeCtx {
        ledger: ledger.clone(),
        outcomes: outcomes.clone(),
        watch: AtomicBool::new(max_threads == 2),
        sleeps: Sleeps::default(),
    });

    // Inside: the main thread waits on a channel, not on a futex.
    let (done, finished) = mpsc::channel();
    let c = ctx.clone();
    pool.spawn(move || {
        let mut out = vec![0; leaves];
        let (lo, hi) = out.split_at_mut(half);
        let (l, r) = pref.get().join(
            || join_tree(&c, depth - 1, 0, lo),
            || join_tree(&c, depth - 1, half, hi),
        );
        check_tree(&c.ledger, 0, &out, l + r);
        done.send(()).unwrap();
    })
    .unwrap();
    finished.recv().unwrap();
    ctx.ledger
        .expect_done(0..leaves, "when the inner tree returned");

    // Outside: this thread blocks on the latch of the job that carries the
    // whole join into the pool.
    ctx.watch.store(false, SeqCst);
    let mut out = vec![0; leaves];
    let (lo, hi) = out.split_at_mut(half);
    let (l, r) = pool.join(
        || join_tree(&ctx, depth - 1, leaves, lo),
        || join_tree(&ctx, depth - 1, leaves + half, hi),
    );
    check_tree(&ledger, leaves, &out, l + r);
    ledger.expect_done(leaves..2 * leaves, "when ThreadPool::join returned");

    // Outside any pool, no worker index (the free `join` would run on the
    // global pool here, whose threads outlive the execution).
    assert_eq!(zap_pool::current_thread_index(), None);

    drop(pool);
    ledger.check(|_| 1);
    ctx.sleeps.report(
        outcomes,
        "a worker waiting for a stolen job slept on its latch",
        "no worker waiting for a stolen job slept",
    );
}

/// Guards against a join job run twice or never (the owner takes back a job
/// that a thief also took, or neither runs it), against use of a stack job
/// after its frame returned (the owner returns from `join` before the
/// thief's run of its job ended: the leaves' slots, borrowed from the
/// frame, must all be written when `join` returns), and against a lost
/// wake-up on a join latch (an owner that slept while its job was stolen
/// must be woken, and so must the outside caller of `ThreadPool::join`,
/// which sleeps on the latch of the job that carries the whole join).
/// Kills: `fj-join-runs-stolen-b-inline`, `fj-latch-set-no-wake`.
#[test]
fn join_trees_run_every_leaf_once() {
    check_outcomes(
        "join_trees_run_every_leaf_once",
        TREE_OUTCOMES,
        false,
        join_tree_scenario,
    );
}

// ---------------------------------------------------------------------------
// Lazy forks: trees mixing `join_lazy` and `join`
// ---------------------------------------------------------------------------

const LAZY_OUTCOMES: &[&str] = &[
    "a nested lazy fork was stolen",
    "a nested lazy fork ran on its owner",
    "an eager join sat above a lazy fork",
];

/// The leaves `first..first + 2^depth` of a tree whose level `d` forks
/// with `join_lazy` if bit `d` of `lazy` is set, else with `join`; leaves
/// write their slots as in `join_tree`. `nested` says whether a lazy fork
/// of this thread encloses this call (so that a lazy fork here is hidden
/// until promoted).
fn mixed_tree(
    ctx: &TreeCtx,
    depth: u32,
    first: usize,
    out: &mut [usize],
    lazy: u32,
    nested: bool,
) -> usize {
    if depth == 0 {
        ctx.ledger.run(first);
        out[0] = first + 1;
        return first;
    }
    let half = 1 << (depth - 1);
    let (lo, hi) = out.split_at_mut(half);
    let caller = me();
    let is_lazy = lazy & (1 << depth) != 0;
    if !is_lazy && nested {
        ctx.outcomes.hit("an eager join sat above a lazy fork");
    }
    let a = || mixed_tree(ctx, depth - 1, first, lo, lazy, nested || is_lazy);
    let b = || {
        // A thief's own stack holds none of this thread's forks.
        let here = me() == caller;
        let sum = mixed_tree(
            ctx,
            depth - 1,
            first + half,
            hi,
            lazy,
            (nested || is_lazy) && here,
        );
        if is_lazy && nested {
            ctx.outcomes.hit(if me() != caller {
                "a nested lazy fork was stolen"
            } else {
                "a nested lazy fork ran on its owner"
            });
        }
        sum
    };
    let (l, r) = if is_lazy {
        zap_pool::join_lazy(a, b)
    } else {
        zap_pool::join(a, b)
    };
    l + r
}

/// A tree of depth 4 or 5 inside the pool, its levels forking with
/// `join_lazy` or `join` as a random mask says, on 2 or 3 threads.
fn lazy_tree_scenario(outcomes: &Arc<Outcomes>) {
    let mut rng = thread_rng();
    let max_threads = rng.gen_range(2..=3);
    let depth: u32 = rng.gen_range(4..=5);
    let lazy: u32 = rng.gen_range(0..(1u32 << (depth + 1)));
    let leaves = 1usize << depth;
    let ledger = Ledger::new(leaves);
    let pool = build(max_threads, &ledger);
    let ctx = Arc::new(TreeCtx {
        ledger: ledger.clone(),
        outcomes: outcomes.clone(),
        watch: AtomicBool::new(false),
        sleeps: Sleeps::default(),
    });
    let (done, finished) = mpsc::channel();
    let c = ctx.clone();
    pool.spawn(move || {
        let mut out = vec![0; leaves];
        let sum = mixed_tree(&c, depth, 0, &mut out, lazy, false);
        check_tree(&c.ledger, 0, &out, sum);
        done.send(()).unwrap();
    })
    .unwrap();
    finished.recv().unwrap();
    ledger.expect_done(0..leaves, "when the tree returned");
    drop(pool);
    ledger.check(|_| 1);
}

/// Guards against lazy forks run twice or never, or popped out of order,
/// in the whole pool: a promoted fork taken back by its owner as its own
/// while a thief also runs it, a promotion of the newest hidden fork
/// instead of the oldest, and an eager `join` pushed above a hidden lazy
/// fork (whose later promotion hands the eager join's pop the wrong job:
/// the pool's assertion panics a worker, and the tree never completes).
/// Kills: `fork-stack-pop-private`, `fork-stack-promote-all-noop`.
#[test]
fn trees_of_lazy_and_eager_joins_run_every_leaf_once() {
    check_outcomes(
        "trees_of_lazy_and_eager_joins_run_every_leaf_once",
        LAZY_OUTCOMES,
        false,
        lazy_tree_scenario,
    );
}

/// The join trees with spurious futex returns: every latch wait (the outside
/// caller's, and a worker's once its search is empty) must re-check the
/// latch instead of trusting a return from the futex.
#[test]
fn join_trees_with_spurious_futex_returns() {
    check_outcomes(
        "join_trees_with_spurious_futex_returns",
        TREE_OUTCOMES,
        true,
        join_tree_scenario,
    );
}

// ---------------------------------------------------------------------------
// Scopes
// ---------------------------------------------------------------------------

const SCOPE_OUTCOMES: &[&str] = &[
    "a scope task ran on the worker waiting for its scope",
    "a scope task ran on another thread than its scope's waiter",
    "a child spawned into its parent's scope ran on another thread",
    "a worker waiting for its scope slept on the latch",
    "no worker waiting for its scope slept",
];

struct ScopeCtx {
    ledger: Arc<Ledger>,
    outcomes: Arc<Outcomes>,
    /// Whether `Watch` may attribute sleeps now (see there).
    watch: AtomicBool,
    sleeps: Sleeps,
}

impl ScopeCtx {
    /// The start of scope task `id`, whose scope is waited for on `waiter`.
    fn begin(&self, id: usize, waiter: ThreadId) -> Watch {
        self.ledger.begin(id);
        let here = me() == waiter;
        self.outcomes.hit(if here {
            "a scope task ran on the worker waiting for its scope"
        } else {
            "a scope task ran on another thread than its scope's waiter"
        });
        Watch::start(!here && self.watch.load(SeqCst))
    }

    fn end(&self, id: usize, watch: Watch) {
        self.sleeps.saw(watch);
        self.ledger.end(id);
    }
}

/// Ids one `scope_tree` uses.
const SCOPE_IDS: usize = 11;

/// One scope, opened on `pool` by the calling thread, with ids
/// `base..base + SCOPE_IDS` (offsets below):
/// * tasks 0 and 1 each write a slot of this frame's `marks` and spawn a
///   child (2, 3) into the same scope, which writes another slot;
/// * task 4 joins leaves 5 and 6 inside the scope;
/// * task 7 opens a nested scope and waits for it: there task 8 spawns 9
///   into the nested scope and task 10 runs beside them; each writes a slot
///   of task 7's frame, which task 7 checks when the nested scope returns.
///
/// When the scope returns this checks that all of them ran once, ended, and
/// wrote their slots.
fn scope_tree(ctx: &ScopeCtx, pool: &ThreadPool, base: usize) {
    let waiter = me();
    let mut marks = [0usize; 4];
    let (parents, children) = marks.split_at_mut(2);
    pool.scope(|s| {
        for (i, (mark, child_mark)) in parents.iter_mut().zip(children.iter_mut()).enumerate() {
            let (id, child) = (base + i, base + 2 + i);
            s.spawn(move |s| {
                let watch = ctx.begin(id, waiter);
                *mark = id + 1;
                let parent = me();
                s.spawn(move |_| {
                    let watch = ctx.begin(child, waiter);
                    *child_mark = child + 1;
                    if me() != parent {
                        ctx.outcomes
                            .hit("a child spawned into its parent's scope ran on another thread");
                    }
                    ctx.end(child, watch);
                });
                ctx.end(id, watch);
            });
        }
        s.spawn(move |_| {
            let watch = ctx.begin(base + 4, waiter);
            zap_pool::join(|| ctx.ledger.run(base + 5), || ctx.ledger.run(base + 6));
            ctx.end(base + 4, watch);
        });
        s.spawn(move |_| {
            let watch = ctx.begin(base + 7, waiter);
            let inner_waiter = me();
            let mut inner = [0usize; 3];
            let [a, b, c] = &mut inner;
            pool.scope(|s| {
                s.spawn(move |s| {
                    let watch = ctx.begin(base + 8, inner_waiter);
                    *a = base + 9;
                    s.spawn(move |_| {
                        let watch = ctx.begin(base + 9, inner_waiter);
                        *b = base + 10;
                        ctx.end(base + 9, watch);
                    });
                    ctx.end(base + 8, watch);
                });
                s.spawn(move |_| {
                    let watch = ctx.begin(base + 10, inner_waiter);
                    *c = base + 11;
                    ctx.end(base + 10, watch);
                });
            });
            ctx.ledger
                .expect_done(base + 8..base + 11, "when a nested scope returned");
            if inner != [base + 9, base + 10, base + 11] {
                ctx.ledger
                    .problem(format!("nested scope at {base}: its frame holds {inner:?}"));
            }
            ctx.end(base + 7, watch);
        });
    });
    ctx.ledger
        .expect_done(base..base + SCOPE_IDS, "when a scope returned");
    if marks != [base + 1, base + 2, base + 3, base + 4] {
        ctx.ledger
            .problem(format!("scope at {base}: its frame holds {marks:?}"));
    }
}

/// A `scope_tree` opened from outside the pool, then one opened inside a
/// task (its waiter is a worker), on 2 to 4 threads.
fn scope_scenario(outcomes: &Arc<Outcomes>) {
    let max_threads = thread_rng().gen_range(2..=4);
    let ledger = Ledger::new(2 * SCOPE_IDS);
    let pool = build(max_threads, &ledger);
    let pref = PoolRef::new(&pool);
    let ctx = Arc::new(ScopeCtx {
        ledger: ledger.clone(),
        outcomes: outcomes.clone(),
        watch: AtomicBool::new(false),
        sleeps: Sleeps::default(),
    });

    // From outside: a scope that returned early is reported right here,
    // before its tasks run on in a frame that is gone.
    scope_tree(&ctx, &pool, SCOPE_IDS);
    ledger.assert_no_problems();

    // Inside: the main thread waits on a channel, not on a futex.
    ctx.watch.store(max_threads == 2, SeqCst);
    let (done, finished) = mpsc::channel();
    let c = ctx.clone();
    pool.spawn(move || {
        scope_tree(&c, pref.get(), 0);
        done.send(()).unwrap();
    })
    .unwrap();
    finished.recv().unwrap();

    drop(pool);
    ledger.check(|_| 1);
    ctx.sleeps.report(
        outcomes,
        "a worker waiting for its scope slept on the latch",
        "no worker waiting for its scope slept",
    );
}

/// Guards against a scope returning before its tasks (every task, those
/// spawned into the scope by other tasks and those of a nested scope
/// included, must have run and ended, and written its slot of the frame it
/// borrows, when the scope returns), against a task run twice or never,
/// against a lost wake-up on the scope's latch (the waiter, a worker inside
/// a task or the outside caller, may sleep only to be woken by the last
/// task), and against a worker sleeping while a task of its scope is only
/// queued (nested scopes must not deadlock). Waiting workers must also run
/// the scope's tasks themselves.
/// Kills: `fj-scope-returns-without-waiting`, `fj-latch-set-no-wake`.
#[test]
fn nested_scopes_wait_for_every_task() {
    check_outcomes(
        "nested_scopes_wait_for_every_task",
        SCOPE_OUTCOMES,
        false,
        scope_scenario,
    );
}

/// The scope scenario with spurious futex returns: a scope's waiter that
/// returns from the futex without a wake-up must look at the latch again.
#[test]
fn nested_scopes_with_spurious_futex_returns() {
    check_outcomes(
        "nested_scopes_with_spurious_futex_returns",
        SCOPE_OUTCOMES,
        true,
        scope_scenario,
    );
}

// ---------------------------------------------------------------------------
// A pool of one thread
// ---------------------------------------------------------------------------

const ONE_THREAD_OUTCOMES: &[&str] = &[
    "the only worker claimed an outside handle's task and ran it inline",
    "an outside handle's task had run before the only worker joined it",
];

/// Ids of the one-thread scenario: three scope trees, then the rest.
const ONE_LEAF_A: usize = 3 * SCOPE_IDS;
const ONE_LEAF_B: usize = ONE_LEAF_A + 1;
const ONE_INNER_HANDLE: usize = ONE_LEAF_A + 2;
const ONE_OUTER_HANDLE: usize = ONE_LEAF_A + 3;
const ONE_OUTSIDE_LEAF: usize = ONE_LEAF_A + 4;
const ONE_IDS: usize = ONE_LEAF_A + 5;

/// A pool of one thread:
/// * a task joins a handle spawned from outside (before the task, or after
///   it and passed to it on a channel), runs `ThreadPool::join` whose first
///   side opens a scope tree and whose second side joins again, and joins a
///   handle it spawned itself (necessarily inline: no other thread exists);
/// * from outside, `ThreadPool::join` whose first side opens a scope tree,
///   and a scope tree opened from outside.
fn one_thread_scenario(outcomes: &Arc<Outcomes>) {
    let handle_first = thread_rng().gen_bool(0.5);
    let ledger = Ledger::new(ONE_IDS);
    let pool = build(1, &ledger);
    let pref = PoolRef::new(&pool);
    // Where the scope tasks ran is checked below instead: on one thread a
    // child never runs on another thread than its parent.
    let ctx = Arc::new(ScopeCtx {
        ledger: ledger.clone(),
        outcomes: Outcomes::new(SCOPE_OUTCOMES),
        watch: AtomicBool::new(false),
        sleeps: Sleeps::default(),
    });
    // Set while the worker is inside `JoinHandle::join` of the outside handle.
    let joining = Arc::new(AtomicBool::new(false));

    let outside_handle = |ledger: &Arc<Ledger>| {
        let token = ledger.token(ONE_OUTER_HANDLE);
        let joining = joining.clone();
        pool.spawn_with_handle(move || {
            token.run();
            joining.load(SeqCst)
        })
        .unwrap()
    };

    let (handles, handle) = mpsc::channel::<JoinHandle<bool>>();
    let (done, finished) = mpsc::channel();
    let early = handle_first.then(|| outside_handle(&ledger));
    let (c, j, o) = (ctx.clone(), joining.clone(), outcomes.clone());
    pool.spawn(move || {
        let ledger = &c.ledger;
        let outer = handle.recv().unwrap();
        j.store(true, SeqCst);
        let inline = outer.join();
        j.store(false, SeqCst);
        match inline {
            Ok(true) => o.hit("the only worker claimed an outside handle's task and ran it inline"),
            Ok(false) => o.hit("an outside handle's task had run before the only worker joined it"),
            Err(p) => ledger.problem(format!("outer handle: {}", describe(&*p))),
        }
        pref.get().join(
            || scope_tree(&c, pref.get(), 0),
            || zap_pool::join(|| ledger.run(ONE_LEAF_A), || ledger.run(ONE_LEAF_B)),
        );
        let token = ledger.token(ONE_INNER_HANDLE);
        let worker = me();
        let inner = pref
            .get()
            .spawn_with_handle(move || {
                token.run();
                me()
            })
            .unwrap();
        match inner.join() {
            Ok(ran_on) if ran_on == worker => {}
            Ok(_) => ledger.problem("a 1-thread pool ran a handle elsewhere".into()),
            Err(p) => ledger.problem(format!("inner handle: {}", describe(&*p))),
        }
        done.send(()).unwrap();
    })
    .unwrap();
    let late = (!handle_first).then(|| outside_handle(&ledger));
    handles.send(early.or(late).unwrap()).unwrap();
    finished.recv().unwrap();

    pool.join(
        || scope_tree(&ctx, &pool, SCOPE_IDS),
        || ledger.run(ONE_OUTSIDE_LEAF),
    );
    scope_tree(&ctx, &pool, 2 * SCOPE_IDS);

    drop(pool);
    ledger.check(|_| 1);
    let worker = ledger.ran_on(ONE_LEAF_A);
    assert!(worker.is_some() && worker != Some(me()));
    for id in 0..ONE_IDS {
        assert_eq!(ledger.ran_on(id), worker, "id {id} ran on another thread");
    }
}

/// Guards against a worker sleeping while its awaited task is only queued,
/// and against a waiter that never helps: with one thread, every scope task,
/// join side and handle's task that a worker waits for can only run on that
/// worker, so a waiter that does not run them itself (from its own ring or
/// join deque, or by claiming a handle's task) deadlocks, or spins until
/// shuttle's step bound. Also against a lost wake-up on the latch that the
/// outside caller of `ThreadPool::join` or `ThreadPool::scope` sleeps on.
/// The handle spawned from outside must be claimed by the worker that joins
/// it unless it has run already.
/// Kills: `fj-wait-for-never-helps`, `fj-latch-set-no-wake`.
#[test]
fn one_thread_pool_nests_scopes_joins_and_handles() {
    check_outcomes(
        "one_thread_pool_nests_scopes_joins_and_handles",
        ONE_THREAD_OUTCOMES,
        false,
        one_thread_scenario,
    );
}

// ---------------------------------------------------------------------------
// Join handles
// ---------------------------------------------------------------------------

const HANDLE_OUTCOMES: &[&str] = &[
    "a worker claimed a handle's task and ran it inline",
    "a worker waited for a handle's task running elsewhere",
    "a handle's task had finished before its join",
    "the outside joiner found its task finished",
    "the outside joiner waited",
    "a worker waiting for a handle slept on its latch",
    "no worker waiting for a handle slept",
];

/// Handle ids; results use `id + RESULTS`.
const H_OUT_JOINED: usize = 0;
const H_OUT_DROPPED: usize = 1;
const H_OUT_TO_WORKER: usize = 2;
const H_IN_OLD: usize = 3;
const H_IN_NEW: usize = 4;
const H_IN_DROPPED: usize = 5;
const HANDLES: usize = 6;
const RESULTS: usize = HANDLES;

struct HandleCtx {
    ledger: Arc<Ledger>,
    outcomes: Arc<Outcomes>,
    /// Per handle: the thread inside its `join`, if any.
    joining: Vec<Mutex<Option<ThreadId>>>,
    /// The thread of the task that joins handles, once it runs.
    joiner_task: Mutex<Option<ThreadId>>,
    watch: AtomicBool,
    sleeps: Sleeps,
}

/// What a handle's task returns: its id, whether it ran inside its joiner's
/// `join` on the joiner's thread (claimed inline), and a token for the
/// result itself.
type Output = (usize, bool, Token);

fn handle_task(ctx: &Arc<HandleCtx>, id: usize) -> impl FnOnce() -> Output + Send + 'static {
    let token = ctx.ledger.token(id);
    let ctx = ctx.clone();
    move || {
        token.begin();
        let joiner = *ctx.joining[id].lock().unwrap();
        let inline = joiner == Some(me());
        // Only the handles that the joining task joins are watched, and
        // only on the other worker while that task runs (it is then either
        // busy or waiting on a latch).
        let awaited = matches!(id, H_OUT_TO_WORKER | H_IN_OLD | H_IN_NEW);
        let task = *ctx.joiner_task.lock().unwrap();
        let elsewhere = task.is_some() && task != Some(me());
        let watch = Watch::start(awaited && elsewhere && ctx.watch.load(SeqCst));
        token.end();
        ctx.sleeps.saw(watch);
        (id, inline, ctx.ledger.token(id + RESULTS))
    }
}

/// Joins `handle` (of task `id`) and records how: claimed inline, waited for
/// a task running elsewhere, or found finished.
fn join_handle(ctx: &HandleCtx, id: usize, handle: JoinHandle<Output>) {
    let finished = handle.is_finished();
    *ctx.joining[id].lock().unwrap() = Some(me());
    let result = handle.join();
    *ctx.joining[id].lock().unwrap() = None;
    match result {
        Ok((got, inline, result_token)) => {
            if got != id {
                ctx.ledger
                    .problem(format!("handle {id} returned the result of {got}"));
            }
            if inline {
                ctx.outcomes
                    .hit("a worker claimed a handle's task and ran it inline");
            } else if finished {
                ctx.outcomes
                    .hit("a handle's task had finished before its join");
            } else if ctx.ledger.ran_on(id) != Some(me()) {
                ctx.outcomes
                    .hit("a worker waited for a handle's task running elsewhere");
            }
            drop(result_token);
        }
        Err(p) => ctx
            .ledger
            .problem(format!("handle {id}: {}", describe(&*p))),
    }
    ctx.ledger
        .expect_done(id..id + 1, "when JoinHandle::join returned");
}

/// On 2 or 3 threads, from outside: one handle joined by the main thread,
/// one dropped at once, one passed to a task. The task spawns two handles of
/// its own and joins them (newest first), joins the one from outside, and
/// spawns a last one whose handle it drops.
fn handle_scenario(outcomes: &Arc<Outcomes>) {
    let max_threads = thread_rng().gen_range(2..=3);
    let ledger = Ledger::new(2 * HANDLES);
    let pool = build(max_threads, &ledger);
    let pref = PoolRef::new(&pool);
    let ctx = Arc::new(HandleCtx {
        ledger: ledger.clone(),
        outcomes: outcomes.clone(),
        joining: (0..HANDLES).map(|_| Mutex::new(None)).collect(),
        joiner_task: Mutex::new(None),
        watch: AtomicBool::new(max_threads == 2),
        sleeps: Sleeps::default(),
    });
    let spawn = |pool: &ThreadPool, id| {
        pool.spawn_with_handle(handle_task(&ctx, id))
            .unwrap_or_else(|_| panic!("handle {id} refused by a running pool"))
    };

    let joined = spawn(&pool, H_OUT_JOINED);
    drop(spawn(&pool, H_OUT_DROPPED));
    let to_worker = spawn(&pool, H_OUT_TO_WORKER);
    let (done, finished) = mpsc::channel();
    let c = ctx.clone();
    pool.spawn(move || {
        *c.joiner_task.lock().unwrap() = Some(me());
        let spawn = |id| match pref.get().spawn_with_handle(handle_task(&c, id)) {
            Ok(handle) => Some(handle),
            Err(_) => {
                c.ledger
                    .problem(format!("handle {id} refused to a task of the pool"));
                None
            }
        };
        let old = spawn(H_IN_OLD);
        let new = spawn(H_IN_NEW);
        for (id, handle) in [(H_IN_NEW, new), (H_IN_OLD, old)] {
            if let Some(handle) = handle {
                join_handle(&c, id, handle);
            }
        }
        join_handle(&c, H_OUT_TO_WORKER, to_worker);
        drop(spawn(H_IN_DROPPED));
        done.send(()).unwrap();
    })
    .unwrap();
    finished.recv().unwrap();

    ctx.watch.store(false, SeqCst);
    let was_finished = joined.is_finished();
    match joined.join() {
        Ok((H_OUT_JOINED, false, _)) => {}
        Ok((got, inline, _)) => panic!("outside join: result of {got}, inline {inline}"),
        Err(p) => panic!("outside join: {}", describe(&*p)),
    }
    ledger.expect_done(H_OUT_JOINED..H_OUT_JOINED + 1, "outside join");
    outcomes.hit(if was_finished {
        "the outside joiner found its task finished"
    } else {
        "the outside joiner waited"
    });

    drop(pool);
    // Every task ran once, dropped handles' too; every result was made once
    // and dropped once (by its joiner, or with the task when the handle was
    // dropped).
    ledger.check(|id| usize::from(id < HANDLES));
    for id in 0..HANDLES {
        assert_eq!(ledger.made(id + RESULTS), 1, "result {id}");
    }
    ctx.sleeps.report(
        outcomes,
        "a worker waiting for a handle slept on its latch",
        "no worker waiting for a handle slept",
    );
}

/// Guards against a handle's task run twice or never (the claim decides
/// between the task callback and a worker that joins it first: both must
/// not run the closure, and one must), against a result or a closure leaked
/// or dropped twice when a handle is dropped before, during or after its
/// task runs (the allocation is freed by whichever side lets go last),
/// against a join that returns before the result is written, and against a
/// lost wake-up on a handle's latch (an outside joiner, or a worker whose
/// claim lost to a task running elsewhere, may sleep on it).
/// Kills: `fj-handle-claim-not-a-cas`. (It also fails with
/// `fj-latch-set-no-wake` in a plain release build, but not in the
/// mutation runner's incremental build: the three other tests named there
/// kill that one.)
#[test]
fn join_handles_run_once_whoever_joins_or_drops_them() {
    check_outcomes(
        "join_handles_run_once_whoever_joins_or_drops_them",
        HANDLE_OUTCOMES,
        false,
        handle_scenario,
    );
}

// ---------------------------------------------------------------------------
// Panics
// ---------------------------------------------------------------------------

const PANIC_OUTCOMES: &[&str] = &[
    "a panicked; b had been stolen and finished first",
    "a panicked; b was not stolen and ran after it",
    "b panicked on a thief",
    "b panicked inline",
    "a scope re-raised a task's panic",
    "a scope re-raised its body's panic",
    "a panicking handle's task was claimed inline",
    "a panicking handle's task ran elsewhere",
];

// Ids: a join inside a task, a join from outside, a scope inside a task
// (tasks 4 to 6 and the child 7), a scope from outside (tasks 8 to 10), two
// handles.
const P_IN_A: usize = 0;
const P_OUT_A: usize = 2;
const P_SCOPE: usize = 4;
const P_SCOPE_CHILD: usize = 7;
const P_OUT_SCOPE: usize = 8;
const P_IN_HANDLE: usize = 11;
const P_OUT_HANDLE: usize = 12;
const P_IDS: usize = 13;
/// The payload of a scope body's panic.
const BODY: usize = 99;

/// `join(a, b)` through `join` (`zap_pool::join` on a worker, or
/// `ThreadPool::join` from outside), with ids `first` (a) and `first + 1` (b);
/// `panics` says which side panics (bit 0: a, bit 1: b). Both sides yield
/// before they end, so that b can be stolen while a runs, and a can end
/// while b runs elsewhere. Checks, when the panic comes out, that it is the
/// right one, that a ran to its end, and that b either ran to its end or
/// (only if a panicked) never ran; either way both closures are gone.
fn panicking_join(
    ledger: &Arc<Ledger>,
    outcomes: &Outcomes,
    first: usize,
    panics: u8,
    join: impl FnOnce(Box<dyn FnOnce() + Send + '_>, Box<dyn FnOnce() + Send + '_>),
) {
    let (a_id, b_id) = (first, first + 1);
    let (a_panics, b_panics) = (panics & 1 != 0, panics & 2 != 0);
    let (ta, tb) = (ledger.token(a_id), ledger.token(b_id));
    let a = Box::new(move || {
        ta.begin();
        thread::yield_now();
        ta.end();
        if a_panics {
            boom(a_id);
        }
    });
    let b = Box::new(move || {
        tb.begin();
        thread::yield_now();
        tb.end();
        if b_panics {
            boom(b_id);
        }
    });
    let got = panic::catch_unwind(AssertUnwindSafe(|| join(a, b)));
    let want = if a_panics { a_id } else { b_id };
    match got {
        Ok(()) => ledger.problem(format!("join at {first}: no panic came out")),
        Err(p) if boom_id(&*p) == Some(want) => {}
        Err(p) => ledger.problem(format!(
            "join at {first}: {} came out, not Boom({want})",
            describe(&*p)
        )),
    }
    // Both closures are gone: run, or dropped unrun.
    if !ledger.all_dropped(a_id) || !ledger.all_dropped(b_id) {
        ledger.problem(format!("join at {first}: a closure outlived the join"));
    }
    ledger.expect_done(a_id..a_id + 1, "when a panicking join returned");
    // b runs exactly once whether or not a panicked, and whoever ran it
    // (stolen, or inline on a's thread after a's panic): its effects do not
    // depend on stealing.
    let b_ran = ledger.runs(b_id) == 1;
    if b_ran {
        ledger.expect_done(b_id..b_id + 1, "when a panicking join returned");
    } else {
        ledger.problem(format!("join at {first}: b never ran"));
    }
    let stolen = b_ran && ledger.ran_on(b_id) != ledger.ran_on(a_id);
    outcomes.hit(match (a_panics, stolen) {
        (true, true) => "a panicked; b had been stolen and finished first",
        (true, false) => "a panicked; b was not stolen and ran after it",
        (false, true) => "b panicked on a thief",
        (false, false) => "b panicked inline",
    });
}

/// A scope with tasks `first..first + 3` (the second and third panic, the
/// first spawns `child` into the scope) and, if `body_panics`, a body that
/// panics after spawning them. Checks, when the panic comes out, that it is
/// the body's (if it panicked) or a task's, and that every task ran and
/// ended and every closure is gone.
fn panicking_scope(
    ledger: &Arc<Ledger>,
    outcomes: &Outcomes,
    pool: &ThreadPool,
    first: usize,
    child: Option<usize>,
    body_panics: bool,
) {
    let ids: Vec<usize> = (first..first + 3).chain(child).collect();
    let got = panic::catch_unwind(AssertUnwindSafe(|| {
        pool.scope(|s| {
            for (i, id) in (first..first + 3).enumerate() {
                let token = ledger.token(id);
                s.spawn(move |s| {
                    token.begin();
                    if let Some(child) = child.filter(|_| i == 0) {
                        let token = ledger.token(child);
                        s.spawn(move |_| {
                            token.begin();
                            thread::yield_now();
                            token.end();
                        });
                    }
                    thread::yield_now();
                    token.end();
                    if i > 0 {
                        boom(id);
                    }
                });
            }
            if body_panics {
                boom(BODY);
            }
        })
    }));
    match got {
        Ok(()) => ledger.problem(format!("scope at {first}: no panic came out")),
        Err(p) => match boom_id(&*p) {
            Some(BODY) if body_panics => outcomes.hit("a scope re-raised its body's panic"),
            Some(id) if !body_panics && (id == first + 1 || id == first + 2) => {
                outcomes.hit("a scope re-raised a task's panic")
            }
            _ => ledger.problem(format!("scope at {first}: {} came out", describe(&*p))),
        },
    }
    for &id in &ids {
        ledger.expect_done(id..id + 1, "when a panicking scope returned");
        if !ledger.all_dropped(id) {
            ledger.problem(format!("scope at {first}: task {id}'s closure is alive"));
        }
    }
}

/// A handle whose task (id `id`) panics: `join` must return `Err` with the
/// payload (and the pool's panic handler must not see it).
fn panicking_handle(ledger: &Arc<Ledger>, outcomes: &Outcomes, pool: &ThreadPool, id: usize) {
    let token = ledger.token(id);
    let handle = pool
        .spawn_with_handle(move || -> usize {
            token.begin();
            token.end();
            boom(id)
        })
        .unwrap_or_else(|_| panic!("handle {id} refused by a running pool"));
    match handle.join() {
        Err(p) if boom_id(&*p) == Some(id) => {}
        Err(p) => ledger.problem(format!("handle {id}: {} came out", describe(&*p))),
        Ok(_) => ledger.problem(format!("handle {id}: a panicking task returned Ok")),
    }
    outcomes.hit(if ledger.ran_on(id) == Some(me()) {
        "a panicking handle's task was claimed inline"
    } else {
        "a panicking handle's task ran elsewhere"
    });
}

/// On 2 or 3 threads: inside a task, a panicking `join`, a panicking scope
/// and a panicking handle; from outside, the same three.
fn panic_scenario(outcomes: &Arc<Outcomes>) {
    let mut rng = thread_rng();
    let max_threads = rng.gen_range(2..=3);
    let inside: u8 = rng.gen_range(1..=3);
    let outside: u8 = rng.gen_range(1..=3);
    let body_panics = rng.gen_bool(0.5);
    let ledger = Ledger::new(P_IDS);
    let pool = build(max_threads, &ledger);
    let pref = PoolRef::new(&pool);

    let (done, finished) = mpsc::channel();
    let (l, o) = (ledger.clone(), outcomes.clone());
    pool.spawn(move || {
        panicking_join(&l, &o, P_IN_A, inside, |a, b| {
            zap_pool::join(a, b);
        });
        panicking_scope(
            &l,
            &o,
            pref.get(),
            P_SCOPE,
            Some(P_SCOPE_CHILD),
            body_panics,
        );
        panicking_handle(&l, &o, pref.get(), P_IN_HANDLE);
        done.send(()).unwrap();
    })
    .unwrap();
    finished.recv().unwrap();

    panicking_join(&ledger, outcomes, P_OUT_A, outside, |a, b| {
        pool.join(a, b);
    });
    panicking_scope(&ledger, outcomes, &pool, P_OUT_SCOPE, None, false);
    panicking_handle(&ledger, outcomes, &pool, P_OUT_HANDLE);

    drop(pool);
    ledger.check(|_| 1);
}

/// Guards against a panic that escapes before the other side finished
/// (`join` re-raising a panic of `a` while a stolen `b`, which may borrow
/// the frame, still runs; a scope re-raising before all its tasks, those
/// spawned later by other tasks included, have ended), against the wrong
/// payload winning (a's over b's; the body's over a task's), against a
/// stolen `b` that is also run by the caller after `a` panicked (twice),
/// and against a handle's panic reaching the pool's panic handler instead
/// of its joiner.
/// Kills: `fj-join-runs-stolen-b-inline`.
#[test]
fn panics_are_re_raised_after_every_task_finished() {
    quiet_task_panics();
    check_outcomes(
        "panics_are_re_raised_after_every_task_finished",
        PANIC_OUTCOMES,
        false,
        panic_scenario,
    );
}

// ---------------------------------------------------------------------------
// Shutdown racing fork-join from outside
// ---------------------------------------------------------------------------

const SHUTDOWN_OUTCOMES: &[&str] = &[
    "pool.join ran inline after shutdown",
    "pool.join ran in the pool",
    "a scope spawn ran inline after shutdown",
    "a scope spawn went to the pool",
    "spawn_with_handle was refused and gave its closure back",
    "spawn_with_handle was accepted",
    "a task forked and joined during the drain",
];

// Ids: the producer's join (2), scope tasks (2) and handle; the drain
// task's join (2), scope tasks (2) and handle; the main thread's refused
// handle.
const S_JOIN: usize = 0;
const S_HANDLE: usize = 4;
const S_DRAIN: usize = 5;
const S_MAIN_HANDLE: usize = 10;
const S_IDS: usize = 11;

/// A join, a scope of two tasks and a handle on `pool`, with ids from
/// `first`, made either by a thread outside the pool (`outside`) or by a
/// task of the pool. Returns whether the handle was accepted.
///
/// Outside, after a shutdown that this thread saw before the call, the
/// join's closures and the scope's tasks must run on this thread before the
/// call returns, and the handle must be refused with its closure handed
/// back. Inside, everything is accepted, shutdown or not.
fn fork_join_ops(
    ledger: &Arc<Ledger>,
    outcomes: &Outcomes,
    pool: &ThreadPool,
    first: usize,
    outside: bool,
) -> bool {
    let here = me();

    let shut = outside && is_shut_down(pool);
    let (ta, tb) = (ledger.token(first), ledger.token(first + 1));
    let (x, y) = pool.join(
        move || {
            ta.run();
            me()
        },
        move || {
            tb.run();
            me()
        },
    );
    ledger.expect_done(first..first + 2, "when pool.join returned");
    if outside {
        match (x == here, y == here) {
            (true, true) => outcomes.hit("pool.join ran inline after shutdown"),
            (false, false) if !shut => outcomes.hit("pool.join ran in the pool"),
            _ => ledger.problem(format!(
                "join at {first}: shut down before: {shut}; a and b on this thread: {}, {}",
                x == here,
                y == here
            )),
        }
    }

    pool.scope(|s| {
        for id in first + 2..first + 4 {
            let shut = outside && is_shut_down(pool);
            let token = ledger.token(id);
            s.spawn(move |_| {
                token.run();
            });
            if !outside {
                continue;
            }
            if ledger.ran_on(id) == Some(here) {
                outcomes.hit("a scope spawn ran inline after shutdown");
            } else if shut {
                ledger.problem(format!("scope task {id}: not run inline after shutdown"));
            } else {
                outcomes.hit("a scope spawn went to the pool");
            }
        }
    });
    ledger.expect_done(first + 2..first + 4, "when a scope returned");

    let id = first + 4;
    let shut = outside && is_shut_down(pool);
    let token = ledger.token(id);
    match pool.spawn_with_handle(move || {
        token.run();
        id
    }) {
        Ok(handle) => {
            if shut {
                ledger.problem(format!("handle {id}: accepted after shutdown"));
            }
            match handle.join() {
                Ok(got) if got == id => {}
                Ok(got) => ledger.problem(format!("handle {id}: returned {got}")),
                Err(p) => ledger.problem(format!("handle {id}: {}", describe(&*p))),
            }
            ledger.expect_done(id..id + 1, "when JoinHandle::join returned");
            if outside {
                outcomes.hit("spawn_with_handle was accepted");
            }
            true
        }
        Err(refused) => {
            if !outside {
                ledger.problem(format!("handle {id}: refused a task of the pool"));
            }
            // The closure comes back; dropping it drops its token.
            drop(refused.into_inner());
            if ledger.runs(id) != 0 || !ledger.all_dropped(id) {
                ledger.problem(format!("handle {id}: the refused closure ran or leaked"));
            }
            outcomes.hit("spawn_with_handle was refused and gave its closure back");
            false
        }
    }
}

/// On 1 or 2 threads: a producer thread makes a join, a scope and a handle
/// from outside while the main thread shuts the pool down after 0 to 5
/// yields. A task of the pool waits (on a channel) for the shutdown and then
/// makes the same three from inside, during the drain. After its shutdown
/// the main thread's own `spawn_with_handle` must be refused.
fn shutdown_scenario(outcomes: &Arc<Outcomes>) {
    let mut rng = thread_rng();
    let max_threads = rng.gen_range(1..=2);
    let delay = rng.gen_range(0..6);
    let ledger = Ledger::new(S_IDS);
    let pool = build(max_threads, &ledger);
    let pref = PoolRef::new(&pool);

    let (shut_down, wait_for_shutdown) = mpsc::channel();
    let (l, o) = (ledger.clone(), outcomes.clone());
    pool.spawn(move || {
        wait_for_shutdown.recv().unwrap();
        fork_join_ops(&l, &o, pref.get(), S_DRAIN, false);
        o.hit("a task forked and joined during the drain");
    })
    .unwrap();
    let (l, o) = (ledger.clone(), outcomes.clone());
    let producer = thread::spawn(move || fork_join_ops(&l, &o, pref.get(), S_JOIN, true));

    for _ in 0..delay {
        thread::yield_now();
    }
    pool.shutdown();
    let token = ledger.token(S_MAIN_HANDLE);
    match pool.spawn_with_handle(move || token.run()) {
        Ok(_) => panic!("spawn_with_handle from outside was accepted after shutdown"),
        Err(refused) => drop(refused.into_inner()),
    }
    assert!(ledger.all_dropped(S_MAIN_HANDLE));
    shut_down.send(()).unwrap();
    let accepted = producer.join().unwrap();
    pool.join_workers();
    drop(pool);

    ledger.check(|id| match id {
        S_HANDLE => usize::from(accepted),
        S_MAIN_HANDLE => 0,
        _ => 1,
    });
}

/// Guards the shutdown contract of fork-join from outside: once a thread
/// outside the pool has seen the shutdown, `ThreadPool::join` runs both
/// closures on it, a scope's spawns run inline before `spawn` returns, and
/// `spawn_with_handle` is refused with the closure handed back, unrun and
/// dropped once; what was accepted before still runs exactly once and
/// before the call that waits for it returns (no join job, scope task or
/// handle lost in the drain); and a task of the pool can still fork and
/// join during the drain.
#[test]
fn shutdown_races_fork_join_from_outside() {
    check_outcomes(
        "shutdown_races_fork_join_from_outside",
        SHUTDOWN_OUTCOMES,
        false,
        shutdown_scenario,
    );
}

// ---------------------------------------------------------------------------
// A waiting worker must run the queued tasks of its scope
// ---------------------------------------------------------------------------

const QUEUED_OUTCOMES: &[&str] = &[
    "the other worker was held while tasks of the scope were still queued",
    "the waiting worker ran a task of its scope",
    "the other worker ran a task of the scope",
];

/// Scope tasks, then the holder and the gate (see `queued_scenario`).
const Q_TASKS: usize = 4;
const Q_HOLDER: usize = Q_TASKS;
const Q_GATE: usize = Q_TASKS + 1;
const Q_IDS: usize = Q_TASKS + 2;

/// On exactly 2 threads. A task (the owner, on one worker) opens a scope
/// whose tasks are spawned by a thread outside the pool (a shuttle scoped
/// thread borrowing the scope), so they land in the global queue, next to
/// a "holder" task: on any worker but the owner's, the holder blocks that
/// worker (on a channel, as a task blocked on I/O would) until the owner's
/// scope has ended; on the owner's worker it returns at once.
///
/// A "gate" task keeps the other worker busy until everything is queued,
/// so that it may take the holder and the scope's tasks in one go from the
/// global queue: the holder to run (it was pushed first, and the queue
/// hands out its oldest entry last), the scope's tasks into its ring. The
/// owner, meanwhile, finishes the scope's body and waits, and its search may
/// come up empty while the other worker holds the queue's consumer lock or
/// has not yet published its ring.
fn queued_scenario(outcomes: &Arc<Outcomes>) {
    let ledger = Ledger::new(Q_IDS);
    let pool = build(2, &ledger);
    let pref = PoolRef::new(&pool);
    let (done, finished) = mpsc::channel();
    let (l, o) = (ledger.clone(), outcomes.clone());
    pool.spawn(move || {
        let owner = me();
        let (release, wait_for_release) = mpsc::channel::<()>();
        let mut marks = [0usize; Q_TASKS];
        pref.get().scope(|s| {
            thread::scope(|threads| {
                threads.spawn(|| {
                    let (started, wait_for_start) = mpsc::channel::<()>();
                    let (open, wait_for_open) = mpsc::channel::<()>();
                    let gate = l.token(Q_GATE);
                    pref.get()
                        .spawn(move || {
                            gate.begin();
                            started.send(()).unwrap();
                            wait_for_open.recv().unwrap();
                            gate.end();
                        })
                        .unwrap();
                    wait_for_start.recv().unwrap();
                    let holder = l.token(Q_HOLDER);
                    let (hl, ho) = (l.clone(), o.clone());
                    pref.get()
                        .spawn(move || {
                            holder.begin();
                            if me() != owner {
                                if (0..Q_TASKS).any(|id| hl.runs(id) == 0) {
                                    ho.hit(
                                        "the other worker was held while tasks of the scope were still queued",
                                    );
                                }
                                wait_for_release.recv().unwrap();
                            }
                            holder.end();
                        })
                        .unwrap();
                    for (id, mark) in marks.iter_mut().enumerate() {
                        let token = l.token(id);
                        let o = &o;
                        s.spawn(move |_| {
                            token.begin();
                            o.hit(if me() == owner {
                                "the waiting worker ran a task of its scope"
                            } else {
                                "the other worker ran a task of the scope"
                            });
                            *mark = id + 1;
                            token.end();
                        });
                    }
                    open.send(()).unwrap();
                });
            });
        });
        l.expect_done(0..Q_TASKS, "when the scope returned");
        if marks != [1, 2, 3, 4] {
            l.problem(format!("the scope's frame holds {marks:?}"));
        }
        // The holder may have run on this worker and dropped its receiver.
        let _ = release.send(());
        done.send(()).unwrap();
    })
    .unwrap();
    finished.recv().unwrap();
    drop(pool);
    ledger.check(|_| 1);
}

/// Guards against a waiting worker that stops running tasks while a task it
/// awaits is only queued. Here the only other worker can be held by a task
/// that waits for the scope to end while tasks of the scope sit in its
/// ring: an owner that blocked on the latch would never be woken (a
/// deadlock), while one that keeps searching, or sleeps idle in its pool's
/// word where the pushes' notifications reach it, steals them back and
/// finishes the scope. (Sleeping as soon as a search comes up empty is no
/// bug since waiters sleep idle in the word: `docs/fork_join.md`, step 3.)
/// Kills: `fj-wait-for-never-helps`.
#[test]
fn queued_scope_tasks_are_run_by_their_waiting_worker() {
    check_outcomes(
        "queued_scope_tasks_are_run_by_their_waiting_worker",
        QUEUED_OUTCOMES,
        false,
        queued_scenario,
    );
}
