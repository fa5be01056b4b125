#!/usr/bin/env bash
# Main job on the small built-in default, from a fresh checkout (CPU, ~25 min on 2 cores):
#   1. set up the environment (skipped when already done),
#   2. generate the tiny labelled GraspNet-format dataset (data/graspnet_tiny; resumable),
#   3. pre-train the SparseUNet with FNE-InfoNCE (configs/pretrain_fne_tiny.py); the
#      label-free feature-match metric is validated before and during pre-training,
#   4. fine-tune GSNet from that checkpoint and from scratch (4/16 labelled frames per scene),
#   5. evaluate both with graspnetAPI's AP (tools/test.py; predictions kept in graspnetAPI's
#      dump layout under WORK_DIR/<run>/dump),
#   6. detect grasps on one test frame and write the grasps and a picture.
# Usage: bash tools/run_main_job.sh [WORK_DIR]     (default: work_dirs/main_job)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK_DIR="${1:-$ROOT/work_dirs/main_job}"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
DATA=data/graspnet_tiny
mkdir -p "$WORK_DIR"

echo "[main job] 1/5 generating the tiny labelled dataset in $DATA"
"$PY" tools/create_graspnet_scenes.py --preset tiny --out "$DATA"

echo "[main job] 2/5 pre-training (configs/pretrain_fne_tiny.py) -> $WORK_DIR/pretrain_fne_tiny"
"$PY" tools/train.py configs/pretrain_fne_tiny.py --work-dir "$WORK_DIR/pretrain_fne_tiny" \
  --cfg-options train_dataloader.dataset.data_root=$DATA val_dataloader.dataset.data_root=$DATA
PRETRAINED="$(cat "$WORK_DIR/pretrain_fne_tiny/last_checkpoint")"

echo "[main job] 3/5 fine-tuning GSNet from the pre-trained backbone and from scratch"
GSNET_DATA_OPTS="train_dataloader.dataset.data_root=$DATA test_dataloader.dataset.data_root=$DATA test_evaluator.data_root=$DATA"
"$PY" tools/train.py configs/gsnet_fne_tiny.py --work-dir "$WORK_DIR/gsnet_fne_tiny" \
  --cfg-options model.backbone.init_cfg.checkpoint="$PRETRAINED" $GSNET_DATA_OPTS
"$PY" tools/train.py configs/gsnet_scratch_tiny.py --work-dir "$WORK_DIR/gsnet_scratch_tiny" \
  --cfg-options $GSNET_DATA_OPTS

echo "[main job] 4/5 graspnetAPI AP on the generated test scenes"
for RUN in gsnet_fne_tiny gsnet_scratch_tiny; do
  "$PY" tools/test.py "configs/$RUN.py" "$(cat "$WORK_DIR/$RUN/last_checkpoint")" \
    --work-dir "$WORK_DIR/$RUN/test" --dump-dir "$WORK_DIR/$RUN/dump" \
    --cfg-options $GSNET_DATA_OPTS \
    | grep -E "graspnet/" | sed "s#^#[$RUN] #" | tee "$WORK_DIR/$RUN/test_ap.txt"
done

echo "[main job] 5/5 grasps and a picture for one frame (scene 100, frame 0)"
"$PY" tools/infer.py - "$(cat "$WORK_DIR/gsnet_fne_tiny/last_checkpoint")" \
  --graspnet-frame "$DATA" 100 realsense 0 --out-dir "$WORK_DIR/inference" --top-k 50

echo "[main job] summary"
echo "--- pre-training (loss and label-free feature-match metric, epoch 0 = before training)"
"$PY" tools/summarize_run.py "$WORK_DIR/pretrain_fne_tiny"
echo "--- GSNet AP (graspnetAPI, generated test scenes)"
cat "$WORK_DIR/gsnet_fne_tiny/test_ap.txt" "$WORK_DIR/gsnet_scratch_tiny/test_ap.txt" \
  | grep -E "graspnet/(AP|AP0.8|AP0.4|num_frames):"
echo "--- grasps and picture: $WORK_DIR/inference"
ls "$WORK_DIR/inference"/*
