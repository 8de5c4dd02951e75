#!/usr/bin/env python3
"""Runs the C++20 memory-model checker: the validation table (classic
litmus tests with published outcomes) and the pool's patterns, or the
litmus files given as arguments. Exit status 0 only if every verdict
matches its expectation under both formulations of the model.

    python3 tools/memmodel/check.py                 # both tables
    python3 tools/memmodel/check.py -v              # and a witness per allowed outcome
    python3 tools/memmodel/check.py --only ring     # rows whose name contains "ring"
    python3 tools/memmodel/check.py FILE.litmus     # tests in the text format

See docs/memory-model.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from memmodel import check, parse_litmus_file  # noqa: E402

FORMS = ("cpp20", "rc11")


def verdict(allowed: bool) -> str:
    return "allowed" if allowed else "forbidden"


def run(tests, verbose=False):
    """Checks each test under both formulations. Returns rows of
    (test, {form: Result}, ok)."""
    rows = []
    for t in tests:
        res = {f: check(t, f) for f in FORMS}
        ok = (verdict(res["cpp20"].allowed) == t.expect
              and verdict(res["rc11"].allowed) == t.expect_rc11)
        rows.append((t, res, ok))
    return rows


def program_text(t) -> str:
    lines = [f"    init: {' '.join(f'{k}={v}' for k, v in sorted(t.init.items()))}"]
    for i, th in enumerate(t.threads):
        lines.append(f"    T{i}: " + "; ".join(op.text for op in th))
    lines.append(f"    exists: {t.exists}")
    return "\n".join(lines)


def _table(headers, body):
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
              for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip(),
           "  ".join("-" * w for w in widths)]
    for r in body:
        out.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(out)


def print_validation(rows, verbose=False, out=sys.stdout):
    body = []
    for t, res, ok in rows:
        exp = t.expect if t.expect == t.expect_rc11 else f"{t.expect} / {t.expect_rc11}"
        body.append([t.name, exp, verdict(res["cpp20"].allowed), verdict(res["rc11"].allowed),
                     "ok" if ok else "MISMATCH", t.source])
    print(_table(["test", "expected", "C++20 text", "RC11 form", "", "source"], body), file=out)
    notes = [(t.name, t.note) for t, _r, _o in rows if t.note]
    if notes:
        print("\nnotes:", file=out)
        for name, note in notes:
            print(f"  {name}: {note}", file=out)
    if verbose:
        _witnesses(rows, out)


def print_patterns(rows, verbose=False, out=sys.stdout):
    body = []
    group = None
    for t, res, ok in rows:
        v = verdict(res["cpp20"].allowed)
        if res["rc11"].allowed != res["cpp20"].allowed:
            v += " (RC11 form: " + verdict(res["rc11"].allowed) + ")"
        g = t.group if t.group != group else ""
        group = t.group
        body.append([g, t.variant, "bad outcome " + v, "ok" if ok else "MISMATCH (expected " + t.expect + ")",
                     t.flag])
    print(_table(["pattern", "orderings", "verdict", "", "flag"], body), file=out)
    print("\nbad outcomes and notes:", file=out)
    seen = set()
    for t, _r, _o in rows:
        if t.group not in seen:
            seen.add(t.group)
            print(f"  {t.group}: exists {t.exists}   [{t.source}]", file=out)
        if t.note:
            print(f"    - {t.variant}: {t.note}", file=out)
    if verbose:
        _witnesses(rows, out)


def _prog(t) -> str:
    return " ‖ ".join("; ".join(op.text for op in th) for th in t.threads)


def _md(cells) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def print_markdown(vrows, prows, out=sys.stdout):
    """Both tables as Markdown, for docs/memory-model.md."""
    print(_md(["test", "program (threads separated by ‖)", "outcome", "expected",
               "C++20 text", "RC11 form", "source"]), file=out)
    print("|---" * 7 + "|", file=out)
    for t, res, ok in vrows:
        exp = t.expect if t.expect == t.expect_rc11 else f"{t.expect} / {t.expect_rc11} (RC11)"
        extra = " (rs=c11)" if t.rs == "c11" else " (with no-thin-air)" if t.nta else ""
        print(_md([t.name + extra, f"`{_prog(t)}`", f"`{t.exists}`", exp,
                   verdict(res["cpp20"].allowed), verdict(res["rc11"].allowed)
                   + ("" if ok else " **MISMATCH**"), t.source]), file=out)
    print(file=out)
    print(_md(["pattern", "orderings", "program (threads separated by ‖)", "bad outcome",
               "verdict", "flag"]), file=out)
    print("|---" * 6 + "|", file=out)
    for t, res, ok in prows:
        v = "allowed" if res["cpp20"].allowed else "forbidden"
        if res["rc11"].allowed != res["cpp20"].allowed:
            v += " (RC11: " + verdict(res["rc11"].allowed) + ")"
        init = " ".join(f"{k}={val}" for k, val in sorted(t.init.items()) if val)
        prog = (f"init {init}: " if init else "") + _prog(t)
        print(_md([t.group, t.variant + (f" (rs={t.rs})" if t.rs != "c20" else ""), f"`{prog}`",
                   f"`{t.exists}`", v + ("" if ok else " **MISMATCH**"), t.flag]), file=out)


def _witnesses(rows, out):
    print("\nprograms and witnesses:", file=out)
    for t, res, _ok in rows:
        print(f"\n  {t.name}  ({t.expect}; rs={t.rs}{', nta' if t.nta else ''})", file=out)
        print(program_text(t), file=out)
        w = res["cpp20"].witness
        if w is not None:
            print("   a consistent execution with the outcome:", file=out)
            print(w.describe(), file=out)
        st = res["cpp20"].stats
        print(f"   explored: {st.traces} trace combinations, {st.rf} rf choices, "
              f"{st.candidates} rf+mo candidates, {st.consistent} consistent", file=out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", help="litmus files in the text format")
    ap.add_argument("-v", "--verbose", action="store_true", help="print programs and witnesses")
    ap.add_argument("--only", help="run only rows whose name contains this text")
    ap.add_argument("--markdown", action="store_true",
                    help="print both tables as Markdown (for docs/memory-model.md)")
    args = ap.parse_args(argv)
    t0 = time.time()
    failures = 0

    def select(tests):
        return [t for t in tests if not args.only or args.only.lower() in t.name.lower()]

    if args.files:
        tests = []
        for path in args.files:
            with open(path) as f:
                tests += parse_litmus_file(f.read())
        rows = run(select(tests))
        print_validation(rows, args.verbose)
        failures += sum(not ok for _t, _r, ok in rows)
    else:
        from litmus_tests import TESTS
        from pool_patterns import PATTERNS

        rows = run(select(TESTS))
        if args.markdown:
            prow = run(select(PATTERNS))
            print_markdown(rows, prow)
            bad = sum(not ok for _t, _r, ok in rows + prow)
            return 1 if bad else 0
        if rows:
            print("Validation: classic litmus tests under C++20 (both formulations)\n")
            print_validation(rows, args.verbose)
            failures += sum(not ok for _t, _r, ok in rows)
        prow = run(select(PATTERNS))
        if prow:
            print("\nPool patterns: is the bad outcome allowed?\n")
            print_patterns(prow, args.verbose)
            failures += sum(not ok for _t, _r, ok in prow)
        rows += prow
    n = len(rows)
    print(f"\n{n - failures}/{n} verdicts as expected in {time.time() - t0:.1f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
