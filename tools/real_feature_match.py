"""Label-free feature matching of pre-trained backbones on real multi-view depth.

The pre-training validation (``FeatureMatchMetric``) runs on generated views. This tool
runs the same measure on a real depth sequence with ground-truth camera poses, e.g.
``../shared/realdata/sevenscenes_multiview`` (Microsoft 7-Scenes, Kinect v1, 640x480):
consecutive frames of the folder form the view pairs; each view is back-projected,
sampled and voxelised as the pre-training config's validation views (without the table
workspace crop, which needs a table frame), matched in the world frame of the poses
(``MatchViewPair``), and the key point features of each checkpoint are compared
(``feature_match_stats``: hit ratio at ``--hit-radius``, feature-match recall at an
inlier ratio of 0.05, and the chance level of an uninformative representation).

Folder layout (7-Scenes): ``frame-NNNNNN.depth.png`` (uint16 millimetres, ``65535`` = no
measurement), ``frame-NNNNNN.pose.txt`` (4x4 ``T_world_cam``, camera to world, metres),
``camera-intrinsics.txt`` (3x3 pixels).

Usage::

    python tools/real_feature_match.py CONFIG --checkpoints NAME=CKPT [NAME=CKPT ...]
        [--frames ../shared/realdata/sevenscenes_multiview] [--random-init]
        [--out results.json]

``CONFIG`` is a pre-training config (the model and its validation pipeline, e.g.
``configs/study/pretrain_study_fne.py``); ``--random-init`` adds the same model with its
initial weights (seeded) as the baseline a trained representation must beat.
"""
import argparse
import copy
import glob
import json
import os
import os.path as osp
import sys
import time

import graspcontrast_mm  # noqa: F401  (CPU runtime defaults before torch loads)

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope

from graspcontrast_mm.engine.checkpoint_compat import load_checkpoint_file
from graspcontrast_mm.engine.model_loading import load_model_checkpoint
from graspcontrast_mm.evaluation.metrics.feature_match_metric import (FeatureMatchMetric,
                                                                     feature_match_stats)
from graspcontrast_mm.registry import MODELS, SCOPE
from graspcontrast_mm.utils import register_all_modules

#: Per-view steps of the validation pipeline that need a table frame or labels.
DROPPED_VIEW_STEPS = ('LoadPointSegmentation', 'ObjectWorkspaceCrop')
INVALID_DEPTH = 65535  # 7-Scenes' raw value for a missing measurement


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', help='pre-training config (model + validation pipeline)')
    p.add_argument('--checkpoints', nargs='*', default=[], metavar='NAME=CKPT',
                   help='pre-training checkpoints to compare')
    p.add_argument('--random-init', action='store_true',
                   help='also measure the model with its initial weights (seed 0)')
    p.add_argument('--frames', default=osp.join('..', 'shared', 'realdata',
                                                'sevenscenes_multiview'),
                   help='folder of frame-*.depth.png / frame-*.pose.txt')
    p.add_argument('--max-pairs', type=int, default=None, help='first N pairs only')
    p.add_argument('--max-depth', type=float, default=1.3,
                   help='metres; the default keeps the near part of a room scene (the '
                        'desk of 7-Scenes "heads"), at table-top distances; farther, the '
                        'sampled points are too sparse for 5 mm voxels')
    p.add_argument('--hit-radius', type=float, default=0.02, help='metres')
    p.add_argument('--out', default=None, help='JSON with per-pair and mean results')
    args = p.parse_args(argv)
    if not args.checkpoints and not args.random_init:
        p.error('give --checkpoints and/or --random-init')
    for item in args.checkpoints:
        if '=' not in item or not item.split('=', 1)[0]:
            p.error(f'--checkpoints takes NAME=CKPT, got {item!r}')
    if args.max_pairs is not None and args.max_pairs < 1:
        p.error('--max-pairs must be >= 1')
    if not args.max_depth > 0 or not args.hit_radius > 0:
        p.error('--max-depth and --hit-radius must be > 0 metres')
    return args


def read_sequence(folder):
    """Sorted ``[(name, depth_path, T_world_cam)]`` and the (3, 3) intrinsics."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'frame folder not found: {folder}')
    k_path = osp.join(folder, 'camera-intrinsics.txt')
    if not osp.isfile(k_path):
        raise FileNotFoundError(f'{k_path} (3x3 intrinsics) is missing')
    K = np.loadtxt(k_path, dtype=np.float64)
    if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f'{k_path}: not a 3x3 pinhole matrix:\n{K}')
    frames = []
    for depth in sorted(glob.glob(osp.join(folder, 'frame-*.depth.png'))):
        name = osp.basename(depth)[:-len('.depth.png')]
        pose_path = osp.join(folder, f'{name}.pose.txt')
        if not osp.isfile(pose_path):
            raise FileNotFoundError(f'{pose_path} is missing (pose of {depth})')
        T = np.loadtxt(pose_path, dtype=np.float64)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)) or \
                not np.allclose(T[3], [0, 0, 0, 1]) or \
                not np.allclose(T[:3, :3] @ T[:3, :3].T, np.eye(3), atol=1e-3):
            raise ValueError(f'{pose_path}: not a rigid 4x4 camera-to-world pose')
        frames.append((name, depth, T))
    if len(frames) < 2:
        raise ValueError(f'{folder}: fewer than two frames with depth and pose')
    return frames, K


def real_view_pipeline(cfg, max_depth):
    """The config's validation pair pipeline for real views: the label/table-frame view
    steps dropped, 7-Scenes' invalid depth value and ``max_depth`` set."""
    pipeline = copy.deepcopy(cfg.val_dataloader.dataset.pipeline)
    apply = [t for t in pipeline if t['type'] == 'ApplyToViews']
    if len(apply) != 1:
        raise ValueError('the config\'s val pipeline has no ApplyToViews step: not a '
                         'pre-training config')
    views = []
    for t in apply[0]['transforms']:
        if t['type'] in DROPPED_VIEW_STEPS:
            continue
        if t['type'] == 'LoadDepthImage':
            t['invalid_value'] = INVALID_DEPTH
        if t['type'] == 'DepthToPoints':
            t['max_depth'] = float(max_depth)
        views.append(t)
    apply[0]['transforms'] = views
    return Compose(pipeline)


def build_model(cfg, checkpoint=None):
    model = MODELS.build(copy.deepcopy(cfg.model))
    if checkpoint is not None:
        load_model_checkpoint(model, load_checkpoint_file(checkpoint, 'cpu'), strict=True,
                              source=f'checkpoint {checkpoint}')
    return model.eval()


def measure(model, samples, hit_radius):
    """Per-pair ``feature_match_stats`` of ``model`` on the packed pair samples."""
    out = []
    with torch.no_grad():
        for name, packed in samples:
            pred = model.test_step(pseudo_collate([copy.deepcopy(packed)]))[0]
            stats = feature_match_stats(torch.as_tensor(pred.key_feats0),
                                        torch.as_tensor(pred.key_feats1),
                                        torch.as_tensor(pred.key_points_world), hit_radius)
            out.append(dict(pair=name, **stats))
    return out


def summarise(pairs, hit_radius):
    """Means over pairs, aggregated as the pre-training validation does
    (``FeatureMatchMetric.compute_metrics``: recall at an inlier ratio of 0.05)."""
    return FeatureMatchMetric(hit_radius=hit_radius).compute_metrics(
        [{k: p[k] for k in ('hit_ratio', 'top1_accuracy', 'chance_hit_ratio')}
         for p in pairs])


def main(argv=None) -> int:
    args = parse_args(argv)
    register_all_modules()
    cfg = Config.fromfile(args.config)
    frames, K = read_sequence(args.frames)
    pairs = list(zip(frames[:-1], frames[1:]))[:args.max_pairs]
    with DefaultScope.overwrite_default_scope(SCOPE):
        pipeline = real_view_pipeline(cfg, args.max_depth)
        samples, skipped = [], []
        for i, (a, b) in enumerate(pairs):
            info = dict(sample_idx=i, scene_id=0, camera='real', views=[
                dict(depth_path=path, cam_intrinsic=K.copy(), depth_scale=1000.0,
                     cam2world=T.copy(), frame_id=j, scene_id=0, camera='real')
                for j, (_, path, T) in enumerate((a, b))])
            np.random.seed(i)  # any random step of the pipeline draws the same per pair
            packed = pipeline(info)
            if packed is None:
                skipped.append(f'{a[0]}/{b[0]}')
                continue
            samples.append((f'{a[0]}/{b[0]}', packed))
        if not samples:
            raise SystemExit(f'error: no pair of {args.frames} gave matched key points')
        models = [(n, c) for n, c in (item.split('=', 1) for item in args.checkpoints)]
        if args.random_init:
            models.insert(0, ('random init', None))
        results = {}
        for name, ckpt in models:
            torch.manual_seed(0)
            t0 = time.perf_counter()
            per_pair = measure(build_model(cfg, ckpt), samples, args.hit_radius)
            results[name] = dict(checkpoint=ckpt, **summarise(per_pair, args.hit_radius),
                                 seconds=time.perf_counter() - t0, pairs=per_pair)
            r = results[name]
            print(f'{name:>16}: feature-match recall {r["feature_match_recall"]:.3f}, hit '
                  f'ratio {r["hit_ratio"]:.3f} (chance {r["chance_hit_ratio"]:.3f}), top-1 '
                  f'{r["top1_accuracy"]:.3f} over {r["num_pairs"]} pairs', flush=True)
    summary = dict(config=args.config, frames=args.frames, hit_radius=args.hit_radius,
                   max_depth=args.max_depth, skipped_pairs=skipped, models=results)
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out + '.tmp', 'w') as f:
            json.dump(summary, f, indent=1)
        os.replace(args.out + '.tmp', args.out)
        print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
