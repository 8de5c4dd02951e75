//! Futures on the pool, on real threads: `spawn_future`, `JoinHandle` as a
//! `Future`, `block_on`; wakes from the pool, from another pool and from
//! threads of no pool; panics; shutdown with futures pending. (Awaiting a
//! handle from a tokio runtime is tested in the benchmark package, which
//! has tokio: `benches/tests/tokio_interop.rs`.)
#![cfg(not(any(loom, shuttle)))]

mod common;

use common::guarded;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use zap_pool::{ThreadPool, block_on};

/// A one-shot channel: `send` stores the value and wakes the receiver's
/// last waker, on the sender's thread.
struct Shared<T> {
    value: Option<T>,
    waker: Option<Waker>,
    polls: usize,
}

struct Sender<T>(Arc<Mutex<Shared<T>>>);
struct Receiver<T>(Arc<Mutex<Shared<T>>>);

fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(Shared {
        value: None,
        waker: None,
        polls: 0,
    }));
    (Sender(shared.clone()), Receiver(shared))
}

impl<T> Sender<T> {
    fn send(self, value: T) {
        let waker = {
            let mut s = self.0.lock().unwrap();
            s.value = Some(value);
            s.waker.take()
        };
        // Woken outside the lock (a wake after shutdown polls right here).
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Whether the receiver has been polled (and so waits).
    fn polled(&self) -> bool {
        self.0.lock().unwrap().polls > 0
    }
}

impl<T> Future for Receiver<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = self.0.lock().unwrap();
        s.polls += 1;
        match s.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Returns `Pending` `n` times, waking itself each time (as tokio's
/// `yield_now`): the wake comes during the poll.
struct YieldN(usize);

impl Future for YieldN {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < common::TIMEOUT, "timed out: {what}");
        thread::yield_now();
    }
}

#[test]
fn a_future_handle_is_awaited_joined_and_polled_on_a_worker() {
    guarded(
        "a_future_handle_is_awaited_joined_and_polled_on_a_worker",
        || {
            let pool = ThreadPool::with_max_threads(2);
            let h = pool
                .spawn_future(async { zap_pool::current_thread_index() })
                .unwrap();
            assert!(block_on(h).unwrap().is_some(), "polled on a worker");
            let h = pool.spawn_future(async { 7 }).unwrap();
            assert_eq!(h.join().unwrap(), 7);
            // A closure's handle is a future too.
            let c = pool.spawn_with_handle(|| 5).unwrap();
            assert_eq!(block_on(c).unwrap(), 5);
        },
    );
}

#[test]
fn futures_await_each_other_on_the_pool() {
    guarded("futures_await_each_other_on_the_pool", || {
        let pool = ThreadPool::with_max_threads(2);
        // A chain: each future spawns the next and awaits it.
        fn chain(n: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
            Box::pin(async move {
                if n == 0 {
                    return 0;
                }
                let next = zap_pool::spawn_future(chain(n - 1)).unwrap();
                next.await.unwrap() + 1
            })
        }
        let h = pool.spawn_future(chain(200)).unwrap();
        assert_eq!(block_on(h).unwrap(), 200);
    });
}

#[test]
fn a_deep_chain_of_finished_tasks_is_freed_without_recursion() {
    // Each link awaits the next: a finished link must not keep its
    // parent's waker, or freeing the chain recurses once per link (and
    // overflows the stack). Two threads: the last link's release is then
    // sometimes the one that would free every ancestor.
    guarded(
        "a_deep_chain_of_finished_tasks_is_freed_without_recursion",
        || {
            fn chain(n: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
                Box::pin(async move {
                    if n == 0 {
                        return 0;
                    }
                    let next = zap_pool::spawn_future(chain(n - 1)).unwrap();
                    next.await.unwrap() + 1
                })
            }
            let pool = ThreadPool::with_max_threads(2);
            for _ in 0..5 {
                let h = pool.spawn_future(chain(100_000)).unwrap();
                assert_eq!(h.join().unwrap(), 100_000);
            }
        },
    );
}

#[test]
fn a_panicking_poll_completes_the_task_with_the_payload() {
    guarded(
        "a_panicking_poll_completes_the_task_with_the_payload",
        || {
            let pool = ThreadPool::with_max_threads(1);
            let h = pool
                .spawn_future(async {
                    YieldN(1).await;
                    panic!("boom in a poll")
                })
                .unwrap();
            let payload = block_on(h).unwrap_err();
            assert_eq!(*payload.downcast::<&str>().unwrap(), "boom in a poll");
            // The pool still works.
            assert_eq!(pool.spawn_future(async { 1 }).unwrap().join().unwrap(), 1);
        },
    );
}

#[test]
fn a_wake_during_the_poll_polls_again() {
    guarded("a_wake_during_the_poll_polls_again", || {
        let pool = ThreadPool::with_max_threads(2);
        let h = pool
            .spawn_future(async {
                YieldN(1000).await;
                "done"
            })
            .unwrap();
        assert_eq!(h.join().unwrap(), "done");
    });
}

#[test]
fn a_thread_of_no_pool_wakes_a_pending_future() {
    guarded("a_thread_of_no_pool_wakes_a_pending_future", || {
        let pool = ThreadPool::with_max_threads(2);
        for _ in 0..200 {
            let (tx, rx) = oneshot::<u32>();
            let h = pool.spawn_future(async move { rx.await * 2 }).unwrap();
            let t = thread::spawn(move || tx.send(21));
            assert_eq!(block_on(h).unwrap(), 42);
            t.join().unwrap();
        }
    });
}

#[test]
fn many_futures_each_complete_once() {
    guarded("many_futures_each_complete_once", || {
        let pool = ThreadPool::with_max_threads(2);
        let runs = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..10_000usize)
            .map(|i| {
                let runs = runs.clone();
                pool.spawn_future(async move {
                    YieldN(i % 3).await;
                    runs.fetch_add(1, Ordering::Relaxed);
                    i
                })
                .unwrap()
            })
            .collect();
        let sum: usize = block_on(async {
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, (0..10_000).sum::<usize>());
        assert_eq!(runs.load(Ordering::Relaxed), 10_000);
    });
}

fn thread_name() -> String {
    thread::current().name().unwrap_or("").to_string()
}

#[test]
fn a_wake_from_another_pool_schedules_into_the_tasks_own_pool() {
    guarded(
        "a_wake_from_another_pool_schedules_into_the_tasks_own_pool",
        || {
            let a = ThreadPool::builder()
                .max_threads(2)
                .thread_name(|i| format!("pool-a-{i}"))
                .build()
                .unwrap();
            let b = ThreadPool::builder()
                .max_threads(2)
                .thread_name(|i| format!("pool-b-{i}"))
                .build()
                .unwrap();
            for _ in 0..100 {
                let (tx, rx) = oneshot::<()>();
                let h = a
                    .spawn_future(async move {
                        let before = thread_name();
                        rx.await;
                        (before, thread_name())
                    })
                    .unwrap();
                // The wake runs on a worker of pool B.
                b.spawn(move || {
                    assert!(thread_name().starts_with("pool-b-"));
                    tx.send(());
                })
                .unwrap();
                let (before, after) = h.join().unwrap();
                assert!(before.starts_with("pool-a-"), "{before}");
                assert!(
                    after.starts_with("pool-a-"),
                    "woken from B, polled on {after}"
                );
            }
        },
    );
}

#[test]
fn a_dropped_handle_leaves_the_task_running() {
    guarded("a_dropped_handle_leaves_the_task_running", || {
        let pool = ThreadPool::with_max_threads(2);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let (tx, rx) = oneshot::<u32>();
        drop(
            pool.spawn_future(async move {
                done_tx.send(rx.await).unwrap();
            })
            .unwrap(),
        );
        tx.send(9);
        assert_eq!(done_rx.recv().unwrap(), 9);
    });
}

#[test]
fn a_wake_after_shutdown_polls_on_the_waking_thread() {
    guarded("a_wake_after_shutdown_polls_on_the_waking_thread", || {
        let pool = ThreadPool::with_max_threads(2);
        let (tx, rx) = oneshot::<()>();
        let h = pool
            .spawn_future(async move {
                rx.await;
                thread::current().id()
            })
            .unwrap();
        wait_until("the future waits", || tx.polled());
        pool.shutdown();
        pool.join_workers();
        // Refused after shutdown: the spawn hands the future back.
        assert!(pool.spawn_future(async {}).is_err());
        drop(pool); // the task keeps what it needs of the pool
        let waker = thread::spawn(move || {
            tx.send(());
            thread::current().id()
        })
        .join()
        .unwrap();
        assert!(h.is_finished(), "polled inside the wake");
        assert_eq!(h.join().unwrap(), waker);
    });
}

#[test]
fn a_pending_future_whose_wakers_are_gone_is_dropped() {
    guarded("a_pending_future_whose_wakers_are_gone_is_dropped", || {
        struct Flag(Arc<AtomicUsize>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let dropped = Arc::new(AtomicUsize::new(0));
        /// Pending for ever; hands each poll's waker out.
        struct Forever {
            wakers: std::sync::mpsc::Sender<Waker>,
            _flag: Flag,
        }
        impl Future for Forever {
            type Output = ();
            fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
                let _ = self.wakers.send(cx.waker().clone());
                Poll::Pending
            }
        }
        let pool = ThreadPool::with_max_threads(1);
        let (tx, rx) = std::sync::mpsc::channel();
        let h = pool
            .spawn_future(Forever {
                wakers: tx,
                _flag: Flag(dropped.clone()),
            })
            .unwrap();
        let waker = rx.recv().unwrap();
        drop(h);
        thread::sleep(std::time::Duration::from_millis(10));
        assert_eq!(dropped.load(Ordering::Relaxed), 0, "its waker still exists");
        drop(waker); // the last count
        assert_eq!(dropped.load(Ordering::Relaxed), 1);
    });
}

/// A waker that counts its wakes.
struct Counter(AtomicUsize);
impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn the_handle_wakes_its_latest_waker() {
    guarded("the_handle_wakes_its_latest_waker", || {
        let pool = ThreadPool::with_max_threads(1);
        let (tx, rx) = oneshot::<u8>();
        let mut h = pool.spawn_future(rx).unwrap();
        let first = Arc::new(Counter(AtomicUsize::new(0)));
        let second = Arc::new(Counter(AtomicUsize::new(0)));
        for w in [&first, &second] {
            let waker = Waker::from(w.clone());
            let mut cx = Context::from_waker(&waker);
            assert!(Pin::new(&mut h).poll(&mut cx).is_pending());
        }
        tx.send(3);
        wait_until("the handle is woken", || {
            second.0.load(Ordering::Relaxed) == 1
        });
        assert_eq!(first.0.load(Ordering::Relaxed), 0, "replaced");
        let waker = Waker::from(second.clone());
        let mut cx = Context::from_waker(&waker);
        match Pin::new(&mut h).poll(&mut cx) {
            Poll::Ready(Ok(3)) => {}
            _ => panic!("the output is ready"),
        }
    });
}

#[test]
fn block_on_on_a_worker_runs_the_pools_tasks() {
    guarded("block_on_on_a_worker_runs_the_pools_tasks", || {
        let pool = ThreadPool::with_max_threads(1);
        let n = pool.install(|| {
            let handles: Vec<_> = (0..100u32)
                .map(|i| zap_pool::spawn_future(async move { i }).unwrap())
                .collect();
            block_on(async {
                let mut sum = 0;
                for h in handles {
                    sum += h.await.unwrap();
                }
                sum
            })
        });
        assert_eq!(n, 4950);
    });
}
