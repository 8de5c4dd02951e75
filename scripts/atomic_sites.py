#!/usr/bin/env python3
"""Lists every atomic operation site in src/ outside the sync facade, as
`file | function | operation | orderings`, and checks docs/orderings.md
against that list.

    python3 scripts/atomic_sites.py           # print the sites
    python3 scripts/atomic_sites.py --check   # every site has a row, every row a site

A site is a call of load / store / swap / compare_exchange(_weak) / fetch_*
with `Ordering::` arguments, or a `fence(..)`. Its key is the file, the
enclosing function, the receiver's last field and the operation, e.g.
`buffer.rs | steal | head.compare_exchange`. Sites with the same key in one
function share one row; the row's `n` column says how many there are.
The table rows are the markdown rows of docs/orderings.md whose first cell is
a file name ending in `.rs`.
"""

import collections
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")
TABLE = os.path.join(ROOT, "docs", "orderings.md")

FN = re.compile(r"\bfn\s+(\w+)")
OP = re.compile(r"\.\s*(load|store|swap|compare_exchange_weak|compare_exchange|fetch_\w+)\s*\(")
FENCE = re.compile(r"\bfence\s*\(\s*Ordering::(\w+)")
ORD = re.compile(r"Ordering::(\w+)")


def enclosing_fn(text):
    """A function from a position in `text` to the name of the last `fn`
    that starts before it ("-" if none): the site's enclosing function."""
    fns = [(m.start(), m.group(1)) for m in FN.finditer(text)]

    def enclosing(pos):
        best = "-"
        for start, fname in fns:
            if start < pos:
                best = fname
        return best

    return enclosing


def receiver(text, dot):
    """The last field or method name before the `.` at `dot`: `self.head`
    gives `head`, `self.slot(i)` gives `slot`, `(*word)` gives `word`."""
    i = dot - 1
    while i >= 0 and text[i].isspace():
        i -= 1
    inner = None
    if text[i] == ")":
        depth, j = 0, i
        while j >= 0:
            depth += text[j] == ")"
            depth -= text[j] == "("
            if depth == 0:
                break
            j -= 1
        inner = text[j + 1:i]
        i = j - 1
    k = i
    while k >= 0 and (text[k].isalnum() or text[k] == "_"):
        k -= 1
    name = text[k + 1:i + 1]
    if not name and inner is not None:
        names = re.findall(r"[A-Za-z_][A-Za-z_0-9]*", inner)
        name = names[-1] if names else "?"
    return name


def call_args(text, open_paren):
    depth = 0
    for j in range(open_paren, len(text)):
        depth += text[j] == "("
        depth -= text[j] == ")"
        if depth == 0:
            return text[open_paren:j + 1]
    return text[open_paren:]


def shipped_files():
    """(path, path relative to src/) of every Rust file of src/ outside the
    facade (src/sync/), in a stable order (also used by scripts/weaken.py)."""
    for dirpath, _, files in sorted(os.walk(SRC)):
        if os.path.relpath(dirpath, SRC).split(os.sep)[0] == "sync":
            continue
        for name in sorted(files):
            if name.endswith(".rs"):
                path = os.path.join(dirpath, name)
                yield path, os.path.relpath(path, SRC)


def sites():
    found = collections.OrderedDict()
    for path, rel in shipped_files():
        text = open(path).read()
        # Drop the unit tests (not shipped code) and every comment,
        # keeping line breaks so line numbers stay right.
        text = re.split(r"\n#\[cfg\(all\(test", text)[0]
        text = re.sub(r"//[^\n]*", lambda m: " " * len(m.group(0)), text)
        enclosing = enclosing_fn(text)

        def line_of(pos):
            return text.count("\n", 0, pos) + 1

        for m in FENCE.finditer(text):
            key = (rel, enclosing(m.start()), "fence")
            found.setdefault(key, []).append(([m.group(1)], line_of(m.start())))
        for m in OP.finditer(text):
            args = call_args(text, m.end() - 1)
            orders = ORD.findall(args)
            if not orders:
                continue
            recv = receiver(text, m.start())
            key = (rel, enclosing(m.start()), f"{recv}.{m.group(1)}")
            found.setdefault(key, []).append((orders, line_of(m.start())))
        # `sync_word(Ordering::X)` is a load of the pool's word.
        for m in re.finditer(r"sync_word\(\s*Ordering::(\w+)\s*\)", text):
            key = (rel, enclosing(m.start()), "sync.load")
            found.setdefault(key, []).append(([m.group(1)], line_of(m.start())))
    return found


def cells_of(line):
    """A table line's cells (a `\\|` inside a cell is not a separator)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def table_rows():
    rows = {}
    for line in open(TABLE):
        cells = [c.strip("`") for c in cells_of(line)]
        if len(cells) >= 5 and cells[0].endswith(".rs"):
            rows[(cells[0], cells[1], cells[2])] = cells
    return rows


# What the last column may name for an ordering other than Relaxed: a check
# that can fail on that site (a loom test, a mutation of scripts/mutants.sh
# that a loom test kills, a litmus test of the memory-model checker), or the
# argument that a weaker ordering is also correct. A shuttle test is not
# one: shuttle runs every atomic as SeqCst.
CAN_FAIL = re.compile(r"loom `|memory-model checker|weaker also correct")


def loom_mutations():
    """The mutations of scripts/mutants.sh that a loom test kills, each with
    the files it changes."""
    import mutants  # noqa: E402  (only for --check)
    out = {}
    for m in mutants.MUTATIONS:
        if any(tool == "loom" for tool, _ in m[-1]):
            files = [m[2]] if m[2] else [edit[0] for edit in m[3]]
            out[m[0]] = {f.removeprefix("src/") for f in files}
    return out


def check_column(row, loom_killed):
    """Why a row's last column does not do (None if it does): a row whose
    orderings are all Relaxed needs nothing there. `loom_killed` is
    `loom_mutations()`."""
    if all(o == "Relaxed" for o in re.split(r"[;/ ]+", row[4]) if o):
        return None
    column = row[6] if len(row) > 6 else ""
    named = set(re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)+", column))
    if CAN_FAIL.search(column):
        return None
    # A mutation counts for the sites of the files it changes.
    if any(row[0] in loom_killed.get(name, ()) for name in named):
        return None
    return f"names no check that can fail and no 'weaker also correct' argument ({row[4]})"


def main(argv):
    found = sites()
    if "--check" not in argv:
        for (rel, func, op), uses in found.items():
            orders = sorted({"/".join(o) for o, _ in uses})
            lines = ",".join(str(l) for _, l in uses)
            print(f"| {rel} | {func} | {op} | {len(uses)} | {'; '.join(orders)} | (lines {lines})")
        return 0
    rows = table_rows()
    bad = 0
    for key, uses in found.items():
        orders = sorted({"/".join(o) for o, _ in uses})
        row = rows.get(key)
        if row is None:
            print(f"missing row: {' | '.join(key)} ({'; '.join(orders)}, line {uses[0][1]})")
            bad += 1
            continue
        if row[3] != str(len(uses)):
            print(f"row count {row[3]} but {len(uses)} site(s): {' | '.join(key)}")
            bad += 1
        if row[4] != "; ".join(orders):
            print(f"row says {row[4]!r} but the code has {'; '.join(orders)!r}: {' | '.join(key)}")
            bad += 1
    for key in rows:
        if key not in found:
            print(f"row names no site: {' | '.join(key)}")
            bad += 1
    loom_killed = loom_mutations()
    for key, row in rows.items():
        problem = check_column(row, loom_killed)
        if problem:
            print(f"{problem}: {' | '.join(key)}")
            bad += 1
    print(f"{len(found)} site(s), {len(rows)} row(s), {bad} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
