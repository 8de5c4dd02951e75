#!/usr/bin/env python3
"""Checks that each layer of src/ imports only the layers below it.

    python3 scripts/check-layers.py

The layers, lowest first (a folder is a layer; the crate's root files are
the top):

    sync        src/sync/            the facade loom and shuttle replace
    raw         src/raw.rs           Task, Batch
    structures  src/structures/      lock-free structures
    scheduler   src/scheduler/       the pool: wake protocol, workers, lifecycle
    fork_join   src/fork_join/       join, scope, handles, jobs
    top         src/lib.rs, thread_pool.rs, builder.rs, error.rs, global.rs, model.rs, par.rs

A file may name `crate::X` (in a `use`, a path, or a macro) only for a
layer X at or below its own, and may not climb out of its folder with
`super::super::`. Comments and doc comments are not code and are skipped
(intra-doc links may point anywhere). Exit status 0 when clean, 1 with
`file:line: text` for every violation.
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")

ORDER = ["sync", "raw", "structures", "scheduler", "fork_join", "top"]
# What `crate::<name>` refers to, as a layer.
MODULE_LAYER = {
    "sync": "sync",
    "raw": "raw",
    "structures": "structures",
    "scheduler": "scheduler",
    "fork_join": "fork_join",
    "thread_pool": "top",
    "builder": "top",
    "error": "top",
    "model": "top",
    "global": "top",
    "par": "top",
}
# Items the root re-exports: naming them through `crate::` is a use of the
# top layer.
TOP_ITEMS = {
    "ThreadPool", "Builder", "BuildError", "SpawnError", "ScheduleError",
    "JoinHandle", "Scope", "join", "WorkerThread", "MAX_THREADS", "MIN_STACK_SIZE",
    "scope", "spawn", "current_thread_index", "current_num_threads",
    "spawn_future", "block_on",
}

CRATE_PATH = re.compile(r"\bcrate::(\w+)")
CRATE_GROUP = re.compile(r"\bcrate::\{([^}]*)\}")


def layer_of(rel):
    top = rel.split(os.sep)[0]
    if top in ("sync", "structures", "scheduler", "fork_join"):
        return top
    if rel == "raw.rs":
        return "raw"
    return "top"


def code_lines(text):
    """The file's lines with comments blanked out, and std-only unit-test
    modules (which never ship) dropped."""
    text = re.split(r"\n#\[cfg\(all\(test", text)[0]
    for number, line in enumerate(text.split("\n"), 1):
        yield number, re.sub(r"//.*", "", line)


def named_layers(line):
    names = CRATE_PATH.findall(line)
    for group in CRATE_GROUP.findall(line):
        names += [n.strip().split("::")[0] for n in group.split(",") if n.strip()]
    for name in names:
        if name in MODULE_LAYER:
            yield name, MODULE_LAYER[name]
        elif name in TOP_ITEMS:
            yield name, "top"


def main():
    bad = 0
    checked = 0
    for dirpath, _, files in sorted(os.walk(SRC)):
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, SRC)
            own = layer_of(rel)
            checked += 1
            for number, line in code_lines(open(path).read()):
                for name, layer in named_layers(line):
                    if ORDER.index(layer) > ORDER.index(own):
                        print(f"src/{rel}:{number}: the {own} layer names `crate::{name}` "
                              f"(the {layer} layer, above it): {line.strip()}")
                        bad += 1
                if "super::super::" in line and own != "top":
                    print(f"src/{rel}:{number}: climbs out of its folder: {line.strip()}")
                    bad += 1
    if bad:
        print(f"check-layers: FAILED: {bad} import(s) from a higher layer", file=sys.stderr)
        return 1
    print(f"check-layers: ok ({checked} files; {' < '.join(ORDER)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
