//! The future workloads: `ThreadPool::spawn_future` against `tokio::spawn`.
//!
//! * `future_spawn`: N trivial futures spawned from outside the pool, then
//!   awaited from outside (`zap_pool::block_on` / `Runtime::block_on`);
//! * `future_chain`: a chain of N futures, each spawning the next on the
//!   current pool and awaiting its handle;
//! * `future_ping_pong`: two futures passing a ball through wakes; the
//!   latency from the wake until the woken future's poll sees the ball.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::sys::{Elapsed, Stopwatch};
use zap_pool::ThreadPool;

pub fn spawn_zap(pool: &ThreadPool, n: usize) -> Elapsed {
    let clock = Stopwatch::start();
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        handles.push(
            pool.spawn_future(async {})
                .expect("the zap pool is running"),
        );
    }
    zap_pool::block_on(async {
        for h in handles {
            h.await.expect("no panic");
        }
    });
    clock.stop()
}

pub fn spawn_tokio(rt: &tokio::runtime::Runtime, n: usize) -> Elapsed {
    let clock = Stopwatch::start();
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        handles.push(rt.spawn(async {}));
    }
    rt.block_on(async {
        for h in handles {
            h.await.expect("no panic");
        }
    });
    clock.stop()
}

type BoxFuture = Pin<Box<dyn Future<Output = usize> + Send>>;

fn chain_zap_link(n: usize) -> BoxFuture {
    Box::pin(async move {
        if n == 0 {
            return 0;
        }
        let next = zap_pool::spawn_future(chain_zap_link(n - 1)).expect("on a worker");
        next.await.expect("no panic") + 1
    })
}

fn chain_tokio_link(n: usize) -> BoxFuture {
    Box::pin(async move {
        if n == 0 {
            return 0;
        }
        tokio::spawn(chain_tokio_link(n - 1))
            .await
            .expect("no panic")
            + 1
    })
}

pub fn chain_zap(pool: &ThreadPool, n: usize) -> Elapsed {
    let clock = Stopwatch::start();
    let h = pool
        .spawn_future(chain_zap_link(n))
        .expect("the zap pool is running");
    assert_eq!(h.join().expect("no panic"), n, "the chain broke");
    clock.stop()
}

pub fn chain_tokio(rt: &tokio::runtime::Runtime, n: usize) -> Elapsed {
    let clock = Stopwatch::start();
    let got = rt
        .block_on(rt.spawn(chain_tokio_link(n)))
        .expect("no panic");
    assert_eq!(got, n, "the chain broke");
    clock.stop()
}

/// The ball, the two players' wakers, and the latencies.
struct Court {
    /// Hops made; player `turn % 2` holds the ball.
    turn: AtomicUsize,
    hops: usize,
    wakers: [Mutex<Option<Waker>>; 2],
    /// When the last hop woke its partner.
    stamp: Mutex<Instant>,
    latencies: Mutex<Vec<Duration>>,
}

struct Player {
    court: Arc<Court>,
    me: usize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Future for Player {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let c = &*self.court;
        loop {
            // Acquire: the partner's writes (the stamp) before it passed.
            let turn = c.turn.load(Ordering::Acquire);
            if turn >= c.hops {
                // Wake the partner so that it sees the end too.
                if let Some(w) = lock(&c.wakers[1 - self.me]).take() {
                    w.wake();
                }
                return Poll::Ready(());
            }
            if turn % 2 == self.me {
                let now = Instant::now();
                if turn > 0 {
                    let since = now - *lock(&c.stamp);
                    lock(&c.latencies).push(since);
                }
                *lock(&c.stamp) = Instant::now();
                // Release: the stamp is visible to the partner.
                c.turn.store(turn + 1, Ordering::Release);
                if let Some(w) = lock(&c.wakers[1 - self.me]).take() {
                    w.wake();
                }
                continue;
            }
            *lock(&c.wakers[self.me]) = Some(cx.waker().clone());
            // Re-check after registering: the pass may have come meanwhile.
            if c.turn.load(Ordering::Acquire) == turn {
                return Poll::Pending;
            }
        }
    }
}

pub struct PingPong {
    pub p50: Duration,
    pub p99: Duration,
}

fn court(hops: usize) -> Arc<Court> {
    Arc::new(Court {
        turn: AtomicUsize::new(0),
        hops,
        wakers: [Mutex::new(None), Mutex::new(None)],
        stamp: Mutex::new(Instant::now()),
        latencies: Mutex::new(Vec::with_capacity(hops)),
    })
}

fn percentiles(court: &Court) -> PingPong {
    let mut l = lock(&court.latencies).clone();
    assert!(!l.is_empty(), "no hop measured");
    l.sort_unstable();
    let at = |q: f64| l[((l.len() - 1) as f64 * q).round() as usize];
    PingPong {
        p50: at(0.50),
        p99: at(0.99),
    }
}

pub fn ping_pong_zap(pool: &ThreadPool, hops: usize) -> PingPong {
    let c = court(hops);
    let players: Vec<_> = (0..2)
        .map(|me| {
            pool.spawn_future(Player {
                court: c.clone(),
                me,
            })
            .expect("the zap pool is running")
        })
        .collect();
    for p in players {
        p.join().expect("no panic");
    }
    percentiles(&c)
}

pub fn ping_pong_tokio(rt: &tokio::runtime::Runtime, hops: usize) -> PingPong {
    let c = court(hops);
    let players: Vec<_> = (0..2)
        .map(|me| {
            rt.spawn(Player {
                court: c.clone(),
                me,
            })
        })
        .collect();
    rt.block_on(async {
        for p in players {
            p.await.expect("no panic");
        }
    });
    percentiles(&c)
}
