"""CPU sparse convolution: algorithms, threads, and contention from other processes.

Input: the real GraspNet-1Billion Kinect frame of ``../shared/realdata`` (20 000 points
sampled from its workspace mask, camera frame, 5 mm voxels: 11 881 voxels), or, when that
folder is missing, a synthetic surface cloud of the same size (said in the output).

Tables (wall-clock medians over ``--repeats`` runs, milliseconds):

1. one ``SubMConv3d`` 3x3x3, 64 -> 64 channels on the frame's voxels: spconv's own CPU path
   ("raw": wrong rows with 2+ threads, counted against float64, and no backward), and the
   package's fixed path with each rule-book algorithm (``bucketed``, ``per_offset``);
   forward and forward + backward (rule-book building included, shared by all paths).
2. the SparseUNet (``--backbone reference``: GSNet's MinkUNet14D plan, 14.6 M parameters;
   ``wide``: 384-wide decoder, 43.5 M; ``tiny``: the tiny test configs' 0.5 M) in train
   mode: eval-mode forward and train-mode forward + backward, per algorithm.

With ``--competitors N`` every measurement is repeated while N busy processes
(``while True: pass``) run, and the slowdown is printed as a ratio to the idle run of the
same invocation. The CPU runtime settings in effect (OpenMP wait policy, huge pages; see
``graspcontrast_mm.cpu_runtime``) are printed; compare with the libraries' own defaults by
running with ``GRASPCONTRAST_CPU_RUNTIME=0``.

Usage::

    python benchmarks/bench_spconv_cpu.py [--threads 2] [--repeats 5]
        [--backbone reference wide tiny] [--competitors 1] [--skip-subm] [--skip-unet]
"""
import argparse
import contextlib
import io
import os
import statistics
import sys
import time

import graspcontrast_mm  # noqa: F401  (CPU runtime defaults before torch loads)
import numpy as np
import spconv.pytorch as spconv
import torch

from _contention import busy_processes, describe_runtime
from graspcontrast_mm.models.backbones import SparseUNet
from graspcontrast_mm.ops import RULEBOOK_ALGORITHMS, set_rulebook_algorithm, spconv_cpu_fixes
from graspcontrast_mm.structures.frames import depth_to_points
from graspcontrast_mm.structures.points import voxelize

VOXEL_SIZE_M = 0.005
REALDATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared',
                        'realdata', 'graspnet_kinect_frame')
BACKBONES = {
    'reference': dict(planes=(32, 64, 128, 256, 192, 192, 192, 192), init_dim=32,
                      out_channels=512),
    'wide': dict(planes=(32, 64, 128, 256, 384, 384, 384, 384), init_dim=32,
                 out_channels=512),
    'tiny': dict(planes=(16, 16, 32, 32, 32, 32, 32, 32), init_dim=16, out_channels=32),
}


def frame_voxels(num_points: int = 20000, seed: int = 0):
    """int32 (V, 4) voxels [batch, x, y, z] of the real Kinect frame (or a stand-in)."""
    rng = np.random.default_rng(seed)
    if os.path.isdir(REALDATA):
        from PIL import Image
        from scipy.io import loadmat
        depth = np.asarray(Image.open(os.path.join(REALDATA, 'depth.png')), np.float32)
        mask = np.asarray(Image.open(os.path.join(REALDATA, 'workspace_mask.png'))) > 0
        meta = loadmat(os.path.join(REALDATA, 'meta.mat'))
        depth_m = depth / float(np.squeeze(meta['factor_depth']))
        points, _ = depth_to_points(depth_m, meta['intrinsic_matrix'], mask=mask)
        source = 'real GraspNet Kinect frame'
    else:
        n = 4 * num_points
        points = np.concatenate([
            np.c_[rng.uniform(-0.3, 0.3, (n // 2, 2)), np.full(n // 2, 0.6)],
            0.1 * rng.normal(size=(n - n // 2, 3)) / 1.0 + [0, 0, 0.5]])
        source = 'synthetic stand-in (../shared/realdata missing)'
    idx = rng.choice(len(points), num_points, replace=len(points) < num_points)
    grid = voxelize(points[idx], VOXEL_SIZE_M)
    coords = np.c_[np.zeros(len(grid.coords), np.int32), grid.coords]
    return torch.from_numpy(coords).int(), source


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def bench_subm(coords, repeats):
    """Rows (path, forward ms, forward+backward ms or failure, wrong calls / 20)."""
    gen = torch.Generator().manual_seed(1)
    shape = (coords[:, 1:].max(0).values + 1).tolist()
    feats = torch.randn(len(coords), 64, generator=gen)
    layer = spconv.SubMConv3d(64, 64, 3, bias=False)
    ref_layer = spconv.SubMConv3d(64, 64, 3, bias=False).double()
    ref_layer.weight.data.copy_(layer.weight.data)

    def fwd(x=feats, m=layer):
        return m(spconv.SparseConvTensor(x, coords, shape, 1)).features

    def fwd_bwd():
        layer.weight.grad = None
        fwd(feats.requires_grad_(True)).sum().backward()

    with spconv_cpu_fixes(True), torch.no_grad():
        reference = fwd(feats.double(), ref_layer).float()
    rows = []
    for path in ('raw',) + RULEBOOK_ALGORITHMS:
        before = set_rulebook_algorithm(path if path != 'raw' else 'bucketed')
        try:
            with spconv_cpu_fixes(path != 'raw'):
                with torch.no_grad():
                    t_f = median_ms(fwd, repeats)
                    wrong = sum(int(not torch.allclose(fwd(), reference, atol=1e-4))
                                for _ in range(20))
                try:
                    sink = io.StringIO()  # spconv prints a debug dump when it fails
                    with contextlib.redirect_stderr(sink), \
                            contextlib.redirect_stdout(sink):
                        t_fb = median_ms(fwd_bwd, repeats)
                except (AssertionError, RuntimeError):
                    t_fb = None
        finally:
            set_rulebook_algorithm(before)
        rows.append((path, t_f, t_fb, wrong))
    return rows


def bench_unet(coords, backbone, repeats):
    """Rows (algorithm, eval forward ms, train forward+backward ms)."""
    torch.manual_seed(0)
    model = SparseUNet(in_channels=3, **BACKBONES[backbone]).train()
    feats = torch.ones(len(coords), 3)

    def fwd():
        model.eval()
        with torch.no_grad():
            model(feats, coords, 1)
        model.train()

    def fwd_bwd():
        model.zero_grad()
        model(feats, coords, 1).square().mean().backward()

    rows = []
    for algorithm in RULEBOOK_ALGORITHMS:
        before = set_rulebook_algorithm(algorithm)
        try:
            rows.append((algorithm, median_ms(fwd, repeats), median_ms(fwd_bwd, repeats)))
        finally:
            set_rulebook_algorithm(before)
    n_params = sum(p.numel() for p in model.parameters())
    return rows, n_params


def _fmt(v):
    return f'{v:10.1f}' if v is not None else '     fails'


def _ratio(a, b):
    return f'{b / a:6.2f}x' if a and b else '     -'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--unet-repeats', type=int, default=3)
    parser.add_argument('--backbone', nargs='+', choices=sorted(BACKBONES),
                        default=['reference'])
    parser.add_argument('--competitors', type=int, default=0,
                        help='also measure with N busy processes running (default 0)')
    parser.add_argument('--skip-subm', action='store_true')
    parser.add_argument('--skip-unet', action='store_true')
    args = parser.parse_args()
    if args.threads < 1 or args.repeats < 1 or args.unet_repeats < 1 \
            or args.competitors < 0:
        parser.error('--threads, --repeats and --unet-repeats must be >= 1, '
                     '--competitors >= 0')
    torch.set_num_threads(args.threads)
    coords, source = frame_voxels()
    print(describe_runtime())
    print(f'input: {source}, 20000 points, {len(coords)} voxels at 5 mm')
    loads = [0] + ([args.competitors] if args.competitors else [])

    if not args.skip_subm:
        results = {}
        for n in loads:
            with busy_processes(n):
                results[n] = bench_subm(coords, args.repeats)
        print(f'\nSubMConv3d 3x3x3 64->64, median of {args.repeats} (ms); '
              f'"wrong" = calls of 20 that differ from float64')
        head = f'{"path":>11} {"fwd idle":>10} {"f+b idle":>10} {"wrong":>5}'
        if args.competitors:
            head += (f' {"fwd busy":>10} {"f+b busy":>10} {"fwd x":>7} {"f+b x":>7}'
                     f'   (busy = {args.competitors} competing process(es))')
        print(head)
        for i, (path, t_f, t_fb, wrong) in enumerate(results[0]):
            line = f'{path:>11} {_fmt(t_f)} {_fmt(t_fb)} {wrong:5d}'
            if args.competitors:
                _, b_f, b_fb, _ = results[args.competitors][i]
                line += f' {_fmt(b_f)} {_fmt(b_fb)} {_ratio(t_f, b_f)} {_ratio(t_fb, b_fb)}'
            print(line)

    if not args.skip_unet:
        for backbone in args.backbone:
            results = {}
            for n in loads:
                with busy_processes(n):
                    results[n], n_params = bench_unet(coords, backbone,
                                                      args.unet_repeats)
            print(f'\nSparseUNet {backbone} ({n_params / 1e6:.1f} M parameters), '
                  f'median of {args.unet_repeats} (ms)')
            head = f'{"algorithm":>11} {"fwd idle":>10} {"f+b idle":>10}'
            if args.competitors:
                head += f' {"fwd busy":>10} {"f+b busy":>10} {"fwd x":>7} {"f+b x":>7}'
            print(head)
            for i, (alg, t_f, t_fb) in enumerate(results[0]):
                line = f'{alg:>11} {_fmt(t_f)} {_fmt(t_fb)}'
                if args.competitors:
                    _, b_f, b_fb = results[args.competitors][i]
                    line += (f' {_fmt(b_f)} {_fmt(b_fb)} {_ratio(t_f, b_f)} '
                             f'{_ratio(t_fb, b_fb)}')
                print(line)
    return 0


if __name__ == '__main__':
    sys.exit(main())
