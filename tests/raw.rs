//! Stress tests of the raw API (`Task`, `Batch`, `schedule`) on real threads:
//! batches of many sizes from outside and from a worker, a task rescheduling
//! itself, and task memory reused in changing batches.
#![cfg(not(any(loom, shuttle)))]

mod common;

use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use common::*;
use zap_pool::ThreadPool;
use zap_pool::raw::{Batch, Task};

// ---------------------------------------------------------------------------
// Raw batches
// ---------------------------------------------------------------------------

const BATCH_SIZES: [usize; 7] = [1, 2, 255, 256, 257, 1000, 10_000];

#[test]
fn raw_batches_from_outside() {
    guarded("raw_batches_outside", || {
        let pool = ThreadPool::with_max_threads(4);
        // Keep every job and counter alive until the pool is joined.
        let mut keep = Vec::new();
        for size in BATCH_SIZES {
            let counts: Vec<AtomicU8> = (0..size).map(|_| AtomicU8::new(0)).collect();
            let done = Box::new(AtomicUsize::new(0));
            let mut js = jobs(size, &counts, &done);
            let batch = batch_of(&mut js);
            assert_eq!(batch.len(), size);
            // SAFETY: `js` is neither moved nor freed until the pool is
            // joined below; each task is in this batch only.
            unsafe { pool.schedule(batch) }.expect("the pool is running");
            wait_until(&format!("a batch of {size}"), || {
                done.load(Ordering::Acquire) == size
            });
            assert_each_once(&counts, &format!("outside batch of {size}"));
            keep.push((counts, done, js));
        }
        // Many single-task batches.
        let n = 20_000;
        let counts: Vec<AtomicU8> = (0..n).map(|_| AtomicU8::new(0)).collect();
        let done = Box::new(AtomicUsize::new(0));
        let mut js = jobs(n, &counts, &done);
        for job in &mut js {
            // SAFETY: as above.
            unsafe { pool.schedule(Batch::from(&mut job.task)) }.unwrap();
        }
        wait_until("single-task batches", || done.load(Ordering::Acquire) == n);
        drop(pool);
        for (counts, done, _) in &keep {
            assert_each_once(counts, "outside batches, after join");
            assert_eq!(done.load(Ordering::Relaxed), counts.len());
        }
        assert_each_once(&counts, "single-task batches");
        assert_eq!(done.load(Ordering::Relaxed), n);
    });
}

#[test]
fn raw_batches_from_a_worker() {
    // A worker schedules into its own ring: sizes around the ring capacity
    // (256) exercise the overflow into the worker's queue.
    guarded_rounds("raw_batches_worker", 5, || {
        let pool = Arc::new(ThreadPool::with_max_threads(4));
        let mut keep = Vec::new();
        for size in BATCH_SIZES {
            for _round in 0..3 {
                let counts: Vec<AtomicU8> = (0..size).map(|_| AtomicU8::new(0)).collect();
                let done = Box::new(AtomicUsize::new(0));
                let mut js = jobs(size, &counts, &done);
                let batch = batch_of(&mut js);
                let p = pool.clone();
                pool.spawn(move || {
                    // SAFETY: the test keeps the jobs alive until the pool is
                    // joined.
                    unsafe { p.schedule(batch) }.expect("a worker is never refused");
                })
                .unwrap();
                wait_until(&format!("a worker's batch of {size}"), || {
                    done.load(Ordering::Acquire) == size
                });
                keep.push((counts, done, js));
            }
        }
        pool.shutdown();
        pool.join_workers();
        drop(Arc::into_inner(pool).expect("no closure leaked"));
        for (counts, done, _) in &keep {
            assert_each_once(counts, "worker batches");
            assert_eq!(done.load(Ordering::Relaxed), counts.len());
        }
    });
}

/// A task that reschedules itself `remaining` more times, in a new batch each
/// time, from the worker that runs it.
#[repr(C)]
struct Bouncer {
    task: Task,
    /// Touched only by the running callback: the pool's hand-over orders the
    /// runs one after the other.
    remaining: usize,
    runs: AtomicUsize,
    pool: *const ThreadPool,
    finished: *const AtomicUsize,
}

unsafe fn bounce(task: NonNull<Task>) {
    // SAFETY: every task with this callback is the `task` of a live
    // `Bouncer`; only the running callback touches `remaining`.
    unsafe {
        let b = task.cast::<Bouncer>().as_ptr();
        (*b).runs.fetch_add(1, Ordering::Relaxed);
        if (*b).remaining > 0 {
            (*b).remaining -= 1;
            let pool = &*(*b).pool;
            // The task still carries its link from the previous batch: the
            // new batch must overwrite it (stale-link hazard).
            pool.schedule(Batch::from(&mut (*b).task))
                .expect("a worker of this pool is never refused");
        } else {
            let finished = (*b).finished;
            (*finished).fetch_add(1, Ordering::Release);
        }
    }
}

#[test]
fn raw_task_reschedules_itself() {
    guarded_rounds("raw_reschedule", 5, || {
        const TASKS: usize = 64;
        const BOUNCES: usize = 5_000;
        let pool = ThreadPool::with_max_threads(4);
        let finished = AtomicUsize::new(0);
        let mut bouncers: Vec<Bouncer> = (0..TASKS)
            .map(|_| Bouncer {
                task: Task::new(bounce),
                remaining: BOUNCES,
                runs: AtomicUsize::new(0),
                pool: &pool,
                finished: &finished,
            })
            .collect();
        // All in one batch first, so every link is non-null when the first
        // reschedule happens.
        let mut batch = Batch::new();
        for b in &mut bouncers {
            batch.push(&mut b.task);
        }
        // SAFETY: `bouncers` outlives the pool's use (joined below).
        unsafe { pool.schedule(batch) }.unwrap();
        wait_until("every bouncer to finish", || {
            finished.load(Ordering::Acquire) == TASKS
        });
        pool.shutdown();
        pool.join_workers();
        for (i, b) in bouncers.iter().enumerate() {
            assert_eq!(
                b.runs.load(Ordering::Relaxed),
                BOUNCES + 1,
                "bouncer {i} ran a wrong number of times"
            );
            assert_eq!(b.remaining, 0);
        }
        assert_eq!(finished.load(Ordering::Relaxed), TASKS);
    });
}

#[test]
fn raw_tasks_reused_in_changing_batches_from_outside() {
    // The same task memory is scheduled again and again from outside, each
    // time in a batch with different neighbours and at a different position:
    // a stale link from an earlier batch must never drag a task back in.
    guarded("raw_reuse_outside", || {
        const TASKS: usize = 5;
        const ROUNDS: usize = 20_000;
        let pool = ThreadPool::with_max_threads(3);
        let counts: Vec<AtomicU8> = (0..TASKS).map(|_| AtomicU8::new(0)).collect();
        let done = AtomicUsize::new(0);
        let mut js = jobs(TASKS, &counts, &done);
        let mut expected = [0usize; TASKS];
        let mut total = 0;
        let mut runs = vec![0usize; TASKS];
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..ROUNDS {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            // A non-empty subset, in a rotated order.
            let mask = (rng as usize % ((1 << TASKS) - 1)) + 1;
            let rot = (rng >> 32) as usize % TASKS;
            let mut batch = Batch::new();
            for k in 0..TASKS {
                let i = (k + rot) % TASKS;
                if mask & (1 << i) != 0 {
                    batch.push(&mut js[i].task);
                    expected[i] += 1;
                    total += 1;
                }
            }
            // SAFETY: each task is scheduled again only after its previous
            // run finished (we wait below); `js` outlives the pool's use.
            unsafe { pool.schedule(batch) }.unwrap();
            wait_until("a reused batch", || done.load(Ordering::Acquire) == total);
            for (i, c) in counts.iter().enumerate() {
                // Counters are u8: fold them into `runs` every round.
                runs[i] += usize::from(c.swap(0, Ordering::Relaxed));
            }
            assert_eq!(runs, expected, "a reused task ran a wrong number of times");
        }
        drop(pool);
        assert_eq!(done.load(Ordering::Relaxed), total);
    });
}
