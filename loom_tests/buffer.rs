//! `Buffer` (src/structures/buffer.rs): the owner's pushes and pops and any number of
//! thieves' steals take every task exactly once, a thief sees the contents of
//! the tasks it steals, overflow migration and wrap-around lose nothing, and
//! a rescheduled task never drags the rest of its old list back in.
//!
//! Tasks and their loom-checked payloads come from `queue::Tasks`: the thread
//! that publishes a task writes its payload, whoever takes it rewrites it, so
//! a missing happens-before edge is a loom causality violation and a second
//! taker fails the payload check. Every ring is drained after the join, so
//! "exactly once" covers what thieves left in their own rings.
//!
//! Not checkable here (hazard 10): the owner's Acquire loads of `head` and
//! the Release half of the thief's CAS order a thief's *loads* of slots
//! before the owner's later *stores* to them. Without them, a thief could
//! read a task the owner stores after the steal committed: a load reading
//! from a store that comes later in the schedule (load buffering), which
//! loom does not explore. Weakening either ordering passes every test below;
//! the argument for them is in the proof notes, not in a negative control.

use crate::queue::{Tasks, assert_taken, drain_queue};
use crate::{Outcomes, model};
use loom::thread;
use std::sync::Arc;
use zap_pool::model::{Buffer, BufferOwner, CAPACITY, Queue};

/// The owner's handle of `ring`. In every test below a ring's owner
/// operations run on one thread at a time (its owner's thread, or the model's
/// main thread before the spawn or after the join), which is the contract of
/// `Buffer::owner`.
fn owned(ring: &Buffer) -> BufferOwner<'_> {
    // SAFETY: see above.
    unsafe { ring.owner() }
}

/// Pops `ring` until it is empty (as its owner).
fn drain_ring(ring: &Buffer, tasks: &Tasks, into: &mut Vec<usize>) {
    while let Some(task) = owned(ring).pop() {
        into.push(tasks.take(task));
    }
}

/// What a thief did: steal from `victim` into `own` (if it found nothing,
/// yield and look once more, as a worker does before it sleeps), then pop
/// `own`. Returns (tasks taken, whether a steal took one, whether it moved
/// more into `own`).
fn steal_and_drain(tasks: &Tasks, own: &Buffer, victim: &Buffer) -> (Vec<usize>, bool, bool) {
    let mut got = Vec::new();
    let Some(stole) = owned(own).steal(victim).or_else(|| {
        thread::yield_now();
        owned(own).steal(victim)
    }) else {
        return (got, false, false);
    };
    got.push(tasks.take(stole.task));
    assert_eq!(
        stole.pushed,
        !owned(own).is_empty(),
        "`pushed` disagrees with the thief's ring"
    );
    drain_ring(own, tasks, &mut got);
    (got, true, stole.pushed)
}

/// The owner publishes and pushes a full ring of tasks, then pops until it
/// is empty, while a thief steals (see `steal_and_drain`) and pops what it
/// moved into its own ring. Rings start at `owner_start` and `thief_start`.
fn owner_and_a_thief(test: &'static str, owner_start: usize, thief_start: usize) {
    let outcomes = Outcomes::new(&[
        "the steal moved tasks into the thief's ring",
        "the steal took a single task",
        "the thief found the ring empty",
        "owner and thief both took tasks",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let tasks = Tasks::new(CAPACITY);
        let owner_ring = Arc::new(Buffer::starting_at(owner_start));
        let thief_ring = Arc::new(Buffer::starting_at(thief_start));
        let (t, ring) = (tasks.clone(), owner_ring.clone());
        let owner = thread::spawn(move || {
            let all: Vec<usize> = (0..CAPACITY).collect();
            for &i in &all {
                t.publish(i);
            }
            owned(&ring)
                .push(t.batch(&all))
                .expect("a full ring, no overflow");
            let mut got = Vec::new();
            drain_ring(&ring, &t, &mut got);
            got
        });
        let (t, own, victim) = (tasks.clone(), thief_ring.clone(), owner_ring.clone());
        let thief = thread::spawn(move || steal_and_drain(&t, &own, &victim));
        let popped = owner.join().unwrap();
        let (stolen, stole, pushed) = thief.join().unwrap();

        let mut taken: Vec<usize> = popped.iter().chain(&stolen).copied().collect();
        drain_ring(&owner_ring, &tasks, &mut taken);
        drain_ring(&thief_ring, &tasks, &mut taken);
        assert_taken(&taken, &[1; CAPACITY]);
        // The owner pops the oldest first.
        assert!(
            popped.windows(2).all(|w| w[0] < w[1]),
            "the owner popped {popped:?}"
        );

        if pushed {
            o.hit("the steal moved tasks into the thief's ring");
        } else if stole {
            o.hit("the steal took a single task");
        } else {
            o.hit("the thief found the ring empty");
        }
        if !popped.is_empty() && !stolen.is_empty() {
            o.hit("owner and thief both took tasks");
        }
    });
    outcomes.assert_all_reached(test, iterations);
}

/// Guards against: a thief that sees a slot before the task written into it
/// (or sees the slot but not the task's contents), and a task taken by both
/// the owner's pop and a steal, or by neither.
/// Kills: `buffer-push-publish-relaxed`, `buffer-steal-tail-relaxed`,
/// `buffer-pop-no-cas`.
#[test]
fn owner_and_a_thief_take_each_task_once() {
    owner_and_a_thief("owner_and_a_thief_take_each_task_once", 0, 0);
}

/// Guards against (hazard 12): index arithmetic that breaks where the
/// free-running `usize` indices wrap. The owner's ring starts two before the
/// wrap, so its four tasks sit at `MAX - 1`, `MAX`, `0` and `1`; the thief's ring
/// starts at `MAX`, so what it moves in straddles the wrap too.
/// Kills: `buffer-steal-size-unwrapped`.
#[test]
fn indices_wrap_around_during_a_steal() {
    owner_and_a_thief(
        "indices_wrap_around_during_a_steal",
        usize::MAX - 1,
        usize::MAX,
    );
}

/// Guards against: two thieves committing overlapping copies (a task stolen
/// twice) or a thief's failed CAS losing the tasks it copied, while the owner
/// pops. The owner fills its ring (4 tasks) and pops twice; each thief
/// steals (see `steal_and_drain`) and pops its own ring.
/// Kills: `buffer-steal-no-cas`.
#[test]
fn two_thieves_and_the_owner_take_each_task_once() {
    let outcomes = Outcomes::new(&[
        "both thieves stole",
        "a thief found the ring empty",
        "the owner and both thieves took tasks",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let tasks = Tasks::new(CAPACITY);
        let all: Vec<usize> = (0..CAPACITY).collect();
        let owner_ring = Arc::new(Buffer::new());
        let (t, ring, list) = (tasks.clone(), owner_ring.clone(), all.clone());
        let owner = thread::spawn(move || {
            for &i in &list {
                t.publish(i);
            }
            owned(&ring)
                .push(t.batch(&list))
                .expect("a full ring, no overflow");
            let mut got = Vec::new();
            for _ in 0..2 {
                if let Some(task) = owned(&ring).pop() {
                    got.push(t.take(task));
                }
            }
            got
        });
        let thief_rings: Vec<Arc<Buffer>> = (0..2).map(|_| Arc::new(Buffer::new())).collect();
        let thieves: Vec<_> = thief_rings
            .iter()
            .map(|own| {
                let (t, own, victim) = (tasks.clone(), own.clone(), owner_ring.clone());
                thread::spawn(move || steal_and_drain(&t, &own, &victim))
            })
            .collect();
        let popped = owner.join().unwrap();
        let stolen: Vec<_> = thieves.into_iter().map(|t| t.join().unwrap()).collect();

        let mut taken: Vec<usize> = popped.clone();
        for (got, _, _) in &stolen {
            taken.extend(got);
        }
        drain_ring(&owner_ring, &tasks, &mut taken);
        for ring in &thief_rings {
            drain_ring(ring, &tasks, &mut taken);
        }
        assert_taken(&taken, &[1; CAPACITY]);

        if stolen.iter().all(|s| s.1) {
            o.hit("both thieves stole");
            if !popped.is_empty() {
                o.hit("the owner and both thieves took tasks");
            }
        }
        if stolen.iter().any(|s| !s.1) {
            o.hit("a thief found the ring empty");
        }
    });
    outcomes.assert_all_reached("two_thieves_and_the_owner_take_each_task_once", iterations);
}

/// Guards against: overflow migration that claims slots a thief is taking
/// (a task both migrated and stolen) or loses tasks between the ring, the
/// overflow list and the thief. Setup puts tasks 0..3 in the owner's ring;
/// the owner then pushes tasks 3 and 4, which overflows (half the ring plus
/// the rest goes to its queue) unless the thief made room first, and then
/// pops its ring and drains its queue.
/// Kills: `buffer-migrate-no-cas`.
#[test]
fn overflow_migration_racing_a_steal_loses_nothing() {
    let outcomes = Outcomes::new(&[
        "overflow happened",
        "overflow happened and the thief stole",
        "the thief made room: no overflow",
        "the thief stole a task pushed during the race",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let tasks = Tasks::new(CAPACITY + 1);
        let owner_ring = Arc::new(Buffer::new());
        let overflow_queue = Arc::new(Queue::new());
        let first: Vec<usize> = (0..CAPACITY - 1).collect();
        for &i in &first {
            tasks.publish(i);
        }
        owned(&owner_ring).push(tasks.batch(&first)).unwrap();
        let (t, ring, queue) = (tasks.clone(), owner_ring.clone(), overflow_queue.clone());
        let owner = thread::spawn(move || {
            let more = [CAPACITY - 1, CAPACITY];
            for i in more {
                t.publish(i);
            }
            let overflowed = match owned(&ring).push(t.batch(&more)) {
                Ok(()) => false,
                Err(overflow) => {
                    assert_eq!(
                        overflow.len(),
                        CAPACITY / 2 + 1,
                        "half the ring plus the rest"
                    );
                    queue.push(overflow).expect("the queue is open");
                    true
                }
            };
            let mut got = Vec::new();
            drain_ring(&ring, &t, &mut got);
            drain_queue(&queue, &t, &mut got);
            (got, overflowed)
        });
        let thief_ring = Arc::new(Buffer::new());
        let (t, own, victim) = (tasks.clone(), thief_ring.clone(), owner_ring.clone());
        let thief = thread::spawn(move || steal_and_drain(&t, &own, &victim));
        let (mut taken, overflowed) = owner.join().unwrap();
        let (stolen, stole, _) = thief.join().unwrap();

        taken.extend(&stolen);
        drain_ring(&owner_ring, &tasks, &mut taken);
        drain_ring(&thief_ring, &tasks, &mut taken);
        drain_queue(&overflow_queue, &tasks, &mut taken);
        assert_taken(&taken, &[1; CAPACITY + 1]);

        if overflowed {
            o.hit("overflow happened");
            if stole {
                o.hit("overflow happened and the thief stole");
            }
        } else {
            o.hit("the thief made room: no overflow");
        }
        if stolen.iter().any(|&i| i >= CAPACITY - 1) {
            o.hit("the thief stole a task pushed during the race");
        }
    });
    outcomes.assert_all_reached(
        "overflow_migration_racing_a_steal_loses_nothing",
        iterations,
    );
}

/// Guards against: a thief that publishes the tasks it moved into its own
/// ring before (or without) making them visible, so a thief stealing from it
/// sees a stale slot or a task without its contents; and a task lost or
/// duplicated along the chain. B fills its ring (four tasks) and pops one; A
/// steals from B (half of three: one to run, one into its ring) and pops its
/// own ring once; C steals from A's ring.
/// Kills: `buffer-steal-publish-relaxed`.
#[test]
fn chained_steal_hands_tasks_on_once() {
    let outcomes = Outcomes::new(&[
        "A stole from B",
        "C stole from A's ring",
        "C found A's ring empty",
        "A popped its ring",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let tasks = Tasks::new(4);
        let rings: Vec<Arc<Buffer>> = (0..3).map(|_| Arc::new(Buffer::new())).collect();
        let (t, b) = (tasks.clone(), rings[0].clone());
        let owner_b = thread::spawn(move || {
            for i in 0..4 {
                t.publish(i);
            }
            owned(&b).push(t.batch(&[0, 1, 2, 3])).unwrap();
            owned(&b).pop().map(|task| t.take(task))
        });
        let (t, a, b) = (tasks.clone(), rings[1].clone(), rings[0].clone());
        let thief_a = thread::spawn(move || {
            let mut got = Vec::new();
            if let Some(stole) = owned(&a).steal(&b) {
                got.push(t.take(stole.task));
            }
            let stole = !got.is_empty();
            if let Some(task) = owned(&a).pop() {
                got.push(t.take(task));
            }
            (got, stole)
        });
        let (t, c, a) = (tasks.clone(), rings[2].clone(), rings[1].clone());
        let thief_c = thread::spawn(move || steal_and_drain(&t, &c, &a));
        let popped_b = owner_b.join().unwrap();
        let (got_a, a_stole) = thief_a.join().unwrap();
        let (got_c, c_stole, _) = thief_c.join().unwrap();

        let mut taken: Vec<usize> = popped_b
            .into_iter()
            .chain(got_a.clone())
            .chain(got_c)
            .collect();
        for ring in &rings {
            drain_ring(ring, &tasks, &mut taken);
        }
        assert_taken(&taken, &[1, 1, 1, 1]);

        if a_stole {
            o.hit("A stole from B");
            if got_a.len() == 2 {
                o.hit("A popped its ring");
            }
        }
        o.hit(if c_stole {
            "C stole from A's ring"
        } else {
            "C found A's ring empty"
        });
    });
    outcomes.assert_all_reached("chained_steal_hands_tasks_on_once", iterations);
}

/// Guards against: `consume` publishing the tasks it moved from a queue into
/// the ring before they are visible (a thief sees a stale slot or a task
/// without its contents), and a task lost or duplicated between the queue,
/// the consumer's ring and a thief, while a second worker competes for the
/// same queue. The owner publishes three tasks, pushes them to its queue and
/// consumes them into its ring, then pops it; a thief steals from that ring;
/// another worker consumes the same queue into its own ring.
/// Kills: `buffer-consume-publish-relaxed`.
#[test]
fn consume_into_the_ring_racing_a_thief() {
    let outcomes = Outcomes::new(&[
        "consume moved tasks into the ring",
        "the thief stole from the consumed ring",
        "the other worker consumed the queue",
        "the other worker got nothing",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let tasks = Tasks::new(3);
        let queue = Arc::new(Queue::new());
        let rings: Vec<Arc<Buffer>> = (0..3).map(|_| Arc::new(Buffer::new())).collect();
        let (t, q, ring) = (tasks.clone(), queue.clone(), rings[0].clone());
        let owner = thread::spawn(move || {
            for i in 0..3 {
                t.publish(i);
            }
            q.push(t.batch(&[0, 1, 2])).unwrap();
            let mut got = Vec::new();
            let mut pushed = false;
            if let Some(stole) = owned(&ring).consume(&q) {
                got.push(t.take(stole.task));
                pushed = stole.pushed;
            }
            drain_ring(&ring, &t, &mut got);
            (got, pushed)
        });
        let (t, own, victim) = (tasks.clone(), rings[1].clone(), rings[0].clone());
        let thief = thread::spawn(move || steal_and_drain(&t, &own, &victim));
        let (t, q, own) = (tasks.clone(), queue.clone(), rings[2].clone());
        let other = thread::spawn(move || {
            let mut got = Vec::new();
            if let Some(stole) = owned(&own).consume(&q) {
                got.push(t.take(stole.task));
            }
            drain_ring(&own, &t, &mut got);
            got
        });
        let (mut taken, pushed) = owner.join().unwrap();
        let (stolen, stole, _) = thief.join().unwrap();
        let other_got = other.join().unwrap();

        taken.extend(&stolen);
        taken.extend(&other_got);
        for ring in &rings {
            drain_ring(ring, &tasks, &mut taken);
        }
        drain_queue(&queue, &tasks, &mut taken);
        assert_taken(&taken, &[1, 1, 1]);

        if pushed {
            o.hit("consume moved tasks into the ring");
        }
        if stole {
            o.hit("the thief stole from the consumed ring");
        }
        o.hit(if other_got.is_empty() {
            "the other worker got nothing"
        } else {
            "the other worker consumed the queue"
        });
    });
    outcomes.assert_all_reached("consume_into_the_ring_racing_a_thief", iterations);
}

/// Guards against (hazard 7): a task rescheduled in a new batch that still
/// carries the link of the list it was consumed from, and a push that
/// follows that link and drags the rest of the old list (still in the
/// queue's cache) into the ring, so those tasks run twice. Setup pushes the
/// list [0, 1, 2]; the owner consumes task 0, runs it, reschedules it alone
/// into its ring and pops the ring, while a thief steals from that ring.
/// Task 0 must be taken twice, tasks 1 and 2 once. The port has two fixes
/// (`push_ptr` terminates, `pop_front` counts) and each covers for the other:
/// the mutation takes both out, as the original had it.
/// Kills: `batch-unterminated-walk`.
#[test]
fn a_rescheduled_task_drags_no_stale_link() {
    let outcomes = Outcomes::new(&[
        "the thief stole the rescheduled task",
        "the owner popped the rescheduled task",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let tasks = Tasks::new(3);
        let queue = Arc::new(Queue::new());
        for i in 0..3 {
            tasks.publish(i);
        }
        queue.push(tasks.batch(&[0, 1, 2])).unwrap();
        let owner_ring = Arc::new(Buffer::new());
        let (t, q, ring) = (tasks.clone(), queue.clone(), owner_ring.clone());
        let owner = thread::spawn(move || {
            let task = {
                let mut consumer = q.try_consume().expect("the only consumer");
                consumer.pop().expect("three tasks queued")
            }; // 1 and 2 stay in the cache, still linked from task 0
            let mut got = vec![t.take(task)];
            t.publish(got[0]); // the callback reschedules its own task
            owned(&ring).push(t.batch(&[got[0]])).unwrap();
            drain_ring(&ring, &t, &mut got);
            got
        });
        let thief_ring = Arc::new(Buffer::new());
        let (t, own, victim) = (tasks.clone(), thief_ring.clone(), owner_ring.clone());
        let thief = thread::spawn(move || steal_and_drain(&t, &own, &victim));
        let mut taken = owner.join().unwrap();
        let (stolen, _, _) = thief.join().unwrap();

        let popped_again = taken[1..].contains(&0);
        taken.extend(&stolen);
        drain_ring(&owner_ring, &tasks, &mut taken);
        drain_ring(&thief_ring, &tasks, &mut taken);
        drain_queue(&queue, &tasks, &mut taken);
        assert_taken(&taken, &[2, 1, 1]);

        if stolen.contains(&0) {
            o.hit("the thief stole the rescheduled task");
        }
        if popped_again {
            o.hit("the owner popped the rescheduled task");
        }
    });
    outcomes.assert_all_reached("a_rescheduled_task_drags_no_stale_link", iterations);
}
