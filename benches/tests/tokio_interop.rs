//! zap-pool futures and tokio, both ways: a `JoinHandle` of the pool
//! awaited inside a tokio runtime (multi-thread and current-thread), and a
//! future on the pool awaiting a tokio timer and a tokio task.
//!
//! Here, not in zap-pool's own tests, because tokio is a dependency of this
//! package only (`--cfg loom` builds of zap-pool must not compile it).

use std::time::{Duration, Instant};
use zap_pool::ThreadPool;

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

#[test]
fn a_pool_handle_is_awaited_in_a_tokio_runtime() {
    let pool = ThreadPool::with_max_threads(2);
    for rt in [
        multi_thread(),
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap(),
    ] {
        let cpu = pool
            .spawn_with_handle(|| (1..=1000u64).sum::<u64>())
            .unwrap();
        let fut = pool
            .spawn_future(async { zap_pool::current_thread_index() })
            .unwrap();
        let (sum, index) = rt.block_on(async {
            // Awaited from a tokio task too, not only from block_on.
            let index = tokio::spawn(fut).await.unwrap().unwrap();
            (cpu.await.unwrap(), index)
        });
        assert_eq!(sum, 500_500);
        assert!(index.is_some(), "polled on a worker of the pool");
    }
}

#[test]
fn a_panic_on_the_pool_reaches_the_tokio_task() {
    let pool = ThreadPool::with_max_threads(1);
    let rt = multi_thread();
    let h = pool.spawn_future(async { panic!("on the pool") }).unwrap();
    let payload = rt.block_on(h).unwrap_err();
    assert_eq!(*payload.downcast::<&str>().unwrap(), "on the pool");
}

#[test]
fn a_future_on_the_pool_awaits_a_tokio_timer_and_task() {
    let pool = ThreadPool::builder()
        .max_threads(2)
        .thread_name(|i| format!("bridge-{i}"))
        .build()
        .unwrap();
    let rt = multi_thread();
    let handle = rt.handle().clone();
    for _ in 0..20 {
        let h = handle.clone();
        let start = Instant::now();
        let on_pool = pool
            .spawn_future(async move {
                // A timer is made inside the runtime's context (it finds
                // the runtime's timer there) and may be polled anywhere.
                let sleep = {
                    let _in = h.enter();
                    tokio::time::sleep(Duration::from_millis(5))
                };
                sleep.await;
                let after_timer = std::thread::current().name().map(str::to_owned);
                let from_tokio = h.spawn(async { 21 }).await.unwrap();
                (after_timer, from_tokio * 2)
            })
            .unwrap();
        let (after_timer, value) = on_pool.join().unwrap();
        assert!(start.elapsed() >= Duration::from_millis(5));
        assert_eq!(value, 42);
        let name = after_timer.unwrap_or_default();
        assert!(
            name.starts_with("bridge-"),
            "woken by tokio's timer, polled again on the pool: {name}"
        );
    }
}
