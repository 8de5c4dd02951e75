//! `zap_pool::par` against rayon's parallel iterators and a plain
//! sequential loop, on the same work, in the same process:
//!
//! * `map_strings`: 1,000,000 `String`s to their lengths (`par::map` /
//!   `par_iter().map().collect()`);
//! * `for_each_1ns`: 10,000,000 indices, a body of about a nanosecond
//!   (`par::for_each` / `into_par_iter().for_each()`);
//! * `sum_u64`: the sum of 100,000,000 `u64`s (`par::map_reduce` /
//!   `par_iter().sum()`);
//! * `unbalanced`: 20,000 indices whose cost grows with the index
//!   (`par::for_each` / `into_par_iter().for_each()`).
//!
//! Each workload runs at 1 and 2 threads (a pool of that size for each
//! library, built once; the loop runs inside `install`). The contenders
//! alternate within every round (sequential, zap, rayon), 9 rounds after
//! one warm-up; the table gives each one's median wall time, its median CPU
//! time (user + system of the whole process, from `/proc/self/stat`, 10 ms
//! ticks) and the ratio of medians to rayon and to the sequential loop.
//!
//! `cargo bench -p zap-pool-bench --bench par` (`-- --quick` for a smoke
//! test with a tenth of the sizes and 3 rounds).

use rayon::prelude::*;
use std::hint::black_box;
use std::time::{Duration, Instant};
use zap_pool::{ThreadPool, par};

/// CPU time of the whole process so far (user + system), or zero where
/// `/proc` is not there.
fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // The command name (field 2) may hold spaces: count from its `)`.
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the file are the 12th and 13th after the name.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

#[derive(Clone, Copy, PartialEq)]
enum Who {
    Sequential,
    Zap,
    Rayon,
}

const WHO: [Who; 3] = [Who::Sequential, Who::Zap, Who::Rayon];

struct Pools {
    zap: ThreadPool,
    rayon: rayon::ThreadPool,
}

/// A workload: runs once with the given contender and returns a checksum,
/// so that no contender's work can be optimized away or be wrong.
trait Work {
    fn name(&self) -> &'static str;
    fn run(&self, who: Who, pools: &Pools) -> u64;
}

struct MapStrings(Vec<String>);

impl Work for MapStrings {
    fn name(&self) -> &'static str {
        "map_strings"
    }
    fn run(&self, who: Who, pools: &Pools) -> u64 {
        let xs = &self.0;
        let lens: Vec<usize> = match who {
            Who::Sequential => xs.iter().map(|s| s.len()).collect(),
            Who::Zap => pools.zap.install(|| par::map(xs, |s| s.len())),
            Who::Rayon => pools
                .rayon
                .install(|| xs.par_iter().map(|s| s.len()).collect()),
        };
        lens.iter().map(|&l| l as u64).sum()
    }
}

struct ForEach1ns(usize);

/// About a nanosecond of work that the optimizer cannot drop.
#[inline(always)]
fn tiny(i: usize) {
    black_box(i.wrapping_mul(0x9e37_79b9));
}

impl Work for ForEach1ns {
    fn name(&self) -> &'static str {
        "for_each_1ns"
    }
    fn run(&self, who: Who, pools: &Pools) -> u64 {
        let n = self.0;
        match who {
            Who::Sequential => (0..n).for_each(tiny),
            Who::Zap => pools.zap.install(|| par::for_each(0..n, tiny)),
            Who::Rayon => pools
                .rayon
                .install(|| (0..n).into_par_iter().for_each(tiny)),
        }
        n as u64
    }
}

struct SumU64(Vec<u64>);

impl Work for SumU64 {
    fn name(&self) -> &'static str {
        "sum_u64"
    }
    fn run(&self, who: Who, pools: &Pools) -> u64 {
        let xs = &self.0;
        match who {
            Who::Sequential => xs.iter().sum(),
            Who::Zap => pools
                .zap
                .install(|| par::map_reduce(xs, |&x| x, || 0, |a, b| a + b)),
            Who::Rayon => pools.rayon.install(|| xs.par_iter().sum()),
        }
    }
}

struct Unbalanced(usize);

/// Work that grows with `i`: `i / 4` rounds of a cheap mix.
fn grows(i: usize) {
    let mut x = i as u64;
    for _ in 0..i / 4 {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    black_box(x);
}

impl Work for Unbalanced {
    fn name(&self) -> &'static str {
        "unbalanced"
    }
    fn run(&self, who: Who, pools: &Pools) -> u64 {
        let n = self.0;
        match who {
            Who::Sequential => (0..n).for_each(grows),
            Who::Zap => pools.zap.install(|| par::for_each(0..n, grows)),
            Who::Rayon => pools
                .rayon
                .install(|| (0..n).into_par_iter().for_each(grows)),
        }
        n as u64
    }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (scale, rounds) = if quick { (10, 3) } else { (1, 9) };
    let strings: Vec<String> = (0..1_000_000 / scale)
        .map(|i| format!("item-{i}"))
        .collect();
    let numbers: Vec<u64> = (0..100_000_000 / scale as u64).collect();
    let works: Vec<Box<dyn Work>> = vec![
        Box::new(MapStrings(strings)),
        Box::new(ForEach1ns(10_000_000 / scale)),
        Box::new(SumU64(numbers)),
        Box::new(Unbalanced(20_000 / scale)),
    ];

    println!("par loops: median of {rounds} alternating rounds (after one warm-up)");
    println!(
        "| workload | threads | sequential ms | zap ms (cpu) | rayon ms (cpu) | zap / rayon | zap / sequential |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for threads in [1, 2] {
        let pools = Pools {
            zap: ThreadPool::builder().max_threads(threads).build().unwrap(),
            rayon: rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap(),
        };
        for work in &works {
            let mut wall: [Vec<Duration>; 3] = Default::default();
            let mut cpu: [Vec<Duration>; 3] = Default::default();
            let expected = work.run(Who::Sequential, &pools);
            for who in WHO {
                // Warm-up: threads started, pages touched.
                assert_eq!(work.run(who, &pools), expected, "{}", work.name());
            }
            for _ in 0..rounds {
                for (k, who) in WHO.into_iter().enumerate() {
                    let cpu0 = process_cpu();
                    let t0 = Instant::now();
                    let got = work.run(who, &pools);
                    wall[k].push(t0.elapsed());
                    cpu[k].push(process_cpu().saturating_sub(cpu0));
                    assert_eq!(got, expected, "{}", work.name());
                }
            }
            let w: Vec<Duration> = wall.into_iter().map(median).collect();
            let c: Vec<Duration> = cpu.into_iter().map(median).collect();
            println!(
                "| {} | {threads} | {:.2} | {:.2} ({:.0}) | {:.2} ({:.0}) | {:.2} | {:.2} |",
                work.name(),
                ms(w[0]),
                ms(w[1]),
                ms(c[1]),
                ms(w[2]),
                ms(c[2]),
                w[1].as_secs_f64() / w[2].as_secs_f64(),
                w[1].as_secs_f64() / w[0].as_secs_f64(),
            );
        }
    }
}
