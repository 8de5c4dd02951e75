//! CPU work on a zap pool, awaited from tokio; and a future on the pool
//! that awaits a tokio timer.
//!
//! ```text
//! cargo run -p zap-pool-bench --example async_bridge
//! ```
//!
//! (It lives in the benchmark package, which has tokio; zap-pool itself
//! does not depend on it.)

use std::time::{Duration, Instant};
use zap_pool::ThreadPool;

fn fib(n: u32) -> u64 {
    if n < 20 {
        return (1..=n).fold((0u64, 1u64), |(a, b), _| (b, a + b)).0;
    }
    let (a, b) = zap_pool::join(|| fib(n - 1), || fib(n - 2));
    a + b
}

fn main() {
    let pool = ThreadPool::builder()
        .thread_name(|i| format!("cpu-{i}"))
        .build()
        .expect("a pool");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .build()
        .expect("a tokio runtime");

    // 1. CPU-bound work goes to the pool; the tokio task awaits its handle
    //    (a `JoinHandle` of the pool is a `Future`) without blocking a
    //    tokio worker.
    let start = Instant::now();
    let answer = rt.block_on(async {
        let heavy = pool.spawn_with_handle(|| fib(32)).expect("the pool runs");
        let ticker = tokio::spawn(async {
            // Meanwhile tokio's own tasks keep running.
            tokio::time::sleep(Duration::from_millis(1)).await;
            "tokio stayed responsive"
        });
        let (fib, tick) = (heavy.await, ticker.await);
        println!("{}", tick.expect("the ticker"));
        fib.expect("fib did not panic")
    });
    println!(
        "fib(32) = {answer} on the pool, awaited from tokio, in {:?}",
        start.elapsed()
    );

    // 2. A future on the pool awaits a tokio timer: the timer is made in
    //    the runtime's context (where it finds the runtime's timer), then
    //    awaited on the pool; tokio's timer thread wakes it, and the wake
    //    schedules it back into the pool.
    let tokio = rt.handle().clone();
    let on_pool = pool
        .spawn_future(async move {
            let started = std::thread::current().name().map(str::to_owned);
            let timer = {
                let _context = tokio.enter();
                tokio::time::sleep(Duration::from_millis(20))
            };
            timer.await;
            let resumed = std::thread::current().name().map(str::to_owned);
            (started, resumed)
        })
        .expect("the pool runs");
    let (started, resumed) = zap_pool::block_on(on_pool).expect("no panic");
    println!(
        "a pool future slept on a tokio timer: started on {}, resumed on {}",
        started.unwrap_or_default(),
        resumed.unwrap_or_default()
    );
}
