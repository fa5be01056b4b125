"""CPU vs CUDA: the same weights and inputs through the SparseUNet, the pre-training loss
and GSNet's forward; outputs compared with stated tolerances, step times printed.

On CPU the spconv layers run through ``graspcontrast_mm.ops`` (the project's fixed,
differentiable CPU path); on CUDA through spconv's own kernels. This script checks that
both give the same numbers. Every model is built once on CPU (seeded) and deep-copied to
the other device; inputs are built once on CPU and moved. TF32 is switched off (torch
matmul / cuDNN and spconv), so both sides compute in float32.

Checks and tolerances. ``rel`` is ``max|other - cpu| / max|cpu|`` (the error relative to
the scale of the CPU output); gradients use ``||g_other - g_cpu|| / ||g_cpu||`` over all
parameters at once.

==========================  ==========================================  ============
check                       compared                                    tolerance
==========================  ==========================================  ============
SparseUNet (eval)           per-voxel output features                   rel <= 1e-3
pre-trainer loss (train)    FNE-InfoNCE loss of a batch of 2 pairs      rel <= 1e-3
pre-trainer backward        gradients of every parameter                rel <= 5e-3
GSNet forward (eval)        objectness logits and graspness per point   rel <= 1e-3
                            seed indices (farthest point sampling)      identical
                            approach view scores of every seed          rel <= 1e-3
                            chosen approach view of every seed          >= 99% agree
                            score / width grids of the seeds whose      >= 99% of
                            view agrees (a near-tie may pick another    seeds with
                            view and so another crop)                   rel <= 1e-3
==========================  ==========================================  ============

GSNet's graspable head is biased so that every point is a seed candidate: the seeds then
come from the same farthest point sampling on both devices, and the comparison does not
hang on a thresholded decision. Models: ``--size full`` (default) is the library's default
GSNet (default SparseUNet plan, 512-d, 300 views, 1024 seeds); the SparseUNet and
pre-trainer checks use the same backbone plan with one input channel. ``--size tiny`` is
a narrow variant for quick runs. The scene is synthetic (a tilted table plane with boxes,
camera frame, metres, 5 mm voxels); the second view of a pre-training pair is the first
one rotated by 10 degrees, moved and jittered by 1 mm.

Step times: median over ``--repeats`` runs after one warm-up, in milliseconds, with CUDA
synchronised before each clock read.

Usage::

    python benchmarks/gpu_check.py [--size full|tiny] [--points N] [--repeats 3]
        [--threads T] [--require-cuda]
    python benchmarks/gpu_check.py --device cpu --size tiny     # CPU against CPU

Exit status: 0 when every comparison is within tolerance, or when CUDA is not available
(the script says it skipped); 1 when some comparison is outside its tolerance; 2 when CUDA
is not available and ``--require-cuda`` is given. ``--perturb EPS`` adds relative noise of
size EPS to the compared copy's weights, a self-test that must make the comparisons fail.
"""
import argparse
import copy
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

_TINY_BACKBONE = dict(planes=(8, 8, 16, 16, 16, 16, 8, 8), out_channels=16, init_dim=8)
#: ``full``: the library's default SparseUNet and GSNet; ``tiny``: narrow, for quick runs.
SIZES = {
    'full': dict(backbone=dict(), gsnet=dict(), points=20000, key_points=1024),
    'tiny': dict(backbone=_TINY_BACKBONE, points=3000, key_points=128,
                 gsnet=dict(backbone=dict(type='SparseUNet', in_channels=1,
                                          **_TINY_BACKBONE),
                            crop_head=dict(type='CylinderCropHead', mlp_channels=(16, 16)),
                            swad_head=dict(type='SWADHead', hidden_channels=16),
                            num_seeds=64)),
}
VOXEL_SIZE_M = 0.005
TOL = dict(unet=1e-3, loss=1e-3, grad=5e-3, point_heads=1e-3, view_scores=1e-3,
           view_agree=0.99, swad=1e-3, swad_seed_fraction=0.99)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--device', default='cuda',
                   help='device compared with the CPU (default cuda; cpu runs the '
                        'comparison CPU against CPU)')
    p.add_argument('--size', choices=sorted(SIZES), default='full')
    p.add_argument('--points', type=int, default=None,
                   help='points per cloud (default: 20000 full, 3000 tiny)')
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--threads', type=int, default=None, help='CPU torch threads')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--require-cuda', action='store_true',
                   help='exit 2 (instead of 0) when CUDA is not available')
    p.add_argument('--perturb', type=float, default=0.0,
                   help='self-test: relative noise added to the compared copy\'s weights')
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error('--repeats must be >= 1')
    return args


def cuda_unavailable_reason(device: str) -> Optional[str]:
    """Why ``device`` cannot be used (None when it can)."""
    if not device.startswith('cuda'):
        return None
    if torch.version.cuda is None:
        return f'torch {torch.__version__} is a CPU-only build'
    if not torch.cuda.is_available():
        return (f'torch {torch.__version__} is a CUDA {torch.version.cuda} build, but no '
                'GPU is visible (driver, CUDA_VISIBLE_DEVICES?)')
    return None


# ------------------------------------------------------------------------------ inputs
def make_scene(num_points: int, rng: np.random.Generator) -> np.ndarray:
    """(N, 3) float32 camera-frame points, metres: a tilted table plane and 4 boxes."""
    n_table = num_points // 2
    uv = rng.uniform(-0.25, 0.25, (n_table, 2))
    parts = [np.stack([uv[:, 0], uv[:, 1], 0.6 + 0.3 * uv[:, 1]], 1)]
    sizes = np.diff(np.linspace(0, num_points - n_table, 5).astype(int))
    for n in sizes:
        centre = np.array([*rng.uniform(-0.15, 0.15, 2), 0.0])
        centre[2] = 0.55 + 0.3 * centre[1]
        size = rng.uniform(0.04, 0.1, 3)
        p = centre + (rng.random((n, 3)) - 0.5) * size
        axis = rng.integers(0, 3, n)
        p[np.arange(n), axis] = centre[axis] - 0.5 * size[axis]  # faces seen by the camera
        parts.append(p)
    return np.concatenate(parts).astype(np.float32)


def view_sample(points: np.ndarray, channels: int = 1) -> dict:
    """A packed single view: voxelised at 5 mm, features = ones."""
    from graspcontrast_mm.structures.points import voxelize
    vg = voxelize(points, VOXEL_SIZE_M)
    return dict(points=torch.from_numpy(points), coords=torch.from_numpy(vg.coords),
                feats=torch.ones(len(vg.coords), channels),
                point2voxel=torch.from_numpy(vg.point2voxel))


def pair_sample(points: np.ndarray, num_key_points: int, rng: np.random.Generator) -> dict:
    """View 0 = ``points``; view 1 = the same points rotated 10 deg, moved, jittered."""
    a = np.deg2rad(10.0)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    other = points @ rot.T + np.array([0.05, -0.02, 0.03])
    other = (other + rng.normal(0, 0.001, other.shape)).astype(np.float32)
    idx = rng.choice(len(points), size=min(num_key_points, len(points)), replace=False)
    return dict(views=[view_sample(points), view_sample(other)],
                matches=torch.from_numpy(np.stack([idx, idx], 1).astype(np.int64)),
                key_points_world=torch.from_numpy(points[idx]))


# ---------------------------------------------------------------------------- metrics
def rel_error(other: torch.Tensor, ref: torch.Tensor) -> float:
    other = other.detach().double().cpu()
    ref = ref.detach().double().cpu()
    if other.shape != ref.shape:
        return float('inf')
    scale = max(float(ref.abs().max()) if ref.numel() else 0.0, 1e-12)
    return float((other - ref).abs().max()) / scale if ref.numel() else 0.0


def grad_rel_error(model_other: torch.nn.Module, model_ref: torch.nn.Module) -> float:
    num = den = 0.0
    for (name, p_o), (_, p_r) in zip(model_other.named_parameters(),
                                     model_ref.named_parameters()):
        if p_r.grad is None and p_o.grad is None:
            continue
        if p_r.grad is None or p_o.grad is None:
            return float('inf')
        d = p_o.grad.detach().double().cpu() - p_r.grad.detach().double().cpu()
        num += float((d * d).sum())
        den += float((p_r.grad.double() ** 2).sum())
    return (num ** 0.5) / max(den ** 0.5, 1e-12)


def timed(fn: Callable[[], object], device: str, repeats: int) -> Tuple[object, float]:
    """Result of the last call and the median wall time (ms) of ``repeats`` calls after
    one warm-up."""
    def sync():
        if device.startswith('cuda'):
            torch.cuda.synchronize(device)
    times = []
    out = None
    for run in range(repeats + 1):
        sync()
        t = time.perf_counter()
        out = fn()
        sync()
        if run:
            times.append(1000.0 * (time.perf_counter() - t))
    return out, statistics.median(times)


def perturb_(model: torch.nn.Module, eps: float, seed: int) -> None:
    if eps <= 0:
        return
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=p.dtype)
            p.add_(noise.to(p.device) * eps * (float(p.abs().max()) + 1e-3))


class Report:
    def __init__(self) -> None:
        self.rows: List[Tuple[str, str, float, str, bool]] = []
        self.times: List[Tuple[str, float, float]] = []

    def check(self, name: str, metric: str, value: float, tol: float,
              at_least: bool = False) -> None:
        ok = value >= tol if at_least else value <= tol
        self.rows.append((name, metric, value, ('>= ' if at_least else '<= ') + f'{tol:g}',
                          bool(ok and np.isfinite(value))))

    def exact(self, name: str, metric: str, equal: bool) -> None:
        self.rows.append((name, metric, 0.0 if equal else 1.0, 'identical', equal))

    @property
    def ok(self) -> bool:
        return all(r[4] for r in self.rows)

    def print(self, device: str) -> None:
        w = max(len(r[0]) for r in self.rows)
        m = max(len(r[1]) for r in self.rows)
        print(f'{"check":<{w}}  {"compared":<{m}}  {"value":>9}  {"tolerance":<11}  result')
        for name, metric, value, tol, ok in self.rows:
            print(f'{name:<{w}}  {metric:<{m}}  {value:9.2e}  {tol:<11}  '
                  f'{"ok" if ok else "FAILED"}')
        w = max(len(t[0]) for t in self.times)
        print(f'\n{"step time (median ms)":<{w}}  {"cpu":>10}  {device:>10}')
        for name, t_cpu, t_dev in self.times:
            print(f'{name:<{w}}  {t_cpu:10.1f}  {t_dev:10.1f}')


# ----------------------------------------------------------------------------- checks
def check_unet(cfg, scene, args, report: Report) -> None:
    from graspcontrast_mm.registry import MODELS
    torch.manual_seed(args.seed)
    unet = MODELS.build(dict(type='SparseUNet', in_channels=1, **cfg['backbone'])).eval()
    other = copy.deepcopy(unet).to(args.device)
    perturb_(other, args.perturb, args.seed)
    s = view_sample(scene)
    coords = torch.cat([torch.zeros(len(s['coords']), 1, dtype=torch.int32),
                        s['coords'].int()], 1)
    with torch.no_grad():
        ref, t_cpu = timed(lambda: unet(s['feats'], coords, 1), 'cpu', args.repeats)
        feats_d, coords_d = s['feats'].to(args.device), coords.to(args.device)
        out, t_dev = timed(lambda: other(feats_d, coords_d, 1), args.device, args.repeats)
    report.check('SparseUNet', f'features ({len(coords)} voxels)', rel_error(out, ref),
                 TOL['unet'])
    report.times.append(('SparseUNet forward', t_cpu, t_dev))


def check_pretrainer(cfg, scene, args, report: Report) -> None:
    from graspcontrast_mm.registry import MODELS
    rng = np.random.default_rng(args.seed + 1)
    samples = [pair_sample(scene, cfg['key_points'], rng),
               pair_sample(make_scene(len(scene), rng), cfg['key_points'], rng)]
    torch.manual_seed(args.seed)
    model = MODELS.build(dict(
        type='GraspContrastPretrainer',
        backbone=dict(type='SparseUNet', in_channels=1, **cfg['backbone']),
        loss=dict(type='FNEInfoNCELoss', temperature=0.07, fne_radius=0.02))).train()
    other = copy.deepcopy(model).to(args.device)
    perturb_(other, args.perturb, args.seed)

    def step(m):
        m.zero_grad(set_to_none=True)
        batch = m.data_preprocessor(dict(inputs=samples), True)
        loss = m(batch['inputs'], batch['data_samples'], mode='loss')['loss_contrast']
        loss.backward()
        return loss.detach()

    ref, t_cpu = timed(lambda: step(model), 'cpu', args.repeats)
    out, t_dev = timed(lambda: step(other), args.device, args.repeats)
    report.check('pre-trainer loss', 'FNE-InfoNCE loss (2 pairs)', rel_error(out, ref),
                 TOL['loss'])
    report.check('pre-trainer backward', 'gradients of all parameters',
                 grad_rel_error(other, model), TOL['grad'])
    report.times.append(('pre-training forward + loss + backward', t_cpu, t_dev))


def check_gsnet(cfg, scene, args, report: Report) -> None:
    from graspcontrast_mm.registry import MODELS
    torch.manual_seed(args.seed)
    model = MODELS.build(dict(type='GSNet', **cfg['gsnet'])).eval()
    with torch.no_grad():  # every point a seed candidate (see the module docstring)
        head = model.graspable_head.conv_graspable
        head.weight.mul_(0.01)
        head.bias.copy_(torch.tensor([-5.0, 5.0, 1.0]))
    other = copy.deepcopy(model).to(args.device)
    perturb_(other, args.perturb, args.seed)
    data = dict(inputs=[view_sample(scene, model.backbone.in_channels)])

    def forward(m):
        with torch.no_grad():
            batch = m.data_preprocessor(data, False)
            return m(batch['inputs'], mode='tensor')

    ref, t_cpu = timed(lambda: forward(model), 'cpu', args.repeats)
    out, t_dev = timed(lambda: forward(other), args.device, args.repeats)
    report.check('GSNet forward', 'objectness logits',
                 rel_error(out['objectness_logits'][0], ref['objectness_logits'][0]),
                 TOL['point_heads'])
    report.check('GSNet forward', 'graspness', rel_error(out['graspness'][0],
                                                         ref['graspness'][0]),
                 TOL['point_heads'])
    report.exact('GSNet forward', f'seed indices ({ref["seed_inds"].shape[1]} seeds)',
                 bool(torch.equal(out['seed_inds'].cpu(), ref['seed_inds'])))
    report.check('GSNet forward', 'approach view scores',
                 rel_error(out['view_scores'], ref['view_scores']), TOL['view_scores'])
    same_view = (out['view_inds'].cpu() == ref['view_inds'])
    report.check('GSNet forward', 'fraction of seeds with the same view',
                 float(same_view.float().mean()), TOL['view_agree'], at_least=True)
    fractions = []
    for key in ('score_pred', 'width_pred'):
        r, o = ref[key][same_view], out[key].cpu()[same_view]
        if r.numel() == 0:
            fractions.append(0.0)
            continue
        scale = max(float(r.abs().max()), 1e-12)
        per_seed = (o.double() - r.double()).abs().flatten(1).max(1).values / scale
        fractions.append(float((per_seed <= TOL['swad']).double().mean()))
    report.check('GSNet forward', f'seeds with score/width grids within {TOL["swad"]:g}',
                 min(fractions), TOL['swad_seed_fraction'], at_least=True)
    report.times.append(('GSNet forward (tensor mode, with seed FPS)', t_cpu, t_dev))


def main(argv=None) -> int:
    args = parse_args(argv)
    reason = cuda_unavailable_reason(args.device)
    if reason is not None:
        print(f'gpu_check: CUDA is not available ({reason}); nothing was compared. '
              'Run it on a CUDA machine set up with `bash tools/setup_env.sh --cuda`.')
        return 2 if args.require_cuda else 0
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision('highest')
    import spconv
    import spconv.constants
    spconv.constants.SPCONV_ALLOW_TF32 = False

    import graspcontrast_mm  # noqa: F401  (registers the models)
    cfg = SIZES[args.size]
    num_points = args.points or cfg['points']
    scene = make_scene(num_points, np.random.default_rng(args.seed))
    gpu = (torch.cuda.get_device_name(torch.device(args.device))
           if args.device.startswith('cuda') else 'none')
    print(f'gpu_check: torch {torch.__version__} (CUDA {torch.version.cuda}), spconv '
          f'{getattr(spconv, "__version__", "?")}, GPU {gpu}; cpu vs {args.device}; size '
          f'{args.size}, {num_points} points, {torch.get_num_threads()} CPU thread(s)'
          + (f'; weights of the {args.device} copy perturbed by {args.perturb:g}'
             if args.perturb > 0 else ''))
    report = Report()
    for check in (check_unet, check_pretrainer, check_gsnet):
        check(cfg, scene, args, report)
    print()
    report.print(args.device)
    n = len(report.rows)
    if report.ok:
        print(f'\ngpu_check: all {n} comparisons within tolerance')
        return 0
    bad = sum(not r[4] for r in report.rows)
    print(f'\ngpu_check: {bad} of {n} comparisons FAILED (cpu vs {args.device})')
    return 1


if __name__ == '__main__':
    sys.exit(main())
