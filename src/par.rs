//! Parallel loops: [`for_each`] over an index range, [`for_each_mut`] and
//! [`chunks_mut`] over a mutable slice, [`map`] and [`map_reduce`] over a
//! shared slice. Each one splits its input with [`join`](crate::join), so
//! it runs where `join` runs: on the current pool when called on one of
//! its workers, or the global pool otherwise; `ThreadPool::install` picks
//! another.
//!
//! ```
//! # zap_pool::__skip_doctest_under_models();
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use zap_pool::{ThreadPool, par};
//!
//! let pool = ThreadPool::with_max_threads(2);
//! let squares: Vec<u64> = (0..1000).collect();
//! let total = AtomicU64::new(0);
//! // `install` runs the loop on `pool`; without it, on the global pool.
//! pool.install(|| {
//!     par::for_each(0..1000, |i| {
//!         total.fetch_add(squares[i] * squares[i], Ordering::Relaxed);
//!     })
//! });
//! assert_eq!(total.load(Ordering::Relaxed), 332_833_500);
//! ```
//!
//! Algorithm: one driver, `split`, for all five loops.
//! 1. The input is a *piece*: an index range, a slice, a slice cut into
//!    chunks, or `map`'s input slice together with its output slots. A
//!    piece has a length and splits at any `mid` into the pieces
//!    `[0, mid)` and `[mid, len)`, which partition it.
//! 2. A `Splitter` decides whether to split a piece: only if both halves
//!    would be at least `min_len` long (1 for every loop here) and the
//!    split budget is not spent. The budget starts at the pool's thread
//!    count and halves at every split along a path of the split tree, so
//!    a loop that nobody steals from makes about twice as many leaves as
//!    the pool has threads, and costs about a plain loop.
//! 3. The adaptive rule: every piece remembers the thread that split it
//!    (its worker). A half that starts on another thread was stolen: a
//!    thread was idle. It resets its budget to the thread count, so work
//!    that moves is split again, as finely as the pool can use.
//! 4. A split runs both halves with `join` (the left one here, the right
//!    one offered to the pool) and combines their results in order, left
//!    then right.
//! 5. A leaf runs a plain sequential loop over its piece.
//!
//! `map` writes each result into its slot of a `Vec` allocated once, up
//! front; a leaf returns a `Written` guard that owns the slots it filled,
//! and adjacent guards merge. A panic drops exactly the results that exist.
//!
//! Proof: `docs/par.md`; std tests: `tests/par.rs`, `tests/alloc.rs`; model
//! check: `shuttle_tests/par.rs`.

use crate::scheduler;
use core::marker::PhantomData;
use core::mem;
use core::ops::Range;
use core::ptr;

// ---------------------------------------------------------------------------
// Pieces
// ---------------------------------------------------------------------------

/// What a loop splits: `len` items, in order.
trait Piece: Send + Sized {
    fn len(&self) -> usize;

    /// The items `[0, mid)` and `[mid, len)`, for `0 < mid < len`.
    fn split_at(self, mid: usize) -> (Self, Self);
}

impl Piece for Range<usize> {
    fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        let cut = self.start + mid;
        (self.start..cut, cut..self.end)
    }
}

impl<T: Send> Piece for &mut [T] {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        self.split_at_mut(mid)
    }
}

impl<T: Sync> Piece for &[T] {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        <[T]>::split_at(self, mid)
    }
}

/// A slice cut into chunks of `chunk_len` (the last one may be shorter);
/// its items are the chunks, the first of which has index `first`.
struct Chunks<'a, T> {
    slice: &'a mut [T],
    chunk_len: usize,
    first: usize,
}

impl<T: Send> Piece for Chunks<'_, T> {
    fn len(&self) -> usize {
        self.slice.len().div_ceil(self.chunk_len)
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        // `mid < len` chunks: the cut falls inside the slice, and no chunk
        // but the piece's last one is short.
        let (left, right) = self.slice.split_at_mut(mid * self.chunk_len);
        let half = |slice, first| Chunks {
            slice,
            chunk_len: self.chunk_len,
            first,
        };
        (half(left, self.first), half(right, self.first + mid))
    }
}

/// `map`'s input `input` and the output slots `out .. out + input.len()`
/// for its results, slot `i` for `input[i]`. All slot pointers derive from
/// the one pointer to the output `Vec`'s buffer, so a guard that merges
/// adjacent slots may reach all of them.
struct MapPiece<'a, T, R> {
    input: &'a [T],
    out: *mut R,
}

// SAFETY: a piece is the only one to reach its slots (the pieces of one
// `map` partition the slots as they partition the input), which hold `R:
// Send` values; the input is shared, `T: Sync`.
unsafe impl<T: Sync, R: Send> Send for MapPiece<'_, T, R> {}

impl<'a, T: Sync, R: Send> Piece for MapPiece<'a, T, R> {
    fn len(&self) -> usize {
        self.input.len()
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        let (left, right) = self.input.split_at(mid);
        // `mid <= input.len()`: inside the buffer (`wrapping_add`, the
        // same address, needs no proof of it).
        let right_out = self.out.wrapping_add(mid);
        (
            MapPiece {
                input: left,
                out: self.out,
            },
            MapPiece {
                input: right,
                out: right_out,
            },
        )
    }
}

impl<T, R> MapPiece<'_, T, R> {
    /// The leaf of `map`: fills the piece's slots in order. The guard owns
    /// each result from the moment it is written, so a panic of `f` drops
    /// the results written before it.
    fn fill(self, f: &impl Fn(&T) -> R) -> Written<R> {
        let mut written = Written {
            start: self.out,
            len: 0,
            owns: PhantomData,
        };
        for x in self.input {
            let value = f(x);
            // SAFETY: slot `written.len` is one of this piece's
            // `input.len()` slots, which only this piece reaches, and is
            // not yet initialized (the guard owns `[0, len)`).
            unsafe { written.start.add(written.len).write(value) };
            written.len += 1;
        }
        written
    }
}

/// Owns the initialized results in the slots `start .. start + len` of a
/// `map`: drops them if it is dropped (a panic), until `map` takes them
/// over.
struct Written<R> {
    start: *mut R,
    len: usize,
    owns: PhantomData<R>,
}

// SAFETY: it owns its `R: Send` values; nothing else reaches their slots.
unsafe impl<R: Send> Send for Written<R> {}

impl<R> Written<R> {
    /// The results of two adjacent pieces, as one guard.
    fn append(mut self, right: Self) -> Self {
        // The pieces partition the slots: the right half starts where the
        // left one ends. Checked, as the guard's safety rests on it; on
        // failure both guards drop their own slots.
        assert!(
            ptr::eq(self.start.wrapping_add(self.len), right.start),
            "par::map: results of non-adjacent pieces"
        );
        self.len += right.len;
        mem::forget(right);
        self
    }
}

impl<R> Drop for Written<R> {
    fn drop(&mut self) {
        // SAFETY: the guard owns the initialized values in these slots
        // (`fill`, `append`) and nobody else drops or reads them.
        unsafe { ptr::drop_in_place(ptr::slice_from_raw_parts_mut(self.start, self.len)) };
    }
}

// ---------------------------------------------------------------------------
// The splitter and the driver
// ---------------------------------------------------------------------------

/// The calling thread as the splitter sees it: an identity, and the thread
/// count of its pool.
struct Here {
    /// The address of the thread's worker (0 off the pools): live workers
    /// are on their threads' stacks, so two live ones never share it.
    mark: usize,
    threads: usize,
}

fn here() -> Here {
    match scheduler::current_worker() {
        Some(worker) => Here {
            mark: ptr::from_ref(worker).addr(),
            threads: worker.pool().config().max_threads,
        },
        // Off the pools only a piece too short to split gets here (`run`
        // moves every other loop onto a worker first).
        None => Here {
            mark: 0,
            threads: 1,
        },
    }
}

/// Decides whether a piece splits (module docs, steps 2 and 3).
#[derive(Clone, Copy)]
struct Splitter {
    /// Splits left along this path of the split tree.
    budget: usize,
    /// Neither half of a split may be shorter (at least 1).
    min_len: usize,
    /// `Here::mark` of the thread that made this splitter (split its
    /// piece's parent, or started the loop).
    origin: usize,
}

impl Splitter {
    fn new(min_len: usize) -> Self {
        let here = here();
        Self {
            budget: here.threads,
            min_len: min_len.max(1),
            origin: here.mark,
        }
    }

    /// Whether a piece of `len` items splits; if so, `self` is the
    /// splitter of both halves.
    fn try_split(&mut self, len: usize) -> bool {
        let here = here();
        if here.mark != self.origin {
            // Stolen: another thread was idle. Split again for the pool.
            self.origin = here.mark;
            self.budget = self.budget.max(here.threads);
        }
        if len / 2 < self.min_len || self.budget == 0 {
            return false;
        }
        self.budget /= 2;
        true
    }
}

/// Runs `leaf` on each leaf of the split tree of `piece` and folds the
/// results in order with `combine`.
fn split<P, R, L, C>(piece: P, mut splitter: Splitter, leaf: &L, combine: &C) -> R
where
    P: Piece,
    R: Send,
    L: Fn(P) -> R + Sync,
    C: Fn(R, R) -> R + Sync,
{
    let len = piece.len();
    if !splitter.try_split(len) {
        return leaf(piece);
    }
    let (left, right) = piece.split_at(len / 2);
    let (l, r) = crate::join(
        move || split(left, splitter, leaf, combine),
        move || split(right, splitter, leaf, combine),
    );
    combine(l, r)
}

/// Every loop: `split` from a fresh splitter, on a worker. Called from a
/// thread of no pool, the whole loop first moves onto a worker of the
/// global pool (one `install`), so that its splitter starts with that
/// pool's thread count and every split forks on a worker.
fn run<P, R, L, C>(piece: P, min_len: usize, leaf: &L, combine: &C) -> R
where
    P: Piece,
    R: Send,
    L: Fn(P) -> R + Sync,
    C: Fn(R, R) -> R + Sync,
{
    if scheduler::current_worker().is_none() && piece.len() > 1 {
        return crate::global::global()
            .install(move || split(piece, Splitter::new(min_len), leaf, combine));
    }
    split(piece, Splitter::new(min_len), leaf, combine)
}

// ---------------------------------------------------------------------------
// The loops
// ---------------------------------------------------------------------------

/// Calls `f(i)` for every `i` in `range`, in parallel.
///
/// Each index is passed to `f` exactly once (an empty or reversed range
/// calls it never). The range is split among the pool's threads, and split
/// further when some thread runs out of work; each part is a plain loop.
/// No heap allocation.
///
/// # Panics
///
/// If `f` panics, the panic is re-raised here once every part of the loop
/// that started has finished. Each index is then passed to `f` at most
/// once: the indices of parts that had not started are skipped.
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// let hits: Vec<AtomicUsize> = (0..100).map(|_| AtomicUsize::new(0)).collect();
/// zap_pool::par::for_each(0..100, |i| {
///     hits[i].fetch_add(1, Ordering::Relaxed);
/// });
/// assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
/// ```
pub fn for_each<F>(range: Range<usize>, f: F)
where
    F: Fn(usize) + Sync,
{
    run(
        range,
        1,
        &|part: Range<usize>| part.for_each(&f),
        &|(), ()| (),
    );
}

/// Calls `f` on every element of `slice`, in parallel, each exactly once.
///
/// Split as [`for_each`] splits its range; no heap allocation. A panic of
/// `f` is re-raised as in [`for_each`]; the elements it did not reach are
/// left as they were.
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// let mut xs: Vec<u32> = (0..1000).collect();
/// zap_pool::par::for_each_mut(&mut xs, |x| *x *= 2);
/// assert!(xs.iter().enumerate().all(|(i, &x)| x == 2 * i as u32));
/// ```
pub fn for_each_mut<T, F>(slice: &mut [T], f: F)
where
    T: Send,
    F: Fn(&mut T) + Sync,
{
    run(
        slice,
        1,
        &|part: &mut [T]| part.iter_mut().for_each(&f),
        &|(), ()| (),
    );
}

/// Calls `f(index, chunk)` for every chunk of `chunk_len` elements of
/// `slice`, in parallel, as `slice.chunks_mut(chunk_len).enumerate()`
/// would list them: the last chunk is shorter if `chunk_len` does not
/// divide the length.
///
/// Each chunk is passed exactly once; no heap allocation. A panic of `f` is
/// re-raised as in [`for_each`].
///
/// # Panics
///
/// If `chunk_len` is 0.
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// let mut xs = vec![0usize; 10];
/// zap_pool::par::chunks_mut(&mut xs, 4, |index, chunk| chunk.fill(index));
/// assert_eq!(xs, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]);
/// ```
pub fn chunks_mut<T, F>(slice: &mut [T], chunk_len: usize, f: F)
where
    T: Send,
    F: Fn(usize, &mut [T]) + Sync,
{
    assert!(
        chunk_len != 0,
        "par::chunks_mut: chunk_len must be non-zero"
    );
    let piece = Chunks {
        slice,
        chunk_len,
        first: 0,
    };
    let leaf = |part: Chunks<'_, T>| {
        for (i, chunk) in part.slice.chunks_mut(chunk_len).enumerate() {
            f(part.first + i, chunk);
        }
    };
    run(piece, 1, &leaf, &|(), ()| ());
}

/// `slice.iter().map(f).collect()`, in parallel: the results in the order
/// of their inputs.
///
/// `f` is called exactly once per element. One heap allocation: the
/// returned `Vec`, into which each result is written in place.
///
/// # Panics
///
/// If `f` panics, the panic is re-raised here once every part that started
/// has finished, and every result produced so far is dropped (once).
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// let words = ["fork", "join", "steal"];
/// let lens = zap_pool::par::map(&words, |w| w.len());
/// assert_eq!(lens, [4, 4, 5]);
/// ```
pub fn map<T, R, F>(slice: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let n = slice.len();
    let mut out: Vec<R> = Vec::with_capacity(n);
    // The one pointer every slot pointer derives from: valid for the
    // `capacity >= n` slots of the buffer, which `out` does not touch
    // until `set_len`.
    let base = out.as_mut_ptr();
    let piece = MapPiece {
        input: slice,
        out: base,
    };
    let written = run(
        piece,
        1,
        &|part: MapPiece<'_, T, R>| part.fill(&f),
        &Written::append,
    );
    // The leaves' guards merged into one that owns every slot.
    assert!(
        ptr::eq(written.start, base) && written.len == n,
        "par::map: results do not cover the output"
    );
    mem::forget(written);
    // SAFETY: the `n` slots at `base`, `out`'s buffer, are initialized, and
    // their only owner (the guard) was forgotten: `out` owns them now.
    unsafe { out.set_len(n) };
    out
}

/// `slice.iter().map(map).fold(identity(), op)`, in parallel.
///
/// Each part of the slice folds its own elements, starting from its own
/// `identity()`; the parts' results are then combined with `op`, left to
/// right, so for an associative `op` with `identity()` as its identity the
/// result is that of the sequential fold. `map` is called exactly once per
/// element, `identity` once per part; no heap allocation. A panic of any
/// closure is re-raised as in [`for_each`], and the values produced so far
/// are dropped.
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// let xs: Vec<u64> = (1..=1000).collect();
/// let sum_of_squares = zap_pool::par::map_reduce(&xs, |&x| x * x, || 0, |a, b| a + b);
/// assert_eq!(sum_of_squares, 333_833_500);
/// ```
pub fn map_reduce<T, R, M, I, O>(slice: &[T], map: M, identity: I, op: O) -> R
where
    T: Sync,
    R: Send,
    M: Fn(&T) -> R + Sync,
    I: Fn() -> R + Sync,
    O: Fn(R, R) -> R + Sync,
{
    let leaf = |part: &[T]| part.iter().fold(identity(), |acc, x| op(acc, map(x)));
    run(slice, 1, &leaf, &op)
}
