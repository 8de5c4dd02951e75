//! Future tasks on whole pools under shuttle: futures that wait on each
//! other through a modelled one-shot channel, wakes from another pool and
//! from threads of no pool, `block_on` inside and outside a pool, shutdown
//! and the pool's drop while futures are pending, panics.
//!
//! No assertion runs inside a future (the task would complete with its
//! payload instead): futures return what they saw, and the execution's
//! main thread checks it.

use crate::check_outcomes;
use crate::common::{boom, boom_id, quiet_task_panics};
use shuttle::sync::Mutex;
use shuttle::thread;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Waker};
use zap_pool::{ThreadPool, block_on};

/// A one-shot channel on a modelled mutex: `send` stores the value and
/// wakes the receiver's last waker, after unlocking.
struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
    /// The receiver returned `Pending` at least once.
    waited: bool,
}

struct Sender<T>(Arc<Mutex<Slot<T>>>);
struct Receiver<T>(Arc<Mutex<Slot<T>>>);

fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Mutex::new(Slot {
        value: None,
        waker: None,
        waited: false,
    }));
    (Sender(slot.clone()), Receiver(slot))
}

impl<T> Sender<T> {
    /// Sends; true if the receiver was waiting (had returned `Pending`).
    fn send(self, value: T) -> bool {
        let (waker, waited) = {
            let mut s = self.0.lock().unwrap();
            s.value = Some(value);
            (s.waker.take(), s.waited)
        };
        if let Some(w) = waker {
            w.wake();
        }
        waited
    }
}

impl<T> Future for Receiver<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = self.0.lock().unwrap();
        match s.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                s.waiting(cx.waker());
                Poll::Pending
            }
        }
    }
}

impl<T> Slot<T> {
    fn waiting(&mut self, waker: &Waker) {
        self.waited = true;
        self.waker = Some(waker.clone());
    }
}

fn pool(name: &'static str, threads: usize) -> ThreadPool {
    ThreadPool::builder()
        .max_threads(threads)
        .thread_name(move |i| format!("{name}-{i}"))
        .build()
        .unwrap()
}

fn thread_name() -> String {
    thread::current().name().unwrap_or("").to_string()
}

/// Futures that wait on each other: A awaits B's channel, B awaits a
/// value from a thread of no pool and forwards it; the main thread awaits
/// A with `block_on` (a thread of no pool: it sleeps on the latch).
/// Guards against a lost wake on any of the three hops, and a wake that
/// schedules into the wrong pool's queue.
#[test]
fn futures_wait_on_each_other_through_a_channel() {
    check_outcomes(
        "futures_wait_on_each_other_through_a_channel",
        &[
            "sent before B waited",
            "sent to a waiting B",
            "B sent before A waited",
            "B sent to a waiting A",
        ],
        true,
        |o| {
            let pool = pool("p", 2);
            let (tx_b, rx_b) = oneshot::<u32>();
            let (tx_a, rx_a) = oneshot::<u32>();
            let a = pool.spawn_future(async move { rx_a.await + 1 }).unwrap();
            let b = pool
                .spawn_future(async move { tx_a.send(rx_b.await * 2) })
                .unwrap();
            let outside = thread::spawn(move || tx_b.send(20));
            let got = block_on(a).expect("no panic");
            assert_eq!(got, 41);
            let b_found_a_waiting = b.join().expect("no panic");
            let found_b_waiting = outside.join().unwrap();
            o.hit(if found_b_waiting {
                "sent to a waiting B"
            } else {
                "sent before B waited"
            });
            o.hit(if b_found_a_waiting {
                "B sent to a waiting A"
            } else {
                "B sent before A waited"
            });
            drop(pool);
        },
    );
}

/// A future of pool A awaits a value that a task of pool B sends: the
/// wake runs on B's worker and must schedule the future into A.
#[test]
fn a_wake_from_another_pool_goes_to_the_tasks_own_pool() {
    check_outcomes(
        "a_wake_from_another_pool_goes_to_the_tasks_own_pool",
        &["woken while pending", "ready at the first poll"],
        false,
        |o| {
            let a = pool("a", 1);
            let b = pool("b", 1);
            let (tx, rx) = oneshot::<()>();
            let h = a
                .spawn_future(async move {
                    rx.await;
                    thread_name()
                })
                .unwrap();
            let sender = b.spawn_with_handle(move || tx.send(())).unwrap();
            let waited = sender.join().expect("no panic");
            let polled_on = h.join().expect("no panic");
            assert_eq!(polled_on, "a-0", "polled on pool A's worker");
            o.hit(if waited {
                "woken while pending"
            } else {
                "ready at the first poll"
            });
            drop(b);
            drop(a);
        },
    );
}

/// The pool shuts down (and is joined) while a future waits; a thread of
/// no pool wakes it. Before the shutdown the pool polls it; after, the
/// pool refuses it and the waking thread polls it itself. The handle
/// completes either way.
#[test]
fn shutdown_while_futures_are_pending() {
    check_outcomes(
        "shutdown_while_futures_are_pending",
        &["polled by the pool", "polled by the waking thread"],
        true,
        |o| {
            let pool = pool("p", 2);
            let (tx, rx) = oneshot::<u32>();
            let h = pool
                .spawn_future(async move { (rx.await, thread_name()) })
                .unwrap();
            let waking = thread::Builder::new()
                .name("waker".into())
                .spawn(move || {
                    tx.send(5);
                })
                .unwrap();
            pool.shutdown();
            pool.join_workers();
            waking.join().unwrap();
            let (v, on) = h.join().expect("no panic");
            assert_eq!(v, 5);
            o.hit(match on.as_str() {
                "p-0" | "p-1" => "polled by the pool",
                "waker" => "polled by the waking thread",
                other => panic!("polled on {other:?}"),
            });
            drop(pool);
        },
    );
}

/// The pool is dropped while a future waits, racing a wake from a thread
/// of no pool. A wake after the drop must not touch the freed pool (the
/// task holds a count of the pool's allocation, and the model's
/// use-after-free ghost checks it); the pool refuses it, and the waking
/// thread polls the future itself.
/// Kills: `future-pool-hold-removed`.
#[test]
fn a_wake_after_the_pool_is_dropped() {
    check_outcomes(
        "a_wake_after_the_pool_is_dropped",
        &["polled by the pool", "polled on the waking thread"],
        false,
        |o| {
            let pool = pool("p", 1);
            let (tx, rx) = oneshot::<u32>();
            let h = pool
                .spawn_future(async move { (rx.await, thread_name()) })
                .unwrap();
            let waking = thread::Builder::new()
                .name("waker".into())
                .spawn(move || {
                    tx.send(7);
                })
                .unwrap();
            drop(pool);
            waking.join().unwrap();
            let (v, on) = h.join().expect("no panic");
            assert_eq!(v, 7);
            o.hit(match on.as_str() {
                "p-0" => "polled by the pool",
                "waker" => "polled on the waking thread",
                other => panic!("polled on {other:?}"),
            });
        },
    );
}

/// Futures that panic, at their first poll or after a wake: each handle
/// gets its payload, the pool's panic handler sees none, and the pool
/// keeps polling the other futures.
#[test]
fn panicking_futures_complete_with_their_payload() {
    check_outcomes(
        "panicking_futures_complete_with_their_payload",
        &["woken while pending"],
        false,
        |o| {
            quiet_task_panics();
            let handler_saw = Arc::new(AtomicUsize::new(0));
            let seen = handler_saw.clone();
            let pool = ThreadPool::builder()
                .max_threads(2)
                .panic_handler(move |_| {
                    seen.fetch_add(1, SeqCst);
                })
                .build()
                .unwrap();
            let (tx, rx) = oneshot::<()>();
            let first = pool.spawn_future(async { boom(1) }).unwrap();
            let after = pool
                .spawn_future(async move {
                    rx.await;
                    boom(2)
                })
                .unwrap();
            let fine = pool.spawn_future(async { 3 }).unwrap();
            let waited = thread::spawn(move || tx.send(())).join().unwrap();
            for (h, id) in [(first, 1), (after, 2)] {
                let payload = h.join().expect_err("it panicked");
                assert_eq!(boom_id(&*payload), Some(id), "its own payload");
            }
            assert_eq!(fine.join().expect("no panic"), 3);
            drop(pool);
            assert_eq!(handler_saw.load(SeqCst), 0, "the handles took the panics");
            if waited {
                o.hit("woken while pending");
            }
        },
    );
}

/// `block_on` on the only worker of a pool, for a future of that pool
/// that waits on a thread of no pool: the worker must keep running its
/// pool's tasks (the future among them) while it waits, and sleep where
/// the wake reaches it.
#[test]
fn block_on_on_the_only_worker_runs_the_pool() {
    check_outcomes(
        "block_on_on_the_only_worker_runs_the_pool",
        &["sent to a waiting future", "sent before it waited"],
        true,
        |o| {
            let pool = pool("p", 1);
            let (tx, rx) = oneshot::<u32>();
            let outside = thread::spawn(move || tx.send(4));
            let got = pool.install(|| {
                let inner = zap_pool::spawn_future(async move { rx.await * 10 }).unwrap();
                block_on(inner).expect("no panic")
            });
            assert_eq!(got, 40);
            o.hit(if outside.join().unwrap() {
                "sent to a waiting future"
            } else {
                "sent before it waited"
            });
            drop(pool);
        },
    );
}
