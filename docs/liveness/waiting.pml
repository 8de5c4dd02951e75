/*
 * waiting.pml: a Promela model of how zap-pool's threads wait for pool
 * work (join, scope, JoinHandle), for Spin. Companion of pool.pml, which
 * models the coordination protocol of one pool (notify, wait, shutdown,
 * join, spawn failure) in more detail and with no waiting inside tasks.
 * The note that goes with both is docs/liveness.md; scripts/spin.sh runs
 * every configuration.
 *
 * It follows src/scheduler/worker.rs (wait_for, help_run_one,
 * wait_after_shutdown, Retry, run, run_loop, drain, run_leftovers, the
 * search), src/scheduler/wake.rs
 * (notify, notify_slow, wake_one_idle, wait_idle / wait_until, starting,
 * retry_spawn, enter_shutdown, unregister, spawn_failed),
 * src/scheduler/lifecycle.rs (shutdown, abandon, join_workers,
 * finish_join), src/structures/latch.rs, src/structures/bell.rs,
 * src/fork_join/scope.rs and join.rs (the counters, join_in), and
 * ThreadPool's Drop.
 *
 * Memory is sequentially consistent and every atomic of the code is one
 * step, as in pool.pml: a CAS loop is one atomic block that reads the
 * current value; decisions taken on a plain load are steps of their own.
 * Model files: this one, wait_for.pmh (wait_for, included once per nesting
 * level) and run_task.pmh (the tasks' code, included once per level).
 *
 * Scenarios (-DSCEN=n), each a small closed program that must end:
 *   1 OUTSIDE  a thread outside the pool joins a task of pool P (one
 *              thread at most); its spawns fail (FAILS transient ones, or
 *              P_ALWAYS_FAIL); with PRODUCER, a second outside thread
 *              spawns a task concurrently. Then the joiner drops P.
 *   2 CROSS    pools A and B of one thread each; main: A.join(TA), where
 *              TA = B.join(JB) and JB = A.join(JA); then it drops A and B.
 *              CROSS_DROP: main spawns TA instead and drops A at once
 *              (a shutdown concurrent with the waits). B_ALWAYS_FAIL:
 *              every spawn of B fails.
 *   3 WAKE     one pool of two threads; main: P.join(T0), where T0 is a
 *              scope whose one task S spawns T2 into its own ring and then
 *              blocks outside the pool until T2 has run (a flag only T2
 *              sets); then main drops P. WAKE_DROP: main spawns T0
 *              instead and drops P at once (S then blocks only beside
 *              T0's waiter, not on its thread).
 *   4 DROP     one pool of two threads; main spawns U (which spawns a
 *              child C) and T, then drops its reference; T drops the other
 *              one: whichever drop is the last drops the pool, from main
 *              (shutdown, join, free) or from the task (abandon).
 *
 * PRODUCER, B_ALWAYS_FAIL and CROSS_DROP are the configurations of the
 * three findings F1, F2, F3 of docs/liveness.md (hangs of an earlier
 * design, fixed); WAKE_DROP is the one of the ring after shutdown.
 *
 * Other switches:
 *   FAILS      transient spawn failures per pool                  default 0
 *              (scenario 1: 1)
 *   HANDLER    a custom spawn handler: a failed spawn is dropped later by
 *              another thread (a `failer`); otherwise the default spawn:
 *              the notifier undoes it at once
 *   SPURIOUS   spurious futex and bell returns allowed (a budget)  default 0
 *   MAXT0      max_threads of pool 0 (scenarios 1, 3, 4)
 *
 * The old behaviours, one at a time (each must yield a counterexample):
 *   OLD_OUTSIDE_WAIT   a thread that is no worker blocks on the latch
 *   OLD_CROSS_POOL     a worker of another pool blocks on the latch
 *   OLD_WAIT_ON_LATCH  a worker of the pool, with all awaited work
 *                      started, blocks on the latch (not idle, no bell)
 *   OLD_DROP_FROM_TASK dropping the pool from its own task only shuts down
 * and those of the earlier design that the findings F1-F3 fixed:
 *   OLD_WILL_REGISTER  a thread counted by the default spawn is trusted to
 *                      register: an outside waiter stops polling and
 *                      blocks on the latch (F1)
 *   OLD_GUEST_HELP     a thread that helps a pool with no thread runs the
 *                      task as a guest worker of that pool, which hides
 *                      the thread's own worker (F2)
 *   OLD_SHUTDOWN_BLOCK a worker waiting inside a task blocks on the latch
 *                      once its pool shut down (F3)
 *   OLD_NOTIFY_AFTER_SHUTDOWN  notify returns on `notified` after
 *                      shutdown too, and notify_slow does not ring the
 *                      bell then
 * The bell's lost wake-up class:
 *   LATCH_NO_RING      Latch::set does not ring the announced bell
 *   BELL_NO_RECHECK    a bell sleeper checks its condition before
 *                      `prepare`, not after it
 */

#define SC_OUTSIDE 1
#define SC_CROSS   2
#define SC_WAKE    3
#define SC_DROP    4

#ifndef SCEN
#error "define SCEN (1 OUTSIDE, 2 CROSS, 3 WAKE, 4 DROP)"
#endif
#ifndef SPURIOUS
#define SPURIOUS 0
#endif

/* ------------------------------------------------------------------ */
/* Scenario constants                                                  */
/*   NP pools, MAXT0/MAXT1 threads each, NOUT outside threads, NT      */
/*   tasks (ids 1..NT), NL latches. TPOOL(t): the pool of task t.      */
/* ------------------------------------------------------------------ */
#if SCEN == SC_OUTSIDE
#define NP 1
#ifndef MAXT0
#define MAXT0 1
#endif
#define MAXT1 0
#define NOUT 2              /* X the joiner, Y the producer (if PRODUCER) */
#define NT 2
#define T_J 1               /* X's join job: sets L_J */
#define T_F 2               /* Y's spawned task */
#define NL 1
#define L_J 0
#define TPOOL(t) 0
#ifndef FAILS
#define FAILS 1
#endif
#endif

#if SCEN == SC_CROSS
#define NP 2
#define MAXT0 1
#define MAXT1 1
#define NOUT 1
#define NT 3
#define T_TA 1              /* on A: B.join(JB) */
#define T_JB 2              /* on B: A.join(JA) */
#define T_JA 3              /* on A */
#define NL 3
#define L_TA 0
#define L_JB 1
#define L_JA 2
#define PA_ 0
#define PB_ 1
#define TPOOL(t) ((t) == T_JB -> PB_ : PA_)
#endif

#if SCEN == SC_WAKE
#define NP 1
#ifndef MAXT0
#define MAXT0 2
#endif
#define MAXT1 0
#define NOUT 1
#define NT 3
#define T_T0 1              /* the scope body */
#define T_S  2              /* the scope's task */
#define T_T2 3              /* spawned by S; sets the flag S waits for */
#define NL 2
#define L_T0 0
#define L_SC 1
#define TPOOL(t) 0
#endif

#if SCEN == SC_DROP
#define NP 1
#ifndef MAXT0
#define MAXT0 2
#endif
#define MAXT1 0
#define NOUT 1
#define NT 3
#define T_T 1               /* drops the pool */
#define T_U 2               /* spawns C */
#define T_C 3
#define NL 1                /* none used */
#define TPOOL(t) 0
#endif

#ifndef FAILS
#define FAILS 0
#endif

#define NW      (MAXT0 + MAXT1)         /* worker thread slots */
#define NTH     (NW + NOUT)             /* all thread slots */
#define MAXT(p) ((p) == 0 -> MAXT0 : MAXT1)
#define WBASE(p) ((p) == 0 -> 0 : MAXT0)
#define XT      NW                      /* the main outside thread */
#define YT      (NW + 1)                /* the producer (scenario 1) */
#define NOPOOL  255
#define GQCAP   3

/* Ring slots: RS(t, 0) is thread t's own ring (a worker's), RS(t, 1) the
 * ring of its leftovers guest (run_leftovers); with OLD_GUEST_HELP,
 * RS(t, j) for j = 2, 3 the ring of the guest it made at wait_for nesting
 * level j - 1. */
#define RS(t, j) ((t) * 4 + (j))
#define NRS     (NTH * 4)

/* ------------------------------------------------------------------ */
/* The Sync word of each pool (src/scheduler/sync_word.rs)             */
/* ------------------------------------------------------------------ */
#define PENDING  0
#define SIGNALED 1
#define WAKING   2
#define SHUTDOWN 3

byte st[NP];
bool notified[NP];
byte idle[NP];
byte spawned[NP];
bool abandoned[NP];

/* ------------------------------------------------------------------ */
/* Events (src/structures/event.rs), latches, bells, the futex         */
/* ------------------------------------------------------------------ */
#define EMPTY    0
#define WAITING  1
#define NOTIFIED 2
#define E_SHUT   3

#define EV_IDLE(p) (p)                  /* the pool's idle event */
#define EV_JOIN(p) (NP + (p))           /* the pool's last_exit event */
#define EV_REL(w)  (2 * NP + (w))       /* worker w's release event */
#define NEV        (2 * NP + NW)
#define LOBJ(l)    (NEV + (l))          /* a latch's futex word */

byte ev[NEV];
/* sleep_on[t] = object + 1 while thread t sleeps in futex::wait on that
 * object (an event or a latch), 0 otherwise. */
byte sleep_on[NTH];

/* Latch (src/structures/latch.rs) */
#define L_UNSET    0
#define L_SLEEPING 1
#define L_SET      2
#define L_RINGING  3
#define L_SETTING  4
byte lst[NL];
byte lbell[NL];             /* the announced bell: its pool */
bool ldead[NL];             /* the waiter's frame (the latch) is gone */
bool law[NL];               /* ghost: a thread is in wait_for on it */

/* Bell (src/structures/bell.rs), one per pool. Only the workers of a pool
 * sleep on its bell. bell_in[w]: worker w is counted in `sleepers`
 * (between prepare and cancel, or the end of its sleep); rung[w]: a ring
 * bumped the epoch since w's prepare, so its futex wait does not sleep
 * (or is woken). */
bool bell_in[NW];
bool rung[NW];

/* ------------------------------------------------------------------ */
/* Work: tasks are ids 1..NT                                           */
/* ------------------------------------------------------------------ */
byte gq[NP * GQCAP];        /* the global queue's stack, bottom first */
byte gqn[NP];
bool glock[NP];             /* its consumer lock */
bool gclosed[NP];
byte ring[NRS * 2];         /* FIFO rings of 2 slots, front first */
byte cursor[NRS];           /* a LocalWorker's steal cursor, 0 = null */

byte reg_head[NP];          /* registry: 0 = null, w + 1 = worker w */
byte reg_next[NW];

/* ------------------------------------------------------------------ */
/* Ghosts                                                              */
/* ------------------------------------------------------------------ */
byte scheduled;             /* tasks accepted */
byte ran;                   /* tasks run */
byte sched_p[NP];
byte ran_p[NP];
byte wakers[NP];            /* threads whose is_waking is true, per pool */
byte nstarted[NP];          /* worker threads started */
bool wgone[NW];             /* worker w exited: its memory is gone */
bool freed[NP];
byte fails_left[NP];
byte spurious_left = SPURIOUS;
byte live = NOUT;           /* threads not yet terminated (workers and
                             * failers are added when they start) */
bool ydone;                 /* scenario 1: the producer's borrow ended */

/* Scenario state */
byte pending;               /* Scope::pending */
byte queued;                /* Scope::queued */
bool flag;                  /* scenario 3: set by T2, awaited by S */
byte t0_on = 255;           /* scenario 3: the thread that runs T0 */
byte refs = 2;              /* scenario 4: references to the ThreadPool */

#define PA(p) assert(!freed[p])

#define SYNC_INV(p) \
    (idle[p] <= spawned[p] && spawned[p] <= MAXT(p) && \
     (st[p] == SHUTDOWN || \
      (wakers[p] + (st[p] == SIGNALED -> 1 : 0) <= 1 && \
       ((st[p] == WAKING) == (wakers[p] == 1)))))

/* The locals every thread's inlines use. Suffixes _0.._2 are per nesting
 * level of wait_for (a task run inside wait_for may wait in turn). */
#define LOCALS \
    byte cur_pool = NOPOOL, cur_ring; bool cur_reg; \
    bool got, pushed, took, nw, nf, canw, pre, woke, ab, ok, last, chg, \
         is_idle, isw0, bc, more; \
    byte tk, tk1, tk2, visits, v, action, rem, oldst, wres, acq, ewd, \
         lold, i, k, cnt, first, nxt, bst, bsp; \
    byte t_0, t_1, t_2, tv_0, tv_1, tv_2, wl_0, wl_1, wl_2, wj_0, wj_1, wj_2, \
         sp_pool, sp_task; \
    bool ws_0, ws_1, ws_2, drn; \
    byte here_1, rs_1, rran_1, rgap_1, c_1, sp_1, svp_1, svs_1, np_1; \
    bool reg_1, own_1, ann_1, isw_1, hw_1, opn_1, svr_1, sd_1; \
    byte here_2, rs_2, rran_2, rgap_2, c_2, sp_2, svp_2, svs_2, np_2; \
    bool reg_2, own_2, ann_2, isw_2, hw_2, opn_2, svr_2, sd_2

#define A_NONE  0
#define A_WAKE  1
#define A_SPAWN 2
#define A_RING  3           /* shut down: ring the bell */

/* wait_idle results */
#define W_GO    1           /* notified: search again */
#define W_SHUT  2           /* Err(Shutdown) */
#define W_LSET  3           /* Err(LatchSet) */
#define W_LOOP  4           /* went idle: look again */
#define W_IDLE  5           /* idle, nothing posted: sleep */
#define NOLATCH 255

/* ------------------------------------------------------------------ */
/* The futex                                                           */
/* ------------------------------------------------------------------ */

inline futex_wake_all(o) {
    i = 0;
    do
    :: i < NTH -> if :: sleep_on[i] == (o) + 1 -> sleep_on[i] = 0 :: else fi; i++
    :: else -> break
    od;
    i = 0
}

/* Blocked in futex::wait until woken (or, within the budget, spuriously). */
inline futex_sleep(me) {
    if
    :: sleep_on[me] == 0 -> skip
#if SPURIOUS > 0
    :: atomic { sleep_on[me] != 0 && spurious_left > 0 ->
           spurious_left--; sleep_on[me] = 0 }
#endif
    fi
}

/* ------------------------------------------------------------------ */
/* Events. The RMW and its futex wake are one step here (pool.pml keeps */
/* them apart for the idle event, where hazards 2 and 3 live), and so  */
/* are the CAS to WAITING and the futex enqueue.                       */
/* ------------------------------------------------------------------ */
#define EV_POOL(e) ((e) < NP -> (e) : (e) - NP)

inline ev_access(e) {
    if
    :: (e) < 2 * NP -> PA(EV_POOL(e))
    :: else -> assert(!wgone[(e) - 2 * NP])
    fi
}

/* Event::notify / Event::shutdown (fetch_max, then the futex wake) on an
 * event with at most one sleeper (a join or release event): the wake is
 * deterministic. */
inline event_wake(e, newv) {
    d_step {
        ev_access(e);
        acq = ev[e];
        if
        :: ev[e] < newv -> ev[e] = newv
        :: else
        fi;
        if
        :: newv == E_SHUT || acq == WAITING -> futex_wake_all(e)
        :: else
        fi;
        acq = 0
    }
}

#define event_notify(e)   event_wake(e, NOTIFIED)
#define event_shutdown(e) event_wake(e, E_SHUT)

/* Event::notify on a pool's idle event, whose sleepers are the pool's
 * idle workers: futex::wake_one wakes any one of them. */
#define WAKE_SLOT(t, o) :: sleep_on[t] == (o) + 1 -> sleep_on[t] = 0
inline event_notify_idle(p) {
    atomic {
        PA(p);
        acq = ev[EV_IDLE(p)];
        if
        :: ev[EV_IDLE(p)] < NOTIFIED -> ev[EV_IDLE(p)] = NOTIFIED
        :: else
        fi;
        if
        :: acq == WAITING ->
            if
            WAKE_SLOT(WBASE(p), EV_IDLE(p))
#if MAXT0 > 1 || MAXT1 > 1
            WAKE_SLOT(WBASE(p) + 1, EV_IDLE(p))
#endif
            :: else
            fi
        :: else
        fi;
        acq = 0
    }
}

inline event_wait(e, me) {
    acq = EMPTY;
    do
    :: d_step {
           ev_access(e);
           if
           :: ev[e] == E_SHUT -> ewd = true
           :: ev[e] == NOTIFIED -> ev[e] = acq; ewd = true
           :: ev[e] == WAITING || ev[e] == EMPTY ->
               ev[e] = WAITING; ewd = false; sleep_on[me] = (e) + 1
           fi
       }
       if
       :: ewd -> break
       :: else -> futex_sleep(me); acq = WAITING
       fi
    od;
    acq = 0; ewd = false
}

/* ------------------------------------------------------------------ */
/* Bell                                                                */
/* ------------------------------------------------------------------ */

/* Bell::ring: fence; if sleepers > 0 { epoch += 1; futex wake all }. The
 * bump and the wake are one step (the wake uses only the address). */
inline bell_ring(p) {
    d_step {
        PA(p);
        i = WBASE(p);
        do
        :: i < WBASE(p) + MAXT(p) ->
            if :: bell_in[i] -> rung[i] = true :: else fi; i++
        :: else -> break
        od;
        i = 0
    }
}

/* ------------------------------------------------------------------ */
/* Latch                                                               */
/* ------------------------------------------------------------------ */

/* Latch::set. From RINGING: SETTING, ring the recorded bell, store SET;
 * else SET, and wake the futex if the waiter slept (one waiter: the wake
 * is folded into the CAS). */
inline latch_set(L) {
    d_step {
        assert(!ldead[L]);
        lold = lst[L];
        assert(lold != L_SET && lold != L_SETTING);
        if
        :: lold == L_RINGING -> lst[L] = L_SETTING
        :: else ->
            lst[L] = L_SET;
            if
            :: lold == L_SLEEPING -> futex_wake_all(LOBJ(L))
            :: else
            fi
        fi
    }
    if
    :: lold == L_RINGING ->
#ifndef LATCH_NO_RING
        assert(!ldead[L]);              /* reads the recorded bell */
        bell_ring(lbell[L]);
#endif
        atomic { assert(!ldead[L]); lst[L] = L_SET }
    :: else
    fi;
    lold = 0
}

/* Latch::wait: SET returns; SETTING: spin (blocked until SET); otherwise
 * CAS to SLEEPING and futex::wait (one waiter: one step). */
inline latch_wait(L, me) {
    do
    :: lst[L] == L_SET -> break
    :: d_step {
           lst[L] == L_UNSET || lst[L] == L_RINGING || lst[L] == L_SLEEPING ->
           lst[L] = L_SLEEPING; sleep_on[me] = LOBJ(L) + 1
       }
       futex_sleep(me)
    od
}

/* Latch::announce(bell of pool p): leaves ok. */
inline latch_announce(L, p) {
    d_step {
        if
        :: lst[L] == L_UNSET -> lbell[L] = p; lst[L] = L_RINGING; ok = true
        :: else -> assert(lst[L] == L_SETTING || lst[L] == L_SET); ok = false
        fi
    }
}

/* ------------------------------------------------------------------ */
/* Queues and rings                                                    */
/* ------------------------------------------------------------------ */

/* The owner pushes task t at the back of ring r (never full here). */
inline ring_push(r, t) {
    if
    :: ring[(r) * 2] == 0 -> ring[(r) * 2] = t
    :: else -> assert(ring[(r) * 2 + 1] == 0); ring[(r) * 2 + 1] = t
    fi
}

/* Pop the front of ring r into tk (0 if empty). */
inline ring_pop(r) {
    tk = ring[(r) * 2];
    ring[(r) * 2] = ring[(r) * 2 + 1];
    ring[(r) * 2 + 1] = 0
}

inline gq_push(p, t) {
    assert(gqn[p] < GQCAP);
    gq[(p) * GQCAP + gqn[p]] = t;
    gqn[p]++
}

/* ------------------------------------------------------------------ */
/* Spawning and its failure                                            */
/* ------------------------------------------------------------------ */

inline wake_one_idle(p) {
    event_notify_idle(p);
    bell_ring(p)
}

inline release_all(p) {
    atomic { PA(p); first = reg_head[p]; reg_head[p] = 0 }
    if
    :: first != 0 -> event_notify(EV_REL(first - 1))
    :: else
    fi;
    first = 0
}

/* Pool::spawn_failed (src/scheduler/wake.rs): wake first while the count
 * is held, then give the count back. */
inline spawn_failed(p) {
    woke = false;
    do
    :: d_step {
           PA(p);
           assert(spawned[p] > 0);
           pre = (st[p] == SIGNALED && idle[p] > 0 && !woke);
           if
           :: pre -> skip
           :: else ->
               rem = spawned[p] - 1;
               oldst = st[p];
               ab = abandoned[p];
               spawned[p] = rem;
               if
               :: st[p] == SIGNALED && idle[p] > 0 -> skip
               :: (st[p] == SIGNALED && idle[p] == 0) || st[p] == PENDING ->
                   st[p] = PENDING;
                   if
                   :: rem == 0 -> notified[p] = false
                   :: else
                   fi
               :: else -> skip
               fi;
               assert(SYNC_INV(p))
           fi
       }
       if
       :: pre -> wake_one_idle(p); pre = false; woke = true
       :: else -> break
       fi
    od;
    if
    :: oldst == SHUTDOWN && rem == 0 ->
        if
        :: ab -> release_all(p)         /* the pool leaks */
        :: else -> event_notify(EV_JOIN(p))
        fi
    :: else
    fi;
    woke = false; oldst = 0; rem = 0; ab = false
}

/* The thread that drops an unrun WorkerThread. With the default spawn
 * (no HANDLER) that is the notifier itself, at once: it starts the
 * failer and blocks until the failer is done (fwait), which interleaves
 * exactly as if it ran spawn_failed inline. With a custom spawn handler,
 * any other thread, at any later time. */
bool fwait[NTH];
proctype failer(byte p; byte caller) {
    LOCALS;
    spawn_failed(p);
#ifdef HANDLER
    live--
#else
    fwait[caller] = false
#endif
}

#if SCEN == SC_OUTSIDE && defined(P_ALWAYS_FAIL)
#define ALWAYS_FAILS(p) true
#elif SCEN == SC_CROSS && defined(B_ALWAYS_FAIL)
#define ALWAYS_FAILS(p) ((p) == PB_)
#else
#define ALWAYS_FAILS(p) false
#endif

/* Pool::spawn_worker. */
inline spawn_worker(p) {
    if
    :: atomic { ALWAYS_FAILS(p) || fails_left[p] > 0 ->
           if :: fails_left[p] > 0 -> fails_left[p]-- :: else fi;
#ifdef HANDLER
           live++; run failer(p, me)
#else
           fwait[me] = true; run failer(p, me)
#endif
       }
#ifndef HANDLER
       !fwait[me]
#endif
    :: atomic {
           !ALWAYS_FAILS(p) ->
           PA(p);
           assert(nstarted[p] < MAXT(p));
           live++;
           run worker(WBASE(p) + nstarted[p], p);
           nstarted[p]++
       }
    fi
}

/* ------------------------------------------------------------------ */
/* notify, wait_idle (src/scheduler/wake.rs)                           */
/* ------------------------------------------------------------------ */

/* notify_slow(p, is_waking = nw); after shutdown it rings the bell (a
 * worker waiting inside a task may sleep there, in wait_after_shutdown) */
inline notify_slow(p) {
    /* a waking caller (nw) is Pool::hand_on(more): its look at the queues
     * is a hint taken without ordering, so either value */
    if
    :: nw -> if :: more = true :: more = false fi
    :: else
    fi;
    d_step {
        PA(p);
        action = A_NONE;
        if
        :: st[p] == SHUTDOWN ->
#ifndef OLD_NOTIFY_AFTER_SHUTDOWN
            action = A_RING
#else
            skip
#endif
        :: else ->
            if
            :: nw -> assert(st[p] == WAKING)
            :: else
            fi;
            canw = nw || st[p] == PENDING;
            if
            :: nw && !more && !notified[p] -> st[p] = PENDING   /* given up */
            :: else ->
            if
            :: canw && idle[p] > 0 ->
                notified[p] = true; st[p] = SIGNALED; action = A_WAKE
            :: else ->
                if
                :: canw && spawned[p] < MAXT(p) ->
                    notified[p] = true; st[p] = SIGNALED; spawned[p]++;
                    action = A_SPAWN
                :: else ->
                    if
                    :: nw -> notified[p] = true; st[p] = PENDING
                    :: else -> notified[p] = true
                    fi
                fi
            fi
            fi
        fi;
        if
        :: nw -> wakers[p]--; nw = false
        :: else
        fi;
        canw = false; more = false;
        assert(SYNC_INV(p))
    }
    if
    :: action == A_WAKE -> action = A_NONE; wake_one_idle(p)
    :: action == A_SPAWN -> action = A_NONE; spawn_worker(p)
    :: action == A_RING -> action = A_NONE; bell_ring(p)
    :: else
    fi
}

/* Pool::notify(p, nw): the fast path only reads the word; it returns on
 * `notified` unless the pool shut down (then `notified` stays set, and
 * the slow path rings the bell). */
inline notify(p) {
    if
    :: !nw ->
        atomic {
            PA(p);
#ifndef OLD_NOTIFY_AFTER_SHUTDOWN
            nf = notified[p] && st[p] != SHUTDOWN
#else
            nf = notified[p]
#endif
        }
    :: else -> nf = false
    fi;
    if
    :: nf -> nf = false
    :: else -> notify_slow(p)
    fi
}

/* Pool::wait_idle(p, W, until = L), by worker thread me. Leaves wres =
 * W_GO (W: now the waking thread), W_SHUT or W_LSET. W is the caller's
 * is_waking variable. L = NOLATCH: the run loop's wait (idle event). */
inline wait_idle(p, me, L, W) {
    is_idle = false;
    do
    :: d_step {
           PA(p);
           if
           :: st[p] == SHUTDOWN ->
               wres = W_SHUT;
               if
               :: W -> W = false; wakers[p]--   /* no longer matters */
               :: else
               fi
           :: else ->
               if
               :: W -> assert(st[p] == WAKING)
               :: else
               fi;
               if
               :: notified[p] ->                            /* consume */
                   notified[p] = false;
                   if
                   :: is_idle -> idle[p]--
                   :: else
                   fi;
                   if
                   :: st[p] == SIGNALED ->
                       st[p] = WAKING; assert(!W); W = true; wakers[p]++
                   :: else
                   fi;
                   wres = W_GO
               :: !notified[p] && !is_idle ->               /* go idle */
                   idle[p]++;
                   if
                   :: W -> st[p] = PENDING; W = false; wakers[p]--
                   :: else
                   fi;
                   is_idle = true;
                   wres = W_LOOP
               :: !notified[p] && is_idle -> wres = W_IDLE
               fi;
               assert(SYNC_INV(p))
           fi
       }
       if
       :: wres == W_LOOP -> skip
       :: wres == W_IDLE && L == NOLATCH -> event_wait(EV_IDLE(p), me)
       :: wres == W_IDLE && L != NOLATCH ->
           if
           :: lst[L] == L_SETTING || lst[L] == L_SET ->     /* is_setting */
               /* leave idle: a CAS that fails (then retries) if the word
                * changed; it only matters whether notified or Shutdown
                * came in meanwhile */
               d_step {
                   PA(p);
                   if
                   :: st[p] != SHUTDOWN && !notified[p] ->
                       assert(idle[p] > 0); idle[p]--; wres = W_LSET
                   :: else
                   fi
               }
           :: else ->
#ifndef BELL_NO_RECHECK
               atomic { PA(p); bell_in[me] = true; rung[me] = false }   /* prepare */
               atomic {                                     /* the condition */
                   PA(p);
                   bc = notified[p] || st[p] == SHUTDOWN ||
                        lst[L] == L_SETTING || lst[L] == L_SET
               }
#else
               atomic {                                     /* checked first */
                   PA(p);
                   bc = notified[p] || st[p] == SHUTDOWN ||
                        lst[L] == L_SETTING || lst[L] == L_SET
               }
               atomic { PA(p); bell_in[me] = true; rung[me] = false }   /* prepare */
#endif
               if
               :: bc -> atomic { PA(p); bell_in[me] = false; bc = false }   /* cancel */
               :: else ->
                   if                                       /* sleep(epoch) */
                   :: rung[me] -> skip
#if SPURIOUS > 0
                   :: atomic { !rung[me] && spurious_left > 0 -> spurious_left-- }
#endif
                   fi;
                   atomic { PA(p); bell_in[me] = false; rung[me] = false }
               fi
           fi
       :: else -> break                                     /* W_GO, W_SHUT */
       fi;
       if
       :: wres == W_LSET -> break
       :: else
       fi
    od;
    is_idle = false
}

/* ------------------------------------------------------------------ */
/* The search (LocalWorker::find_task), by the LocalWorker with ring rs */
/* of pool p (rs is also the registry slot of a worker). Leaves got, tk */
/* and pushed.                                                         */
/* ------------------------------------------------------------------ */
inline find_task(rs, p) {
    got = false; pushed = false; tk = 0;
    d_step {
        if
        :: ring[(rs) * 2] != 0 -> ring_pop(rs); got = true    /* own ring */
        :: else ->
            /* own ring empty (only the owner pushes to it): consume the
             * global queue: take its lock and its whole stack */
            PA(p);
            if
            :: !glock[p] && gqn[p] > 0 ->
                glock[p] = true; took = true; got = true;
                gqn[p]--; tk = gq[(p) * GQCAP + gqn[p]]; gq[(p) * GQCAP + gqn[p]] = 0;
                if
                :: gqn[p] > 0 ->
                    gqn[p]--; tk1 = gq[(p) * GQCAP + gqn[p]]; gq[(p) * GQCAP + gqn[p]] = 0
                :: else
                fi;
                if
                :: gqn[p] > 0 ->
                    gqn[p]--; tk2 = gq[(p) * GQCAP + gqn[p]]; gq[(p) * GQCAP + gqn[p]] = 0
                :: else
                fi
            :: else -> skip                                 /* empty or contended */
            fi
        fi
    }
    if
    :: took ->
        atomic {
            PA(p);
            /* publish the rest in the ring (the tail store); the
             * consumer may also take what was pushed meanwhile */
            if
            :: tk1 == 0 && gqn[p] > 0 ->
                gqn[p]--; tk1 = gq[(p) * GQCAP + gqn[p]]; gq[(p) * GQCAP + gqn[p]] = 0
            :: skip
            fi;
            if :: tk1 != 0 -> ring_push(rs, tk1); pushed = true :: else fi;
            if :: tk2 != 0 -> ring_push(rs, tk2) :: else fi;
            tk1 = 0; tk2 = 0
        }
        atomic { PA(p); glock[p] = false; took = false }
    :: else
    fi;
    if
    :: !got ->
        /* steal: visit `spawned` registered workers from the cursor */
        atomic { PA(p); visits = spawned[p] }
        do
        :: !got && visits > 0 ->
            visits--;
            d_step {
                if
                :: cursor[rs] == 0 -> PA(p); cursor[rs] = reg_head[p]
                :: else
                fi;
                if
                :: cursor[rs] == 0 -> v = NOPOOL; visits = 0   /* nobody registered */
                :: else ->
                    v = cursor[rs] - 1;
                    assert(!wgone[v]);
                    cursor[rs] = reg_next[v]
                fi
            }
            if
            :: v != NOPOOL && RS(v, 0) != (rs) ->             /* not ourselves */
                /* Buffer::steal: half, rounded up, of at most 2: the front
                 * one; one CAS on the victim's head */
                d_step {
                    assert(!wgone[v]);
                    if
                    :: ring[RS(v, 0) * 2] != 0 -> ring_pop(RS(v, 0)); got = true
                    :: else
                    fi
                }
            :: else
            fi;
            v = 0
        :: else -> visits = 0; break
        od
    :: else
    fi
}

/* Pool::schedule(p, t) by the current thread: into its own ring if its
 * current LocalWorker serves p (a worker or a guest of p), else into the
 * global queue (refused once closed); then notify. Leaves ok. */
inline schedule(p, t) {
    d_step {
        PA(p);
        if
        :: cur_pool == (p) -> ring_push(cur_ring, t); ok = true
        :: else ->
            if
            :: !gclosed[p] -> gq_push(p, t); ok = true
            :: else -> ok = false
            fi
        fi;
        if
        :: ok -> scheduled++; sched_p[p]++
        :: else
        fi
    }
    if
    :: ok -> nw = false; notify(p)
    :: else
    fi
}

/* ------------------------------------------------------------------ */
/* Shutdown, join, abandon (src/scheduler/lifecycle.rs)                */
/* ------------------------------------------------------------------ */

/* Pool::shut_down(abandon = abn): leaves chg (the word changed: Some)
 * and bsp (spawned before). */
inline shut_down(p, abn) {
    atomic { PA(p); gclosed[p] = true }
    d_step {
        PA(p);
        if
        :: st[p] == SHUTDOWN && (abandoned[p] || !abn) -> chg = false
        :: else ->
            chg = true; bst = st[p]; bsp = spawned[p];
            st[p] = SHUTDOWN; notified[p] = true; idle[p] = 0;
            if
            :: abn -> abandoned[p] = true
            :: else
            fi
        fi
    }
    if
    :: chg && bst != SHUTDOWN ->
        event_shutdown(EV_IDLE(p));
        bell_ring(p);
        if
        :: bsp == 0 && !abn -> event_notify(EV_JOIN(p))
        :: else
        fi
    :: else
    fi;
    bst = 0
}

inline free_pool(p) {
    d_step {
        assert(ran_p[p] == sched_p[p]);     /* every accepted task ran */
        freed[p] = true
    }
}

/* ------------------------------------------------------------------ */
/* Tasks and waiting, per nesting level                                */
/* ------------------------------------------------------------------ */

/* MAXLVL: the deepest nesting of wait_for that a scenario reaches (a task
 * run inside a wait_for that waits in turn is level 2). The levels that a
 * scenario cannot reach are left out: they would only make pan.c bigger. */
#if SCEN == SC_CROSS || (SCEN == SC_WAKE && FAILS > 0)
#define MAXLVL 2
#elif SCEN == SC_DROP
#define MAXLVL 0
#else
#define MAXLVL 1
#endif

#if MAXLVL >= 2
#define RT_NAME run_task_2
#define RT_T    t_2
#define RT_V    tv_2
#define RT_WL   wl_2
#define RT_WJ   wj_2
#define RT_WS   ws_2
#define RT_LVL  2
#include "run_task.pmh"
#undef RT_NAME
#undef RT_T
#undef RT_V
#undef RT_WL
#undef RT_WJ
#undef RT_WS
#undef RT_LVL

#define WF_NAME wait_for_2
#define WF_RUN  run_task_2
#define WF_LVL  2
#define WV(x)   x##_2
#include "wait_for.pmh"
#undef WF_NAME
#undef WF_RUN
#undef WF_LVL
#undef WV
#endif

#if MAXLVL >= 1
#define RT_NAME run_task_1
#define RT_T    t_1
#define RT_V    tv_1
#define RT_WL   wl_1
#define RT_WJ   wj_1
#define RT_WS   ws_1
#define RT_LVL  1
#define RT_WAIT wait_for_2
#include "run_task.pmh"
#undef RT_NAME
#undef RT_T
#undef RT_V
#undef RT_WL
#undef RT_WJ
#undef RT_WS
#undef RT_LVL
#undef RT_WAIT

#define WF_NAME wait_for_1
#define WF_RUN  run_task_1
#define WF_LVL  1
#define WV(x)   x##_1
#include "wait_for.pmh"
#undef WF_NAME
#undef WF_RUN
#undef WF_LVL
#undef WV
#endif

#define RT_NAME run_task_0
#define RT_T    t_0
#define RT_V    tv_0
#define RT_WL   wl_0
#define RT_WJ   wj_0
#define RT_WS   ws_0
#define RT_LVL  0
#define RT_WAIT wait_for_1
#include "run_task.pmh"
#undef RT_NAME
#undef RT_T
#undef RT_V
#undef RT_WL
#undef RT_WJ
#undef RT_WS
#undef RT_LVL
#undef RT_WAIT

/* worker::drain by the LocalWorker with ring rs of pool p (a worker after
 * shutdown, or the joiner's guest in run_leftovers). */
inline drain(rs, p, me) {
    do
    :: find_task(rs, p);
       if
       :: got -> got = false; pushed = false; run_task_0(me)
       :: else ->
           atomic { !glock[p] -> PA(p); last = (gqn[p] == 0) }   /* settled */
           if
           :: last -> last = false; break
           :: else
           fi
       fi
    od;
    assert(ring[(rs) * 2] == 0)
}

/* Pool::finish_join, by thread me (the joiner, or an abandoning thread). */
inline finish_join(p, me) {
    release_all(p);
    /* run_leftovers: a guest LocalWorker of p */
    cur_pool = p; cur_reg = false; cur_ring = RS(me, 1); cursor[RS(me, 1)] = 0;
    drain(RS(me, 1), p, me);
    cur_pool = NOPOOL; cur_reg = false; cur_ring = 0; cursor[RS(me, 1)] = 0;
    event_shutdown(EV_JOIN(p))
}

/* ThreadPool::drop from a thread that is no worker of p and runs none of
 * its hooks: shutdown, join_workers, free. */
inline drop_pool(p, me) {
    shut_down(p, false);
    chg = false; bsp = 0;
    event_wait(EV_JOIN(p), me);
    finish_join(p, me);
    free_pool(p)
}

/* ------------------------------------------------------------------ */
/* Threads                                                             */
/* ------------------------------------------------------------------ */

proctype worker(byte me; byte p) {
    LOCALS;

    cur_pool = p; cur_reg = true; cur_ring = RS(me, 0);
    atomic { PA(p); reg_next[me] = reg_head[p]; reg_head[p] = me + 1 }  /* register */

    /* run_loop, then (drn) drain; one call site of run_task_0 */
    isw0 = false; drn = false;
    do
    :: if
       :: !drn ->
           wait_idle(p, me, NOLATCH, isw0);
           if
           :: wres == W_SHUT -> drn = true
           :: else
           fi;
           wres = 0
       :: else
       fi;
       do
       :: find_task(RS(me, 0), p);
          if
          :: got ->
              got = false;
              if
              :: !drn && (pushed || isw0) ->
                  pushed = false; nw = isw0; isw0 = false; notify(p)
              :: else -> pushed = false
              fi;
              run_task_0(me)
          :: else -> break
          fi
       od;
       if
       :: drn ->
           /* drain: done once the global queue is settled empty (the
            * own ring was just seen empty, and only we push to it) */
           atomic { !glock[p] -> PA(p); last = (gqn[p] == 0) }
           if
           :: last -> last = false; break
           :: else
           fi
       :: else
       fi
    od;
    assert(ring[RS(me, 0) * 2] == 0);
    drn = false;
    cur_pool = NOPOOL; cur_reg = false;

    /* Pool::unregister: the last access to the pool, unless the last one
     * out of an abandoned pool */
    d_step {
        PA(p);
        assert(spawned[p] > 0);
        assert(st[p] == SHUTDOWN);
        last = (spawned[p] == 1);
        ab = abandoned[p];
        spawned[p]--
    }
    if
    :: last && ab -> release_all(p); free_pool(p)
    :: last && !ab -> event_notify(EV_JOIN(p))
    :: else
    fi;
    last = false; ab = false;

    /* Registry::await_release: only worker memory from here on */
    event_wait(EV_REL(me), me);
    nxt = reg_next[me];
    if
    :: nxt != 0 -> event_notify(EV_REL(nxt - 1))
    :: else
    fi;
    atomic { wgone[me] = true; live-- }
}

/* An outside thread schedules t into p's global queue (an outside join's
 * job, or a spawn). */
#define OUT_SCHEDULE(p, t) schedule(p, t)

active proctype main() {
    LOCALS;
    byte me = XT;
    byte dpool;
#if SCEN == SC_OUTSIDE
    i = 0;
    do
    :: i < NP -> fails_left[i] = FAILS; i++
    :: else -> i = 0; break
    od;
    /* X: P.join(..) from outside: the job goes to the global queue, then
     * wait_for(Some(P), latch) */
    OUT_SCHEDULE(0, T_J);
    assert(ok);
    wait_for_1(me, L_J, 0, true);
    ldead[L_J] = true;
    ydone;                                  /* the producer's borrow ended */
    drop_pool(0, me);
#endif
#if SCEN == SC_CROSS
    fails_left[PA_] = FAILS; fails_left[PB_] = FAILS;
#ifndef CROSS_DROP
    /* A.join(TA) from outside, then drop A and B */
    OUT_SCHEDULE(PA_, T_TA);
    assert(ok);
    wait_for_1(me, L_TA, PA_, true);
    ldead[L_TA] = true;
#else
    /* A.spawn(TA), then drop A at once */
    OUT_SCHEDULE(PA_, T_TA);
    assert(ok);
#endif
    /* drop A, then B (one call site) */
    dpool = PA_;
    do
    :: dpool < NP -> drop_pool(dpool, me); dpool++
    :: else -> break
    od;
#endif
#if SCEN == SC_WAKE
    fails_left[0] = FAILS;
    OUT_SCHEDULE(0, T_T0);
    assert(ok);
#ifndef WAKE_DROP
    wait_for_1(me, L_T0, 0, true);
    ldead[L_T0] = true;
#endif
    drop_pool(0, me);
#endif
#if SCEN == SC_DROP
    fails_left[0] = FAILS;
    OUT_SCHEDULE(0, T_U);
    assert(ok);
    OUT_SCHEDULE(0, T_T);
    assert(ok);
    atomic { refs--; last = (refs == 0) }
    if
    :: last -> last = false; drop_pool(0, me)
    :: else
    fi;
#endif
    live--
}

#if SCEN == SC_OUTSIDE
active proctype producer() {
    LOCALS;
    byte me = YT;
#ifdef PRODUCER
    /* Y: P.spawn(F) from outside */
    OUT_SCHEDULE(0, T_F);
#endif
    ydone = true;
    live--
}
#endif

/* ------------------------------------------------------------------ */
/* Liveness (weak fairness: pan -a -f)                                 */
/* ------------------------------------------------------------------ */
/* A latch is awaited and not set. SET is final and law[l] is cleared only
 * after SET, and each latch is awaited at most once, so "infinitely often
 * no latch is awaited and unset" is "every awaited latch is eventually
 * set" (one eventuality: Spin translates it fast). */
#if NL == 1
#define AWAITED_UNSET (law[0] && lst[0] != L_SET)
#elif NL == 2
#define AWAITED_UNSET ((law[0] && lst[0] != L_SET) || (law[1] && lst[1] != L_SET))
#else
#define AWAITED_UNSET ((law[0] && lst[0] != L_SET) || (law[1] && lst[1] != L_SET) || \
                       (law[2] && lst[2] != L_SET))
#endif

/* Select the formula with -DLTL_LATCHES, -DLTL_THREADS or -DLTL_TASKS
 * (one per verifier: pan checks one claim at a time). */
#ifdef LTL_LATCHES
/* every awaited latch is eventually set */
ltl latches { [] <> !AWAITED_UNSET }
#endif
#ifdef LTL_THREADS
/* every thread terminates */
ltl threads_end { <> (live == 0) }
#endif
#ifdef LTL_TASKS
/* every accepted task runs */
ltl tasks_run { <> [] (ran == scheduled) }
#endif
