#!/usr/bin/env bash
# Negative controls for the model checks: see scripts/mutants.py.
set -euo pipefail
exec python3 "$(dirname "$0")/mutants.py" "$@"
