"""One-frame overfit check of GSNet, for both in-plane angle conventions.

Trains GSNet on one labelled frame (no augmentation, constant lr) and evaluates it on the
same frame (graspnetAPI AP, the package's fast evaluator, seeded point sampling), once
with the reference's label-frame targets and once with ``train_cfg.frame_consistent``.
The ground-truth grasps of the frame give the ceiling. Writes a JSON file.

Usage::

    python tools/create_graspnet_scenes.py --preset tiny --scene-ids 100 --out data/graspnet_tiny
    python tools/overfit_one_frame.py data/graspnet_tiny --scene 100 --frame 0 \
        --iters 300 --out work_dirs/overfit_one_frame.json
"""
import argparse
import copy
import json
import os.path as osp
import sys
import time

sys.path.insert(0, osp.abspath(osp.join(osp.dirname(__file__), '..')))
import graspcontrast_mm  # noqa: F401,E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

from graspcontrast_mm.datasets import GraspNetDataset  # noqa: E402
from graspcontrast_mm.registry import MODELS  # noqa: E402


def _pipelines(num_points):
    common = [dict(type='LoadDepthImage'),
              dict(type='DepthToPoints', min_depth=0.1, max_depth=2.0, with_pixel_uv=True)]
    crop = dict(type='ObjectWorkspaceCrop', margin=0.02, mode='reference',
                object_pixels_without_depth='camera_centre')
    train = common + [
        dict(type='LoadGraspLabels', graspness_source='auto', num_grasp_points='reference',
             workspace_margin=0.02, object_pixels_without_depth='camera_centre'),
        crop, dict(type='PointSample', num_points=num_points),
        dict(type='Voxelize', voxel_size=0.005, feat_mode='ones3'),
        dict(type='PackGraspInputs', min_object_points=50, graspness_threshold=0.1)]
    test = common + [dict(type='LoadPointSegmentation'), crop,
                     dict(type='PointSample', num_points=num_points, seed=0),
                     dict(type='Voxelize', voxel_size=0.005, feat_mode='ones3'),
                     dict(type='PackPointsInputs')]
    return train, test


def frame_ap(root, scene, frame, grasps):
    from graspcontrast_mm.evaluation.graspnet_eval import evaluate_frame
    from graspcontrast_mm.evaluation.graspnet_eval.frames import (get_objects,
                                                                  load_frame_objects,
                                                                  table_in_camera)
    ids, poses = load_frame_objects(root, scene, 'realsense', frame)
    res = evaluate_frame(grasps, get_objects(root, ids), poses,
                         table_in_camera(root, scene, 'realsense', frame))
    return 100.0 * float(res['accuracy'].mean())


def run(args, frame_consistent: bool) -> dict:
    torch.manual_seed(0)
    np.random.seed(0)
    cfg = Config.fromfile(args.config)
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg['train_cfg'] = dict(model_cfg.get('train_cfg', {}),
                                  frame_consistent=frame_consistent)
    model = MODELS.build(model_cfg)
    train_pipe, test_pipe = _pipelines(args.num_points)
    kw = dict(scene_ids=[args.scene], frame_ids=[args.frame], mode='grasp')
    train_ds = GraspNetDataset(args.data_root, pipeline=train_pipe, **kw)
    test_ds = GraspNetDataset(args.data_root, pipeline=test_pipe, test_mode=True, **kw)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    from mmengine.optim import OptimWrapper
    wrapper = OptimWrapper(opt)
    curve, t = [], time.time()
    for it in range(1, args.iters + 1):
        model.train()
        batch = [train_ds[0] for _ in range(args.batch_size)]
        data = dict(inputs=[b['inputs'] for b in batch],
                    data_samples=[b['data_samples'] for b in batch])
        log = model.train_step(data, wrapper)
        if it % args.eval_every == 0 or it == args.iters:
            model.eval()
            sample = test_ds[0]
            with torch.no_grad():
                out = model.test_step(dict(inputs=[sample['inputs']],
                                           data_samples=[sample['data_samples']]))
            ap = frame_ap(args.data_root, args.scene, args.frame, out[0].pred_grasps)
            curve.append(dict(iter=it, loss=float(log['loss']), ap=ap))
            print(f'frame_consistent={frame_consistent} iter {it}: loss '
                  f'{float(log["loss"]):.3f} AP {ap:.2f}', flush=True)
    return dict(frame_consistent=frame_consistent, curve=curve, seconds=time.time() - t)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('data_root')
    p.add_argument('--config', default='configs/gsnet_scratch_tiny.py',
                   help='model of this config (default: the tiny model)')
    p.add_argument('--scene', type=int, default=100)
    p.add_argument('--frame', type=int, default=0)
    p.add_argument('--iters', type=int, default=300)
    p.add_argument('--eval-every', type=int, default=50)
    p.add_argument('--lr', type=float, default=1e-3, help='constant')
    p.add_argument('--batch-size', type=int, default=1)
    p.add_argument('--num-points', type=int, default=8192)
    p.add_argument('--out', default='work_dirs/overfit_one_frame.json')
    args = p.parse_args(argv)
    with DefaultScope.overwrite_default_scope('graspcontrast_mm'):
        results = [run(args, False), run(args, True)]
    record = dict(vars(args), runs=results)
    with open(args.out, 'w') as f:
        json.dump(record, f, indent=1)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
