"""An exhaustive checker of the C++20 memory model for litmus-sized programs.

Standard library only (Python 3.11). The model, its sources and its limits are
described in docs/memory-model.md; this file is the implementation.

A litmus test is a few threads, each a straight-line list of operations on
named locations (see `parse_op` for the statement syntax), an initial value
per location, and a condition over registers, final memory values and
`race` that names the outcome asked about.

Checking a test:

1. Value domains. Every location gets the set of values that some write can
   store without a circular justification (a fixpoint over values tagged
   with the writes they depend on: see `value_domains`). Reads then guess a value from that domain, which makes
   each thread a finite set of *local traces* (events with values, and the
   registers' final values).
2. Candidate executions. For one trace per thread: a reads-from choice for
   every read (any write to the location that stored the value read, or the
   initial write), then a modification order per location (a total order of
   its writes after the initial one, in which every RMW comes immediately
   after the write it read from: atomicity, [atomics.order] p10).
3. Consistency. Two independent formulations of the C++20 axioms, selected
   by `Model.form`:
   * "cpp20": the text of N4861 as written: happens-before acyclic, the four
     coherence rules and "a read does not happen before the write it reads"
     ([intro.races] p10, p14-18), and a total order S on the SeqCst events
     satisfying [atomics.order] p4 (checked as acyclicity of the union of
     the precedence constraints it imposes, with "strongly happens before"
     from [intro.races] p12);
   * "rc11": the RC11 axioms of Lahav et al. (PLDI 2017) as coded in
     herdtools7's rc11.cat: irreflexive(hb; eco?), atomicity, acyclic(psc);
     with C++20's release sequences, and without RC11's no-thin-air axiom
     acyclic(po U rf) unless `Model.nta` is set.
   Both use the same synchronizes-with (release/acquire accesses and fences,
   release sequences per `Model.rs`: "c20" = the releasing write and the
   RMWs reading from it transitively; "c11" = RC11's form of the C++11 rule,
   which also lets the releasing thread's later writes to the location
   continue it).

Nothing here forbids po U rf cycles (load buffering) unless `nta` is set.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

# --------------------------------------------------------------------------
# Orderings

RLX, ACQ, REL, ACQ_REL, SC, NA = "rlx", "acq", "rel", "acq_rel", "sc", "na"

_ORDER_NAMES = {
    "rlx": RLX, "relaxed": RLX,
    "acq": ACQ, "acquire": ACQ,
    "rel": REL, "release": REL,
    "acq_rel": ACQ_REL, "acqrel": ACQ_REL, "ar": ACQ_REL,
    "sc": SC, "seq_cst": SC, "seqcst": SC,
    "na": NA, "plain": NA,
}


def ordering(name: str) -> str:
    key = name.strip().lower().replace("ordering::", "")
    if key not in _ORDER_NAMES:
        raise ValueError(f"unknown ordering {name!r}")
    return _ORDER_NAMES[key]


def is_acquire(o: str) -> bool:
    return o in (ACQ, ACQ_REL, SC)


def is_release(o: str) -> bool:
    return o in (REL, ACQ_REL, SC)


# --------------------------------------------------------------------------
# Programs


@dataclass(frozen=True)
class Expr:
    """A stored value: a constant, or a register plus a constant."""

    reg: str | None
    const: int

    def eval(self, regs: dict) -> int | None:
        if self.reg is None:
            return self.const
        v = regs.get(self.reg)
        return None if v is None else v + self.const

    def __str__(self) -> str:
        if self.reg is None:
            return str(self.const)
        if self.const == 0:
            return self.reg
        return f"{self.reg}{self.const:+d}"


@dataclass(frozen=True)
class Op:
    kind: str  # "load" | "store" | "rmw" | "fence"
    text: str
    loc: str | None = None
    reg: str | None = None
    order: str = RLX
    order_fail: str = RLX  # CAS failure ordering
    rmw: str | None = None  # "add" | "sub" | "xchg" | "cas"
    arg: Expr | None = None  # value stored / added / CAS expected
    arg2: Expr | None = None  # CAS new value
    guard: tuple | None = None  # (reg, "==" | "!=", int)


_REG = r"[a-zA-Z_][a-zA-Z0-9_]*"
_INT = r"-?\d+"
_EXPR = rf"(?:{_REG}\s*[+-]\s*\d+|{_REG}|{_INT})"
_ORD = r"[a-zA-Z_:]+"


def parse_expr(s: str) -> Expr:
    s = s.strip()
    if re.fullmatch(_INT, s):
        return Expr(None, int(s))
    m = re.fullmatch(rf"({_REG})\s*([+-])\s*(\d+)", s)
    if m:
        k = int(m.group(3))
        return Expr(m.group(1), k if m.group(2) == "+" else -k)
    if re.fullmatch(_REG, s):
        return Expr(s, 0)
    raise ValueError(f"bad expression {s!r}")


def parse_op(text: str) -> Op:
    """One statement. Grammar (whitespace-insensitive; orderings: rlx acq rel
    acq_rel sc na, or their Rust/C++ names):

        [if REG == INT:] r = x.load(ORD)
        [if REG != INT:] x.store(EXPR, ORD)
        [...] [r =] x.fetch_add(EXPR, ORD)     (also fetch_sub, swap)
        [...] [r =] x.cas(EXPR, EXPR, ORD, ORD)  expected, new, success,
                                                failure; r gets the value
                                                read (success iff == expected)
        [...] fence(ORD)

    EXPR is an integer, a register, or a register +/- an integer.
    """
    src = text.strip()
    s = src
    guard = None
    m = re.match(rf"if\s+({_REG})\s*(==|!=)\s*({_INT})\s*:\s*(.*)$", s)
    if m:
        guard = (m.group(1), m.group(2), int(m.group(3)))
        s = m.group(4)
    m = re.fullmatch(rf"fence\(\s*({_ORD})\s*\)", s)
    if m:
        o = ordering(m.group(1))
        if o in (RLX, NA):
            raise ValueError(f"{src!r}: a fence must be acq, rel, acq_rel or sc")
        return Op("fence", src, order=o, guard=guard)
    reg = None
    m = re.fullmatch(rf"({_REG})\s*=\s*({_REG}\..*)", s)
    if m:
        reg, s = m.group(1), m.group(2).strip()
    m = re.fullmatch(rf"({_REG})\.(\w+)\((.*)\)", s)
    if not m:
        raise ValueError(f"cannot parse {src!r}")
    loc, meth, args = m.group(1), m.group(2), [a.strip() for a in m.group(3).split(",")]
    if meth == "load":
        if reg is None or len(args) != 1:
            raise ValueError(f"{src!r}: write `r = x.load(ORD)`")
        o = ordering(args[0])
        if o in (REL, ACQ_REL):
            raise ValueError(f"{src!r}: a load cannot be {o}")
        return Op("load", src, loc=loc, reg=reg, order=o, guard=guard)
    if meth == "store":
        if reg is not None or len(args) != 2:
            raise ValueError(f"{src!r}: write `x.store(EXPR, ORD)`")
        o = ordering(args[1])
        if o in (ACQ, ACQ_REL):
            raise ValueError(f"{src!r}: a store cannot be {o}")
        return Op("store", src, loc=loc, order=o, arg=parse_expr(args[0]), guard=guard)
    if meth in ("fetch_add", "fetch_sub", "swap", "exchange"):
        if len(args) != 2:
            raise ValueError(f"{src!r}: write `[r =] x.{meth}(EXPR, ORD)`")
        o = ordering(args[1])
        if o == NA:
            raise ValueError(f"{src!r}: an RMW is atomic")
        kind = {"fetch_add": "add", "fetch_sub": "sub"}.get(meth, "xchg")
        return Op("rmw", src, loc=loc, reg=reg, order=o, rmw=kind,
                  arg=parse_expr(args[0]), guard=guard)
    if meth in ("cas", "compare_exchange"):
        if len(args) != 4:
            raise ValueError(f"{src!r}: write `[r =] x.cas(EXPECTED, NEW, SUCCESS, FAILURE)`")
        o, of = ordering(args[2]), ordering(args[3])
        if NA in (o, of) or of in (REL, ACQ_REL):
            raise ValueError(f"{src!r}: bad CAS orderings")
        return Op("rmw", src, loc=loc, reg=reg, order=o, order_fail=of, rmw="cas",
                  arg=parse_expr(args[0]), arg2=parse_expr(args[1]), guard=guard)
    raise ValueError(f"{src!r}: unknown operation {meth!r}")


def parse_thread(spec) -> list[Op]:
    if isinstance(spec, str):
        parts = [p for p in (q.strip() for q in re.split(r"[;\n]", spec)) if p]
    else:
        parts = list(spec)
    return [p if isinstance(p, Op) else parse_op(p) for p in parts]


def parse_init(spec) -> dict:
    if isinstance(spec, dict):
        return dict(spec)
    out = {}
    for item in re.split(r"[\s;,]+", spec.strip()):
        if item:
            k, v = item.split("=")
            out[k.strip()] = int(v)
    return out


@dataclass
class Litmus:
    """A litmus test. `threads`: one string (statements separated by `;` or
    newlines) or list of statements per thread. `init`: "x=0 y=0" or a dict;
    locations not named start at 0. `exists`: a Python expression over
    registers, final memory values (by location name) and `race` (a data
    race on a `na` access in the execution). `expect`: "allowed" or
    "forbidden" (is there a consistent execution satisfying `exists`?).
    `rs`: release-sequence rule, "c20" (default) or "c11". `nta`: add RC11's
    acyclic(po U rf) axiom (off for C++20)."""

    name: str
    threads: list
    exists: str
    expect: str
    init: object = ""
    rs: str = "c20"
    nta: bool = False
    source: str = ""
    note: str = ""
    group: str = ""
    variant: str = ""  # pool patterns: "shipped" or what was weakened
    flag: str = ""  # pool patterns: a finding to point out in the table
    expect_rc11: str = ""  # if the RC11 form is expected to differ (LWG 3941)

    def __post_init__(self):
        self.threads = [parse_thread(t) for t in self.threads]
        self.init = parse_init(self.init)
        for t in self.threads:
            for op in t:
                if op.loc is not None:
                    self.init.setdefault(op.loc, 0)
        if self.expect not in ("allowed", "forbidden"):
            raise ValueError(f"{self.name}: expect must be allowed/forbidden")
        self.expect_rc11 = self.expect_rc11 or self.expect
        if self.expect_rc11 not in ("allowed", "forbidden"):
            raise ValueError(f"{self.name}: expect_rc11 must be allowed/forbidden")
        owner = {}
        for tid, t in enumerate(self.threads):
            for op in t:
                if op.reg is not None:
                    if owner.setdefault(op.reg, tid) != tid:
                        raise ValueError(f"{self.name}: register {op.reg} used by two threads")
        self.registers = sorted(owner)
        self.locations = sorted(self.init)
        clash = set(self.registers) & set(self.locations)
        if clash:
            raise ValueError(f"{self.name}: names used as register and location: {clash}")
        self._cond = compile(self.exists, f"<{self.name}>", "eval")
        names = set(self._cond.co_names)
        unknown = names - set(self.registers) - set(self.locations) - {"race"}
        if unknown:
            raise ValueError(f"{self.name}: condition names unknown {sorted(unknown)}")
        self.cond_needs_exec = bool(names & (set(self.locations) | {"race"}))

    def cond(self, env: dict) -> bool:
        return bool(eval(self._cond, {"__builtins__": {}}, env))

    def with_(self, **changes) -> "Litmus":
        """A copy with some fields changed (threads given as parsed ops are
        kept)."""
        fields = dict(name=self.name, threads=self.threads, exists=self.exists,
                      expect=self.expect, init=self.init, rs=self.rs, nta=self.nta,
                      source=self.source, note=self.note, group=self.group,
                      variant=self.variant, flag=self.flag, expect_rc11=self.expect_rc11)
        fields.update(changes)
        return Litmus(**fields)


def parse_litmus_file(text: str) -> list[Litmus]:
    """The text format: blocks separated by blank lines, each with lines
    `name: ...`, `init: x=0 y=1`, `T0: stmt; stmt` (one per thread, in
    order), `exists: COND`, `expect: allowed|forbidden`, optional `rs: c11`,
    `source: ...`, `note: ...`. `#` starts a comment line."""
    tests = []
    for block in re.split(r"\n\s*\n", text):
        fields, threads = {}, []
        for line in block.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, val = line.partition(":")
            key, val = key.strip(), val.strip()
            if re.fullmatch(r"[TP]\d+", key):
                threads.append(val)
            else:
                fields[key] = val
        if not fields and not threads:
            continue
        nta = fields.pop("nta", "no").lower() in ("yes", "true", "1")
        tests.append(Litmus(threads=threads, nta=nta, **fields))
    return tests


# --------------------------------------------------------------------------
# Events and local traces


@dataclass
class Event:
    id: int
    tid: int  # -1 for initial writes
    idx: int  # position in the thread
    kind: str  # "R" | "W" | "U" (successful RMW) | "F"
    loc: str | None
    rval: int | None  # value read (R, U)
    wval: int | None  # value written (W, U)
    order: str
    text: str

    @property
    def reads(self):
        return self.kind in ("R", "U")

    @property
    def writes(self):
        return self.kind in ("W", "U")

    @property
    def acq(self):
        return is_acquire(self.order)

    @property
    def rel(self):
        return is_release(self.order)

    @property
    def sc(self):
        return self.order == SC

    @property
    def na(self):
        return self.order == NA

    def describe(self) -> str:
        if self.tid < 0:
            return f"init {self.loc}={self.wval}"
        val = ""
        if self.kind == "R":
            val = f" -> {self.rval}"
        elif self.kind == "U":
            val = f" -> {self.rval}, wrote {self.wval}"
        elif self.kind == "W":
            val = f" (wrote {self.wval})"
        fail = " [CAS failed]" if self.kind == "R" and "cas" in self.text else ""
        return f"T{self.tid}: {self.text}{val}{fail}"


def _rmw_result(op: Op, old: int, regs: dict):
    """(success, new value) of an RMW that read `old`."""
    a = op.arg.eval(regs)
    if a is None:
        return None
    if op.rmw == "add":
        return True, old + a
    if op.rmw == "sub":
        return True, old - a
    if op.rmw == "xchg":
        return True, a
    new = op.arg2.eval(regs)
    if new is None:
        return None
    return (old == a), new


def thread_traces(tid: int, ops: list[Op], domains: dict) -> list:
    """Every local trace of a thread when reads may return any value of their
    location's domain: (events as tuples, registers)."""
    out = []

    def go(i, regs, evs):
        if i == len(ops):
            out.append((tuple(evs), dict(regs)))
            return
        op = ops[i]
        if op.guard is not None:
            r, cmp, k = op.guard
            v = regs.get(r)
            ok = v is not None and ((v == k) if cmp == "==" else (v != k))
            if not ok:
                go(i + 1, regs, evs)
                return
        if op.kind == "fence":
            go(i + 1, regs, evs + [("F", None, None, None, op.order, i)])
        elif op.kind == "store":
            v = op.arg.eval(regs)
            if v is None:
                raise ValueError(f"T{tid}: {op.text}: register not set")
            go(i + 1, regs, evs + [("W", op.loc, None, v, op.order, i)])
        elif op.kind == "load":
            for v in sorted(domains[op.loc]):
                go(i + 1, {**regs, op.reg: v}, evs + [("R", op.loc, v, None, op.order, i)])
        else:  # rmw
            for v in sorted(domains[op.loc]):
                res = _rmw_result(op, v, regs)
                if res is None:
                    raise ValueError(f"T{tid}: {op.text}: register not set")
                ok, new = res
                regs2 = dict(regs) if op.reg is None else {**regs, op.reg: v}
                if ok:
                    ev = ("U", op.loc, v, new, op.order, i)
                else:
                    ev = ("R", op.loc, v, None, op.order_fail, i)
                go(i + 1, regs2, evs + [ev])

    go(0, {}, [])
    return out


def _deps(expr: Expr | None, prov: dict) -> frozenset:
    if expr is None or expr.reg is None:
        return frozenset()
    return prov.get(expr.reg, frozenset())


def value_domains(test: Litmus) -> dict:
    """For each location, the values a read of it may return: the values
    with a non-circular justification. Each value carries its provenance,
    the set of write operations (thread, index) whose values it depends on,
    through data (a stored register, an RMW's old value) and control (an
    `if` guard) dependencies. A write whose value would depend on itself is
    out of thin air and adds nothing. Iterated to a fixpoint (provenances
    are subsets of the program's writes, so it ends). See
    docs/memory-model.md, "Values"."""
    entries = {loc: {(v, frozenset())} for loc, v in test.init.items()}
    while True:
        new = {loc: set(es) for loc, es in entries.items()}
        for tid, ops in enumerate(test.threads):
            _domain_round(tid, ops, entries, new)
        if new == entries:
            break
        entries = new
    return {loc: {v for v, _p in es} for loc, es in entries.items()}


def _domain_round(tid: int, ops: list, entries: dict, new: dict):
    def go(i, regs, prov):
        if i == len(ops):
            return
        op = ops[i]
        ctrl = frozenset()
        if op.guard is not None:
            r, cmp, k = op.guard
            v = regs.get(r)
            ok = v is not None and ((v == k) if cmp == "==" else (v != k))
            if not ok:
                go(i + 1, regs, prov)
                return
            ctrl = prov.get(r, frozenset())
        me = (tid, i)
        if op.kind == "fence":
            go(i + 1, regs, prov)
        elif op.kind == "store":
            v = op.arg.eval(regs)
            if v is None:
                raise ValueError(f"T{tid}: {op.text}: register not set")
            dep = ctrl | _deps(op.arg, prov)
            if me not in dep:
                new[op.loc].add((v, dep | {me}))
            go(i + 1, regs, prov)
        elif op.kind == "load":
            for v, pv in sorted(entries[op.loc], key=repr):
                go(i + 1, {**regs, op.reg: v}, {**prov, op.reg: pv})
        else:  # rmw
            for v, pv in sorted(entries[op.loc], key=repr):
                res = _rmw_result(op, v, regs)
                if res is None:
                    raise ValueError(f"T{tid}: {op.text}: register not set")
                ok, nv = res
                if ok:
                    dep = ctrl | pv | _deps(op.arg, prov) | _deps(op.arg2, prov)
                    if me not in dep:
                        new[op.loc].add((nv, dep | {me}))
                regs2, prov2 = regs, prov
                if op.reg is not None:
                    regs2, prov2 = {**regs, op.reg: v}, {**prov, op.reg: pv}
                go(i + 1, regs2, prov2)

    go(0, {}, {})


# --------------------------------------------------------------------------
# Relations on bitmasks: rel[i] is the set of j with (i, j) in rel.


def bits(m: int):
    while m:
        low = m & -m
        yield low.bit_length() - 1
        m ^= low


def closure(rel: list) -> list:
    r = list(rel)
    n = len(r)
    for k in range(n):
        bk, rk = 1 << k, r[k]
        for i in range(n):
            if r[i] & bk:
                r[i] |= rk
    return r


def compose(a: list, b: list) -> list:
    out = []
    for row in a:
        acc = 0
        for j in bits(row):
            acc |= b[j]
        out.append(acc)
    return out


def union(*rels) -> list:
    return [_or(col) for col in zip(*rels)]


def _or(xs):
    acc = 0
    for x in xs:
        acc |= x
    return acc


def restrict(rel: list, dom: int, rng: int) -> list:
    return [(row & rng) if (dom >> i) & 1 else 0 for i, row in enumerate(rel)]


def reflexive(rel: list) -> list:
    return [row | (1 << i) for i, row in enumerate(rel)]


def irreflexive(rel: list) -> bool:
    return not any((row >> i) & 1 for i, row in enumerate(rel))


def acyclic(rel: list) -> bool:
    return irreflexive(closure(rel))


# --------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class Model:
    form: str = "cpp20"  # "cpp20" (standard text) or "rc11" (rc11.cat)
    rs: str = "c20"  # "c20" or "c11"
    nta: bool = False  # RC11's acyclic(po U rf); not part of C++20
    # Axioms switched off, for the test suite's negative controls only:
    # "sw" (no synchronizes-with), "fence-sw" (fences never synchronize),
    # "rs-rmw" (release sequences stop at their head), "coherence" (the
    # coherence rules and [intro.races] p14), "atomicity" (RMWs may read any
    # earlier write), "sc" (no total order S / psc); and "cob-step", a
    # diagnostic variant of the C++20 text (see _sc_ok_cpp20).
    ablate: frozenset = frozenset()

    def label(self) -> str:
        s = f"{self.form}/rs={self.rs}"
        s += "/nta" if self.nta else ""
        return s + "".join(f"/-{a}" for a in sorted(self.ablate))


@dataclass
class Execution:
    events: list
    src: dict  # read id -> write id
    mo: dict  # loc -> list of write ids (initial write first)
    regs: dict
    race: bool

    def final(self) -> dict:
        return {loc: self.events[order[-1]].wval for loc, order in self.mo.items()}

    def outcome_key(self, test: Litmus):
        fin = self.final()
        return (tuple(self.regs.get(r) for r in test.registers),
                tuple(fin[l] for l in test.locations))

    def describe(self) -> str:
        lines = []
        for e in self.events:
            if e.tid < 0:
                continue
            rf = ""
            if e.id in self.src:
                w = self.events[self.src[e.id]]
                rf = "   rf from " + ("init" if w.tid < 0 else f"T{w.tid}:{w.idx}")
            lines.append(f"    {e.tid}:{e.idx} {e.describe()}{rf}")
        for loc, order in sorted(self.mo.items()):
            names = ["init" if self.events[w].tid < 0 else f"T{self.events[w].tid}:{self.events[w].idx}={self.events[w].wval}"
                     for w in order]
            lines.append(f"    mo {loc}: " + " < ".join(names))
        if self.race:
            lines.append("    (data race on a na access)")
        return "\n".join(lines)


class _Graph:
    """Per candidate: the events, po, and (once rf is chosen) sw and hb."""

    def __init__(self, test: Litmus, traces):
        evs = []
        for loc in test.locations:
            evs.append(Event(len(evs), -1, 0, "W", loc, None, test.init[loc], RLX, f"init {loc}"))
        self.ninit = len(evs)
        regs = {}
        for tid, (tr, r) in enumerate(traces):
            regs.update(r)
            for kind, loc, rv, wv, o, i in tr:
                evs.append(Event(len(evs), tid, i, kind, loc, rv, wv, o, test.threads[tid][i].text))
        for r in test.registers:
            regs.setdefault(r, None)
        self.events, self.regs = evs, regs
        n = self.n = len(evs)
        self.init_of = {e.loc: e.id for e in evs[: self.ninit]}
        po = [0] * n
        for a in evs:
            if a.tid < 0:
                po[a.id] = ((1 << n) - 1) & ~((1 << self.ninit) - 1)
                continue
            for b in evs:
                if b.tid == a.tid and b.idx > a.idx:
                    po[a.id] |= 1 << b.id
        self.po = po
        self.mask = lambda pred: _or(1 << e.id for e in evs if pred(e))
        self.M_F = self.mask(lambda e: e.kind == "F")
        self.M_SC = self.mask(lambda e: e.sc)
        self.M_SCF = self.M_SC & self.M_F
        self.M_SCOP = self.M_SC & ~self.M_F
        self.loc_mask = {loc: self.mask(lambda e, l=loc: e.loc == l) for loc in test.locations}
        self.sameloc = [self.loc_mask[e.loc] if e.loc else 0 for e in evs]
        self.reads = [e.id for e in evs if e.reads]
        self.writes_at = {loc: [e.id for e in evs if e.writes and e.loc == loc] for loc in test.locations}

    # -- rf-dependent -----------------------------------------------------

    def set_rf(self, src: dict, model: Model):
        evs, n = self.events, self.n
        self.src = src
        rf = [0] * n
        for r, w in src.items():
            rf[w] |= 1 << r
        self.rf = rf
        # Release sequences: rs[w] = writes x with (w, x) in rs.
        rmw_rf = [0] * n  # rf ; [U]
        for r, w in src.items():
            if evs[r].kind == "U":
                rmw_rf[w] |= 1 << r
        if "rs-rmw" in model.ablate:
            rmw_rf = [0] * n
        chain = reflexive(closure(rmw_rf))  # ((rf; [U]))*
        rs = [0] * n
        for w in range(n):
            if not evs[w].writes:
                continue
            heads = 1 << w
            if model.rs == "c11":
                # RC11: [W]; (po & loc)?; [W]; (rf; rmw)*
                heads |= self.po[w] & self.sameloc[w] & self.mask(lambda e: e.writes)
            acc = 0
            for h in bits(heads):
                acc |= chain[h]
            rs[w] = acc
        # sw = [REL]; ([F]; po)?; rs; rf; [R, atomic]; (po; [F])?; [ACQ]
        atomic = lambda e: not e.na and e.tid >= 0
        sw = [0] * n
        for a in evs:
            if not (a.rel and a.tid >= 0) or "sw" in model.ablate:
                continue
            if a.kind == "F" and "fence-sw" in model.ablate:
                continue
            if a.kind == "F":
                starts = [w for w in bits(self.po[a.id]) if evs[w].writes and atomic(evs[w])]
            elif a.writes and atomic(a):
                starts = [a.id]
            else:
                continue
            for w in starts:
                for x in bits(rs[w]):
                    for r in bits(rf[x]):
                        er = evs[r]
                        if not atomic(er):
                            continue
                        if er.acq:
                            sw[a.id] |= 1 << r
                        if "fence-sw" in model.ablate:
                            continue
                        for f in bits(self.po[r] & self.M_F):
                            if evs[f].acq:
                                sw[a.id] |= 1 << f
        self.sw = sw
        self.hb = closure(union(self.po, sw))

    # -- mo-dependent -----------------------------------------------------

    def set_mo(self, mo: dict):
        n = self.n
        self.mo_order = mo
        morel = [0] * n
        pos = {}
        for loc, order in mo.items():
            for i, w in enumerate(order):
                pos[w] = i
                for w2 in order[i + 1:]:
                    morel[w] |= 1 << w2
        self.morel, self.mopos = morel, pos
        # rb = rf^-1; mo \ id
        rb = [0] * n
        for r, w in self.src.items():
            rb[r] = morel[w] & ~(1 << r)
        self.rb = rb
        self.eco = closure(union(self.rf, morel, rb))


def _all_mo_orders(g: _Graph, loc: str):
    """Every total order of the writes to `loc`, initial write first."""
    init = g.init_of[loc]
    ws = [w for w in g.writes_at[loc] if w != init]
    for perm in itertools.permutations(ws):
        yield [init, *perm]


def _mo_orders(g: _Graph, loc: str, src: dict):
    """Total orders of the writes to `loc` (initial write first) in which each
    RMW immediately follows the write it read from (atomicity)."""
    evs = g.events
    init = g.init_of[loc]
    ws = [w for w in g.writes_at[loc] if w != init]
    nxt = {}
    for w in ws:
        if evs[w].kind == "U":
            s = src[w]
            nxt[s] = w
    blocks, covered = [], set()
    first = []
    if init in nxt:
        b, cur = [], nxt[init]
        while True:
            b.append(cur)
            covered.add(cur)
            if cur not in nxt:
                break
            cur = nxt[cur]
        first = b
    for w in ws:
        if evs[w].kind == "U" or w in covered:
            continue
        b, cur = [w], w
        covered.add(w)
        while cur in nxt:
            cur = nxt[cur]
            b.append(cur)
            covered.add(cur)
        blocks.append(b)
    if len(covered) != len(ws):
        return  # RMWs reading from each other in a cycle
    for perm in itertools.permutations(blocks):
        yield [init] + first + [w for b in perm for w in b]


def _coherent_cpp20(g: _Graph, loc: str, order: list) -> bool:
    """[intro.races] p14-17 for one location, given its mo."""
    evs, hb, src = g.events, g.hb, g.src
    pos = {w: i for i, w in enumerate(order)}
    accs = [e.id for e in evs if e.loc == loc and e.tid >= 0] + [g.init_of[loc]]
    for a in accs:
        for b in bits(hb[a] & g.loc_mask[loc]):
            ea, eb = evs[a], evs[b]
            if ea.writes and eb.writes and not pos[a] < pos[b]:
                return False  # write-write
            if ea.reads and eb.reads and not pos[src[a]] <= pos[src[b]]:
                return False  # read-read
            if ea.reads and eb.writes and not pos[src[a]] < pos[b]:
                return False  # read-write
            if ea.writes and eb.reads and not pos[a] <= pos[src[b]]:
                return False  # write-read
    return True


def _sc_ok_cpp20(g: _Graph, cob_step: bool = False) -> bool:
    """[atomics.order] p4: a total order S on the SeqCst events exists.
    With `cob_step` (a diagnostic, not C++20), "coherence-ordered before"
    in p4.1-p4.3 is one step of rf, mo or rb, as in RC11's scb, instead of
    p3's transitive closure (p4.4 keeps it, as RC11's psc_F keeps eco)."""
    hb, po, eco = g.hb, g.po, g.eco
    SC, SCF, SCOP = g.M_SC, g.M_SCF, g.M_SCOP
    # strongly happens before ([intro.races] p12)
    sw_sc = restrict(g.sw, SCOP, SCOP)
    shb = closure(union(po, sw_sc, compose(compose(po, hb), po)))
    cob = eco  # coherence-ordered before, [atomics.order] p3
    c1 = restrict(shb, SC, SC)
    if cob_step:
        step = union(g.rf, g.morel, g.rb)
        return acyclic(union(c1, restrict(step, SCOP, SCOP),
                             restrict(compose(step, hb), SCOP, SCF),
                             restrict(compose(hb, step), SCF, SCOP),
                             restrict(compose(compose(hb, cob), hb), SCF, SCF)))
    c41 = restrict(cob, SCOP, SCOP)
    cob_hb = compose(cob, hb)
    c42 = restrict(cob_hb, SCOP, SCF)
    hb_cob = compose(hb, cob)
    c43 = restrict(hb_cob, SCF, SCOP)
    c44 = restrict(compose(hb_cob, hb), SCF, SCF)
    return acyclic(union(c1, c41, c42, c43, c44))


def _sc_ok_rc11(g: _Graph) -> bool:
    """rc11.cat: acyclic(psc)."""
    n, hb, po = g.n, g.hb, g.po
    loc = g.sameloc
    sbl = [po[i] & ~loc[i] for i in range(n)]
    hbl = [hb[i] & loc[i] for i in range(n)]
    scb = union(po, compose(compose(sbl, hb), sbl), hbl, g.morel, g.rb)
    SC, SCF = g.M_SC, g.M_SCF
    ident_sc = [(1 << i) if (SC >> i) & 1 else 0 for i in range(n)]
    f_hbq = restrict(reflexive(hb), SCF, (1 << n) - 1)  # [F&SC]; hb?
    left = union(ident_sc, f_hbq)
    hbq_f = restrict(reflexive(hb), (1 << n) - 1, SCF)  # hb?; [F&SC]
    right = union(ident_sc, hbq_f)
    pscb = compose(compose(left, scb), right)
    pscf = restrict(union(hb, compose(compose(hb, g.eco), hb)), SCF, SCF)
    return acyclic(union(pscb, pscf))


def _race(g: _Graph) -> bool:
    evs, hb = g.events, g.hb
    for a in evs:
        if a.tid < 0 or a.loc is None:
            continue
        for b in evs:
            if b.id <= a.id or b.tid < 0 or b.tid == a.tid or b.loc != a.loc:
                continue
            if not (a.writes or b.writes) or not (a.na or b.na):
                continue
            if not ((hb[a.id] >> b.id) & 1 or (hb[b.id] >> a.id) & 1):
                return True
    return False


@dataclass
class Stats:
    traces: int = 0  # combinations of local traces considered
    rf: int = 0  # reads-from candidates
    candidates: int = 0  # rf + mo candidates
    consistent: int = 0


def _rmw_sources_exist(traces, init: dict) -> bool:
    """Every RMW can read a distinct write of the value it read (a bipartite
    matching; the initial value counts as one write per location)."""
    writes = [("init", loc, v) for loc, v in init.items()]
    rmws = []
    for tid, (evs, _r) in enumerate(traces):
        for k, (kind, loc, rv, wv, _o, _i) in enumerate(evs):
            if kind in ("W", "U"):
                writes.append(((tid, k), loc, wv))
            if kind == "U":
                rmws.append(((tid, k), loc, rv))
    cands = [[j for j, (wid, wl, wv) in enumerate(writes) if wl == loc and wv == rv and wid != uid]
             for uid, loc, rv in rmws]
    owner = {}

    def augment(i, seen):
        for j in cands[i]:
            if j not in seen:
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return all(augment(i, set()) for i in range(len(rmws)))


def _madd(a: dict, b: dict) -> dict:
    if not b:
        return a
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


def _trace_combos(test: Litmus, stats: Stats, cond_only: bool, distinct_rmw: bool = True):
    """One local trace per thread, pruned by necessary conditions checked as
    soon as the writers are known: every value read is the initial value or
    written by some event of the combination, and (with `distinct_rmw`) no
    value is read by more RMWs than there are writes of it; finally the RMWs
    must be matchable to distinct writes. Threads with fewer traces are
    chosen first, so that later choices are checked against known writes."""
    domains = value_domains(test)
    per_thread = [thread_traces(t, ops, domains) for t, ops in enumerate(test.threads)]
    nth = len(per_thread)
    order = sorted(range(nth), key=lambda t: len(per_thread[t]))
    summaries = []
    for t in order:
        summ = []
        for evs, _r in per_thread[t]:
            writes, rmw_reads, reads = {}, {}, set()
            for kind, loc, rv, wv, _o, _i in evs:
                if kind in ("W", "U"):
                    writes[(loc, wv)] = writes.get((loc, wv), 0) + 1
                if kind in ("R", "U"):
                    reads.add((loc, rv))
                if kind == "U":
                    rmw_reads[(loc, rv)] = rmw_reads.get((loc, rv), 0) + 1
            wkeys = frozenset(writes)
            summ.append((writes, rmw_reads, wkeys, frozenset(reads) - wkeys))
        summaries.append(summ)
    possible = [set().union(*(w for _w, _u, w, _r in s)) if s else set() for s in summaries]
    later = [set().union(*possible[k + 1:]) for k in range(nth)]
    initial = {(loc, v): 1 for loc, v in test.init.items()}

    def rec(k, chosen, supply, need, pending):
        # supply: writes chosen so far (and initial values); need: values
        # read by the chosen RMWs; pending: values read but not yet supplied
        if k == nth:
            if pending:
                return
            picked = [None] * nth
            for pos, t in enumerate(order):
                picked[t] = per_thread[t][chosen[pos]]
            traces = tuple(picked)
            if distinct_rmw and not _rmw_sources_exist(traces, test.init):
                return
            if cond_only and not test.cond_needs_exec:
                regs = {r: None for r in test.registers}
                for _e, r in traces:
                    regs.update(r)
                if not test.cond(regs):
                    return
            stats.traces += 1
            yield traces
            return
        rest = later[k]
        supplied = supply.keys()
        for i, (writes, rmw_reads, wkeys, ext_reads) in enumerate(summaries[k]):
            # values read so far (or by this trace) that nothing chosen writes
            still = (pending - wkeys) | (ext_reads - supplied)
            if not still <= rest:
                continue
            sup = _madd(supply, writes)
            nd = _madd(need, rmw_reads) if rmw_reads else need
            if distinct_rmw and any(n > sup.get(lv, 0) and lv not in rest for lv, n in nd.items()):
                continue
            yield from rec(k + 1, chosen + [i], sup, nd, still)

    yield from rec(0, [], initial, {}, frozenset())


def executions(test: Litmus, model: Model, stats: Stats | None = None,
               cond_only: bool = False):
    """Yields every consistent execution of `test` under `model`. With
    `cond_only`, skips trace combinations whose registers already falsify
    the condition (when it names registers only)."""
    stats = stats or Stats()
    distinct = "atomicity" not in model.ablate
    for traces in _trace_combos(test, stats, cond_only, distinct):
        yield from _executions_of(_Graph(test, traces), test, model, stats)


def candidates(test: Litmus, cond_only: bool = False):
    """Yields every candidate execution, no axiom applied: each read reads
    from any write of the value it returned (or the initial value), each
    location's writes in any order after the initial write."""
    stats = Stats()
    for traces in _trace_combos(test, stats, cond_only, distinct_rmw=False):
        g = _Graph(test, traces)
        evs = g.events
        choices = [[w for w in g.writes_at[evs[r].loc]
                    if w != r and evs[w].wval == evs[r].rval] for r in g.reads]
        for pick in itertools.product(*choices):
            src = dict(zip(g.reads, pick))
            g.set_rf(src, Model())
            per_loc = [list(_all_mo_orders(g, loc)) for loc in test.locations]
            for combo in itertools.product(*per_loc):
                mo = dict(zip(test.locations, combo))
                g.set_mo(mo)
                yield Execution(evs, src, mo, g.regs, _race(g))


def _executions_of(g: _Graph, test: Litmus, model: Model, stats: Stats):
    evs = g.events
    coherence = "coherence" not in model.ablate
    atomicity = "atomicity" not in model.ablate
    choices = []
    for r in g.reads:
        er = evs[r]
        cands = []
        for w in g.writes_at[er.loc]:
            ew = evs[w]
            if w == r or ew.wval != er.rval:
                continue
            if coherence and ew.tid == er.tid and ew.idx > er.idx:
                continue  # a po-later write: the read would happen before it (p14)
            cands.append(w)
        if not cands:
            return
        choices.append(cands)
    for pick in itertools.product(*choices):
        src = dict(zip(g.reads, pick))
        if atomicity:
            used = [w for r, w in src.items() if evs[r].kind == "U"]
            if len(used) != len(set(used)):
                continue  # two RMWs read the same write
        stats.rf += 1
        g.set_rf(src, model)
        # happens-before is acyclic ([intro.races] p10); a read does not
        # happen before the write it reads (p14). Both forms imply these.
        if not irreflexive(g.hb):
            continue
        if coherence and any((g.hb[r] >> w) & 1 for r, w in src.items()):
            continue
        per_loc = []
        for loc in test.locations:
            if atomicity:
                orders = list(_mo_orders(g, loc, src))
            else:
                orders = list(_all_mo_orders(g, loc))
            if model.form == "cpp20" and coherence:
                orders = [o for o in orders if _coherent_cpp20(g, loc, o)]
            if not orders:
                break
            per_loc.append(orders)
        else:
            for combo in itertools.product(*per_loc):
                mo = dict(zip(test.locations, combo))
                stats.candidates += 1
                g.set_mo(mo)
                if not _consistent(g, test, model, mo):
                    continue
                stats.consistent += 1
                yield Execution(evs, src, mo, g.regs, _race(g))


def _consistent(g: _Graph, test: Litmus, model: Model, mo: dict) -> bool:
    coherence = "coherence" not in model.ablate
    sc = "sc" not in model.ablate
    if model.form == "cpp20":
        if coherence and not all(_coherent_cpp20(g, loc, mo[loc]) for loc in test.locations):
            return False
        if sc and not _sc_ok_cpp20(g, "cob-step" in model.ablate):
            return False
    else:
        # irreflexive(hb; eco?)
        if coherence and not irreflexive(compose(g.hb, reflexive(g.eco))):
            return False
        # irreflexive(rmw; eco) and atomicity: empty(rmw & (rb; mo))
        if "atomicity" not in model.ablate:
            rbmo = compose(g.rb, g.morel)
            for e in g.events:
                if e.kind == "U" and ((g.eco[e.id] >> e.id) & 1 or (rbmo[e.id] >> e.id) & 1):
                    return False
        if sc and not _sc_ok_rc11(g):
            return False
    if model.nta and not acyclic(union(g.po, g.rf)):
        return False
    return True


def env_of(test: Litmus, ex: Execution) -> dict:
    env = dict(ex.regs)
    env.update(ex.final())
    env["race"] = ex.race
    return env


@dataclass
class Result:
    test: Litmus
    model: Model
    allowed: bool
    witness: Execution | None
    stats: Stats


def check(test: Litmus, form: str = "cpp20", ablate=frozenset()) -> Result:
    """Is the outcome `test.exists` allowed under `form`?"""
    model = Model(form=form, rs=test.rs, nta=test.nta, ablate=frozenset(ablate))
    stats = Stats()
    for ex in executions(test, model, stats, cond_only=True):
        if test.cond(env_of(test, ex)):
            return Result(test, model, True, ex, stats)
    return Result(test, model, False, None, stats)


def outcomes(test: Litmus, form: str = "cpp20", ablate=frozenset()) -> set:
    """Every outcome (registers, final memory) of a consistent execution."""
    model = Model(form=form, rs=test.rs, nta=test.nta, ablate=frozenset(ablate))
    return {ex.outcome_key(test) for ex in executions(test, model)}


def candidate_satisfies(test: Litmus) -> bool:
    """Whether some candidate execution (before any axiom) satisfies the
    condition: if none does, the test is vacuous and a "forbidden" verdict
    says nothing about the axioms."""
    return any(test.cond(env_of(test, ex)) for ex in candidates(test, cond_only=True))


# --------------------------------------------------------------------------
# An independent reference: sequentially consistent interleavings.


def sc_outcomes(test: Litmus) -> set:
    """Outcomes of all interleavings with one memory (plain SC semantics)."""
    out = set()
    nth = len(test.threads)

    def go(pcs, regs, mem):
        done = True
        for t in range(nth):
            if pcs[t] == len(test.threads[t]):
                continue
            done = False
            op = test.threads[t][pcs[t]]
            r2, m2 = regs, mem
            skip = False
            if op.guard is not None:
                g, cmp, k = op.guard
                v = regs.get(g)
                skip = not (v is not None and ((v == k) if cmp == "==" else (v != k)))
            if not skip:
                if op.kind == "load":
                    r2 = {**regs, op.reg: mem[op.loc]}
                elif op.kind == "store":
                    m2 = {**mem, op.loc: op.arg.eval(regs)}
                elif op.kind == "rmw":
                    old = mem[op.loc]
                    ok, new = _rmw_result(op, old, regs)
                    if op.reg is not None:
                        r2 = {**regs, op.reg: old}
                    if ok:
                        m2 = {**mem, op.loc: new}
            p2 = list(pcs)
            p2[t] += 1
            go(tuple(p2), r2, m2)
        if done:
            out.add((tuple(regs.get(r) for r in test.registers),
                     tuple(mem[l] for l in test.locations)))

    go(tuple([0] * nth), {}, dict(test.init))
    return out
