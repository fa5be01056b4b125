#!/usr/bin/env bash
# Main job on the small built-in default, from a fresh checkout (CPU, about 6 min on 2
# cores after the set-up and the data; docs/benchmarks.md, "Main job"):
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

GSNET_DATA_OPTS="train_dataloader.dataset.data_root=$DATA test_dataloader.dataset.data_root=$DATA test_evaluator.data_root=$DATA"
# While other runs share the machine, a training process runs one torch thread and loads
# its data in one worker process (a user's OMP_NUM_THREADS wins; the last fine-tuning,
# alone on the machine, differs: below). The tiny model's step is hundreds of short kernels: a
# second thread of the same process costs more in wake-ups than it computes (measured
# with benchmarks/bench_train_step.py: pre-training model step 0.33 s with one thread,
# 0.35 s with two; fine-tuning 0.29 vs 0.37 s; docs/benchmarks.md, "Main job, second
# round"), while a data worker on the other core takes the data pipeline (about 0.05 s of
# pair loading per pre-training step, 0.02 s per fine-tuning step with the frames cached)
# off the step. The
# configs themselves keep loading in the main process: only there
# do the augmentation draws come from the RNG state a checkpoint saves, so that a run
# resumed mid-epoch equals the uninterrupted one (this job never resumes).
THREADS="${OMP_NUM_THREADS:-1}"
WORKER_OPTS="train_dataloader.num_workers=1 train_dataloader.persistent_workers=True"
# The fine-tuning configs validate on the test scenes when they finish; here tools/test.py
# evaluates each detector once (the same AP, with the grasp dumps), so the fine-tunings
# skip that repetition (about 3 s at the end of each).
NO_VAL_OPTS="val_dataloader=None val_cfg=None val_evaluator=None"
mkdir -p "$WORK_DIR/pretrain_fne_tiny" "$WORK_DIR/gsnet_fne_tiny" "$WORK_DIR/gsnet_scratch_tiny"

# Each stage's processes start before the stage they depend on has finished and wait for
# its result with --wait-for (tools/train.py, test.py, infer.py): their imports and set-up
# (about 5 s each) overlap the running stage instead of following it. The results they
# wait for are written last: the dataset's marker once the data check passed, and for each
# training run a link to its last checkpoint, made by tools/train.py
# (--link-last-checkpoint) once the run has finished, before the process winds down.
DATA_READY="$WORK_DIR/dataset_ready"
final_checkpoint() { echo "$WORK_DIR/$1/final_checkpoint.pth"; }
rm -f "$DATA_READY" "$(final_checkpoint pretrain_fne_tiny)" \
  "$(final_checkpoint gsnet_fne_tiny)" "$(final_checkpoint gsnet_scratch_tiny)"

# background jobs of a script ignore Ctrl-C: whatever is still running when the job stops
# (finished, failed or interrupted) is stopped with it
BACKGROUND=()
trap 'kill "${BACKGROUND[@]}" 2>/dev/null || true' EXIT

finished_ok() {  # finished_ok PID WHAT [LOG]: wait for a background run, fail loudly
  if ! wait "$1"; then
    if [ -n "${3:-}" ]; then
      echo "[main job] $2 failed; the end of its log ($3):" >&2
      tail -n 30 "$3" >&2
    else
      echo "[main job] $2 failed (its output is above)" >&2
    fi
    exit 1
  fi
}

start_test() {  # start_test RUN [nice]: graspnetAPI AP of the run's final checkpoint
  local run="$1" prefix=()
  [ "${2:-}" = nice ] && prefix=(nice -n 19)
  OMP_NUM_THREADS=$THREADS "${prefix[@]}" "$PY" tools/test.py "configs/$run.py" \
    "$(final_checkpoint "$run")" --wait-for "$(final_checkpoint "$run")" \
    --work-dir "$WORK_DIR/$run/test" --dump-dir "$WORK_DIR/$run/dump" \
    --cfg-options $GSNET_DATA_OPTS > "$WORK_DIR/$run/test.log" 2>&1 &
  BACKGROUND+=($!)
  eval "PID_TEST_${run^^}=\$!"
}

echo "[main job] 1/5 generating the tiny labelled dataset in $DATA (log: $WORK_DIR/create_dataset.log)"
("$PY" tools/create_graspnet_scenes.py --preset tiny --out "$DATA" \
   > "$WORK_DIR/create_dataset.log" 2>&1 && touch "$DATA_READY") &
PID_DATA=$!
BACKGROUND+=($PID_DATA)

echo "[main job] 2/5 pre-training (configs/pretrain_fne_tiny.py) -> $WORK_DIR/pretrain_fne_tiny"
echo "[main job]     and, beside it at the lowest CPU priority, fine-tuning GSNet from scratch"
# The scratch fine-tuning does not need the pre-trained backbone. At nice 19 it runs on
# what the pre-training leaves idle (its main process keeps one core, its data worker
# about 40 % of the other) and hardly slows it down (measured: 10.7-11 s per pre-training
# epoch with and without it). With its own data worker it waits for its batches part of
# the time; loading in its main process instead, it took more of the CPU and the
# pre-training's steps rose from 0.34 to 0.36 s (docs/benchmarks.md, "Main job").
OMP_NUM_THREADS=$THREADS nice -n 19 "$PY" tools/train.py configs/gsnet_scratch_tiny.py \
  --work-dir "$WORK_DIR/gsnet_scratch_tiny" --cfg-options $GSNET_DATA_OPTS $WORKER_OPTS $NO_VAL_OPTS \
  --wait-for "$DATA_READY" --link-last-checkpoint "$(final_checkpoint gsnet_scratch_tiny)" \
  > "$WORK_DIR/gsnet_scratch_tiny/train.log" 2>&1 &
PID_SCRATCH=$!
BACKGROUND+=($PID_SCRATCH)
OMP_NUM_THREADS=$THREADS "$PY" tools/train.py configs/pretrain_fne_tiny.py \
  --work-dir "$WORK_DIR/pretrain_fne_tiny" \
  --cfg-options train_dataloader.dataset.data_root=$DATA val_dataloader.dataset.data_root=$DATA \
  $WORKER_OPTS val_dataloader.num_workers=1 val_dataloader.persistent_workers=True \
  --wait-for "$DATA_READY" --link-last-checkpoint "$(final_checkpoint pretrain_fne_tiny)" &
PID_PRETRAIN=$!
BACKGROUND+=($PID_PRETRAIN)
finished_ok $PID_DATA "generating the tiny dataset" "$WORK_DIR/create_dataset.log"
tail -n 1 "$WORK_DIR/create_dataset.log"
# the scratch run's evaluation, at the lowest priority too, as soon as that run is done
start_test gsnet_scratch_tiny nice
# The fine-tuning from the pre-trained backbone waits for the pre-training's checkpoint.
# It runs when the scratch run is (usually) done and the other core is idle, so it takes
# two threads that spin briefly at OpenMP barriers before sleeping (GOMP_SPINCOUNT=30000
# iterations) and loads its data in its own process: model step 0.23 s against 0.31 s with
# one thread (bench_train_step.py configs/gsnet_fne_tiny.py --threads 1 2; passive waiting
# without the spin: 0.39 s). A data worker beside the two threads costs more than it saves
# (0.33 s per step in the job, against 0.25 s loading in-process: the cached frames take
# 11 ms each). Should a normal-priority busy process share the second core, two threads
# lose (0.98 s in that test): OMP_NUM_THREADS=1 keeps every stage at one thread.
FNE_THREADS="${OMP_NUM_THREADS:-2}"
OMP_NUM_THREADS=$FNE_THREADS GOMP_SPINCOUNT="${GOMP_SPINCOUNT:-30000}" \
  "$PY" tools/train.py configs/gsnet_fne_tiny.py --work-dir "$WORK_DIR/gsnet_fne_tiny" \
  --cfg-options model.backbone.init_cfg.checkpoint="$(final_checkpoint pretrain_fne_tiny)" \
  $GSNET_DATA_OPTS $NO_VAL_OPTS --wait-for "$(final_checkpoint pretrain_fne_tiny)" \
  --link-last-checkpoint "$(final_checkpoint gsnet_fne_tiny)" \
  > "$WORK_DIR/gsnet_fne_tiny/train.log" 2>&1 &
PID_FNE=$!
BACKGROUND+=($PID_FNE)
finished_ok $PID_PRETRAIN "pre-training"

echo "[main job] 3/5 fine-tuning GSNet from the pre-trained backbone"
echo "[main job] logs: $WORK_DIR/gsnet_fne_tiny/train.log, $WORK_DIR/gsnet_scratch_tiny/train.log"
# the fine-tuned detector's evaluation and its grasps for one frame wait for its checkpoint
start_test gsnet_fne_tiny
OMP_NUM_THREADS=$THREADS "$PY" tools/infer.py - "$(final_checkpoint gsnet_fne_tiny)" \
  --graspnet-frame "$DATA" 100 realsense 0 --out-dir "$WORK_DIR/inference" --top-k 50 \
  --wait-for "$(final_checkpoint gsnet_fne_tiny)" > "$WORK_DIR/inference.log" 2>&1 &
PID_INFER=$!
BACKGROUND+=($PID_INFER)
TICK=0
while kill -0 $PID_FNE 2>/dev/null; do
  sleep 1  # notice an end within a second; report progress every 30 s
  TICK=$(( TICK + 1 ))
  [ $(( TICK % 30 )) -eq 0 ] || continue
  for RUN in gsnet_fne_tiny gsnet_scratch_tiny; do
    LAST="$(grep -oE "Iter\(train\) \[ *[0-9]+/[0-9]+\].*eta: [0-9:]+" "$WORK_DIR/$RUN/train.log" | tail -n 1 \
            | sed -E 's/ +lr: [^ ]+//' || true)"
    VAR="SHOWN_${RUN^^}"
    if [ -n "$LAST" ] && [ "$LAST" != "${!VAR:-}" ]; then echo "[$RUN] $LAST"; fi
    eval "$VAR=\$LAST"
  done
done
finished_ok $PID_FNE "fine-tuning gsnet_fne_tiny" "$WORK_DIR/gsnet_fne_tiny/train.log"
finished_ok $PID_SCRATCH "fine-tuning gsnet_scratch_tiny" "$WORK_DIR/gsnet_scratch_tiny/train.log"
echo "[main job] 4/5 graspnetAPI AP of both detectors, and 5/5 grasps and a picture for one frame (scene 100, frame 0)"
finished_ok $PID_INFER "grasp detection on scene 100, frame 0" "$WORK_DIR/inference.log"
grep -v "^waiting for " "$WORK_DIR/inference.log"
for RUN in gsnet_fne_tiny gsnet_scratch_tiny; do
  PID_VAR="PID_TEST_${RUN^^}"
  finished_ok "${!PID_VAR}" "testing $RUN" "$WORK_DIR/$RUN/test.log"
  grep -E "^graspnet/" "$WORK_DIR/$RUN/test.log" | sed "s#^#[$RUN] #" \
    | tee "$WORK_DIR/$RUN/test_ap.txt"
done
trap - EXIT

echo "[main job] summary"
echo "--- pre-training (loss and label-free feature-match metric, epoch 0 = before training)"
"$PY" tools/summarize_run.py "$WORK_DIR/pretrain_fne_tiny"
echo "--- GSNet AP (graspnetAPI, generated test scenes)"
cat "$WORK_DIR/gsnet_fne_tiny/test_ap.txt" "$WORK_DIR/gsnet_scratch_tiny/test_ap.txt" \
  | grep -E "graspnet/(AP|AP0.8|AP0.4|num_frames):"
echo "--- grasps and picture: $WORK_DIR/inference"
ls "$WORK_DIR/inference"/*
