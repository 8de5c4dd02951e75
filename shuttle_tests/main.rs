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

mod api;
mod broadcast;
mod common;
mod event;
mod fork_join;
mod future;
mod liveness;
mod par;
mod pool;
mod quiet;
mod replay;

#[path = "../tests/common/outcomes.rs"]
mod outcomes;

pub use outcomes::Outcomes;
use std::sync::Arc;

/// Iterations per scheduler.
pub fn iterations() -> usize {
    std::env::var("SHUTTLE_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

/// Where failing schedules are written (one file each).
pub fn failure_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/shuttle-failures")
}

/// The newest file in `dir`, if any.
pub fn newest_file(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max()
        .map(|(_, path)| path)
}

/// Runs `f` under the random scheduler and under PCT (depth 3), resetting the
/// model's per-execution state before each execution.
///
/// A failing execution writes its schedule to a file under
/// `target/shuttle-failures/` and this prints the command that replays it:
/// with `SHUTTLE_REPLAY=<file>` set, `check` replays that one schedule
/// instead of exploring (deterministically, as long as the code is
/// unchanged).
pub fn check<F>(f: F)
where
    F: Fn() + Send + Sync + 'static,
{
    check_times(1, f)
}

/// [`check`] with `times` the suite's executions per scheduler, for a
/// scenario one of whose outcomes is rare (the test says why).
pub fn check_times<F>(times: usize, f: F)
where
    F: Fn() + Send + Sync + 'static,
{
    let executions = iterations() * times;
    let f = Arc::new(f);
    let body = move || {
        zap_pool::model::reset();
        f()
    };
    if let Ok(path) = std::env::var("SHUTTLE_REPLAY") {
        println!("replaying the schedule in {path}");
        shuttle::replay_from_file(body, path);
        return;
    }
    let dir = failure_dir();
    let _ = std::fs::create_dir_all(&dir);
    let mut config = shuttle::Config::new();
    // Every shuttle thread, the main one included, runs on a stack of this
    // size; the default (60 KiB) is too small for nested fork-join.
    config.stack_size = 1 << 20;
    config.failure_persistence = shuttle::FailurePersistence::File(Some(dir.clone()));
    let body = Arc::new(body);
    let explore = {
        let body = body.clone();
        move || {
            let (a, b) = (body.clone(), body.clone());
            shuttle::Runner::new(
                shuttle::scheduler::RandomScheduler::new(executions),
                config.clone(),
            )
            .run(move || a());
            shuttle::Runner::new(shuttle::scheduler::PctScheduler::new(3, executions), config)
                .run(move || b());
        }
    };
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(explore)) {
        let test = std::thread::current()
            .name()
            .unwrap_or("<test name>")
            .to_string();
        let file =
            newest_file(&dir).map_or("<the file named above>".into(), |p| p.display().to_string());
        eprintln!(
            "replay this failure with:\n  SHUTTLE_REPLAY={file} RUSTFLAGS=\"--cfg shuttle\" \\\n    cargo test --release --test shuttle_tests -- --exact {test}"
        );
        std::panic::resume_unwind(panic);
    }
}

/// The body of most scenario tests: runs `scenario` under [`check`] with
/// the futex model's spurious returns on or off, counting into the outcomes
/// named `names`, then asserts (as test `test`) that every one of them was
/// reached. Spurious returns are switched off again afterwards.
pub fn check_outcomes<F>(test: &str, names: &'static [&'static str], spurious: bool, scenario: F)
where
    F: Fn(&Arc<Outcomes>) + Send + Sync + 'static,
{
    check_outcomes_times(test, names, spurious, 1, scenario)
}

/// [`check_outcomes`] with `times` the suite's executions per scheduler
/// ([`check_times`]).
pub fn check_outcomes_times<F>(
    test: &str,
    names: &'static [&'static str],
    spurious: bool,
    times: usize,
    scenario: F,
) where
    F: Fn(&Arc<Outcomes>) + Send + Sync + 'static,
{
    let outcomes = Outcomes::new(names);
    let o = outcomes.clone();
    check_times(times, move || {
        zap_pool::model::set_spurious(spurious);
        scenario(&o)
    });
    zap_pool::model::set_spurious(false);
    outcomes.assert_all_reached(
        test,
        format_args!("{} executions per scheduler", iterations() * times),
    );
}
