//! `Latch` (src/structures/latch.rs): a set is never missed by the blocking waiter, and
//! whatever the setter wrote before `set` is visible once the waiter (or a
//! `probe`) sees it set.

use crate::{Outcomes, model};
use loom::cell::UnsafeCell;
use loom::thread;
use std::sync::Arc;
use zap_pool::model::{Latch, blocked_waits};

struct Shared {
    latch: Latch,
    data: UnsafeCell<u32>,
}

// SAFETY: `data` is written before `set` and read after the latch is seen
// set; loom's cell checks that this ordering holds in every execution.
unsafe impl Sync for Shared {}
// SAFETY: as above.
unsafe impl Send for Shared {}

fn shared() -> Arc<Shared> {
    Arc::new(Shared {
        latch: Latch::new(),
        data: UnsafeCell::new(0),
    })
}

/// The setter: write the payload, then set.
fn setter(s: Arc<Shared>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        s.data.with_mut(|d| unsafe { *d = 7 });
        // SAFETY: `s` keeps the latch alive.
        unsafe { Latch::set(&s.latch) };
    })
}

/// Guards against a lost wake-up (the waiter sleeps after the set, or the
/// setter skips the wake while the waiter sleeps: a loom deadlock) and a
/// set that does not publish the setter's writes (a causality violation).
/// Kills: `latch-set-no-wake`, `latch-set-relaxed`.
#[test]
fn set_wakes_the_blocked_waiter_with_its_writes() {
    let outcomes = Outcomes::new(&["waiter slept", "waiter found it set"]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let shared = shared();
        let s = shared.clone();
        let waiter = thread::spawn(move || {
            s.latch.wait();
            s.data.with(|d| assert_eq!(unsafe { *d }, 7));
        });
        let set = setter(shared.clone());
        set.join().unwrap();
        waiter.join().unwrap();
        o.hit(if blocked_waits() > 0 {
            "waiter slept"
        } else {
            "waiter found it set"
        });
    });
    outcomes.assert_all_reached("set_wakes_the_blocked_waiter_with_its_writes", iterations);
}

/// Guards against a `probe` that does not acquire: a helping worker that
/// polls the latch between tasks and then reads the job's result would race
/// with the runner's write (a causality violation).
/// Kills: `latch-probe-relaxed`, `latch-set-relaxed`.
#[test]
fn probe_true_publishes_the_setters_writes() {
    let outcomes = Outcomes::new(&["polled before the set", "set at the first poll"]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let shared = shared();
        let s = shared.clone();
        let poller = thread::spawn(move || {
            let mut polls = 0;
            while !s.latch.probe() {
                polls += 1;
                thread::yield_now();
            }
            s.data.with(|d| assert_eq!(unsafe { *d }, 7));
            polls
        });
        let set = setter(shared.clone());
        set.join().unwrap();
        let polls = poller.join().unwrap();
        o.hit(if polls > 0 {
            "polled before the set"
        } else {
            "set at the first poll"
        });
    });
    outcomes.assert_all_reached("probe_true_publishes_the_setters_writes", iterations);
}
