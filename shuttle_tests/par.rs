//! The parallel loops (`zap_pool::par`) on a two-thread pool under shuttle.
//!
//! The execution's main thread runs `par::for_each` over a small range, and
//! then `par::map` over as many elements, each inside `ThreadPool::join`,
//! so that the loops start on a worker and the other worker may steal their
//! halves. In some executions one element panics. Each element yields, so
//! that steals happen while it runs. As in `fork_join.rs`, elements only
//! write what they saw into a `Ledger`, checked by the main thread.

use crate::common::{Ledger, boom, describe, quiet_task_panics};
use crate::{Outcomes, check_outcomes};
use shuttle::rand::{Rng, thread_rng};
use shuttle::thread;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use zap_pool::{ThreadPool, par};

const PAR_OUTCOMES: &[&str] = &[
    "no element panicked: every index ran once",
    "an element panicked; the parts not started were skipped",
    "an element panicked; every other index ran",
    "a part of a loop was stolen",
    "a loop ran on one thread",
];

/// The length of each loop.
const N: usize = 6;

/// Records a problem unless `got` is the panic of element `bad` (or, when
/// `bad` is `None`, no panic).
fn expect_panic(ledger: &Ledger, what: &str, bad: Option<usize>, got: Result<(), String>) {
    match (bad, got) {
        (None, Ok(())) => {}
        (Some(_), Ok(())) => ledger.problem(format!("{what}: no panic came out")),
        (_, Err(p)) if Some(p.as_str()) == bad.map(|b| format!("Boom({b})")).as_deref() => {}
        (_, Err(p)) => ledger.problem(format!("{what}: {p} came out, expected {bad:?}")),
    }
}

/// For the ids `first..first + N` of one loop whose element `bad` (if any)
/// panicked: records a problem unless each index ran exactly once (the
/// panicking one too), or, after a panic, at most once, and unless each
/// one that started had ended when the loop returned; counts the outcomes.
fn check_loop(ledger: &Ledger, outcomes: &Outcomes, first: usize, bad: Option<usize>) {
    let ids = first..first + N;
    for id in ids.clone() {
        let runs = ledger.runs(id);
        let must_run = bad.is_none() || bad == Some(id - first);
        if runs > 1 || (must_run && runs != 1) {
            ledger.problem(format!(
                "loop at {first}: index {} ran {runs} times",
                id - first
            ));
        }
        if runs == 1 && !ledger.ended(id) {
            ledger.problem(format!(
                "loop at {first}: index {} still ran when the loop returned",
                id - first
            ));
        }
    }
    let skipped = ids.clone().any(|id| ledger.runs(id) == 0);
    outcomes.hit(match (bad, skipped) {
        (None, _) => "no element panicked: every index ran once",
        (Some(_), true) => "an element panicked; the parts not started were skipped",
        (Some(_), false) => "an element panicked; every other index ran",
    });
    // Index 0 runs on the thread that started the loop (the left half of
    // every split runs there).
    let origin = ledger.ran_on(first);
    let moved = ids
        .filter(|&id| ledger.runs(id) > 0)
        .any(|id| ledger.ran_on(id) != origin);
    outcomes.hit(if moved {
        "a part of a loop was stolen"
    } else {
        "a loop ran on one thread"
    });
}

fn par_scenario(outcomes: &Arc<Outcomes>) {
    let mut rng = thread_rng();
    // `N` or more: no element panics.
    let bad_each = Some(rng.gen_range(0..N + 2)).filter(|&b| b < N);
    let bad_map = Some(rng.gen_range(0..N + 2)).filter(|&b| b < N);
    let ledger = Ledger::new(2 * N);
    let l = ledger.clone();
    let pool = ThreadPool::builder()
        .max_threads(2)
        .panic_handler(move |payload| {
            l.problem(format!(
                "a panic reached the pool's panic handler: {}",
                describe(&*payload)
            ))
        })
        .build()
        .unwrap();

    // for_each: ids 0..N.
    let got = panic::catch_unwind(AssertUnwindSafe(|| {
        pool.join(
            || {
                par::for_each(0..N, |i| {
                    ledger.begin(i);
                    thread::yield_now();
                    ledger.end(i);
                    if bad_each == Some(i) {
                        boom(i);
                    }
                })
            },
            || (),
        );
    }));
    let got = got.map_err(|p| describe(&*p));
    expect_panic(&ledger, "for_each", bad_each, got);
    check_loop(&ledger, outcomes, 0, bad_each);

    // map: ids N..2N; each result is a token, so the ledger sees whether
    // each one made was dropped exactly once, whether the Vec or the
    // unwinding dropped it.
    let inputs: Vec<usize> = (0..N).collect();
    let got = panic::catch_unwind(AssertUnwindSafe(|| {
        let (tokens, ()) = pool.join(
            || {
                par::map(&inputs, |&i| {
                    let token = ledger.token(N + i);
                    token.begin();
                    thread::yield_now();
                    token.end();
                    if bad_map == Some(i) {
                        boom(i);
                    }
                    token
                })
            },
            || (),
        );
        if tokens.len() != N {
            ledger.problem(format!("map returned {} results", tokens.len()));
        }
    }));
    let got = got.map_err(|p| describe(&*p));
    expect_panic(&ledger, "map", bad_map, got);
    check_loop(&ledger, outcomes, N, bad_map);

    drop(pool);
    // The runs were checked above; this checks the tokens: each one made
    // was dropped exactly once.
    ledger.check(|id| ledger.runs(id));
}

/// Guards against an index run twice or never (a split whose halves
/// overlap or leave a gap, a stolen half also run by its owner), against a
/// panic lost or re-raised before the rest of the loop finished, and
/// against `map` leaking or double-dropping results when an element
/// panics.
#[test]
fn loops_run_each_index_once_and_re_raise_panics() {
    quiet_task_panics();
    check_outcomes(
        "loops_run_each_index_once_and_re_raise_panics",
        PAR_OUTCOMES,
        false,
        par_scenario,
    );
}
