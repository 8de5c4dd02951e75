//! Parallel quicksort of 10,000,000 `i32` on the pool: the Zap benchmark,
//! written once for each of the pool's ways of running tasks.
//!
//! The input is `0..N`, shuffled with xorshift32 seeded `0xdeadbeef`. Each
//! task Lomuto-partitions its slice around the last element and makes one
//! task per half; slices of 32 elements or fewer are insertion-sorted. Every
//! mode sorts the same input, and the result is checked to be `0..N` in
//! order. `--mode` picks how the tasks are made:
//!
//! * `raw` (the default), one heap allocation per split. Tasks use the raw
//!   API: a `#[repr(C)]` struct with a `zap_pool::raw::Task` as its first
//!   field. A split reuses the splitting task's own allocation for one half
//!   and allocates one more for the other. The main thread waits on a latch
//!   (a count of elements not yet in their final place) and sleeps in
//!   `thread::park` until the task that brings the count to zero unparks it.
//! * `spawn`, one heap allocation per task (two per split).
//!   `ThreadPool::spawn` takes `'static` closures only, so each task carries
//!   raw pointers to its slice and to the same latch as in `raw` mode; the
//!   latch is what keeps the vector and itself alive until the last task is
//!   done with them.
//! * `scope`, one heap allocation per task (two per split). A single
//!   `ThreadPool::scope` holds the whole sort: each task spawns its two halves
//!   into that scope with `Scope::spawn`, as closures that borrow the halves
//!   directly. The scope returns once every task has finished.
//! * `join`, no heap allocation at all. Each task is a call that sorts its
//!   halves with `zap_pool::join`: the second half is offered to the other
//!   workers from the forking worker's stack, and runs right there if nobody
//!   took it. `ThreadPool::join` brings the sort into the pool, so every
//!   nested `join` forks on its workers.
//!
//! In every mode the main thread only starts the sort and waits; the
//! partitioning runs on the pool's workers. `--sequential` runs the same
//! algorithm on the main thread alone, with recursion instead of tasks.
//!
//! ```text
//! cargo run --release --example quicksort [-- --mode raw|spawn|join|scope] [--threads N] [--n N]
//! cargo run --release --example quicksort -- --sequential [--n N]
//! ```

use std::process::ExitCode;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use zap_pool::raw::{Batch, Task};
use zap_pool::{Scope, ThreadPool};

/// Slices this short are insertion-sorted instead of split.
const LEAF: usize = 32;

/// How the parallel sort makes its tasks (see the module docs).
#[derive(Clone, Copy, Debug)]
enum Mode {
    Raw,
    Spawn,
    Join,
    Scope,
}

impl Mode {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "raw" => Some(Self::Raw),
            "spawn" => Some(Self::Spawn),
            "join" => Some(Self::Join),
            "scope" => Some(Self::Scope),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Spawn => "spawn",
            Self::Join => "join",
            Self::Scope => "scope",
        }
    }
}

struct Options {
    mode: Mode,
    threads: usize,
    n: usize,
    sequential: bool,
}

fn usage() -> &'static str {
    concat!(
        "usage: quicksort [--mode raw|spawn|join|scope] [--threads N] [--n N]\n",
        "       quicksort --sequential [--n N]\n",
        "\n",
        "  --mode M       how the pool's tasks are made (default: raw):\n",
        "                   raw    intrusive raw tasks, 1 allocation per split\n",
        "                   spawn  ThreadPool::spawn, 1 allocation per task\n",
        "                   join   zap_pool::join, no allocation\n",
        "                   scope  Scope::spawn in one scope, 1 allocation per task\n",
        "  --threads N    worker threads (default: available parallelism)\n",
        "  --n N          elements to sort (default: 10000000)\n",
        "  --sequential   run the same algorithm on this thread only (no --mode)",
    )
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        mode: Mode::Raw,
        threads: thread::available_parallelism().map_or(1, |n| n.get()),
        n: 10_000_000,
        sequential: false,
    };
    let mut mode_given = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            let value = args.next().ok_or_else(|| format!("{name} needs a value"))?;
            value
                .replace('_', "")
                .parse()
                .map_err(|e| format!("{name} {value}: {e}"))
        };
        match arg.as_str() {
            "--mode" => {
                let value = args.next().ok_or("--mode needs a value")?;
                options.mode = Mode::parse(&value)
                    .ok_or_else(|| format!("--mode {value}: expected raw, spawn, join or scope"))?;
                mode_given = true;
            }
            "--threads" => options.threads = number("--threads")?,
            "--n" => options.n = number("--n")?,
            "--sequential" => options.sequential = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    if options.sequential && mode_given {
        return Err("--sequential runs without the pool: it takes no --mode".into());
    }
    if options.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    if options.n > i32::MAX as usize + 1 {
        return Err("--n must be at most 2^31: the elements are 0..n as i32".into());
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) if message.is_empty() => {
            println!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{message}\n\n{}", usage());
            return ExitCode::FAILURE;
        }
    };

    let mut xs: Vec<i32> = (0..options.n)
        .map(|i| i32::try_from(i).expect("checked by parse_args"))
        .collect();
    shuffle(&mut xs);

    let (elapsed, threads) = if options.sequential {
        let start = Instant::now();
        quicksort_sequential(&mut xs);
        (start.elapsed(), 1)
    } else {
        let pool = match ThreadPool::builder().max_threads(options.threads).build() {
            Ok(pool) => pool,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        let elapsed = match options.mode {
            Mode::Raw => quicksort_raw(&pool, &mut xs),
            Mode::Spawn => quicksort_spawn(&pool, &mut xs),
            Mode::Join => quicksort_join(&pool, &mut xs),
            Mode::Scope => quicksort_scope(&pool, &mut xs),
        };
        (elapsed, pool.max_threads())
    };

    let mode = if options.sequential {
        "sequential"
    } else {
        options.mode.name()
    };
    println!("mode: {mode}");
    println!("threads: {threads}");
    println!("n: {}", options.n);
    println!("elapsed: {}", format_duration(elapsed));

    // The input was a permutation of 0..n, so sorted means xs[i] == i: this
    // checks both the order and that no element was lost or duplicated.
    match xs.iter().enumerate().find(|&(i, &x)| x as usize != i) {
        None => {
            println!("sorted: ok");
            ExitCode::SUCCESS
        }
        Some((i, &x)) => {
            println!("sorted: FAILED (xs[{i}] = {x})");
            ExitCode::FAILURE
        }
    }
}

fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 1.0 {
        format!("{secs:.3}s")
    } else {
        format!("{:.2}ms", secs * 1e3)
    }
}

/// The benchmark's shuffle: for each `i`, swap `xs[i]` with `xs[r % (i + 1)]`
/// where `r` is the next xorshift32 value, seeded `0xdeadbeef`.
fn shuffle(xs: &mut [i32]) {
    let mut state: u32 = 0xdead_beef;
    for i in 0..xs.len() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let j = state as usize % (i + 1);
        xs.swap(i, j);
    }
}

/// Lomuto partition around the last element; returns the pivot's final index.
fn partition(xs: &mut [i32]) -> usize {
    let last = xs.len() - 1;
    let pivot = xs[last];
    let mut store = 0;
    for j in 0..last {
        if xs[j] <= pivot {
            xs.swap(store, j);
            store += 1;
        }
    }
    xs.swap(store, last);
    store
}

fn insertion_sort(xs: &mut [i32]) {
    for i in 1..xs.len() {
        let mut j = i;
        while j > 0 && xs[j] < xs[j - 1] {
            xs.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// The same algorithm on one thread: recursion instead of tasks.
fn quicksort_sequential(xs: &mut [i32]) {
    if xs.len() <= LEAF {
        insertion_sort(xs);
        return;
    }
    let mid = partition(xs);
    let (left, right) = xs.split_at_mut(mid);
    quicksort_sequential(left);
    quicksort_sequential(&mut right[1..]);
}

/// One step of the `spawn`, `join` and `scope` modes: insertion-sorts a slice
/// of `LEAF` elements or fewer and returns `None`, or partitions a longer one
/// and returns the two sides of its pivot, which is then in its final place.
fn split(xs: &mut [i32]) -> Option<(&mut [i32], &mut [i32])> {
    if xs.len() <= LEAF {
        insertion_sort(xs);
        return None;
    }
    let mid = partition(xs);
    let (left, right) = xs.split_at_mut(mid);
    Some((left, &mut right[1..]))
}

/// The latch of the `raw` and `spawn` modes: state shared by every task of
/// one sort. Lives on the stack of `quicksort_raw` or `quicksort_spawn`,
/// which do not return before `remaining` is zero.
struct Shared<'a> {
    pool: &'a ThreadPool,
    /// Elements not yet in their final place. The task whose subtraction
    /// brings it to zero sets `done` and unparks `waiter`.
    remaining: AtomicUsize,
    done: AtomicBool,
    waiter: Thread,
}

impl<'a> Shared<'a> {
    /// The latch of a sort of `len` elements on `pool`, waited for by the
    /// calling thread.
    fn new(pool: &'a ThreadPool, len: usize) -> Self {
        Self {
            pool,
            remaining: AtomicUsize::new(len),
            done: AtomicBool::new(false),
            waiter: thread::current(),
        }
    }

    /// Marks `count` more elements final. Must be a task's last access to
    /// `self` (and to the slice): once the count reaches zero the main thread
    /// may free both.
    fn finish(&self, count: usize) {
        // AcqRel: Release publishes this task's writes to its slice; the
        // Acquire of the last subtraction (the end of the release sequence of
        // every earlier one) collects everyone's, and hands them on to the
        // main thread through the Release store of `done`.
        if self.remaining.fetch_sub(count, Ordering::AcqRel) == count {
            // Clone the handle first: after the store, `self` may be gone.
            let waiter = self.waiter.clone();
            self.done.store(true, Ordering::Release);
            waiter.unpark();
        }
    }

    /// Sleeps until the last task unparks us. `park` may return spuriously
    /// (or for an unpark meant for an earlier sort), hence the loop; it never
    /// spins while work is left.
    fn wait(&self) {
        while !self.done.load(Ordering::Acquire) {
            thread::park();
        }
    }
}

/// One task: a slice to sort. `task` must stay the first field, so that a
/// pointer to it is a pointer to the whole struct.
#[repr(C)]
struct SortTask {
    task: Task,
    ptr: *mut i32,
    len: usize,
    shared: *const Shared<'static>,
}

impl SortTask {
    fn boxed(ptr: *mut i32, len: usize, shared: *const Shared<'static>) -> NonNull<SortTask> {
        let task = Box::new(SortTask {
            task: Task::new(run_sort_task),
            ptr,
            len,
            shared,
        });
        NonNull::from(Box::leak(task))
    }
}

/// `raw` mode: sorts `xs` on `pool` with intrusive tasks; returns the time
/// from the first schedule until the main thread saw the latch reach zero.
fn quicksort_raw(pool: &ThreadPool, xs: &mut [i32]) -> Duration {
    let start = Instant::now();
    if xs.is_empty() {
        return start.elapsed();
    }
    let shared = Shared::new(pool, xs.len());
    // The tasks only use `shared` while `remaining` is non-zero, and this
    // function waits for zero below, so the erased lifetime is never
    // outlived.
    let shared_ptr = (&raw const shared).cast::<Shared<'static>>();
    let root = SortTask::boxed(xs.as_mut_ptr(), xs.len(), shared_ptr);
    // The batch holds a pointer to the whole `SortTask` (not to its `task`
    // field), so the callback may turn it back into the `Box`.
    let mut batch = Batch::new();
    // SAFETY: `root` is a fresh heap allocation that nothing else touches.
    unsafe { batch.push_raw(root.cast()) };
    // SAFETY: `root` stays put until its callback frees or reuses it. The
    // slice and `shared` outlive every task (we wait for the latch below, and
    // the callbacks touch neither after their final `finish`). The data is
    // only `i32`s and atomics, fine to use from any thread.
    let scheduled = unsafe { pool.schedule(batch) };
    if scheduled.is_err() {
        // SAFETY: refused, so the pool never saw the task: still ours.
        drop(unsafe { Box::from_raw(root.as_ptr()) });
        panic!("the pool is shut down");
    }
    shared.wait();
    start.elapsed()
}

/// The callback of every `SortTask`.
///
/// # Safety
///
/// `task` is the `task` field of a live, boxed `SortTask` that no other
/// thread touches, whose slice is not touched by any other task, and whose
/// `shared` is alive while its `remaining` is non-zero.
unsafe fn run_sort_task(task: NonNull<Task>) {
    let this = task.cast::<SortTask>();
    // SAFETY: `task` is the first field of a `SortTask` (repr(C)), and this
    // callback is its only user (see the function's contract).
    let SortTask {
        ptr,
        len,
        shared: shared_raw,
        ..
    } = *unsafe { this.as_ref() };
    // SAFETY: the task's slice is a live range of the vector that only this
    // task accesses; `len > 0` for every scheduled task.
    let xs = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
    // SAFETY: `shared` outlives the sort and `remaining` still counts this
    // task's elements, so it is alive here.
    let shared = unsafe { &*shared_raw };

    if len <= LEAF {
        insertion_sort(xs);
        // SAFETY: allocated by `SortTask::boxed`; the pool no longer touches
        // it once its callback has started, and no one else holds it.
        drop(unsafe { Box::from_raw(this.as_ptr()) });
        shared.finish(len);
        return;
    }

    let mid = partition(xs);
    let (left, right) = xs.split_at_mut(mid);
    let right = &mut right[1..]; // skip the pivot: it is in its final place
    let halves = [left, right];
    let mut spare = Some(this);
    let mut batch = Batch::new();
    for half in halves.into_iter().filter(|h| !h.is_empty()) {
        // The first half reuses this task's allocation; the second gets a
        // fresh one.
        let child = match spare.take() {
            Some(mut node) => {
                // SAFETY: this task's struct is ours (see above) and is not
                // in any batch yet.
                let node_ref = unsafe { node.as_mut() };
                node_ref.ptr = half.as_mut_ptr();
                node_ref.len = half.len();
                node
            }
            None => SortTask::boxed(half.as_mut_ptr(), half.len(), shared_raw),
        };
        // SAFETY: `child` is a boxed `SortTask` that only this callback
        // references; it is pushed once, by a pointer to the whole struct.
        unsafe { batch.push_raw(child.cast()) };
    }
    if let Some(unused) = spare {
        // Unreachable in practice (a slice longer than LEAF always leaves a
        // non-empty half), but free the struct rather than leak it.
        // SAFETY: allocated by `SortTask::boxed` and not in the batch.
        drop(unsafe { Box::from_raw(unused.as_ptr()) });
    }
    // SAFETY: every task in the batch is a distinct boxed `SortTask`, stays
    // put until its callback frees or reuses it, and covers a slice disjoint
    // from every other live task's. We call `schedule` from a worker of
    // this pool, which is always accepted, and the pool outlives the sort.
    if unsafe { shared.pool.schedule(batch) }.is_err() {
        unreachable!("a pool worker's schedule is accepted even after shutdown");
    }
    // The pivot is final. Last access to `shared` and the slice.
    shared.finish(1);
}

/// A task of `spawn` mode: a slice of the vector and the sort's latch, as raw
/// pointers, because `ThreadPool::spawn` only takes `'static` closures.
struct SpawnSort {
    ptr: *mut i32,
    len: usize,
    shared: *const Shared<'static>,
}

// SAFETY: a `SpawnSort` is the only handle to its slice (the slices of live
// tasks are disjoint), which holds plain `i32`s; `Shared` is `Sync` (atomics,
// a `Thread` handle and a `&ThreadPool`). So the task may run on any thread.
unsafe impl Send for SpawnSort {}

impl SpawnSort {
    /// Sorts this task's slice: partitions it and spawns one task per
    /// non-empty half, or insertion-sorts a short one.
    ///
    /// The latch is the contract: `remaining` counts this task's elements
    /// until it calls `finish` for them, and while it does, the slice and
    /// `shared` are alive and no other task touches the slice.
    fn run(self) {
        let Self {
            ptr,
            len,
            shared: shared_raw,
        } = self;
        // SAFETY: the slice is a live range of the vector (the sort does not
        // return before `remaining` is zero, and it still counts these
        // elements), and only this task accesses it.
        let xs = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
        // SAFETY: `shared` lives until `remaining` is zero, and it still
        // counts this task's elements.
        let shared = unsafe { &*shared_raw };

        let Some((left, right)) = split(xs) else {
            // Sorted in place. Last access to `shared` and the slice.
            shared.finish(len);
            return;
        };
        for half in [left, right] {
            if half.is_empty() {
                continue;
            }
            let child = SpawnSort {
                ptr: half.as_mut_ptr(),
                len: half.len(),
                shared: shared_raw,
            };
            // The child now owns `half`: this task does not touch it again.
            // Its elements are still counted in `remaining` (this task has not
            // finished them), so the child starts with the latch held.
            if shared.pool.spawn(move || child.run()).is_err() {
                unreachable!("a pool worker's spawn is accepted even after shutdown");
            }
        }
        // The pivot is final. Last access to `shared` and the slice.
        shared.finish(1);
    }
}

/// `spawn` mode: sorts `xs` with `ThreadPool::spawn`; returns the time from
/// the first spawn until the main thread saw the latch reach zero.
fn quicksort_spawn(pool: &ThreadPool, xs: &mut [i32]) -> Duration {
    let start = Instant::now();
    if xs.is_empty() {
        return start.elapsed();
    }
    let shared = Shared::new(pool, xs.len());
    let root = SpawnSort {
        ptr: xs.as_mut_ptr(),
        len: xs.len(),
        // The tasks only use `shared` while `remaining` is non-zero, and this
        // function waits for zero below (nothing between the spawn and the
        // end of the wait can unwind), so the erased lifetime is never
        // outlived. The same holds for the vector behind `xs`, which this
        // function leaves alone until then.
        shared: (&raw const shared).cast::<Shared<'static>>(),
    };
    if pool.spawn(move || root.run()).is_err() {
        // Refused: the closure was dropped unrun, so no task holds a pointer.
        panic!("the pool is shut down");
    }
    shared.wait();
    start.elapsed()
}

/// `join` mode: sorts `xs` with nested `zap_pool::join`; returns the time the
/// outermost join took.
fn quicksort_join(pool: &ThreadPool, xs: &mut [i32]) -> Duration {
    let start = Instant::now();
    // Called from outside the pool, `ThreadPool::join` runs the whole join as
    // one job on a worker, with this thread blocked until it is done. The
    // sort is its first closure; the second has nothing to do.
    pool.join(|| sort_joined(xs), || ());
    start.elapsed()
}

/// A task of `join` mode: a call on a worker of the pool. The two halves go
/// to `zap_pool::join`, which may hand the second one to another worker.
fn sort_joined(xs: &mut [i32]) {
    if let Some((left, right)) = split(xs) {
        zap_pool::join(|| sort_joined(left), || sort_joined(right));
    }
}

/// `scope` mode: sorts `xs` with one `ThreadPool::scope`; returns the time
/// until the scope (and so every task spawned in it) finished.
fn quicksort_scope(pool: &ThreadPool, xs: &mut [i32]) -> Duration {
    let start = Instant::now();
    pool.scope(move |s| s.spawn(move |s| sort_scoped(s, xs)));
    start.elapsed()
}

/// A task of `scope` mode: spawns one task per non-empty half into the same
/// scope. The halves are borrowed: the scope outlives every task in it.
fn sort_scoped<'scope>(s: &Scope<'scope>, xs: &'scope mut [i32]) {
    if let Some((left, right)) = split(xs) {
        for half in [left, right] {
            if !half.is_empty() {
                s.spawn(move |s| sort_scoped(s, half));
            }
        }
    }
}
