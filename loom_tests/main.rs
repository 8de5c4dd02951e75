//! Exhaustive interleaving checks of the pool's lock-free components, run by
//! `RUSTFLAGS="--cfg loom" cargo test` (as typed: the dev profile, which
//! optimizes loom and the crate, and a preemption bound of 2 when
//! `LOOM_MAX_PREEMPTIONS` is unset), or faster by
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

mod bell;
mod buffer;
mod event;
mod fork_join;
mod fork_stack;
mod future;
mod join_deque;
mod latch;
mod lifecycle;
mod queue;
mod quiet;
mod scope;
mod sync_word;

#[path = "../tests/common/outcomes.rs"]
mod outcomes;

pub use outcomes::Outcomes;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many iterations a model explored; prints as "N iterations".
pub struct Explored(pub usize);

impl fmt::Display for Explored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} iterations", self.0)
    }
}

/// The preemption bound when `LOOM_MAX_PREEMPTIONS` is unset: CI's.
pub const DEFAULT_PREEMPTION_BOUND: usize = 2;

/// Runs `f` under loom, with the futex model reset before each iteration.
/// Returns the number of iterations explored.
pub fn model<F>(f: F) -> Explored
where
    F: Fn() + Sync + Send + 'static,
{
    model_with_bound_cap(usize::MAX, f)
}

/// A test's preemption-bound cap: `ci` in the CI run, `long` when
/// `ZAP_LOOM_LONG` is set (the documented long run, which also runs the
/// mutations that only a deeper search kills: `scripts/mutants.sh --long`).
pub fn bound_cap(ci: usize, long: usize) -> usize {
    if std::env::var_os("ZAP_LOOM_LONG").is_some() {
        long
    } else {
        ci
    }
}

/// As [`model`], with the preemption bound (`LOOM_MAX_PREEMPTIONS`) capped at
/// `cap` for a test whose state space explodes above it. The test says why.
pub fn model_with_bound_cap<F>(cap: usize, f: F) -> Explored
where
    F: Fn() + Sync + Send + 'static,
{
    let iterations = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = iterations.clone();
    let mut builder = loom::model::Builder::new();
    // The suite's bound when `LOOM_MAX_PREEMPTIONS` is unset (loom's own
    // default is no bound at all, hours for the whole-pool tests).
    let bound = *builder
        .preemption_bound
        .get_or_insert(DEFAULT_PREEMPTION_BOUND);
    if bound > cap {
        println!("(preemption bound {bound} capped at {cap} for this test)");
        builder.preemption_bound = Some(cap);
    }
    builder.check(move || {
        counter.fetch_add(1, Ordering::Relaxed);
        zap_pool::model::reset();
        f();
    });
    Explored(iterations.load(Ordering::Relaxed))
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
