#!/usr/bin/env bash
# ThreadSanitizer run of the std-build tests on real hardware. Needs the
# nightly toolchain; skips (exit 0, with a message) where it is absent.
#
#   scripts/tsan.sh                 # lib unit tests and every tests/*.rs target
#   scripts/tsan.sh --test lifecycle  # arguments are passed to cargo test
#
# With the nightly rust-src component, std is rebuilt with the sanitizer
# (-Zbuild-std), so std's own synchronization (channels, the test harness)
# is seen too; without it std is uninstrumented and TSan reports false races
# inside std (the script says so and goes on).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "tsan: skipped: no nightly toolchain (ThreadSanitizer needs -Zsanitizer)"
    exit 0
fi

target="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Zsanitizer=thread -Cunsafe-allow-abi-mismatch=sanitizer"
export RUSTDOCFLAGS="$RUSTFLAGS"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/tsan"
# Report every race (not only the first), and fail the run on any.
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=0 exitcode=66}"

build_std=()
sysroot="$(rustc +nightly --print sysroot)"
if [[ -d "$sysroot/lib/rustlib/src/rust/library" ]]; then
    build_std=(-Zbuild-std)
else
    echo "tsan: nightly has no rust-src: std is not instrumented; expect false reports inside std"
fi

if [[ $# -eq 0 ]]; then
    set -- --lib --tests
fi
exec cargo +nightly test "${build_std[@]}" --target "$target" "$@"
