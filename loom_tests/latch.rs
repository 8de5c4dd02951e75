//! `Latch` (src/structures/latch.rs): a set is never missed by the blocking
//! waiter, whether it sleeps on the latch or on a bell it announced, and
//! whatever the setter wrote before `set` is visible once the waiter (or a
//! `probe`) sees it set.

use crate::{Outcomes, model};
use loom::cell::UnsafeCell;
use loom::thread;
use std::sync::Arc;
use zap_pool::model::{Bell, Latch, blocked_waits};

struct Shared {
    latch: Latch,
    bell: Bell,
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
        bell: Bell::new(),
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

/// As a worker waiting inside a task does: announce the bell, sleep on it
/// until the latch is being set, then `wait` for SET. Returns whether the
/// announcement came before the set, and how often it slept on the bell.
fn wait_on_the_bell(s: &Shared) -> (bool, usize) {
    let announced = s.latch.announce(&s.bell);
    let mut sleeps = 0;
    if announced {
        loop {
            let epoch = s.bell.prepare();
            if s.latch.is_setting() {
                s.bell.cancel();
                break;
            }
            sleeps += 1;
            s.bell.sleep(epoch);
        }
    }
    s.latch.wait();
    (announced, sleeps)
}

/// Guards against a setter that does not ring the bell its waiter announced
/// (the waiter sleeps on the bell for ever: a loom deadlock), a set that
/// does not publish the setter's writes, and a waiter that returns (and may
/// free the latch) before the setter is done with it: the waiter reads the
/// payload after `wait`, which returns only at SET.
/// Kills: `latch-ringing-no-ring`, `latch-set-relaxed`.
#[test]
fn set_rings_the_bell_its_waiter_sleeps_on() {
    let outcomes = Outcomes::new(&[
        "the waiter slept on the bell",
        "the waiter announced, then saw the set before sleeping",
        "the set came before the announcement",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let shared = shared();
        let s = shared.clone();
        let waiter = thread::spawn(move || {
            let seen = wait_on_the_bell(&s);
            s.data.with(|d| assert_eq!(unsafe { *d }, 7));
            seen
        });
        let set = setter(shared.clone());
        set.join().unwrap();
        let (announced, sleeps) = waiter.join().unwrap();
        o.hit(match (announced, sleeps) {
            (false, _) => "the set came before the announcement",
            (true, 0) => "the waiter announced, then saw the set before sleeping",
            (true, _) => "the waiter slept on the bell",
        });
    });
    outcomes.assert_all_reached("set_rings_the_bell_its_waiter_sleeps_on", iterations);
}

/// Guards against a lost wake-up when a waiter that announced a bell falls
/// back to the latch's own futex (a worker whose pool shut down): the setter
/// must wake the futex if it finds SLEEPING, and ring if it finds RINGING.
/// Kills: `latch-set-no-wake`, `latch-ringing-no-ring`.
#[test]
fn a_waiter_moves_from_the_bell_to_the_latch() {
    let outcomes = Outcomes::new(&[
        "the setter found the waiter on the latch",
        "the setter found the waiter announced",
        "the set came first",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let shared = shared();
        let s = shared.clone();
        let waiter = thread::spawn(move || {
            let announced = s.latch.announce(&s.bell);
            s.latch.wait();
            s.data.with(|d| assert_eq!(unsafe { *d }, 7));
            announced
        });
        let set = setter(shared.clone());
        set.join().unwrap();
        let announced = waiter.join().unwrap();
        o.hit(match (announced, blocked_waits()) {
            (false, _) => "the set came first",
            (true, 0) => "the setter found the waiter announced",
            (true, _) => "the setter found the waiter on the latch",
        });
    });
    outcomes.assert_all_reached("a_waiter_moves_from_the_bell_to_the_latch", iterations);
}
