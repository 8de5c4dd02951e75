//! Named outcome counters for the model-checking suites, shared by
//! `loom_tests/` and `shuttle_tests/` (each includes this file).
//!
//! A model checker can pass after exploring far less than a test claims (loom
//! can stop after one interleaving). Each test therefore names the outcomes
//! it means to cover, counts them across every execution, and asserts at the
//! end that each one was reached. The counters live outside the model (std
//! atomics), so they survive from one execution to the next.

use std::fmt::Display;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Named outcome counters, kept outside the model across executions.
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

    /// Counts one execution that reached outcome `name`.
    pub fn hit(&self, name: &str) {
        let i = self
            .names
            .iter()
            .position(|n| *n == name)
            .expect("unknown outcome");
        self.counts[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Prints the counts, after what was explored (`explored`: how many
    /// iterations or executions), and fails if any outcome was never reached.
    pub fn assert_all_reached(&self, test: &str, explored: impl Display) {
        let report: Vec<String> = self
            .names
            .iter()
            .zip(&self.counts)
            .map(|(n, c)| format!("{n}={}", c.load(Ordering::Relaxed)))
            .collect();
        println!("{test}: {explored}; {}", report.join(", "));
        for (n, c) in self.names.iter().zip(&self.counts) {
            assert!(
                c.load(Ordering::Relaxed) > 0,
                "{test}: outcome `{n}` was never reached"
            );
        }
    }
}
