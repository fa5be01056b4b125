#!/usr/bin/env bash
# Set up the environment (if needed) and run the test suite.
# Usage: bash tools/run_tests.sh [extra pytest args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
# --durations: the slowest tests are listed at the end of every run (keep the suite fast)
exec "$ROOT/.venv/bin/python" -m pytest tests -q --durations=15 "$@"
