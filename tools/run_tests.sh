#!/usr/bin/env bash
# Set up the environment (if needed) and run the test suite.
# Usage: bash tools/run_tests.sh [extra pytest args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
# Parallel processes (pytest-xdist): one per core, at most 4. Most tests are short and
# single-threaded, many run a tool in a subprocess; on 2 cores two processes take 7.5 min
# where one took 16 (docs/benchmarks.md, "Test suite"). GRASPCONTRAST_TEST_WORKERS=0 runs
# everything in one process; tests marked xdist_group share a process (module fixtures).
# --durations: the slowest tests are listed at the end of every run (keep the suite fast)
# (nproc: the cores this process may use; pytest's own "auto" can count the whole host)
CORES="$(nproc 2>/dev/null || echo 2)"
WORKERS="${GRASPCONTRAST_TEST_WORKERS:-$(( CORES < 4 ? CORES : 4 ))}"
exec "$ROOT/.venv/bin/python" -m pytest tests -q -n "$WORKERS" --dist loadgroup \
  --durations=15 "$@"
