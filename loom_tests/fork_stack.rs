//! `ForkStack` (src/structures/fork_stack.rs) on its join deque: a lazy
//! fork that was never promoted is its owner's alone; a promoted one is
//! taken exactly once, by the owner's pop or by a thief; and an eager push
//! promotes every hidden fork first, so that the deque's newest entry is
//! always the job of the innermost `join` still waiting. The proof is
//! `docs/fork_stack.md`; the deque's own races are `join_deque.rs`'s.
//!
//! The deque (and so the stack) holds `JOIN_CAPACITY` = 2 jobs under loom.
//! Jobs are checked as in `join_deque.rs`: a second taker fails the
//! payload check, a missing edge is a loom causality violation, and after
//! the race the main thread pops what is left, so that "exactly once"
//! counts every job.

use crate::join_deque::{race, steal_up_to};
use crate::queue::Tasks;
use crate::{Outcomes, model};
use zap_pool::model::{ForkStack, JOIN_CAPACITY, JoinDequeOwner};

const _: () = assert!(JOIN_CAPACITY == 2);

/// The owner takes fork `i` back (`ForkStack::pop`); records it if it came
/// back, and says whether it did (false: a thief took it).
fn take_back(
    forks: &ForkStack,
    d: &JoinDequeOwner<'_>,
    t: &Tasks,
    i: usize,
    got: &mut Vec<usize>,
) -> bool {
    match forks.pop(t.ptr(i), d) {
        Some(task) => {
            got.push(t.take(task));
            true
        }
        None => false,
    }
}

/// Guards against a fork stack that promotes the newest hidden job instead
/// of the oldest (a thief then gets the small inner job, and the owner,
/// taking the newest job back as its own, runs it a second time), and one
/// whose pop takes a promoted job back without the deque's pop (the owner
/// and a thief then both run it). The owner records jobs 0 and 1, promotes
/// once (job 0), takes job 1 back and then job 0; a thief steals once,
/// racing all of it.
/// Kills: `fork-stack-promotes-newest`, `fork-stack-pop-private`.
#[test]
fn a_promoted_fork_goes_to_the_owner_or_the_thief_once() {
    let outcomes = Outcomes::new(&[
        "the thief took the promoted job",
        "the owner took the promoted job back",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let owner = |d: &JoinDequeOwner<'_>, t: &Tasks, got: &mut Vec<usize>| {
            let forks = ForkStack::new();
            for i in 0..2 {
                t.publish(i);
                assert!(forks.push(t.ptr(i)), "room for two forks");
            }
            assert!(forks.promote(d), "job 0 promoted");
            let inner = forks.pop(t.ptr(1), d).expect("a hidden fork is ours");
            got.push(t.take(inner));
            take_back(&forks, d, t, 0, got)
        };
        let (_, took_back, stolen) = race(2, 0, owner, &[1], steal_up_to);
        assert!(
            !stolen[0].0.contains(&1),
            "a thief took the fork that was never promoted"
        );
        o.hit(if took_back {
            "the owner took the promoted job back"
        } else {
            "the thief took the promoted job"
        });
    });
    outcomes.assert_all_reached(
        "a_promoted_fork_goes_to_the_owner_or_the_thief_once",
        iterations,
    );
}

/// Guards against an eager push on top of a hidden lazy fork (no
/// `promote_all` first): promoted later, the older fork then lies above
/// the eager job in the deque, and the eager join's pop gets the lazy
/// fork's job instead of its own. The owner records job 0, makes the eager
/// push of job 1 (after `promote_all`), records job 2 inside it and tries
/// to promote (the deque is full: job 2 stays hidden), then takes back
/// job 2, job 1 (the deque's pop) and job 0; a thief steals once.
/// Kills: `fork-stack-promote-all-noop`.
#[test]
fn an_eager_push_promotes_the_hidden_forks_first() {
    let outcomes = Outcomes::new(&[
        "the thief took the lazy fork",
        "the owner took every job back",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let owner = |d: &JoinDequeOwner<'_>, t: &Tasks, got: &mut Vec<usize>| {
            let forks = ForkStack::new();
            t.publish(0);
            assert!(forks.push(t.ptr(0)));
            // The eager join of job 1.
            assert!(forks.promote_all(d), "room for job 0");
            t.publish(1);
            assert!(d.push(t.ptr(1)).is_ok(), "room for job 1");
            // A lazy fork inside it, and an attempt to promote it.
            t.publish(2);
            assert!(forks.push(t.ptr(2)));
            forks.promote(d);
            let inner = forks.pop(t.ptr(2), d).expect("job 2 stayed hidden");
            got.push(t.take(inner));
            // The eager join takes its own job back: the deque's newest.
            let eager = d.pop().expect("a thief takes job 0 before job 1");
            assert_eq!(eager, t.ptr(1), "the eager join popped another job");
            got.push(t.take(eager));
            take_back(&forks, d, t, 0, got)
        };
        let (_, took_back, stolen) = race(3, 0, owner, &[1], steal_up_to);
        assert!(
            stolen[0].0.iter().all(|&i| i == 0),
            "the thief took a job other than the oldest"
        );
        o.hit(if took_back {
            "the owner took every job back"
        } else {
            "the thief took the lazy fork"
        });
    });
    outcomes.assert_all_reached("an_eager_push_promotes_the_hidden_forks_first", iterations);
}
