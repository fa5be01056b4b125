"""Interleaved A/B timings: two variants alternated in one process, medians printed.

Single runs of a benchmark can differ by tens of percent on a shared or virtualised
machine; alternating the two variants of a comparison rep by rep exposes both to the same
conditions.

- ``gemm``: the sparse convs' GEMM dtype (``float32`` / ``bfloat16``,
  :func:`graspcontrast_mm.ops.set_rulebook_gemm_dtype`): SparseUNet eval forward and
  train forward + backward on the real Kinect frame of ``../shared/realdata`` (the widths
  of ``bench_spconv_cpu.py``), then the full GSNet inference (backbone, heads, decoding)
  of ``bench_gsnet_inference.py``.
- ``heads``: GSNet's graspable and crop heads (reference widths, 20 000 points, 1024 seeds,
  16 samples) against the reference's layout of the same computation: the 1x1 ``Conv1d``
  on a channel-first copy of the point features, and the crop MLP on the gathered
  (3 + C) channels (``mlps(cylinder_group(...))``).

Usage::

    python benchmarks/bench_interleaved.py gemm heads [--reps 8] [--threads 2]
"""
import argparse
import statistics
import time
from typing import Callable, Dict, List

import graspcontrast_mm  # noqa: F401  (CPU runtime defaults before torch loads)
import torch

from _contention import describe_runtime


def interleave(variants: Dict[str, Callable[[], object]], reps: int) -> Dict[str, List[float]]:
    """Milliseconds per call of every variant, alternated ``reps`` times after a warm-up."""
    times: Dict[str, List[float]] = {name: [] for name in variants}
    for fn in variants.values():
        fn()
    for _ in range(reps):
        for name, fn in variants.items():
            t = time.perf_counter()
            fn()
            times[name].append(1e3 * (time.perf_counter() - t))
    return times


def report(title: str, times: Dict[str, List[float]]) -> None:
    print(title)
    for name, values in times.items():
        print(f'  {name:<28} median {statistics.median(values):8.1f} ms   '
              f'min {min(values):8.1f}   max {max(values):8.1f}')


def bench_gemm(reps: int) -> None:
    from bench_gsnet_inference import bench_inference, make_sample, make_scene
    from bench_spconv_cpu import BACKBONES, frame_voxels

    from graspcontrast_mm.models.backbones import SparseUNet
    from graspcontrast_mm.models.detectors.gsnet import GSNet
    from graspcontrast_mm.ops import get_rulebook_gemm_dtype, set_rulebook_gemm_dtype

    coords, source = frame_voxels()
    before = get_rulebook_gemm_dtype()
    try:
        for backbone in ('reference', 'tiny'):
            torch.manual_seed(0)
            model = SparseUNet(in_channels=3, **BACKBONES[backbone])
            feats = torch.ones(len(coords), 3)

            def forward():
                model.eval()
                with torch.no_grad():
                    model(feats, coords, 1)

            def forward_backward():
                model.train()
                model.zero_grad()
                model(feats, coords, 1).square().mean().backward()

            variants = {}
            for dtype in ('float32', 'bfloat16'):
                for name, fn in (('fwd', forward), ('f+b', forward_backward)):
                    variants[f'{dtype} {name}'] = (
                        lambda fn=fn, dtype=dtype: (set_rulebook_gemm_dtype(dtype), fn()))
            report(f'SparseUNet {backbone}, {source}, {len(coords)} voxels',
                   interleave(variants, reps))

        torch.manual_seed(0)
        points, obj_mask = make_scene(20000)
        inputs, sample = make_sample(points, obj_mask, 5, 300)
        gsnet = GSNet().eval()
        with torch.no_grad():  # every point graspable, as in bench_gsnet_inference.py
            gsnet.graspable_head.conv_graspable.weight.mul_(0.0)
            gsnet.graspable_head.conv_graspable.bias.copy_(torch.tensor([-5.0, 5.0, 1.0]))
        data = dict(inputs=[inputs], data_samples=[sample])
        totals: Dict[str, List[float]] = {'float32 GSNet total': [], 'bfloat16 GSNet total': []}
        for _ in range(reps):
            for dtype in ('float32', 'bfloat16'):
                set_rulebook_gemm_dtype(dtype)
                totals[f'{dtype} GSNet total'].append(bench_inference(gsnet, data, 1)['total'])
        report('GSNet inference, 20000 points, 1024 seeds (backbone + heads + decoding)',
               totals)
    finally:
        set_rulebook_gemm_dtype(before)


def bench_heads(reps: int) -> None:
    from graspcontrast_mm.models.heads import (CylinderCropHead, GraspableHead,
                                               approach_to_rotation, cylinder_group,
                                               cylinder_query)
    torch.manual_seed(0)
    graspable = GraspableHead().eval()
    crop = CylinderCropHead().eval()
    point_feats = torch.randn(20000, graspable.in_channels)
    seeds = torch.rand(1, 1024, 3) * 0.2
    seed_feats = torch.randn(1, crop.in_channels, 1024)
    rot = approach_to_rotation(torch.nn.functional.normalize(torch.randn(1024, 3), dim=1))
    rot = rot.view(1, 1024, 3, 3)

    def crop_reference():
        idx = cylinder_query(seeds, seeds, rot, radius=crop.radius, hmin=crop.hmin,
                             hmax=crop.hmax, num_samples=crop.num_samples,
                             chunk_size=crop.chunk_size)
        return crop.mlps(cylinder_group(seeds, seeds, rot, seed_feats, idx,
                                        radius=crop.radius)).max(dim=-1).values

    with torch.no_grad():
        variants = {
            'graspable, Conv1d layout': lambda: graspable.conv_graspable(
                point_feats.t().unsqueeze(0)),
            'graspable, current': lambda: graspable(point_feats),
            'crop, gathered channels': crop_reference,
            'crop, current': lambda: crop(seeds, seed_feats, rot),
        }
        report('GSNet heads, reference widths, 20000 points, 1024 seeds x 16 samples',
               interleave(variants, reps))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('parts', nargs='+', choices=['gemm', 'heads'])
    parser.add_argument('--reps', type=int, default=8)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args(argv)
    if args.reps < 1 or args.threads < 1:
        parser.error('--reps and --threads must be >= 1')
    torch.set_num_threads(args.threads)
    print(describe_runtime())
    for part in args.parts:
        {'gemm': bench_gemm, 'heads': bench_heads}[part](args.reps)


if __name__ == '__main__':
    main()
