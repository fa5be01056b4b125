#!/usr/bin/env bash
# Main job on the small built-in default, from a fresh checkout:
#   1. set up the environment (skipped when already done),
#   2. generate the tiny GraspNet-format dataset (data/graspnet_tiny; resumable),
#   3. pre-train the SparseUNet with FNE-InfoNCE (configs/pretrain_fne_tiny.py), validating
#      the label-free feature-match metric before and during training,
#   4. print the loss and the metric before / after pre-training.
# Usage: bash tools/run_main_job.sh [WORK_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK_DIR="${1:-$ROOT/work_dirs/main_job}"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"

echo "[main job] generating the tiny dataset in data/graspnet_tiny"
"$PY" tools/create_graspnet_scenes.py --preset tiny --out data/graspnet_tiny

echo "[main job] pre-training (configs/pretrain_fne_tiny.py) -> $WORK_DIR"
"$PY" tools/train.py configs/pretrain_fne_tiny.py --work-dir "$WORK_DIR"

echo "[main job] summary"
"$PY" tools/summarize_run.py "$WORK_DIR"
