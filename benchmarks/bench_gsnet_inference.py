"""CPU timings of the full-size GSNet: inference per frame and one training step.

The scene is synthetic: ``--num-points`` (20000) camera-frame points, metres, of a tilted
table plane 0.5-0.7 m in front of the camera with boxes and spheres on it, voxelised at
5 mm (features = ones). The model is :class:`GSNet` with its reference widths (SparseUNet
512-d, 300 views, 1024 seeds, crop MLP [515, 256, 256], 12 x 4 SWAD grid), randomly
initialised. So that the seed stage does real work, the graspable head is biased to call
every point graspable: farthest point sampling then picks 1024 of all points (the upper
bound of that step).

Inference (``model.eval()``, ``torch.no_grad()``) is split into

- backbone: voxel features -> per-point features;
- heads: graspable head, seed selection (FPS, reported separately too), approach view head,
  cylinder crop + MLP, SWAD head;
- decoding: grasp rows + graspnetAPI NMS + sort.

Training: one ``train_step`` (forward, label processing, loss, backward, Adam update) on a
batch of ``--train-batch`` copies of the scene, with ``--num-objects`` labelled objects of
``--grasp-points`` grasp points each (random 300 x 12 x 4 friction / width labels).

Peak memory is the process's maximum resident set size (``ru_maxrss``) after the inference
runs and after the training steps. Times are medians over ``--repeats`` runs (after one
warm-up), in milliseconds.

Usage::

    python benchmarks/bench_gsnet_inference.py [--threads 1] [--repeats 3] [--skip-train]
"""
import argparse
import resource
import statistics
import time
from typing import Dict, List

import graspcontrast_mm  # noqa: F401,E402  (CPU runtime defaults before torch loads)
import numpy as np
import torch
from mmdet3d.structures import Det3DDataSample
from mmengine.optim import OptimWrapper

from _contention import describe_runtime
from graspcontrast_mm.models.detectors.gsnet import GSNet
from graspcontrast_mm.models.heads import decode_grasps, pack_grasp_labels, postprocess_grasps
from graspcontrast_mm.structures.points import voxelize

VOXEL_SIZE_M = 0.005


def make_scene(num_points: int, seed: int = 0):
    """Camera-frame points (metres) and an object mask: a tilted table, 3 boxes, 2 spheres."""
    rng = np.random.default_rng(seed)
    n_table = num_points // 2
    uv = rng.uniform(-0.25, 0.25, (n_table, 2))
    table = np.stack([uv[:, 0], uv[:, 1], 0.6 + 0.3 * uv[:, 1]], 1)  # tilted plane
    parts, masks = [table], [np.zeros(n_table, bool)]
    n_obj = (num_points - n_table) // 5
    for i in range(5):
        n = n_obj if i < 4 else num_points - n_table - 4 * n_obj
        centre = np.array([rng.uniform(-0.15, 0.15), rng.uniform(-0.15, 0.15), 0.0])
        centre[2] = 0.6 + 0.3 * centre[1] - 0.05
        if i < 3:  # box: the faces seen from the camera
            size = rng.uniform(0.04, 0.1, 3)
            p = centre + (rng.random((n, 3)) - 0.5) * size
            axis = rng.integers(0, 3, n)
            p[np.arange(n), axis] = centre[axis] - 0.5 * size[axis]
        else:  # sphere: the near half
            d = rng.normal(size=(n, 3))
            d /= np.linalg.norm(d, axis=1, keepdims=True)
            d[:, 2] = -np.abs(d[:, 2])
            p = centre + rng.uniform(0.03, 0.05) * d
        parts.append(p)
        masks.append(np.ones(n, bool))
    return np.concatenate(parts).astype(np.float32), np.concatenate(masks)


def make_sample(points: np.ndarray, obj_mask: np.ndarray, num_objects: int,
                grasp_points: int, seed: int = 0):
    """Packed inputs and a data sample with random grasp labels."""
    rng = np.random.default_rng(seed)
    vg = voxelize(points, VOXEL_SIZE_M)
    inputs = dict(points=torch.from_numpy(points), coords=torch.from_numpy(vg.coords),
                  feats=torch.ones(len(vg.coords), 3),  # GSNet: 3 channels of ones
                  point2voxel=torch.from_numpy(vg.point2voxel))
    obj_pts = points[obj_mask]
    poses, gps, widths, scores = [], [], [], []
    for k in range(num_objects):
        pose = np.zeros((3, 4), np.float32)
        pose[:, :3] = np.eye(3)
        pose[:, 3] = obj_pts[rng.integers(len(obj_pts))]
        poses.append(pose)
        gps.append(rng.uniform(-0.05, 0.05, (grasp_points, 3)).astype(np.float32))
        scores.append(rng.choice([0.0, 0.2, 0.4, 0.8, 1.2],
                                 size=(grasp_points, 300, 12, 4)).astype(np.float32))
        widths.append(rng.uniform(0.01, 0.1, (grasp_points, 300, 12, 4)).astype(np.float32))
    ds = Det3DDataSample()
    ds.gt_grasp_labels = pack_grasp_labels(obj_mask.astype(np.int64),
                                           obj_mask.astype(np.float32) * 0.5,
                                           np.stack(poses), gps, widths, scores)
    return inputs, ds


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def median_ms(values: List[float]) -> float:
    return 1000.0 * statistics.median(values)


def bench_inference(model: GSNet, data: dict, repeats: int) -> Dict[str, float]:
    times: Dict[str, List[float]] = {k: [] for k in
                                     ('backbone', 'heads', 'seed FPS', 'decoding', 'total')}
    original = model.select_seeds
    fps_time = [0.0]

    def timed_select(*args, **kwargs):
        t = time.perf_counter()
        out = original(*args, **kwargs)
        fps_time[0] += time.perf_counter() - t
        return out

    model.select_seeds = timed_select
    cfg = model.test_cfg
    num_grasps = 0
    with torch.no_grad():
        for run in range(repeats + 1):
            fps_time[0] = 0.0
            t0 = time.perf_counter()
            batch = model.data_preprocessor(data, False)
            feats = model.extract_point_feats(batch['inputs'])
            t1 = time.perf_counter()
            out = model.forward_heads(batch['inputs'], feats)
            t2 = time.perf_counter()
            rows = decode_grasps(out['seed_xyz'][0], out['view_inds'][0], out['score_pred'][0],
                                 out['width_pred'][0], model.views,
                                 width_factor=cfg['width_factor']).numpy()
            grasps = postprocess_grasps(rows, nms=True)
            t3 = time.perf_counter()
            num_grasps = grasps.shape[0]
            if run == 0:
                continue  # warm-up
            for key, value in (('backbone', t1 - t0), ('heads', t2 - t1),
                               ('seed FPS', fps_time[0]), ('decoding', t3 - t2),
                               ('total', t3 - t0)):
                times[key].append(value)
    model.select_seeds = original
    result = {k: median_ms(v) for k, v in times.items()}
    result['grasps after NMS'] = float(num_grasps)
    return result


def bench_train(model: GSNet, data: dict, repeats: int) -> float:
    model.train()
    wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    times = []
    for run in range(repeats + 1):
        t = time.perf_counter()
        model.train_step(data, wrapper)
        if run > 0:
            times.append(time.perf_counter() - t)
    return median_ms(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-points', type=int, default=20000)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--skip-train', action='store_true')
    parser.add_argument('--train-batch', type=int, default=1)
    parser.add_argument('--num-objects', type=int, default=5)
    parser.add_argument('--grasp-points', type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    points, obj_mask = make_scene(args.num_points)
    inputs, ds = make_sample(points, obj_mask, args.num_objects, args.grasp_points)
    model = GSNet().eval()
    with torch.no_grad():  # every point is a seed candidate (see the module docstring)
        model.graspable_head.conv_graspable.weight.mul_(0.0)
        model.graspable_head.conv_graspable.bias.copy_(torch.tensor([-5.0, 5.0, 1.0]))
    num_params = sum(p.numel() for p in model.parameters())
    print(describe_runtime())
    print(f'GSNet CPU benchmark: {args.num_points} points, {len(inputs["coords"])} voxels '
          f'(5 mm), {model.num_seeds} seeds, {num_params / 1e6:.2f} M parameters, '
          f'{args.threads} torch thread(s), median of {args.repeats} runs')
    rss0 = peak_rss_mib()
    res = bench_inference(model, dict(inputs=[inputs], data_samples=[ds]), args.repeats)
    rss_inf = peak_rss_mib()
    rows = [(f'inference: {k}', f'{v:10.1f} ms' if k != 'grasps after NMS' else f'{v:10.0f}')
            for k, v in res.items()]
    rows.append(('peak RSS after inference', f'{rss_inf:10.0f} MiB (before: {rss0:.0f})'))
    if not args.skip_train:
        model.graspable_head.conv_graspable.weight.data.normal_(0, 0.01)
        data = dict(inputs=[inputs] * args.train_batch, data_samples=[ds] * args.train_batch)
        step = bench_train(model, data, args.repeats)
        rows.append((f'training step (batch {args.train_batch}, {args.num_objects} objects x '
                     f'{args.grasp_points} grasp points)', f'{step:10.1f} ms'))
        rows.append(('peak RSS after training', f'{peak_rss_mib():10.0f} MiB'))
    width = max(len(r[0]) for r in rows)
    print('-' * (width + 30))
    for name, value in rows:
        print(f'{name:<{width}}  {value}')
    print('-' * (width + 30))


if __name__ == '__main__':
    main()
