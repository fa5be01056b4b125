"""Pre-training step time and peak memory at paper scale on CPU.

Paper scale: 20000 points per view, batch 4 (8 clouds), M key points per pair, the
SparseUNet with GSNet's reference widths (``--backbone reference``: MinkUNet14D plan,
decoder 192 wide, 512-d output, 14.6 M parameters; ``wide``: 384-wide decoder, 43.5 M;
``tiny``: the tiny configs' 0.5 M). Data is one synthetic scene rendered at 1280x720
(RealSense intrinsics, noise model on), generated into a temporary folder.

The step is split into
  data      per-view pipeline (load depth, back-project, crop, sample, augment, voxelize)
  matching  MatchViewPair (eq. 1-2) + SampleKeyPoints (FPS to M)
  batching  pack + collate + SparsePairDataPreprocessor
  backbone  SparseUNet forward on the 2B clouds (output at the key points)
  loss      FNE-InfoNCE forward over the B pairs
  backward  backward of the loss through the backbone
  optimizer Adam step

With ``--competitors N`` the steps are run twice, on the idle machine and with N busy
processes (``while True: pass``) beside them, and the slowdown is printed as a ratio.

Usage:
  python benchmarks/bench_pretrain_step.py [--threads 2] [--batch 4] [--points 20000]
      [--key-points 4096] [--steps 3] [--backbone reference|wide|tiny] [--competitors 1]
Prints a table (median over steps) and the peak resident memory of the process.
"""
import argparse
import copy
import os
import resource
import statistics
import sys
import tempfile
import time

import graspcontrast_mm  # noqa: F401  (CPU runtime defaults before torch loads)
import numpy as np
import torch

from _contention import busy_processes, describe_runtime

BACKBONES = {
    'reference': dict(planes=(32, 64, 128, 256, 192, 192, 192, 192), init_dim=32,
                      out_channels=512),
    'wide': dict(planes=(32, 64, 128, 256, 384, 384, 384, 384), init_dim=32,
                 out_channels=512),
    'tiny': dict(planes=(16, 16, 32, 32, 32, 32, 32, 32), init_dim=16, out_channels=32),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--threads', type=int, default=torch.get_num_threads())
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--points', type=int, default=20000)
    p.add_argument('--key-points', type=int, default=4096)
    p.add_argument('--steps', type=int, default=3)
    p.add_argument('--backbone', choices=sorted(BACKBONES), default='reference')
    p.add_argument('--competitors', type=int, default=0,
                   help='also run the steps with N busy processes beside them')
    p.add_argument('--data-root', default=None,
                   help='existing GraspNet-layout root (default: generate one scene)')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if min(args.threads, args.batch, args.points, args.key_points, args.steps) < 1 \
            or args.competitors < 0:
        raise SystemExit('error: --threads, --batch, --points, --key-points and --steps '
                         'must be >= 1, --competitors >= 0')
    torch.set_num_threads(args.threads)
    from mmcv.transforms import Compose
    from mmengine.dataset import pseudo_collate

    from graspcontrast_mm.datasets import GraspNetDataset
    from graspcontrast_mm.registry import MODELS, TRANSFORMS
    from graspcontrast_mm.synthetic import generate_dataset

    data_root = args.data_root
    tmp = None
    if data_root is None:
        tmp = tempfile.TemporaryDirectory(prefix='bench_pretrain_')
        data_root = tmp.name
        t0 = time.perf_counter()
        generate_dataset(data_root, preset='default', scene_ids=[0], num_views=8,
                         cameras='realsense', with_labels=False, progress=False)
        print(f'generated 1 scene x 8 views at 1280x720 in '
              f'{time.perf_counter() - t0:.1f} s')

    dataset = GraspNetDataset(
        data_root=data_root, camera='realsense', scene_ids=[0], mode='pair',
        pair_cfg=dict(strategy='view_angle', min_angle=5.0, max_angle=60.0),
        pipeline=[])
    view_pipeline = Compose([TRANSFORMS.build(t) for t in [
        dict(type='LoadDepthImage'),
        dict(type='DepthToPoints', min_depth=0.1, max_depth=2.0),
        dict(type='WorkspaceCrop'),
        dict(type='PointSample', num_points=args.points),
        dict(type='RandomFlipRotate'),
        dict(type='Voxelize', voxel_size=0.005, feat_mode='ones3'),
    ]])
    match = TRANSFORMS.build(dict(type='MatchViewPair', match_radius=0.0075))
    keys = TRANSFORMS.build(dict(type='SampleKeyPoints',
                                 num_key_points=args.key_points))
    pack = TRANSFORMS.build(dict(type='PackViewPairInputs'))

    model = MODELS.build(dict(
        type='GraspContrastPretrainer',
        backbone=dict(type='SparseUNet', in_channels=3, **BACKBONES[args.backbone]),
        loss=dict(type='FNEInfoNCELoss', temperature=0.07, fne_radius=0.02)))
    model.train()
    optim = torch.optim.Adam(model.parameters(), lr=1e-3)
    n_params = sum(p.numel() for p in model.parameters())

    def run_steps():
        rows = {k: [] for k in ('data', 'matching', 'batching', 'backbone', 'loss',
                                'backward', 'optimizer', 'total')}
        voxels = []
        rng = np.random.default_rng(0)
        for step in range(args.steps + 1):  # first step is warm-up
            t_step = time.perf_counter()
            t_data = t_match = 0.0
            samples = []
            while len(samples) < args.batch:
                info = dataset.get_data_info(int(rng.integers(len(dataset))))
                t = time.perf_counter()
                views = [view_pipeline(copy.deepcopy(v)) for v in info['views']]
                t_data += time.perf_counter() - t
                if any(v is None for v in views):
                    continue
                results = dict(info, views=views)
                t = time.perf_counter()
                results = match(results)
                if results is None:
                    continue
                results = keys(results)
                t_match += time.perf_counter() - t
                samples.append(results)
            t = time.perf_counter()
            batch = model.data_preprocessor(pseudo_collate([pack(s) for s in samples]),
                                            training=True)
            t_batch = time.perf_counter() - t
            inputs = batch['inputs']
            voxels.append(int(inputs['coords'].shape[0]))

            t = time.perf_counter()
            # the model's own path: backbone on the 2B clouds, output at the key points
            pairs = model._gather_pairs(inputs, None)
            t_backbone = time.perf_counter() - t
            t = time.perf_counter()
            loss = torch.stack([model.loss_module(f0, f1, kp)
                                for f0, f1, kp in pairs]).mean()
            t_loss = time.perf_counter() - t
            t = time.perf_counter()
            optim.zero_grad()
            loss.backward()
            t_backward = time.perf_counter() - t
            t = time.perf_counter()
            optim.step()
            t_optim = time.perf_counter() - t
            total = time.perf_counter() - t_step
            if step == 0:
                continue
            for k, v in zip(rows, (t_data, t_match, t_batch, t_backbone, t_loss,
                                   t_backward, t_optim, total)):
                rows[k].append(v)
        return rows, voxels

    print(describe_runtime())
    loads = [0] + ([args.competitors] if args.competitors else [])
    results = {}
    for n in loads:
        with busy_processes(n):
            results[n] = run_steps()
    rows, voxels = results[0]

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f'\npre-training step, CPU, {args.threads} thread(s), batch {args.batch} '
          f'pairs ({2 * args.batch} clouds), {args.points} points/view, '
          f'M={args.key_points}, backbone {args.backbone} ({n_params / 1e6:.1f} M params), '
          f'{int(np.mean(voxels))} voxels/batch')
    head = f'{"stage":<10} {"median s":>9} {"share":>7}'
    if args.competitors:
        head += f' {"busy s":>9} {"slowdown":>9}   (busy = {args.competitors} competitor(s))'
    print(head)
    tot = statistics.median(rows['total'])
    for k, v in rows.items():
        med = statistics.median(v)
        line = f'{k:<10} {med:9.3f} {100 * med / tot:6.1f}%'
        if args.competitors:
            busy = statistics.median(results[args.competitors][0][k])
            line += f' {busy:9.3f} {busy / med if med > 0 else float("nan"):8.2f}x'
        print(line)
    print(f'peak RSS: {peak_mib:.0f} MiB')
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == '__main__':
    sys.exit(main())
