#!/usr/bin/env bash
# Main job on the small built-in default, from a fresh checkout (CPU, ~15 min on 2 cores):
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
# one data worker: the pair pipeline (about 0.26 s per batch) overlaps the model step,
# 0.96 -> 0.80 s per step on 2 cores. The config keeps loading in the main process: only
# there do the augmentation draws come from the RNG state a checkpoint saves, so that a
# run resumed mid-epoch equals the uninterrupted one (this job never resumes).
"$PY" tools/train.py configs/pretrain_fne_tiny.py --work-dir "$WORK_DIR/pretrain_fne_tiny" \
  --cfg-options train_dataloader.dataset.data_root=$DATA val_dataloader.dataset.data_root=$DATA \
  train_dataloader.num_workers=1 train_dataloader.persistent_workers=True
PRETRAINED="$(cat "$WORK_DIR/pretrain_fne_tiny/last_checkpoint")"

echo "[main job] 3/5 fine-tuning GSNet from the pre-trained backbone and from scratch (both at once)"
GSNET_DATA_OPTS="train_dataloader.dataset.data_root=$DATA test_dataloader.dataset.data_root=$DATA test_evaluator.data_root=$DATA"
# The two fine-tunings are independent. The tiny model's step is many short kernels that
# keep two threads only partly busy, so two runs with half the cores each finish in about
# the time of one run with all of them (docs/benchmarks.md, "Main job"). A user's
# OMP_NUM_THREADS wins.
CORES="$(nproc 2>/dev/null || echo 2)"
THREADS="${OMP_NUM_THREADS:-$(( CORES > 1 ? CORES / 2 : 1 ))}"
mkdir -p "$WORK_DIR/gsnet_fne_tiny" "$WORK_DIR/gsnet_scratch_tiny"
OMP_NUM_THREADS=$THREADS "$PY" tools/train.py configs/gsnet_fne_tiny.py --work-dir "$WORK_DIR/gsnet_fne_tiny" \
  --cfg-options model.backbone.init_cfg.checkpoint="$PRETRAINED" $GSNET_DATA_OPTS \
  > "$WORK_DIR/gsnet_fne_tiny/train.log" 2>&1 &
PID_FNE=$!
OMP_NUM_THREADS=$THREADS "$PY" tools/train.py configs/gsnet_scratch_tiny.py --work-dir "$WORK_DIR/gsnet_scratch_tiny" \
  --cfg-options $GSNET_DATA_OPTS \
  > "$WORK_DIR/gsnet_scratch_tiny/train.log" 2>&1 &
PID_SCRATCH=$!
# background jobs of a script ignore Ctrl-C: stop them when the job stops
trap 'kill $PID_FNE $PID_SCRATCH 2>/dev/null || true' EXIT
echo "[main job] logs: $WORK_DIR/gsnet_fne_tiny/train.log, $WORK_DIR/gsnet_scratch_tiny/train.log"
TICK=0
while kill -0 $PID_FNE 2>/dev/null || kill -0 $PID_SCRATCH 2>/dev/null; do
  sleep 5  # notice the end within seconds; report progress every 30 s
  TICK=$(( TICK + 1 ))
  [ $(( TICK % 6 )) -eq 0 ] || continue
  for RUN in gsnet_fne_tiny gsnet_scratch_tiny; do
    LAST="$(grep -oE "Iter\(train\) \[ *[0-9]+/[0-9]+\].*eta: [0-9:]+" "$WORK_DIR/$RUN/train.log" | tail -n 1 \
            | sed -E 's/ +lr: [^ ]+//' || true)"
    if [ -n "$LAST" ]; then echo "[$RUN] $LAST"; fi
  done
done
FAILED=0
for RUN in fne scratch; do
  PID_VAR="PID_${RUN^^}"
  if ! wait "${!PID_VAR}"; then
    echo "[main job] fine-tuning gsnet_${RUN}_tiny failed; the end of its log:" >&2
    tail -n 30 "$WORK_DIR/gsnet_${RUN}_tiny/train.log" >&2
    FAILED=1
  fi
done
trap - EXIT
[ "$FAILED" -eq 0 ] || exit 1

echo "[main job] 4/5 graspnetAPI AP on the generated test scenes (both detectors at once)"
for RUN in gsnet_fne_tiny gsnet_scratch_tiny; do
  OMP_NUM_THREADS=$THREADS "$PY" tools/test.py "configs/$RUN.py" \
    "$(cat "$WORK_DIR/$RUN/last_checkpoint")" \
    --work-dir "$WORK_DIR/$RUN/test" --dump-dir "$WORK_DIR/$RUN/dump" \
    --cfg-options $GSNET_DATA_OPTS > "$WORK_DIR/$RUN/test.log" 2>&1 &
  eval "PID_TEST_${RUN^^}=\$!"
done
trap 'kill $PID_TEST_GSNET_FNE_TINY $PID_TEST_GSNET_SCRATCH_TINY 2>/dev/null || true' EXIT
for RUN in gsnet_fne_tiny gsnet_scratch_tiny; do
  PID_VAR="PID_TEST_${RUN^^}"
  if ! wait "${!PID_VAR}"; then
    echo "[main job] testing $RUN failed; the end of its log:" >&2
    tail -n 30 "$WORK_DIR/$RUN/test.log" >&2
    exit 1
  fi
  grep -E "^graspnet/" "$WORK_DIR/$RUN/test.log" | sed "s#^#[$RUN] #" \
    | tee "$WORK_DIR/$RUN/test_ap.txt"
done
trap - EXIT

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
