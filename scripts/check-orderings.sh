#!/usr/bin/env bash
# Fails when an atomic operation in src/ has no row in docs/orderings.md,
# a row names a site that no longer exists, or the orderings differ.
set -euo pipefail
exec python3 "$(dirname "$0")/atomic_sites.py" --check
