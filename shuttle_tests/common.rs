//! What the whole-pool scenarios of `pool.rs` and `fork_join.rs` share: a
//! pool reference that tasks can carry, the per-execution `Ledger` that
//! tasks write what they saw into (no assertion runs inside a task: the
//! pool would catch it), the `Token` that counts each closure's drop, and
//! the payload the scenarios' tasks panic with.

use shuttle::thread::{self, ThreadId};
use std::any::Any;
use std::collections::HashSet;
use std::ops::Range;
use std::panic;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Once};
use zap_pool::{ThreadPool, model};

/// `model::word(..).0` of a shut-down pool.
pub const SHUTDOWN: u32 = 3;

/// A pool reference that `'static` tasks and producer threads can carry.
///
/// Each execution's main thread owns the pool (boxed, so it never moves) and
/// drops it only after every thread that holds a `PoolRef` has been joined;
/// drop shuts the pool down and joins it, and `join` returns only after
/// every accepted task has run. A task uses the reference only while it
/// runs, so it never outlives the pool.
#[derive(Clone, Copy)]
pub struct PoolRef(*const ThreadPool);

// SAFETY: see the type's documentation; `ThreadPool` itself is `Sync`.
unsafe impl Send for PoolRef {}
// SAFETY: as above.
unsafe impl Sync for PoolRef {}

impl PoolRef {
    pub fn new(pool: &ThreadPool) -> Self {
        Self(pool)
    }

    pub fn get(&self) -> &ThreadPool {
        // SAFETY: see the type's documentation.
        unsafe { &*self.0 }
    }
}

/// The calling (shuttle) thread's id.
pub fn me() -> ThreadId {
    thread::current().id()
}

pub fn is_shut_down(pool: &ThreadPool) -> bool {
    model::word(pool).0 == SHUTDOWN
}

/// What ran where, per id, for one execution. Plain std atomics and mutexes
/// (never held across a scheduling point): the pool's own synchronization is
/// what shuttle explores; the ledger is checked by the execution's main
/// thread once the tasks it checks are done.
pub struct Ledger {
    runs: Vec<AtomicUsize>,
    /// The task got to its end (it touches nothing of the execution after).
    ended: Vec<AtomicBool>,
    /// Tokens (closures, results) made and dropped, per id.
    made: Vec<AtomicUsize>,
    dropped: Vec<AtomicUsize>,
    /// The thread that began the id's last run.
    ran_on: Vec<Mutex<Option<ThreadId>>>,
    /// The task ran on the thread that called `join` (a leftover).
    on_joiner: Vec<AtomicBool>,
    joiner: Mutex<Option<ThreadId>>,
    /// The threads other than the joiner that ran tasks.
    threads: Mutex<HashSet<ThreadId>>,
    problems: Mutex<Vec<String>>,
}

impl Ledger {
    /// A ledger for ids `0..n`; the calling thread is the joiner unless
    /// [`Ledger::set_joiner`] says otherwise.
    pub fn new(n: usize) -> Arc<Self> {
        Arc::new(Self {
            runs: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            ended: (0..n).map(|_| AtomicBool::new(false)).collect(),
            made: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            dropped: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            ran_on: (0..n).map(|_| Mutex::new(None)).collect(),
            on_joiner: (0..n).map(|_| AtomicBool::new(false)).collect(),
            joiner: Mutex::new(Some(me())),
            threads: Mutex::new(HashSet::new()),
            problems: Mutex::new(Vec::new()),
        })
    }

    /// Makes the calling thread the one whose `join` may run leftovers.
    pub fn set_joiner(&self) {
        *self.joiner.lock().unwrap() = Some(me());
    }

    /// A token for `id`, to be moved into the closure (or the result) it
    /// stands for.
    pub fn token(self: &Arc<Self>, id: usize) -> Token {
        self.made[id].fetch_add(1, SeqCst);
        Token {
            ledger: self.clone(),
            id,
        }
    }

    /// Records the start of a run of `id`; returns whether it runs on the
    /// joiner.
    pub fn begin(&self, id: usize) -> bool {
        self.runs[id].fetch_add(1, SeqCst);
        let me = me();
        *self.ran_on[id].lock().unwrap() = Some(me);
        let on_joiner = *self.joiner.lock().unwrap() == Some(me);
        if on_joiner {
            self.on_joiner[id].store(true, SeqCst);
        } else {
            self.threads.lock().unwrap().insert(me);
        }
        on_joiner
    }

    pub fn end(&self, id: usize) {
        self.ended[id].store(true, SeqCst);
    }

    /// A leaf: begins and ends at once; returns whether it ran on the joiner.
    pub fn run(&self, id: usize) -> bool {
        let on_joiner = self.begin(id);
        self.end(id);
        on_joiner
    }

    pub fn runs(&self, id: usize) -> usize {
        self.runs[id].load(SeqCst)
    }

    pub fn ended(&self, id: usize) -> bool {
        self.ended[id].load(SeqCst)
    }

    /// How many tokens were made for `id`.
    pub fn made(&self, id: usize) -> usize {
        self.made[id].load(SeqCst)
    }

    pub fn ran_on(&self, id: usize) -> Option<ThreadId> {
        *self.ran_on[id].lock().unwrap()
    }

    pub fn ran_on_joiner(&self, id: usize) -> bool {
        self.on_joiner[id].load(SeqCst)
    }

    pub fn any_on_joiner(&self) -> bool {
        (0..self.runs.len()).any(|id| self.ran_on_joiner(id))
    }

    /// How many distinct non-joiner threads ran tasks.
    pub fn worker_threads(&self) -> usize {
        self.threads.lock().unwrap().len()
    }

    /// Every token made for `id` so far has been dropped.
    pub fn all_dropped(&self, id: usize) -> bool {
        self.dropped[id].load(SeqCst) == self.made[id].load(SeqCst)
    }

    pub fn problem(&self, what: String) {
        self.problems.lock().unwrap().push(what);
    }

    /// Fails at once if anything reported a problem (on the execution's
    /// main thread, before a broken pool can do more damage).
    pub fn assert_no_problems(&self) {
        let problems = self.problems.lock().unwrap();
        assert!(problems.is_empty(), "problems: {problems:#?}");
    }

    /// Records a problem unless every id in `ids` ran exactly once and got
    /// to its end: what a `join`, a scope or a handle promises when it
    /// returns.
    pub fn expect_done(&self, ids: Range<usize>, when: &str) {
        for id in ids {
            if self.runs(id) != 1 || !self.ended(id) {
                self.problem(format!(
                    "{when}: task {id} ran {} times, ended: {}",
                    self.runs(id),
                    self.ended(id)
                ));
            }
        }
    }

    /// Fails unless id `i` ran exactly `expected(i)` times, every token made
    /// for the ledger was dropped exactly once (run or handed back: none
    /// leaked), and nothing reported a problem.
    pub fn check(&self, mut expected: impl FnMut(usize) -> usize) {
        self.assert_no_problems();
        for id in 0..self.runs.len() {
            assert_eq!(self.runs(id), expected(id), "id {id}: runs");
            assert_eq!(
                self.dropped[id].load(SeqCst),
                self.made[id].load(SeqCst),
                "id {id}: tokens dropped vs made"
            );
        }
    }
}

/// Moved into a closure or a result: records the run, and (on drop) that it
/// was dropped, whether the closure ran or was handed back.
pub struct Token {
    ledger: Arc<Ledger>,
    id: usize,
}

impl Token {
    /// Returns whether the run is on the joiner.
    pub fn begin(&self) -> bool {
        self.ledger.begin(self.id)
    }

    pub fn end(&self) {
        self.ledger.end(self.id);
    }

    /// Returns whether the run is on the joiner.
    pub fn run(&self) -> bool {
        self.ledger.run(self.id)
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        self.ledger.dropped[self.id].fetch_add(1, SeqCst);
    }
}

/// The payload our tasks panic with, so a panic handler can tell them from
/// anything else and the panic hook can stay quiet about them.
pub struct Boom(pub usize);

pub fn boom(id: usize) -> ! {
    panic::panic_any(Boom(id))
}

pub fn boom_id(payload: &(dyn Any + Send)) -> Option<usize> {
    payload.downcast_ref::<Boom>().map(|b| b.0)
}

pub fn describe(payload: &(dyn Any + Send)) -> String {
    if let Some(id) = boom_id(payload) {
        format!("Boom({id})")
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a payload of another type".to_string()
    }
}

/// Silences the panic hook for `Boom` payloads: shuttle's own hook prints a
/// "failing schedule" for every panic, caught or not (it does not fail the
/// test for a panic that is caught). Any other panic (a failed check, or an
/// `expect` in the pool) still goes to the hooks installed before (shuttle's,
/// then the default one).
pub fn quiet_task_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // shuttle installs its hook on its first run; ours must wrap it.
        shuttle::check_random(|| {}, 1);
        let earlier = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<Boom>().is_none() {
                earlier(info);
            }
        }));
    });
}
