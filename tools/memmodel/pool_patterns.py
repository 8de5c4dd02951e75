"""The pool's ordering patterns that loom cannot judge, each as litmus tests:
the shipped orderings and weakened ones, with the verdict expected for the
bad outcome ("forbidden": the orderings prevent it; "allowed": some C++20
execution has it).

Modelling conventions (docs/memory-model.md, "Pool patterns"):
* Values are small integers standing for indices and task pointers; a slot
  that holds the old task reads 1, the owner's new task is 2 (or 3, 9...).
* Only the accesses that matter are kept. Control flow that depends on a
  loaded value is an `if r == k:` guard; loops are unrolled to the one
  iteration the bad outcome needs, and the condition names that iteration's
  values (e.g. "the CAS succeeded" is `c == expected`).
* A `variant` of "shipped" is the code as it is; any other variant names
  the ordering that was changed. `flag` marks a result worth reading.
"""

from memmodel import Litmus


def P(group, variant, threads, exists, expect, source, note="", flag="", init="", rs="c20"):
    return Litmus(name=f"{group}: {variant}", threads=threads, exists=exists,
                  expect=expect, init=init, rs=rs, source=source, note=note,
                  group=group, variant=variant, flag=flag)


def ring(owner, thief_cas="acq_rel", thief_head="acq", variant="shipped", expect="forbidden", **kw):
    """Hazard 10 on the ring (buffer.rs): the thief reads slot i and CASes
    `head` from i; the owner reads `head` past i and rewrites slot i."""
    return P("a. ring hazard 10 (push/consume)", variant,
             [f"h = head.load({thief_head}); s = slot.load(rlx); "
              f"c = head.cas(0, 1, {thief_cas}, rlx)",
              owner],
             "h == 0 and s == 2 and c == 0 and o == 1", expect,
             "src/structures/buffer.rs Owner::push, Owner::consume, Owner::steal; docs/buffer.md",
             init="head=0 slot=1", **kw)


PUSH = "o = head.load({}); if o == 1: slot.store(2, rlx)"

RING = [
    ring(PUSH.format("acq"), note="owner: Acquire load of head, then the slot write (push, consume)"),
    ring(PUSH.format("rlx"), variant="owner head load Relaxed", expect="allowed",
         note="load buffering: the thief's earlier read sees the owner's later write"),
    ring(PUSH.format("acq"), thief_cas="acq", variant="thief CAS Acquire (no Release)",
         expect="allowed"),
    ring(PUSH.format("acq"), thief_cas="rel", variant="thief CAS Release (no Acquire half)",
         note="confirms docs/buffer.md: the CAS's Acquire half is not needed here"),
    ring(PUSH.format("acq"), thief_head="rlx", variant="thief head load Relaxed",
         note="confirms docs/buffer.md: the thief's Acquire head load is not needed here"),
    P("a. ring hazard 10 (push/consume)", "owner reads a later thief's CAS (release sequence)",
      ["s = slot.load(rlx); c = head.cas(0, 1, acq_rel, rlx)",
       "d = head.cas(1, 2, rlx, rlx)",
       "o = head.load(acq); if o == 2: slot.store(2, rlx)"],
      "s == 2 and c == 0 and d == 1 and o == 2", "forbidden",
      "src/structures/buffer.rs; docs/join_deque.md Lemma 4 step 3 (same argument)",
      init="head=0 slot=1",
      note="a second (even Relaxed) CAS continues the first thief's release sequence"),
]

RING_FAILED_CAS = [
    P("a'. ring: slot writes after a failed CAS", "push overflow CAS, failure Relaxed (before the fix)",
      ["s = slot.load(rlx); c = head.cas(0, 1, acq_rel, rlx)",
       "o = head.load(acq); f = head.cas(0, 7, acq, rlx); if f == 1: slot.store(2, rlx)"],
      "s == 2 and c == 0 and o == 0 and f == 1", "allowed",
      "src/structures/buffer.rs Owner::push (`Err(actual) => head = actual`, then the loop writes slots)",
      init="head=0 slot=1",
      note="full ring: the owner's Acquire load reads the old head, its overflow CAS fails "
           "reading the thief's CAS with Relaxed, and the loop refills the freed slots"),
    P("a'. ring: slot writes after a failed CAS", "push overflow CAS, failure Acquire",
      ["s = slot.load(rlx); c = head.cas(0, 1, acq_rel, rlx)",
       "o = head.load(acq); f = head.cas(0, 7, acq, acq); if f == 1: slot.store(2, rlx)"],
      "s == 2 and c == 0 and o == 0 and f == 1", "forbidden",
      "src/structures/buffer.rs Owner::push (shipped: failure ordering Acquire)",
      init="head=0 slot=1"),
    P("a'. ring: slot writes after a failed CAS", "pop CAS, failure Relaxed, then steal (before the fix)",
      ["s = slot.load(rlx); a = head.cas(0, 1, acq_rel, rlx)",
       "b = head.cas(1, 2, acq_rel, rlx)",
       "o = head.load(acq); p = head.cas(0, 1, acq, rlx); if p == 2: slot.store(3, rlx)"],
      "s == 3 and a == 0 and b == 1 and o == 0 and p == 2", "allowed",
      "src/structures/buffer.rs Owner::pop then Owner::steal (worker.rs find_task)",
      init="head=0 slot=1",
      note="pop's CAS fails reading the last thief's CAS (Relaxed) and returns None; with "
           "empty queues consume returns before loading head, and steal writes the own "
           "ring's slots; needs thieves to take more than half the ring in pop's window"),
    P("a'. ring: slot writes after a failed CAS", "pop CAS, failure Acquire, then steal",
      ["s = slot.load(rlx); a = head.cas(0, 1, acq_rel, rlx)",
       "b = head.cas(1, 2, acq_rel, rlx)",
       "o = head.load(acq); p = head.cas(0, 1, acq, acq); if p == 2: slot.store(3, rlx)"],
      "s == 3 and a == 0 and b == 1 and o == 0 and p == 2", "forbidden",
      "src/structures/buffer.rs Owner::pop (shipped: failure ordering Acquire)",
      init="head=0 slot=1",
      note="the Acquire failure read is in the first thief's release sequence"),
]


def jd(owner, thief_cas="rel", thief_top="acq", variant="shipped", expect="forbidden", **kw):
    """Join deque Lemma 4 step 3: the thief reads slot i and CASes `top`
    from i; the owner's push reads `top` past i and rewrites slot i."""
    return P("b. join deque Lemma 4", variant,
             [f"t = top.load({thief_top}); fence(sc); b = bottom.load(acq); "
              f"s = slot.load(rlx); c = top.cas(0, 1, {thief_cas}, rlx)",
              owner],
             "t == 0 and b == 1 and s == 2 and c == 0 and o == 1", expect,
             "src/structures/join_deque.rs JoinDeque::steal, Owner::push; docs/join_deque.md Lemma 4",
             init="top=0 bottom=1 slot=1", **kw)


JPUSH = "o = top.load({}); if o == 1: slot.store(2, rlx)"

JOIN_DEQUE = [
    jd(JPUSH.format("acq")),
    jd(JPUSH.format("rlx"), variant="owner top load Relaxed", expect="allowed"),
    jd(JPUSH.format("acq"), thief_cas="rlx", variant="thief CAS Relaxed (no Release)",
       expect="allowed"),
    jd(JPUSH.format("acq"), thief_top="rlx", variant="thief top load Relaxed",
       note="confirms docs/join_deque.md: not needed here"),
    P("b. join deque Lemma 4", "owner's Relaxed last-job CAS in between",
      ["t = top.load(acq); fence(sc); b = bottom.load(acq); s = slot.load(rlx); "
       "c = top.cas(0, 1, rel, rlx)",
       "p = top.cas(1, 2, rlx, rlx); o = top.load(acq); if o == 2: slot.store(2, rlx)"],
      "t == 0 and b == 1 and s == 2 and c == 0 and p == 1 and o == 2", "forbidden",
      "docs/join_deque.md 'The owner's CAS and the thief's'",
      init="top=0 bottom=1 slot=1",
      note="the owner's Relaxed CAS is an RMW: it continues the thief's release sequence"),
]


def lower(store_order, variant, expect, rs="c20", **kw):
    """The owner pops job 1 of two (lowering `bottom` to 1) while a thief
    reads that lowered `bottom` and steals job 0: it must see job 0's slot."""
    return P("c. join deque pop: lowering store", variant,
             ["s0.store(10, rlx); bottom.store(1, rel); s1.store(11, rlx); bottom.store(2, rel); "
              f"bottom.store(1, {store_order}); fence(sc); ot = top.load(rlx)",
              "t = top.load(acq); fence(sc); b = bottom.load(acq); "
              "if b == 1: s = s0.load(rlx); if b == 1: c = top.cas(0, 1, rel, rlx)"],
             "t == 0 and b == 1 and s == 0 and c == 0", expect,
             "src/structures/join_deque.rs Owner::pop; docs/join_deque.md 'The lowering store is Release'",
             rs=rs, **kw)


LOWERING = [
    lower("rel", "shipped", "forbidden"),
    lower("rlx", "lowering store Relaxed", "allowed",
          note="C++20: a plain store continues no release sequence; the fences do not help"),
    lower("rlx", "lowering store Relaxed, C++11 release sequences", "forbidden", rs="c11",
          note="what a checker with the C++11 rule would conclude"),
]


def latch(between, set_order, variant, expect, rs="c20", data="rlx", exists=None, **kw):
    """Latch::set from RINGING: data, CAS RINGING->SETTING (AcqRel), [the
    ring], store SET; the waiter Acquire-loads SET (without having read
    SETTING) and reads the data."""
    return P("d. latch SET store", variant,
             [f"d.store(42, {data}); o = state.cas(3, 4, acq_rel, rlx); {between}"
              f"state.store(2, {set_order})",
              f"w = state.load(acq); if w == 2: r = d.load({data})"],
             exists or "o == 3 and w == 2 and r == 0", expect,
             "src/structures/latch.rs Latch::set, Latch::probe/wait; docs/orderings.md (latch.rs set)",
             init="state=3 d=0", rs=rs, **kw)


RING_FENCE = ("fence(sc); n = sleepers.load(rlx); if n != 0: epoch.fetch_add(1, rlx); ")

LATCH = [
    latch("", "rel", "abstract (no ring between): SET Release", "forbidden"),
    latch("", "rlx", "abstract (no ring between): SET Relaxed", "allowed",
          note="C++20: the waiter that reads SET does not synchronize with the CAS"),
    latch("", "rlx", "abstract (no ring between): SET Relaxed, C++11 release sequences",
          "forbidden", rs="c11", note="the C++11 rule would hide it"),
    latch(RING_FENCE, "rel", "shipped (with Bell::ring between)", "forbidden"),
    latch(RING_FENCE, "rlx", "with Bell::ring between: SET Relaxed", "forbidden",
          flag="NOT NEEDED",
          note="Bell::ring starts with fence(SeqCst), a release fence sequenced before "
               "the SET store: [atomics.fences] p3 makes the waiter's Acquire load "
               "synchronize with it"),
    latch("", "rlx", "abstract: SET Relaxed, non-atomic data", "allowed", data="na",
          exists="o == 3 and w == 2 and race", note="the data race itself"),
    latch(RING_FENCE, "rlx", "with Bell::ring between: SET Relaxed, non-atomic data",
          "forbidden", data="na", exists="o == 3 and w == 2 and (race or r == 0)"),
]


def bell(sleeper_fence, ringer_fence, variant, exists, what, expect):
    sf = "fence(sc); " if sleeper_fence else ""
    rf = "fence(sc); " if ringer_fence else ""
    return P(f"e. bell: {what}", variant,
             [f"sleepers.fetch_add(1, rlx); e = epoch.load(rlx); {sf}c = cond.load(rlx)",
              f"cond.store(1, rlx); {rf}n = sleepers.load(rlx); if n != 0: epoch.fetch_add(1, rlx)"],
             exists, expect,
             "src/structures/bell.rs Bell::prepare, Bell::ring; docs/bell.md",
             init="cond=0 sleepers=0 epoch=0")


LOST = "c == 0 and n == 0"
STALE = "c == 0 and e == 1"
BELL = [
    bell(True, True, "shipped", LOST, "lost wake-up (c=0, n=0)", "forbidden"),
    bell(False, True, "no sleeper fence", LOST, "lost wake-up (c=0, n=0)", "allowed"),
    bell(True, False, "no ringer fence", LOST, "lost wake-up (c=0, n=0)", "allowed"),
    bell(True, True, "shipped", STALE, "bumped epoch read (c=0, e=1)", "forbidden"),
    bell(False, True, "no sleeper fence", STALE, "bumped epoch read (c=0, e=1)", "allowed"),
    bell(True, False, "no ringer fence", STALE, "bumped epoch read (c=0, e=1)", "allowed"),
]


def hazard1(producer_fence, consumer_fence, variant, expect, **kw):
    pf = "fence(sc); " if producer_fence else ""
    cf = "fence(sc); " if consumer_fence else ""
    return P("f. hazard 1 (notify fast path)", variant,
             [f"p = q.cas(0, 1, rel, rlx); {pf}n = sync.load(rlx)",
              f"k = sync.cas(1, 0, acq, rlx); {cf}v = q.load(rlx)"],
             "p == 0 and n == 1 and k == 1 and v == 0", expect,
             "src/scheduler/wake.rs Pool::notify, Pool::wait_idle; queue.rs push",
             init="q=0 sync=1", **kw)


HAZARD1 = [
    hazard1(True, True, "shipped", "forbidden",
            note="sync=1: a notification is pending; the producer skips notify_slow on n == 1 "
                 "while the consumer's search (a Relaxed load of the queue word) misses the push"),
    hazard1(False, True, "no fence after the push", "allowed"),
    hazard1(True, False, "no fence after the consuming CAS", "allowed"),
]


def scope(task_order, body_order, variant, expect, **kw):
    return P("g. scope pending count", variant,
             [f"d1.store(1, rlx); t1 = pending.fetch_sub(1, {task_order})",
              f"d2.store(1, rlx); t2 = pending.fetch_sub(1, {task_order})",
              f"b = pending.fetch_sub(1, {body_order}); if b == 1: r1 = d1.load(rlx); "
              "if b == 1: r2 = d2.load(rlx)"],
             "b == 1 and (r1 == 0 or r2 == 0)", expect,
             "src/fork_join/scope.rs finish_body, run_task; docs/fork_join.md Theorem 2",
             init="pending=3", **kw)


SCOPE = [
    scope("acq_rel", "acq_rel", "shipped", "forbidden",
          note="the body's decrement is last: it acquires both tasks through one release sequence"),
    scope("acq", "acq_rel", "task decrements without Release", "allowed"),
    scope("acq_rel", "rel", "body decrement without Acquire", "allowed"),
]



def core(publish, read, variant, expect, **kw):
    """A pool's lazy core (thread_pool.rs): the first user builds the core
    (`d`, a field) and publishes its pointer `p` with a CAS from null; a
    second user reads `p` and, finding it set, reads the field. The core
    pointer is a std atomic that loom does not model (the constructors
    stay `const`), so this pattern is judged here only."""
    return P("h. lazy core publication", variant,
             [f"d.store(1, rlx); c = p.cas(0, 1, {publish}, acq)", read],
             "r == 1 and x == 0", expect,
             "src/thread_pool.rs ThreadPool::core, init_core (publish); src/global.rs",
             init="p=0 d=0", **kw)


CORE = [
    core("acq_rel", "r = p.load(acq); if r == 1: x = d.load(rlx)", "shipped", "forbidden",
         note="a user that finds the core published reads it initialized"),
    core("acq", "r = p.load(acq); if r == 1: x = d.load(rlx)",
         "publishing CAS without Release", "allowed"),
    core("acq_rel", "r = p.load(rlx); if r == 1: x = d.load(rlx)",
         "core load Relaxed", "allowed"),
    core("acq_rel", "r = p.cas(0, 2, acq_rel, acq); if r == 1: x = d.load(rlx)",
         "racing first use: the losing CAS reads the winner's core", "forbidden",
         note="two first uses at once: the loser's failure ordering (Acquire) reads the winner's core"),
    core("acq_rel", "r = p.cas(0, 2, acq_rel, rlx); if r == 1: x = d.load(rlx)",
         "racing first use, losing CAS's failure ordering Relaxed", "allowed"),
]

def signal(wait_cas, wake_swap, variant, expect, **kw):
    """`block_on`'s waker (fork_join/future.rs `Signal`): after a round,
    the caller resets its latch (`x`: SET = 3 to UNSET = 0, a Relaxed
    store) and announces WAITING (`s`: IDLE = 0 to WAITING = 2, a CAS); a
    waker swaps NOTIFIED (1) in and, finding WAITING, sets the latch (a CAS
    from UNSET). Bad: the setter's CAS comes before the reset in the
    latch's modification order, reads the old SET, and the wake is lost
    (the reset then leaves the latch unset for ever). Loom cannot show it:
    its read-modify-writes always read the store that executed last."""
    return P("i. block_on's latch reset", variant,
             [f"x.store(0, rlx); w = s.cas(0, 2, {wait_cas}, rlx)",
              f"r = s.swap(1, {wake_swap}); if r == 2: c = x.cas(0, 1, acq_rel, rlx)"],
             "w == 0 and r == 2 and c == 3", expect,
             "src/fork_join/future.rs Signal::wait, Signal::wake_by_ref",
             init="x=3 s=0", **kw)


SIGNAL = [
    signal("rel", "acq_rel", "shipped", "forbidden",
           note="the reset happens before the setter's CAS, so the CAS reads it"),
    signal("rlx", "acq_rel", "announcing CAS Relaxed", "allowed"),
    signal("rel", "rel", "waker's swap without Acquire", "allowed"),
]

def countdown(first, last, variant, expect, **kw):
    """A broadcast job's count (scheduler/broadcast.rs `run_piece`): each
    piece writes its result (`d0`, `d1`) and gives its count back; the one
    that brings it to 0 sets the latch, which the broadcaster acquires
    before it reads every result (`Mutex::into_inner`, which synchronizes
    with nothing). Here piece 0 finishes first and piece 1 last; the
    latch's Release/Acquire is folded into piece 1's reads. Loom did not
    judge it at the bounds it can finish (`docs/weakenings.md`)."""
    return P("j. broadcast countdown", variant,
             [f"d0.store(1, rlx); a = rem.fetch_sub(1, {first})",
              f"d1.store(1, rlx); b = rem.fetch_sub(1, {last}); if b == 1: r = d0.load(rlx)"],
             "a == 2 and b == 1 and r == 0", expect,
             "src/scheduler/broadcast.rs Pool::run_piece; src/fork_join/broadcast.rs",
             init="rem=2", **kw)


COUNTDOWN = [
    countdown("acq_rel", "acq_rel", "shipped", "forbidden",
              note="the last piece acquires the first one's Release decrement"),
    countdown("acq", "acq", "decrements without Release", "allowed"),
    countdown("rel", "rel", "decrements without Acquire", "allowed"),
]

def release(first, last, variant, expect, **kw):
    """The last holder frees (scheduler/lifecycle.rs `Pool::free`, as
    `Arc::drop`): holder A reads the pool's memory (`d`) and gives its
    count back; holder B gives the last count back and frees, which here
    is a write of the freed memory. Bad: A's read sees the free. A load
    reading a store that comes later in the other thread's program order
    (load buffering), which loom never explores; the model builds also
    never free a pool, so no loom test can fail on these orderings."""
    return P("k. last holder frees", variant,
             [f"r = d.load(rlx); a = n.fetch_sub(1, {first})",
              f"b = n.fetch_sub(1, {last}); if b == 1: d.store(9, rlx)"],
             "a == 2 and b == 1 and r == 9", expect,
             "src/scheduler/lifecycle.rs Pool::free (keep)",
             init="n=2 d=1", **kw)


RELEASE = [
    release("acq_rel", "acq_rel", "shipped", "forbidden",
            note="the free happens after the other holder's read"),
    release("acq", "acq_rel", "decrement without Release", "allowed"),
    release("acq_rel", "rel", "last decrement without Acquire", "allowed"),
]

def drain(shutdown, observe, variant, expect, **kw):
    """Shutdown publishes the close of the global queue to the drain
    (scheduler/wake.rs `enter_shutdown` and `wait_idle`'s Acquire load on
    Shutdown; queue.rs `close`). A producer pushes a task (`q`: 0 to 1, a
    Release CAS); `shutdown` closes the queue (a Relaxed RMW that sees the
    push) and moves the word to Shutdown (`s`); a worker that reads
    Shutdown then probes the queue for its drain (the close is a
    `fetch_or` of a bit, here a `fetch_add`). Bad: the probe reads the
    queue from before the push, the worker finds it empty and leaves."""
    return P("l. shutdown publishes the close", variant,
             ["p = q.cas(0, 1, rel, rlx)",
              f"c = q.fetch_add(2, rlx); w = s.cas(0, 1, {shutdown}, rlx)",
              f"r = s.load({observe}); if r == 1: v = q.load(acq)"],
             "p == 0 and c == 1 and w == 0 and r == 1 and v == 0", expect,
             "src/scheduler/wake.rs Pool::enter_shutdown, Pool::wait_idle; src/structures/queue.rs close",
             init="q=0 s=0", **kw)


DRAIN = [
    drain("acq_rel", "acq", "shipped", "forbidden",
          note="the worker's Acquire of Shutdown orders the close, and the push it saw, before the probe"),
    drain("acq", "acq", "shutdown CAS without Release", "allowed"),
    drain("acq_rel", "rlx", "worker's Shutdown load Relaxed", "allowed"),
]

PATTERNS = (RING + RING_FAILED_CAS + JOIN_DEQUE + LOWERING + LATCH + BELL + HAZARD1 + SCOPE
            + CORE + SIGNAL + COUNTDOWN + RELEASE + DRAIN)
