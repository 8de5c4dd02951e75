//! The quicksort workload: the input, the sequential algorithm, and the
//! parallel forms that need no fork-join API (zap-pool's raw tasks and
//! `spawn`, rayon's `join` and `scope`, tokio's `spawn` + `.await`).
//!
//! Every form runs the same algorithm: Lomuto partition around the last
//! element, one task per non-empty half, and insertion sort for slices of
//! at most `LEAF` elements. The partitions, and so the tree of tasks, are the
//! same in every form; only who runs which node differs.

use crate::{Latch, Shared};
use std::ptr::NonNull;
use zap_pool::ThreadPool;
use zap_pool::raw::{Batch, Task};

/// Slices this short are insertion-sorted instead of split.
pub const LEAF: usize = 32;

/// `0..n` as `i32`, shuffled: for each `i`, swap `xs[i]` with
/// `xs[r % (i + 1)]`, `r` the next xorshift32 value of a generator seeded
/// `0xdeadbeef`.
pub fn shuffled(n: usize) -> Vec<i32> {
    let mut xs: Vec<i32> = (0..n)
        .map(|i| i32::try_from(i).expect("n is at most 2^31"))
        .collect();
    let mut state: u32 = 0xdead_beef;
    for i in 0..n {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        xs.swap(i, state as usize % (i + 1));
    }
    xs
}

/// Whether `xs` is `0..len` in order (the input was a permutation of it,
/// so this checks the order and that nothing was lost or duplicated).
pub fn is_sorted_permutation(xs: &[i32]) -> bool {
    xs.iter().enumerate().all(|(i, &x)| x as usize == i)
}

/// Lomuto partition around the last element; returns the pivot's index.
pub fn partition(xs: &mut [i32]) -> usize {
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

pub fn insertion_sort(xs: &mut [i32]) {
    for i in 1..xs.len() {
        let mut j = i;
        while j > 0 && xs[j] < xs[j - 1] {
            xs.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// Splits a slice longer than `LEAF` around its partition pivot: the
/// elements before the pivot and those after it.
pub fn split(xs: &mut [i32]) -> (&mut [i32], &mut [i32]) {
    let mid = partition(xs);
    let (left, right) = xs.split_at_mut(mid);
    (left, &mut right[1..])
}

/// The algorithm on one thread: recursion in place of tasks.
pub fn sequential(xs: &mut [i32]) {
    if xs.len() <= LEAF {
        insertion_sort(xs);
        return;
    }
    let (left, right) = split(xs);
    sequential(left);
    sequential(right);
}

/// Sorts `xs` sequentially and returns how many non-empty slices it
/// handled: the number of tasks of the forms that skip empty halves.
pub fn count_tasks(xs: &mut [i32]) -> u64 {
    if xs.is_empty() {
        return 0;
    }
    if xs.len() <= LEAF {
        insertion_sort(xs);
        return 1;
    }
    let (left, right) = split(xs);
    1 + count_tasks(left) + count_tasks(right)
}

/// A slice handed to a task that must be `'static`: a pointer and a length.
#[derive(Clone, Copy)]
pub struct RawSlice {
    ptr: *mut i32,
    len: usize,
}

// SAFETY: a `RawSlice` is only made from a `&mut [i32]` and turned back into
// one by the single task that the sub-slice was handed to (see `as_mut`);
// `i32`s may be used from any thread.
unsafe impl Send for RawSlice {}

impl RawSlice {
    pub fn new(xs: &mut [i32]) -> Self {
        RawSlice {
            ptr: xs.as_mut_ptr(),
            len: xs.len(),
        }
    }

    /// # Safety
    /// The slice this was made from is alive for `'a`, and nothing else
    /// uses this range meanwhile (each range goes to exactly one task).
    pub unsafe fn as_mut<'a>(self) -> &'a mut [i32] {
        // SAFETY: as the caller promises.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

// ---------------------------------------------------------------------------
// zap-pool, raw tasks: one `SortJob` per task; a split reuses the running
// job's allocation for one half and allocates one for the other. The caller
// sleeps on a latch that counts the elements not yet in their final place.

/// What every job of one raw sort shares. Lives on the stack of `zap_raw`,
/// which does not return before the latch is released.
struct RawSort<'a> {
    pool: &'a ThreadPool,
    latch: &'a Latch,
}

/// One raw task. `task` stays the first field: a pointer to it is a pointer
/// to the whole job.
#[repr(C)]
struct SortJob {
    task: Task,
    part: RawSlice,
    sort: *const RawSort<'static>,
}

impl SortJob {
    fn boxed(part: RawSlice, sort: *const RawSort<'static>) -> NonNull<SortJob> {
        NonNull::from(Box::leak(Box::new(SortJob {
            task: Task::new(run_sort_job),
            part,
            sort,
        })))
    }
}

/// Sorts `xs` with raw tasks on `pool`.
pub fn zap_raw(pool: &ThreadPool, xs: &mut [i32]) {
    if xs.is_empty() {
        return;
    }
    let latch = Latch::new();
    latch.arm(xs.len());
    let sort = RawSort {
        pool,
        latch: &latch,
    };
    // The jobs use `sort` only while the latch is not released, and we wait
    // for it below: the erased lifetime is never outlived.
    let sort_ptr = (&raw const sort).cast::<RawSort<'static>>();
    let root = SortJob::boxed(RawSlice::new(xs), sort_ptr);
    let mut batch = Batch::new();
    // SAFETY: `root` is a fresh allocation that only this thread knows; the
    // pointer covers the whole job, so the callback may reach its fields.
    unsafe { batch.push_raw(root.cast()) };
    // SAFETY: the job stays put until its callback takes it over; its slice
    // and `sort` outlive every job (we wait for the latch below, and a job
    // touches neither after its last count-down); the data is `i32`s and
    // atomics, usable from any thread.
    if unsafe { pool.schedule(batch) }.is_err() {
        // SAFETY: refused, so the pool never saw the job: it is still ours.
        drop(unsafe { Box::from_raw(root.as_ptr()) });
        panic!("the zap pool is shut down");
    }
    latch.wait();
}

/// The callback of every `SortJob`.
///
/// # Safety
/// `task` points to a whole, boxed `SortJob` that no one else touches, whose
/// range no other job uses, and whose `sort` lives while its latch counts
/// this job's elements.
unsafe fn run_sort_job(task: NonNull<Task>) {
    let job = task.cast::<SortJob>();
    // SAFETY: the pool no longer touches the job once its callback started,
    // and the pointer covers the whole `SortJob` (function contract).
    let SortJob { part, sort, .. } = *unsafe { job.as_ref() };
    // SAFETY: the latch still counts this job's elements, so `sort` is alive.
    let sort = unsafe { &*sort };
    // SAFETY: the range is alive (the sort waits for its latch) and this
    // job is its only user.
    let xs = unsafe { part.as_mut() };
    if xs.len() <= LEAF {
        insertion_sort(xs);
        // SAFETY: made by `SortJob::boxed`, and ours alone (see above).
        drop(unsafe { Box::from_raw(job.as_ptr()) });
        sort.latch.count_down(xs.len());
        return;
    }
    let (left, right) = split(xs);
    let mut spare = Some(job);
    let mut batch = Batch::new();
    for half in [left, right] {
        if half.is_empty() {
            continue;
        }
        let child = match spare.take() {
            Some(mut reused) => {
                // SAFETY: this job is ours and in no batch yet.
                unsafe { reused.as_mut() }.part = RawSlice::new(half);
                reused
            }
            None => SortJob::boxed(RawSlice::new(half), sort),
        };
        // SAFETY: `child` is a boxed job that only we hold, pushed once,
        // by a pointer that covers the whole job.
        unsafe { batch.push_raw(child.cast()) };
    }
    if let Some(unused) = spare {
        // Not reached (a slice longer than `LEAF` has a non-empty half), but
        // free the job rather than leak it.
        // SAFETY: made by `SortJob::boxed`, in no batch.
        drop(unsafe { Box::from_raw(unused.as_ptr()) });
    }
    // SAFETY: distinct boxed jobs over disjoint ranges, each untouched until
    // its callback runs; scheduled from a worker of this pool.
    if unsafe { sort.pool.schedule(batch) }.is_err() {
        unreachable!("a worker's schedule is always accepted");
    }
    // The pivot is in place. Last use of `sort` and of the range.
    sort.latch.count_down(1);
}

// ---------------------------------------------------------------------------
// zap-pool, `spawn`: one boxed closure per task, a latch as above.

#[derive(Clone, Copy)]
struct SpawnSort {
    pool: Shared<ThreadPool>,
    latch: Shared<Latch>,
}

/// Sorts `xs` with one `ThreadPool::spawn` per half.
pub fn zap_spawn(pool: &ThreadPool, xs: &mut [i32]) {
    if xs.is_empty() {
        return;
    }
    let latch = Latch::new();
    latch.arm(xs.len());
    // `pool` and `latch` outlive every task: we wait for the latch below,
    // and no task uses either after its last count-down.
    let sort = SpawnSort {
        pool: Shared::new(pool),
        latch: Shared::new(&latch),
    };
    spawn_part(sort, RawSlice::new(xs));
    latch.wait();
}

fn spawn_part(sort: SpawnSort, part: RawSlice) {
    // SAFETY: the pool outlives the sort (see `zap_spawn`).
    let pool = unsafe { sort.pool.get() };
    pool.spawn(move || spawn_task(sort, part))
        .expect("the zap pool is running");
}

fn spawn_task(sort: SpawnSort, part: RawSlice) {
    // SAFETY: the range is alive until the latch is released, which needs
    // this task's count-down, and this task is its only user.
    let xs = unsafe { part.as_mut() };
    // SAFETY: alive while the latch counts this task's elements.
    let latch = unsafe { sort.latch.get() };
    if xs.len() <= LEAF {
        insertion_sort(xs);
        latch.count_down(xs.len());
        return;
    }
    let (left, right) = split(xs);
    for half in [left, right] {
        if !half.is_empty() {
            spawn_part(sort, RawSlice::new(half));
        }
    }
    latch.count_down(1);
}

// ---------------------------------------------------------------------------
// rayon: `join` and `scope`.

pub fn rayon_join(pool: &rayon::ThreadPool, xs: &mut [i32]) {
    pool.install(|| rayon_join_part(xs));
}

fn rayon_join_part(xs: &mut [i32]) {
    if xs.len() <= LEAF {
        insertion_sort(xs);
        return;
    }
    let (left, right) = split(xs);
    rayon::join(|| rayon_join_part(left), || rayon_join_part(right));
}

pub fn rayon_scope(pool: &rayon::ThreadPool, xs: &mut [i32]) {
    pool.scope(|s| rayon_scope_part(s, xs));
}

fn rayon_scope_part<'s>(s: &rayon::Scope<'s>, xs: &'s mut [i32]) {
    if xs.len() <= LEAF {
        insertion_sort(xs);
        return;
    }
    let (left, right) = split(xs);
    for half in [left, right] {
        if !half.is_empty() {
            s.spawn(move |s| rayon_scope_part(s, half));
        }
    }
}

// ---------------------------------------------------------------------------
// tokio: a spawned task per half, awaited by its parent.

pub fn tokio_spawn(rt: &tokio::runtime::Runtime, xs: &mut [i32]) {
    let part = RawSlice::new(xs);
    // The root task, and through it every other, has finished when
    // `block_on` returns, so no task outlives `xs`.
    rt.block_on(async move { tokio_part(part).await })
        .expect("a sort task panicked");
}

fn tokio_part(part: RawSlice) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // SAFETY: `tokio_spawn` waits for the root task, which awaits its
        // children, so the range is alive; this task is its only user.
        let xs = unsafe { part.as_mut() };
        if xs.len() <= LEAF {
            insertion_sort(xs);
            return;
        }
        let (left, right) = split(xs);
        let left = (!left.is_empty()).then(|| tokio_part(RawSlice::new(left)));
        let right = (!right.is_empty()).then(|| tokio_part(RawSlice::new(right)));
        for child in [left, right].into_iter().flatten() {
            child.await.expect("a sort task panicked");
        }
    })
}

// ---------------------------------------------------------------------------
// zap-pool futures: tokio's form above, with `spawn_future` and `block_on`.

pub fn zap_future(pool: &ThreadPool, xs: &mut [i32]) {
    let part = RawSlice::new(xs);
    // As in `tokio_spawn`: the root future awaits every other, so none
    // outlives `xs` once `block_on` returns.
    let root = pool
        .spawn_future(zap_future_part(part))
        .unwrap_or_else(|_| panic!("the zap pool is running"));
    zap_pool::block_on(root).expect("a sort task panicked");
}

// Not an `async fn`: the recursion needs the `Send` bound spelled out on
// the return type (the compiler cannot infer it through the cycle).
#[allow(clippy::manual_async_fn)]
fn zap_future_part(part: RawSlice) -> impl std::future::Future<Output = ()> + Send + 'static {
    async move {
        // SAFETY: as in `tokio_part`: the parent awaits this future, and it
        // is the range's only user.
        let xs = unsafe { part.as_mut() };
        if xs.len() <= LEAF {
            insertion_sort(xs);
            return;
        }
        let (left, right) = split(xs);
        let spawn = |xs: &mut [i32]| {
            (!xs.is_empty()).then(|| {
                zap_pool::spawn_future(Box::pin(zap_future_part(RawSlice::new(xs))) as BoxedSort)
                    .unwrap_or_else(|_| panic!("the zap pool is running"))
            })
        };
        let (left, right) = (spawn(left), spawn(right));
        for child in [left, right].into_iter().flatten() {
            child.await.expect("a sort task panicked");
        }
    }
}

type BoxedSort = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
