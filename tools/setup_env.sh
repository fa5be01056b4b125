#!/usr/bin/env bash
# One-shot environment set-up for graspcontrast_mm on a fresh Linux x86_64 machine (CPU).
#
# Creates a virtual environment at <checkout>/.venv with torch 2.13.0 (CPU), mmcv 2.1.0 WITH
# compiled ops, mmengine, mmdet 3.3.0, mmdet3d 1.4.0, spconv, open3d, graspnetAPI, pybullet,
# pytest, and this package in editable mode. Idempotent: a finished set-up is detected by a
# stamp file and skipped in about a second.
#
# mmcv 2.1.0 is only published as a source tarball; it is built from source (about 17 min on
# 2 cores) unless a matching prebuilt wheel is found through pip's standard find-links: set
# PIP_FIND_LINKS yourself, or place wheels in ../shared/wheels next to the checkout.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GRASPCONTRAST_VENV:-$ROOT/.venv}"
STAMP="$VENV/.graspcontrast_setup_done"
STAMP_KEY="$(cat "$ROOT/requirements/"*.txt "$ROOT/tools/setup_env.sh" "$ROOT/setup.py" | sha256sum | cut -c1-16)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_KEY" ]]; then
  echo "[setup] environment at $VENV is up to date"
  exit 0
fi

log() { echo "[setup] $*"; }

# 1. System library needed by open3d (libusb-1.0).
if ! ldconfig -p 2>/dev/null | grep -q "libusb-1.0.so.0"; then
  log "installing system library libusb-1.0-0 (needed to import open3d)"
  SUDO=""; [[ "$(id -u)" != "0" ]] && SUDO="sudo"
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libusb-1.0-0 libgomp1 >/dev/null
fi

# 2. Virtual environment.
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating virtual environment at $VENV"
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check --progress-bar off)
"${PIP[@]}" -q --upgrade "pip<26" wheel "setuptools<70"

# 3. torch (CPU build). Pinned: an unpinned torch pulls a multi-GB CUDA build.
log "installing torch==2.13.0"
"${PIP[@]}" -q torch==2.13.0

# 4. mmcv 2.1.0 with compiled ops: cached wheel if present, else build from source.
SHARED_WHEELS="$ROOT/../shared/wheels"
if [[ -d "$SHARED_WHEELS" ]]; then
  export PIP_FIND_LINKS="${PIP_FIND_LINKS:+$PIP_FIND_LINKS }$SHARED_WHEELS"
  log "using wheel cache $SHARED_WHEELS"
fi
if ! "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '2.1.0'" 2>/dev/null; then
  log "installing mmcv==2.1.0 with ops (builds from source if no cached wheel: ~17 min)"
  MMCV_WITH_OPS=1 FORCE_CUDA=0 "${PIP[@]}" --no-build-isolation mmcv==2.1.0
fi

# 5. The rest of the stack (pinned in requirements/*.txt).
log "installing runtime requirements"
"${PIP[@]}" -q -r "$ROOT/requirements/runtime.txt"
log "installing mmdet / mmdet3d / graspnetAPI without their heavy pins"
"${PIP[@]}" -q --no-deps -r "$ROOT/requirements/nodeps.txt"
log "installing test requirements"
"${PIP[@]}" -q -r "$ROOT/requirements/tests.txt"

# 6. This package (editable).
"${PIP[@]}" -q --no-deps --no-build-isolation -e "$ROOT"

"$PY" - <<'PYEOF'
import mmcv.ops, mmdet3d.models, spconv.pytorch, open3d, graspnetAPI, pybullet  # noqa: F401
import graspcontrast_mm  # noqa: F401
print('[setup] import check passed')
PYEOF
echo "$STAMP_KEY" > "$STAMP"
log "done: activate with 'source $VENV/bin/activate'"
