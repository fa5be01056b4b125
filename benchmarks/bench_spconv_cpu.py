"""CPU timings: spconv's own conv path vs graspcontrast_mm's fixed path; SparseUNet.

Prints two tables:

1. one ``SubMConv3d`` (3x3x3, 64 -> 64 channels) on ~12k surface voxels, with 1 and 2 torch
   threads: forward and forward + backward, for spconv's path ("raw": no CPU backward,
   wrong rows with 2+ threads, counted against the fixed path in float64) and the fixed
   path. Times include spconv's rule-book generation, which both paths share.
2. the full ``SparseUNet`` (MinkUNet14D plan, 512 output channels) on 2 clouds of 20000
   surface points in a 0.6 m box voxelised at 5 mm: forward and forward + backward.

Times are medians over ``--repeats`` runs, in milliseconds (wall clock).

Usage::

    python benchmarks/bench_spconv_cpu.py [--threads 1 2] [--repeats 5] [--skip-unet]
"""
import argparse
import contextlib
import io
import statistics
import time

import spconv.pytorch as spconv
import torch

from graspcontrast_mm.models.backbones import SparseUNet
from graspcontrast_mm.ops import spconv_cpu_fixes

VOXEL_SIZE_M = 0.005
BOX_M = 0.6


def surface_points(num: int, seed: int) -> torch.Tensor:
    """Points on a table plane, spheres and boxes inside a 0.6 m box (metres, (num, 3))."""
    gen = torch.Generator().manual_seed(seed)
    parts = []
    n_table = num // 3
    parts.append(torch.cat([torch.rand(n_table, 2, generator=gen) * BOX_M,
                            torch.full((n_table, 1), 0.02)], 1))
    n_obj = (num - n_table) // 6 + 1
    for _ in range(3):  # spheres
        centre = 0.1 + torch.rand(3, generator=gen) * 0.4
        radius = 0.03 + 0.05 * torch.rand(1, generator=gen)
        d = torch.randn(n_obj, 3, generator=gen)
        parts.append(centre + radius * d / d.norm(dim=1, keepdim=True))
    for _ in range(3):  # boxes: points on one random face each
        lo = 0.05 + torch.rand(3, generator=gen) * 0.35
        size = 0.05 + 0.1 * torch.rand(3, generator=gen)
        p = lo + torch.rand(n_obj, 3, generator=gen) * size
        axis = torch.randint(0, 3, (n_obj,), generator=gen)
        side = torch.randint(0, 2, (n_obj,), generator=gen).float()
        rows = torch.arange(n_obj)
        p[rows, axis] = lo[axis] + side * size[axis]
        parts.append(p)
    return torch.cat(parts)[:num].clamp(0.0, BOX_M)


def voxelize(points: torch.Tensor, batch_idx: int) -> torch.Tensor:
    """Unique voxels of ``points`` (metres) at 5 mm; int32 (V, 4) [batch, x, y, z]."""
    cells = torch.unique(torch.floor(points / VOXEL_SIZE_M).long(), dim=0)
    return torch.cat([torch.full((len(cells), 1), batch_idx), cells], 1).int()


def median_ms(fn, repeats: int, warmup: bool = True) -> float:
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def bench_subm(threads, repeats):
    coords = voxelize(surface_points(40000, seed=0), 0)
    gen = torch.Generator().manual_seed(1)
    coords = coords[torch.randperm(len(coords), generator=gen)[:12000]]
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
    for n in threads:
        torch.set_num_threads(n)
        for fixed in (False, True):
            with spconv_cpu_fixes(fixed):
                with torch.no_grad():
                    t_f = median_ms(fwd, repeats)
                    wrong = sum(int(not torch.allclose(fwd(), reference, atol=1e-4))
                                for _ in range(20))
                try:
                    sink = io.StringIO()  # spconv prints a debug dump when it fails
                    with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
                        t_fb = f'{median_ms(fwd_bwd, repeats):9.1f}'
                except (AssertionError, RuntimeError) as e:
                    t_fb = f'  fails ({str(e)[:30]})'
            rows.append((n, 'fixed' if fixed else 'raw', t_f, t_fb, wrong))
    print(f'\nSubMConv3d 3x3x3 64->64, {len(coords)} voxels (5 mm surface), '
          f'median of {repeats}')
    print(f'{"threads":>7} {"path":>6} {"forward ms":>11} {"fwd+bwd ms":>11}  '
          f'wrong calls / 20')
    for n, path, t_f, t_fb, wrong in rows:
        print(f'{n:>7} {path:>6} {t_f:11.1f} {t_fb:>11}  {wrong}')


def bench_unet(threads, repeats):
    coords = torch.cat([voxelize(surface_points(20000, seed=2), 0),
                        voxelize(surface_points(20000, seed=3), 1)])
    model = SparseUNet(in_channels=3, out_channels=512).train()
    feats = torch.ones(len(coords), 3)

    def fwd():
        with torch.no_grad():
            model(feats, coords, 2)

    def fwd_bwd():
        model.zero_grad()
        model(feats, coords, 2).square().mean().backward()

    print(f'\nSparseUNet (MinkUNet14D, 512 out) train mode, 2 clouds x 20000 points, '
          f'{len(coords)} voxels at 5 mm, median of {repeats}')
    print(f'{"threads":>7} {"forward ms":>11} {"fwd+bwd ms":>11}')
    for n in threads:
        torch.set_num_threads(n)
        t_f = median_ms(fwd, repeats, warmup=False)
        t_fb = median_ms(fwd_bwd, repeats, warmup=False)
        print(f'{n:>7} {t_f:11.1f} {t_fb:11.1f}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--unet-repeats', type=int, default=2)
    parser.add_argument('--skip-unet', action='store_true')
    args = parser.parse_args()
    before = torch.get_num_threads()
    try:
        bench_subm(args.threads, args.repeats)
        if not args.skip_unet:
            bench_unet(args.threads, args.unet_repeats)
    finally:
        torch.set_num_threads(before)


if __name__ == '__main__':
    main()
