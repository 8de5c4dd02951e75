//! Heap allocations of the scheduling paths, counted by a global allocator.
//!
//! A separate test binary with a single `#[test]`, so nothing else in the
//! process allocates during the measured windows. Counting covers every
//! thread (the workers too) but only while `ENABLED` is set.
//!
//! * raw `schedule`, once every worker thread exists: 0 allocations;
//! * `spawn`: exactly 1 allocation (and 1 deallocation) per task;
//! * `join`, from outside and nested on the workers: 0 allocations;
//! * `Scope::spawn` and `spawn_with_handle`: exactly 1 allocation (and 1
//!   deallocation) per task;
//! * `par::for_each` on a worker: 0 allocations, at 1 000 elements as at
//!   100 000; `par::map`: exactly 1 (its `Vec`), at both sizes.
//!
//! Run with `cargo test --release --test alloc -- --nocapture` to see the
//! figures.
#![cfg(not(any(loom, shuttle)))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::spin_loop;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use zap_pool::raw::{Batch, Task};
use zap_pool::{ThreadPool, par};

struct Counting;

static ENABLED: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static REALLOCS: AtomicUsize = AtomicUsize::new(0);
static DEALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ENABLED.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if ENABLED.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ENABLED.load(Ordering::Relaxed) {
            REALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ENABLED.load(Ordering::Relaxed) {
            DEALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    allocs: usize,
    reallocs: usize,
    deallocs: usize,
}

/// Counts the allocations of every thread while `f` runs. `f` must not
/// allocate itself (no printing, no collections).
fn measure(f: impl FnOnce()) -> Counts {
    ALLOCS.store(0, Ordering::SeqCst);
    REALLOCS.store(0, Ordering::SeqCst);
    DEALLOCS.store(0, Ordering::SeqCst);
    ENABLED.store(true, Ordering::SeqCst);
    f();
    ENABLED.store(false, Ordering::SeqCst);
    Counts {
        allocs: ALLOCS.load(Ordering::SeqCst),
        reallocs: REALLOCS.load(Ordering::SeqCst),
        deallocs: DEALLOCS.load(Ordering::SeqCst),
    }
}

/// Waits, without allocating, until `counter` reaches `target`.
fn wait_for(counter: &AtomicUsize, target: usize) {
    let start = Instant::now();
    let mut spins = 0u32;
    while counter.load(Ordering::Acquire) < target {
        spins += 1;
        if spins % 64 == 0 {
            thread::yield_now();
        } else {
            spin_loop();
        }
        // Checked rarely; `Instant::now` does not allocate.
        if spins % 4096 == 0 && start.elapsed() > Duration::from_secs(60) {
            ENABLED.store(false, Ordering::SeqCst);
            panic!(
                "timed out: {} of {target} tasks ran",
                counter.load(Ordering::Acquire)
            );
        }
    }
}

/// A raw task that bumps a counter, optionally after spinning a while.
#[repr(C)]
struct Job {
    task: Task,
    spin: u32,
    done: *const AtomicUsize,
}

unsafe fn run_job(task: NonNull<Task>) {
    // SAFETY: every task with this callback is the `task` of a live `Job`;
    // its `done` counter outlives the pool's use of it.
    unsafe {
        let job = task.cast::<Job>().as_ptr();
        let (spin, done) = ((*job).spin, (*job).done);
        for _ in 0..spin {
            spin_loop();
        }
        (*done).fetch_add(1, Ordering::Release);
    }
}

fn jobs(n: usize, spin: u32, done: &AtomicUsize) -> Vec<Job> {
    (0..n)
        .map(|_| Job {
            task: Task::new(run_job),
            spin,
            done,
        })
        .collect()
}

/// A raw task that, from a worker, schedules a batch of other raw tasks:
/// exercises the worker's ring and its overflow queue.
#[repr(C)]
struct Fanout {
    task: Task,
    pool: *const ThreadPool,
    children: *mut Job,
    len: usize,
}

unsafe fn run_fanout(task: NonNull<Task>) {
    // SAFETY: the `task` of a live `Fanout` whose children outlive the
    // pool's use of them; each child is in this batch only.
    unsafe {
        let f = task.cast::<Fanout>().as_ptr();
        let pool = &*(*f).pool;
        let children = std::slice::from_raw_parts_mut((*f).children, (*f).len);
        let mut batch = Batch::new();
        for job in children {
            batch.push(&mut job.task);
        }
        pool.schedule(batch).expect("a worker is never refused");
    }
}

/// A binary tree of `join`s with `2^depth` leaves; returns the leaf count.
fn join_tree(depth: u32) -> usize {
    if depth == 0 {
        return 1;
    }
    let (a, b) = zap_pool::join(|| join_tree(depth - 1), || join_tree(depth - 1));
    a + b
}

#[test]
fn allocation_counts() {
    const MAX_THREADS: usize = 2;
    const N: usize = 100_000;

    let started: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let pool = ThreadPool::builder()
        .max_threads(MAX_THREADS)
        .on_thread_start(move |_| {
            started.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();

    // --- warm-up: start every worker thread -------------------------------
    // Batches of tasks that spin briefly keep a worker busy long enough for
    // it to wake (start) the other one. After `max_threads` threads exist
    // the pool never starts another before shutdown, so nothing is left to
    // allocate lazily.
    let warm_done = AtomicUsize::new(0);
    let mut warm = jobs(64, 20_000, &warm_done);
    let mut rounds = 0;
    let mut scheduled = 0;
    while started.load(Ordering::SeqCst) < MAX_THREADS || rounds < 5 {
        assert!(
            rounds < 10_000,
            "the pool never started {MAX_THREADS} threads"
        );
        let mut batch = Batch::new();
        for job in &mut warm {
            batch.push(&mut job.task);
        }
        // SAFETY: `warm` outlives the pool's use; each round waits for the
        // previous one before reusing the tasks.
        unsafe { pool.schedule(batch) }.unwrap();
        scheduled += warm.len();
        wait_for(&warm_done, scheduled);
        // Keep going for a few rounds once both threads exist, so that they
        // have both been idle and woken again.
        if started.load(Ordering::SeqCst) == MAX_THREADS {
            rounds += 1;
        } else {
            rounds = 0;
        }
    }
    // Warm up spawn as well (first boxed closure of this type).
    let spawn_done: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    pool.spawn(move || {
        spawn_done.fetch_add(1, Ordering::Release);
    })
    .unwrap();
    wait_for(spawn_done, 1);
    spawn_done.store(0, Ordering::SeqCst);

    // And the fork-join paths (first use of each closure type).
    assert_eq!(pool.join(|| join_tree(4), || 0), (16, 0));
    pool.scope(|s| s.spawn(|_| ()));
    pool.spawn_with_handle(|| ()).unwrap().join().unwrap();

    // All task memory is allocated before the measured windows.
    let raw_done = AtomicUsize::new(0);
    let mut batched = jobs(N, 0, &raw_done);
    let mut singles = jobs(N, 0, &raw_done);
    let mut fanned = jobs(N, 0, &raw_done);
    let mut fanouts: Vec<Fanout> = fanned
        .chunks_mut(1000)
        .map(|chunk| Fanout {
            task: Task::new(run_fanout),
            pool: &pool,
            children: chunk.as_mut_ptr(),
            len: chunk.len(),
        })
        .collect();

    // --- (a1) raw tasks in batches of 1..=1000 from outside ---------------
    let raw_batched = measure(|| {
        let mut rest: &mut [Job] = &mut batched;
        let mut size = 1;
        while !rest.is_empty() {
            let (now, later) = rest.split_at_mut(size.min(rest.len()));
            let mut batch = Batch::new();
            for job in now {
                batch.push(&mut job.task);
            }
            // SAFETY: `batched` outlives the pool's use (waited for below,
            // pool joined before the vectors drop).
            unsafe { pool.schedule(batch) }.unwrap();
            rest = later;
            size = size % 1000 + 7;
        }
        wait_for(&raw_done, N);
    });

    // --- (a2) raw tasks as single-task batches from outside ---------------
    let raw_singles = measure(|| {
        for job in &mut singles {
            // SAFETY: as above.
            unsafe { pool.schedule(Batch::from(&mut job.task)) }.unwrap();
        }
        wait_for(&raw_done, 2 * N);
    });

    // --- (a3) raw batches of 1000 scheduled from inside workers -----------
    let raw_from_workers = measure(|| {
        for f in &mut fanouts {
            // SAFETY: as above; the children are each in one batch.
            unsafe { pool.schedule(Batch::from(&mut f.task)) }.unwrap();
        }
        wait_for(&raw_done, 3 * N);
    });

    // --- (b) boxed closures ----------------------------------------------
    let spawned = measure(|| {
        for _ in 0..N {
            pool.spawn(move || {
                spawn_done.fetch_add(1, Ordering::Release);
            })
            .unwrap();
        }
        wait_for(spawn_done, N);
        // A task's box is freed just after its closure returns: the last
        // ones may still be on their way out.
        wait_for(&DEALLOCS, N);
    });

    // --- (c) fork-join: nested joins, a scope, handles ---------------------
    const JOIN_DEPTH: u32 = 16;
    let mut leaves = 0;
    let joined = measure(|| {
        for _ in 0..4 {
            leaves += pool
                .join(|| join_tree(JOIN_DEPTH - 1), || join_tree(JOIN_DEPTH - 1))
                .0;
        }
    });
    let scope_done = AtomicUsize::new(0);
    let scoped = measure(|| {
        pool.scope(|s| {
            for _ in 0..N {
                s.spawn(|_| {
                    scope_done.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
    });
    let mut handles = Vec::with_capacity(N);
    let mut handle_sum = 0;
    let with_handles = measure(|| {
        for i in 0..N {
            handles.push(pool.spawn_with_handle(move || i).unwrap());
        }
        for h in handles.drain(..) {
            handle_sum += h.join().unwrap();
        }
        // The last reference to a task may be the worker's, dropped just
        // after the joiner read the result.
        wait_for(&DEALLOCS, N);
    });

    // --- (d) parallel loops, two sizes -----------------------------------
    // Warm-up: the first use of each closure type.
    let hits = AtomicUsize::new(0);
    let xs: Vec<u64> = (0..N as u64).collect();
    let body = |i: usize| {
        hits.fetch_add(i & 1, Ordering::Relaxed);
    };
    let square = |x: &u64| x * x;
    pool.join(|| par::for_each(0..N, body), || ());
    drop(pool.join(|| par::map(&xs, square), || ()));
    let mut loops = Vec::new();
    let mut maps = Vec::new();
    for n in [N / 100, N] {
        loops.push(measure(|| {
            pool.join(|| par::for_each(0..n, body), || ());
        }));
        maps.push(measure(|| {
            let (squares, ()) = pool.join(|| par::map(&xs[..n], square), || ());
            assert_eq!(squares.len(), n);
        }));
    }

    let threads = started.load(Ordering::SeqCst);
    drop(pool);
    drop((batched, singles, fanouts, fanned, warm));

    println!("worker threads started: {threads} (max_threads {MAX_THREADS})");
    println!("raw, {N} tasks in batches from outside:     {raw_batched:?}");
    println!("raw, {N} single-task batches from outside:  {raw_singles:?}");
    println!("raw, {N} tasks in batches from workers:     {raw_from_workers:?}");
    println!("spawn, {N} closures:                        {spawned:?}");
    println!("join, 4 trees of 2^{JOIN_DEPTH} leaves:               {joined:?}");
    println!("scope, {N} spawns:                          {scoped:?}");
    println!("spawn_with_handle + join, {N} tasks:        {with_handles:?}");
    println!("par::for_each of {} and {N}:          {loops:?}", N / 100);
    println!("par::map of {} and {N}:               {maps:?}", N / 100);

    assert_eq!(threads, MAX_THREADS);
    let zero = Counts {
        allocs: 0,
        reallocs: 0,
        deallocs: 0,
    };
    assert_eq!(raw_batched, zero, "raw batches from outside allocated");
    assert_eq!(raw_singles, zero, "raw single-task batches allocated");
    assert_eq!(raw_from_workers, zero, "raw batches from workers allocated");
    assert_eq!(
        spawned,
        Counts {
            allocs: N,
            reallocs: 0,
            deallocs: N,
        },
        "spawn must allocate (and free) exactly once per task"
    );
    assert_eq!(leaves, 4 << (JOIN_DEPTH - 1));
    assert_eq!(joined, zero, "join allocated");
    assert_eq!(scope_done.load(Ordering::Relaxed), N);
    let once_each = Counts {
        allocs: N,
        reallocs: 0,
        deallocs: N,
    };
    assert_eq!(
        scoped, once_each,
        "a scoped spawn must allocate exactly once"
    );
    assert_eq!(handle_sum, N * (N - 1) / 2);
    assert_eq!(
        with_handles, once_each,
        "a handle must allocate exactly once"
    );
    assert_eq!(hits.load(Ordering::Relaxed), 2 * (N / 2) + N / 200);
    assert_eq!(loops, [zero, zero], "par::for_each allocated");
    let one_vec = Counts {
        allocs: 1,
        reallocs: 0,
        deallocs: 1,
    };
    assert_eq!(
        maps,
        [one_vec, one_vec],
        "par::map must allocate only its Vec"
    );
}
