#!/usr/bin/env bash
# Spin model check of the pool's coordination protocol and of waiting: the
# models are docs/liveness/pool.pml (one pool: notify, wait, shutdown, join,
# spawn failure) and docs/liveness/waiting.pml (with wait_for.pmh and
# run_task.pmh: join, scope and their waiters, several pools, dropping a
# pool from its own task); the note that explains them is docs/liveness.md.
#
#   scripts/spin.sh              the CI set (~2-3 minutes on 2 idle cores)
#   scripts/spin.sh --full       also the larger configurations, the remaining
#                                properties and the shortest counterexamples
#                                (see docs/liveness.md; up to ~7 GB of memory)
#   scripts/spin.sh --only M     only the checks of model M: pool or waiting
#   scripts/spin.sh -j N         run N checks at a time (default: 2, or 1 on one core)
#   scripts/spin.sh --keep DIR   keep each check's pan sources, output and trail in DIR;
#                                replay a counterexample with
#                                (cd DIR/ID && spin -t -p $(cat defines) $(cat model))
#
# Each check builds a verifier with `spin -a`, compiles it with gcc and runs
# it, and prints one row of the results table: configuration, property,
# expected and actual result, states stored, search time, and the length of
# the counterexample (`spin -t`) when there is one. Exit status 0 only if
# every configuration of the port passes and every hazard switch (the
# original's logic, or the old waiting) yields the counterexample expected
# of it.
#
# Installs Spin with apt-get (Debian package `spin`) if `spin` is absent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
models="$root/docs/liveness"

full=0
only=""
keep=""
jobs=2
if [[ $(nproc 2>/dev/null || echo 1) -lt 2 ]]; then
    jobs=1
fi
while [[ $# -gt 0 ]]; do
    case "$1" in
        --full) full=1 ;;
        --keep) keep="$2"; shift ;;
        --only) only="$2"; shift ;;
        -j) jobs="$2"; shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "spin.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

if ! command -v spin >/dev/null 2>&1; then
    echo "spin.sh: spin not found; installing the Debian package 'spin'"
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update && apt-get install -y spin
    elif command -v sudo >/dev/null 2>&1; then
        sudo apt-get update && sudo apt-get install -y spin
    else
        echo "spin.sh: cannot install spin (not root, no sudo)" >&2
        exit 1
    fi
fi
if ! command -v gcc >/dev/null 2>&1; then
    echo "spin.sh: gcc is needed to compile the verifiers" >&2
    exit 1
fi
spin -V

if [[ -n "$keep" ]]; then
    mkdir -p "$keep"
    work=$(cd "$keep" && pwd)
else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi

# ---------------------------------------------------------------------------
# One check: run_check ID CONFIGURATION PROPERTY EXPECT DEFINES MODEL
#   MODEL:    pool (pool.pml, pan compiled with -O2) or waiting (waiting.pml
#             and its .pmh files; -O0, since its pan.c is large and its
#             state spaces small: gcc -O2 would take longer than the search)
#   PROPERTY: safety      assertions and invalid end states
#             safety-idle assertions only, as a worker asleep on the idle
#                         event is a valid end when nobody shuts down
#             safety-bfs  as safety, breadth-first: the shortest counterexample
#             ltl:NAME    the model's LTL formula NAME, weak fairness (-a -f)
#             no-cycle    non-progress cycles (-l); the model has no progress
#                         labels, so any reachable cycle is reported
#             (waiting.pml: the formula is selected with -DLTL_<NAME>)
#   EXPECT:   pass, or the start of pan's error line for a violation
# ---------------------------------------------------------------------------
run_check() {
    local id="$1" config="$2" prop="$3" expect="$4" defines="$5" kind="${6:-pool}"
    local dir="$work/$id"
    mkdir -p "$dir"
    rm -f "$dir/result.tsv"
    (
        cd "$dir"
        local file opt
        if [[ "$kind" == waiting ]]; then
            file=waiting.pml; opt=-O0
            cp "$models/waiting.pml" "$models"/*.pmh .
        else
            file=pool.pml; opt=-O2
            cp "$models/pool.pml" .
        fi
        local cc run
        case "$prop" in
            safety) cc="-DSAFETY -DNOCLAIM"; run="" ;;
            safety-idle) cc="-DSAFETY -DNOCLAIM"; run="-E" ;;
            safety-bfs) cc="-DSAFETY -DNOCLAIM -DBFS"; run="" ;;
            ltl:*)
                cc=""
                if [[ "$kind" == waiting ]]; then
                    run="-a -f"
                    case "${prop#ltl:}" in
                        latches) defines="$defines -DLTL_LATCHES" ;;
                        threads_end) defines="$defines -DLTL_THREADS" ;;
                        tasks_run) defines="$defines -DLTL_TASKS" ;;
                        *) echo "unknown formula $prop" >&2; exit 1 ;;
                    esac
                else
                    run="-a -f -A -N ${prop#ltl:}"
                fi ;;
            no-cycle) cc="-DNP"; run="-l -A" ;;
            *) echo "unknown property $prop" >&2; exit 1 ;;
        esac
        echo "$defines" >defines
        echo "$file" >model
        # shellcheck disable=SC2086
        spin -a $defines $file >spin.out 2>&1
        # shellcheck disable=SC2086
        gcc $opt -w -DCOLLAPSE $cc -o pan pan.c >gcc.out 2>&1
        # shellcheck disable=SC2086
        ./pan -m1000000 $run >pan.out 2>&1 || true

        local errors states secs line result trail ok
        errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.out | head -1)
        states=$(awk '/states, stored/ { printf "%d", $1; exit }' pan.out)
        secs=$(sed -n 's/^pan: elapsed time \([0-9.e+-]*\).*/\1/p' pan.out | head -1)
        line=$(sed -n 's/^pan:1: \(.*\) (at depth [0-9]*)$/\1/p' pan.out | head -1)
        trail="-"
        if [[ -z "$errors" ]]; then
            result="ERROR (pan did not finish)"
        elif grep -q "max search depth too small" pan.out; then
            result="ERROR (depth limit)"
        elif [[ "$errors" -eq 0 ]]; then
            result="pass"
        else
            result="violation: ${line:-?}"
            # shellcheck disable=SC2086
            trail=$(spin -t $defines $file 2>&1 | sed -n 's/^spin: trail ends after \([0-9]*\) steps.*/\1/p' | head -1)
            trail=${trail:--}
        fi
        if [[ "$expect" == "pass" ]]; then
            [[ "$result" == "pass" ]] && ok=ok || ok=FAIL
        else
            [[ "$result" == "violation: $expect"* ]] && ok=ok || ok=FAIL
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
            "$config" "$prop" "$expect" "$result" "${states:--}" "${secs:--}" "$trail" "$ok" >result.tsv
    ) || printf '%s\t%s\t%s\t%s\t-\t-\t-\tFAIL\n' "$config" "$prop" "$expect" "ERROR (build)" >"$dir/result.tsv"
}

checks=()
add() { [[ -z "$only" || "$only" == pool ]] && checks+=("$1|$2|$3|$4|$5|pool") || true; }
addw() { [[ -z "$only" || "$only" == waiting ]] && checks+=("$1|waiting: $2|$3|$4|$5|waiting") || true; }

NOSHUT="-DDO_SHUTDOWN=0"
H_INV="invalid end state"
H_UAF="assertion violated  !(freed)"
H_CYC="acceptance cycle"

# The port, 2 workers, 2 tasks + 1 child, 1 spawn failure, 1 spurious wake-up.
# The liveness of shutdown and join (`joins`, and no cycle), 11 and 23
# million states, about 100 s each, run with --full; in the CI set, the
# safety run of the same configuration finds every deadlock.
if [[ $full -eq 1 ]]; then
    add p-shut-ltl "port, shutdown" ltl:joins pass ""
    add p-shut-cycle "port, shutdown" no-cycle pass ""
fi
add p-run-safety "port, no shutdown" safety-idle pass "$NOSHUT"
add p-run-ltl "port, no shutdown" ltl:tasks_run pass "$NOSHUT"
add p-run-cycle "port, no shutdown" no-cycle pass "$NOSHUT"
add p-shut-safety "port, shutdown" safety pass ""
add p-sync-safety "port, shutdown, sync spawn failure" safety pass "-DSYNC_FAIL"
# The finding (docs/liveness.md): spawn_failed's old order, waking the idle
# event after giving its count back, must still yield the use after free.
add old-wake-safety "old spawn_failed wake order (the finding)" safety "$H_UAF" "-DOLD_SPAWN_FAILED_WAKE"
# The original's logic, one hazard at a time, on the port with synchronous
# spawn failures (which passes): each must yield its counterexample.
add h2-safety "hazard 2: Event swap" safety "$H_INV" "-DSYNC_FAIL -DORIG_EVENT_SWAP"
add h3-safety "hazard 3: shutdown wakes if WAITING" safety "$H_INV" "-DSYNC_FAIL -DORIG_SHUTDOWN_WAKE"
add h4-ltl "hazard 4: spawn failure keeps signal" ltl:tasks_run "$H_CYC" "$NOSHUT -DORIG_SPAWN_FAIL"
add h5-safety "hazard 5: join fast path" safety "$H_UAF" "-DSYNC_FAIL -DORIG_JOIN_FAST"

# Waiting (waiting.pml), one scenario at a time (docs/liveness.md, "Waiting").
W_OUT="-DSCEN=1"; W_CROSS="-DSCEN=2"; W_WAKE="-DSCEN=3"; W_DROP="-DSCEN=4"
# The new design: every property holds.
addw w2-safety "cross-pool join, A and B of 1 thread" safety pass "$W_CROSS"
addw w2-threads "cross-pool join, A and B of 1 thread" ltl:threads_end pass "$W_CROSS"
addw w3-safety "worker waits in a scope, 2 threads" safety pass "$W_WAKE"
addw w3-latches "worker waits in a scope, 2 threads" ltl:latches pass "$W_WAKE"
addw w4-safety "pool dropped from its task or by main, 2 threads" safety pass "$W_DROP"
addw w1-safety "outside join, 1 thread, 1 transient spawn failure" safety pass "$W_OUT"
addw w1-latches "outside join, 1 thread, 1 transient spawn failure" ltl:latches pass "$W_OUT"
addw w1-threads "outside join, 1 thread, 1 transient spawn failure" ltl:threads_end pass "$W_OUT"
addw w1-tasks "outside join, 1 thread, 1 transient spawn failure" ltl:tasks_run pass "$W_OUT"
addw w1p-safety "outside join, every spawn fails" safety pass "$W_OUT -DP_ALWAYS_FAIL"
addw w1h-safety "outside join + outside spawn, spawn handler, 1 failure" safety pass "$W_OUT -DHANDLER -DPRODUCER"
# Findings (docs/liveness.md, "Findings"): configurations that failed on
# the first version of the new design and pass since the code was fixed.
addw f1-safety "outside join + outside spawn, default spawn, 1 failure" safety pass "$W_OUT -DPRODUCER"
addw f2-safety "cross-pool join, every spawn of B fails" safety pass "$W_CROSS -DB_ALWAYS_FAIL"
addw f3-safety "cross-pool, A dropped while TA waits" safety pass "$W_CROSS -DCROSS_DROP"
# The old behaviours, and the bell's lost wake-up class: each must yield
# its counterexample.
addw o1-safety "OLD_OUTSIDE_WAIT" safety "$H_INV" "$W_OUT -DOLD_OUTSIDE_WAIT"
addw o2-safety "OLD_CROSS_POOL" safety "$H_INV" "$W_CROSS -DOLD_CROSS_POOL"
addw o3-safety "OLD_WAIT_ON_LATCH" safety "$H_INV" "$W_WAKE -DOLD_WAIT_ON_LATCH"
addw o4-safety "OLD_DROP_FROM_TASK" safety "$H_INV" "$W_DROP -DOLD_DROP_FROM_TASK"
# The findings' old code, on the configuration that found each: each must
# yield its counterexample again.
addw f1o-safety "OLD_WILL_REGISTER (F1)" safety "$H_INV" "$W_OUT -DPRODUCER -DOLD_WILL_REGISTER"
addw f2o-safety "OLD_GUEST_HELP (F2)" safety "$H_INV" "$W_CROSS -DB_ALWAYS_FAIL -DOLD_GUEST_HELP"
addw f3o-safety "OLD_SHUTDOWN_BLOCK (F3)" safety "$H_INV" "$W_CROSS -DCROSS_DROP -DOLD_SHUTDOWN_BLOCK"
addw b1-safety "LATCH_NO_RING" safety "$H_INV" "$W_CROSS -DLATCH_NO_RING"
addw b2-safety "BELL_NO_RECHECK" safety "$H_INV" "$W_CROSS -DBELL_NO_RECHECK"

if [[ $full -eq 1 ]]; then
    BIG_RUN="$NOSHUT -DTASKS=3 -DFAILS=2 -DSPURIOUS=2"
    add p-run3-safety "port, no shutdown, 3 tasks, 2 failures, 2 spurious" safety-idle pass "$BIG_RUN"
    add p-run3-ltl "port, no shutdown, 3 tasks, 2 failures, 2 spurious" ltl:tasks_run pass "$BIG_RUN"
    add p-run3-cycle "port, no shutdown, 3 tasks, 2 failures, 2 spurious" no-cycle pass "$BIG_RUN"
    BIG_SHUT="-DSYNC_FAIL -DTASKS=3"
    add p-shut3-safety "port, shutdown, sync spawn failure, 3 tasks" safety pass "$BIG_SHUT"
    add p-shut3-ltl "port, shutdown, sync spawn failure, 3 tasks" ltl:joins pass "$BIG_SHUT"
    N3_RUN="$NOSHUT -DN=3 -DCHILDREN=0"
    add p-n3run-safety "port, N=3, no shutdown, no children" safety-idle pass "$N3_RUN"
    add p-n3run-ltl "port, N=3, no shutdown, no children" ltl:tasks_run pass "$N3_RUN"
    add p-n3run-cycle "port, N=3, no shutdown, no children" no-cycle pass "$N3_RUN"
    N3_SHUT="-DN=3 -DCHILDREN=0 -DFAILS=0 -DSPURIOUS=0 -DLATE_SHUTDOWN"
    add p-n3shut-safety "port, N=3, shutdown after producer, no children/failures/spurious" safety pass "$N3_SHUT"
    add p-n3shut-ltl "port, N=3, shutdown after producer, no children/failures/spurious" ltl:joins pass "$N3_SHUT"
    # Shortest counterexamples, and the hazards' liveness counterexamples.
    add h2-bfs "hazard 2: Event swap" safety-bfs "$H_INV" "-DSYNC_FAIL -DORIG_EVENT_SWAP"
    add h3-bfs "hazard 3: shutdown wakes if WAITING" safety-bfs "$H_INV" "-DSYNC_FAIL -DORIG_SHUTDOWN_WAKE"
    add h5-bfs "hazard 5: join fast path" safety-bfs "$H_UAF" "-DSYNC_FAIL -DORIG_JOIN_FAST"
    add h2-ltl "hazard 2: Event swap" ltl:joins "$H_CYC" "-DSYNC_FAIL -DORIG_EVENT_SWAP"
    add h3-ltl "hazard 3: shutdown wakes if WAITING" ltl:joins "$H_CYC" "-DSYNC_FAIL -DORIG_SHUTDOWN_WAKE"
    add p-shut-bfs "port, shutdown" safety-bfs pass ""
    # Waiting: the remaining properties, more failures, spurious wake-ups,
    # the old behaviours' liveness counterexamples and the shortest ones.
    addw w1-safety2 "outside join, 2 threads, 2 transient spawn failures" safety pass "$W_OUT -DMAXT0=2 -DFAILS=2"
    addw w1h-threads "outside join + outside spawn, spawn handler, 1 failure" ltl:threads_end pass "$W_OUT -DHANDLER -DPRODUCER"
    addw w1p-threads "outside join, every spawn fails" ltl:threads_end pass "$W_OUT -DP_ALWAYS_FAIL"
    addw w2-latches "cross-pool join, A and B of 1 thread" ltl:latches pass "$W_CROSS"
    addw w2-tasks "cross-pool join, A and B of 1 thread" ltl:tasks_run pass "$W_CROSS"
    addw w2s-safety "cross-pool join, 1 spurious wake-up" safety pass "$W_CROSS -DSPURIOUS=1"
    addw w3-threads "worker waits in a scope, 2 threads" ltl:threads_end pass "$W_WAKE"
    addw w3-tasks "worker waits in a scope, 2 threads" ltl:tasks_run pass "$W_WAKE"
    addw w3s-safety "worker waits in a scope, 1 spurious wake-up" safety pass "$W_WAKE -DSPURIOUS=1"
    addw w4-threads "pool dropped from its task or by main, 2 threads" ltl:threads_end pass "$W_DROP"
    addw w4-tasks "pool dropped from its task or by main, 2 threads" ltl:tasks_run pass "$W_DROP"
    addw w4h-safety "pool dropped, spawn handler, 1 failure" safety pass "$W_DROP -DHANDLER -DFAILS=1"
    addw o1p-safety "OLD_OUTSIDE_WAIT, every spawn fails" safety "$H_INV" "$W_OUT -DOLD_OUTSIDE_WAIT -DP_ALWAYS_FAIL"
    addw o1-threads "OLD_OUTSIDE_WAIT" ltl:threads_end "$H_CYC" "$W_OUT -DOLD_OUTSIDE_WAIT"
    addw o2-latches "OLD_CROSS_POOL" ltl:latches "$H_CYC" "$W_CROSS -DOLD_CROSS_POOL"
    addw o3-threads "OLD_WAIT_ON_LATCH" ltl:threads_end "$H_CYC" "$W_WAKE -DOLD_WAIT_ON_LATCH"
    addw o4-threads "OLD_DROP_FROM_TASK" ltl:threads_end "$H_CYC" "$W_DROP -DOLD_DROP_FROM_TASK"
    addw o1-bfs "OLD_OUTSIDE_WAIT" safety-bfs "$H_INV" "$W_OUT -DOLD_OUTSIDE_WAIT"
    addw o2-bfs "OLD_CROSS_POOL" safety-bfs "$H_INV" "$W_CROSS -DOLD_CROSS_POOL"
    addw o3-bfs "OLD_WAIT_ON_LATCH" safety-bfs "$H_INV" "$W_WAKE -DOLD_WAIT_ON_LATCH"
    addw o4-bfs "OLD_DROP_FROM_TASK" safety-bfs "$H_INV" "$W_DROP -DOLD_DROP_FROM_TASK"
    addw b1-bfs "LATCH_NO_RING" safety-bfs "$H_INV" "$W_CROSS -DLATCH_NO_RING"
    addw b2-bfs "BELL_NO_RECHECK" safety-bfs "$H_INV" "$W_CROSS -DBELL_NO_RECHECK"
    # The findings' configurations, fixed: their liveness; and the old
    # code's shortest counterexamples.
    addw f1-threads "outside join + outside spawn, default spawn, 1 failure" ltl:threads_end pass "$W_OUT -DPRODUCER"
    addw f1p-safety "outside join + outside spawn, every default spawn fails" safety pass "$W_OUT -DPRODUCER -DP_ALWAYS_FAIL"
    addw f3-threads "cross-pool, A dropped while TA waits" ltl:threads_end pass "$W_CROSS -DCROSS_DROP"
    # Step 3 of wait_for (spin while awaited tasks are queued) is there for
    # latency: without it, every waiting scenario still passes.
    addw n3-safety "no all_started spin, worker waits in a scope" safety pass "$W_WAKE -DNO_ALLST_SPIN"
    addw n3-threads "no all_started spin, worker waits in a scope" ltl:threads_end pass "$W_WAKE -DNO_ALLST_SPIN"
    addw n2-safety "no all_started spin, cross-pool join" safety pass "$W_CROSS -DNO_ALLST_SPIN"
    addw f1o-bfs "OLD_WILL_REGISTER (F1)" safety-bfs "$H_INV" "$W_OUT -DPRODUCER -DOLD_WILL_REGISTER"
    addw f2o-bfs "OLD_GUEST_HELP (F2)" safety-bfs "$H_INV" "$W_CROSS -DB_ALWAYS_FAIL -DOLD_GUEST_HELP"
    addw f3o-bfs "OLD_SHUTDOWN_BLOCK (F3)" safety-bfs "$H_INV" "$W_CROSS -DCROSS_DROP -DOLD_SHUTDOWN_BLOCK"
    addw f1-bfs "outside join + outside spawn, default spawn, 1 failure" safety-bfs pass "$W_OUT -DPRODUCER"
    addw f2-bfs "cross-pool join, every spawn of B fails" safety-bfs pass "$W_CROSS -DB_ALWAYS_FAIL"
    addw f3-bfs "cross-pool, A dropped while TA waits" safety-bfs pass "$W_CROSS -DCROSS_DROP"
fi

started=$(date +%s)
echo "spin.sh: ${#checks[@]} checks, $jobs at a time, in $work"
for c in "${checks[@]}"; do
    IFS='|' read -r id config prop expect defines kind <<<"$c"
    while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do
        wait -n || true
    done
    run_check "$id" "$config" "$prop" "$expect" "$defines" "$kind" &
done
wait || true
total=$(($(date +%s) - started))

echo
printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' \
    configuration property expected result "states stored" "time (s)" "trail (steps)" check
echo '|---|---|---|---|---:|---:|---:|---|'
failed=0
for c in "${checks[@]}"; do
    IFS='|' read -r id _ _ _ _ _ <<<"$c"
    if [[ -f "$work/$id/result.tsv" ]]; then
        IFS=$'\t' read -r config prop expect result states secs trail ok <"$work/$id/result.tsv"
    else
        IFS='|' read -r _ config prop expect _ _ <<<"$c"
        result="ERROR (no result)"; states=-; secs=-; trail=-; ok=FAIL
    fi
    [[ "$expect" != pass ]] && expect="violation"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$config" "$prop" "$expect" "$result" "$states" "$secs" "$trail" "$ok"
    [[ "$ok" == ok ]] || failed=$((failed + 1))
done
echo
printf 'spin.sh: %d checks in %dm%02ds' "${#checks[@]}" $((total / 60)) $((total % 60))
if [[ $failed -eq 0 ]]; then
    echo ": all as expected"
else
    echo ": $failed NOT as expected" >&2
    [[ -n "$keep" ]] || echo "spin.sh: rerun with --keep DIR to inspect the outputs and trails" >&2
    exit 1
fi
