"""One-frame overfit check of GSNet, for both in-plane angle conventions.

Trains GSNet on one labelled frame (no augmentation, constant lr) and evaluates it on the
same frame (graspnetAPI AP, the package's fast evaluator, seeded point sampling), once
with the reference's label-frame targets and once with ``train_cfg.frame_consistent``.
The ground-truth grasps of the frame give the ceiling. Writes a JSON file.

At the end of each run it says which head limits the fit: on one draw of the frame's
points (with labels), the model's own seeds are decoded with the predicted heads, with the
predicted views but the training targets as score and width ("oracle score / width"), and
with the view of highest target graspness plus its targets ("oracle view"), and the AP of
each is reported, with the correlation of predicted and target scores.

Usage::

    python tools/create_graspnet_scenes.py --preset tiny --scene-ids 100 --out data/graspnet_tiny
    python tools/overfit_one_frame.py data/graspnet_tiny --scene 100 --frame 0 \
        --iters 300 --out work_dirs/overfit_one_frame.json
    python tools/overfit_one_frame.py data/graspnet_tiny --iters 600 --lr 3e-3 \
        --conventions consistent
"""
import argparse
import copy
import json
import os.path as osp
import sys
import time

import graspcontrast_mm  # noqa: F401  (CPU runtime defaults before torch loads)

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from graspcontrast_mm.datasets import GraspNetDataset
from graspcontrast_mm.registry import MODELS


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


@torch.no_grad()
def head_diagnosis(model, train_ds, args) -> dict:
    """AP of the model's seeds decoded with predicted and with target head outputs."""
    from graspcontrast_mm.models.heads import (approach_to_rotation, decode_grasps,
                                               friction_to_score_target,
                                               labels_to_template_frame,
                                               postprocess_grasps, process_grasp_labels,
                                               select_view_labels)
    model.eval()
    sample = train_ds[0]
    data = model.data_preprocessor(dict(inputs=[sample['inputs']],
                                        data_samples=[sample['data_samples']]), False)
    out = model.forward_heads(data['inputs'], model.extract_point_feats(data['inputs']))
    lab = sample['data_samples'].gt_grasp_labels
    seeds, views = out['seed_xyz'][0], model.views
    seed_labels = process_grasp_labels(seeds, lab.object_poses, lab.grasp_points,
                                       lab.grasp_scores, lab.grasp_widths, views)

    def targets(view_inds):
        rot, mu, width = select_view_labels(seed_labels, view_inds)
        mu, width, _ = labels_to_template_frame(
            rot, approach_to_rotation(-views[view_inds]), mu, width)
        return friction_to_score_target(mu), width * model.loss_width_scale

    _, first = np.unique(out['seed_inds'][0].numpy(), return_index=True)
    keep = torch.as_tensor(np.sort(first))

    def ap(view_inds, score, width):
        grasps = decode_grasps(seeds[keep], view_inds[keep], score[keep], width[keep],
                               views, width_scale=model.loss_width_scale)
        return frame_ap(args.data_root, args.scene, args.frame,
                        postprocess_grasps(grasps.numpy()))

    pred_views = out['view_inds'][0]
    best_views = seed_labels.view_graspness.argmax(dim=1)
    score_t, width_t = targets(pred_views)
    score_p, width_p = out['score_pred'][0], out['width_pred'][0]
    corr = np.corrcoef(score_p.flatten().numpy(), score_t.flatten().numpy())[0, 1]
    return dict(ap_predicted=ap(pred_views, score_p, width_p),
                ap_oracle_width=ap(pred_views, score_p, width_t),
                ap_oracle_score=ap(pred_views, score_t, width_p),
                ap_oracle_score_width=ap(pred_views, score_t, width_t),
                ap_oracle_view_score_width=ap(best_views, *targets(best_views)),
                score_correlation=float(corr),
                predicted_view_is_best=float((pred_views == best_views).float().mean()),
                num_graspable=int(out['num_graspable'][0]), unique_seeds=int(len(keep)))


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
    seconds = time.time() - t
    diagnosis = head_diagnosis(model, train_ds, args)
    print(f'frame_consistent={frame_consistent} heads: ' + ', '.join(
        f'{k} {v:.2f}' if isinstance(v, float) else f'{k} {v}'
        for k, v in diagnosis.items()), flush=True)
    return dict(frame_consistent=frame_consistent, curve=curve, seconds=seconds,
                head_diagnosis=diagnosis)


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
    p.add_argument('--conventions', default='both', choices=('both', 'label', 'consistent'),
                   help='in-plane angle frame of the targets: the reference\'s label frame, '
                   'frame-consistent, or both (default)')
    p.add_argument('--out', default='work_dirs/overfit_one_frame.json')
    args = p.parse_args(argv)
    with DefaultScope.overwrite_default_scope('graspcontrast_mm'):
        chosen = {'both': (False, True), 'label': (False,), 'consistent': (True,)}
        results = [run(args, fc) for fc in chosen[args.conventions]]
    record = dict(vars(args), runs=results)
    with open(args.out, 'w') as f:
        json.dump(record, f, indent=1)
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
