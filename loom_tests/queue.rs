//! `Queue` (src/structures/queue.rs): every pushed task is consumed exactly once, its
//! link and contents are visible to the consumer that takes it, the consumer
//! lock hands the cache from one holder to the next, and `close` either
//! refuses a push or lets it through, never both and never neither.
//!
//! Tasks live in a [`Tasks`] arena (also used by `buffer.rs`). Each carries a
//! loom-checked payload that its producer writes before publishing it and
//! whoever takes it rewrites: a taker without a happens-before edge from the
//! producer is a loom causality violation, and a second taker fails the
//! payload check. Some outcomes are classified with *ghost* counters (std
//! atomics, invisible to loom): loom runs every model thread on one OS
//! thread and switches only at loom operations, so a ghost stamp taken right
//! after a call records where that call's last atomic operation fell in the
//! schedule. Ghosts only label outcomes; no assertion about the queue uses
//! them.

use crate::{Outcomes, model};
use loom::cell::UnsafeCell;
use loom::thread;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use zap_pool::model::{Busy, Queue};
use zap_pool::raw::{Batch, Task};

/// The payload of a task that has been taken (and not republished since).
const TAKEN: usize = usize::MAX;

/// A task plus a loom-checked payload. `task` is the first field of a
/// `repr(C)` struct, so a `*mut Task` is a `*mut Item`.
#[repr(C)]
struct Item {
    task: Task,
    payload: UnsafeCell<usize>,
}

unsafe fn never_run(_: core::ptr::NonNull<Task>) {
    unreachable!("the model tests never run a task's callback");
}

/// A fixed array of tasks whose addresses stay put for the whole iteration,
/// identified by index.
pub struct Tasks {
    base: *mut Item,
    len: usize,
}

// SAFETY: the arena is only reached through `Task` links and payload cells,
// which loom race-checks; the base pointer itself is never written.
unsafe impl Send for Tasks {}
// SAFETY: as above.
unsafe impl Sync for Tasks {}

impl Drop for Tasks {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` came from `Box::into_raw` in `new`; the model
        // threads that used the tasks have been joined.
        drop(unsafe { Box::from_raw(core::ptr::slice_from_raw_parts_mut(self.base, self.len)) });
    }
}

impl Tasks {
    /// `n` unpublished tasks. Call inside the model (loom cells).
    pub fn new(n: usize) -> Arc<Self> {
        let items: Box<[Item]> = (0..n)
            .map(|_| Item {
                task: Task::new(never_run),
                payload: UnsafeCell::new(0),
            })
            .collect();
        let len = items.len();
        let base = Box::into_raw(items) as *mut Item;
        Arc::new(Self { base, len })
    }

    fn item(&self, i: usize) -> &Item {
        assert!(i < self.len);
        // SAFETY: in bounds; the arena lives as long as `self`.
        unsafe { &*self.base.add(i) }
    }

    /// The task's address, as the pool sees it.
    pub fn ptr(&self, i: usize) -> *mut Task {
        assert!(i < self.len);
        // SAFETY: in bounds.
        unsafe { self.base.add(i) as *mut Task }
    }

    /// The index of a task that came out of a queue or a ring.
    pub fn index(&self, task: *mut Task) -> usize {
        assert!(!task.is_null(), "a null task came out");
        let offset = (task as usize).wrapping_sub(self.base as usize);
        let size = core::mem::size_of::<Item>();
        assert!(
            offset % size == 0 && offset / size < self.len,
            "a pointer that is not one of the tasks came out: {task:p}"
        );
        offset / size
    }

    /// The producer's side: writes the payload of task `i` (before it is
    /// pushed anywhere).
    pub fn publish(&self, i: usize) {
        self.item(i).payload.with_mut(|p| unsafe { *p = i + 1 });
    }

    /// The taker's side: checks that `task` was published and not taken
    /// since, marks it taken, and returns its index. Without a happens-before
    /// edge from `publish`, loom reports a causality violation here.
    pub fn take(&self, task: *mut Task) -> usize {
        let i = self.index(task);
        self.item(i).payload.with_mut(|p| unsafe {
            assert_eq!(
                *p,
                i + 1,
                "task {i} taken twice, or before it was published"
            );
            *p = TAKEN;
        });
        i
    }

    /// A batch of tasks `indices`, in that order.
    pub fn batch(&self, indices: &[usize]) -> Batch {
        let mut batch = Batch::new();
        for &i in indices {
            // SAFETY: no one else holds a reference to the task; the pool
            // only links it through its `UnsafeCell`.
            batch.push(unsafe { &mut *self.ptr(i) });
        }
        batch
    }
}

/// Takes everything left in `queue`, after every racing thread was joined.
pub fn drain_queue(queue: &Queue, tasks: &Tasks, into: &mut Vec<usize>) {
    loop {
        match queue.try_consume() {
            Ok(mut consumer) => {
                while let Some(task) = consumer.pop() {
                    into.push(tasks.take(task));
                }
            }
            Err(Busy::Empty) => return,
            Err(Busy::Contended) => panic!("a consumer outlived its thread"),
        }
    }
}

/// Asserts that task `i` was taken exactly `expected[i]` times in `taken`.
pub fn assert_taken(taken: &[usize], expected: &[usize]) {
    let mut counts = vec![0; expected.len()];
    for &i in taken {
        counts[i] += 1;
    }
    assert_eq!(
        counts, expected,
        "times each task was taken (taken in order: {taken:?})"
    );
}

/// A ghost clock: `stamp` returns increasing numbers in schedule order.
#[derive(Default)]
struct Ghost(AtomicUsize);

impl Ghost {
    fn stamp(&self) -> usize {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

/// Guards against: a push whose links or task contents are not visible to
/// the consumer that takes it (the consumer reads the link of every task it
/// pops, and the payload), a refill that takes a list pushed during the
/// consume without synchronizing with it, and a task consumed twice or lost
/// when pushes land before, between and during consumes. Two producers push
/// a 2-task and a 1-task list; a consumer retries (yielding) up to three
/// times; what it did not get is drained after the join.
/// Kills: `queue-push-relaxed`, `queue-lock-relaxed`, `queue-refill-relaxed`.
#[test]
fn producers_and_a_consumer_deliver_each_task_once() {
    let outcomes = Outcomes::new(&[
        "consumer found the queue empty",
        "one consume took both lists",
        "a pop refilled from a push made during the consume",
        "the lists came in separate consumes",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let tasks = Tasks::new(3);
        let queue = Arc::new(Queue::new());
        let ghost = Arc::new(Ghost::default());
        // Producer p pushes `LISTS[p]`, and reports its ghost stamp.
        const LISTS: [&[usize]; 2] = [&[0, 1], &[2]];
        let producers: Vec<_> = LISTS
            .iter()
            .map(|&list| {
                let (t, q, g) = (tasks.clone(), queue.clone(), ghost.clone());
                thread::spawn(move || {
                    for &i in list {
                        t.publish(i);
                    }
                    q.push(t.batch(list)).expect("the queue is open");
                    g.stamp()
                })
            })
            .collect();
        let (t, q, g) = (tasks.clone(), queue.clone(), ghost.clone());
        let consumer = thread::spawn(move || {
            // (ghost stamp at lock time, tasks popped in that consume)
            let mut consumes: Vec<(usize, Vec<usize>)> = Vec::new();
            let mut empty = false;
            for _ in 0..3 {
                match q.try_consume() {
                    Ok(mut c) => {
                        let at = g.stamp();
                        let mut got = Vec::new();
                        while let Some(task) = c.pop() {
                            got.push(t.take(task));
                        }
                        consumes.push((at, got));
                    }
                    Err(Busy::Empty) => empty = true,
                    Err(Busy::Contended) => panic!("the only consumer was contended"),
                }
                if consumes.iter().map(|(_, got)| got.len()).sum::<usize>() == 3 {
                    break;
                }
                thread::yield_now();
            }
            (consumes, empty)
        });
        let pushed_at: Vec<usize> = producers.into_iter().map(|p| p.join().unwrap()).collect();
        let (consumes, empty) = consumer.join().unwrap();

        let mut taken: Vec<usize> = consumes.iter().flat_map(|(_, got)| got.clone()).collect();
        drain_queue(&queue, &tasks, &mut taken);
        assert_taken(&taken, &[1, 1, 1]);
        for (_, got) in &consumes {
            // A list keeps its order inside one consume.
            if let (Some(a), Some(b)) = (
                got.iter().position(|&i| i == 0),
                got.iter().position(|&i| i == 1),
            ) {
                assert!(a < b, "list [0, 1] came out reordered: {got:?}");
            }
        }

        if empty {
            o.hit("consumer found the queue empty");
        }
        let list_of = |i: usize| if i == 2 { 1 } else { 0 };
        if consumes.iter().any(|(_, got)| got.len() == 3) {
            o.hit("one consume took both lists");
        }
        if consumes
            .iter()
            .any(|(at, got)| got.iter().any(|&i| pushed_at[list_of(i)] > *at))
        {
            o.hit("a pop refilled from a push made during the consume");
        }
        if consumes.iter().filter(|(_, got)| !got.is_empty()).count() == 2 {
            o.hit("the lists came in separate consumes");
        }
    });
    outcomes.assert_all_reached(
        "producers_and_a_consumer_deliver_each_task_once",
        iterations,
    );
}

/// Guards against: two consumers inside the lock at once, and a cache (the
/// rest of a list a consumer took but did not pop) that the next consumer, on
/// another thread, reads without synchronizing with the release that stored
/// it, or loses. Setup pushes [0, 1] and [2]; two consumers each try twice,
/// popping one task per consume, so the remainder passes through the cache.
/// Kills: `queue-lock-relaxed`, `queue-release-relaxed`.
#[test]
fn consumers_contend_and_hand_over_the_cache() {
    let outcomes = Outcomes::new(&[
        "a consumer was contended",
        "a consumer took the cache the other one left",
        "both consumers got a task",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let tasks = Tasks::new(3);
        let queue = Arc::new(Queue::new());
        for i in 0..3 {
            tasks.publish(i);
        }
        queue.push(tasks.batch(&[0, 1])).unwrap();
        queue.push(tasks.batch(&[2])).unwrap();
        // The id (1 or 2) of the last consumer that took the lock; ghost.
        let last_owner = Arc::new(AtomicUsize::new(0));
        let consumers: Vec<_> = (1..=2)
            .map(|me| {
                let (t, q, last) = (tasks.clone(), queue.clone(), last_owner.clone());
                thread::spawn(move || {
                    let (mut got, mut contended, mut took_over) = (Vec::new(), false, false);
                    for _ in 0..2 {
                        match q.try_consume() {
                            Ok(mut c) => {
                                let before = last.swap(me, Ordering::Relaxed);
                                if let Some(task) = c.pop() {
                                    got.push(t.take(task));
                                    took_over |= before != 0 && before != me;
                                }
                            }
                            Err(Busy::Contended) => {
                                contended = true;
                                thread::yield_now();
                            }
                            Err(Busy::Empty) => break,
                        }
                    }
                    (got, contended, took_over)
                })
            })
            .collect();
        let results: Vec<_> = consumers.into_iter().map(|c| c.join().unwrap()).collect();

        let mut taken: Vec<usize> = results.iter().flat_map(|(got, _, _)| got.clone()).collect();
        drain_queue(&queue, &tasks, &mut taken);
        assert_taken(&taken, &[1, 1, 1]);

        if results.iter().any(|r| r.1) {
            o.hit("a consumer was contended");
        }
        if results.iter().any(|r| r.2) {
            o.hit("a consumer took the cache the other one left");
        }
        if results.iter().all(|r| !r.0.is_empty()) {
            o.hit("both consumers got a task");
        }
    });
    outcomes.assert_all_reached("consumers_contend_and_hand_over_the_cache", iterations);
}

/// Guards against: a push that both succeeds and is handed back, or that is
/// refused and still consumed, and a push that lands after the close (the
/// pool would then lose it: at shutdown, a drain after `close` must empty
/// the queue for good). A producer pushes task 0 and then task 1 while a
/// closer closes the queue and then drains it, and a consumer takes what it
/// can; after the join the queue must be empty and each accepted task must
/// have been taken once.
/// Kills: `queue-close-checked-once`.
#[test]
fn close_racing_a_push_refuses_or_keeps_it() {
    let outcomes = Outcomes::new(&[
        "push accepted and taken by the racing consumer",
        "push accepted and drained by the closer",
        "push refused after close",
        "first push accepted, second refused",
        "the closer's drain was contended",
    ]);
    let o = outcomes.clone();
    let iterations = model(move || {
        let tasks = Tasks::new(2);
        let queue = Arc::new(Queue::new());
        let (t, q) = (tasks.clone(), queue.clone());
        let producer = thread::spawn(move || {
            [0, 1].map(|i| {
                t.publish(i);
                match q.push(t.batch(&[i])) {
                    Ok(()) => true,
                    Err(back) => {
                        assert_eq!(back.len(), 1, "the refused batch came back changed");
                        false
                    }
                }
            })
        });
        let (t, q) = (tasks.clone(), queue.clone());
        let closer = thread::spawn(move || {
            q.close();
            let (mut got, mut contended) = (Vec::new(), false);
            loop {
                match q.try_consume() {
                    Ok(mut c) => {
                        while let Some(task) = c.pop() {
                            got.push(t.take(task));
                        }
                    }
                    Err(Busy::Empty) => break,
                    Err(Busy::Contended) => {
                        contended = true;
                        thread::yield_now();
                    }
                }
            }
            (got, contended)
        });
        let (t, q) = (tasks.clone(), queue.clone());
        let consumer = thread::spawn(move || {
            let mut got = Vec::new();
            if let Ok(mut c) = q.try_consume() {
                while let Some(task) = c.pop() {
                    got.push(t.take(task));
                }
            }
            got
        });
        let accepted = producer.join().unwrap();
        let (drained, contended) = closer.join().unwrap();
        let raced = consumer.join().unwrap();

        assert!(
            accepted[0] || !accepted[1],
            "a push went through after a refused one"
        );
        let mut left = Vec::new();
        drain_queue(&queue, &tasks, &mut left);
        assert!(
            left.is_empty(),
            "tasks {left:?} were accepted after the close and its drain"
        );
        let taken: Vec<usize> = raced.iter().chain(&drained).copied().collect();
        let expected: Vec<usize> = accepted.iter().map(|&a| a as usize).collect();
        assert_taken(&taken, &expected);
        assert!(
            queue.push(tasks.batch(&[0])).is_err(),
            "the queue accepted a push after close"
        );

        if raced.contains(&0) {
            o.hit("push accepted and taken by the racing consumer");
        }
        if drained.contains(&0) {
            o.hit("push accepted and drained by the closer");
        }
        if !accepted[0] {
            o.hit("push refused after close");
        }
        if accepted[0] && !accepted[1] {
            o.hit("first push accepted, second refused");
        }
        if contended {
            o.hit("the closer's drain was contended");
        }
    });
    outcomes.assert_all_reached("close_racing_a_push_refuses_or_keeps_it", iterations);
}
