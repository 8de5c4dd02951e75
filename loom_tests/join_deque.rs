//! `JoinDeque` (src/structures/join_deque.rs): every pushed join job is taken exactly
//! once, by the owner's `pop` (newest first) or by a thief's `steal` (oldest
//! first); whoever takes a job sees its contents; a full deque hands the job
//! back; a slot refilled with a new job (at the same index after a pop, or
//! `JOIN_CAPACITY` indices on after a steal) is never taken through a
//! thief's stale read of it; and none of this changes where the
//! free-running indices wrap. The proof is `docs/join_deque.md`.
//!
//! Jobs and their loom-checked payloads come from `queue::Tasks`: the owner
//! writes a job's payload before it pushes the job, whoever takes it rewrites
//! the payload, so a missing happens-before edge is a loom causality
//! violation and a second taker fails the payload check. After the join the
//! model's main thread becomes the owner and pops what is left, so "exactly
//! once" counts every job, including the ones nobody took during the race.
//! The deque holds `JOIN_CAPACITY` = 2 jobs under loom.
//!
//! Not checkable here: `push`'s Acquire load of `top` and the Release half
//! of the thief's CAS order a thief's *load* of a slot before the owner's
//! later *store* to it. Without them a thief could read a job the owner
//! pushes after the steal committed: a load reading from a store that comes
//! later in the schedule (load buffering), which loom does not explore.
//! The argument for them is in `docs/join_deque.md`, as for hazard 10 of
//! the ring.

use crate::queue::{Tasks, assert_taken};
use crate::{Outcomes, model};
use loom::thread;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use zap_pool::model::{JOIN_CAPACITY, JoinDeque, JoinDequeOwner};

// The scenarios below count on a deque that is full at two jobs.
const _: () = assert!(JOIN_CAPACITY == 2);

/// Pops `deque` until it is empty (as its owner), checking the owner's
/// newest-first order.
fn drain(deque: &JoinDequeOwner<'_>, tasks: &Tasks, into: &mut Vec<usize>) {
    let mut popped = Vec::new();
    while let Some(task) = deque.pop() {
        popped.push(tasks.take(task));
    }
    assert_newest_first(&popped);
    into.extend(popped);
}

/// Publishes job `i` and pushes it (as the owner); returns whether the deque
/// took it. A refused job comes back unchanged, and the owner then runs it
/// itself, which counts as taking it.
fn publish_and_push(
    deque: &JoinDequeOwner<'_>,
    tasks: &Tasks,
    i: usize,
    into: &mut Vec<usize>,
) -> bool {
    tasks.publish(i);
    match deque.push(tasks.ptr(i)) {
        Ok(()) => true,
        Err(task) => {
            assert_eq!(
                task,
                tasks.ptr(i),
                "a refused push handed back another task"
            );
            into.push(tasks.take(task));
            false
        }
    }
}

/// Publishes and pushes jobs `0..n` (as the owner), each of which must fit.
fn push_jobs(deque: &JoinDequeOwner<'_>, tasks: &Tasks, n: usize, into: &mut Vec<usize>) {
    for i in 0..n {
        assert!(publish_and_push(deque, tasks, i, into), "room for {n}");
    }
}

/// Steals up to `times` jobs (as a thief), stopping at the first empty
/// steal. Returns the jobs taken and whether a steal found nothing.
pub fn steal_up_to(deque: &JoinDeque, tasks: &Tasks, times: usize) -> (Vec<usize>, bool) {
    let mut got = Vec::new();
    let mut found_empty = false;
    for _ in 0..times {
        match deque.steal() {
            Some(task) => got.push(tasks.take(task)),
            None => {
                found_empty = true;
                break;
            }
        }
    }
    (got, found_empty)
}

/// What one thief stole (in its order), and what else it saw.
pub type Stolen<T> = (Vec<usize>, T);

/// One race over `jobs` jobs on a deque whose indices start at `start`. The
/// owner runs `owner` on its own thread, which puts every job it takes into
/// the vector it is given and returns whatever else the test wants to know;
/// thief `k` runs `thief(.., steals[k])` on a thread of its own. After the
/// joins the model's main thread pops what is left, and this checks that
/// each thief stole oldest first and that every job was taken exactly once.
/// Returns what the owner took, the owner's result, and what each thief
/// returned.
pub fn race<O, T>(
    jobs: usize,
    start: usize,
    owner: impl FnOnce(&JoinDequeOwner<'_>, &Tasks, &mut Vec<usize>) -> O + Send + 'static,
    steals: &[usize],
    thief: impl Fn(&JoinDeque, &Tasks, usize) -> Stolen<T> + Send + Sync + 'static,
) -> (Vec<usize>, O, Vec<Stolen<T>>)
where
    O: Send + 'static,
    T: Send + 'static,
{
    let tasks = Tasks::new(jobs);
    let deque = Arc::new(JoinDeque::starting_at(start));
    let (t, d) = (tasks.clone(), deque.clone());
    let owner = thread::spawn(move || {
        let mut got = Vec::new();
        // SAFETY: this thread is the deque's owner until the join below.
        let result = owner(&unsafe { d.owner() }, &t, &mut got);
        (got, result)
    });
    let thief = Arc::new(thief);
    let thieves: Vec<_> = steals
        .iter()
        .map(|&times| {
            let (t, d, thief) = (tasks.clone(), deque.clone(), thief.clone());
            thread::spawn(move || thief(&d, &t, times))
        })
        .collect();
    let (owned, result) = owner.join().unwrap();
    let stolen: Vec<Stolen<T>> = thieves.into_iter().map(|t| t.join().unwrap()).collect();

    let mut taken = owned.clone();
    for (got, _) in &stolen {
        assert_oldest_first(got);
        taken.extend(got);
    }
    // SAFETY: the owner's thread was joined: this thread owns the deque now.
    drain(&unsafe { deque.owner() }, &tasks, &mut taken);
    assert_taken(&taken, &vec![1; jobs]);
    (owned, result, stolen)
}

/// Jobs are numbered in push order, so the owner's pops must go down.
fn assert_newest_first(popped: &[usize]) {
    assert!(
        popped.windows(2).all(|w| w[0] > w[1]),
        "the owner popped {popped:?}: not newest first"
    );
}

/// ... and one thief's steals must go up.
fn assert_oldest_first(stolen: &[usize]) {
    assert!(
        stolen.windows(2).all(|w| w[0] < w[1]),
        "a thief stole {stolen:?}: not oldest first"
    );
}

/// Guards against: a thief that sees `bottom` cover a slot before the slot
/// (or the job's contents) is visible to it, and the owner's `pop` and a
/// steal both taking the same job, or neither. The owner pushes jobs 0 and 1
/// and pops twice; the thief steals up to twice. This is where the two SeqCst
/// fences earn their keep: without either one, the owner's pop of job 1
/// (two jobs left, so no CAS) misses the thief's steal of job 0 while the
/// thief's second steal misses the lowered `bottom`, and both take job 1.
/// Kills: `join-deque-pop-fence-removed`, `join-deque-steal-fence-removed`,
/// `join-deque-push-relaxed`, `join-deque-steal-bottom-relaxed`.
#[test]
fn owner_and_a_thief_take_each_job_once() {
    let outcomes = Outcomes::new(&[
        "owner_took_both",
        "thief_took_both",
        "one_each",
        "thief_found_empty",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let owner = |d: &JoinDequeOwner<'_>, t: &Tasks, got: &mut Vec<usize>| {
            push_jobs(d, t, 2, got);
            for _ in 0..2 {
                if let Some(task) = d.pop() {
                    got.push(t.take(task));
                }
            }
            assert_newest_first(got);
        };
        let (popped, (), thieves) = race(2, 0, owner, &[2], steal_up_to);
        let (stolen, found_empty) = &thieves[0];

        o.hit(match (popped.len(), stolen.len()) {
            (2, 0) => "owner_took_both",
            (0, 2) => "thief_took_both",
            (1, 1) => "one_each",
            split => panic!("two pops and two steals took {split:?}"),
        });
        if *found_empty {
            o.hit("thief_found_empty");
        }
    });
    outcomes.assert_all_reached("owner_and_a_thief_take_each_job_once", iterations);
}

/// Guards against: a thief that reads a slot, loses the race for it to the
/// owner's pop (which takes the job without a CAS because another job is
/// left below it), and then, after the owner pushed a new job at the same
/// index, commits its CAS and returns the old job it read: the popped job
/// twice and the new one never. The owner pushes jobs 0 and 1, pops once
/// (job 1, normally), pushes job 2 at job 1's index and pops until empty;
/// the thief steals up to twice.
/// Kills: `join-deque-pop-fence-removed`, `join-deque-steal-fence-removed`.
#[test]
fn a_push_after_a_pop_refills_the_index_once() {
    let outcomes = Outcomes::new(&[
        "owner_popped_job_1_and_refilled_its_index",
        "thief_took_the_refilled_job",
        "owner_took_the_refilled_job",
        "thief_took_job_1",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let owner = |d: &JoinDequeOwner<'_>, t: &Tasks, got: &mut Vec<usize>| {
            push_jobs(d, t, 2, got);
            let first = d.pop().map(|task| t.take(task));
            got.extend(first);
            // Room for one more: the pop or a steal made it.
            assert!(publish_and_push(d, t, 2, got), "room after a pop");
            drain(d, t, got);
            first
        };
        let (owned, first, thieves) = race(3, 0, owner, &[2], steal_up_to);
        let (stolen, _) = &thieves[0];

        if first == Some(1) {
            o.hit("owner_popped_job_1_and_refilled_its_index");
        }
        if stolen.contains(&2) {
            o.hit("thief_took_the_refilled_job");
        }
        if owned.contains(&2) && first == Some(1) {
            o.hit("owner_took_the_refilled_job");
        }
        if stolen.contains(&1) {
            o.hit("thief_took_job_1");
        }
    });
    outcomes.assert_all_reached("a_push_after_a_pop_refills_the_index_once", iterations);
}

/// Guards against: two thieves that both claim the job at `top` (a steal
/// that commits without checking that `top` is unchanged), or a job lost
/// between them, while the owner pops; and a thief that steals job 0 through
/// the `bottom` the owner's pop lowered (to 1), which must carry the push of
/// job 0 like the pushes' own stores do. The owner pushes jobs 0 and 1 and
/// pops once; each thief steals once.
/// Kills: `join-deque-pop-lower-relaxed`, `join-deque-steal-no-cas`.
#[test]
fn two_thieves_and_the_owner_take_each_job_once() {
    let outcomes = Outcomes::new(&[
        "both_thieves_stole",
        "owner_and_a_thief",
        "owner_popped_and_no_thief_stole",
        "a_thief_found_empty",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let owner = |d: &JoinDequeOwner<'_>, t: &Tasks, got: &mut Vec<usize>| {
            push_jobs(d, t, 2, got);
            if let Some(task) = d.pop() {
                got.push(t.take(task));
            }
        };
        let (popped, (), stolen) = race(2, 0, owner, &[1, 1], steal_up_to);
        if let [newest] = popped[..] {
            // The owner's one pop takes the newest job left when it ran: job
            // 1, unless both had been stolen (then it gets nothing).
            assert_eq!(newest, 1, "the owner popped the oldest of two jobs");
        }

        let thieves_that_stole = stolen.iter().filter(|(got, _)| !got.is_empty()).count();
        match (popped.len(), thieves_that_stole) {
            (0, 2) => o.hit("both_thieves_stole"),
            (1, 1) => o.hit("owner_and_a_thief"),
            (1, 0) => o.hit("owner_popped_and_no_thief_stole"),
            _ => {}
        }
        if stolen.iter().any(|&(_, empty)| empty) {
            o.hit("a_thief_found_empty");
        }
    });
    outcomes.assert_all_reached("two_thieves_and_the_owner_take_each_job_once", iterations);
}

/// Guards against: the owner and a thief both taking the last job, the race
/// that the owner settles with a CAS on `top` (as a thief would) when its
/// pop finds exactly one job, or a steal that commits without checking. The
/// owner pushes job 0 and pops; the thief steals once. With one job the CAS
/// alone decides, so this is the scenario that the fences do not matter for
/// (the fence mutations pass it; they fail the tests with two jobs).
/// Kills: `join-deque-pop-last-no-cas`, `join-deque-steal-no-cas`.
#[test]
fn the_last_job_goes_to_the_owner_or_the_thief() {
    let outcomes = Outcomes::new(&["owner_took_last", "thief_took_last"]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let owner = |d: &JoinDequeOwner<'_>, t: &Tasks, got: &mut Vec<usize>| {
            push_jobs(d, t, 1, got);
            let popped = d.pop().map(|task| t.take(task));
            got.extend(popped);
            popped
        };
        let (_, popped, thieves) = race(1, 0, owner, &[1], steal_up_to);
        let (stolen, _) = &thieves[0];
        // The pop ran after the push, so the job never outlives the race.
        assert_eq!(popped.is_some(), stolen.is_empty());

        o.hit(if popped.is_some() {
            "owner_took_last"
        } else {
            "thief_took_last"
        });
    });
    outcomes.assert_all_reached("the_last_job_goes_to_the_owner_or_the_thief", iterations);
}

/// The owner pushes jobs 0, 1 and 2 to a deque of two slots starting at
/// index `start`, then pops until it is empty; thief `k` steals up to
/// `steals[k]` times. Job 2 is refused (and run by the owner) unless a thief
/// already took job 0, in which case it goes into job 0's slot. A ghost
/// clock (a std atomic, invisible to loom) stamps the reuse and the start and
/// end of every steal; it only labels outcomes.
fn reuse(
    test: &'static str,
    start: usize,
    steals: &'static [usize],
    names: &'static [&'static str],
) {
    let outcomes = Outcomes::new(names);
    let o = outcomes.clone();
    let iterations = model(move || {
        let ghost = Arc::new(AtomicUsize::new(0));
        let g = ghost.clone();
        let owner = move |d: &JoinDequeOwner<'_>, t: &Tasks, got: &mut Vec<usize>| {
            push_jobs(d, t, 2, got);
            let reused = publish_and_push(d, t, 2, got);
            let reused_at = g.fetch_add(1, Ordering::Relaxed);
            drain(d, t, got);
            reused.then_some(reused_at)
        };
        let thief = move |d: &JoinDeque, t: &Tasks, times: usize| {
            // (job taken, ghost stamps before and after the steal)
            let mut log: Vec<(Option<usize>, usize, usize)> = Vec::new();
            for _ in 0..times {
                let began = ghost.fetch_add(1, Ordering::Relaxed);
                let job = d.steal().map(|task| t.take(task));
                log.push((job, began, ghost.fetch_add(1, Ordering::Relaxed)));
                if job.is_none() {
                    break;
                }
            }
            (log.iter().filter_map(|s| s.0).collect(), log)
        };
        let (_, reused_at, logs) = race(3, start, owner, steals, thief);

        let steals = || logs.iter().flat_map(|(_, log)| log);
        match reused_at {
            None => o.hit("full_refused"),
            Some(at) => {
                o.hit("slot_reused");
                if steals().any(|s| s.0 == Some(2)) {
                    o.hit("a_thief_took_the_reused_job");
                }
                if names.contains(&"reused_during_another_steal")
                    && steals()
                        .any(|&(job, began, ended)| job != Some(0) && began < at && at < ended)
                {
                    o.hit("reused_during_another_steal");
                }
            }
        }
        if steals().any(|s| s.0 == Some(1)) {
            o.hit("a_thief_took_job_1");
        }
    });
    outcomes.assert_all_reached(test, iterations);
}

/// Guards against: a push that accepts a job into a full deque (overwriting
/// the oldest job's slot, so that job is lost and the new one taken twice),
/// a refused push that does not hand its job back, a slot reused for a new
/// job while another thief, which read `top` before the reuse, still takes
/// what it read there, and a last-job race over a reused slot. Thief A steals
/// up to twice, thief B once.
/// Kills: `join-deque-push-full-off-by-one`, `join-deque-steal-keeps-stale-read`.
#[test]
fn a_reused_slot_is_taken_once() {
    reuse(
        "a_reused_slot_is_taken_once",
        0,
        &[2, 1],
        &[
            "full_refused",
            "slot_reused",
            "a_thief_took_the_reused_job",
            "reused_during_another_steal",
            "a_thief_took_job_1",
        ],
    );
}

/// Guards against: index arithmetic that breaks where the free-running
/// `usize` indices wrap. The deque starts at `MAX - 1`, so jobs 0 and 1 sit
/// at `MAX - 1` and `MAX` and `bottom` wraps to 0 after the second push;
/// stealing job 1 moves `top` from `MAX` to 0, and the reused slot holds job
/// 2 at index 0. One thief steals up to twice.
/// Kills: `join-deque-index-unwrapped`.
#[test]
fn indices_wrap_around() {
    reuse(
        "indices_wrap_around",
        usize::MAX - 1,
        &[2],
        &["full_refused", "slot_reused", "a_thief_took_job_1"],
    );
}
