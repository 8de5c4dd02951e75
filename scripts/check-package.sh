#!/usr/bin/env bash
# What `cargo package` ships: the library, its proof notes, the Promela
# model they cite, the quick-start example, the README, the licence and the
# manifest (the `include` list of Cargo.toml); never the test suites, the
# scripts, the tools, the benchmark package or its data. Then packages the
# crate for real and builds it from the archive, as crates.io would.
#
# Usage: scripts/check-package.sh   (from anywhere; exit 0 if all is well)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

list=$(cargo package -p zap-pool --list --allow-dirty)
status=0
while IFS= read -r file; do
    case "$file" in
        src/*.rs | docs/*.md | docs/liveness/*.pml | docs/liveness/*.pmh) ;;
        examples/quicksort.rs | README.md | LICENSE) ;;
        Cargo.toml | Cargo.toml.orig | Cargo.lock | .cargo_vcs_info.json) ;;
        *)
            echo "check-package: $file would be shipped" >&2
            status=1
            ;;
    esac
done <<<"$list"
for needed in src/lib.rs README.md LICENSE docs/fork_join.md docs/liveness/pool.pml; do
    if ! grep -qx "$needed" <<<"$list"; then
        echo "check-package: $needed is missing from the package" >&2
        status=1
    fi
done
[[ $status -eq 0 ]] || exit 1

cargo package -p zap-pool --allow-dirty --quiet
crate=$(ls -t target/package/zap-pool-*.crate | head -n 1)
echo "check-package: $(wc -l <<<"$list") files, $(du -k "$crate" | cut -f1) KiB compressed ($crate)"
