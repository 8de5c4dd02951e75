#!/usr/bin/env bash
# Checks that the sync facade is the only door to the primitives the model
# checkers replace.
#
# Every file under src/ except the facade itself (src/sync/ or src/sync.rs)
# must get its atomics, threads, thread-locals and futex calls from
# `crate::sync`. Otherwise loom and shuttle would check code other than the
# code that ships. A line fails the check if it names any of:
#
#   std::sync::atomic   core::sync::atomic   std::thread
#   atomic_wait         loom::               shuttle::
#
# (also inside a brace group such as `use std::sync::{Arc, atomic::...}`).
# `#[cfg(loom)]` / `#[cfg(shuttle)]` attributes are fine: only paths are
# forbidden. `std::sync::Mutex` and friends are fine too.
#
# Not checked:
#   * comment lines (the first non-blank characters are `//`, which covers
#     `///` and `//!` docs, whose examples are user code);
#   * unit-test modules that only exist in the default build, i.e. a `mod`
#     right after `#[cfg(all(test, not(any(loom, shuttle))))]`: the model
#     checkers never compile them, so they may use std directly.
#
# Exit status: 0 if clean, 1 (listing file:line: text) otherwise.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ ! -d src ]]; then
    echo "check-facade: no src/ directory under $(pwd)" >&2
    exit 2
fi

files=()
while IFS= read -r -d '' f; do
    files+=("$f")
done < <(find src -name '*.rs' -not -path 'src/sync/*' -not -path 'src/sync.rs' -print0 | sort -z)

if [[ ${#files[@]} -eq 0 ]]; then
    echo "check-facade: no Rust files to check" >&2
    exit 2
fi

# awk: POSIX ERE only (no \b), so word boundaries are spelled out.
offending=$(awk '
    BEGIN {
        nw = "(^|[^A-Za-z0-9_])"   # not preceded by an identifier character
        ew = "([^A-Za-z0-9_]|$)"   # not followed by one
        n = 0
        bad[n++] = "(std|core)::sync::atomic"
        bad[n++] = "(std|core)::sync::[{]([^}]*[^A-Za-z0-9_])?atomic" ew
        bad[n++] = nw "std::thread" ew
        bad[n++] = nw "std::[{]([^}]*[^A-Za-z0-9_])?thread" ew
        bad[n++] = nw "atomic_wait" ew
        bad[n++] = nw "loom::"
        bad[n++] = nw "shuttle::"
        bad[n++] = nw "(extern[ \t]+crate|use)[ \t]+(loom|shuttle)" ew
    }
    FNR == 1 { std_only_attr = 0; skipping = 0; depth = 0 }
    # Inside a std-only test module: count braces until it closes.
    skipping {
        line = $0
        depth += gsub(/[{]/, "", line)
        line = $0
        depth -= gsub(/[}]/, "", line)
        if (depth <= 0) skipping = 0
        next
    }
    /^[ \t]*\/\// { next }
    /^[ \t]*#\[cfg\(all\(test, *not\(any\(loom, *shuttle\)\)\)\)\][ \t]*$/ {
        std_only_attr = 1
        next
    }
    std_only_attr && /^[ \t]*(pub(\([a-z]+\))?[ \t]+)?mod[ \t]+[A-Za-z_][A-Za-z0-9_]*[ \t]*[{]/ {
        std_only_attr = 0
        line = $0
        depth = gsub(/[{]/, "", line)
        line = $0
        depth -= gsub(/[}]/, "", line)
        skipping = depth > 0
        next
    }
    # Other attributes may sit between the cfg and the `mod`.
    $0 !~ /^[ \t]*#\[/ { std_only_attr = 0 }
    {
        for (i = 0; i < n; i++) {
            if ($0 ~ bad[i]) {
                printf "%s:%d: %s\n", FILENAME, FNR, $0
                break
            }
        }
    }
' "${files[@]}")

if [[ -n "$offending" ]]; then
    echo "check-facade: FAILED: these lines bypass the sync facade (src/sync/):" >&2
    echo "$offending" >&2
    echo "use crate::sync::... instead, so that loom and shuttle check this code." >&2
    exit 1
fi

echo "check-facade: ok (${#files[@]} files outside src/sync/ use only the facade)"
