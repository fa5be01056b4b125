"""CPU latency of :class:`GraspInferencer` per frame, end to end and by stage.

Model: the full-size GSNet (SparseUNet 512-d, 300 views, 1024 seeds, crop MLP
[515, 256, 256], 12 x 4 SWAD grid) with random weights. So that every stage does its full
work, the graspable head is biased to call every point graspable (seeds = farthest point
sample of 1024 of all points; without the bias a random model often finds no candidate and
stops early).

Frame: the real GraspNet Kinect frame of ``../shared/realdata/graspnet_kinect_frame``
(1280 x 720 uint16 depth, workspace mask, colour) when present, else a synthetic 1280 x 720
depth image of a table with boxes; 20000 points sampled, 5 mm voxels.

Stages (milliseconds, median over ``--repeats`` frames after one warm-up frame):

- preprocess: read depth (+ mask, colour), back-project, crop, sample, voxelize, pack;
- model: data preprocessor + backbone + heads (graspable, seeds/FPS, views, crop, SWAD,
  decoding), split into backbone and heads;
- nms: graspnetAPI ``GraspGroup.nms``;
- collision_filter: model-free gripper collision check (scene at 1 cm voxels,
  approach 5 cm);
- picture: offscreen render (960 x 540) of the scene and the 50 best grasps;
- end_to_end: wall time of one ``inferencer(...)`` call with ``out_dir`` (files included);
- end_to_end_no_picture: the same frame without its colour image and the call without
  ``out_dir`` (depth and workspace mask in, grasps out: no colours, no picture, no files).

Usage::

    python benchmarks/bench_inferencer.py [--threads 1] [--repeats 5] [--no-bias]
"""
import argparse
import os
import os.path as osp
import statistics
import tempfile
import time

import graspcontrast_mm  # noqa: F401,E402  (CPU runtime defaults before torch loads)
import numpy as np
import torch

from _contention import describe_runtime

REALDATA = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..', 'shared', 'realdata',
                    'graspnet_kinect_frame')
STAGES = ('preprocess', 'model', 'backbone', 'heads', 'nms', 'collision_filter', 'picture')


def synthetic_frame():
    """uint16 mm (720, 1280) depth of a table at 0.65 m with three boxes; Kinect-like K."""
    K = np.array([[631.5, 0.0, 638.4], [0.0, 631.2, 366.5], [0.0, 0.0, 1.0]])
    depth = np.full((720, 1280), 650, np.uint16)
    for (r0, r1, c0, c1, h) in ((200, 350, 400, 600, 60), (400, 520, 700, 900, 90),
                                (300, 420, 950, 1050, 120)):
        depth[r0:r1, c0:c1] = 650 - h
    noise = np.random.default_rng(0).integers(-2, 3, depth.shape)
    return dict(depth=(depth + noise).astype(np.uint16), intrinsics=K), 'synthetic 1280x720'


def real_frame():
    import scipy.io
    meta = scipy.io.loadmat(osp.join(REALDATA, 'meta.mat'))
    return dict(depth=osp.join(REALDATA, 'depth.png'), intrinsics=meta['intrinsic_matrix'],
                depth_scale=float(np.asarray(meta['factor_depth']).ravel()[0]),
                mask=osp.join(REALDATA, 'workspace_mask.png'),
                color=osp.join(REALDATA, 'color.png')), 'real GraspNet Kinect 1280x720'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--num-points', type=int, default=20000)
    parser.add_argument('--no-bias', action='store_true',
                        help='keep the random graspable head as it is')
    parser.add_argument('--synthetic', action='store_true', help='ignore the real frame')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from mmengine.config import Config
    from graspcontrast_mm.apis import GraspInferencer
    from graspcontrast_mm.registry import MODELS

    cfg = Config(dict(model=dict(type='GSNet', test_cfg=dict(empty_if_no_graspable=False))))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    if not args.no_bias:
        with torch.no_grad():
            head = model.graspable_head.conv_graspable
            head.weight.mul_(0.01)
            head.bias.copy_(torch.tensor([-5.0, 5.0, 1.0]))
    tmp = tempfile.mkdtemp(prefix='bench_infer_')
    ckpt = osp.join(tmp, 'gsnet_random.pth')
    torch.save(dict(meta=dict(cfg=cfg.pretty_text), state_dict=model.state_dict()), ckpt)
    inferencer = GraspInferencer(None, ckpt, num_points=args.num_points)

    frame, desc = (real_frame() if osp.isdir(REALDATA) and not args.synthetic
                   else synthetic_frame())
    results = {}
    for clock_name, clock in (('wall', time.perf_counter), ('cpu', time.process_time)):
        inferencer.clock = clock
        runs = []
        for i in range(args.repeats + 1):
            t0 = clock()
            out = inferencer(dict(frame), out_dir=osp.join(tmp, 'out'), top_k=50,
                             collision_filter=True, image_size=(960, 540))
            total = clock() - t0
            depth_only = {k: v for k, v in frame.items() if k != 'color'}
            t0 = clock()
            inferencer(depth_only, top_k=50, collision_filter=True)
            no_picture = clock() - t0
            if i == 0:
                continue  # warm-up
            s = out['summaries'][0]
            runs.append(dict(s['timings_s'], end_to_end=total,
                             end_to_end_no_picture=no_picture,
                             grasps_model=s['num_grasps_model'],
                             grasps_nms=s['num_grasps_nms'], collisions=s['num_collisions'],
                             grasps=s['num_grasps'], scene_points=s['num_scene_points'],
                             voxels=s['num_voxels']))
        results[clock_name] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    med = results['wall']
    print(describe_runtime())
    print(f'GraspInferencer CPU latency: {desc}, {args.num_points} points, full GSNet '
          f'(random weights{"" if args.no_bias else ", every point graspable"}), '
          f'{args.threads} torch thread(s), median of {args.repeats}; load average '
          f'{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores')
    print(f"  scene points {int(med['scene_points'])}, voxels {int(med['voxels'])}, grasps: "
          f"model {int(med['grasps_model'])} -> NMS {int(med['grasps_nms'])} -> "
          f"{int(med['collisions'])} in collision -> {int(med['grasps'])} kept (top 50)")
    print(f"  {'stage':<22}{'wall ms':>10}{'CPU ms':>10}")
    for k in STAGES + ('end_to_end', 'end_to_end_no_picture'):
        prefix = '    ' if k in ('backbone', 'heads') else '  '
        print(f"{prefix}{k:<{24 - len(prefix)}}{results['wall'][k] * 1000:>10.1f}"
              f"{results['cpu'][k] * 1000:>10.1f}")
    print('  (CPU ms = process CPU time, all threads: close to the latency of an idle '
          'machine with 1 thread)')


if __name__ == '__main__':
    main()
