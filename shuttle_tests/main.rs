//! Randomized and PCT schedules of the pool's components and of whole-pool
//! scenarios, run by `RUSTFLAGS="--cfg shuttle" cargo test --release --test
//! shuttle_tests`.
//!
//! shuttle executes every atomic as SeqCst: it finds logic bugs (lost
//! wake-ups, deadlocks, double delivery) in configurations too large for
//! loom; loom is the tool for weak-memory orderings.
//!
//! Iterations per scheduler come from `SHUTTLE_ITERATIONS` (default 1000).
//! A failure prints shuttle's schedule string; replay it with
//! `shuttle::replay` (see `docs/README.md`).
#![cfg(shuttle)]

mod event;
mod pool;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Iterations per scheduler.
pub fn iterations() -> usize {
    std::env::var("SHUTTLE_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

/// Runs `f` under the random scheduler and under PCT (depth 3), resetting the
/// futex model's counters before each execution.
pub fn check<F>(f: F)
where
    F: Fn() + Send + Sync + 'static,
{
    let f = Arc::new(f);
    let g = f.clone();
    shuttle::check_random(
        move || {
            zap_pool::model::reset();
            g()
        },
        iterations(),
    );
    shuttle::check_pct(
        move || {
            zap_pool::model::reset();
            f()
        },
        iterations(),
        3,
    );
}

/// Named outcome counters, kept outside the executions.
pub struct Outcomes {
    names: &'static [&'static str],
    counts: Vec<AtomicUsize>,
}

impl Outcomes {
    pub fn new(names: &'static [&'static str]) -> Arc<Self> {
        Arc::new(Self {
            names,
            counts: names.iter().map(|_| AtomicUsize::new(0)).collect(),
        })
    }

    pub fn hit(&self, name: &str) {
        let i = self
            .names
            .iter()
            .position(|n| *n == name)
            .expect("unknown outcome");
        self.counts[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Prints the counts and fails if any outcome was never reached.
    pub fn assert_all_reached(&self, test: &str) {
        let report: Vec<String> = self
            .names
            .iter()
            .zip(&self.counts)
            .map(|(n, c)| format!("{n}={}", c.load(Ordering::Relaxed)))
            .collect();
        println!(
            "{test}: {} executions per scheduler; {}",
            iterations(),
            report.join(", ")
        );
        for (n, c) in self.names.iter().zip(&self.counts) {
            assert!(
                c.load(Ordering::Relaxed) > 0,
                "{test}: outcome `{n}` was never reached"
            );
        }
    }
}
