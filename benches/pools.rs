//! zap-pool side by side with rayon and tokio (and, in the fork-join trees,
//! chili and forte).
//!
//! ```text
//! cargo bench -p zap-pool-bench --bench pools -- [--threads 1,2] [--workload NAME[,NAME]] [--rounds N]
//!                              [--quick] [--out DIR] [--no-write]
//! ```
//!
//! Workloads (default: all): quicksort, spawn_many, chained_spawn, fanout,
//! tree_sum_small and tree_sum_large (`tree_sum` names both: a tree of boxed
//! nodes summed by a join at every node, against rayon, chili and forte, and
//! sequentially in both orders), ping_pong, trickle_1ms and trickle_100us
//! (`trickle` names both: an empty task every 1 ms or 100 µs from outside the
//! pool; the CPU time each task costs beyond an idle baseline, and its wake
//! latency), idle, memory, future_spawn, future_chain, future_ping_pong.
//!
//! Each round runs every contender of a workload once, in turn (A B C A B C
//! ...), so that a slow patch of a noisy machine hits them all alike. Per
//! workload and thread count it prints the median and minimum over the
//! rounds, the median CPU time (user + system, of the whole process, over the
//! same timed region) and the ratio to the best peer (another library's
//! fastest form). A full run writes `docs/benchmarks/`: a README with the
//! machine, the command and one table per workload, and one SVG plot per
//! workload (the measure against the thread count, one line per form).
//! `--quick` shrinks every size for a smoke test and writes nothing unless
//! `--out` says where.

use std::cell::{Cell, RefCell};
use std::env;
use std::io::{BufRead, BufReader, Write as _};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use zap_pool::ThreadPool;

#[path = "pools/futures.rs"]
mod futures;
#[path = "pools/report.rs"]
mod report;
#[path = "pools/sort.rs"]
mod sort;
#[path = "pools/sys.rs"]
mod sys;
#[path = "pools/tasks.rs"]
mod tasks;
#[path = "pools/tree.rs"]
mod tree;
#[path = "pools/trickle.rs"]
mod trickle;

// The fork-join forms (`ThreadPool::join`, `zap_pool::join`,
// `ThreadPool::scope`). To build the benchmark against a zap-pool without
// that API, point this at "pools/forkjoin_off.rs": its stand-ins leave those
// forms out.
#[path = "pools/forkjoin.rs"]
mod forkjoin;

use report::{Lib, Metric, Row, Sample, Section, Unit};
use sys::{Elapsed, Stopwatch};

#[global_allocator]
static ALLOCATOR: sys::CountingAlloc = sys::CountingAlloc;

/// Numbers the pools, so that the threads of each set have names of their
/// own: `zap.G.I`, `rayon.G.I`, `tokio.G.w` for set `G` and worker `I`
/// (the idle workload finds a pool's threads in `/proc/self/task` by name;
/// names are cut to 15 bytes there).
static POOL_SETS: AtomicUsize = AtomicUsize::new(0);

/// The contenders' names, shared with the report's target checks.
pub mod names {
    pub const ZAP_RAW: &str = "zap raw";
    pub const ZAP_SPAWN: &str = "zap spawn";
    pub const ZAP_SCOPE: &str = "zap scope";
    pub const ZAP_JOIN: &str = "zap join";
    pub const ZAP_BATCH: &str = "zap raw batch";
    pub const ZAP_FUTURE: &str = "zap spawn_future";
    pub const RAYON_JOIN: &str = "rayon join";
    pub const RAYON_SCOPE: &str = "rayon scope";
    pub const RAYON_SPAWN: &str = "rayon spawn";
    pub const TOKIO_SPAWN: &str = "tokio spawn";
    pub const SEQUENTIAL: &str = "sequential";
    pub const SEQUENTIAL_LEFT: &str = "sequential left-first";
    pub const SEQUENTIAL_RIGHT: &str = "sequential right-first";
    pub const CHILI: &str = "chili";
    pub const ZAP_JOIN_LAZY: &str = "zap join_lazy";
    pub const FORTE: &str = "forte";
    pub const NO_TASKS: &str = "no tasks (baseline)";
    pub const ZAP: &str = "zap";
    pub const RAYON: &str = "rayon";
    pub const TOKIO: &str = "tokio";
}

// ---------------------------------------------------------------------------
// Small shared tools.

/// A one-shot countdown that one thread sleeps on until it reaches zero.
pub struct Latch {
    remaining: AtomicUsize,
    done: AtomicBool,
    waiter: Mutex<Option<Thread>>,
}

impl Latch {
    pub const fn new() -> Self {
        Latch {
            remaining: AtomicUsize::new(0),
            done: AtomicBool::new(false),
            waiter: Mutex::new(None),
        }
    }

    /// Sets the count, with the calling thread as the one to wake. Must
    /// happen before the work that counts down is handed out (a spawn or a
    /// schedule orders it before that work).
    pub fn arm(&self, count: usize) {
        *self.waiter.lock().unwrap_or_else(PoisonError::into_inner) = Some(thread::current());
        self.done.store(count == 0, Ordering::Relaxed);
        self.remaining.store(count, Ordering::Relaxed);
    }

    /// Counts `n` down. The call that reaches zero wakes the waiter; it is
    /// the caller's last access to the latch, which may be gone after it.
    pub fn count_down(&self, n: usize) {
        // AcqRel: Release publishes this task's work; the Acquire of the
        // last decrement gathers everyone's (through the release sequence)
        // and passes it on with the Release store of `done`.
        if self.remaining.fetch_sub(n, Ordering::AcqRel) == n {
            // Clone the handle first: after the store, `self` may be gone.
            let waiter = self
                .waiter
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            self.done.store(true, Ordering::Release);
            if let Some(waiter) = waiter {
                waiter.unpark();
            }
        }
    }

    /// Sleeps until the count reaches zero.
    pub fn wait(&self) {
        // `park` may return spuriously, or for an unpark meant for an
        // earlier run: check again each time.
        while !self.done.load(Ordering::Acquire) {
            thread::park();
        }
    }
}

impl Default for Latch {
    fn default() -> Self {
        Self::new()
    }
}

/// A shared reference without a lifetime, for tasks that must be
/// `'static` but only run while what it points to is alive.
pub struct Shared<T>(NonNull<T>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Shared<T> {}

// SAFETY: a `Shared<T>` only ever gives out `&T`, so sending it to another
// thread is sound whenever sharing `&T` is, that is when `T: Sync`.
unsafe impl<T: Sync> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for Shared<T> {}

impl<T> Shared<T> {
    pub fn new(value: &T) -> Self {
        Shared(NonNull::from(value))
    }

    /// # Safety
    /// The value this was made from is still alive, for all of `'a`.
    pub unsafe fn get<'a>(self) -> &'a T {
        // SAFETY: as the caller promises.
        unsafe { self.0.as_ref() }
    }
}

/// The median and the 99th percentile of latencies recorded in
/// nanoseconds (the nearest rank), read after the run that wrote them.
pub fn p50_p99(latencies: &[std::sync::atomic::AtomicU64]) -> (Duration, Duration) {
    let mut sorted: Vec<u64> = latencies
        .iter()
        .map(|l| l.load(Ordering::Relaxed))
        .collect();
    sorted.sort_unstable();
    let at = |q: f64| {
        let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        Duration::from_nanos(sorted[i])
    };
    (at(0.5), at(0.99))
}

// ---------------------------------------------------------------------------
// Options and sizes.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    Quicksort,
    SpawnMany,
    ChainedSpawn,
    Fanout,
    TreeSumSmall,
    TreeSumLarge,
    PingPong,
    Trickle1ms,
    Trickle100us,
    Idle,
    Memory,
    FutureSpawn,
    FutureChain,
    FuturePingPong,
}

const WORKLOADS: [Workload; 14] = [
    Workload::Quicksort,
    Workload::SpawnMany,
    Workload::ChainedSpawn,
    Workload::Fanout,
    Workload::TreeSumSmall,
    Workload::TreeSumLarge,
    Workload::PingPong,
    Workload::Trickle1ms,
    Workload::Trickle100us,
    Workload::Idle,
    Workload::Memory,
    Workload::FutureSpawn,
    Workload::FutureChain,
    Workload::FuturePingPong,
];

impl Workload {
    fn key(self) -> &'static str {
        match self {
            Workload::Quicksort => "quicksort",
            Workload::SpawnMany => "spawn_many",
            Workload::ChainedSpawn => "chained_spawn",
            Workload::Fanout => "fanout",
            Workload::TreeSumSmall => "tree_sum_small",
            Workload::TreeSumLarge => "tree_sum_large",
            Workload::PingPong => "ping_pong",
            Workload::Trickle1ms => "trickle_1ms",
            Workload::Trickle100us => "trickle_100us",
            Workload::Idle => "idle",
            Workload::Memory => "memory",
            Workload::FutureSpawn => "future_spawn",
            Workload::FutureChain => "future_chain",
            Workload::FuturePingPong => "future_ping_pong",
        }
    }

    /// The workloads a `--workload` name stands for: one, or a family.
    fn parse(name: &str) -> Option<Vec<Workload>> {
        let name = name.replace('-', "_");
        match name.as_str() {
            "tree_sum" => Some(vec![Workload::TreeSumSmall, Workload::TreeSumLarge]),
            "trickle" => Some(vec![Workload::Trickle1ms, Workload::Trickle100us]),
            _ => WORKLOADS
                .into_iter()
                .find(|w| w.key() == name)
                .map(|w| vec![w]),
        }
    }
}

struct Options {
    threads: Vec<usize>,
    workloads: Vec<Workload>,
    rounds: usize,
    quick: bool,
    out: Option<PathBuf>,
    write: bool,
    /// The arguments as given, for the report's command line.
    args: Vec<String>,
}

const USAGE: &str = "\
usage: cargo bench -p zap-pool-bench --bench pools -- [options]

  --threads N[,N...]     thread counts to sweep (default: available parallelism)
  --workload W[,W...]    quicksort, spawn_many, chained_spawn, fanout,
                         tree_sum (= tree_sum_small,tree_sum_large),
                         ping_pong, trickle (= trickle_1ms,trickle_100us),
                         idle, memory, future_spawn,
                         future_chain, future_ping_pong (default: all;
                         may repeat)
  --rounds N             rounds per workload (default 5; memory runs once)
  --quick                small sizes, for a smoke test; writes nothing
                         unless --out is given
  --out DIR              where to write the report (default: docs/benchmarks)
  --no-write             print the tables only";

fn parse_options(args: Vec<String>) -> Result<Options, String> {
    let mut options = Options {
        threads: Vec::new(),
        workloads: Vec::new(),
        rounds: 5,
        quick: false,
        out: None,
        write: true,
        args: Vec::new(),
    };
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| iter.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            // `cargo bench` passes `--bench` to every bench binary.
            "--bench" => continue,
            "--threads" => {
                let list = value("--threads")?;
                for n in list.split(',') {
                    let n: usize = n
                        .trim()
                        .parse()
                        .map_err(|e| format!("--threads {list}: {e}"))?;
                    if n == 0 || n > zap_pool::MAX_THREADS {
                        return Err(format!(
                            "--threads: {n} is not between 1 and {}",
                            zap_pool::MAX_THREADS
                        ));
                    }
                    options.threads.push(n);
                }
                options.args.extend(["--threads".into(), list]);
            }
            "--workload" => {
                let list = value("--workload")?;
                for name in list.split(',') {
                    let family = Workload::parse(name.trim())
                        .ok_or_else(|| format!("unknown workload: {name}"))?;
                    for w in family {
                        if !options.workloads.contains(&w) {
                            options.workloads.push(w);
                        }
                    }
                }
                options.args.extend(["--workload".into(), list]);
            }
            "--rounds" => {
                let n = value("--rounds")?;
                options.rounds = n.parse().map_err(|e| format!("--rounds {n}: {e}"))?;
                if options.rounds == 0 {
                    return Err("--rounds must be at least 1".into());
                }
                options.args.extend(["--rounds".into(), n]);
            }
            "--quick" => {
                options.quick = true;
                options.args.push(arg);
            }
            "--out" => {
                let dir = value("--out")?;
                options.out = Some(PathBuf::from(&dir));
                options.args.extend(["--out".into(), dir]);
            }
            "--no-write" => {
                options.write = false;
                options.args.push(arg);
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    if options.threads.is_empty() {
        options
            .threads
            .push(thread::available_parallelism().map_or(1, |n| n.get()));
    }
    options.threads.sort_unstable();
    options.threads.dedup();
    if options.workloads.is_empty() {
        options.workloads = WORKLOADS.to_vec();
    } else {
        // Run (and report) in the usual order whatever the order given.
        options
            .workloads
            .sort_by_key(|w| WORKLOADS.iter().position(|x| x == w));
    }
    Ok(options)
}

pub struct Sizes {
    quicksort: usize,
    spawn_many: usize,
    chain: usize,
    fanout_depth: u32,
    /// tree_sum_small: the tree's layers, and the sums per sample.
    tree_small_layers: u32,
    tree_small_reps: usize,
    /// tree_sum_large: the tree's layers (one sum per sample).
    tree_large_layers: u32,
    ping_hops: usize,
    ping_gap: Duration,
    /// How long each trickle run submits tasks.
    trickle_for: Duration,
    idle_window: Duration,
    idle_burst: usize,
    future_spawn: usize,
    future_chain: usize,
    future_hops: usize,
}

impl Sizes {
    fn full() -> Sizes {
        Sizes {
            quicksort: 10_000_000,
            spawn_many: 1_000_000,
            chain: 1_000_000,
            fanout_depth: 20,
            tree_small_layers: 10,
            tree_small_reps: 16_384,
            tree_large_layers: 24,
            ping_hops: 2_000,
            ping_gap: Duration::from_micros(250),
            trickle_for: Duration::from_secs(2),
            idle_window: Duration::from_secs(1),
            idle_burst: 100_000,
            future_spawn: 1_000_000,
            future_chain: 100_000,
            future_hops: 20_000,
        }
    }

    fn quick() -> Sizes {
        Sizes {
            quicksort: 200_000,
            spawn_many: 20_000,
            chain: 20_000,
            fanout_depth: 12,
            tree_small_layers: 10,
            tree_small_reps: 256,
            tree_large_layers: 18,
            ping_hops: 100,
            ping_gap: Duration::from_micros(250),
            trickle_for: Duration::from_millis(50),
            idle_window: Duration::from_millis(200),
            idle_burst: 10_000,
            future_spawn: 20_000,
            future_chain: 2_000,
            future_hops: 1_000,
        }
    }

    fn fanout_nodes(&self) -> u64 {
        (1u64 << (self.fanout_depth + 1)) - 1
    }

    /// The trickle of workload `w`: its period, and as many tasks as fit
    /// in `trickle_for`.
    fn trickle(&self, w: Workload) -> trickle::Trickle {
        let period = match w {
            Workload::Trickle1ms => Duration::from_millis(1),
            Workload::Trickle100us => Duration::from_micros(100),
            _ => unreachable!("not a trickle workload"),
        };
        let tasks = self.trickle_for.as_nanos() / period.as_nanos();
        trickle::Trickle {
            period,
            tasks: usize::try_from(tasks).expect("a count of tasks"),
        }
    }
}

// ---------------------------------------------------------------------------
// The pools.

pub struct Pools {
    threads: usize,
    /// This set's number, in its threads' names.
    set: usize,
    zap: Option<ThreadPool>,
    rayon: Option<rayon::ThreadPool>,
    tokio: Option<tokio::runtime::Runtime>,
    chili: Option<chili::ThreadPool>,
}

impl Pools {
    /// The pools of `libs`, each with `threads` worker threads.
    fn new(threads: usize, libs: &[Lib]) -> Pools {
        // Relaxed: only a unique number is needed.
        let set = POOL_SETS.fetch_add(1, Ordering::Relaxed) % 1000;
        let zap = libs.contains(&Lib::Zap).then(|| {
            ThreadPool::builder()
                .max_threads(threads)
                .thread_name(move |i| format!("zap.{set}.{i}"))
                .build()
                .expect("a valid zap pool")
        });
        let rayon = libs.contains(&Lib::Rayon).then(|| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(move |i| format!("rayon.{set}.{i}"))
                .build()
                .expect("a rayon pool")
        });
        let tokio = libs.contains(&Lib::Tokio).then(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name(format!("tokio.{set}.w"))
                .build()
                .expect("a tokio runtime")
        });
        // chili counts the calling thread, which works in the pool through
        // its scope, as one of its threads. (forte's pool runs in a child
        // process: see `ForteChild`.)
        let chili = libs.contains(&Lib::Chili).then(|| {
            chili::ThreadPool::with_config(chili::Config {
                thread_count: NonZeroUsize::new(threads),
                ..chili::Config::default()
            })
        });
        Pools {
            threads,
            set,
            zap,
            rayon,
            tokio,
            chili,
        }
    }

    /// The name prefix of `lib`'s threads in this set.
    fn thread_prefix(&self, lib: Lib) -> String {
        let name = match lib {
            Lib::Zap => "zap",
            Lib::Rayon => "rayon",
            Lib::Tokio => "tokio",
            Lib::Chili | Lib::Forte => unreachable!("only the idle workload asks"),
            Lib::Baseline => unreachable!("the baseline has no threads"),
        };
        format!("{name}.{}.", self.set)
    }

    fn zap(&self) -> &ThreadPool {
        self.zap.as_ref().expect("the zap pool was built")
    }

    fn rayon(&self) -> &rayon::ThreadPool {
        self.rayon.as_ref().expect("the rayon pool was built")
    }

    fn tokio(&self) -> &tokio::runtime::Runtime {
        self.tokio.as_ref().expect("the tokio runtime was built")
    }

    fn chili(&self) -> &chili::ThreadPool {
        self.chili.as_ref().expect("the chili pool was built")
    }
}

// ---------------------------------------------------------------------------
// Quicksort forms.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SortForm {
    ZapRaw,
    ZapSpawn,
    ZapScope,
    ZapJoin,
    RayonJoin,
    RayonScope,
    TokioSpawn,
    ZapFuture,
    Sequential,
}

const SORT_FORMS: [SortForm; 9] = [
    SortForm::ZapRaw,
    SortForm::ZapSpawn,
    SortForm::ZapScope,
    SortForm::ZapJoin,
    SortForm::ZapFuture,
    SortForm::RayonJoin,
    SortForm::RayonScope,
    SortForm::TokioSpawn,
    SortForm::Sequential,
];

impl SortForm {
    fn name(self) -> &'static str {
        match self {
            SortForm::ZapRaw => names::ZAP_RAW,
            SortForm::ZapSpawn => names::ZAP_SPAWN,
            SortForm::ZapScope => names::ZAP_SCOPE,
            SortForm::ZapJoin => names::ZAP_JOIN,
            SortForm::RayonJoin => names::RAYON_JOIN,
            SortForm::RayonScope => names::RAYON_SCOPE,
            SortForm::TokioSpawn => names::TOKIO_SPAWN,
            SortForm::ZapFuture => names::ZAP_FUTURE,
            SortForm::Sequential => names::SEQUENTIAL,
        }
    }

    fn lib(self) -> Lib {
        match self {
            SortForm::ZapRaw
            | SortForm::ZapSpawn
            | SortForm::ZapScope
            | SortForm::ZapJoin
            | SortForm::ZapFuture => Lib::Zap,
            SortForm::RayonJoin | SortForm::RayonScope => Lib::Rayon,
            SortForm::TokioSpawn => Lib::Tokio,
            SortForm::Sequential => Lib::Baseline,
        }
    }

    /// The forms this build has (the fork-join ones need the switch on).
    fn available() -> impl Iterator<Item = SortForm> {
        SORT_FORMS.into_iter().filter(|form| {
            forkjoin::ENABLED || !matches!(form, SortForm::ZapScope | SortForm::ZapJoin)
        })
    }

    /// The name used on a child's command line.
    fn key(self) -> String {
        self.name().replace(' ', "-")
    }

    fn from_key(key: &str) -> Option<SortForm> {
        SORT_FORMS.into_iter().find(|form| form.key() == key)
    }

    fn run(self, pools: &Pools, xs: &mut [i32]) {
        match self {
            SortForm::ZapRaw => sort::zap_raw(pools.zap(), xs),
            SortForm::ZapSpawn => sort::zap_spawn(pools.zap(), xs),
            SortForm::ZapScope => forkjoin::quicksort_scope(pools.zap(), xs),
            SortForm::ZapJoin => forkjoin::quicksort_join(pools.zap(), xs),
            SortForm::RayonJoin => sort::rayon_join(pools.rayon(), xs),
            SortForm::RayonScope => sort::rayon_scope(pools.rayon(), xs),
            SortForm::TokioSpawn => sort::tokio_spawn(pools.tokio(), xs),
            SortForm::ZapFuture => sort::zap_future(pools.zap(), xs),
            SortForm::Sequential => sort::sequential(xs),
        }
    }
}

/// The quicksort input, made once, and a buffer to sort copies of it in.
struct SortInput {
    input: Vec<i32>,
    buffer: RefCell<Vec<i32>>,
    /// How many tasks (non-empty slices) one sort has.
    tasks: u64,
}

impl SortInput {
    fn new(n: usize) -> SortInput {
        eprintln!("preparing the quicksort input ({n} elements)");
        let input = sort::shuffled(n);
        let mut buffer = input.clone();
        let tasks = sort::count_tasks(&mut buffer);
        assert!(
            sort::is_sorted_permutation(&buffer),
            "the sequential sort failed"
        );
        SortInput {
            input,
            buffer: RefCell::new(buffer),
            tasks,
        }
    }
}

/// What the workloads read, made once for the whole run: the quicksort
/// input and the tree_sum trees. The large tree (2^24 − 1 boxed nodes in a
/// full run, some 512 MiB) takes a while to build; every round, contender
/// and thread count sums the same one.
struct Inputs {
    sort: Option<SortInput>,
    small_tree: Option<tree::Node>,
    large_tree: Option<tree::Node>,
}

impl Inputs {
    fn new(workloads: &[Workload], sizes: &Sizes) -> Inputs {
        let sort = workloads
            .iter()
            .any(|w| w.needs_sort_input())
            .then(|| SortInput::new(sizes.quicksort));
        let tree = |w: Workload, layers: u32| {
            workloads.contains(&w).then(|| {
                eprintln!(
                    "building the {} tree ({} nodes)",
                    w.key(),
                    group(tree::nodes(layers))
                );
                tree::Node::tree(layers)
            })
        };
        Inputs {
            sort,
            small_tree: tree(Workload::TreeSumSmall, sizes.tree_small_layers),
            large_tree: tree(Workload::TreeSumLarge, sizes.tree_large_layers),
        }
    }
}

// ---------------------------------------------------------------------------
// Workloads: what each measures, and its contenders.

/// One contender of a workload: each call is one measured run.
pub struct Contender<'a> {
    name: &'static str,
    lib: Lib,
    run: Box<dyn FnMut() -> Sample + 'a>,
}

impl<'a> Contender<'a> {
    fn new(name: &'static str, lib: Lib, run: impl FnMut() -> Sample + 'a) -> Self {
        Contender {
            name,
            lib,
            run: Box::new(run),
        }
    }
}

/// A sample whose one metric is the wall-clock time, with its CPU time.
fn time(e: Elapsed) -> Sample {
    Sample::new(&[e.wall.as_secs_f64()]).with_cpu(e.cpu)
}

/// Times `f`, which returns a count, and checks the count: a sample as
/// [`time`]'s.
fn time_counted(f: &dyn Fn() -> u64, expected: u64, lost: &str) -> Sample {
    let clock = Stopwatch::start();
    let counted = f();
    let elapsed = clock.stop();
    assert_eq!(counted, expected, "{lost}");
    time(elapsed)
}

/// The description and shape of a workload's section of the report.
fn section(w: Workload, sizes: &Sizes, rounds: usize) -> Section {
    let time = |label| Metric {
        label,
        unit: Unit::Time,
    };
    let mut s = Section::new(w.key(), rounds);
    match w {
        Workload::Quicksort => {
            s.title = format!("quicksort of {} i32", group(sizes.quicksort as u64));
            s.about = format!(
                "`0..{n}` shuffled with xorshift32 seeded `0xdeadbeef` (for each i, swap \
                 i with x % (i + 1)), sorted by Lomuto partitioning around the last element, \
                 one task per non-empty half down to {leaf} elements, then insertion sort. \
                 Time from the start of the sort until the caller has seen it finish. \
                 Forms: zap raw = intrusive raw tasks, one allocation per split, and a \
                 latch; zap spawn = `ThreadPool::spawn` per half and a latch; zap scope = \
                 `ThreadPool::scope` with a scoped task per half; zap join = \
                 `ThreadPool::join` / `zap_pool::join` per split; rayon join and rayon \
                 scope inside the rayon pool; tokio spawn = `tokio::spawn` per half, \
                 awaited by the parent task; sequential = the same recursion on one \
                 thread; ideal = sequential / threads.",
                n = group(sizes.quicksort as u64),
                leaf = sort::LEAF,
            );
            s.metrics = vec![time("time")];
            s.baseline = Some(names::SEQUENTIAL);
            s.ideal = true;
        }
        Workload::SpawnMany => {
            s.title = format!("spawn_many: {} empty tasks", group(sizes.spawn_many as u64));
            s.about = format!(
                "{} empty tasks spawned one at a time from a thread outside the pool, \
                 which then waits until all have run (each counts a latch down). zap raw \
                 batch: the same number of intrusive tasks, allocated once outside the \
                 timed region and scheduled as one `Batch`. allocs/task: heap \
                 allocations per task in a separate counted run.",
                group(sizes.spawn_many as u64)
            );
            s.metrics = vec![time("time")];
            s.item = Some(("task", sizes.spawn_many as u64));
        }
        Workload::ChainedSpawn => {
            s.title = format!("chained_spawn: {} deep", group(sizes.chain as u64));
            s.about = format!(
                "Each task spawns the next, {} in a chain; the last one wakes the \
                 waiting thread. zap raw: a single intrusive task that schedules itself \
                 again. rayon and tokio use `rayon::spawn` / `tokio::spawn` from the \
                 running task.",
                group(sizes.chain as u64)
            );
            s.metrics = vec![time("time")];
            s.item = Some(("task", sizes.chain as u64));
        }
        Workload::Fanout => {
            s.title = format!("fanout: binary tree of 2^{} leaves", sizes.fanout_depth);
            s.about = format!(
                "A binary tree of 2^{d} leaves with a join at every inner node; each \
                 node returns the number of leaves below it. zap join, zap join_lazy \
                 (`zap_pool::join_lazy`, inside `ThreadPool::install`) and rayon join \
                 join the two subtrees; tokio spawns a task per child and awaits both; \
                 chili (0.2.1) joins them with `Scope::join` on a scope of its pool, \
                 the calling thread working as one of its n threads (see tree_sum). \
                 allocs/node: heap allocations per tree node ({nodes} nodes) in a \
                 separate counted run.",
                d = sizes.fanout_depth,
                nodes = group(sizes.fanout_nodes()),
            );
            s.metrics = vec![time("time")];
            s.item = Some(("node", sizes.fanout_nodes()));
        }
        Workload::TreeSumSmall | Workload::TreeSumLarge => {
            let small = w == Workload::TreeSumSmall;
            let (layers, reps) = if small {
                (sizes.tree_small_layers, sizes.tree_small_reps)
            } else {
                (sizes.tree_large_layers, 1)
            };
            let nodes = tree::nodes(layers);
            s.title = if small {
                format!(
                    "tree_sum_small: {} nodes, summed {} times per sample",
                    group(nodes),
                    group(reps as u64)
                )
            } else {
                format!("tree_sum_large: {} nodes", group(nodes))
            };
            let batch = if small {
                format!(
                    "One sum is too short to time: each sample sums the tree {} times \
                     in a row ({} nodes), inside one entry into the pool (one \
                     `install`, scope or `with_worker`), and the times are per node. ",
                    group(reps as u64),
                    group(nodes * reps as u64)
                )
            } else {
                "Each sample is one sum. ".to_string()
            };
            s.about = format!(
                "A balanced binary tree of {nodes} nodes (`struct Node {{ val: u64, left: \
                 Option<Box<Node>>, right: Option<Box<Node>> }}`, built once and shared \
                 by every round and contender), summed by a join at every node, leaves \
                 included: the benchmark of chili and forte. As there, each node's box is \
                 allocated after its two subtrees (left, then right): the nodes lie in \
                 post-order, which a right-first walk reads almost in falling address \
                 order and a left-first walk does not. \
                 {batch}zap join = `zap_pool::join` inside `ThreadPool::install`; zap \
                 join_lazy = `zap_pool::join_lazy` there (nested forks offered only on \
                 demand); rayon \
                 join = `rayon::join` inside `ThreadPool::install`; chili (0.2.1) = \
                 `Scope::join` on a scope of a pool made by `ThreadPool::with_config` \
                 with `thread_count` n; forte (1.0.0-alpha.4, pinned: later releases \
                 need Rust 1.96) = `Worker::join` inside `ThreadPool::with_worker` on \
                 a static pool resized to n − 1 threads, in a child process of the \
                 benchmark that builds its own copy of the tree (shrinking a running \
                 forte pool deadlocks, and a pool left running would keep its \
                 heartbeat thread ticking through the later workloads); its CPU time \
                 is the child's. chili and forte put the calling thread to work as \
                 one of their n threads (each also runs a heartbeat thread); \
                 zap-pool and rayon sum on n workers while the caller waits. Every \
                 form gets the left subtree as its first closure: zap-pool and rayon \
                 run that one and offer the right subtree to other threads, chili and \
                 forte run the right one and offer the left, so alone they walk the \
                 tree right first. The two sequential rows are plain recursion in \
                 either order. overhead/node: time per node minus that of sequential \
                 left-first (below zero where more threads gain more than the joins \
                 cost).",
                nodes = group(nodes),
            );
            s.metrics = vec![time("time")];
            s.item = Some(("node", nodes * reps as u64));
            s.baseline = Some(names::SEQUENTIAL_LEFT);
            s.overhead = true;
        }
        Workload::PingPong => {
            s.title = "ping_pong: wake latency across workers".into();
            s.about = format!(
                "A ball passed {hops} times between tasks. Each hop waits {gap} µs (so \
                 the worker of the previous hop has gone idle), schedules the next hop \
                 and keeps its own worker busy until that hop has started, which \
                 therefore starts on another, idle worker. Latency: from just before \
                 the schedule until the next hop runs. The table gives the median over \
                 the rounds of each round's median and 99th percentile. Needs at least 2 \
                 threads. tokio: a task spawned from a busy worker waits in that \
                 worker's LIFO slot, which no other worker may steal from, so each hop \
                 also spawns an empty task that moves it to the stealable queue and \
                 wakes an idle worker. CPU: the process's CPU time over the whole \
                 run, every hop and gap included.",
                hops = group(sizes.ping_hops as u64),
                gap = sizes.ping_gap.as_micros(),
            );
            s.metrics = vec![time("p50"), time("p99")];
            s.min_threads = 2;
        }
        Workload::Trickle1ms | Workload::Trickle100us => {
            let t = sizes.trickle(w);
            let period = if t.period >= Duration::from_millis(1) {
                format!("{} ms", t.period.as_millis())
            } else {
                format!("{} µs", t.period.as_micros())
            };
            s.title = format!(
                "{}: an empty task every {period}, {} tasks",
                w.key(),
                group(t.tasks as u64)
            );
            s.about = format!(
                "The benchmark's main thread, outside the pool, submits one empty task \
                 (it notes the time and counts a latch down) every {period} for {secs} \
                 s: {tasks} tasks, each at an absolute deadline (start + i × {period}), \
                 so that a late wake-up does not delay the later ones. zap spawn = \
                 `ThreadPool::spawn`, rayon spawn = rayon's `ThreadPool::spawn`, tokio \
                 spawn = `Runtime::spawn` of an `async` block on the multi-thread \
                 runtime. CPU/task: the user + system CPU time of the whole process \
                 (`getrusage(RUSAGE_SELF)`) from the first submission until {settle} ms \
                 after the last task ran, minus the same for the baseline, per task. \
                 The baseline runs the same paced loop for as long and submits \
                 nothing, the pools built and idle; it runs first in every round, and \
                 each contender subtracts that round's baseline. Its own row gives its \
                 CPU time per (empty) tick. The wait of {settle} ms lets every pool \
                 thread finish what it does after a task, spinning included, and \
                 sleep: the kernel's count is exact for sleeping threads. p50 and \
                 p99: the wake latency, from just before a task's submission until \
                 it starts, median over the rounds of each round's percentile. CPU: \
                 the whole run, baseline not subtracted.",
                secs = sizes.trickle_for.as_secs_f64(),
                tasks = group(t.tasks as u64),
                settle = trickle::SETTLE.as_millis(),
            );
            s.metrics = vec![time("CPU/task"), time("p50"), time("p99")];
        }
        Workload::Idle => {
            s.title = "idle: CPU use with no work".into();
            s.about = format!(
                "After a burst of {burst} spawned empty tasks has completed, the CPU \
                 time that the pool's own threads use during {window} ms with no work \
                 (from `/proc/self/task/*/schedstat`), and their context switches in \
                 that window (each is a sleep or a preemption, so about one per \
                 wake-up). The goal is zero. CPU: what the whole process used in the \
                 window (the waiting caller included).",
                burst = group(sizes.idle_burst as u64),
                window = sizes.idle_window.as_millis(),
            );
            s.metrics = vec![
                time("CPU time"),
                Metric {
                    label: "switches",
                    unit: Unit::Count,
                },
                Metric {
                    label: "threads",
                    unit: Unit::Count,
                },
            ];
        }
        Workload::Memory => {
            s.title = "memory: quicksort peak RSS and allocations".into();
            s.about = format!(
                "Each form sorts {n} i32 (the quicksort workload) once, in a child \
                 process of the benchmark that builds only the pool it needs. Peak \
                 RSS: the child's `VmHWM` after the sort (the input alone is {input} \
                 MiB). allocs/task: heap allocations during the sort, through a \
                 counting global allocator, per task of the sort (per non-empty slice). \
                 It includes what a pool allocates when it starts its threads. CPU: \
                 the child's CPU time during the sort.",
                n = group(sizes.quicksort as u64),
                input = sizes.quicksort * 4 / (1 << 20),
            );
            s.metrics = vec![
                Metric {
                    label: "peak RSS",
                    unit: Unit::Bytes,
                },
                Metric {
                    label: "allocs/task",
                    unit: Unit::Count,
                },
            ];
            s.baseline = Some(names::SEQUENTIAL);
        }
        Workload::FutureSpawn => {
            s.title = format!(
                "future_spawn: {} trivial futures",
                group(sizes.future_spawn as u64)
            );
            s.about = format!(
                "{} empty `async {{}}` blocks spawned one at a time from a thread outside \
                 the pool, then their handles awaited in order from that thread: \
                 `ThreadPool::spawn_future` and `zap_pool::block_on` against \
                 `Runtime::spawn` and `Runtime::block_on`. allocs/task: heap allocations \
                 per future in a separate counted run (the handles' `Vec` included).",
                group(sizes.future_spawn as u64)
            );
            s.metrics = vec![time("time")];
            s.item = Some(("future", sizes.future_spawn as u64));
        }
        Workload::FutureChain => {
            s.title = format!("future_chain: {} deep", group(sizes.future_chain as u64));
            s.about = format!(
                "A chain of {} futures: each spawns the next on the current pool \
                 (`zap_pool::spawn_future` / `tokio::spawn`) and awaits its handle; the \
                 last returns at once and the outputs climb back up. Each link is a \
                 boxed future (the recursion needs it), in both forms.",
                group(sizes.future_chain as u64)
            );
            s.metrics = vec![time("time")];
            s.item = Some(("future", sizes.future_chain as u64));
        }
        Workload::FuturePingPong => {
            s.title = "future_ping_pong: wake latency between two futures".into();
            s.about = format!(
                "Two futures pass a ball {} times: the holder stamps the time, passes \
                 the ball (an atomic counter) and wakes its partner's registered \
                 waker; latency is from the stamp until the partner's poll sees the \
                 ball. The table gives the median over the rounds of each round's \
                 median and 99th percentile. CPU: the process's CPU time over the \
                 whole run.",
                group(sizes.future_hops as u64)
            );
            s.metrics = vec![time("p50"), time("p99")];
        }
    }
    s
}

/// The contenders of workload `w`, run on `pools`.
fn contenders<'a>(
    w: Workload,
    pools: &'a Pools,
    sizes: &'a Sizes,
    inputs: &'a Inputs,
) -> Vec<Contender<'a>> {
    match w {
        Workload::Quicksort => {
            let data = inputs.sort.as_ref().expect("quicksort input prepared");
            SortForm::available()
                .map(|form| {
                    Contender::new(form.name(), form.lib(), move || {
                        let mut buffer = data.buffer.borrow_mut();
                        buffer.copy_from_slice(&data.input);
                        let clock = Stopwatch::start();
                        form.run(pools, &mut buffer);
                        let elapsed = clock.stop();
                        assert!(
                            sort::is_sorted_permutation(&buffer),
                            "{} did not sort",
                            form.name()
                        );
                        time(elapsed)
                    })
                })
                .collect()
        }
        Workload::SpawnMany => {
            let n = sizes.spawn_many;
            let raw = RefCell::new(tasks::raw_tasks(n));
            vec![
                Contender::new(names::ZAP_SPAWN, Lib::Zap, move || {
                    time(tasks::spawn_many_zap(pools.zap(), n))
                }),
                Contender::new(names::ZAP_BATCH, Lib::Zap, move || {
                    time(tasks::spawn_many_zap_batch(
                        pools.zap(),
                        &mut raw.borrow_mut(),
                    ))
                }),
                Contender::new(names::RAYON_SPAWN, Lib::Rayon, move || {
                    time(tasks::spawn_many_rayon(pools.rayon(), n))
                }),
                Contender::new(names::TOKIO_SPAWN, Lib::Tokio, move || {
                    time(tasks::spawn_many_tokio(pools.tokio(), n))
                }),
            ]
        }
        Workload::ChainedSpawn => {
            let n = sizes.chain;
            vec![
                Contender::new(names::ZAP_SPAWN, Lib::Zap, move || {
                    time(tasks::chain_zap(pools.zap(), n))
                }),
                Contender::new(names::ZAP_RAW, Lib::Zap, move || {
                    time(tasks::chain_zap_raw(pools.zap(), n))
                }),
                Contender::new(names::RAYON_SPAWN, Lib::Rayon, move || {
                    time(tasks::chain_rayon(pools.rayon(), n))
                }),
                Contender::new(names::TOKIO_SPAWN, Lib::Tokio, move || {
                    time(tasks::chain_tokio(pools.tokio(), n))
                }),
            ]
        }
        Workload::Fanout => {
            let depth = sizes.fanout_depth;
            let leaves = 1u64 << depth;
            let timed = move |f: &dyn Fn() -> u64| time_counted(f, leaves, "the tree lost leaves");
            let mut list = Vec::new();
            if forkjoin::ENABLED {
                list.push(Contender::new(names::ZAP_JOIN, Lib::Zap, move || {
                    timed(&|| forkjoin::fanout_join(pools.zap(), depth))
                }));
                list.push(Contender::new(names::ZAP_JOIN_LAZY, Lib::Zap, move || {
                    timed(&|| forkjoin::fanout_join_lazy(pools.zap(), depth))
                }));
            }
            list.push(Contender::new(names::RAYON_JOIN, Lib::Rayon, move || {
                timed(&|| tasks::fanout_rayon(pools.rayon(), depth))
            }));
            list.push(Contender::new(names::TOKIO_SPAWN, Lib::Tokio, move || {
                timed(&|| tasks::fanout_tokio(pools.tokio(), depth))
            }));
            list.push(Contender::new(names::CHILI, Lib::Chili, move || {
                timed(&|| tree::chili_fanout(pools.chili(), depth))
            }));
            list
        }
        Workload::TreeSumSmall | Workload::TreeSumLarge => {
            let (tree, layers, reps) = if w == Workload::TreeSumSmall {
                (
                    &inputs.small_tree,
                    sizes.tree_small_layers,
                    sizes.tree_small_reps,
                )
            } else {
                (&inputs.large_tree, sizes.tree_large_layers, 1)
            };
            let tree = tree.as_ref().expect("tree_sum tree built");
            let expected = tree::nodes(layers) * reps as u64;
            let timed = move |f: &dyn Fn() -> u64| time_counted(f, expected, "a sum missed nodes");
            let mut list = Vec::new();
            if forkjoin::ENABLED {
                list.push(Contender::new(names::ZAP_JOIN, Lib::Zap, move || {
                    timed(&|| forkjoin::tree_sums(pools.zap(), tree, reps))
                }));
                list.push(Contender::new(names::ZAP_JOIN_LAZY, Lib::Zap, move || {
                    timed(&|| forkjoin::tree_sums_lazy(pools.zap(), tree, reps))
                }));
            }
            list.extend([
                Contender::new(names::RAYON_JOIN, Lib::Rayon, move || {
                    timed(&|| tree::rayon_sums(pools.rayon(), tree, reps))
                }),
                Contender::new(names::CHILI, Lib::Chili, move || {
                    timed(&|| tree::chili_sums(pools.chili(), tree, reps))
                }),
                {
                    let mut child = ForteChild::start(layers, reps, pools.threads);
                    Contender::new(names::FORTE, Lib::Forte, move || time(child.run()))
                },
                Contender::new(names::SEQUENTIAL_LEFT, Lib::Baseline, move || {
                    timed(&|| tree::repeat(reps, tree, tree::sum_left_first))
                }),
                Contender::new(names::SEQUENTIAL_RIGHT, Lib::Baseline, move || {
                    timed(&|| tree::repeat(reps, tree, tree::sum_right_first))
                }),
            ]);
            list
        }
        Workload::PingPong => {
            let (hops, gap) = (sizes.ping_hops, sizes.ping_gap);
            // The CPU time is that of the whole run, every hop included.
            let sample = |run: &dyn Fn() -> tasks::PingPongResult| {
                let clock = Stopwatch::start();
                let r = run();
                let elapsed = clock.stop();
                let mut s = Sample::new(&[r.median.as_secs_f64(), r.p99.as_secs_f64()])
                    .with_cpu(elapsed.cpu);
                if r.stalled {
                    s.note = Some("a hop was not picked up by an idle worker within 1 s".into());
                }
                s
            };
            vec![
                Contender::new(names::ZAP_SPAWN, Lib::Zap, move || {
                    sample(&|| tasks::ping_pong_zap(pools.zap(), hops, gap))
                }),
                Contender::new(names::ZAP_RAW, Lib::Zap, move || {
                    sample(&|| tasks::ping_pong_zap_raw(pools.zap(), hops, gap))
                }),
                Contender::new(names::RAYON_SPAWN, Lib::Rayon, move || {
                    sample(&|| tasks::ping_pong_rayon(pools.rayon(), hops, gap))
                }),
                Contender::new(names::TOKIO_SPAWN, Lib::Tokio, move || {
                    sample(&|| tasks::ping_pong_tokio(pools.tokio(), hops, gap))
                }),
            ]
        }
        Workload::Trickle1ms | Workload::Trickle100us => {
            let t = sizes.trickle(w);
            // The latest baseline run: each round runs it first.
            let baseline = Rc::new(Cell::new(Duration::ZERO));
            let per_task = move |cpu: Duration| cpu.as_secs_f64() / t.tasks as f64;
            let sample = {
                let baseline = Rc::clone(&baseline);
                move |o: trickle::Outcome| {
                    let net = o.elapsed.cpu.as_secs_f64() - baseline.get().as_secs_f64();
                    Sample::new(&[
                        net / t.tasks as f64,
                        o.p50.as_secs_f64(),
                        o.p99.as_secs_f64(),
                    ])
                    .with_cpu(o.elapsed.cpu)
                }
            };
            let idle = move || {
                let elapsed = t.idle();
                baseline.set(elapsed.cpu);
                Sample::new(&[per_task(elapsed.cpu)]).with_cpu(elapsed.cpu)
            };
            vec![
                Contender::new(names::NO_TASKS, Lib::Baseline, idle),
                Contender::new(names::ZAP_SPAWN, Lib::Zap, {
                    let sample = sample.clone();
                    move || sample(trickle::zap(pools.zap(), t))
                }),
                Contender::new(names::RAYON_SPAWN, Lib::Rayon, {
                    let sample = sample.clone();
                    move || sample(trickle::rayon(pools.rayon(), t))
                }),
                Contender::new(names::TOKIO_SPAWN, Lib::Tokio, move || {
                    sample(trickle::tokio(pools.tokio(), t))
                }),
            ]
        }
        Workload::Idle => {
            let (burst, window) = (sizes.idle_burst, sizes.idle_window);
            let sample = |r: tasks::IdleResult| {
                Sample::new(&[r.cpu.as_secs_f64(), r.switches as f64, r.threads as f64])
                    .with_cpu(r.window.cpu)
            };
            let (zap, rayon, tokio) = (
                pools.thread_prefix(Lib::Zap),
                pools.thread_prefix(Lib::Rayon),
                pools.thread_prefix(Lib::Tokio),
            );
            vec![
                Contender::new(names::ZAP, Lib::Zap, move || {
                    sample(tasks::idle_after(&zap, window, || {
                        tasks::spawn_many_zap(pools.zap(), burst);
                    }))
                }),
                Contender::new(names::RAYON, Lib::Rayon, move || {
                    sample(tasks::idle_after(&rayon, window, || {
                        tasks::spawn_many_rayon(pools.rayon(), burst);
                    }))
                }),
                Contender::new(names::TOKIO, Lib::Tokio, move || {
                    sample(tasks::idle_after(&tokio, window, || {
                        tasks::spawn_many_tokio(pools.tokio(), burst);
                    }))
                }),
            ]
        }
        Workload::Memory => {
            let tasks = inputs
                .sort
                .as_ref()
                .expect("quicksort input prepared")
                .tasks;
            let (n, threads) = (sizes.quicksort, pools.threads);
            SortForm::available()
                .map(|form| {
                    Contender::new(form.name(), form.lib(), move || {
                        let child = memory_child(form, threads, n);
                        Sample::new(&[
                            (child.peak_kib * 1024) as f64,
                            child.allocations as f64 / tasks.max(1) as f64,
                        ])
                        .with_cpu(child.cpu)
                    })
                })
                .collect()
        }
        Workload::FutureSpawn => {
            let n = sizes.future_spawn;
            vec![
                Contender::new(names::ZAP_FUTURE, Lib::Zap, move || {
                    time(futures::spawn_zap(pools.zap(), n))
                }),
                Contender::new(names::TOKIO_SPAWN, Lib::Tokio, move || {
                    time(futures::spawn_tokio(pools.tokio(), n))
                }),
            ]
        }
        Workload::FutureChain => {
            let n = sizes.future_chain;
            vec![
                Contender::new(names::ZAP_FUTURE, Lib::Zap, move || {
                    time(futures::chain_zap(pools.zap(), n))
                }),
                Contender::new(names::TOKIO_SPAWN, Lib::Tokio, move || {
                    time(futures::chain_tokio(pools.tokio(), n))
                }),
            ]
        }
        Workload::FuturePingPong => {
            let hops = sizes.future_hops;
            let sample = |run: &dyn Fn() -> futures::PingPong| {
                let clock = Stopwatch::start();
                let r = run();
                let elapsed = clock.stop();
                Sample::new(&[r.p50.as_secs_f64(), r.p99.as_secs_f64()]).with_cpu(elapsed.cpu)
            };
            vec![
                Contender::new(names::ZAP_FUTURE, Lib::Zap, move || {
                    sample(&|| futures::ping_pong_zap(pools.zap(), hops))
                }),
                Contender::new(names::TOKIO_SPAWN, Lib::Tokio, move || {
                    sample(&|| futures::ping_pong_tokio(pools.tokio(), hops))
                }),
            ]
        }
    }
}

impl Workload {
    /// Whether an untimed run of every contender comes first.
    fn warms_up(self) -> bool {
        !matches!(self, Workload::Idle | Workload::Memory)
    }

    /// Whether to count heap allocations per item in an extra run.
    fn counts_allocations(self) -> bool {
        matches!(
            self,
            Workload::SpawnMany
                | Workload::ChainedSpawn
                | Workload::Fanout
                | Workload::FutureSpawn
                | Workload::FutureChain
        )
    }

    fn rounds(self, rounds: usize) -> usize {
        match self {
            // A peak is hardly noisy, and each run is a whole process.
            Workload::Memory => 1,
            _ => rounds,
        }
    }

    fn needs_sort_input(self) -> bool {
        matches!(self, Workload::Quicksort | Workload::Memory)
    }

    /// The pools its contenders use (the memory children build their own).
    fn libs(self) -> &'static [Lib] {
        match self {
            Workload::Memory => &[],
            Workload::FutureSpawn | Workload::FutureChain | Workload::FuturePingPong => {
                &[Lib::Zap, Lib::Tokio]
            }
            // forte's pool lives in a child process (see `ForteChild`).
            Workload::TreeSumSmall | Workload::TreeSumLarge => &[Lib::Zap, Lib::Rayon, Lib::Chili],
            Workload::Fanout => &[Lib::Zap, Lib::Rayon, Lib::Tokio, Lib::Chili],
            _ => &[Lib::Zap, Lib::Rayon, Lib::Tokio],
        }
    }
}

/// Runs every contender `rounds` times, alternating; returns one row each.
fn run_rounds(
    w: Workload,
    section: &Section,
    threads: usize,
    contenders: &mut [Contender<'_>],
) -> Vec<Row> {
    if w.warms_up() {
        eprintln!("[{} threads] {}: warm-up", threads, w.key());
        for c in contenders.iter_mut() {
            (c.run)();
        }
    }
    let mut rows: Vec<Row> = contenders
        .iter()
        .map(|c| Row::new(threads, c.name, c.lib))
        .collect();
    for round in 0..section.rounds {
        eprintln!(
            "[{} threads] {}: round {}/{}",
            threads,
            w.key(),
            round + 1,
            section.rounds
        );
        for (c, row) in contenders.iter_mut().zip(&mut rows) {
            row.push((c.run)());
        }
    }
    if let (true, Some((_, items))) = (w.counts_allocations(), section.item) {
        eprintln!("[{} threads] {}: counting allocations", threads, w.key());
        for (c, row) in contenders.iter_mut().zip(&mut rows) {
            let (_, allocations) = sys::count_allocations(|| (c.run)());
            row.allocations = Some((allocations, items));
        }
    }
    rows
}

// ---------------------------------------------------------------------------
// The memory workload's child process.

/// What the memory child measured.
struct ChildMemory {
    peak_kib: u64,
    /// Heap allocations during the sort.
    allocations: u64,
    /// The child's CPU time during the sort.
    cpu: Duration,
}

/// Runs one quicksort form in a child process; returns its peak RSS, the
/// heap allocations made during the sort and the CPU time the sort took.
fn memory_child(form: SortForm, threads: usize, n: usize) -> ChildMemory {
    let exe = env::current_exe().expect("the benchmark's own path");
    let output = Command::new(exe)
        .args([
            "--child-memory".to_string(),
            form.key(),
            threads.to_string(),
            n.to_string(),
        ])
        .output()
        .expect("the memory child starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the memory child for {} failed: {}{}",
        form.name(),
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let field = |key: &str| child_field(&stdout, key, "memory");
    ChildMemory {
        peak_kib: field("peak_rss_kib="),
        allocations: field("allocs="),
        cpu: Duration::from_micros(field("cpu_us=")),
    }
}

/// The number after `key` (as `key=123`) in what a child printed.
fn child_field(text: &str, key: &str, child: &str) -> u64 {
    text.split_whitespace()
        .find_map(|word| word.strip_prefix(key)?.parse().ok())
        .unwrap_or_else(|| panic!("the {child} child printed no {key}: {text}"))
}

/// The child's side: `--child-memory FORM THREADS N`.
fn child_memory(args: &[String]) -> ExitCode {
    let [form, threads, n] = args else {
        eprintln!("usage: pools --child-memory FORM THREADS N");
        return ExitCode::FAILURE;
    };
    let (Some(form), Ok(threads), Ok(n)) = (
        SortForm::from_key(form),
        threads.parse::<usize>(),
        n.parse::<usize>(),
    ) else {
        eprintln!("pools --child-memory: bad arguments {args:?}");
        return ExitCode::FAILURE;
    };
    let mut xs = sort::shuffled(n);
    let pools = Pools::new(threads, &[form.lib()]);
    let (elapsed, allocations) = sys::count_allocations(|| {
        let clock = Stopwatch::start();
        form.run(&pools, &mut xs);
        clock.stop()
    });
    if !sort::is_sorted_permutation(&xs) {
        eprintln!("{} did not sort", form.name());
        return ExitCode::FAILURE;
    }
    let peak = sys::peak_rss_kib().unwrap_or(0);
    println!(
        "peak_rss_kib={peak} allocs={allocations} cpu_us={}",
        elapsed.cpu.as_micros()
    );
    ExitCode::SUCCESS
}

// ---------------------------------------------------------------------------
// The tree_sum forte contender's child process.
//
// A forte (1.0.0-alpha.4) pool is a static, and it cannot shrink once its
// heartbeat thread runs: `resize` joins that thread while holding the lock
// the thread needs to see the request, and both wait for ever. A pool left
// running keeps its heartbeat thread waking every 100 µs, which would show
// in the CPU time of every later workload. So forte runs in a child process
// per thread count, with its own copy of the tree, and ends with it.

/// A child process that sums its tree with forte, one sample per request.
struct ForteChild {
    child: Child,
    /// Closed on drop: the child's signal to exit.
    requests: Option<ChildStdin>,
    replies: BufReader<ChildStdout>,
}

impl ForteChild {
    /// Starts the child and waits until it has built its tree of `layers`
    /// layers and started its pool of `threads` threads.
    fn start(layers: u32, reps: usize, threads: usize) -> ForteChild {
        let exe = env::current_exe().expect("the benchmark's own path");
        let mut child = Command::new(exe)
            .args([
                "--child-forte".to_string(),
                layers.to_string(),
                reps.to_string(),
                threads.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the forte child starts");
        let requests = child.stdin.take();
        let replies = BufReader::new(child.stdout.take().expect("piped"));
        let mut forte = ForteChild {
            child,
            requests,
            replies,
        };
        let ready = forte.reply();
        assert_eq!(ready.trim(), "ready", "the forte child did not start");
        forte
    }

    fn reply(&mut self) -> String {
        let mut line = String::new();
        self.replies
            .read_line(&mut line)
            .expect("the forte child replies");
        line
    }

    /// One sample, timed by the child: its wall-clock and CPU time.
    fn run(&mut self) -> Elapsed {
        let requests = self.requests.as_mut().expect("open until drop");
        writeln!(requests, "run").expect("the forte child reads");
        requests.flush().expect("the forte child reads");
        let reply = self.reply();
        Elapsed {
            wall: Duration::from_nanos(child_field(&reply, "wall_ns=", "forte")),
            cpu: Duration::from_micros(child_field(&reply, "cpu_us=", "forte")),
        }
    }
}

impl Drop for ForteChild {
    fn drop(&mut self) {
        drop(self.requests.take());
        let _ = self.child.wait();
    }
}

/// The child's side: `--child-forte LAYERS REPS THREADS`. Answers each
/// `run` line on stdin with one timed sample; exits when stdin closes,
/// pool and all.
fn child_forte(args: &[String]) -> ExitCode {
    let parsed = match args {
        [layers, reps, threads] => (
            layers.parse::<u32>(),
            reps.parse::<usize>(),
            threads.parse::<usize>(),
        ),
        _ => {
            eprintln!("usage: pools --child-forte LAYERS REPS THREADS");
            return ExitCode::FAILURE;
        }
    };
    let (Ok(layers @ 1..), Ok(reps), Ok(threads @ 1..)) = parsed else {
        eprintln!("pools --child-forte: bad arguments {args:?}");
        return ExitCode::FAILURE;
    };
    let tree = tree::Node::tree(layers);
    let expected = tree::nodes(layers) * reps as u64;
    // The calling thread works in the pool too: n − 1 more threads.
    if tree::FORTE.resize_to(threads - 1) != threads - 1 {
        eprintln!("forte did not start {} threads", threads - 1);
        return ExitCode::FAILURE;
    }
    println!("ready");
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() != "run" {
            eprintln!("pools --child-forte: unknown request {line:?}");
            return ExitCode::FAILURE;
        }
        let clock = Stopwatch::start();
        let total = tree::forte_sums(&tree, reps);
        let elapsed = clock.stop();
        if total != expected {
            eprintln!("forte summed {total}, not {expected}");
            return ExitCode::FAILURE;
        }
        println!(
            "wall_ns={} cpu_us={}",
            elapsed.wall.as_nanos(),
            elapsed.cpu.as_micros()
        );
    }
    ExitCode::SUCCESS
}

// ---------------------------------------------------------------------------

/// `1234567` as `1,234,567`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--child-memory") => return child_memory(&args[1..]),
        Some("--child-forte") => return child_forte(&args[1..]),
        _ => {}
    }
    let options = match parse_options(args) {
        Ok(options) => options,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{message}\n\n{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    let sizes = if options.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    let started = Instant::now();
    let load_at_start = sys::load_average();
    let inputs = Inputs::new(&options.workloads, &sizes);

    let mut sections: Vec<Section> = options
        .workloads
        .iter()
        .map(|&w| section(w, &sizes, w.rounds(options.rounds)))
        .collect();

    for &threads in &options.threads {
        for (&w, section) in options.workloads.iter().zip(&mut sections) {
            if threads < section.min_threads {
                section.skipped.push(threads);
                println!(
                    "\n{} ({} threads): skipped, needs at least {} threads",
                    w.key(),
                    threads,
                    section.min_threads
                );
                continue;
            }
            // Fresh pools for each workload: no workload inherits another's
            // warm (or cold) state, and only the pools in use have threads.
            let pools = Pools::new(threads, w.libs());
            let mut list = contenders(w, &pools, &sizes, &inputs);
            let rows = run_rounds(w, section, threads, &mut list);
            drop(list);
            drop(pools);
            section.rows.extend(rows);
            println!();
            print!("{}", report::text_table(section, threads));
        }
    }

    let targets = report::targets(&sections);
    if !targets.is_empty() {
        println!(
            "\nTargets, at {} threads unless a line names another:",
            options.threads.last().expect("one thread count")
        );
        print!("{}", report::targets_text(&targets));
    }

    let out = match (&options.out, options.quick, options.write) {
        (_, _, false) | (None, true, _) => None,
        (Some(dir), _, true) => Some(dir.clone()),
        (None, false, true) => {
            Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/benchmarks"))
        }
    };
    if let Some(dir) = out {
        let command = if options.args.is_empty() {
            "cargo bench -p zap-pool-bench --bench pools".to_string()
        } else {
            format!(
                "cargo bench -p zap-pool-bench --bench pools -- {}",
                options.args.join(" ")
            )
        };
        let context = report::Context {
            machine: sys::Machine::describe(),
            command,
            quick: options.quick,
            rounds: options.rounds,
            threads: options.threads.clone(),
            minutes: started.elapsed().as_secs_f64() / 60.0,
            load: (load_at_start, sys::load_average()),
        };
        match report::write(&dir, &sections, &targets, &context) {
            Ok(files) => {
                for file in files {
                    eprintln!("wrote {}", file.display());
                }
            }
            Err(e) => {
                eprintln!("could not write the report to {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
        }
    }
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}
