//! Exhaustive interleaving checks of the pool's lock-free components, run by
//! `LOOM_MAX_PREEMPTIONS=2 RUSTFLAGS="--cfg loom -C debug-assertions" cargo
//! test --release --test loom_tests`.
//!
//! One file per component, named after the `src/` file it checks. Every test
//! keeps the model's main thread out of the race (it only sets up and joins),
//! counts the outcomes it claims to cover across all iterations, and asserts
//! after the model that each one was reached: loom can otherwise pass after
//! exploring a single interleaving. Each test names the bug class it guards
//! against and the mutations of `scripts/mutants.sh` that it kills.
#![cfg(loom)]

mod buffer;
mod event;
mod fork_join;
mod join_deque;
mod latch;
mod lifecycle;
mod queue;
mod sync_word;

use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `f` under loom, with the futex model reset before each iteration.
/// Returns the number of iterations explored.
pub fn model<F>(f: F) -> usize
where
    F: Fn() + Sync + Send + 'static,
{
    model_with_bound_cap(usize::MAX, f)
}

/// As [`model`], with the preemption bound (`LOOM_MAX_PREEMPTIONS`) capped at
/// `cap` for a test whose state space explodes above it. The test says why.
pub fn model_with_bound_cap<F>(cap: usize, f: F) -> usize
where
    F: Fn() + Sync + Send + 'static,
{
    let iterations = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = iterations.clone();
    let mut builder = loom::model::Builder::new();
    if let Some(bound) = builder.preemption_bound {
        if bound > cap {
            println!("(preemption bound {bound} capped at {cap} for this test)");
            builder.preemption_bound = Some(cap);
        }
    }
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        zap_pool::model::reset();
        f();
    });
    iterations.load(Ordering::Relaxed)
}

/// Named outcome counters, kept outside the model across iterations.
pub struct Outcomes {
    names: &'static [&'static str],
    counts: Vec<AtomicUsize>,
}

impl Outcomes {
    pub fn new(names: &'static [&'static str]) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
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
    pub fn assert_all_reached(&self, test: &str, iterations: usize) {
        let report: Vec<String> = self
            .names
            .iter()
            .zip(&self.counts)
            .map(|(n, c)| format!("{n}={}", c.load(Ordering::Relaxed)))
            .collect();
        println!("{test}: {iterations} iterations; {}", report.join(", "));
        for (n, c) in self.names.iter().zip(&self.counts) {
            assert!(
                c.load(Ordering::Relaxed) > 0,
                "{test}: outcome `{n}` was never explored"
            );
        }
    }
}

/// A count-down latch on the crate's own `Event`: the last `count_down`
/// posts the token that `wait` consumes.
pub struct Latch {
    left: loom::sync::atomic::AtomicUsize,
    event: zap_pool::model::Event,
}

impl Latch {
    pub fn new(count: usize) -> Self {
        Self {
            left: loom::sync::atomic::AtomicUsize::new(count),
            event: zap_pool::model::Event::new(),
        }
    }

    pub fn count_down(&self) {
        // AcqRel: the waiter sees every counted-down task's effects.
        if self.left.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) == 1 {
            // SAFETY: the latch is alive: the waiter holds it.
            unsafe { zap_pool::model::Event::notify(&self.event) };
        }
    }

    pub fn wait(&self) {
        self.event.wait();
    }
}
