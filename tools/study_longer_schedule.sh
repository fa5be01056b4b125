#!/usr/bin/env bash
# Does the study's full-label detector stop at AP ~10 for lack of optimiser steps?
# Fine-tunes the study's 64/64 cell (arms fne and scratch, one SEED) for MULT times the
# study's steps, both arms at once with half the cores each, keeps a checkpoint at every
# multiple of the study's steps and evaluates each one on the study's test frames (the same
# tools/test.py protocol as the study). One JSON per evaluated checkpoint:
#   OUT_DIR/<arm>_seed<SEED>_iter_<N>.json  {arm, seed, iter, metrics}
# Resumable: finished evaluations are skipped, an interrupted training resumes.
# Usage: bash tools/study_longer_schedule.sh [WORK_DIR] [OUT_DIR] [MULT] [SEED]
#   defaults: work_dirs/study_longer  docs/results_raw/study_longer  4  0
# Needs the study's data and FNE pre-training (bash tools/run_study.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK_DIR="${1:-$ROOT/work_dirs/study_longer}"
OUT_DIR="${2:-$ROOT/docs/results_raw/study_longer}"
MULT="${3:-4}"
SEED="${4:-0}"
STUDY_DIR="${STUDY_DIR:-$ROOT/work_dirs/study}"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
DATA=data/graspnet_study
PRETRAINED="$STUDY_DIR/pretrain_fne/iter_640.pth"
for need in "$DATA" "$PRETRAINED"; do
  [ -e "$need" ] || { echo "missing $need: run bash tools/run_study.sh first" >&2; exit 1; }
done
STEPS="$("$PY" -c "from mmengine import Config; print(Config.fromfile('configs/study/gsnet_study_scratch.py').train_cfg.max_iters)")"
TOTAL=$(( STEPS * MULT ))
mkdir -p "$WORK_DIR" "$OUT_DIR"
CORES="$(nproc 2>/dev/null || echo 2)"
THREADS="${OMP_NUM_THREADS:-$(( CORES > 1 ? CORES / 2 : 1 ))}"
DATA_OPTS="train_dataloader.dataset.data_root=$DATA test_dataloader.dataset.data_root=$DATA test_evaluator.data_root=$DATA"
# the study's per-step lr decay continues over the longer schedule
SCHEDULE_OPTS="train_dataloader.dataset.label_fraction=64/64 randomness.seed=$SEED train_cfg.max_iters=$TOTAL train_cfg.val_interval=$TOTAL param_scheduler.0.end=$TOTAL default_hooks.checkpoint.interval=$STEPS default_hooks.checkpoint.max_keep_ckpts=$MULT"

run_arm() {
  local arm=$1 config work extra=()
  config="configs/study/gsnet_study_$arm.py"
  work="$WORK_DIR/${arm}_seed$SEED"
  [ "$arm" = fne ] && extra=("model.backbone.init_cfg.checkpoint=$PRETRAINED")
  if [ ! -e "$work/train_done" ]; then
    local resume=()
    [ -e "$work/last_checkpoint" ] && resume=(--resume)
    OMP_NUM_THREADS=$THREADS "$PY" tools/train.py "$config" --work-dir "$work" "${resume[@]}" \
      --cfg-options $DATA_OPTS $SCHEDULE_OPTS "${extra[@]}" > "$work.train.log" 2>&1
    touch "$work/train_done"
  fi
  local n
  for (( n = STEPS; n <= TOTAL; n += STEPS )); do
    local out="$OUT_DIR/${arm}_seed${SEED}_iter_${n}.json"
    [ -e "$out" ] && continue
    OMP_NUM_THREADS=$THREADS "$PY" tools/test.py "$config" "$work/iter_$n.pth" \
      --work-dir "$work/test_iter_$n" --cfg-options $DATA_OPTS "${extra[@]}" \
      > "$work.test_$n.log" 2>&1
    # the study's own parser and atomic writer (tools/run_study.py)
    "$PY" - "$work.test_$n.log" "$out" "$arm" "$n" "$SEED" <<'EOF'
import sys
sys.path.insert(0, 'tools')
from run_study import _write_json, parse_metrics
log, out, arm, n, seed = sys.argv[1:]
with open(log) as f:
    metrics = parse_metrics(f.read())
if 'graspnet/AP' not in metrics:
    sys.exit(f'no graspnet/AP in {log}')
_write_json(out, dict(arm=arm, seed=int(seed), iter=int(n), metrics=metrics))
print(f'[{arm} seed {seed}] iter {n}: AP {metrics["graspnet/AP"]:.2f}')
EOF
  done
}

# on Ctrl-C or kill, stop both arms and their training processes
trap 'trap - INT TERM; kill 0' INT TERM
run_arm fne & PID_FNE=$!
run_arm scratch & PID_SCRATCH=$!
FAILED=0
wait $PID_FNE || { echo "arm fne failed (logs in $WORK_DIR)" >&2; FAILED=1; }
wait $PID_SCRATCH || { echo "arm scratch failed (logs in $WORK_DIR)" >&2; FAILED=1; }
exit $FAILED
