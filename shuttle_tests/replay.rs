//! The replay workflow, shown on a deliberately broken primitive that lives
//! in this file (never in the library): a flag whose waiter checks it outside
//! the lock, then sleeps, so a `set` between the check and the sleep is lost.

use crate::{failure_dir, newest_file};
use shuttle::sync::atomic::{AtomicBool, Ordering};
use shuttle::sync::{Condvar, Mutex};
use shuttle::thread;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[derive(Default)]
struct BrokenFlag {
    set: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
}

impl BrokenFlag {
    fn wait(&self) {
        if !self.set.load(Ordering::SeqCst) {
            // The bug: the flag is not re-checked under the lock, so a `set`
            // that lands here is missed and the waiter sleeps for ever.
            let guard = self.lock.lock().unwrap();
            drop(self.wake.wait(guard).unwrap());
        }
    }

    fn set(&self) {
        self.set.store(true, Ordering::SeqCst);
        let _guard = self.lock.lock().unwrap();
        self.wake.notify_all();
    }
}

fn broken_scenario() {
    let flag = Arc::new(BrokenFlag::default());
    let f = flag.clone();
    let waiter = thread::spawn(move || f.wait());
    flag.set();
    waiter.join().unwrap();
}

/// Shows that a failing schedule is written to a file and that replaying
/// the file reproduces the same failure: the workflow the suite's `check`
/// prints for any failing test (`SHUTTLE_REPLAY=<file>`).
#[test]
fn a_failing_schedule_is_saved_and_replays() {
    let dir = failure_dir().join("replay-demo");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = shuttle::Config::new();
    config.failure_persistence = shuttle::FailurePersistence::File(Some(dir.clone()));

    // 1. Exploration finds the lost wake-up (a shuttle deadlock).
    let found = catch_unwind(AssertUnwindSafe(|| {
        shuttle::Runner::new(shuttle::scheduler::RandomScheduler::new(1000), config)
            .run(broken_scenario)
    }));
    let text = panic_text(found.expect_err("the broken flag must fail under exploration"));
    assert!(
        text.contains("deadlock"),
        "expected a deadlock, got: {text}"
    );

    // 2. Its schedule was saved.
    let file = newest_file(&dir).expect("the failing schedule was written to a file");

    // 3. Replaying that schedule fails the same way, every time.
    for _ in 0..2 {
        let replayed = catch_unwind(AssertUnwindSafe(|| {
            shuttle::replay_from_file(broken_scenario, &file)
        }));
        let text = panic_text(replayed.expect_err("the replay must reproduce the failure"));
        assert!(
            text.contains("deadlock"),
            "the replay failed differently: {text}"
        );
    }
    println!("replayed {} twice: same deadlock", file.display());
}
