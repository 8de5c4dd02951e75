//! `Event` (src/structures/event.rs) under shuttle: shutdown is final and wakes every
//! sleeper, with the futex model's spurious returns on and off.

use crate::{Outcomes, check_outcomes};
use shuttle::thread;
use std::sync::Arc;
use zap_pool::model::{Event, SHUTDOWN, blocked_waits};

fn scenario(outcomes: &Outcomes) {
    let event = Arc::new(Event::new());
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let e = event.clone();
            thread::spawn(move || e.wait())
        })
        .collect();
    let notifiers: Vec<_> = (0..2)
        .map(|_| {
            let e = event.clone();
            // SAFETY: the Arc keeps the event alive.
            thread::spawn(move || unsafe { Event::notify(&*e) })
        })
        .collect();
    let e = event.clone();
    // SAFETY: the Arc keeps the event alive.
    let stopper = thread::spawn(move || unsafe { Event::shutdown(&*e) });
    let late = notifiers.into_iter().any(|n| n.join().unwrap() == SHUTDOWN);
    stopper.join().unwrap();
    for w in waiters {
        w.join().unwrap(); // a waiter left asleep is a shuttle deadlock
    }
    assert_eq!(event.state(), SHUTDOWN, "shutdown must be final");
    if late {
        outcomes.hit("notify landed after shutdown");
    }
    if blocked_waits() >= 2 {
        outcomes.hit("two or more waits slept");
    }
}

/// Guards against hazards 2 and 3 (a late notify reviving a shut-down event;
/// a shutdown that wakes nobody). Either leaves a waiter asleep: shuttle
/// reports a deadlock.
/// Kills: `event-wake-swap`, `event-shutdown-wakes-only-waiting`.
#[test]
fn shutdown_is_final_and_wakes_every_sleeper() {
    check_outcomes(
        "shutdown_is_final_and_wakes_every_sleeper",
        &["notify landed after shutdown", "two or more waits slept"],
        false,
        |o| scenario(o),
    );
}

/// The same with spurious futex returns: `wait` must loop, not trust a
/// return from the futex.
#[test]
fn shutdown_with_spurious_futex_returns() {
    check_outcomes(
        "shutdown_with_spurious_futex_returns",
        &["notify landed after shutdown", "two or more waits slept"],
        true,
        |o| scenario(o),
    );
}
