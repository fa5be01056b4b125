"""Timings of the synthetic label pipeline and of graspnetAPI's evaluation on its output.

Generates a small labelled dataset (``--preset``, ``--scene-ids``, ``--num-views``) in a
temporary folder (or ``--out``) and reports

- per object: grasp labels (``grasp_label/XXX_labels.npz``) and the dexnet model
  (``dex_models/XXX.pkl``), mean over the objects the scenes use, with file sizes;
- per scene: scene collision labels (table, other objects, self) and point graspness;
- per frame: rendering + writing, and the graspness map;
- graspnetAPI per frame: ``GraspNet.loadGrasp`` of the ground truth, and ``eval_grasp`` (the
  per-frame step of ``GraspNetEval.eval_scene``: NMS, top-10 per object / top-50, collision
  and dexnet force-closure scores) on the ground-truth grasps and on random grasps, with
  the frame's AP-like score (mean over top-k = 1..50 and mu = 0.2..1.2 of the precision,
  as ``eval_scene`` computes it).

``--eval-scene`` also generates one 256-view scene (320x180) and runs the full
``GraspNetEval.eval_scene`` on its ground-truth grasps (minutes: 256 frames).

Usage::

    python benchmarks/bench_label_generation.py [--preset tiny] [--scene-ids 0 100]
        [--num-views 8] [--eval-frames 2] [--eval-scene]
"""
import argparse
import logging
import os
import shutil
import statistics
import tempfile
import time
from typing import List, Sequence, Tuple

import numpy as np

from graspcontrast_mm.synthetic import (GraspNetLayout, generate_dataset, get_preset,
                                        load_scene_info)

FRICTIONS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2)


def frame_ap(grasp_rows: np.ndarray, scores: np.ndarray, top_k: int = 50) -> float:
    """AP-like score of one frame as in ``GraspNetEval.eval_scene``.

    Args:
        grasp_rows: (K, 17) evaluated grasps (column 0 = predicted score).
        scores: (K,) evaluator scores (minimum friction passing force closure, -1 failed).
        top_k: Ranks averaged.

    Returns:
        float: mean over ``k = 1..top_k`` and ``mu`` in :data:`FRICTIONS` of the fraction of
        the top ``k`` grasps with ``0 < score <= mu`` (denominator ``k``).
    """
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-grasp_rows[:, 0], kind='stable')
    s = scores[order]
    ranks = np.arange(top_k)
    rows = np.minimum(ranks, len(s) - 1)  # beyond the last grasp the count stays
    mu = np.asarray(FRICTIONS)
    good = np.cumsum((s[:, None] > 0) & (s[:, None] <= mu[None]), axis=0)  # (K, F)
    acc = good[rows] / (ranks + 1)[:, None]
    return float(acc.mean())


class FrameEvaluator:
    """graspnetAPI's per-frame evaluation path (``GraspNetEval.eval_scene`` for one frame).

    Args:
        root: Dataset root.
        camera: ``'realsense'`` or ``'kinect'``.
    """

    def __init__(self, root: str, camera: str) -> None:
        from graspnetAPI.graspnet_eval import GraspNetEval
        self.api = GraspNetEval(root, camera, split='custom')
        self.camera = camera

    def evaluate(self, scene_id: int, ann_id: int, grasps) -> Tuple[float, int, float]:
        """Evaluate a ``GraspGroup`` in the camera frame of one frame.

        Returns:
            tuple: (AP-like score, number of evaluated grasps, seconds).
        """
        from graspnetAPI.utils.config import get_config
        from graspnetAPI.utils.eval_utils import (create_table_points, eval_grasp,
                                                  transform_points, voxel_sample_points)
        t0 = time.perf_counter()
        models, dexmodels, _ = self.api.get_scene_models(scene_id, ann_id)
        models = [voxel_sample_points(m, 0.008) for m in models]
        _, poses, camera_pose, align_mat = self.api.get_model_poses(scene_id, ann_id)
        table = create_table_points(1.0, 1.0, 0.05, dx=-0.5, dy=-0.5, dz=-0.05,
                                    grid_size=0.008)
        table = transform_points(table, np.linalg.inv(align_mat @ camera_pose))
        grasp_list, score_list, _ = eval_grasp(grasps, models, dexmodels, poses, get_config(),
                                               table=table, voxel_size=0.008, TOP_K=50)
        rows = [g for g in grasp_list if len(g)]
        scores = [s for s in score_list if len(s)]
        if not rows:
            return 0.0, 0, time.perf_counter() - t0
        rows, scores = np.concatenate(rows), np.concatenate(scores)
        return frame_ap(rows, scores), len(scores), time.perf_counter() - t0


def random_grasps(reference, num: int, seed: int = 0):
    """Random grasps around the positions of ``reference`` (a ``GraspGroup``)."""
    from graspnetAPI import GraspGroup
    from scipy.spatial.transform import Rotation
    rng = np.random.default_rng(seed)
    arr = reference.grasp_group_array
    rows = arr[rng.choice(len(arr), num)].copy()
    rows[:, 0] = rng.uniform(0.0, 1.0, num)
    rows[:, 1] = rng.uniform(0.02, 0.1, num)
    rows[:, 4:13] = Rotation.random(num, random_state=seed).as_matrix().reshape(num, 9)
    rows[:, 13:16] += rng.normal(0.0, 0.02, (num, 3))
    return GraspGroup(rows.astype(np.float32))


def _mb(path: str) -> float:
    return os.path.getsize(path) / 1e6


def bench_dataset(root: str, args) -> List[Tuple[str, str, str]]:
    """Generate the dataset and time every stage; returns table rows."""
    cfg, _ = get_preset(args.preset)
    res = generate_dataset(root, args.preset, scene_ids=args.scene_ids,
                           num_views=args.num_views, with_labels=True, progress=False)
    tm = res.timings
    n_scenes = len(res.generated)
    n_frames = n_scenes * args.num_views * len(cfg.cameras)
    n_obj = int(tm.get('num_labelled_objects', 0))
    layout = GraspNetLayout(root)
    obj_ids = sorted({i for s in res.generated for i in load_scene_info(root, s)['obj_ids']})
    lab_mb = statistics.mean(_mb(layout.grasp_label(i)) for i in obj_ids)
    pkl_mb = statistics.mean(_mb(layout.dex_model(i)) for i in obj_ids)
    gsn = os.path.join(root, 'graspness', layout.scene_name(res.generated[0]), cfg.cameras[0],
                       '0000.npy')
    rows = [
        ('dataset', f'{n_scenes} scenes, {n_frames} frames, {n_obj} objects',
         f'{res.seconds:.1f} s total'),
        ('per object: grasp labels + dexnet model',
         f'{cfg.labels.max_points} pts max, {cfg.labels.point_spacing * 1000:.0f} mm, '
         f'SDF {cfg.labels.sdf_grid_dim}',
         f'{tm.get("object_labels", 0) / max(n_obj, 1):.2f} s '
         f'({lab_mb:.1f} MB npz, {pkl_mb:.1f} MB pkl)'),
        ('per scene: collision labels + point graspness', 'table, other objects, self',
         f'{tm.get("collision", 0) / max(n_scenes, 1):.2f} s'),
        ('per frame: render + write', f'{cfg.image_size[0]}x{cfg.image_size[1]}',
         f'{1000 * tm.get("render", 0) / max(n_frames, 1):.0f} ms'),
        ('per frame: graspness map', f'float16, {_mb(gsn):.2f} MB',
         f'{1000 * tm.get("graspness", 0) / max(n_frames, 1):.0f} ms'),
    ]
    return rows


def bench_eval(root: str, scene_ids: Sequence[int], camera: str, num_frames: int,
               num_views: int) -> List[Tuple[str, str, str]]:
    """Time graspnetAPI's loadGrasp and per-frame evaluation."""
    from graspnetAPI import GraspNet
    api = GraspNet(root, camera, split='custom', sceneIds=list(scene_ids))
    ev = FrameEvaluator(root, camera)
    load_t, gt_t, rnd_t, gt_ap, rnd_ap, n_gt = [], [], [], [], [], []
    frames = np.linspace(0, num_views - 1, num_frames).round().astype(int)
    for scene_id in scene_ids:
        labels = api.loadGraspLabels(api.getObjIds([scene_id]))
        coll = api.loadCollisionLabels(scene_id)
        for ann in frames:
            t0 = time.perf_counter()
            gg = api.loadGrasp(scene_id, int(ann), '6d', camera, grasp_labels=labels,
                               collision_labels=coll, fric_coef_thresh=0.4)
            load_t.append(time.perf_counter() - t0)
            n_gt.append(len(gg))
            ap, _, sec = ev.evaluate(scene_id, int(ann), gg)
            gt_ap.append(ap)
            gt_t.append(sec)
            ap, _, sec = ev.evaluate(scene_id, int(ann), random_grasps(gg, 500))
            rnd_ap.append(ap)
            rnd_t.append(sec)
    return [
        ('graspnetAPI loadGrasp (mu <= 0.4)', f'{int(np.mean(n_gt))} grasps / frame',
         f'{1000 * np.mean(load_t):.0f} ms'),
        ('graspnetAPI eval_grasp, ground truth', f'AP-like {np.mean(gt_ap):.3f}',
         f'{np.mean(gt_t):.2f} s / frame'),
        ('graspnetAPI eval_grasp, 500 random grasps', f'AP-like {np.mean(rnd_ap):.3f}',
         f'{np.mean(rnd_t):.2f} s / frame'),
    ]


def bench_eval_scene(workdir: str, scene_id: int = 100) -> List[Tuple[str, str, str]]:
    """Full ``GraspNetEval.eval_scene`` (256 frames) on a scene's ground-truth grasps."""
    from graspnetAPI import GraspNet
    from graspnetAPI.graspnet_eval import GraspNetEval
    root = os.path.join(workdir, 'eval_scene')
    t0 = time.perf_counter()
    generate_dataset(root, 'tiny', scene_ids=[scene_id], num_views=256,
                     image_size=(320, 180), progress=False)
    t_gen = time.perf_counter() - t0
    camera = 'realsense'
    api = GraspNet(root, camera, split='custom', sceneIds=[scene_id])
    labels = api.loadGraspLabels(api.getObjIds([scene_id]))
    coll = api.loadCollisionLabels(scene_id)
    dump = os.path.join(root, 'dump')
    out_dir = os.path.join(dump, f'scene_{scene_id:04d}', camera)
    os.makedirs(out_dir)
    for ann in range(256):
        gg = api.loadGrasp(scene_id, ann, '6d', camera, grasp_labels=labels,
                           collision_labels=coll, fric_coef_thresh=0.4)
        gg.save_npy(os.path.join(out_dir, f'{ann:04d}.npy'))
    t1 = time.perf_counter()
    acc = GraspNetEval(root, camera, split='custom').eval_scene(scene_id, dump)
    t_eval = time.perf_counter() - t1
    return [('graspnetAPI eval_scene, 256 frames, ground truth',
             f'AP {100 * np.mean(acc):.1f} (gen {t_gen:.0f} s)',
             f'{t_eval:.0f} s ({t_eval / 256:.2f} s / frame)')]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--preset', default='tiny')
    parser.add_argument('--scene-ids', type=int, nargs='+', default=[0, 100])
    parser.add_argument('--num-views', type=int, default=8)
    parser.add_argument('--eval-frames', type=int, default=2,
                        help='frames per scene evaluated with graspnetAPI')
    parser.add_argument('--eval-scene', action='store_true',
                        help='also run a full 256-frame GraspNetEval.eval_scene (minutes)')
    parser.add_argument('--out', default=None, help='keep the dataset here')
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    workdir = args.out or tempfile.mkdtemp(prefix='bench_labels_')
    root = os.path.join(workdir, 'dataset')
    try:
        rows = bench_dataset(root, args)
        cfg, _ = get_preset(args.preset)
        rows += bench_eval(root, args.scene_ids, cfg.cameras[0], args.eval_frames,
                           args.num_views)
        _print_table(rows, f'preset {args.preset}, scenes {args.scene_ids}, '
                     f'{args.num_views} views')
        if args.eval_scene:
            _print_table(bench_eval_scene(workdir), 'full eval_scene')
    finally:
        if args.out is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _print_table(rows: List[Tuple[str, str, str]], title: str) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    print(f'\n{title}\n', flush=True)
    for r in rows:
        print('  '.join(c.ljust(w) for c, w in zip(r, widths)), flush=True)


if __name__ == '__main__':
    main()
