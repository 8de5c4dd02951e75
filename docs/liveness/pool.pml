/*
 * pool.pml: a Promela model of zap-pool's coordination protocol, for Spin.
 *
 * It follows src/scheduler/wake.rs (notify, notify_slow, wait, unregister,
 * spawn_failed), lifecycle.rs (shutdown, join_workers), registry.rs
 * (register, the exit chain), src/structures/event.rs and
 * src/scheduler/worker.rs
 * (run_loop, pop, drain, run_leftovers, the exit chain). The note that goes
 * with it is docs/liveness.md; scripts/spin.sh runs every configuration.
 *
 * Memory is sequentially consistent: every atomic of the code is one step
 * here. A compare-exchange loop of the code ("load, compute, CAS, retry on
 * failure") is one `atomic` block that reads the current value, computes and
 * writes: a CAS that succeeds behaves exactly as if load, computation and
 * write had happened at the CAS, and a failed CAS has no effect but a retry.
 * Decisions the code takes on a plain load (the notify fast path, the
 * "already notified" return, the Shutdown return of wait) are one step each,
 * separate from the steps that act on them. Side effects that follow a CAS
 * in the code (waking the idle event, spawning, posting the exit token) are
 * separate steps too, so that they can land after a concurrent shutdown.
 *
 * Switches (define with -D on the spin command line):
 *   N          workers (max_threads), 2 or 3                      default 2
 *   TASKS      tasks the outside producer schedules                default 2
 *   CHILDREN   tasks scheduled by running tasks (the first ones
 *              run each schedule one child)                       default 1
 *   FAILS      spawn failures allowed                              default 1
 *   SPURIOUS   spurious futex returns allowed (a budget, so that a
 *              lost wake-up still ends in a deadlock)              default 1
 *   DO_SHUTDOWN 1: a main thread shuts the pool down and joins it,
 *              concurrently with the producer, then frees the pool
 *              0: nobody ever shuts down                          default 1
 *   LATE_SHUTDOWN  main shuts down only after the producer is done
 *   SYNC_FAIL  a failed spawn is undone at once by the notifier (the
 *              default spawn path); otherwise by another thread at any
 *              later time (a spawn handler may hand the WorkerThread on)
 *   FIX_SPAWN_FAILED  spawn_failed wakes the idle event before it gives
 *              its count back (the fix for the finding in docs/liveness.md)
 *   The original's logic, one hazard at a time (docs/liveness.md):
 *   ORIG_EVENT_SWAP      hazard 2: Event::wake swaps instead of fetch_max
 *   ORIG_SHUTDOWN_WAKE   hazard 3: Event::shutdown wakes the futex only
 *                        if the old state was WAITING
 *   ORIG_SPAWN_FAIL      hazard 4: a failed spawn only gives back the count
 *   ORIG_JOIN_FAST       hazard 5: join returns at once if it reads
 *                        Shutdown with spawned == 0
 */

/* The port's spawn_failed now wakes the idle event before it gives its
 * count back (src/scheduler/wake.rs, the fix of the finding in docs/liveness.md), so
 * that is the default here. OLD_SPAWN_FAILED_WAKE selects the old order,
 * which must still yield the use-after-free counterexample. */
#ifndef OLD_SPAWN_FAILED_WAKE
#define FIX_SPAWN_FAILED
#endif

#ifndef N
#define N 2
#endif
#ifndef TASKS
#define TASKS 2
#endif
#ifndef CHILDREN
#define CHILDREN 1
#endif
#ifndef FAILS
#define FAILS 1
#endif
#ifndef SPURIOUS
#define SPURIOUS 1
#endif
#ifndef DO_SHUTDOWN
#define DO_SHUTDOWN 1
#endif

#if N < 2 || N > 3
#error "N must be 2 or 3"
#endif

#define MAXT     N          /* max_threads */
#define JOINER   N          /* thread id of the joiner (workers are 0..N-1) */

/* ------------------------------------------------------------------ */
/* The Sync word (src/scheduler/sync_word.rs), one atomic state        */
/* ------------------------------------------------------------------ */
#define PENDING  0
#define SIGNALED 1
#define WAKING   2
#define SHUTDOWN 3

byte st = PENDING;          /* state */
bool notified;
byte idle;
byte spawned;

/* ------------------------------------------------------------------ */
/* Events (src/structures/event.rs) and the futex                      */
/* ------------------------------------------------------------------ */
#define EMPTY    0
#define WAITING  1
#define NOTIFIED 2
#define E_SHUT   3          /* the Event's SHUTDOWN */

#define E_IDLE   0          /* the pool's idle event */
#define E_JOIN   1          /* the pool's join event */
#define E_W(i)   (2 + (i))  /* worker i's join event (worker memory) */

byte ev[2 + N];
/* Futex sleepers: sleep_on[t] = e + 1 while thread t sleeps in
 * futex::wait on event e, 0 otherwise. Threads 0..N-1 are workers, N is the
 * joiner (it runs leftovers and sleeps on the join event). */
byte sleep_on[N + 1];

/* ------------------------------------------------------------------ */
/* Work: tasks are tokens                                              */
/* ------------------------------------------------------------------ */
byte gq;                    /* tasks in the global queue's stack */
bool gq_closed;             /* Queue::close */
bool glock;                 /* the global queue's consumer lock */
byte ring[N + 1];           /* per-thread ring Buffer (slot N: the joiner) */

/* The registry: a Treiber stack of workers, 0 = null, i + 1 = worker i */
byte reg_head;
byte reg_next[N];

/* ------------------------------------------------------------------ */
/* Ghosts                                                              */
/* ------------------------------------------------------------------ */
byte scheduled;             /* tasks accepted */
byte ran;                   /* tasks run */
byte refused;               /* outside schedules refused after the close */
byte pushes_left = TASKS;   /* the producer's schedules still to come */
byte children_left = CHILDREN;
byte wakers;                /* threads whose is_waking is true */
byte nworkers;              /* worker threads started */
byte alive;                 /* worker threads not yet exited */
bool wgone[N];              /* worker i exited: its memory is gone */
bool joined;                /* join returned */
bool freed;                 /* the owner freed the pool (after join) */
bool producer_done;
byte fails_left = FAILS;
bool orphan;                /* a failed spawn left no counted thread, and
                             * the producer has not scheduled since */
byte spurious_left = SPURIOUS;

/* Any access to pool memory: it must not have been freed (hazard 5). */
#define PA assert(!freed)

/* I1 and I2 of docs/sync_word.md: at most one waking thread, and the
 * state says whether there is one; idle <= spawned <= max_threads. */
#define SYNC_INV \
    (idle <= spawned && spawned <= MAXT && \
     (st == SHUTDOWN || \
      (wakers + (st == SIGNALED -> 1 : 0) <= 1 && \
       ((st == WAKING) == (wakers == 1)))))

/* The locals every thread's inlines use. */
#define LOCALS \
    bool nw, nf, can_wake, wake_idle, pre, woke, ew_done, got, pushed, child, last, is_waking, is_idle, more; \
    byte action, res, acq, ev_old, take, v, remaining, old_st, nxt, visits, target, first

#define A_NONE  0
#define A_WAKE  1
#define A_SPAWN 2

#define R_GO    0
#define R_SLEEP 1
#define R_SHUT  2

/* An event lives in pool memory (idle, join) or in worker memory. */
#define EV_ACCESS(e) \
    if \
    :: (e) < 2 -> PA \
    :: else -> assert(!wgone[(e) - 2]) \
    fi

#define WAKE_IF(k, e) \
    if \
    :: sleep_on[k] == (e) + 1 -> sleep_on[k] = 0 \
    :: else \
    fi

/* futex::wake_all: every thread asleep on e. */
#if N >= 3
#define FUTEX_WAKE_ALL(e) \
    WAKE_IF(0, e); WAKE_IF(1, e); WAKE_IF(2, e); WAKE_IF(3, e)
#else
#define FUTEX_WAKE_ALL(e) \
    WAKE_IF(0, e); WAKE_IF(1, e); WAKE_IF(2, e)
#endif

/* futex::wake_one: exactly one thread asleep on e, any of them. */
#if N >= 3
#define FUTEX_WAKE_ONE(e) \
    if \
    :: sleep_on[0] == (e) + 1 -> sleep_on[0] = 0 \
    :: sleep_on[1] == (e) + 1 -> sleep_on[1] = 0 \
    :: sleep_on[2] == (e) + 1 -> sleep_on[2] = 0 \
    :: sleep_on[3] == (e) + 1 -> sleep_on[3] = 0 \
    :: else -> skip \
    fi
#else
#define FUTEX_WAKE_ONE(e) \
    if \
    :: sleep_on[0] == (e) + 1 -> sleep_on[0] = 0 \
    :: sleep_on[1] == (e) + 1 -> sleep_on[1] = 0 \
    :: sleep_on[2] == (e) + 1 -> sleep_on[2] = 0 \
    :: else -> skip \
    fi
#endif

/* The futex wake that Event::wake makes after its RMW (uses only the
 * address). */
#ifdef ORIG_SHUTDOWN_WAKE
#define FUTEX_WAKE(e, newv) \
    if \
    :: newv == E_SHUT && ev_old == WAITING -> FUTEX_WAKE_ALL(e) \
    :: newv != E_SHUT && ev_old == WAITING -> FUTEX_WAKE_ONE(e) \
    :: else \
    fi
#else
#define FUTEX_WAKE(e, newv) \
    if \
    :: newv == E_SHUT -> FUTEX_WAKE_ALL(e)   /* always */ \
    :: newv != E_SHUT && ev_old == WAITING -> FUTEX_WAKE_ONE(e) \
    :: else \
    fi
#endif

/* Event::wake(this, new): the RMW is the last access to the event's
 * memory; the futex wake after it uses only the address.
 *
 * The idle event has several sleepers and the wake is a step of its own.
 * The join events have one sleeper each (the joiner; the worker that owns
 * it) and one notifier, so the wake is folded into the RMW: between the
 * two, the only thread the wake concerns is asleep and nobody else reads
 * its sleep state, so no interleaving is lost. */
inline event_wake(e, newv) {
    atomic {
        EV_ACCESS(e);
        ev_old = ev[e];
#ifdef ORIG_EVENT_SWAP
        ev[e] = newv;                       /* swap */
#else
        if                                  /* fetch_max */
        :: ev[e] < newv -> ev[e] = newv
        :: else
        fi;
#endif
        if
        :: (e) != E_IDLE -> FUTEX_WAKE(e, newv); ev_old = 0
        :: else
        fi
    }
    if
    :: (e) == E_IDLE -> atomic { FUTEX_WAKE(e, newv); ev_old = 0 }
    :: else
    fi
}

#define event_notify(e)   event_wake(e, NOTIFIED)
#define event_shutdown(e) event_wake(e, E_SHUT)

/* Event::wait, by thread `me`.
 *
 * futex::wait(word, WAITING) checks the value and enqueues in one step.
 * On the idle event that step is separate from the CAS that marks the
 * word WAITING, as in the code. On a join event (one sleeper) the two are
 * one step: in between only the one notify could land, and then the futex
 * would return at once, the same outcome as sleeping and being woken. */
inline event_wait(e, me) {
    acq = EMPTY;
    do
    :: atomic {
           EV_ACCESS(e);
           if
           :: ev[e] == E_SHUT -> ew_done = true       /* (Acquire fence) */
           :: ev[e] == NOTIFIED -> ev[e] = acq; ew_done = true
           :: ev[e] == WAITING || ev[e] == EMPTY ->
               ev[e] = WAITING; ew_done = false;
               if
               :: (e) != E_IDLE -> sleep_on[me] = (e) + 1
               :: else
               fi
           fi
       }
       if
       :: ew_done -> break
       :: else ->
           if
           :: (e) == E_IDLE ->
               atomic {
                   PA;
                   if
                   :: ev[e] == WAITING -> sleep_on[me] = (e) + 1
                   :: else
                   fi
               }
           :: else
           fi;
           /* asleep until woken */
           if
           :: sleep_on[me] == 0 -> skip
#if SPURIOUS > 0
           :: atomic { sleep_on[me] != 0 && spurious_left > 0 ->
                  spurious_left--; sleep_on[me] = 0 }
#endif
           fi;
           /* other sleepers may remain: consume tokens as WAITING */
           acq = WAITING
       fi
    od;
    acq = 0; ew_done = false
}

/* ------------------------------------------------------------------ */
/* Spawning and its failure                                            */
/* ------------------------------------------------------------------ */

/* Pool::spawn_failed (port), or the original's `unregister(null)`.
 *
 * As the port is written, the CAS gives the count back and then, if it
 * chose to pass the signal on, wakes the idle event: a pool access made
 * without a count. With FIX_SPAWN_FAILED the wake comes first, while the
 * count still keeps the pool alive, and the CAS then only gives the count
 * back (docs/liveness.md, "Finding"). */
inline spawn_failed() {
    do
    :: atomic {
           PA;
           assert(spawned > 0);
#ifdef FIX_SPAWN_FAILED
           pre = (st == SIGNALED && idle > 0 && !woke);
           if
           :: pre -> skip                  /* wake first, CAS after */
           :: else ->
#endif
           remaining = spawned - 1;
           old_st = st;
           wake_idle = false;
           spawned = remaining;
#ifndef ORIG_SPAWN_FAIL
           if
           :: st == SIGNALED && idle > 0 ->
#ifdef FIX_SPAWN_FAILED
               skip                        /* already woken: keep Signaled */
#else
               wake_idle = true
#endif
           :: (st == SIGNALED && idle == 0) || st == PENDING ->
               st = PENDING;
               if
               :: remaining == 0 -> notified = false
               :: else
               fi
           :: else -> skip                 /* Waking or Shutdown */
           fi;
#endif
           orphan = (remaining == 0);
           assert(SYNC_INV)
#ifdef FIX_SPAWN_FAILED
           fi
#endif
       }
       if
       :: pre -> event_notify(E_IDLE); pre = false; woke = true
       :: else -> break
       fi
    od;
    if
    :: wake_idle -> event_notify(E_IDLE)   /* after the count is gone */
    :: else
    fi;
    if
    :: old_st == SHUTDOWN && remaining == 0 -> event_notify(E_JOIN)
    :: else
    fi;
    wake_idle = false; woke = false; old_st = 0; remaining = 0
}

/* A WorkerThread dropped unrun by whatever thread the spawn handler gave
 * it to, at any later time. */
proctype failer() {
    LOCALS;
    spawn_failed()
}

/* Pool::spawn_worker: the thread starts, or (FAILS) the spawn fails and
 * the WorkerThread is dropped unrun: by default asynchronously (a spawn
 * handler may move it to another thread, which drops it later); with
 * SYNC_FAIL at once by the notifier (thread::spawn failed, the default
 * handler). */
inline spawn_worker() {
    if
#ifdef SYNC_FAIL
    :: atomic { fails_left > 0 -> fails_left-- }
       spawn_failed()
#else
    :: atomic { fails_left > 0 -> fails_left--; run failer() }
#endif
    :: atomic {
           PA;
           assert(nworkers < N);
           run worker(nworkers);
           nworkers++;
           alive++
       }
    fi
}

/* ------------------------------------------------------------------ */
/* notify / wait (src/scheduler/wake.rs)                               */
/* ------------------------------------------------------------------ */

/* A waking caller (nw) is Pool::hand_on(more): `more` is its look at the
 * queues, a hint taken without ordering, so the model lets it be either
 * value whatever the queues hold. */
inline notify_slow() {
    if
    :: nw -> if :: more = true :: more = false fi
    :: else
    fi;
    atomic {
        PA;
        action = A_NONE;
        if
        :: st == SHUTDOWN -> skip
        :: else ->
            if
            :: nw -> assert(st == WAKING)
            :: else
            fi;
            can_wake = nw || st == PENDING;
            if
            :: nw && !more && !notified -> st = PENDING   /* role given up */
            :: else ->
            if
            :: can_wake && idle > 0 ->
                notified = true; st = SIGNALED; action = A_WAKE
            :: else ->
                if
                :: can_wake && spawned < MAXT ->
                    notified = true; st = SIGNALED; spawned++;
                    action = A_SPAWN
                :: else ->
                    if
                    :: nw -> notified = true; st = PENDING
                    :: else -> notified = true  /* no-op if already set */
                    fi
                fi
            fi
            fi
        fi;
        /* a waking caller hands the role on or gives it up here (after
         * Shutdown it no longer matters) */
        if
        :: nw -> wakers--; nw = false
        :: else
        fi;
        can_wake = false; more = false;
        assert(SYNC_INV)
    }
    if
    :: action == A_WAKE -> event_notify(E_IDLE)
    :: action == A_SPAWN -> spawn_worker()
    :: else
    fi;
    action = A_NONE
}

/* Pool::notify(nw): the fast path only reads the word. */
inline notify() {
    if
    :: !nw -> atomic { PA; nf = notified }
    :: else -> nf = false
    fi;
    if
    :: nf -> skip
    :: else -> notify_slow()
    fi;
    nf = false
}

/* Pool::wait(is_waking), by worker `me`. Leaves res = R_GO (and
 * is_waking) or R_SHUT. */
inline pool_wait(me) {
    is_idle = false;
    do
    :: atomic {
           PA;
           if
           :: st == SHUTDOWN -> res = R_SHUT
           :: else ->
               if
               :: is_waking -> assert(st == WAKING)
               :: else
               fi;
               if
               :: notified ->                          /* consume */
                   notified = false;
                   if
                   :: is_idle -> idle--
                   :: else
                   fi;
                   if
                   :: st == SIGNALED ->
                       st = WAKING; assert(!is_waking);
                       is_waking = true; wakers++
                   :: else
                   fi;
                   res = R_GO
               :: !notified && !is_idle ->             /* count as idle */
                   idle++;
                   if
                   :: is_waking -> st = PENDING; is_waking = false; wakers--
                   :: else
                   fi;
                   is_idle = true;
                   res = R_SLEEP
               :: !notified && is_idle -> res = R_SLEEP
               fi;
               assert(SYNC_INV)
           fi
       }
       if
       :: res == R_SLEEP -> event_wait(E_IDLE, me)   /* then reload */
       :: else -> break
       fi
    od;
    is_idle = false
}

/* ------------------------------------------------------------------ */
/* Search (worker::pop) and running tasks                              */
/* ------------------------------------------------------------------ */

/* Buffer::steal(victim v) into our empty ring. */
inline steal(me) {
    atomic {
        assert(!wgone[v]);
        assert(ring[me] == 0);
        if
        :: ring[v] > 0 ->
            take = ring[v] - ring[v] / 2;      /* half, rounded up */
            ring[v] = ring[v] - take;          /* the CAS on the victim's head */
            got = true
        :: else
        fi
    }
    if
    :: got ->
        atomic { ring[me] = ring[me] + take - 1; pushed = (take > 1); take = 0 }
    :: else
    fi
}

/* The first steps of worker::pop: Buffer::pop of the own ring, else
 * Buffer::consume(&pool.run_queue): take the consumer lock and the pushed
 * stack, publish all but one task in the ring (the tail store), release. */
inline pop_local(me) {
    atomic {
        PA;
        if
        :: ring[me] > 0 -> ring[me]--; got = true      /* Buffer::pop */
        :: else ->
            /* An empty own ring stays empty while only others run (only
             * the owner pushes to it), so the failed pop and the consume
             * that follows it are one step. */
            if
            :: !glock && gq > 0 ->
                take = gq; gq = 0; glock = true; got = true
            :: else -> skip                        /* Empty or Contended */
            fi
        fi
    }
    if
    :: take > 0 ->
        atomic {
            PA;
            /* the consumer may also take what was pushed meanwhile */
            if
            :: take = take + gq; gq = 0
            :: skip
            fi;
            ring[me] = ring[me] + take - 1;
            pushed = (take > 1);
            take = 0
        }
        atomic { PA; glock = false }           /* Consumer's drop */
    :: else
    fi
}

/* worker::pop: own ring, own queue, global queue, then the registered
 * workers' queues and rings. Leaves got (and pushed). The own queue and
 * the victims' queues receive only ring overflow (256 tasks): always empty
 * here, so those consumes are not modelled. */
inline pop(me) {
    got = false; pushed = false;
    pop_local(me);
    if
    :: !got ->
        atomic { PA; visits = spawned }
        do
        :: !got && visits > 0 ->
            visits--;
            atomic {
                if
                :: target == 0 -> PA; target = reg_head
                :: else
                fi;
                assert(target != 0);           /* the code dereferences it */
                v = target - 1;
                assert(!wgone[v]);
                target = reg_next[v]
            }
            if
            :: v == me -> skip
            :: else -> steal(me)
            fi;
            v = 0
        :: else -> visits = 0; break
        od
    :: else
    fi
}

/* worker::run_task. The first CHILDREN tasks run schedule one child each,
 * as a worker of this pool: into the runner's own ring, then notify. */
inline run_task(me) {
    atomic {
        ran++;
        assert(ran <= scheduled);
        if
        :: children_left > 0 -> children_left--; child = true
        :: else -> child = false
        fi
    }
    if
    :: child ->
        atomic { ring[me]++; scheduled++; child = false }
        nw = false;                            /* schedule: notify(false) */
        notify()
    :: else
    fi
}

/* worker::drain: run everything in the own ring and the global queue;
 * settled() waits out a consumer that holds the queue's lock. */
inline drain(me) {
    do
    :: pop(me);
       if
       :: got -> got = false; pushed = false; run_task(me)
       :: else ->
           atomic { !glock -> PA; last = (gq == 0) }
           if
           :: last -> last = false; break
           :: else
           fi
       fi
    od;
    assert(ring[me] == 0)
}

/* ------------------------------------------------------------------ */
/* Threads                                                             */
/* ------------------------------------------------------------------ */

proctype worker(byte me) {
    LOCALS;

    /* Pool::register */
    atomic { PA; reg_next[me] = reg_head; reg_head = me + 1 }

    /* run_loop */
    is_waking = false;
    do
    :: pool_wait(me);
       if
       :: res == R_SHUT -> res = 0; break
       :: else -> res = 0
       fi;
       do
       :: pop(me);
          if
          :: got ->
              got = false;
              if
              :: pushed || is_waking ->
                  pushed = false; nw = is_waking; is_waking = false; notify()
              :: else
              fi;
              run_task(me)
          :: else -> break
          fi
       od
    od;
    drain(me);

    /* Pool::unregister: the last access to the pool */
    atomic {
        PA;
        assert(spawned > 0);
        assert(st == SHUTDOWN);
        last = (spawned == 1);
        spawned--
    }
    if
    :: last -> event_notify(E_JOIN)
    :: else
    fi;

    /* the exit chain: only worker memory from here on */
    event_wait(E_W(me), me);
    nxt = reg_next[me];
    if
    :: nxt != 0 -> event_notify(E_W(nxt - 1))
    :: else
    fi;
    atomic { wgone[me] = true; alive-- }
}

/* An outside thread: schedule = push to the global queue, then notify. */
active proctype producer() {
    LOCALS;
    do
    :: pushes_left > 0 ->
        atomic {
            PA;
            pushes_left--;
            if
            :: !gq_closed -> gq++; scheduled++; got = true; orphan = false
            :: else -> refused++; got = false      /* handed back */
            fi
        }
        if
        :: got -> got = false; nw = false; notify()
        :: else
        fi
    :: else -> break
    od;
    producer_done = true
}

#if DO_SHUTDOWN
/* The owner: shutdown, join, then (once the producer's borrow has ended)
 * free the pool, as Drop does. */
active proctype main() {
    LOCALS;

#ifdef LATE_SHUTDOWN
    producer_done;                             /* schedule everything first */
#endif
    /* Pool::shutdown */
    atomic { PA; gq_closed = true }
    atomic {
        PA;
        if
        :: st == SHUTDOWN -> last = false
        :: else ->
            last = (spawned == 0);
            st = SHUTDOWN; notified = true; idle = 0
        fi
    }
    event_shutdown(E_IDLE);                    /* always (hazard 3) */
    if
    :: last -> last = false; event_notify(E_JOIN)
    :: else
    fi;

    /* Pool::join */
#ifdef ORIG_JOIN_FAST
    atomic { PA; last = (st == SHUTDOWN && spawned == 0) }
    if
    :: !last -> event_wait(E_JOIN, JOINER)
    :: else -> last = false
    fi;
#else
    event_wait(E_JOIN, JOINER);                /* always (hazard 5) */
#endif
    atomic { PA; first = reg_head; reg_head = 0 }
    if
    :: first != 0 -> event_notify(E_W(first - 1))
    :: else
    fi;
    drain(JOINER);                             /* run_leftovers */
    event_shutdown(E_JOIN);
    atomic {
        joined = true;
        assert(ran == scheduled)              /* every accepted task ran */
    }
    producer_done;
    freed = true
}
#endif

/* ------------------------------------------------------------------ */
/* Liveness (checked with weak fairness: pan -a -f)                    */
/* ------------------------------------------------------------------ */
#if DO_SHUTDOWN
/* (b) after shutdown, join returns and every worker exits */
ltl joins { <> (joined && alive == 0) }
#else
/* (a) without shutdown, every scheduled task runs, unless a failed spawn
 * left the pool with no thread and no schedule followed (then the tasks
 * wait for the next schedule or for join: docs/sync_word.md, Theorem 4) */
ltl tasks_run { <> (ran == TASKS + CHILDREN || (orphan && producer_done)) }
#endif
