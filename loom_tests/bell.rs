//! `Bell` (src/structures/bell.rs): a sleeper that checked its condition
//! before the ringer made it true is woken by the ring, whoever runs first,
//! and every sleeper is woken, not one.
//!
//! The condition is a Relaxed flag on purpose: only the two SeqCst fences
//! (in `prepare` and `ring`) order it against the sleeper count and the
//! epoch, as in the pool, where the condition is "notified, shut down, or
//! the latch being set" (`docs/bell.md`).

use crate::{Outcomes, model};
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use std::sync::Arc;
use zap_pool::model::{Bell, blocked_waits};

struct Shared {
    bell: Bell,
    flag: AtomicBool,
}

/// Sleeps on the bell until the flag is seen set; returns how many times it
/// went to sleep.
fn sleep_until_flag(s: &Shared) -> usize {
    let mut sleeps = 0;
    loop {
        let epoch = s.bell.prepare();
        if s.flag.load(Ordering::Relaxed) {
            s.bell.cancel();
            return sleeps;
        }
        sleeps += 1;
        s.bell.sleep(epoch);
    }
}

fn ringer(s: Arc<Shared>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        s.flag.store(true, Ordering::Relaxed);
        // SAFETY: `s` keeps the bell alive.
        unsafe { Bell::ring(&s.bell) };
    })
}

/// Guards against a lost wake-up on the bell: the sleeper checks the flag
/// (unset), the ringer sets it and reads "no sleeper" or bumps the epoch
/// before the sleeper read it, and the sleeper sleeps for ever (a loom
/// deadlock). Store buffering: only the fences forbid it.
/// Kills: `bell-prepare-fence-removed`, `bell-ring-fence-removed`.
#[test]
fn a_ring_after_the_condition_wakes_the_sleeper() {
    let outcomes = Outcomes::new(&["the sleeper slept", "the sleeper saw the flag at once"]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let shared = Arc::new(Shared {
            bell: Bell::new(),
            flag: AtomicBool::new(false),
        });
        let s = shared.clone();
        let sleeper = thread::spawn(move || sleep_until_flag(&s));
        let ring = ringer(shared.clone());
        ring.join().unwrap();
        sleeper.join().unwrap();
        o.hit(if blocked_waits() > 0 {
            "the sleeper slept"
        } else {
            "the sleeper saw the flag at once"
        });
    });
    outcomes.assert_all_reached("a_ring_after_the_condition_wakes_the_sleeper", iterations);
}

/// Guards against a ring that wakes one sleeper only (a futex wake-one):
/// the bell keeps no token, so a second sleeper would sleep for ever.
/// Kills: `bell-ring-wakes-one`.
#[test]
fn a_ring_wakes_every_sleeper() {
    let outcomes = Outcomes::new(&["both sleepers slept", "one sleeper slept"]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let shared = Arc::new(Shared {
            bell: Bell::new(),
            flag: AtomicBool::new(false),
        });
        let sleepers: Vec<_> = (0..2)
            .map(|_| {
                let s = shared.clone();
                thread::spawn(move || sleep_until_flag(&s))
            })
            .collect();
        let ring = ringer(shared.clone());
        ring.join().unwrap();
        let slept: usize = sleepers
            .into_iter()
            .map(|t| usize::from(t.join().unwrap() > 0))
            .sum();
        match slept {
            2 => o.hit("both sleepers slept"),
            1 => o.hit("one sleeper slept"),
            _ => {}
        }
    });
    outcomes.assert_all_reached("a_ring_wakes_every_sleeper", iterations);
}
