#!/usr/bin/env python3
"""The checker's own test suite. Exit status non-zero on any failure.

    python3 tools/memmodel/test_memmodel.py            # everything (a few seconds)
    python3 tools/memmodel/test_memmodel.py --fuzz 500 # more random programs

1. The validation table: every classic test has its published verdict under
   both formulations (the C++20 text and the RC11 axioms).
2. Cross-checks on every validation test and pool pattern: the two
   formulations give the same set of outcomes (except on rows that expect
   the one known difference, the LWG 3941 shape, where the difference must
   be exactly that one); every outcome of a plain
   sequentially consistent interleaving is allowed; programs whose accesses
   and fences are all SeqCst have exactly the interleaving outcomes
   (C++20's SC guarantee for them); no test is vacuous (some candidate
   execution has the outcome, so "forbidden" is the axioms' doing), except
   the two thin-air rows, which must be vacuous (forbidden by the value
   domain).
3. Negative controls: switching off any one axiom changes the verdict of
   at least one row (under each formulation), so the table exercises it.
4. Random programs: the same cross-checks as 2 on small random programs
   (differences of the LWG 3941 shape are reported, any other fails).
5. Parser, text format and a few semantic details.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from check import print_validation, run, verdict  # noqa: E402
from litmus_tests import TESTS  # noqa: E402
from memmodel import (SC, Litmus, candidate_satisfies, check, outcomes,  # noqa: E402
                      parse_litmus_file, parse_op, sc_outcomes, value_domains)
from pool_patterns import PATTERNS  # noqa: E402

THIN_AIR = {"LB+datas", "LB+ctrls"}
ABLATIONS = ["sw", "fence-sw", "rs-rmw", "coherence", "atomicity", "sc"]

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def all_sc(t: Litmus) -> bool:
    return all(op.order == SC and (op.kind != "rmw" or op.order_fail == SC)
               for th in t.threads for op in th)


explained = []


def cross_check(t: Litmus, label: str, may_differ: bool = False):
    """`may_differ`: the formulations may disagree, but only where the C++20
    text is stronger because p3's coherence-ordered-before is transitive
    (the LWG 3941 shape): replacing it by one rf/mo/rb step in p4.1-p4.3
    (the diagnostic "cob-step") must give exactly RC11's outcomes."""
    a, b = outcomes(t, "cpp20"), outcomes(t, "rc11")
    s = sc_outcomes(t)
    if a != b:
        step = outcomes(t, "cpp20", {"cob-step"})
        if may_differ and a <= b and step == b:
            explained.append(label)
        else:
            fail(f"{label}: formulations disagree: C++20 text only {sorted(a - b)}, "
                 f"RC11 only {sorted(b - a)}")
    if not t.nta and not s <= a:
        fail(f"{label}: SC outcomes not allowed: {sorted(s - a)}")
    if all_sc(t) and a != s:
        fail(f"{label}: all-SeqCst program with non-SC outcomes {sorted(a - s)}")
    return len(a)


def test_validation_table():
    print("== 1. validation table\n")
    rows = run(TESTS)
    print_validation(rows)
    for t, res, ok in rows:
        if not ok:
            fail(f"{t.name}: expected {t.expect} / {t.expect_rc11}, C++20 text "
                 f"{verdict(res['cpp20'].allowed)}, RC11 form {verdict(res['rc11'].allowed)}")
    print()


def test_cross_checks():
    print("== 2. cross-checks (outcome sets, SC reference, vacuity)")
    n = 0
    for t in TESTS + PATTERNS:
        n += cross_check(t, t.name, may_differ=t.expect_rc11 != t.expect)
        vac = not candidate_satisfies(t)
        if t.name in THIN_AIR:
            if not vac:
                fail(f"{t.name}: expected the outcome to be outside the value domain")
        elif vac:
            fail(f"{t.name}: vacuous: no candidate execution has the outcome")
    print(f"   {len(TESTS) + len(PATTERNS)} tests, {n} outcomes compared\n")


def test_ablations():
    print("== 3. negative controls: each axiom switched off flips some row")
    for a in ABLATIONS:
        for form in ("cpp20", "rc11"):
            flipped = [t.name for t in TESTS
                       if verdict(check(t, form, {a}).allowed)
                       != (t.expect if form == "cpp20" else t.expect_rc11)]
            if not flipped:
                fail(f"switching off {a!r} ({form}) changes no verdict")
            print(f"   -{a:<10} {form:6} flips {len(flipped):2}: {', '.join(flipped[:4])}"
                  f"{', ...' if len(flipped) > 4 else ''}")
    print()


ORDS = {"load": ["rlx", "acq", "sc"], "store": ["rlx", "rel", "sc"],
        "rmw": ["rlx", "acq", "rel", "acq_rel", "sc"], "fence": ["acq", "rel", "acq_rel", "sc"]}


def random_program(rng: random.Random) -> Litmus:
    threads, k = [], 0
    for _ in range(rng.choice([2, 2, 3, 3, 4])):
        ops = []
        for _ in range(rng.choice([1, 2, 2, 3])):
            k += 1
            loc, r = rng.choice("xy"), f"r{k}"
            kind = rng.choice(["load", "load", "store", "store", "fadd", "cas", "fence"])
            if kind == "load":
                ops.append(f"{r} = {loc}.load({rng.choice(ORDS['load'])})")
            elif kind == "store":
                ops.append(f"{loc}.store({rng.choice([1, 2])}, {rng.choice(ORDS['store'])})")
            elif kind == "fadd":
                ops.append(f"{r} = {loc}.fetch_add(1, {rng.choice(ORDS['rmw'])})")
            elif kind == "cas":
                ops.append(f"{r} = {loc}.cas({rng.choice([0, 1])}, {rng.choice([1, 2])}, "
                           f"{rng.choice(ORDS['rmw'])}, {rng.choice(ORDS['load'])})")
            else:
                ops.append(f"fence({rng.choice(ORDS['fence'])})")
        threads.append(ops)
    return Litmus("random", threads, "True", "allowed")


def test_random(n: int, seed: int):
    print(f"== 4. {n} random programs (seed {seed}): same cross-checks")
    rng = random.Random(seed)
    t0 = time.time()
    before_explained = len(explained)
    for i in range(n):
        t = random_program(rng)
        before = len(failures)
        cross_check(t, f"random #{i}", may_differ=True)
        if len(failures) > before or len(explained) > before_explained:
            print(f"   #{i}{' (LWG 3941 shape)' if len(failures) == before else ''}:",
                  [[op.text for op in th] for th in t.threads])
            before_explained = len(explained)
    print(f"   done in {time.time() - t0:.1f}s\n")


def expect_error(stmt):
    try:
        parse_op(stmt)
    except ValueError:
        return
    fail(f"parse_op({stmt!r}) should fail")


def test_details():
    print("== 5. parser, text format, details")
    # statements
    op = parse_op("if r1 == 1: r2 = x.cas(0, r1+1, AcqRel, Relaxed)")
    assert (op.kind, op.rmw, op.loc, op.reg, op.order, op.order_fail, op.guard) == \
        ("rmw", "cas", "x", "r2", "acq_rel", "rlx", ("r1", "==", 1)), op
    assert str(op.arg2) == "r1+1"
    for bad in ["r = x.load(rel)", "x.store(1, acq)", "fence(rlx)", "x.cas(0, 1, rlx)",
                "r = x.frob(1, rlx)", "x.fetch_add(1, na)", "r = x.cas(0, 1, rlx, rel)"]:
        expect_error(bad)
    try:
        Litmus("bad", ["r1 = x.load(rlx)"], "r9 == 0", "allowed")
        fail("a condition naming an unknown register should be rejected")
    except ValueError:
        pass
    # value domains: each RMW counts once; thin air stays out
    t = Litmus("d", ["r1 = x.fetch_add(1, rlx)", "r2 = x.fetch_add(1, rlx)",
                     "r3 = x.fetch_add(1, rlx)"], "True", "allowed")
    if value_domains(t)["x"] != {0, 1, 2, 3}:
        fail(f"domain of three increments: {value_domains(t)['x']}")
    # a failed CAS is a load with the failure ordering
    for fo, want in (("acq", "forbidden"), ("rlx", "allowed")):
        t = Litmus("MP+cas-fail", ["d.store(1, rlx); y.store(1, rel)",
                                   f"r1 = y.cas(5, 6, rlx, {fo}); r2 = d.load(rlx)"],
                   "r1 == 1 and r2 == 0", want)
        if verdict(check(t).allowed) != want:
            fail(f"failed CAS with failure ordering {fo}: expected {want}")
    # an acquire RMW reading a relaxed RMW in a release sequence
    t = Litmus("RS-acq-rmw", ["d.store(1, rlx); x.store(1, rel)", "x.fetch_add(1, rlx)",
                              "r1 = x.fetch_add(1, acq); r2 = d.load(rlx)"],
               "r1 == 2 and r2 == 0", "forbidden")
    if check(t).allowed:
        fail("an acquire RMW reading the release sequence must synchronize")
    # the text format
    path = os.path.join(HERE, "examples", "sb.litmus")
    with open(path) as f:
        tests = parse_litmus_file(f.read())
    if not tests:
        fail(f"{path}: no tests parsed")
    for t in tests:
        for form in ("cpp20", "rc11"):
            if verdict(check(t, form).allowed) != t.expect:
                fail(f"{path}: {t.name} ({form}): expected {t.expect}")
    print(f"   ok ({len(tests)} tests from examples/sb.litmus)\n")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fuzz", type=int, default=120, help="random programs to cross-check")
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args()
    t0 = time.time()
    test_validation_table()
    test_cross_checks()
    test_ablations()
    test_random(args.fuzz, args.seed)
    test_details()
    print(f"{len(failures)} failure(s) in {time.time() - t0:.1f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
