#!/usr/bin/env python3
"""Negative controls: put known bugs back into a copy of the crate and check
that the model test named for each one fails.

Each mutation replaces one exact snippet of `src/` (it must occur exactly
once, or the mutation is reported stale), or several (`path` None and the
snippet a list of (path, snippet, replacement)), in a scratch copy under
`target/mutants/`, builds the named test target, and runs the named test.
A mutation is KILLED when that test fails (or exceeds the time limit, shown
as such), SURVIVED when it passes. The unmutated tests are run first: a
mutation can only count as killed against a suite that passes without it.

    scripts/mutants.sh              # every mutation that the CI tests kill
    scripts/mutants.sh --long       # also those that only the long-run
                                    # bounds kill (`loom-long`), and every
                                    # long-run test of the others
    scripts/mutants.sh --list       # the table, nothing run
    scripts/mutants.sh NAME...      # only these
    scripts/mutants.sh --no-baseline  # skip the unmutated run of the named
                                    # tests (for a caller that has just run
                                    # the whole suites on the same source)

Exit status: 0 if every selected mutation was killed, 1 otherwise.
"""

import fcntl
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "target", "mutants")
COPY = os.path.join(WORK, "crate")
TARGET = os.path.join(WORK, "target")
TIMEOUT = int(os.environ.get("MUTANT_TIMEOUT", "900"))

TOOLS = {
    "loom": {
        "env": {"LOOM_MAX_PREEMPTIONS": "2", "RUSTFLAGS": "--cfg loom -C debug-assertions"},
        "target": "loom_tests",
    },
    "shuttle": {
        "env": {"RUSTFLAGS": "--cfg shuttle"},
        "target": "shuttle_tests",
    },
    # The loom tests with their long-run preemption bounds: only with --long.
    "loom-long": {
        "env": {"LOOM_MAX_PREEMPTIONS": "2", "RUSTFLAGS": "--cfg loom -C debug-assertions",
                "ZAP_LOOM_LONG": "1"},
        "target": "loom_tests",
        "long": True,
    },
}

# name, what it puts back, file, snippet, replacement, [(tool, test), ...]
MUTATIONS = [
    (
        "event-wake-swap",
        "hazard 2: Event::wake stores its state unconditionally (a swap), so a late notify revives a shut-down event",
        "src/structures/event.rs",
        "                    old.max(new_state),\n",
        "                    new_state,\n",
        [("loom", "event::shutdown_is_final_and_wakes_every_sleeper"),
         ("shuttle", "event::shutdown_is_final_and_wakes_every_sleeper")],
    ),
    (
        "event-shutdown-wakes-only-waiting",
        "hazard 3: shutdown wakes the futex only if the word was WAITING",
        "src/structures/event.rs",
        "if new_state == SHUTDOWN {",
        "if new_state == SHUTDOWN && old == WAITING {",
        [("loom", "event::shutdown_is_final_and_wakes_every_sleeper"),
         ("shuttle", "event::shutdown_is_final_and_wakes_every_sleeper")],
    ),
    (
        "event-notify-relaxed",
        "ordering: the token is posted with Relaxed instead of Release",
        "src/structures/event.rs",
        "old.max(new_state),\n                    Ordering::Release,",
        "old.max(new_state),\n                    Ordering::Relaxed,",
        [("loom", "event::notify_releases_a_waiter_with_its_writes")],
    ),
    (
        "event-consume-relaxed",
        "ordering: the token is consumed with Relaxed instead of Acquire",
        "src/structures/event.rs",
        "                    acquire_with,\n                    Ordering::Acquire,",
        "                    acquire_with,\n                    Ordering::Relaxed,",
        [("loom", "event::notify_releases_a_waiter_with_its_writes")],
    ),
    # --- sync word and lifecycle (loom) ---
    (
        "notify-fence-removed",
        "hazard 1: no SeqCst fence between the push and the fast-path read of `notified`",
        "src/scheduler/wake.rs",
        "        fence(Ordering::SeqCst);\n        let sync = self.sync_word(Ordering::Relaxed);\n",
        "        let sync = self.sync_word(Ordering::Relaxed);\n",
        [("loom", "sync_word::a_pushed_task_is_always_found")],
    ),
    (
        "wait-fence-removed",
        "hazard 1: no SeqCst fence between consuming `notified` and the search",
        "src/scheduler/wake.rs",
        "                        fence(Ordering::SeqCst);\n                        return Ok(",
        "                        return Ok(",
        [("loom", "sync_word::a_pushed_task_is_always_found")],
    ),
    (
        "hand-on-ignores-more",
        "a waking thread that found work gives its role up, waking nobody, though it saw more work",
        "src/scheduler/wake.rs",
        "            let action = if is_waking && !more && !sync.notified() {",
        "            let action = if is_waking && !sync.notified() {",
        [("loom", "sync_word::a_waking_worker_wakes_the_next_when_more_work_waits")],
    ),
    (
        "hand-on-ignores-notified",
        "a waking thread that saw no more work gives its role up though a notification was posted while it was waking",
        "src/scheduler/wake.rs",
        "            let action = if is_waking && !more && !sync.notified() {",
        "            let action = if is_waking && !more {",
        [("loom", "sync_word::a_waking_worker_wakes_the_next_when_more_work_waits")],
    ),
    (
        "fork-stack-promotes-newest",
        "a lazy fork's promotion offers the newest hidden job instead of the oldest",
        "src/structures/fork_stack.rs",
        "        if next == self.len.get() || deque.push(self.jobs[next].get()).is_err() {",
        "        if next == self.len.get() || deque.push(self.jobs[self.len.get() - 1].get()).is_err() {",
        [("loom", "fork_stack::a_promoted_fork_goes_to_the_owner_or_the_thief_once")],
    ),
    (
        "fork-stack-pop-private",
        "the owner takes a promoted lazy fork back as its own, without the deque's pop",
        "src/structures/fork_stack.rs",
        "        if len >= self.promoted.get() {",
        "        if len >= self.promoted.get() || len < CAPACITY {",
        [("loom", "fork_stack::a_promoted_fork_goes_to_the_owner_or_the_thief_once"),
         ("shuttle", "fork_join::trees_of_lazy_and_eager_joins_run_every_leaf_once")],
    ),
    (
        "fork-stack-promote-all-noop",
        "an eager join pushes its job above hidden lazy forks without promoting them first",
        "src/structures/fork_stack.rs",
        "        while self.has_hidden() {",
        "        while self.has_hidden() && self.len.get() > CAPACITY {",
        [("loom", "fork_stack::an_eager_push_promotes_the_hidden_forks_first"),
         ("shuttle", "fork_join::trees_of_lazy_and_eager_joins_run_every_leaf_once")],
    ),
    (
        "join-fast-path",
        "hazard 5: join_workers returns at once when it sees shutdown with no threads left",
        "src/scheduler/lifecycle.rs",
        "        self.last_exit.wait();\n        self.finish_join();",
        "        let w = self.sync_word(crate::sync::atomic::Ordering::Acquire);\n"
        "        if !(w.state() == super::sync_word::State::Shutdown && w.spawned() == 0) {\n"
        "            self.last_exit.wait();\n"
        "        }\n"
        "        self.finish_join();",
        [("loom", "lifecycle::join_returns_only_after_the_last_access")],
    ),
    (
        "join-registry-stale",
        "hazard 6: Release-only exits and a Relaxed load of the registry in join_workers",
        None,
        [("src/scheduler/registry.rs",
          "self.head.swap(ptr::null_mut(), Ordering::AcqRel)",
          "self.head.load(Ordering::Relaxed)"),
         ("src/scheduler/wake.rs",
          "(*sync).fetch_sub(ONE_SPAWNED, Ordering::AcqRel)",
          "(*sync).fetch_sub(ONE_SPAWNED, Ordering::Release)")],
        None,
        [("loom", "lifecycle::join_releases_every_registered_worker")],
    ),
    (
        "spawn-failure-keeps-notified",
        "hazard 4: a failed spawn only gives back its count; state and notified stay set",
        None,
        [("src/scheduler/wake.rs",
          "                    new = new.with_state(State::Pending);\n                    if remaining == 0 {",
          "                    if remaining == 0 {"),
         ("src/scheduler/wake.rs",
          "                        new = new.with_notified(false);",
          "")],
        None,
        [("loom", "lifecycle::a_failed_spawn_does_not_wedge_the_pool")],
    ),
    (
        "warm-ignores-max",
        "hazard 9 for warm: it counts threads without the max_threads bound, so a racing spawn and warm both start one in a one-thread pool",
        "src/scheduler/wake.rs",
        "sync.state() != State::Shutdown && sync.spawned() < self.max_threads();",
        "sync.state() != State::Shutdown;",
        [("loom", "lifecycle::warm_racing_a_spawn_starts_one_thread")],
    ),
    # --- latch and fork-join (loom) ---
    (
        "latch-set-no-wake",
        "lost wake-up: Latch::set never wakes the futex, so a waiter that announced SLEEPING sleeps for ever",
        "src/structures/latch.rs",
        "            SLEEPING => futex::wake_one(state),\n",
        "            SLEEPING => {}\n",
        [("loom", "latch::set_wakes_the_blocked_waiter_with_its_writes")],
    ),
    (
        "latch-set-relaxed",
        "ordering: Latch::set's CAS to SET (or SETTING) is Acquire only, publishing nothing",
        "src/structures/latch.rs",
        "(*state).compare_exchange_weak(old, new, Ordering::AcqRel, Ordering::Relaxed)",
        "(*state).compare_exchange_weak(old, new, Ordering::Acquire, Ordering::Relaxed)",
        [("loom", "latch::set_wakes_the_blocked_waiter_with_its_writes"),
         ("loom", "latch::probe_true_publishes_the_setters_writes")],
    ),
    (
        "latch-probe-relaxed",
        "ordering: Latch::probe loads with Relaxed, so a true probe does not acquire the setter's writes",
        "src/structures/latch.rs",
        "self.state.load(Ordering::Acquire) == SET",
        "self.state.load(Ordering::Relaxed) == SET",
        [("loom", "latch::probe_true_publishes_the_setters_writes")],
    ),
    (
        "completion-set-before-result",
        "a join job's or handle task's runner sets the latch before it stores the outcome, so the waiter can read no outcome (or a racing one)",
        None,
        [("src/fork_join/job.rs",
          "        // SAFETY: the waiter reads `result` only after the latch is set.\n"
          "        unsafe { (*this).result.with_mut(|r| *r = Some(outcome)) };\n",
          ""),
         ("src/fork_join/job.rs",
          "        unsafe { Latch::set(&raw const (*this).latch) };\n",
          "        unsafe { Latch::set(&raw const (*this).latch) };\n"
          "        unsafe { (*this).result.with_mut(|r| *r = Some(outcome)) };\n")],
        None,
        [("loom", "fork_join::join_job_runs_once_stolen_or_inline")],
    ),
    (
        "handle-claim-always-wins",
        "the JoinHandle claim is not exclusive: the waiting worker and the pool both run the closure",
        "src/fork_join/handle.rs",
        "            .compare_exchange(0, 1, Ordering::Relaxed, Ordering::Relaxed)\n            .is_ok()",
        "            .fetch_add(0, Ordering::Relaxed)\n            < 2",
        [("loom", "fork_join::handle_task_runs_once_claimed_or_waited")],
    ),
    # --- future tasks (loom: the state machine with a one-slot queue) ---
    (
        "future-notify-acquire",
        "ordering: a wake's fetch_or(NOTIFIED) is Acquire, not AcqRel, so the poll it causes need not see the waker's writes (a lost wake)",
        "src/fork_join/future.rs",
        "self.state.fetch_or(NOTIFIED, Ordering::AcqRel) == IDLE",
        "self.state.fetch_or(NOTIFIED, Ordering::Acquire) == IDLE",
        [("loom", "future::a_wake_racing_a_poll_is_never_lost")],
    ),
    (
        "future-notify-release",
        "ordering: a wake's fetch_or(NOTIFIED) is Release, not AcqRel, so a wake that schedules the task writes its link without acquiring the last poll",
        "src/fork_join/future.rs",
        "self.state.fetch_or(NOTIFIED, Ordering::AcqRel) == IDLE",
        "self.state.fetch_or(NOTIFIED, Ordering::Release) == IDLE",
        [("loom", "future::a_wake_racing_a_poll_is_never_lost")],
    ),
    (
        "future-run-swap-relaxed",
        "ordering: the poll starts with a Relaxed swap to RUNNING, so it need not see the writes of the wakes that asked for it",
        "src/fork_join/future.rs",
        "let was = me.state.swap(RUNNING, Ordering::Acquire);",
        "let was = me.state.swap(RUNNING, Ordering::Relaxed);",
        [("loom", "future::a_wake_racing_a_poll_is_never_lost")],
    ),
    (
        "future-notified-cas-failure-relaxed",
        "ordering: the end of a poll that finds NOTIFIED reads it Relaxed, so the poll again need not see the writes of the wakes that came during the poll",
        "src/fork_join/future.rs",
        ".compare_exchange(RUNNING, IDLE, Ordering::Release, Ordering::Acquire)",
        ".compare_exchange(RUNNING, IDLE, Ordering::Release, Ordering::Relaxed)",
        [("loom", "future::a_wake_racing_a_poll_is_never_lost")],
    ),
    (
        "future-idle-cas-relaxed",
        "ordering: a poll ends with a Relaxed CAS to IDLE, so the next poll, on another thread, need not see this one's writes",
        "src/fork_join/future.rs",
        ".compare_exchange(RUNNING, IDLE, Ordering::Release, Ordering::Acquire)",
        ".compare_exchange(RUNNING, IDLE, Ordering::Relaxed, Ordering::Acquire)",
        [("loom", "future::a_refused_wake_polls_on_the_waking_thread")],
    ),
    (
        "future-notified-repoll-removed",
        "lost wake: a poll ends in IDLE whatever came during it; a wake during the poll is dropped instead of polling again",
        "src/fork_join/future.rs",
        "            match me\n"
        "                .state\n"
        "                .compare_exchange(RUNNING, IDLE, Ordering::Release, Ordering::Acquire)\n"
        "            {\n",
        "            match Ok::<usize, usize>(me.state.swap(IDLE, Ordering::Release)) {\n",
        [("loom", "future::a_wake_racing_a_poll_is_never_lost")],
    ),
    (
        "joinwaker-register-relaxed",
        "ordering: the handle sets REGISTERED with Acquire, not AcqRel, so the completer may read the waker slot before the handle's write of it",
        "src/fork_join/future.rs",
        "self.state.fetch_or(REGISTERED, Ordering::AcqRel) & DONE != 0",
        "self.state.fetch_or(REGISTERED, Ordering::Acquire) & DONE != 0",
        [("loom", "future::the_handles_waker_replaced_between_polls")],
    ),
    (
        "joinwaker-complete-release",
        "ordering: the completer sets DONE with Release, not AcqRel, so it may read the waker slot before the handle's write of it",
        "src/fork_join/future.rs",
        "if self.state.fetch_or(DONE, Ordering::AcqRel) & REGISTERED == 0 {",
        "if self.state.fetch_or(DONE, Ordering::Release) & REGISTERED == 0 {",
        [("loom", "future::the_handles_waker_replaced_between_polls")],
    ),
    (
        "joinwaker-load-relaxed",
        "ordering: the handle's first look at DONE is Relaxed, so it may take the output before the latch's set is visible",
        "src/fork_join/future.rs",
        "let state = self.state.load(Ordering::Acquire);\n        if state & DONE != 0 {",
        "let state = self.state.load(Ordering::Relaxed);\n        if state & DONE != 0 {",
        [("loom", "future::the_handles_waker_replaced_between_polls")],
    ),
    (
        "joinwaker-leave-relaxed",
        "ordering: a handle that leaves while the completer wakes sets LEFT with Relaxed, so the completer may empty the slot while the handle's read of it races",
        "src/fork_join/future.rs",
        ".compare_exchange(state, new, Ordering::Release, Ordering::Acquire)",
        ".compare_exchange(state, new, Ordering::Relaxed, Ordering::Acquire)",
        [("loom", "future::the_handles_waker_replaced_between_polls")],
    ),
    (
        "block-on-wake-acquire",
        "ordering: block_on's waker swaps NOTIFIED in with Acquire, not AcqRel, so the next poll need not see the waker's writes (a lost wake)",
        "src/fork_join/future.rs",
        "if self.state.swap(SIGNAL_NOTIFIED, Ordering::AcqRel) == SIGNAL_WAITING {",
        "if self.state.swap(SIGNAL_NOTIFIED, Ordering::Acquire) == SIGNAL_WAITING {",
        [("loom", "future::block_on_is_woken_during_the_poll_or_asleep")],
    ),
    (
        "block-on-next-poll-relaxed",
        "ordering: block_on swaps IDLE back in with Relaxed before the next poll, so that poll need not see the wakes' writes (a lost wake)",
        "src/fork_join/future.rs",
        "self.state.swap(SIGNAL_IDLE, Ordering::Acquire);",
        "self.state.swap(SIGNAL_IDLE, Ordering::Relaxed);",
        [("loom", "future::block_on_is_woken_during_the_poll_or_asleep")],
    ),
    (
        "handle-release-no-acquire",
        "ordering: a handle allocation's count is given back with Release, not AcqRel, so the side that frees it need not see the other side's writes (the output's)",
        "src/fork_join/handle.rs",
        "refs.fetch_sub(1, Ordering::AcqRel) == 1",
        "refs.fetch_sub(1, Ordering::Release) == 1",
        [("loom", "future::the_handle_dropped_while_the_task_runs")],
    ),
    # --- future tasks on whole pools (shuttle) ---
    (
        "future-pool-hold-removed",
        "use after free: a future task does not keep its pool allocated, so a wake after the pool's drop schedules into freed memory",
        "src/fork_join/future.rs",
        "        pool.keep();\n        Self(NonNull::from(pool))\n",
        "        Self(NonNull::from(pool))\n",
        [("shuttle", "future::a_wake_after_the_pool_is_dropped")],
    ),
    (
        "future-refused-wake-dropped",
        "lost task: a wake that the shut-down pool refuses is dropped instead of polled on the waking thread, so the handle waits for ever",
        "src/fork_join/future.rs",
        "            if !me.home.schedule(this.cast()) {\n"
        "                // Refused: the pool shut down. Poll it here, now.\n"
        "                // SAFETY: we hold the token and its count.\n"
        "                unsafe { Self::run(this.cast()) };\n"
        "            }\n",
        "            let _ = me.home.schedule(this.cast());\n",
        [("shuttle", "future::shutdown_while_futures_are_pending")],
    ),
    # --- bell and latch (loom) ---
    (
        "bell-prepare-fence-removed",
        "store buffering: a bell sleeper reads the epoch and checks its condition with no SeqCst fence after counting itself",
        "src/structures/bell.rs",
        "        // SeqCst: pairs with the fence in `ring`; the caller's check of its\n"
        "        // condition comes after it.\n"
        "        fence(Ordering::SeqCst);\n",
        "",
        [("loom", "bell::a_ring_after_the_condition_wakes_the_sleeper")],
    ),
    (
        "bell-ring-fence-removed",
        "store buffering: a ringer reads the sleeper count with no SeqCst fence after making the condition true",
        "src/structures/bell.rs",
        "        // SeqCst: pairs with the fence in `prepare`: the caller's write of\n"
        "        // the condition comes before it.\n"
        "        fence(Ordering::SeqCst);\n",
        "",
        [("loom", "bell::a_ring_after_the_condition_wakes_the_sleeper")],
    ),
    (
        "bell-ring-wakes-one",
        "lost wake-up: a ring wakes one sleeper, as an Event token would, though the bell keeps no token",
        "src/structures/bell.rs",
        "            futex::wake_all(&raw const bell.epoch);",
        "            futex::wake_one(&raw const bell.epoch);",
        [("loom", "bell::a_ring_wakes_every_sleeper")],
    ),
    (
        "latch-ringing-no-ring",
        "lost wake-up: Latch::set finds its waiter asleep on a bell and does not ring it",
        "src/structures/latch.rs",
        "                unsafe { Bell::ring(bell) };\n",
        "                let _ = bell;\n",
        [("loom", "latch::set_rings_the_bell_its_waiter_sleeps_on")],
    ),
    # --- scope (loom) ---
    (
        "scope-complete-no-acquire",
        "ordering: a task's decrement of `pending` is Release only, so the last task does not acquire the others' writes before it sets the latch",
        "src/fork_join/scope.rs",
        "        if unsafe { (*this).pending.fetch_sub(1, Ordering::AcqRel) } == 1 {",
        "        if unsafe { (*this).pending.fetch_sub(1, Ordering::Release) } == 1 {",
        [("loom-long", "scope::the_last_task_carries_the_other_tasks_writes")],
    ),
    (
        "scope-complete-no-release",
        "ordering: a task's decrement of `pending` is Acquire only, so it publishes nothing to the decrement that comes last",
        "src/fork_join/scope.rs",
        "        if unsafe { (*this).pending.fetch_sub(1, Ordering::AcqRel) } == 1 {",
        "        if unsafe { (*this).pending.fetch_sub(1, Ordering::Acquire) } == 1 {",
        [("loom", "scope::a_scope_waits_for_every_task_and_sees_its_writes"),
         ("loom", "scope::a_task_panic_reaches_the_scope_caller")],
    ),
    (
        "scope-finish-body-no-acquire",
        "ordering: the body's decrement of `pending` is Release only, so a body whose decrement is the last does not see the tasks' writes",
        "src/fork_join/scope.rs",
        "        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {",
        "        if self.pending.fetch_sub(1, Ordering::Release) == 1 {",
        [("loom", "scope::a_scope_waits_for_every_task_and_sees_its_writes"),
         ("loom", "scope::a_task_panic_reaches_the_scope_caller")],
    ),
    # --- whole pool (shuttle) ---
    (
        "spawn-failed-repair-only-spawned",
        "hazard 4: a failed spawn gives back its count only; state and notified stay as the spawn left them",
        "src/scheduler/wake.rs",
        "                State::Signaled | State::Pending => {\n"
        "                    new = new.with_state(State::Pending);\n"
        "                    if remaining == 0 {\n"
        "                        // No thread is left to consume `notified`: clear it,\n"
        "                        // or every later notify would take the fast path and\n"
        "                        // no thread would ever be spawned again.\n"
        "                        new = new.with_notified(false);\n"
        "                    }\n"
        "                }\n",
        "                State::Signaled | State::Pending => {}\n",
        [("shuttle", "pool::first_spawn_failure_is_repaired")],
    ),
    (
        "spawn-failed-notified-stays",
        "hazard 4: a failed spawn resets the state to Pending but leaves `notified` set",
        "src/scheduler/wake.rs",
        "                        new = new.with_notified(false);\n",
        "",
        [("shuttle", "pool::first_spawn_failure_is_repaired")],
    ),
    (
        "raw-batch-follow-links",
        "hazard 7: batches are not terminated and are walked to a null link, not counted by length",
        None,
        [("src/raw.rs",
          "        unsafe { Task::set_next(task, ptr::null_mut()) };\n        if self.is_empty() {",
          "        if self.is_empty() {"),
         ("src/raw.rs",
          "        let task = self.head;\n        self.len -= 1;\n        if self.len == 0 {",
          "        let task = self.head;\n"
          "        // SAFETY: (mutant) the holder owns the links.\n"
          "        let next = unsafe { Task::next(task) };\n"
          "        self.len = self.len.max(2) - 1;\n"
          "        if next.is_null() {")],
        None,
        [("shuttle", "pool::raw_batches_of_mixed_sizes")],
    ),
    (
        "schedule-any-worker-ring",
        "hazard 8: any pool's worker pushes into its own ring, whichever pool it schedules into",
        "src/scheduler/mod.rs",
        "if let Some(worker) = current_of(self) {",
        "if let Some(worker) = current_worker() {",
        [("shuttle", "pool::task_of_one_pool_spawns_into_another")],
    ),
    (
        "shutdown-leaves-queue-open",
        "shutdown does not close the global queue: outside spawns after it are accepted (and may be lost)",
        "src/scheduler/lifecycle.rs",
        "        self.global.close();\n",
        "",
        [("shuttle", "pool::shutdown_races_busy_producers")],
    ),
    (
        "shutdown-skips-drain",
        "a worker leaves at shutdown without draining: what is still queued falls to the joiner",
        "src/scheduler/worker.rs",
        "                Err(_) => {\n                    self.drain();\n",
        "                Err(_) => {\n",
        [("shuttle", "pool::outside_producers_and_nested_spawns")],
    ),
    (
        "join-fast-path-shuttle",
        "hazard 5: join_workers returns at once when it sees shutdown with no threads left",
        "src/scheduler/lifecycle.rs",
        "        self.last_exit.wait();\n        self.finish_join();",
        "        let w = self.sync_word(crate::sync::atomic::Ordering::Acquire);\n"
        "        if !(w.state() == super::sync_word::State::Shutdown && w.spawned() == 0) {\n"
        "            self.last_exit.wait();\n"
        "        }\n"
        "        self.finish_join();",
        [("shuttle", "pool::join_returns_after_the_last_worker_left")],
    ),
    # --- queue and buffer ---
    (
        "queue-push-relaxed",
        "ordering: push links its list with a Relaxed CAS instead of Release",
        "src/structures/queue.rs",
        ".compare_exchange_weak(stack, new, Ordering::Release, Ordering::Relaxed)",
        ".compare_exchange_weak(stack, new, Ordering::Relaxed, Ordering::Relaxed)",
        [("loom", "queue::producers_and_a_consumer_deliver_each_task_once")],
    ),
    (
        "queue-lock-relaxed",
        "ordering: the consumer lock is taken with a Relaxed CAS instead of Acquire",
        "src/structures/queue.rs",
        ".compare_exchange_weak(stack, new, Ordering::Acquire, Ordering::Relaxed)",
        ".compare_exchange_weak(stack, new, Ordering::Relaxed, Ordering::Relaxed)",
        [("loom", "queue::producers_and_a_consumer_deliver_each_task_once"),
         ("loom", "queue::consumers_contend_and_hand_over_the_cache")],
    ),
    (
        "queue-refill-relaxed",
        "ordering: Consumer::pop refills from the stack with a Relaxed fetch_and instead of Acquire",
        "src/structures/queue.rs",
        "self.queue.stack.fetch_and(!PTR_MASK, Ordering::Acquire)",
        "self.queue.stack.fetch_and(!PTR_MASK, Ordering::Relaxed)",
        [("loom", "queue::producers_and_a_consumer_deliver_each_task_once")],
    ),
    (
        "queue-release-relaxed",
        "ordering: dropping a Consumer releases the lock (and the cache) with Relaxed instead of Release",
        "src/structures/queue.rs",
        "self.queue.stack.fetch_and(!remove, Ordering::Release)",
        "self.queue.stack.fetch_and(!remove, Ordering::Relaxed)",
        [("loom", "queue::consumers_contend_and_hand_over_the_cache")],
    ),
    (
        "queue-close-checked-once",
        "close: push checks CLOSED only on its first read, so a push racing close lands after it",
        "src/structures/queue.rs",
        "        let mut stack = self.stack.load(Ordering::Relaxed);\n"
        "        loop {\n"
        "            if stack & CLOSED != 0 {\n"
        "                return Err(list);\n"
        "            }\n",
        "        let mut stack = self.stack.load(Ordering::Relaxed);\n"
        "        if stack & CLOSED != 0 {\n"
        "            return Err(list);\n"
        "        }\n"
        "        loop {\n",
        [("loom", "queue::close_racing_a_push_refuses_or_keeps_it")],
    ),
    (
        "buffer-push-publish-relaxed",
        "ordering: push publishes its slots with a Relaxed store of `tail` instead of Release",
        "src/structures/buffer.rs",
        "                ring.tail.store(tail, Ordering::Release);",
        "                ring.tail.store(tail, Ordering::Relaxed);",
        [("loom", "buffer::owner_and_a_thief_take_each_task_once")],
    ),
    (
        "buffer-steal-tail-relaxed",
        "ordering: a thief reads the victim's `tail` with Relaxed instead of Acquire",
        "src/structures/buffer.rs",
        "let victim_tail = victim.tail.load(Ordering::Acquire);",
        "let victim_tail = victim.tail.load(Ordering::Relaxed);",
        [("loom", "buffer::owner_and_a_thief_take_each_task_once")],
    ),
    (
        "buffer-steal-publish-relaxed",
        "ordering: a thief publishes what it moved into its own ring with a Relaxed store of `tail`",
        "src/structures/buffer.rs",
        "                        ring.tail\n"
        "                            .store(tail.wrapping_add(pushed), Ordering::Release);",
        "                        ring.tail\n"
        "                            .store(tail.wrapping_add(pushed), Ordering::Relaxed);",
        [("loom", "buffer::chained_steal_hands_tasks_on_once")],
    ),
    (
        "buffer-consume-publish-relaxed",
        "ordering: consume publishes what it moved from the queue with a Relaxed store of `tail`",
        "src/structures/buffer.rs",
        "            ring.tail\n"
        "                .store(tail.wrapping_add(pushed), Ordering::Release);",
        "            ring.tail\n"
        "                .store(tail.wrapping_add(pushed), Ordering::Relaxed);",
        [("loom", "buffer::consume_into_the_ring_racing_a_thief")],
    ),
    (
        "buffer-pop-no-cas",
        "exactly once: the owner's pop claims the head slot with a plain store instead of a CAS",
        "src/structures/buffer.rs",
        "            match ring.head.compare_exchange_weak(\n"
        "                head,\n"
        "                head.wrapping_add(1),\n"
        "                Ordering::Acquire,\n"
        "                Ordering::Acquire,\n"
        "            ) {",
        "            match {\n"
        "                ring.head.store(head.wrapping_add(1), Ordering::Release);\n"
        "                Ok::<usize, usize>(head)\n"
        "            } {",
        [("loom", "buffer::owner_and_a_thief_take_each_task_once")],
    ),
    (
        "buffer-steal-no-cas",
        "exactly once: a thief commits its steal with a plain store of the victim's `head`",
        "src/structures/buffer.rs",
        "            match victim.head.compare_exchange(\n"
        "                victim_head,\n"
        "                victim_head.wrapping_add(take),\n"
        "                Ordering::AcqRel,\n"
        "                Ordering::Relaxed,\n"
        "            ) {",
        "            match {\n"
        "                victim.head.store(victim_head.wrapping_add(take), Ordering::Release);\n"
        "                Ok::<usize, usize>(victim_head)\n"
        "            } {",
        [("loom", "buffer::two_thieves_and_the_owner_take_each_task_once")],
    ),
    (
        "buffer-migrate-no-cas",
        "exactly once: overflow migration claims half the ring with a plain store of `head`",
        "src/structures/buffer.rs",
        "            match ring.head.compare_exchange(\n"
        "                head,\n"
        "                head.wrapping_add(migrate),\n"
        "                Ordering::Acquire,\n"
        "                Ordering::Acquire,\n"
        "            ) {",
        "            match {\n"
        "                ring.head.store(head.wrapping_add(migrate), Ordering::Release);\n"
        "                Ok::<usize, usize>(head)\n"
        "            } {",
        [("loom", "buffer::overflow_migration_racing_a_steal_loses_nothing")],
    ),
    (
        "buffer-steal-size-unwrapped",
        "hazard 12: a thief computes the victim's size with a plain (overflowing) subtraction",
        "src/structures/buffer.rs",
        "let size = victim_tail.wrapping_sub(victim_head);",
        "let size = victim_tail - victim_head;",
        [("loom", "buffer::indices_wrap_around_during_a_steal")],
    ),
    # --- join deque (loom) ---
    (
        "join-deque-pop-fence-removed",
        "store buffering: pop lowers `bottom` and reads `top` with no SeqCst fence between them",
        "src/structures/join_deque.rs",
        "        fence(Ordering::SeqCst);\n"
        "        // Relaxed: ordered by the fence above.\n",
        "        // Relaxed: ordered by the fence above.\n",
        [("loom", "join_deque::owner_and_a_thief_take_each_job_once"),
         ("loom", "join_deque::a_push_after_a_pop_refills_the_index_once")],
    ),
    (
        "join-deque-steal-fence-removed",
        "store buffering: steal reads `top` and then `bottom` with no SeqCst fence between them",
        "src/structures/join_deque.rs",
        "            fence(Ordering::SeqCst);\n"
        "            // Acquire: pairs with the owner's Release stores of `bottom`",
        "            // Acquire: pairs with the owner's Release stores of `bottom`",
        [("loom", "join_deque::owner_and_a_thief_take_each_job_once"),
         ("loom", "join_deque::a_push_after_a_pop_refills_the_index_once")],
    ),
    (
        "join-deque-push-relaxed",
        "ordering: push publishes its slot with a Relaxed store of `bottom` instead of Release",
        "src/structures/join_deque.rs",
        ".store(bottom.wrapping_add(1), Ordering::Release);",
        ".store(bottom.wrapping_add(1), Ordering::Relaxed);",
        [("loom", "join_deque::owner_and_a_thief_take_each_job_once")],
    ),
    (
        "join-deque-pop-lower-relaxed",
        "ordering: pop lowers `bottom` with a Relaxed store, so a thief that reads it sees no push",
        "src/structures/join_deque.rs",
        "        deque.bottom.store(bottom, Ordering::Release);\n",
        "        deque.bottom.store(bottom, Ordering::Relaxed);\n",
        [("loom", "join_deque::two_thieves_and_the_owner_take_each_job_once")],
    ),
    (
        "join-deque-steal-bottom-relaxed",
        "ordering: a thief reads `bottom` with Relaxed instead of Acquire",
        "src/structures/join_deque.rs",
        "let bottom = self.bottom.load(Ordering::Acquire);",
        "let bottom = self.bottom.load(Ordering::Relaxed);",
        [("loom", "join_deque::owner_and_a_thief_take_each_job_once")],
    ),
    (
        "join-deque-steal-no-cas",
        "exactly once: a thief claims the job at `top` with an unchecked fetch_add instead of a CAS",
        "src/structures/join_deque.rs",
        "            match self.top.compare_exchange(\n"
        "                top,\n"
        "                top.wrapping_add(1),\n"
        "                Ordering::Release,\n"
        "                Ordering::Relaxed,\n"
        "            ) {",
        "            match {\n"
        "                self.top.fetch_add(1, Ordering::Release);\n"
        "                Ok::<usize, usize>(top)\n"
        "            } {",
        [("loom", "join_deque::two_thieves_and_the_owner_take_each_job_once"),
         ("loom", "join_deque::the_last_job_goes_to_the_owner_or_the_thief")],
    ),
    (
        "join-deque-steal-keeps-stale-read",
        "exactly once: a thief whose CAS fails returns the job it read instead of looking again",
        "src/structures/join_deque.rs",
        "                Err(_) => spin_loop(),",
        "                Err(_) => return Some(task),",
        [("loom", "join_deque::a_reused_slot_is_taken_once")],
    ),
    (
        "join-deque-pop-last-no-cas",
        "exactly once: pop takes the last job like any other, without racing the thieves with a CAS",
        "src/structures/join_deque.rs",
        "        if bottom != top {\n",
        "        if bottom != top || bottom == top {\n",
        [("loom", "join_deque::the_last_job_goes_to_the_owner_or_the_thief")],
    ),
    (
        "join-deque-push-full-off-by-one",
        "capacity: push refuses only above CAPACITY jobs, so a full deque overwrites its oldest slot",
        "src/structures/join_deque.rs",
        "if bottom.wrapping_sub(top) >= CAPACITY {",
        "if bottom.wrapping_sub(top) > CAPACITY {",
        [("loom", "join_deque::a_reused_slot_is_taken_once")],
    ),
    (
        "join-deque-index-unwrapped",
        "wrap-around: index order is a plain `<` instead of the wrapping difference",
        "src/structures/join_deque.rs",
        "(b.wrapping_sub(a) as isize) > 0",
        "a < b",
        [("loom", "join_deque::indices_wrap_around")],
    ),
    # --- fork-join (shuttle) ---
    (
        "fj-wait-for-never-helps",
        "a worker waiting for a join, a scope or a handle never runs other tasks of its pool",
        "src/scheduler/worker.rs",
        "            if let Some(stole) = w.find_task() {",
        "            if let Some(stole) = None::<Stole> {",
        [("shuttle", "fork_join::one_thread_pool_nests_scopes_joins_and_handles"),
         ("shuttle", "fork_join::queued_scope_tasks_are_run_by_their_waiting_worker")],
    ),
    (
        "fj-a-panic-drops-b",
        "determinism: when a panics and b was not stolen, b is dropped unrun, so whether b runs depends on stealing",
        "src/fork_join/join.rs",
        "            let _ = panic::catch_unwind(AssertUnwindSafe(b));\n",
        "            drop(b);\n",
        [("shuttle", "fork_join::panics_are_re_raised_after_every_task_finished")],
    ),
    (
        "fj-latch-set-no-wake",
        "lost wake-up: Latch::set never wakes a waiter that announced it sleeps",
        "src/structures/latch.rs",
        "            SLEEPING => futex::wake_one(state),\n",
        "            SLEEPING => {}\n",
        [("shuttle", "fork_join::join_trees_run_every_leaf_once"),
         ("shuttle", "fork_join::nested_scopes_wait_for_every_task"),
         ("shuttle", "fork_join::one_thread_pool_nests_scopes_joins_and_handles")],
    ),
    (
        "fj-handle-claim-not-a-cas",
        "exactly once: a handle's claim is a plain store, so both the task callback and an inline joiner run the closure",
        "src/fork_join/handle.rs",
        "        self.claimed\n"
        "            .compare_exchange(0, 1, Ordering::Relaxed, Ordering::Relaxed)\n"
        "            .is_ok()\n",
        "        self.claimed.store(1, Ordering::Relaxed);\n"
        "        true\n",
        [("shuttle", "fork_join::join_handles_run_once_whoever_joins_or_drops_them")],
    ),
    (
        "fj-scope-returns-without-waiting",
        "a scope returns when its body does, without waiting for the tasks still queued or running",
        "src/fork_join/scope.rs",
        "        scheduler::wait_for(Some(pool), &self.latch, &|| {\n"
        "            self.queued.load(Ordering::Relaxed) == 0\n"
        "        });\n",
        "",
        [("shuttle", "fork_join::nested_scopes_wait_for_every_task")],
    ),
    (
        "fj-join-runs-stolen-b-inline",
        "exactly once: join runs b on the caller even when a thief took its job (the deque pop came back empty)",
        "src/fork_join/join.rs",
        "    scheduler::wait_for(Some(worker.pool()), &job.done.latch, &|| true);\n"
        "    let rb = job.done.take();\n",
        "    // SAFETY: none: the thief may hold the job (the mutation).\n"
        "    let b = unsafe { job.take_f() };\n"
        "    let rb = Ok(b());\n",
        [("shuttle", "fork_join::join_trees_run_every_leaf_once"),
         ("shuttle", "fork_join::panics_are_re_raised_after_every_task_finished")],
    ),
    # --- quiet (wait_idle) ---
    (
        "quiet-check-single-collect",
        "wait_idle: the check trusts one collect of the presences, taken before the queue read, so a thread that enters and takes the task in between runs it unseen",
        "src/structures/quiet.rs",
        "        if moved || self.guests.load(Ordering::Acquire) != 0 {",
        "        if self.guests.load(Ordering::Acquire) != 0 {",
        [("loom", "quiet::the_waiter_is_released_only_when_the_task_has_run")],
    ),
    (
        "quiet-leave-relaxed",
        "ordering: a leave is a Relaxed RMW, so the waiter's release does not carry the finished tasks' writes",
        "src/structures/quiet.rs",
        "presence.word.fetch_add(STEP, Ordering::Release);",
        "presence.word.fetch_add(STEP, Ordering::Relaxed);",
        [("loom", "quiet::the_waiter_is_released_only_when_the_task_has_run")],
    ),
    (
        "quiet-collect-relaxed",
        "ordering: the collects read the presences Relaxed, so a waiter is released without the finished tasks' writes",
        "src/structures/quiet.rs",
        "        self.word.load(Ordering::Acquire) & !WAITED\n",
        "        self.word.load(Ordering::Relaxed) & !WAITED\n",
        [("loom", "quiet::the_waiter_is_released_only_when_the_task_has_run")],
    ),
    (
        "quiet-no-self-check",
        "lost wake-up: a waiter that registers after the last leave never checks, and nobody else will",
        "src/structures/quiet.rs",
        "        }\n        self.check(scan, global, None);\n    }\n\n    /// Sets every",
        "        }\n    }\n\n    /// Sets every",
        [("loom", "quiet::the_waiter_is_released_only_when_the_task_has_run")],
    ),
    (
        "quiet-register-no-mark",
        "lost wake-up: a waiter does not mark the registered workers, so the last one to leave does not check",
        "src/structures/quiet.rs",
        "            scan(&mut |presence| presence.mark());\n",
        "",
        [("loom", "quiet::the_waiter_is_released_only_when_the_task_has_run")],
    ),
    (
        "quiet-leave-ignores-mark",
        "lost wake-up: a leaving worker does not check although a waiter marked it",
        "src/structures/quiet.rs",
        "        if old & WAITED != 0 {\n            self.check(scan, global, Some(presence));",
        "        if false {\n            self.check(scan, global, Some(presence));",
        [("loom", "quiet::the_waiter_is_released_only_when_the_task_has_run")],
    ),
    (
        "quiet-check-sets-one",
        "lost wake-up: a quiet check releases only the newest waiter",
        "src/structures/quiet.rs",
        "        for latch in waiters.0.drain(..) {",
        "        for latch in waiters.0.pop() {",
        [("loom", "quiet::every_registered_waiter_is_released")],
    ),
    (
        "quiet-probe-relaxed",
        "ordering: the queue probe is Relaxed, so a check that sees a task taken may still read its taker's generation from before it entered",
        "src/structures/queue.rs",
        "Self::decode(self.stack.load(Ordering::Acquire))",
        "Self::decode(self.stack.load(Ordering::Relaxed))",
        [("loom", "quiet::the_waiter_is_released_only_when_the_task_has_run")],
    ),
    (
        "quiet-worker-not-counted",
        "wait_idle: a worker is present only for an instant after it wakes, so the tasks it runs are unseen and the waiter is released early",
        None,
        [("src/scheduler/worker.rs",
          "            pool.quiet.enter(&self.worker.presence);\n            match woken {",
          "            pool.quiet.enter(&self.worker.presence);\n            pool.quiet_leave(&self.worker.presence);\n            match woken {"),
         ("src/scheduler/worker.rs",
          "                    self.drain();\n                    pool.quiet_leave(&self.worker.presence);\n",
          "                    self.drain();\n"),
         ("src/scheduler/worker.rs",
          "            pool.quiet_leave(&self.worker.presence);\n        }\n    }",
          "        }\n    }")],
        None,
        [("shuttle", "quiet::wait_idle_racing_a_submitter")],
    ),
    (
        "quiet-guest-not-active",
        "wait_idle: a thread that runs a pool's queued task itself (no worker could start) is not counted, so nobody checks after it and the waiter hangs",
        None,
        [("src/scheduler/worker.rs",
          "    pool.quiet.guest_enter();\n    let ran",
          "    let ran"),
         ("src/scheduler/worker.rs",
          "    pool.quiet_guest_leave();\n    ran.is_some()",
          "    ran.is_some()")],
        None,
        [("shuttle", "quiet::wait_idle_on_a_pool_that_cannot_start_a_thread")],
    ),
    (
        "quiet-join-no-mark",
        "lost wake-up: a worker that registers after a waiter does not mark itself, so it leaves without checking and the waiter hangs",
        "src/structures/quiet.rs",
        "        if waiting {\n            presence.mark();",
        "        if false {\n            presence.mark();",
        [("loom", "quiet::a_worker_that_registers_during_a_wait_is_marked"),
         ("shuttle", "quiet::wait_idle_before_the_first_thread_starts")],
    ),
    (
        "quiet-guest-leave-relaxed",
        "ordering: a guest gives its count back Relaxed, so a check that reads 0 releases the waiter without the guest's task's writes",
        "src/structures/quiet.rs",
        "        self.guests.fetch_sub(1, Ordering::Release);",
        "        self.guests.fetch_sub(1, Ordering::Relaxed);",
        [("loom", "quiet::a_guest_holds_the_waiter_until_its_task_has_run")],
    ),
    (
        "quiet-join-relaxed",
        "ordering: a worker's join RMW is Relaxed, so a waiter whose swap reads it scans a registry without the worker, which then leaves unmarked",
        "src/structures/quiet.rs",
        "        let waiting = self.waiting.fetch_add(0, Ordering::Release) != 0;",
        "        let waiting = self.waiting.fetch_add(0, Ordering::Relaxed) != 0;",
        [("loom", "quiet::a_worker_that_registers_during_a_wait_is_marked")],
    ),
    # --- broadcast (shuttle) ---
    (
        "bc-no-token-pass",
        "lost wake-up: a worker woken from the idle event during a broadcast does not pass a token on, so another idle worker sleeps through it",
        "src/scheduler/wake.rs",
        "                    // SAFETY: the pool is alive: the caller is its worker.\n                    unsafe { Event::notify(&self.idle_event) };\n",
        "",
        [("shuttle", "broadcast::broadcasts_reach_sleeping_workers")],
    ),
    (
        "bc-idle-ignores-broadcast",
        "lost wake-up: an idle worker does not treat a broadcast piece it owes as a reason to wake",
        None,
        [("src/scheduler/wake.rs",
          "} else if until.is_some_and(Latch::is_setting) || self.has_broadcast(seen) {",
          "} else if until.is_some_and(Latch::is_setting) {"),
         ("src/scheduler/wake.rs",
          "                    || self.has_broadcast(seen)\n",
          "")],
        None,
        [("shuttle", "broadcast::broadcasts_reach_sleeping_workers")],
    ),
    (
        "bc-seen-not-advanced",
        "double run: a worker that takes a broadcast piece does not record it, and runs it again",
        "src/scheduler/broadcast.rs",
        "                    worker.set_broadcast_seen(epoch);\n                    job\n",
        "                    job\n",
        [("shuttle", "broadcast::broadcasts_reach_sleeping_workers")],
    ),
    (
        "bc-publish-across-shutdown",
        "lost piece: shutdown does not hold the broadcast lock, so a broadcaster that read the word before the shutdown publishes after the workers drained, and waits for ever",
        "src/scheduler/lifecycle.rs",
        "            let _no_broadcast = self.exclude_broadcasts();\n",
        "",
        [("shuttle", "broadcast::broadcast_racing_shutdown")],
    ),
    # --- waiting that never hangs (shuttle, behaviours 1-6 of docs/fork_join.md) ---
    (
        "outside-waiter-never-helps",
        "behaviour 1: a thread waiting for work of a pool with no worker neither retries the spawn nor runs the queued tasks: it blocks on the latch",
        "src/scheduler/worker.rs",
        "        if let Some(job) = job.filter(|job| !own && !job.registry.has_worker()) {",
        "        if let Some(job) = job.filter(|_| false) {",
        [("shuttle", "liveness::outside_waiter_survives_failed_spawns")],
    ),
    (
        "cross-pool-waiter-blocks",
        "behaviour 2: a worker waiting on another pool's work runs no task of its own pool and blocks on the latch",
        None,
        [("src/scheduler/worker.rs",
          "            if let Some(stole) = w.find_task() {",
          "            if let Some(stole) = w.find_task().filter(|_| own) {"),
         ("src/scheduler/worker.rs",
          "        let Some(w) = here.filter(|w| w.registered) else {",
          "        let Some(w) = here.filter(|w| w.registered && own) else {")],
        None,
        [("shuttle", "liveness::workers_waiting_on_another_pool_run_their_own_tasks")],
    ),
    (
        "waiter-sleeps-on-the-latch",
        "behaviour 3: a worker waiting inside a task sleeps on the latch's futex, not idle in its pool, so no notification reaches it",
        "src/scheduler/worker.rs",
        "        let Some(w) = here.filter(|w| w.registered) else {",
        "        let Some(w) = here.filter(|w| w.registered && false) else {",
        [("shuttle", "liveness::a_worker_blocked_in_a_wait_is_woken_for_new_work")],
    ),
    (
        "abandon-only-shuts-down",
        "behaviour 4: a pool dropped from its own task only shuts down; its workers wait for a joiner that never comes",
        "src/thread_pool.rs",
        "            pool.abandon();\n",
        "            pool.shutdown();\n",
        [("shuttle", "liveness::dropping_a_pool_from_its_own_task_lets_every_worker_exit")],
    ),
    (
        "hooks-may-join-workers",
        "behaviour 5: join_workers from a hook (on_thread_stop) waits for its own thread instead of panicking",
        "src/thread_pool.rs",
        "        if let Some(hook) = core.current_hook() {",
        "        if let Some(hook) = core.current_hook().filter(|_| false) {",
        [("shuttle", "liveness::join_workers_from_a_thread_hook_panics_naming_the_hook")],
    ),
    (
        "refused-join-forks-on-the-caller",
        "behaviour 6: a join refused by a shut-down pool forks on the caller, a worker of another pool, instead of running a then b",
        "src/fork_join/join.rs",
        "        Some(worker) => join_on_worker(worker, a, b),\n        None => finish_inline(panic::catch_unwind(AssertUnwindSafe(a)), b),\n    })",
        "        Some(worker) => join_on_worker(worker, a, b),\n        None => crate::join(a, b),\n    })",
        [("shuttle", "liveness::join_on_a_shut_down_pool_from_another_pools_worker_runs_inline")],
    ),
    (
        "wait-pops-own-join-deque",
        "J2: a worker's search (inside a wait) pops its own join deque, taking an enclosing join's job, so the inner join later pops the outer one's entry",
        "src/scheduler/worker.rs",
        "        if let Some(task) = self.ring.pop() {\n            return Some(Stole {\n                task,\n                pushed: false,\n            });\n        }\n        if self.pool.has_broadcast(",
        "        if let Some(task) = self.join_deque.pop() {\n            return Some(Stole {\n                task,\n                pushed: false,\n            });\n        }\n        if let Some(task) = self.ring.pop() {\n            return Some(Stole {\n                task,\n                pushed: false,\n            });\n        }\n        if self.pool.has_broadcast(",
        [("shuttle", "liveness::a_wait_inside_nested_joins_keeps_the_join_deque_in_order")],
    ),
    (
        "on-its-way-trusted",
        "F1: a waiter outside the pool trusts a counted, unregistered thread to register and blocks on the latch, though its default spawn may still fail",
        "src/scheduler/worker.rs",
        "                Starting::OnItsWay => {\n                    crate::sync::thread::yield_now();\n                    continue;\n                }",
        "                Starting::OnItsWay => {}",
        [("shuttle", "liveness::outside_waiter_survives_a_default_spawn_failing_meanwhile")],
    ),
    (
        "help-as-guest",
        "F2: a waiter helping a pool with no thread runs its task as a guest worker of that pool, and the thread's workers are looked up innermost only, so the guest hides the thread's own worker (an A.join inside B's job then blocks A's only worker)",
        None,
        [("src/scheduler/worker.rs",
          "        if current_worker().is_some() {\n            run_task(pool, task);",
          "        if false {\n            run_task(pool, task);"),
         ("src/scheduler/worker.rs",
          "        if ptr::eq(w.pool, pool) {\n            return Some(w);\n        }\n",
          "        if ptr::eq(w.pool, pool) {\n            return Some(w);\n        }\n        break;\n"),
         ("src/scheduler/worker.rs",
          "        .or_else(registered_worker)\n        .or_else(current_worker);",
          "        .or_else(current_worker);")],
        None,
        [("shuttle", "liveness::workers_waiting_on_another_pool_run_their_own_tasks")],
    ),
    (
        "wait-after-shutdown-blocks",
        "F3: a worker waiting inside a task stops serving its pool at shutdown and blocks on the latch, stranding work accepted before the close",
        "src/scheduler/worker.rs",
        "                wait_after_shutdown(w, latch);\n",
        "",
        [("shuttle", "liveness::a_worker_waiting_across_its_pools_shutdown_still_runs_its_work")],
    ),
    (
        "batch-unterminated-walk",
        "hazard 7: push_ptr leaves the old link and pop_front follows links to null (both fixes out)",
        "src/raw.rs",
        "        unsafe { Task::set_next(task, ptr::null_mut()) };\n"
        "        if self.is_empty() {\n"
        "            self.head = task;\n"
        "        } else {\n"
        "            // SAFETY: as above, for the current tail.\n"
        "            unsafe { Task::set_next(self.tail, task) };\n"
        "        }\n"
        "        self.tail = task;\n"
        "        self.len += 1;\n"
        "    }\n"
        "\n"
        "    /// Removes and returns the first task.\n"
        "    pub(crate) fn pop_front(&mut self) -> Option<*mut Task> {\n"
        "        if self.is_empty() {\n"
        "            return None;\n"
        "        }\n"
        "        let task = self.head;\n"
        "        self.len -= 1;\n",
        "        if self.is_empty() {\n"
        "            self.head = task;\n"
        "        } else {\n"
        "            // SAFETY: as above, for the current tail.\n"
        "            unsafe { Task::set_next(self.tail, task) };\n"
        "        }\n"
        "        self.tail = task;\n"
        "        self.len += 1;\n"
        "    }\n"
        "\n"
        "    /// Removes and returns the first task.\n"
        "    pub(crate) fn pop_front(&mut self) -> Option<*mut Task> {\n"
        "        if self.is_empty() {\n"
        "            return None;\n"
        "        }\n"
        "        let task = self.head;\n"
        "        // The list goes on as long as the links do.\n"
        "        let more = !unsafe { Task::next(task) }.is_null();\n"
        "        self.len = if more { self.len.max(2) - 1 } else { 0 };\n",
        [("loom", "buffer::a_rescheduled_task_drags_no_stale_link")],
    ),
]


def sources():
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    return [p for p in out if os.path.isfile(os.path.join(ROOT, p))]


def fresh_copy(copy=COPY):
    """A scratch copy of the tracked (and untracked, not ignored) files at
    `copy` (also used by scripts/weaken.py)."""
    if os.path.isdir(copy):
        shutil.rmtree(copy)
    for rel in sources():
        dst = os.path.join(copy, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        # Fresh modification times: copying the originals' times would make a
        # restored file look older than the last mutated build, and cargo
        # would reuse that build.
        shutil.copy(os.path.join(ROOT, rel), dst)


def cargo(tool, args, timeout, copy=COPY, target=TARGET):
    """Runs `tool`'s test binary in the scratch copy `copy` (also used by
    scripts/weaken.py, with its own copy and target directory)."""
    env = dict(os.environ)
    env.pop("LOOM_MAX_PREEMPTIONS", None)
    env.update(TOOLS[tool]["env"])
    # One target directory per RUSTFLAGS (loom, shuttle), so that switching
    # tools never rebuilds the other's artifacts; incremental release
    # builds without debug info, so that a mutation rebuilds only what it
    # changed (seconds, not the ~40 s of a full release build of the crate
    # and its test binary).
    env["CARGO_TARGET_DIR"] = os.path.join(target, TOOLS[tool]["target"])
    env["CARGO_PROFILE_RELEASE_INCREMENTAL"] = "true"
    env["CARGO_PROFILE_RELEASE_DEBUG"] = "0"
    cmd = ["cargo", "test", "--release", "--test", TOOLS[tool]["target"]] + args
    start = time.time()
    try:
        proc = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
        return proc.returncode, time.time() - start, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired:
        return None, time.time() - start, ""


def run_test(tool, test):
    code, _, out = cargo(tool, ["--no-run"], None)
    if code != 0:
        return "BUILD-ERROR", 0.0, out
    code, secs, out = cargo(tool, ["--", "--exact", test], TIMEOUT)
    if code is None:
        return "TIMEOUT", secs, out
    if code == 0 and "1 passed" not in out:
        return "NO-TEST", secs, out
    return ("PASS" if code == 0 else "FAIL"), secs, out


def main(argv):
    if "--list" in argv:
        for name, what, path, snippet, _, tests in MUTATIONS:
            where = path or ", ".join(sorted({e[0] for e in snippet}))
            print(f"{name:40} {where:18} {what}")
            for tool, test in tests:
                print(f"{'':40} killed by {tool}: {test}")
        return 0
    wanted = [a for a in argv if not a.startswith("-")]
    unknown = set(wanted) - {m[0] for m in MUTATIONS}
    if unknown:
        print(f"unknown mutation(s): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    long = "--long" in argv
    def is_long(m):
        return all(TOOLS[tool].get("long") for tool, _ in m[5])
    selected = [m for m in MUTATIONS
                if (m[0] in wanted) or (not wanted and (long or not is_long(m)))]
    # Without --long, a selected mutation is judged by its CI tests only.
    if not long:
        selected = [m[:5] + ([t for t in m[5] if not TOOLS[t[0]].get("long")] or m[5],)
                    for m in selected]

    os.makedirs(WORK, exist_ok=True)
    # One run at a time: runs share the scratch copy and its target dir.
    lock = open(os.path.join(WORK, "lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    fresh_copy()
    baseline = sorted({t for m in selected for t in m[5]})
    if "--no-baseline" in argv:
        # The caller ran the whole suites on this source just before (CI).
        print(f"baseline  skipped: {len(baseline)} test(s) taken as passing (--no-baseline)")
        baseline = []
    for tool, test in baseline:
        verdict, secs, out = run_test(tool, test)
        print(f"baseline  {tool:8} {test:60} {verdict} ({secs:.1f}s)", flush=True)
        if verdict != "PASS":
            print(out[-4000:])
            print("the unmutated suite does not pass: no mutation can be judged", file=sys.stderr)
            return 1

    failures = 0
    for name, what, path, snippet, replacement, tests in selected:
        fresh_copy()
        edits = snippet if path is None else [(path, snippet, replacement)]
        stale = False
        for rel, find, replace in edits:
            file = os.path.join(COPY, rel)
            text = open(file).read()
            if text.count(find) != 1:
                print(f"STALE     {name}: a snippet occurs {text.count(find)} times in {rel}")
                stale = True
                break
            open(file, "w").write(text.replace(find, replace))
        if stale:
            failures += 1
            continue
        for tool, test in tests:
            verdict, secs, out = run_test(tool, test)
            label = {"FAIL": "KILLED", "TIMEOUT": "KILLED(timeout)", "PASS": "SURVIVED"}.get(verdict, verdict)
            print(f"{label:16} {name:40} {tool:8} {test} ({secs:.1f}s)", flush=True)
            if label.startswith("KILLED"):
                lines = out.splitlines()
                at = next((i for i, l in enumerate(lines) if "deadlock" in l or "panicked at" in l), None)
                if at is not None:
                    for l in lines[at:at + 2]:
                        print(f"{'':16} {l.strip()[:160]}")
            else:
                failures += 1
                if verdict not in ("PASS",):
                    print(out[-3000:])
    fresh_copy()
    print(f"{len(selected)} mutation(s), {failures} not killed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
