#!/usr/bin/env bash
# One-shot environment set-up for graspcontrast_mm on a fresh Linux x86_64 machine.
#
# Usage: bash tools/setup_env.sh [--cpu | --cuda] [--torch-index URL]
#                                [--dry-run [--assume-cuda X.Y]]
# Environment: GRASPCONTRAST_DEVICE=cpu|cuda (same as --cpu / --cuda),
#              GRASPCONTRAST_TORCH_INDEX=URL (same as --torch-index),
#              GRASPCONTRAST_VENV=DIR (default: <checkout>/.venv).
#
# Both modes create a virtual environment at <checkout>/.venv with torch 2.13.0, mmcv 2.1.0
# WITH compiled ops, mmengine, mmdet 3.3.0, mmdet3d 1.4.0, spconv 2.3.8, open3d,
# graspnetAPI, pybullet, pytest, and this package in editable mode. Idempotent: a finished
# set-up is detected by a stamp file and skipped in about a second.
#
# CPU mode (the default): torch is PyTorch's CPU-only wheel when
# https://download.pytorch.org/whl/cpu answers within 5 s, else torch==2.13.0 as the
# package registry (or a local find-links folder) serves it; the installed build is
# printed. mmcv 2.1.0 is only published as a source tarball: it is built from source
# (about 17 min on 2 cores) unless a matching prebuilt wheel is found through pip's
# find-links: set PIP_FIND_LINKS yourself, or place wheels in ../shared/wheels next to the
# checkout.
#
# CUDA mode (--cuda): needs nvidia-smi and nvcc (checked before anything is installed).
# torch 2.13.0 is a CUDA build matching nvcc's major version (CUDA 13: the registry's
# build; CUDA 12: PyTorch's cu126 index, or --torch-index), spconv is the spconv-cuXYZ
# 2.3.8 wheel matching torch's CUDA version (the nearest older one when there is no exact
# match), mmcv 2.1.0 is compiled with its CUDA ops (FORCE_CUDA=1; or a CUDA wheel found
# through PIP_FIND_LINKS), and the last step, benchmarks/gpu_check.py, compares CPU and
# CUDA outputs. Version logic: tools/setup_plan.py. Guide: docs/gpu_setup.md.
#
# --dry-run prints the commands of a fresh set-up and installs nothing; --assume-cuda X.Y
# (dry runs only) plans for a machine with CUDA X.Y (nvcc and driver) instead of reading
# nvcc and nvidia-smi.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GRASPCONTRAST_VENV:-$ROOT/.venv}"
STAMP="$VENV/.graspcontrast_setup_done"
PLAN_PY="$ROOT/tools/setup_plan.py"
TORCH_VERSION=2.13.0
MMCV_VERSION=2.1.0
SPCONV_VERSION=2.3.8

usage() { sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }
log() { local m="$*"; ((DRY_RUN)) && m="${m//"$ROOT/"/}"; echo "[setup] $m"; }
die() { echo "[setup] error: $*" >&2; exit 1; }

MODE="${GRASPCONTRAST_DEVICE:-cpu}"
TORCH_INDEX="${GRASPCONTRAST_TORCH_INDEX:-}"
DRY_RUN=0
ASSUME_CUDA=""
while (($#)); do
  case "$1" in
    --cpu) MODE=cpu ;;
    --cuda) MODE=cuda ;;
    --dry-run) DRY_RUN=1 ;;
    --assume-cuda) [[ $# -ge 2 ]] || die "--assume-cuda needs a version, e.g. 12.6"
                   ASSUME_CUDA="$2"; shift ;;
    --assume-cuda=*) ASSUME_CUDA="${1#*=}" ;;
    --torch-index) [[ $# -ge 2 ]] || die "--torch-index needs a URL"
                   TORCH_INDEX="$2"; shift ;;
    --torch-index=*) TORCH_INDEX="${1#*=}" ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
  shift
done
case "$MODE" in
  cpu|cuda) ;;
  *) die "GRASPCONTRAST_DEVICE must be cpu or cuda, got '$MODE'" ;;
esac
if [[ -n "$ASSUME_CUDA" ]]; then
  ((DRY_RUN)) || die "--assume-cuda only applies to --dry-run (a real set-up reads nvcc \
and nvidia-smi)"
  MODE=cuda
fi
[[ "$MODE" == cpu && -n "$TORCH_INDEX" ]] && die "--torch-index applies to the CUDA mode only"

STAMP_KEY="$( { cat "$ROOT/requirements/"*.txt "$ROOT/tools/setup_env.sh" "$PLAN_PY" \
  "$ROOT/setup.py"; [[ "$MODE" == cpu ]] || echo "mode=$MODE index=$TORCH_INDEX"; } \
  | sha256sum | cut -c1-16)"
if ((!DRY_RUN)) && [[ -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_KEY" ]]; then
  echo "[setup] environment at $VENV is up to date"
  exit 0
fi

# Commands go through run: executed, or printed on a dry run (paths relative to the
# checkout).
say_cmd() {
  local a out="" q="'"
  for a in "$@"; do
    a="${a//"$ROOT/"/}"; [[ "$a" == "$ROOT" ]] && a=.
    if [[ "$a" =~ ^[A-Za-z0-9_./=:+,@%-]+$ ]]; then out+=" $a"
    else out+=" $q${a//$q/$q\\$q$q}$q"; fi
  done
  echo "+$out"
}
run() { if ((DRY_RUN)); then say_cmd "$@"; else "$@"; fi; }

command -v python3 >/dev/null 2>&1 \
  || die "python3 (3.11) is needed to create the virtual environment"

# 0. Plan (tools/setup_plan.py). The CUDA mode checks the driver and the toolkit here,
#    before anything is installed.
if [[ "$MODE" == cuda ]]; then
  PLAN_ARGS=(shell --mode cuda)
  if [[ -n "$ASSUME_CUDA" ]]; then
    PLAN_ARGS+=(--assume-cuda "$ASSUME_CUDA")
  else
    command -v nvidia-smi >/dev/null 2>&1 || die "the CUDA mode needs nvidia-smi (the NVIDIA \
driver) and it is not on PATH. Install the driver, or run without --cuda for the CPU set-up. \
Nothing was installed."
    # The nvcc that torch's extension builder will use: $CUDA_HOME (or $CUDA_PATH) when
    # set, else the one on PATH, else /usr/local/cuda.
    CUDA_HOME="${CUDA_HOME:-${CUDA_PATH:-}}"
    if [[ -n "$CUDA_HOME" ]]; then
      NVCC="$CUDA_HOME/bin/nvcc"; [[ -x "$NVCC" ]] || NVCC=""
      WHERE="in \$CUDA_HOME/bin ($CUDA_HOME/bin)"
    else
      NVCC="$(command -v nvcc 2>/dev/null || true)"
      [[ -z "$NVCC" && -x /usr/local/cuda/bin/nvcc ]] && NVCC=/usr/local/cuda/bin/nvcc
      WHERE="on PATH or in /usr/local/cuda/bin"
      [[ -n "$NVCC" ]] && CUDA_HOME="$(dirname "$(dirname "$(readlink -f "$NVCC")")")"
    fi
    [[ -n "$NVCC" ]] || die "the CUDA mode needs nvcc (the CUDA toolkit, 12.x or 13.x) to \
compile mmcv's CUDA ops, and found none $WHERE. Install the toolkit (or set CUDA_HOME), or \
run without --cuda for the CPU set-up. Nothing was installed."
    export CUDA_HOME
    export PATH="$CUDA_HOME/bin:$PATH"
    SMI_TEXT="$(nvidia-smi 2>&1)" || die "nvidia-smi failed (is the driver loaded?):
$SMI_TEXT
Nothing was installed."
    NVCC_TEXT="$("$NVCC" --version 2>&1)" || die "$NVCC --version failed:
$NVCC_TEXT"
    PLAN_ARGS+=(--nvcc-text "$NVCC_TEXT" --smi-text "$SMI_TEXT")
  fi
  [[ -n "$TORCH_INDEX" ]] && PLAN_ARGS+=(--torch-index "$TORCH_INDEX")
else
  PLAN_ARGS=(shell --mode cpu)
fi
PLAN_SH="$(python3 "$PLAN_PY" "${PLAN_ARGS[@]}")" || die "nothing was installed"
eval "$PLAN_SH"
if ((DRY_RUN)); then
  log "dry run, $PLAN_MODE mode${ASSUME_CUDA:+ (assumed CUDA $ASSUME_CUDA machine)}: the \
commands a fresh set-up runs from the checkout; nothing is installed"
fi
for line in "${PLAN_SUMMARY[@]}"; do log "plan: $line"; done

# 1. System library needed by open3d (libusb-1.0).
if ((DRY_RUN)) || ! ldconfig -p 2>/dev/null | grep -q "libusb-1.0.so.0"; then
  ((DRY_RUN)) && echo "# only when ldconfig does not list libusb-1.0.so.0 (sudo when not root):"
  log "installing system library libusb-1.0-0 (needed to import open3d)"
  SUDO=""; [[ "$(id -u)" != "0" ]] && SUDO="sudo"
  run $SUDO apt-get update -qq || true
  APT_INSTALL=($SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libusb-1.0-0
               libgomp1)
  if ((DRY_RUN)); then say_cmd "${APT_INSTALL[@]}"; else "${APT_INSTALL[@]}" >/dev/null; fi
fi

# 2. Virtual environment.
if ((DRY_RUN)) || [[ ! -x "$VENV/bin/python" ]]; then
  log "creating virtual environment at $VENV"
  run python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check --progress-bar off)
# setuptools: torch 2.13.0 requires >= 77.0.3, and mmcv 2.1.0's setup.py imports
# pkg_resources, which setuptools 81 and later no longer ship.
BOOTSTRAP=("pip<26" wheel "setuptools>=77.0.3,<81")
[[ "$MODE" == cuda ]] && BOOTSTRAP+=(ninja)  # parallel compilation of mmcv's CUDA ops
run "${PIP[@]}" -q --upgrade "${BOOTSTRAP[@]}"

# torch's version and CUDA version in the venv ("2.13.0 13.0", "2.13.0 cpu", or "").
torch_state() {
  ((DRY_RUN)) && return 0
  "$PY" -c "import torch; print(torch.__version__.split('+')[0], torch.version.cuda or 'cpu')" \
    2>/dev/null || true
}
torch_build() {
  "$PY" -c "import torch; c = torch.version.cuda
print(f'torch {torch.__version__}: ' + (f'CUDA {c} build' if c else 'CPU-only build'))"
}

# 3. torch 2.13.0.
HAVE_TORCH="$(torch_state)"
if [[ "$MODE" == cpu ]]; then
  if [[ "${HAVE_TORCH%% *}" == "$TORCH_VERSION" ]]; then
    log "torch $TORCH_VERSION is already installed (kept as it is)"
  elif ((DRY_RUN)); then
    echo "# when $TORCH_PROBE_URL answers within $TORCH_PROBE_TIMEOUT s:"
    say_cmd "${PIP[@]}" -q "$TORCH_SPEC" "${TORCH_INDEX_ARGS[@]}"
    echo "# otherwise (or when that install fails):"
    say_cmd "${PIP[@]}" -q "$TORCH_FALLBACK_SPEC"
  elif timeout $((TORCH_PROBE_TIMEOUT + 5)) python3 "$PLAN_PY" probe "$TORCH_PROBE_URL" \
      --timeout "$TORCH_PROBE_TIMEOUT"; then
    log "installing $TORCH_SPEC from PyTorch's CPU index"
    "${PIP[@]}" -q "$TORCH_SPEC" "${TORCH_INDEX_ARGS[@]}" || {
      log "PyTorch's CPU index failed; installing $TORCH_FALLBACK_SPEC from the registry"
      "${PIP[@]}" -q "$TORCH_FALLBACK_SPEC"; }
  else
    log "installing $TORCH_FALLBACK_SPEC (PyTorch's CPU index did not answer)"
    "${PIP[@]}" -q "$TORCH_FALLBACK_SPEC"
  fi
else
  if [[ "$HAVE_TORCH" == "$TORCH_VERSION $TORCH_CUDA" ]]; then
    log "torch $TORCH_VERSION (CUDA $TORCH_CUDA build) is already installed"
  else
    if [[ -n "$HAVE_TORCH" ]]; then
      log "replacing torch $HAVE_TORCH (version, CUDA) by the CUDA $TORCH_CUDA build"
      run "$PY" -m pip uninstall -y -q torch
    fi
    log "installing $TORCH_SPEC${TORCH_INDEX_ARGS[1]:+ from ${TORCH_INDEX_ARGS[1]}}"
    run "${PIP[@]}" -q "$TORCH_SPEC" ${TORCH_INDEX_ARGS[@]+"${TORCH_INDEX_ARGS[@]}"} \
      || die "could not install $TORCH_SPEC. If that index has no torch $TORCH_VERSION \
build, name a PyTorch index that has one for your CUDA major version with --torch-index \
(e.g. https://download.pytorch.org/whl/cu128)."
  fi
fi
if ((DRY_RUN)); then
  if [[ -n "$TORCH_CUDA" ]]; then EXPECTED="CUDA $TORCH_CUDA build"
  else EXPECTED="CPU-only build; on the fall-back, whichever build the registry serves"; fi
  log "torch: expected $EXPECTED"
else
  log "$(torch_build)"
fi
if [[ "$MODE" == cuda ]] && ((!DRY_RUN)); then
  ACTUAL_CUDA="$("$PY" -c "import torch; print(torch.version.cuda or '')")"
  [[ -n "$ACTUAL_CUDA" ]] || die "the installed torch is a CPU-only build (a +cpu wheel on \
PIP_FIND_LINKS?); the CUDA mode needs a CUDA build"
  "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" || die "torch \
$TORCH_VERSION (CUDA $ACTUAL_CUDA) cannot use the GPU: the driver supports CUDA \
$DRIVER_CUDA (nvidia-smi); update it or choose another torch build with --torch-index"
  eval "$(python3 "$PLAN_PY" spconv --torch-cuda "$ACTUAL_CUDA" --driver-cuda "$DRIVER_CUDA")"
  log "spconv: $SPCONV_NOTE"
fi

# 4. mmcv 2.1.0 with compiled ops: cached wheel if present, else build from source.
if [[ "$MODE" == cpu ]]; then
  SHARED_WHEELS="$ROOT/../shared/wheels"
  if [[ -d "$SHARED_WHEELS" ]]; then
    export PIP_FIND_LINKS="${PIP_FIND_LINKS:+$PIP_FIND_LINKS }$SHARED_WHEELS"
    log "using wheel cache $SHARED_WHEELS"
  fi
  MMCV_CHECK="import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'"
  MMCV_NOTE="builds from source if no cached wheel: ~17 min on 2 cores"
else
  # ../shared/wheels is not used: its mmcv wheel has CPU ops only.
  MMCV_CHECK="import mmcv; from mmcv.ops import get_compiling_cuda_version as v
assert mmcv.__version__ == '$MMCV_VERSION' and v() not in ('', 'not available')"
  MMCV_NOTE="compiles the CUDA ops with nvcc $TOOLKIT_CUDA: roughly an hour on 2 cores (estimate), \
less with more cores; TORCH_CUDA_ARCH_LIST and MAX_JOBS are honoured"
fi
if ((DRY_RUN)) || ! "$PY" -c "$MMCV_CHECK" 2>/dev/null; then
  if [[ "$MODE" == cuda ]] && ((!DRY_RUN)) && "$PY" -m pip show -q mmcv >/dev/null 2>&1; then
    log "replacing the installed mmcv (no CUDA ops)"
    "$PY" -m pip uninstall -y -q mmcv
  fi
  log "installing mmcv==$MMCV_VERSION with ops ($MMCV_NOTE)"
  run env "${MMCV_ENV[@]}" "${PIP[@]}" "${MMCV_PIP_ARGS[@]}" "mmcv==$MMCV_VERSION"
  if ((!DRY_RUN)) && ! "$PY" -c "$MMCV_CHECK"; then
    die "mmcv $MMCV_VERSION installed without the expected ops (a CPU-only wheel found \
through PIP_FIND_LINKS?)"
  fi
fi

# 5. The rest of the stack (pinned in requirements/*.txt). spconv, spconv-cuXYZ and their
#    cumm builds install the same modules: other builds are removed first.
if ((!DRY_RUN)); then
  mapfile -t OLD_SPCONV < <("$PY" -m pip freeze 2>/dev/null \
    | python3 "$PLAN_PY" conflicts --keep "$SPCONV_PKG")
  if ((${#OLD_SPCONV[@]})); then
    log "removing ${OLD_SPCONV[*]} (replaced by $SPCONV_PKG)"
    "$PY" -m pip uninstall -y -q "${OLD_SPCONV[@]}"
  fi
fi
log "installing runtime requirements"
if [[ "$MODE" == cpu ]]; then
  run "${PIP[@]}" -q -r "$ROOT/requirements/runtime.txt"
else
  mapfile -t RUNTIME_REQS < <(python3 "$PLAN_PY" requirements \
    "$ROOT/requirements/runtime.txt" --drop spconv)
  run "${PIP[@]}" -q "${RUNTIME_REQS[@]}" "$SPCONV_PKG==$SPCONV_VERSION"
fi
log "installing mmdet / mmdet3d / graspnetAPI without their heavy pins"
run "${PIP[@]}" -q --no-deps -r "$ROOT/requirements/nodeps.txt"
log "installing test requirements"
run "${PIP[@]}" -q -r "$ROOT/requirements/tests.txt"

# 6. This package (editable).
run "${PIP[@]}" -q --no-deps --no-build-isolation -e "$ROOT"

IMPORT_CHECK="import mmcv.ops, mmdet3d.models, spconv.pytorch, open3d, graspnetAPI, pybullet
import graspcontrast_mm
print('[setup] import check passed')"
if [[ "$MODE" == cuda ]]; then
  IMPORT_CHECK+="
import torch
from mmcv.ops import get_compiling_cuda_version
print('[setup] GPU:', torch.cuda.get_device_name(0), '| mmcv ops built with CUDA',
      get_compiling_cuda_version())"
fi
if ((DRY_RUN)); then
  say_cmd "$PY" -c "import mmcv.ops, mmdet3d.models, spconv.pytorch, open3d, graspnetAPI, \
pybullet, graspcontrast_mm"
else
  "$PY" -c "$IMPORT_CHECK"
fi

# 7. CUDA mode: the same weights and inputs on CPU and CUDA, outputs compared.
if [[ "$MODE" == cuda ]]; then
  log "comparing CPU and CUDA outputs (benchmarks/gpu_check.py)"
  run "$PY" "$ROOT/benchmarks/gpu_check.py" --require-cuda || die "benchmarks/gpu_check.py \
failed (see above): the packages are installed, but the set-up is not marked done"
fi
((DRY_RUN)) && exit 0
echo "$STAMP_KEY" > "$STAMP"
log "done: activate with 'source $VENV/bin/activate'"
