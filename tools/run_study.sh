#!/usr/bin/env bash
# The label-efficiency study (docs/study.md), end to end and resumable:
#   data (tools/create_graspnet_scenes.py --preset study), pre-training of the FNE /
#   no-FNE / no-augmentation arms, GSNet fine-tuning of every arm x label fraction x seed
#   (the same optimiser steps per fraction), graspnetAPI AP on the seen / similar / novel
#   test scenes with seeded test-time sampling, the AP spread over sampling seeds, and
#   the report (docs/study.md + docs/study_ap_vs_fraction.png) from the JSON results.
# Every finished run writes WORK_DIR/results/*.json and is skipped when run again.
# Usage: bash tools/run_study.sh [WORK_DIR] [extra tools/run_study.py arguments]
#        (default WORK_DIR: work_dirs/study; e.g. --preset study_micro for a 1-2 min check)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK_DIR="${1:-$ROOT/work_dirs/study}"
shift || true
if [ "${STUDY_SKIP_SETUP:-0}" != "1" ]; then
  bash "$ROOT/tools/setup_env.sh"
fi
cd "$ROOT"
exec "$ROOT/.venv/bin/python" tools/run_study.py --work-dir "$WORK_DIR" "$@"
