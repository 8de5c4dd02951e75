#!/usr/bin/env python3
"""Generated weakenings: every memory ordering written in `src/` (outside the
`sync` facade), made one step weaker, one at a time, against the loom tests
of its component.

    python3 scripts/weaken.py --list            # the weakenings, nothing run
    python3 scripts/weaken.py --check           # docs/weakenings.md has a row
                                                # per weakening, each killed
                                                # or explained (fast: CI)
    python3 scripts/weaken.py [ID...]           # run (all, or these ids)
    python3 scripts/weaken.py --file buffer.rs  # run one file's weakenings
    python3 scripts/weaken.py --resume          # skip ids already in the
                                                # results file
    python3 scripts/weaken.py --report          # the results file against
                                                # docs/weakenings.md
    python3 scripts/weaken.py --update-table    # rewrite docs/weakenings.md:
                                                # killed rows from the
                                                # results, explained rows
                                                # kept, the rest SURVIVED

One step weaker, by the operation's role:

    load        SeqCst -> Acquire          Acquire -> Relaxed
    store       SeqCst -> Release          Release -> Relaxed
    RMW         SeqCst -> AcqRel           AcqRel -> Acquire, AcqRel -> Release
                Acquire -> Relaxed         Release -> Relaxed
    CAS         its success ordering as an RMW; its failure ordering as a load
    fence       SeqCst -> AcqRel           AcqRel -> Acquire, AcqRel -> Release
                Acquire, Release -> deleted

Each weakening is applied to a scratch copy under `target/weaken/`, the loom
test binary is rebuilt (release, `-C debug-assertions`, the CI bound
LOOM_MAX_PREEMPTIONS=2), and the loom test modules of the site's component
(the FILE_TESTS table below) run, each under a time limit
(WEAKEN_TIMEOUT seconds, 600 by default). A weakening is KILLED when a test
fails, TIMEOUT when one exceeds the limit (reported apart: not a kill), and
SURVIVED when all pass. Results go to `target/weaken/results.jsonl`, one
line per weakening, so that a long run can be resumed.

The whole run takes hours on two cores: it is the documented long run, not
part of `.ci/run`, which runs `--check` (every weakening has a row in
`docs/weakenings.md` whose verdict is `killed` with the killing tests, or
`explained` with the argument) and the hand-picked negative controls of
`scripts/mutants.sh`.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import atomic_sites  # noqa: E402  (the site scanner this script shares)
import mutants  # noqa: E402  (its scratch copy and its cargo runner)

ROOT = atomic_sites.ROOT
SRC = atomic_sites.SRC
WORK = os.path.join(ROOT, "target", "weaken")
COPY = os.path.join(WORK, "crate")
TARGET = os.path.join(WORK, "target")
RESULTS = os.path.join(WORK, "results.jsonl")
TABLE = os.path.join(ROOT, "docs", "weakenings.md")
TIMEOUT = int(os.environ.get("WEAKEN_TIMEOUT", "600"))

# The loom test modules that exercise each file's atomics.
FILE_TESTS = {
    "structures/event.rs": ["event", "lifecycle", "sync_word"],
    "structures/bell.rs": ["bell", "latch"],
    "structures/latch.rs": ["latch", "scope", "fork_join"],
    "structures/queue.rs": ["queue", "sync_word", "quiet"],
    "structures/buffer.rs": ["buffer"],
    "structures/join_deque.rs": ["join_deque", "fork_join"],
    "scheduler/wake.rs": ["sync_word", "lifecycle", "fork_join"],
    "scheduler/registry.rs": ["lifecycle", "sync_word"],
    "scheduler/spawn.rs": ["lifecycle"],
    "scheduler/mod.rs": ["lifecycle"],
    "scheduler/lifecycle.rs": ["lifecycle", "future"],
    "fork_join/scope.rs": ["scope"],
    "fork_join/handle.rs": ["fork_join", "future"],
    "fork_join/join.rs": ["fork_join"],
    "fork_join/future.rs": ["future"],
    "structures/quiet.rs": ["quiet"],
    "scheduler/broadcast.rs": ["lifecycle"],
    "thread_pool.rs": ["thread_pool", "lifecycle"],
}

LOAD_STEPS = {"SeqCst": ["Acquire"], "Acquire": ["Relaxed"]}
STORE_STEPS = {"SeqCst": ["Release"], "Release": ["Relaxed"]}
RMW_STEPS = {
    "SeqCst": ["AcqRel"],
    "AcqRel": ["Acquire", "Release"],
    "Acquire": ["Relaxed"],
    "Release": ["Relaxed"],
}
FENCE_STEPS = {
    "SeqCst": ["AcqRel"],
    "AcqRel": ["Acquire", "Release"],
    "Acquire": ["deleted"],
    "Release": ["deleted"],
}


def steps(op, arg):
    """The one-step weakenings of argument `arg` of operation `op`."""
    if op == "fence":
        return FENCE_STEPS
    if op in ("load", "sync.load"):
        return LOAD_STEPS
    if op == "store":
        return STORE_STEPS
    if op.startswith("compare_exchange"):
        return RMW_STEPS if arg == 0 else LOAD_STEPS
    return RMW_STEPS  # swap, fetch_*


def shipped_text(path):
    """The file's text with the unit tests cut and every comment blanked,
    offsets kept (so that a match's offsets are the original's)."""
    text = open(path).read()
    cut = re.split(r"\n#\[cfg\(all\(test", text)[0]
    return text, re.sub(r"//[^\n]*", lambda m: " " * len(m.group(0)), cut)


def weakenings():
    """Every weakening, in file order: dicts with an id, the site's key
    (file | function | operation), its occurrence number within the key,
    the argument, the change and where to make it."""
    out = []
    for path, rel in atomic_sites.shipped_files():
        original, text = shipped_text(path)
        enclosing = atomic_sites.enclosing_fn(text)

        found = []  # (pos, function, op label, [(arg, ordering, start, end)], whole span)
        for m in re.finditer(r"\bfence\s*\(\s*Ordering::(\w+)\s*\)", text):
            found.append((m.start(), enclosing(m.start()), "fence",
                          [(0, m.group(1), m.start(1), m.end(1))], (m.start(), m.end())))
        for m in atomic_sites.OP.finditer(text):
            args = atomic_sites.call_args(text, m.end() - 1)
            base = m.end() - 1
            orders = [(i, o.group(1), base + o.start(1), base + o.end(1))
                      for i, o in enumerate(atomic_sites.ORD.finditer(args))]
            if not orders:
                continue
            recv = atomic_sites.receiver(text, m.start())
            found.append((m.start(), enclosing(m.start()), f"{recv}.{m.group(1)}", orders, None))
        for m in re.finditer(r"sync_word\(\s*Ordering::(\w+)\s*\)", text):
            found.append((m.start(), enclosing(m.start()), "sync.load",
                          [(0, m.group(1), m.start(1), m.end(1))], None))
        found.sort()
        seen = {}
        for pos, func, op, orders, span in found:
            key = f"{rel} | {func} | {op}"
            seen[key] = seen.get(key, 0) + 1
            line = text.count("\n", 0, pos) + 1
            kind = op.split(".")[-1] if op != "sync.load" else op
            for arg, ordering, start, end in orders:
                for weaker in steps(kind, arg).get(ordering, []):
                    part = "" if len(orders) == 1 else ("success " if arg == 0 else "failure ")
                    change = f"{part}{ordering} -> {weaker}"
                    ident = f"{rel}:{func}:{op}#{seen[key]}:{part.strip() or 'ord'}:{ordering}->{weaker}"
                    if weaker == "deleted":
                        edit = (span[0], span[1], "()")
                    else:
                        edit = (start, end, weaker)
                    assert original[start:end] == ordering
                    out.append({
                        "id": ident, "file": rel, "function": func, "operation": op,
                        "occurrence": seen[key], "change": change, "line": line,
                        "edit": edit,
                    })
    return out


def table_rows():
    """docs/weakenings.md's rows: id -> (verdict, by)."""
    rows = {}
    if not os.path.exists(TABLE):
        return rows
    for line in open(TABLE):
        cells = atomic_sites.cells_of(line)
        if len(cells) >= 4 and cells[0].startswith("`") and ":" in cells[0]:
            rows[cells[0].strip("`")] = (cells[2], cells[3])
    return rows


TABLE_HEAD = """| weakening | change | verdict | killed by (loom tests), or why it is correct or caught elsewhere |
|---|---|---|---|
"""


def update_table():
    """Rewrites the table part of docs/weakenings.md (between the markers)
    from the results file: a KILLED weakening gets `killed` and its tests;
    one with an `explained` row keeps it; any other gets `SURVIVED`, which
    `--check` rejects until it is killed or explained."""
    rows = table_rows()
    results = load_results()
    text = open(TABLE).read() if os.path.exists(TABLE) else "<!-- table -->\n<!-- end -->\n"
    head, rest = text.split("<!-- table -->", 1)
    _, tail = rest.split("<!-- end -->", 1)
    lines = []
    current = None
    for w in weakenings():
        if w["file"] != current:
            current = w["file"]
            lines.append(f"\n### `{current}`\n\n" + TABLE_HEAD)
        r = results.get(w["id"])
        old = rows.get(w["id"])
        if r and r["verdict"] == "KILLED":
            tests = ", ".join(f"`{t}`" for t in r["tests"])
            verdict, by = "killed", tests
        elif old and old[0] == "explained":
            verdict, by = old
        else:
            verdict = r["verdict"] if r else "NOT RUN"
            by = old[1] if old else "—"
        lines.append(f"| `{w['id']}` | {w['change']} | {verdict} | {by} |\n")
    open(TABLE, "w").write(head + "<!-- table -->\n" + "".join(lines) + "\n<!-- end -->" + tail)
    return check()


def check():
    rows = table_rows()
    all_w = weakenings()
    ids = {w["id"] for w in all_w}
    bad = 0
    for w in all_w:
        row = rows.get(w["id"])
        if row is None:
            print(f"missing row: {w['id']} (line {w['line']})")
            bad += 1
            continue
        verdict, by = row
        if verdict not in ("killed", "explained"):
            print(f"verdict {verdict!r} (neither killed nor explained): {w['id']}")
            bad += 1
        elif not by or by in ("—", "-"):
            print(f"no killing test or argument: {w['id']}")
            bad += 1
    for ident in rows:
        if ident not in ids:
            print(f"row names no weakening: {ident}")
            bad += 1
    for rel in unlisted_files():
        print(f"no loom tests are listed for {rel}: add it to FILE_TESTS")
        bad += 1
    killed = sum(1 for w in all_w if rows.get(w["id"], ("",))[0] == "killed")
    explained = sum(1 for w in all_w if rows.get(w["id"], ("",))[0] == "explained")
    print(f"{len(all_w)} weakening(s): {killed} killed, {explained} explained, {bad} problem(s)")
    return 1 if bad else 0


def fresh_copy():
    mutants.fresh_copy(COPY)


def cargo(args, timeout):
    """The loom test binary in the scratch copy, built as
    scripts/mutants.sh builds it (incremental release, no debug info)."""
    return mutants.cargo("loom", args, timeout, copy=COPY, target=TARGET)


def unlisted_files():
    """The files with weakenings but no entry in FILE_TESTS."""
    return sorted({w["file"] for w in weakenings()} - set(FILE_TESTS))


def modules_of(rel):
    mods = FILE_TESTS[rel]
    present = set(os.path.splitext(f)[0] for f in os.listdir(os.path.join(COPY, "loom_tests")))
    return [m for m in mods if m in present]


def run_one(w):
    """Applies `w` to a fresh copy, rebuilds, runs its modules."""
    fresh_copy()
    path = os.path.join(COPY, "src", w["file"])
    text = open(path).read()
    start, end, new = w["edit"]
    open(path, "w").write(text[:start] + new + text[end:])
    code, secs, out = cargo(["--no-run"], None)
    if code != 0:
        return {"verdict": "BUILD-ERROR", "tests": [], "secs": secs, "detail": out[-2000:]}
    killed, timeouts, total = [], [], 0.0
    for mod in modules_of(w["file"]):
        code, secs, out = cargo(["--", f"{mod}::"], TIMEOUT)
        total += secs
        if code is None:
            timeouts.append(mod)
        elif code != 0:
            failed = re.findall(r"^    (\S+)$", out.split("failures:")[-1], re.M) if "failures:" in out else []
            # A test that aborts the process (a panic while panicking)
            # leaves no summary: name the threads that panicked.
            panicked = sorted(set(re.findall(r"^thread '(" + mod + r"::\w+)' \(\d+\) panicked", out, re.M)))
            killed.extend(failed or panicked or [mod])
    verdict = "KILLED" if killed else ("TIMEOUT" if timeouts else "SURVIVED")
    return {"verdict": verdict, "tests": killed or timeouts, "secs": round(total, 1)}


def load_results():
    results = {}
    if os.path.exists(RESULTS):
        for line in open(RESULTS):
            r = json.loads(line)
            results[r["id"]] = r
    return results


def report():
    rows = table_rows()
    results = load_results()
    by_file = {}
    mismatches = 0
    for w in weakenings():
        r = results.get(w["id"])
        verdict = r["verdict"] if r else "NOT RUN"
        expected = rows.get(w["id"], ("(no row)", ""))[0]
        agrees = (verdict == "KILLED" and expected == "killed") or \
                 (verdict != "KILLED" and expected == "explained")
        tally = by_file.setdefault(w["file"], {"killed": 0, "explained": 0, "survived": 0,
                                               "not run": 0})
        if verdict == "NOT RUN":
            tally["not run"] += 1
        elif verdict == "KILLED":
            tally["killed"] += 1
        elif expected == "explained":
            tally["explained"] += 1
        else:
            tally["survived"] += 1
        if verdict != "NOT RUN" and not agrees:
            mismatches += 1
            tests = ", ".join(r.get("tests", [])) if r else ""
            print(f"MISMATCH  {w['id']}: run {verdict} {tests}; table {expected}")
    print()
    print(f"{'file':28} {'killed':>7} {'explained':>10} {'survived':>9} {'not run':>8}")
    totals = {"killed": 0, "explained": 0, "survived": 0, "not run": 0}
    for f, t in by_file.items():
        print(f"{f:28} {t['killed']:7} {t['explained']:10} {t['survived']:9} {t['not run']:8}")
        for k in totals:
            totals[k] += t[k]
    print(f"{'total':28} {totals['killed']:7} {totals['explained']:10} {totals['survived']:9} "
          f"{totals['not run']:8}")
    print(f"{mismatches} mismatch(es) with {os.path.relpath(TABLE, ROOT)}")
    return 1 if mismatches or totals["survived"] else 0


def main(argv):
    if "--list" in argv:
        for w in weakenings():
            print(f"{w['id']:80} line {w['line']:4}  {w['change']}")
        return 0
    if "--check" in argv:
        return check()
    if "--report" in argv:
        return report()
    if "--update-table" in argv:
        return update_table()
    wanted = [a for a in argv if not a.startswith("-")]
    files = []
    if "--file" in argv:
        i = argv.index("--file")
        files = [argv[i + 1]]
        wanted = [a for a in wanted if a != argv[i + 1]]
    selected = [w for w in weakenings()
                if (not wanted or w["id"] in wanted)
                and (not files or any(w["file"].endswith(f) for f in files))]
    if unlisted_files():
        sys.exit(f"no loom tests are listed for {', '.join(unlisted_files())}: add them to FILE_TESTS")
    done = load_results() if "--resume" in argv else {}
    os.makedirs(WORK, exist_ok=True)
    if "--resume" not in argv and not wanted and not files and os.path.exists(RESULTS):
        os.remove(RESULTS)
    fresh_copy()
    code, secs, out = cargo(["--", "--list"], None)
    if code != 0:
        print(out[-4000:])
        print("the unmutated loom tests do not build", file=sys.stderr)
        return 1
    for w in selected:
        if w["id"] in done:
            continue
        r = run_one(w)
        r.update({"id": w["id"], "change": w["change"], "line": w["line"]})
        with open(RESULTS, "a") as f:
            f.write(json.dumps(r) + "\n")
        tests = ", ".join(r["tests"])
        print(f"{r['verdict']:12} {w['id']:80} {tests} ({r['secs']}s)", flush=True)
    fresh_copy()
    return report()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
