//! Futures on the pool: `FutureTask`, a spawned future and its state
//! machine; `JoinWaker`, the waker slot of the `JoinHandle` that awaits a
//! task; and [`block_on`].
//!
//! ## The task
//!
//! One heap allocation: the handle's `Header` (`handle.rs`: the raw
//! `Task`, a reference count, the output slot with its latch, the
//! `JoinWaker`), the state word, the future, and the task's home (its pool,
//! which it keeps allocated). A waker is a pointer to the allocation and a
//! count of it: no allocation per poll or wake.
//!
//! ```text
//! IDLE ──wake──> NOTIFIED ──run──> RUNNING ──Pending──> IDLE
//!                   ^                 │  └──Ready/panic──> COMPLETE
//!                   │            wake │
//!                   │                 v
//!                   └──Pending── RUNNING|NOTIFIED
//! ```
//!
//! * `wake` is always one `fetch_or(NOTIFIED)`. Only the wake that finds
//!   IDLE schedules the task (it adds a count for the queued task, which
//!   travels with it); on NOTIFIED, RUNNING|NOTIFIED or COMPLETE it does
//!   nothing more, and on RUNNING it has asked the running poll to go again.
//! * `run` (the task callback) swaps NOTIFIED for RUNNING and polls.
//!   `Pending`: a CAS RUNNING → IDLE ends it; if the CAS fails, a wake came
//!   during the poll, so it stores NOTIFIED and schedules the task again
//!   (a count for the new queued task first, so its own keeps the
//!   allocation and the pool alive through `schedule`). `Ready`, or a
//!   panic: it drops the future, stores COMPLETE, writes the output, sets
//!   the latch and completes the `JoinWaker`.
//! * Scheduling goes to the task's own pool, from any thread. If the pool
//!   refuses (it shut down and this thread is not one of its workers), the
//!   thread that scheduled it polls it itself, at once.
//! * The allocation is freed by the last count: the handle's, a waker's, or
//!   the queued/running task's. A task that is idle when the last of them
//!   goes can never be polled again: its future is dropped with it.
//!
//! ## The handle's waker (`JoinWaker`)
//!
//! Three bits: REGISTERED (the slot holds the awaiting waker, and only
//! reads of it are allowed), DONE, and LEFT. The handle writes the slot
//! only while neither REGISTERED nor DONE is set, then sets REGISTERED; to
//! replace the waker it first clears REGISTERED with a CAS, which fails if
//! DONE came first. The completer sets DONE after the latch, wakes the
//! slot's waker if REGISTERED was set, then clears REGISTERED: the slot is
//! the handle's again. The handle empties the slot once it is done with it
//! (its output taken, or dropped), so that a waker never outlives its use
//! inside a finished task (a chain of finished tasks, each holding its
//! parent's waker, would be freed recursively); if the completer is still
//! waking, the handle sets LEFT instead and the completer empties it.
//!
//! ## `block_on`
//!
//! A signal word (IDLE, NOTIFIED, WAITING) and a latch. After a `Pending`
//! poll the caller CASes IDLE → WAITING and waits for the latch with
//! `scheduler::wait_for` (a worker keeps running its pool's tasks); a wake
//! swaps in NOTIFIED and sets the latch if it took WAITING away. The caller
//! then resets the latch and swaps NOTIFIED back to IDLE before it polls.
//!
//! Proof: `docs/future.md`; model checks: `loom_tests/future.rs`,
//! `shuttle_tests/future.rs`.

use super::handle::{Header, JoinHandle};
use super::job::{Completion, Outcome};
use crate::raw::Task;
use crate::scheduler::{self, Pool};
use crate::structures::latch::Latch;
use crate::sync::UnsafeCell;
use crate::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use core::future::Future;
use core::mem::ManuallyDrop;
use core::pin::{Pin, pin};
use core::ptr::NonNull;
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::task::Wake;

/// Not scheduled, not running: the next wake schedules it.
const IDLE: usize = 0;
/// Being polled.
const RUNNING: usize = 1;
/// A poll is owed: queued (alone), or asked of the running poll.
const NOTIFIED: usize = 2;
/// The output is (being) written; wakes do nothing any more.
const COMPLETE: usize = 4;

/// Where a woken future task goes. A pool in normal builds; the model
/// tests substitute their own queue.
pub trait Home: Send + Sync + 'static {
    /// Schedules `task` (its callback polls the future). False if refused:
    /// then the caller polls it itself.
    fn schedule(&self, task: NonNull<Task>) -> bool;
}

/// A future task's pool, kept allocated while the task exists (its wakers
/// may come after the `ThreadPool` was dropped: `schedule` is then
/// refused, and the waker polls the task itself).
pub(crate) struct PoolHome(NonNull<Pool>);

// SAFETY: a `Pool` is `Send + Sync`; the pointer is kept valid by the
// `keep` count this home holds.
unsafe impl Send for PoolHome {}
// SAFETY: as above.
unsafe impl Sync for PoolHome {}

impl PoolHome {
    fn new(pool: &Pool) -> Self {
        pool.keep();
        Self(NonNull::from(pool))
    }
}

impl Home for PoolHome {
    fn schedule(&self, task: NonNull<Task>) -> bool {
        crate::sync::ghost::assert_live(self.0.as_ptr().cast(), "a future task's wake");
        // SAFETY: alive: this home holds a `keep` count. The task is a
        // whole future task that stays alive until its callback starts
        // (the queued task's count), in no other batch (only the holder of
        // the NOTIFIED token schedules it).
        unsafe { super::job::submit(self.0.as_ref(), task) }
    }
}

impl Drop for PoolHome {
    fn drop(&mut self) {
        // SAFETY: the count taken in `new`, given back once.
        unsafe { Pool::free(self.0.as_ptr()) };
    }
}

/// Spawns `future` on `pool`. Hands it back if the pool refuses it.
pub(crate) fn spawn<F>(pool: &Pool, future: F) -> Result<JoinHandle<F::Output>, F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    FutureTask::spawn(PoolHome::new(pool), future)
}

/// A spawned future: the handle's header, the state word, the future and
/// its home. Fields drop in this order, so the future is gone before the
/// home gives its pool back.
#[repr(C)]
pub(crate) struct FutureTask<F: Future, H> {
    /// First field: a `*mut Task` (or `*mut Header`) of this allocation is
    /// a `*mut FutureTask`.
    header: Header<F::Output>,
    state: AtomicUsize,
    /// `None` once the future completed (or panicked).
    future: UnsafeCell<Option<F>>,
    home: H,
}

impl<F, H> FutureTask<F, H>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    H: Home,
{
    const VTABLE: RawWakerVTable = RawWakerVTable::new(
        Self::clone_waker,
        Self::wake,
        Self::wake_by_ref,
        Self::drop_waker,
    );

    /// Allocates the task (NOTIFIED, two counts: the handle's and the
    /// queued task's) and schedules it. Hands the future back if `home`
    /// refuses it.
    pub(crate) fn spawn(home: H, future: F) -> Result<JoinHandle<F::Output>, F> {
        let task = Box::new(Self {
            header: Header {
                task: Task::new(Self::run),
                // Claimed from the start: `join` never runs it inline.
                claimed: AtomicU32::new(1),
                refs: AtomicUsize::new(2),
                done: Completion::new(),
                joiner: JoinWaker::new(),
                execute: Self::never_executed,
                free: Self::free,
            },
            state: AtomicUsize::new(NOTIFIED),
            future: UnsafeCell::new(Some(future)),
            home,
        });
        let this = NonNull::from(Box::leak(task));
        crate::sync::ghost::allocated(this.as_ptr().cast());
        // SAFETY: fresh; the handle's count (ours until returned) keeps it
        // alive through `schedule`.
        if unsafe { this.as_ref() }.home.schedule(this.cast()) {
            // SAFETY: the handle's count goes to the handle.
            Ok(unsafe { JoinHandle::from_header(this.cast()) })
        } else {
            // SAFETY: refused: no thread ever saw the allocation.
            let task = unsafe { Box::from_raw(this.as_ptr()) };
            Err(task.future.into_inner().expect("never polled"))
        }
    }

    /// `Header::execute`, which `join` never calls: the header is claimed.
    unsafe fn never_executed(_: NonNull<Header<F::Output>>) {
        unreachable!("a future task is never claimed");
    }

    /// `Header::free`: the last count is gone.
    unsafe fn free(header: NonNull<Header<F::Output>>) {
        let this = header.cast::<Self>().as_ptr();
        crate::sync::ghost::freed(this.cast());
        if cfg!(any(loom, shuttle)) {
            // The model builds drop the contents but keep the memory, so
            // that a use after free meets the ghost's mark, not garbage.
            // SAFETY: the last owner; never touched again but by the
            // ghost's check.
            unsafe { core::ptr::drop_in_place(this) };
        } else {
            // SAFETY: made by `Box::leak` in `spawn`; the last owner.
            drop(unsafe { Box::from_raw(this) });
        }
    }

    /// The model builds' use-after-free check (`sync::ghost`).
    fn assert_live(data: *const (), what: &str) {
        crate::sync::ghost::assert_live(data, what);
    }

    /// The task callback: poll until `Pending` with no wake pending, or
    /// until the future completes. Holds the queued task's count, which it
    /// gives back, or passes on to the next queued task.
    unsafe fn run(task: NonNull<Task>) {
        let this = task.cast::<Self>();
        Self::assert_live(this.as_ptr().cast(), "a future task's poll");
        // SAFETY: the queued task's count keeps it alive.
        let me = unsafe { this.as_ref() };
        loop {
            // Acquire: this poll sees the writes of the wakes that asked
            // for it (their Release fetch_or) and of the last poll (its
            // Release CAS to IDLE, whose release sequence the wakes'
            // RMWs continue).
            let was = me.state.swap(RUNNING, Ordering::Acquire);
            debug_assert_eq!(was, NOTIFIED, "a task polled without a wake");
            // A borrowed waker: no count of its own (`clone` takes one).
            let waker = ManuallyDrop::new(
                // SAFETY: the vtable's functions expect this pointer.
                unsafe { Waker::from_raw(RawWaker::new(this.as_ptr().cast(), &Self::VTABLE)) },
            );
            let mut cx = Context::from_waker(&waker);
            let polled = panic::catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: RUNNING makes this the only access to the future;
                // it is pinned: it never moves out of the allocation (it is
                // dropped in place).
                me.future.with_mut(|f| unsafe {
                    Pin::new_unchecked((*f).as_mut().expect("not complete")).poll(&mut cx)
                })
            }));
            match polled {
                Ok(Poll::Pending) => {}
                Ok(Poll::Ready(value)) => {
                    // SAFETY: RUNNING, and the queued task's count is ours.
                    return unsafe { Self::complete(this, Ok(value)) };
                }
                Err(payload) => {
                    // SAFETY: as above.
                    return unsafe { Self::complete(this, Err(payload)) };
                }
            }
            // Release: this poll's writes happen-before the next poll.
            // Failure Acquire: the wakes that came during the poll (their
            // Release fetch_or) happen-before the next poll.
            match me
                .state
                .compare_exchange(RUNNING, IDLE, Ordering::Release, Ordering::Acquire)
            {
                Ok(_) => {
                    // SAFETY: the queued task's count, given back.
                    return unsafe { Header::<F::Output>::release(this.cast()) };
                }
                Err(now) => debug_assert_eq!(now, RUNNING | NOTIFIED),
            }
            // Woken during the poll: poll again, behind the pool's other
            // tasks. Relaxed: only this thread changes the word now (a
            // wake's fetch_or finds NOTIFIED set), and the queue's edges
            // carry what this thread saw to the next runner.
            me.state.store(NOTIFIED, Ordering::Relaxed);
            // SAFETY: we hold the NOTIFIED token and a count.
            if unsafe { Self::reschedule(this) } {
                return;
            }
            // Refused (the pool shut down): poll again here.
        }
    }

    /// Schedules the task again for its NOTIFIED token, whose count the
    /// caller holds: a new count for the queued task first, so that the
    /// caller's keeps the allocation (and its pool) alive through
    /// `schedule`; then the caller's is given back. True if scheduled;
    /// false if refused (the caller still holds the token and its count).
    ///
    /// # Safety
    /// The caller holds the NOTIFIED token and a count.
    unsafe fn reschedule(this: NonNull<Self>) -> bool {
        // SAFETY: alive: the caller's count.
        let me = unsafe { this.as_ref() };
        me.add_count();
        let scheduled = me.home.schedule(this.cast());
        // SAFETY: one of the two counts: the caller's if scheduled (the
        // queued task has the new one), else the new one.
        unsafe { Header::<F::Output>::release(this.cast()) };
        scheduled
    }

    /// The future is done (`outcome`): drop it, publish the outcome, wake
    /// the handle's waker, give the queued task's count back.
    ///
    /// # Safety
    /// The caller is the running poll and holds the queued task's count.
    unsafe fn complete(this: NonNull<Self>, outcome: Outcome<F::Output>) {
        // SAFETY: alive: the caller's count.
        let me = unsafe { this.as_ref() };
        // The future goes first, in place (its drop may panic too).
        let dropped = panic::catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: RUNNING: the only access to the future.
            drop(me.future.with_mut(|f| unsafe { (*f).take() }));
        }));
        let outcome = match (outcome, dropped) {
            (Ok(_), Err(payload)) => Err(payload),
            (outcome, _) => outcome,
        };
        // Relaxed: a late wake only needs to find COMPLETE to do nothing;
        // the outcome travels through the latch and the join waker.
        me.state.store(COMPLETE, Ordering::Relaxed);
        // SAFETY: alive (our count) until after the latch is set; written
        // once (the task completes once).
        unsafe { Completion::finish(&raw const (*this.as_ptr()).header.done, outcome) };
        me.header.joiner.complete();
        // SAFETY: the queued task's count, given back.
        unsafe { Header::<F::Output>::release(this.cast()) };
    }

    /// One more count (a waker clone, a queued task).
    fn add_count(&self) {
        // Relaxed: the caller holds a count already (as `Arc::clone`).
        let old = self.header.refs.fetch_add(1, Ordering::Relaxed);
        if old > isize::MAX as usize {
            // Leaked wakers by the billion: as `Arc`, abort.
            std::process::abort();
        }
    }

    /// The wake: true if it took the task from IDLE, so that the caller
    /// must schedule it.
    fn notify(&self) -> bool {
        // AcqRel. Release: the waker's writes happen-before the poll this
        // wake causes. Acquire: when it schedules the task, the last poll's
        // writes (its Release CAS to IDLE) come before the push.
        self.state.fetch_or(NOTIFIED, Ordering::AcqRel) == IDLE
    }

    unsafe fn clone_waker(data: *const ()) -> RawWaker {
        Self::assert_live(data, "a waker's clone");
        // SAFETY: a waker's pointer: alive while the waker is.
        unsafe { &*data.cast::<Self>() }.add_count();
        RawWaker::new(data, &Self::VTABLE)
    }

    unsafe fn wake(data: *const ()) {
        // SAFETY: the waker's own count is held until the end.
        unsafe {
            Self::wake_by_ref(data);
            Self::drop_waker(data);
        }
    }

    unsafe fn wake_by_ref(data: *const ()) {
        Self::assert_live(data, "a wake");
        let this = NonNull::new(data.cast_mut())
            .expect("a waker's pointer")
            .cast::<Self>();
        // SAFETY: the caller's waker holds a count.
        let me = unsafe { this.as_ref() };
        if me.notify() {
            // The NOTIFIED token is ours: a count for the queued task.
            me.add_count();
            if !me.home.schedule(this.cast()) {
                // Refused: the pool shut down. Poll it here, now.
                // SAFETY: we hold the token and its count.
                unsafe { Self::run(this.cast()) };
            }
        }
    }

    unsafe fn drop_waker(data: *const ()) {
        let this = NonNull::new(data.cast_mut()).expect("a waker's pointer");
        // SAFETY: the waker's count, given back once.
        unsafe { Header::release(this.cast::<Header<F::Output>>()) };
    }
}

/// REGISTERED: the slot holds the awaiting waker; only reads of it now.
const REGISTERED: usize = 1;
/// DONE: the latch is set; the handle never registers again.
const DONE: usize = 2;
/// LEFT: the handle is done with the slot while the completer reads it:
/// the completer empties it.
const LEFT: usize = 4;

/// The waker of whoever awaits a `JoinHandle`, and the handshake with the
/// task that completes.
pub(crate) struct JoinWaker {
    state: AtomicUsize,
    waker: UnsafeCell<Option<Waker>>,
}

impl JoinWaker {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicUsize::new(0),
            waker: UnsafeCell::new(None),
        }
    }

    /// The handle's side: keeps `waker` for the completer. True if the
    /// task is done (its latch is set and visible): then nothing waits.
    pub(crate) fn register(&self, waker: &Waker) -> bool {
        // Acquire: DONE is written after the latch is set: seeing it makes
        // the set (and the output) visible.
        let state = self.state.load(Ordering::Acquire);
        if state & DONE != 0 {
            return true;
        }
        if state & REGISTERED != 0 {
            // SAFETY: REGISTERED: the completer only reads the slot, and
            // only the handle (this thread) writes it.
            let same = self
                .waker
                .with(|w| unsafe { (*w).as_ref() }.is_some_and(|w| w.will_wake(waker)));
            if same {
                return false;
            }
            // Take the slot back to replace the waker. Relaxed on success:
            // the completer reads the slot only after its RMW finds
            // REGISTERED, which is now after our Release below. Acquire on
            // failure: DONE, as above.
            if self
                .state
                .compare_exchange(REGISTERED, 0, Ordering::Relaxed, Ordering::Acquire)
                .is_err()
            {
                return true;
            }
        }
        // SAFETY: neither bit set: the completer does not read the slot
        // before its RMW sees our fetch_or below.
        self.waker.with_mut(|w| unsafe { *w = Some(waker.clone()) });
        // AcqRel. Release: the completer's Acquire RMW sees the waker.
        // Acquire: DONE, as above.
        self.state.fetch_or(REGISTERED, Ordering::AcqRel) & DONE != 0
    }

    /// The completer's side, after the latch is set: wakes the awaiting
    /// waker, if one is registered.
    pub(crate) fn complete(&self) {
        // AcqRel. Release: the latch's set happens-before the handle's
        // Acquire of DONE. Acquire: a registered waker is visible.
        if self.state.fetch_or(DONE, Ordering::AcqRel) & REGISTERED == 0 {
            return;
        }
        // SAFETY: REGISTERED and DONE: the handle only reads the slot.
        self.waker
            .with(|w| unsafe { (*w).as_ref() }.map(Waker::wake_by_ref));
        // AcqRel. Release: our reads of the slot happen-before the
        // handle's emptying of it (its Acquire). Acquire: if LEFT, the
        // handle's reads of it (its Release CAS) happen-before ours.
        if self.state.fetch_and(!REGISTERED, Ordering::AcqRel) & LEFT != 0 {
            // SAFETY: the handle left: the slot is ours alone.
            drop(self.waker.with_mut(|w| unsafe { (*w).take() }));
        }
    }

    /// The handle's side, once it is done with the slot (its output taken,
    /// or the handle dropped): empties it now, or leaves that to the
    /// completer if it is reading it. Idempotent.
    pub(crate) fn leave(&self) {
        // Acquire: REGISTERED cleared by the completer: its reads of the
        // slot (its Release fetch_and) happen-before our emptying of it.
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & LEFT != 0 {
                // Left before (a `Ready` poll, then the drop): the
                // completer empties the slot.
                return;
            }
            if state & REGISTERED == 0 {
                // SAFETY: not REGISTERED: the completer does not read the
                // slot (any more), and nobody else writes it.
                drop(self.waker.with_mut(|w| unsafe { (*w).take() }));
                return;
            }
            let completing = state & DONE != 0;
            let new = if completing {
                state | LEFT
            } else {
                state & !REGISTERED
            };
            // Release: with LEFT, our reads of the slot happen-before the
            // completer's emptying of it. (Without DONE, clearing
            // REGISTERED makes the completer skip the slot: nothing to
            // order.) Failure Acquire: as the load.
            match self
                .state
                .compare_exchange(state, new, Ordering::Release, Ordering::Acquire)
            {
                Ok(_) if completing => return,
                Ok(_) => state = new,
                Err(actual) => state = actual,
            }
        }
    }
}

/// Runs `future` to completion on the calling thread and returns its
/// output.
///
/// While the future is pending, a worker thread of a pool (inside a task,
/// an [`install`](crate::ThreadPool::install), or a future on the pool)
/// keeps running its pool's tasks, as [`JoinHandle::join`] does, so a
/// `block_on` inside the pool never starves it, even on one thread. Any
/// other thread sleeps on a futex until a wake. It allocates once per call
/// (the waker), not per poll or wake.
///
/// A panic of the future propagates to the caller.
///
/// ```
/// # zap_pool::__skip_doctest_under_models();
/// let pool = zap_pool::ThreadPool::with_max_threads(2);
/// let handle = pool.spawn_future(async { 6 * 7 }).unwrap();
/// assert_eq!(zap_pool::block_on(handle).unwrap(), 42);
/// // On a worker, it helps: a one-thread pool blocks on its own work.
/// let one = zap_pool::ThreadPool::with_max_threads(1);
/// let n = one.install(|| {
///     let inner = zap_pool::spawn_future(async { 1 }).unwrap();
///     zap_pool::block_on(inner).unwrap()
/// });
/// assert_eq!(n, 1);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let signal = Arc::new(Signal {
        state: AtomicU32::new(SIGNAL_IDLE),
        latch: Latch::new(),
    });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        signal.wait();
    }
}

const SIGNAL_IDLE: u32 = 0;
const SIGNAL_NOTIFIED: u32 = 1;
const SIGNAL_WAITING: u32 = 2;

/// `block_on`'s waker: a word and the latch its caller waits on.
struct Signal {
    state: AtomicU32,
    latch: Latch,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // AcqRel. Release: the waker's writes happen-before the next poll
        // (the caller's Acquire swap). Acquire: from WAITING, the caller's
        // reset of the latch (published by its Release CAS) comes before
        // our set.
        if self.state.swap(SIGNAL_NOTIFIED, Ordering::AcqRel) == SIGNAL_WAITING {
            // SAFETY: alive (our `Arc`); the one setter of this round: only
            // the swap that took WAITING away sets it.
            unsafe { Latch::set(&self.latch) };
        }
    }
}

impl Signal {
    /// After a `Pending` poll: returns once a wake came (maybe during
    /// that poll).
    fn wait(&self) {
        // Release: publishes the latch's reset to the wake that takes
        // WAITING. Failure (NOTIFIED: woken during the poll): Relaxed, the
        // swap below acquires.
        if self
            .state
            .compare_exchange(
                SIGNAL_IDLE,
                SIGNAL_WAITING,
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            scheduler::wait_for(None, &self.latch, &|| true);
            // SAFETY: our latch, seen set; its next setter needs WAITING
            // again, which our next Release CAS publishes.
            unsafe { self.latch.reset() };
        }
        // Acquire: the wakes' writes happen-before the next poll.
        self.state.swap(SIGNAL_IDLE, Ordering::Acquire);
    }
}
