//! `Event` (src/structures/event.rs): a token is never lost, a notify's writes are
//! visible to the waiter it releases, and shutdown is final and wakes all.

use crate::{Outcomes, model};
use loom::cell::UnsafeCell;
use loom::thread;
use std::sync::Arc;
use zap_pool::model::{Event, SHUTDOWN, blocked_waits};

struct Shared {
    event: Event,
    data: UnsafeCell<u32>,
}

// SAFETY: `data` is written before `notify` and read after `wait`; loom's
// cell checks that this ordering really holds in every execution.
unsafe impl Sync for Shared {}
// SAFETY: as above.
unsafe impl Send for Shared {}

/// Guards against: a lost wake-up (the waiter sleeps with the token posted)
/// and a notify that does not publish the notifier's writes.
/// Kills: `event-notify-relaxed`, `event-consume-relaxed`.
#[test]
fn notify_releases_a_waiter_with_its_writes() {
    let outcomes = Outcomes::new(&["waiter slept", "waiter found the token"]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let shared = Arc::new(Shared {
            event: Event::new(),
            data: UnsafeCell::new(0),
        });
        let s = shared.clone();
        let waiter = thread::spawn(move || {
            s.event.wait();
            // A data race here (no happens-before from the write) is a loom
            // causality violation.
            s.data.with(|d| assert_eq!(unsafe { *d }, 7));
        });
        let s = shared.clone();
        let notifier = thread::spawn(move || {
            s.data.with_mut(|d| unsafe { *d = 7 });
            // SAFETY: `s` keeps the event alive.
            unsafe { Event::notify(&s.event) };
        });
        notifier.join().unwrap();
        waiter.join().unwrap();
        o.hit(if blocked_waits() > 0 {
            "waiter slept"
        } else {
            "waiter found the token"
        });
    });
    outcomes.assert_all_reached("notify_releases_a_waiter_with_its_writes", iterations);
}

/// Guards against hazards 2 and 3: a notify landing after shutdown revives
/// the event (one sleeper consumes the token, the other sleeps for ever), and
/// a shutdown that wakes nobody because the word was not WAITING at that
/// moment. Either shows up as a loom deadlock.
/// Kills: `event-wake-swap` (hazard 2), `event-shutdown-wakes-only-waiting`
/// (hazard 3).
#[test]
fn shutdown_is_final_and_wakes_every_sleeper() {
    let outcomes = Outcomes::new(&[
        "notify landed after shutdown",
        "a waiter slept",
        "both waiters slept",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let event = Arc::new(Event::new());
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let e = event.clone();
                thread::spawn(move || e.wait())
            })
            .collect();
        let e = event.clone();
        let notifier = thread::spawn(move || {
            // SAFETY: the Arc keeps the event alive.
            unsafe { Event::notify(&*e) }
        });
        let e = event.clone();
        let stopper = thread::spawn(move || {
            // SAFETY: the Arc keeps the event alive.
            unsafe { Event::shutdown(&*e) };
        });
        let late = notifier.join().unwrap() == SHUTDOWN;
        stopper.join().unwrap();
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(event.state(), SHUTDOWN, "shutdown must be final");
        if late {
            o.hit("notify landed after shutdown");
        }
        match blocked_waits() {
            0 => {}
            1 => o.hit("a waiter slept"),
            _ => o.hit("both waiters slept"),
        }
    });
    outcomes.assert_all_reached("shutdown_is_final_and_wakes_every_sleeper", iterations);
}
