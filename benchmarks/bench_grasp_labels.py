"""CPU time of GSNet's per-seed training labels: every view, or the selected view only.

Times, on random labels of the GraspNet shape (``--objects`` objects of ``--points`` grasp
points, 300 views x 12 angles x 4 depths) and ``--seeds`` seeds:

- ``all views``: ``select_view_labels(process_grasp_labels(...), view_inds)``, the
  (M, 300, 12, 4) score and width grids of every view, then one view per seed;
- ``selected view``: ``process_view_labels(..., view_inds)``, what ``GSNet`` trains with.

Both give the same labels (checked here too). CPU seconds per frame (``time.process_time``,
so that the ratio holds on a shared machine), median over ``--repeats``.

Usage::

    python benchmarks/bench_grasp_labels.py [--seeds 1024] [--objects 5] [--points 500]
        [--threads 1] [--repeats 5]
"""
import argparse
import statistics
import time

import numpy as np
import torch

from graspcontrast_mm.models.heads import (process_grasp_labels, process_view_labels,
                                           select_view_labels, template_views)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, default=1024, help='seeds per frame (M)')
    p.add_argument('--objects', type=int, default=5, help='labelled objects per frame')
    p.add_argument('--points', type=int, default=500, help='grasp points per object')
    p.add_argument('--threads', type=int, default=1, help='torch threads')
    p.add_argument('--repeats', type=int, default=5)
    args = p.parse_args(argv)
    for name in ('seeds', 'objects', 'points', 'threads', 'repeats'):
        if getattr(args, name) < 1:
            p.error(f'--{name} must be >= 1')
    return args


def random_frame(seeds: int, objects: int, points: int, rng: np.random.Generator):
    """Object poses (camera frame, metres), labels and seeds of one synthetic frame."""
    poses = torch.zeros(objects, 3, 4)
    for k in range(objects):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        poses[k, :, :3] = torch.as_tensor(q * np.sign(np.linalg.det(q)))
        poses[k, :, 3] = torch.as_tensor(rng.uniform(-0.1, 0.1, 3) + [0, 0, 0.6])
    shape = (points, 300, 12, 4)
    grasp_points = [torch.as_tensor(rng.uniform(-0.04, 0.04, (points, 3)),
                                    dtype=torch.float32) for _ in range(objects)]
    scores = [torch.as_tensor(rng.choice([0.0, 0.1, 0.4, 0.7, 1.0], size=shape),
                              dtype=torch.float32) for _ in range(objects)]
    widths = [torch.as_tensor(rng.uniform(0.01, 0.11, shape), dtype=torch.float32)
              for _ in range(objects)]
    seed_xyz = torch.as_tensor(rng.uniform(-0.12, 0.12, (seeds, 3)) + [0, 0, 0.6],
                               dtype=torch.float32)
    view_inds = torch.as_tensor(rng.integers(0, 300, seeds))
    return seed_xyz, poses, grasp_points, scores, widths, view_inds


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    seed_xyz, poses, gp, scores, widths, view_inds = random_frame(
        args.seeds, args.objects, args.points, np.random.default_rng(0))
    views = template_views(300)

    def all_views():
        return select_view_labels(
            process_grasp_labels(seed_xyz, poses, gp, scores, widths, views), view_inds)

    def selected_view():
        lab = process_view_labels(seed_xyz, poses, gp, scores, widths, views, view_inds)
        return lab.rotations, lab.scores, lab.widths

    a, b = all_views(), selected_view()
    same = torch.allclose(a[0], b[0], atol=1e-6) and all(
        torch.equal(x, y) for x, y in zip(a[1:], b[1:]))
    print(f'{args.seeds} seeds, {args.objects} objects x {args.points} grasp points, '
          f'{args.threads} thread(s); same labels: {same}')
    for name, fn in (('all views', all_views), ('selected view', selected_view)):
        times = []
        for _ in range(args.repeats):
            t0 = time.process_time()
            fn()
            times.append(time.process_time() - t0)
        print(f'{name:>14}: {statistics.median(times):.3f} CPU-s per frame '
              f'(min {min(times):.3f}, max {max(times):.3f})')
    return 0 if same else 1


if __name__ == '__main__':
    raise SystemExit(main())
