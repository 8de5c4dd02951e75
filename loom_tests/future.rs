//! Future tasks (src/fork_join/future.rs): the state machine alone, with a
//! one-slot queue of the test's own in place of the pool (`model::Home`),
//! and a runner thread that drains it as a worker would.
//!
//! What every test checks: exactly one poll at a time (the future's own
//! state is a loom cell, written by each poll, so two polls without a
//! happens-before edge between them are a causality violation); no lost
//! wake (the future completes only when it sees a flag that the waker sets
//! with Relaxed before it wakes: only the state machine's edges make the
//! poll after the wake see it, and a poll that misses it waits for ever, a
//! loom failure); the output read once; and the allocation freed exactly
//! once, after its last use (the model builds keep freed tasks and mark
//! them, `sync::ghost`, so a late access fails an assertion).
//!
//! The queue mimics the pool's intrusive link: scheduling writes a loom
//! cell that the runner reads when it takes the task, so a wake that
//! schedules without acquiring the last poll is a causality violation, as
//! it would be on the task's `next` link.

use crate::{Outcomes, model};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::thread;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use zap_pool::JoinHandle;
use zap_pool::model::{Home, spawn_future_with};
use zap_pool::raw::Task;

loom::thread_local! {
    /// Which actor this model thread is, for the outcome counts.
    static ROLE: Cell<&'static str> = Cell::new("main");
}

fn role() -> &'static str {
    ROLE.with(Cell::get)
}

fn set_role(role: &'static str) {
    ROLE.with(|r| r.set(role));
}

/// The pool's place: one slot (one task, so at most one queued token).
struct Queue {
    slot: AtomicUsize,
    /// What the task's intrusive link is in the pool: written by whoever
    /// schedules, read by whoever takes the task.
    link: UnsafeCell<usize>,
    /// Refuse every schedule from now on (the pool shut down).
    closed: AtomicBool,
    /// Per execution, outside the model: who scheduled, how often, what
    /// was refused, and who freed the task (its home is dropped with it).
    scheduled_by: std::sync::Mutex<Vec<&'static str>>,
    refused: StdAtomicUsize,
    freed_by: std::sync::Mutex<Vec<&'static str>>,
}

// SAFETY: `link` is written by the holder of the task's NOTIFIED token
// before the Release swap into `slot`, and read after the Acquire swap out
// of it; loom checks the edges.
unsafe impl Sync for Queue {}
// SAFETY: as above.
unsafe impl Send for Queue {}

impl Queue {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            slot: AtomicUsize::new(0),
            link: UnsafeCell::new(0),
            closed: AtomicBool::new(false),
            scheduled_by: std::sync::Mutex::new(Vec::new()),
            refused: StdAtomicUsize::new(0),
            freed_by: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Takes the queued task and runs its callback, as a worker does.
    /// False if nothing was queued.
    fn run_one(&self) -> bool {
        let task = self.slot.swap(0, Ordering::Acquire);
        if task == 0 {
            return false;
        }
        self.link
            .with(|l| assert_eq!(unsafe { *l }, task, "the link names the task"));
        let task = NonNull::new(task as *mut Task).unwrap();
        // SAFETY: a queued task is alive until its callback starts.
        let callback = unsafe { task.as_ref() }.callback();
        // SAFETY: the task's own callback, once per scheduling.
        unsafe { callback(task) };
        true
    }

    /// Runs queued tasks until `done`.
    fn run_until(&self, done: impl Fn() -> bool) {
        while !done() {
            if !self.run_one() {
                thread::yield_now();
            }
        }
    }

    fn scheduled(&self) -> Vec<&'static str> {
        self.scheduled_by.lock().unwrap().clone()
    }

    fn freed(&self) -> Vec<&'static str> {
        self.freed_by.lock().unwrap().clone()
    }
}

/// A future task's home: the queue.
struct QueueHome(Arc<Queue>);

impl Home for QueueHome {
    fn schedule(&self, task: NonNull<Task>) -> bool {
        let q = &self.0;
        if q.closed.load(Ordering::Relaxed) {
            q.refused.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        q.link.with_mut(|l| unsafe { *l = task.as_ptr() as usize });
        q.scheduled_by.lock().unwrap().push(role());
        let old = q.slot.swap(task.as_ptr() as usize, Ordering::Release);
        assert_eq!(old, 0, "a task queued twice");
        true
    }
}

impl Drop for QueueHome {
    fn drop(&mut self) {
        self.0.freed_by.lock().unwrap().push(role());
    }
}

/// What the test future shares with the test's threads.
struct Shared {
    /// Set (Relaxed) by the waker thread before it wakes.
    sent: AtomicBool,
    /// The first poll's waker, published by `has_waker`.
    waker: UnsafeCell<Option<Waker>>,
    has_waker: AtomicBool,
    /// Set by the last poll (on the thread that polls).
    finished: AtomicBool,
    /// The role of the thread that ran the last poll.
    finished_by: std::sync::Mutex<Option<&'static str>>,
    polls: StdAtomicUsize,
}

// SAFETY: `waker` is written once, before the Release store of
// `has_waker`, and read after an Acquire load of it.
unsafe impl Sync for Shared {}
// SAFETY: as above.
unsafe impl Send for Shared {}

impl Shared {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            sent: AtomicBool::new(false),
            waker: UnsafeCell::new(None),
            has_waker: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            finished_by: std::sync::Mutex::new(None),
            polls: StdAtomicUsize::new(0),
        })
    }

    /// The first poll's waker, taken out once published (left in the
    /// future's own `Shared`, it would keep the task alive for ever).
    fn waker(&self) -> Waker {
        while !self.has_waker.load(Ordering::Acquire) {
            thread::yield_now();
        }
        self.waker
            .with_mut(|w| unsafe { (*w).take() })
            .expect("published")
    }

    fn finished(&self) -> bool {
        self.finished.load(Ordering::Relaxed)
    }

    fn polls(&self) -> usize {
        self.polls.load(Ordering::Relaxed)
    }
}

/// When the test future is ready.
#[derive(Clone, Copy)]
enum Until {
    /// At the first poll that sees `sent`.
    Sent,
    /// At its n-th poll.
    Poll(usize),
}

/// Publishes its first waker, and counts its polls in a loom cell of its
/// own (after the publication, so that only the state machine orders that
/// write before the next poll).
struct TestFuture {
    shared: Arc<Shared>,
    until: Until,
    polls: UnsafeCell<usize>,
}

// SAFETY: the future is polled by one thread at a time (what these tests
// check: loom reports polls without an edge between them).
unsafe impl Send for TestFuture {}

/// The output: written where it is made, read where it is dropped (a
/// loom cell, so the free must happen after the write), and counted.
struct Output {
    cell: UnsafeCell<u32>,
    drops: Arc<StdAtomicUsize>,
}

impl Drop for Output {
    fn drop(&mut self) {
        self.cell
            .with(|c| assert_eq!(unsafe { *c }, 1, "the output's write is visible"));
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

impl Future for TestFuture {
    type Output = usize;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        let before = self.polls.with(|p| unsafe { *p });
        if before == 0 {
            self.shared
                .waker
                .with_mut(|w| unsafe { *w = Some(cx.waker().clone()) });
            self.shared.has_waker.store(true, Ordering::Release);
        }
        let n = self.polls.with_mut(|p| unsafe {
            *p += 1;
            *p
        });
        self.shared.polls.fetch_add(1, Ordering::Relaxed);
        let ready = match self.until {
            Until::Sent => self.shared.sent.load(Ordering::Relaxed),
            Until::Poll(k) => n >= k,
        };
        if ready {
            self.shared.finished.store(true, Ordering::Relaxed);
            *self.shared.finished_by.lock().unwrap() = Some(role());
            Poll::Ready(n)
        } else {
            Poll::Pending
        }
    }
}

fn spawn(queue: &Arc<Queue>, shared: &Arc<Shared>, until: Until) -> JoinHandle<usize> {
    let future = TestFuture {
        shared: shared.clone(),
        until,
        polls: UnsafeCell::new(0),
    };
    spawn_future_with(QueueHome(queue.clone()), future)
        .ok()
        .expect("the queue is open")
}

/// Guards against a lost wake (a wake during the poll that does not poll
/// again, a wake merged into a queued poll that does not see the waker's
/// writes) and a wake that schedules the task without acquiring the last
/// poll. The first poll runs in the setup and a wake queues the second;
/// then the runner polls while another thread sets `sent` and wakes.
/// Kills: `future-notify-acquire`, `future-notify-release`,
/// `future-run-swap-relaxed`, `future-notified-cas-failure-relaxed`,
/// `future-notified-repoll-removed`.
#[test]
fn a_wake_racing_a_poll_is_never_lost() {
    let outcomes = Outcomes::new(&[
        "merged into the queued poll",
        "woken during the poll: polled again",
        "woken while idle: scheduled by the wake",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let queue = Queue::new();
        let shared = Shared::new();
        let handle = spawn(&queue, &shared, Until::Sent);
        assert!(queue.run_one(), "the first poll");
        let waker = shared.waker();
        waker.wake_by_ref(); // queues the second poll
        let (q, s) = (queue.clone(), shared.clone());
        let runner = thread::spawn(move || {
            set_role("runner");
            q.run_until(|| s.finished());
        });
        let s = shared.clone();
        let waking = thread::spawn(move || {
            set_role("waker");
            s.sent.store(true, Ordering::Relaxed);
            waker.wake();
        });
        waking.join().unwrap();
        runner.join().unwrap();
        let polls = shared.polls();
        let output = handle.join().expect("no panic");
        assert_eq!(output, polls, "one output, from the last poll");
        let scheduled = queue.scheduled();
        o.hit(match (polls, scheduled.last()) {
            (2, _) => "merged into the queued poll",
            (3, Some(&"runner")) => "woken during the poll: polled again",
            (3, Some(&"waker")) => "woken while idle: scheduled by the wake",
            other => panic!("unexpected: {other:?}"),
        });
        assert_eq!(queue.freed(), ["main"], "freed once, by the handle's join");
    });
    outcomes.assert_all_reached("a_wake_racing_a_poll_is_never_lost", iterations);
}

/// Guards against a wake after (or during) the last poll that polls a
/// completed future or schedules it again, and against a use after free
/// when the last count is the waker's. The second poll completes; a wake
/// races it, then drops the waker, while another thread drops the handle.
#[test]
fn a_wake_after_completion_does_nothing() {
    let outcomes = Outcomes::new(&[
        "woken before completion",
        "woken after completion",
        "freed by the runner",
        "freed by the waker",
        "freed by the dropper",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let queue = Queue::new();
        let shared = Shared::new();
        let handle = spawn(&queue, &shared, Until::Poll(2));
        assert!(queue.run_one(), "the first poll");
        let waker = shared.waker();
        waker.wake_by_ref(); // queues the last poll
        let handle = Arc::new(handle);
        let (q, s) = (queue.clone(), shared.clone());
        let runner = thread::spawn(move || {
            set_role("runner");
            q.run_until(|| s.finished());
        });
        let h = handle.clone();
        let waking = thread::spawn(move || {
            set_role("waker");
            let done = h.is_finished();
            drop(h);
            waker.wake();
            done
        });
        let dropper = thread::spawn(move || {
            set_role("dropper");
            drop(handle);
        });
        let was_done = waking.join().unwrap();
        runner.join().unwrap();
        dropper.join().unwrap();
        assert_eq!(shared.polls(), 2, "never polled after completion");
        assert_eq!(
            queue.scheduled().len(),
            2,
            "the late wake scheduled nothing"
        );
        o.hit(if was_done {
            "woken after completion"
        } else {
            "woken before completion"
        });
        let freed = queue.freed();
        assert_eq!(freed.len(), 1, "freed once");
        o.hit(match freed[0] {
            "runner" => "freed by the runner",
            "waker" => "freed by the waker",
            "dropper" => "freed by the dropper",
            other => panic!("freed by {other}"),
        });
    });
    outcomes.assert_all_reached("a_wake_after_completion_does_nothing", iterations);
}

/// Guards against a use after free or a double free when the handle is
/// dropped while the task runs, and an output dropped twice or never.
/// Kills: `handle-release-relaxed`.
#[test]
fn the_handle_dropped_while_the_task_runs() {
    let outcomes = Outcomes::new(&["freed by the runner", "freed by the handle's drop"]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let queue = Queue::new();
        let drops = Arc::new(StdAtomicUsize::new(0));
        let d = drops.clone();
        let handle = spawn_future_with(QueueHome(queue.clone()), async move {
            let cell = UnsafeCell::new(0u32);
            cell.with_mut(|c| unsafe { *c = 1 });
            Output { cell, drops: d }
        })
        .ok()
        .unwrap();
        let q = queue.clone();
        let runner = thread::spawn(move || {
            set_role("runner");
            assert!(q.run_one(), "queued at the spawn");
        });
        let dropper = thread::spawn(move || {
            set_role("dropper");
            drop(handle);
        });
        runner.join().unwrap();
        dropper.join().unwrap();
        assert_eq!(drops.load(Ordering::Relaxed), 1, "the output dropped once");
        let freed = queue.freed();
        assert_eq!(freed.len(), 1, "freed once");
        o.hit(match freed[0] {
            "runner" => "freed by the runner",
            "dropper" => "freed by the handle's drop",
            other => panic!("freed by {other}"),
        });
    });
    outcomes.assert_all_reached("the_handle_dropped_while_the_task_runs", iterations);
}

/// Guards against a task scheduled twice (two wakes that both find it
/// idle: the slot's "queued twice" assertion), polled twice at once, or
/// polled after it completed, when clones of one waker are woken from two
/// threads at once.
#[test]
fn a_waker_cloned_and_woken_from_two_threads() {
    let outcomes = Outcomes::new(&[
        "scheduled by the first thread",
        "scheduled by the second thread",
        "a wake came after completion",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let queue = Queue::new();
        let shared = Shared::new();
        let handle = spawn(&queue, &shared, Until::Poll(2));
        assert!(queue.run_one(), "the first poll");
        let w1 = shared.waker();
        let w2 = w1.clone();
        let late = Arc::new(StdAtomicUsize::new(0));
        let (q, s) = (queue.clone(), shared.clone());
        let runner = thread::spawn(move || {
            set_role("runner");
            q.run_until(|| s.finished());
        });
        let wakers: Vec<_> = [("first", w1), ("second", w2)]
            .into_iter()
            .map(|(name, w)| {
                let s = shared.clone();
                let late = late.clone();
                thread::spawn(move || {
                    set_role(name);
                    if s.finished() {
                        late.fetch_add(1, Ordering::Relaxed);
                    }
                    w.wake();
                })
            })
            .collect();
        for t in wakers {
            t.join().unwrap();
        }
        runner.join().unwrap();
        assert_eq!(handle.join().expect("no panic"), 2);
        assert_eq!(shared.polls(), 2, "one poll for both wakes");
        let scheduled = queue.scheduled();
        assert_eq!(scheduled.len(), 2, "the spawn and one wake");
        o.hit(match scheduled[1] {
            "first" => "scheduled by the first thread",
            "second" => "scheduled by the second thread",
            other => panic!("scheduled by {other}"),
        });
        if late.load(Ordering::Relaxed) > 0 {
            o.hit("a wake came after completion");
        }
        assert_eq!(queue.freed().len(), 1, "freed once");
    });
    outcomes.assert_all_reached("a_waker_cloned_and_woken_from_two_threads", iterations);
}

/// Guards against a poll on another thread that does not see the last
/// poll's writes: after shutdown the pool refuses the wake, which polls
/// the task on the waking thread (or the runner, woken during its poll,
/// polls again itself).
/// Kills: `future-idle-cas-relaxed`.
#[test]
fn a_refused_wake_polls_on_the_waking_thread() {
    let outcomes = Outcomes::new(&["polled by the waker", "polled again by the runner"]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let queue = Queue::new();
        let shared = Shared::new();
        let handle = spawn(&queue, &shared, Until::Poll(2));
        let q = queue.clone();
        let runner = thread::spawn(move || {
            set_role("runner");
            assert!(q.run_one(), "the first poll");
        });
        let (q, s) = (queue.clone(), shared.clone());
        let waking = thread::spawn(move || {
            set_role("waker");
            let waker = s.waker();
            q.closed.store(true, Ordering::Relaxed);
            waker.wake();
        });
        runner.join().unwrap();
        waking.join().unwrap();
        let polled_by_waker = *shared.finished_by.lock().unwrap() == Some("waker");
        assert!(shared.finished(), "polled inline, by one side or the other");
        assert_eq!(handle.join().expect("no panic"), 2);
        assert_eq!(queue.refused.load(Ordering::Relaxed), 1);
        o.hit(if polled_by_waker {
            "polled by the waker"
        } else {
            "polled again by the runner"
        });
    });
    outcomes.assert_all_reached("a_refused_wake_polls_on_the_waking_thread", iterations);
}

/// A waker that counts its wakes (in a modelled atomic; Release/Acquire,
/// as an executor's queue orders a wake before the poll it causes).
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::Release);
    }
}

/// Guards against a handle that misses its completion when it replaces
/// its waker between polls (the completer wakes the old one, or reads the
/// slot while the handle writes it: a causality violation), against an
/// output read before it is visible, and against the slot emptied twice or
/// while the other side reads it when the handle leaves (after its `Ready`
/// poll, and again when it is dropped) while the completer is waking.
/// Kills: `joinwaker-register-relaxed`, `joinwaker-complete-release`,
/// `joinwaker-load-relaxed`, `joinwaker-leave-relaxed`.
#[test]
fn the_handles_waker_replaced_between_polls() {
    let outcomes = Outcomes::new(&[
        "ready at the first poll",
        "ready at the second poll",
        "the second waker woken",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let queue = Queue::new();
        let shared = Shared::new();
        let mut handle = spawn(&queue, &shared, Until::Poll(1));
        let q = queue.clone();
        let runner = thread::spawn(move || {
            set_role("runner");
            assert!(q.run_one(), "the only poll");
        });
        let awaiting = thread::spawn(move || {
            let first = Arc::new(Counter(AtomicUsize::new(0)));
            let second = Arc::new(Counter(AtomicUsize::new(0)));
            for (i, counter) in [&first, &second].into_iter().enumerate() {
                let waker = Waker::from(counter.clone());
                let mut cx = Context::from_waker(&waker);
                if let Poll::Ready(out) = Pin::new(&mut handle).poll(&mut cx) {
                    assert_eq!(out.expect("no panic"), 1);
                    return if i == 0 {
                        "ready at the first poll"
                    } else {
                        "ready at the second poll"
                    };
                }
            }
            // Both pending: the completion must wake the second waker.
            while second.0.load(Ordering::Acquire) == 0 {
                thread::yield_now();
            }
            let waker = Waker::from(second.clone());
            let mut cx = Context::from_waker(&waker);
            match Pin::new(&mut handle).poll(&mut cx) {
                Poll::Ready(out) => assert_eq!(out.expect("no panic"), 1),
                Poll::Pending => panic!("woken, but not ready"),
            }
            assert_eq!(first.0.load(Ordering::Relaxed), 0, "the replaced waker");
            "the second waker woken"
        });
        runner.join().unwrap();
        o.hit(awaiting.join().unwrap());
        // The waker the only poll left in `shared` holds a count.
        drop(shared.waker());
        assert_eq!(queue.freed().len(), 1, "freed once");
    });
    outcomes.assert_all_reached("the_handles_waker_replaced_between_polls", iterations);
}

/// Guards against a lost wake in `block_on` (a wake during the poll, or
/// while the caller sleeps on its latch, that does not lead to a poll
/// seeing the waker's writes) and a latch set twice in one round. The
/// future is ready once it sees step 2; the waking thread sets step 1,
/// wakes, sets step 2, wakes (Relaxed steps: only the wakes order them).
/// Kills: `block-on-wake-acquire`.
#[test]
fn block_on_is_woken_during_the_poll_or_asleep() {
    let outcomes = Outcomes::new(&["the caller slept on its latch", "it never slept"]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let shared = Shared::new();
        let step = Arc::new(AtomicUsize::new(0));
        let (s, st) = (shared.clone(), step.clone());
        let blocker = thread::spawn(move || {
            let future = std::future::poll_fn(move |cx| {
                if !s.has_waker.load(Ordering::Relaxed) {
                    s.waker
                        .with_mut(|w| unsafe { *w = Some(cx.waker().clone()) });
                    s.has_waker.store(true, Ordering::Release);
                }
                s.polls.fetch_add(1, Ordering::Relaxed);
                if st.load(Ordering::Relaxed) == 2 {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            });
            zap_pool::block_on(future);
        });
        let (s, st) = (shared.clone(), step.clone());
        let waking = thread::spawn(move || {
            let waker = s.waker();
            st.store(1, Ordering::Relaxed);
            waker.wake_by_ref();
            st.store(2, Ordering::Relaxed);
            waker.wake();
        });
        waking.join().unwrap();
        blocker.join().unwrap();
        assert!(shared.polls() >= 1);
        o.hit(if zap_pool::model::blocked_waits() > 0 {
            "the caller slept on its latch"
        } else {
            "it never slept"
        });
    });
    outcomes.assert_all_reached("block_on_is_woken_during_the_poll_or_asleep", iterations);
}
