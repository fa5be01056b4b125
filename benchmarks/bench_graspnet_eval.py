"""GraspNet AP evaluation: the fast evaluator and graspnetAPI side by side.

Per frame (same process, same inputs, BLAS on one thread for both): CPU-seconds of one
frame's evaluation (``GraspNetEval.eval_scene``'s loop body: width clipping, ``eval_grasp``,
table) with ``backend='fast'`` and with graspnetAPI's own ``eval_grasp``, and whether the
two tables and per-grasp score lists are identical, for three kinds of grasps:

- ``gt``: the frame's ground-truth grasps (graspnetAPI ``loadGrasp`` rule, mu <= 0.4);
- ``random``: random poses within 5 cm of the object centres (mostly collisions);
- ``predicted``: a dump of a model's predictions (``--pred-dump``, graspnetAPI layout, e.g.
  from ``tools/test.py --dump-dir``); without one, ground truth moved by ~3 mm / ~5 degrees
  with random scores and widths (``perturbed``, a detector-like stand-in).

Then a full scene (``--scene-frames``, default 256 frames) of perturbed grasps is
evaluated by the fast evaluator with ``--nproc`` processes (wall time and CPU-seconds of
all processes); ``--reference-scene`` also runs graspnetAPI on it (about 14 CPU-minutes
per 256 frames).

Data: ``--data-root`` (a labelled GraspNet-layout dataset: ``grasp_label``,
``collision_label``, ``dex_models``...) or, by default, one generated scene (id 100, five
objects of different shapes, ``--scene-frames`` views, 320x180) in a temporary folder.

Usage::

    python benchmarks/bench_graspnet_eval.py                       # full run
    python benchmarks/bench_graspnet_eval.py --frames 1 --scene-frames 8   # smoke run
"""
import argparse
import json
import os
import shutil
import statistics
import tempfile
import time

import numpy as np
from scipy.spatial.transform import Rotation

from graspcontrast_mm.evaluation.graspnet_eval import (
    dump_path, evaluate_dump, evaluate_frame, get_objects, load_frame_label_grasps,
    load_frame_objects, save_grasps_atomic, scene_frame_ids, table_in_camera)
from graspcontrast_mm.structures.grasp import make_grasp_array

KINDS = ('gt', 'random', 'predicted')


def generate_scene(root, scene, camera, num_views, seed):
    from graspcontrast_mm.synthetic import generate_dataset
    from graspcontrast_mm.synthetic.generator import get_preset
    pool = (0, 4, 7, 9, 20)
    cfg, _ = get_preset('tiny', num_views=num_views, image_size=(320, 180), noise=False,
                        write_rgb=False, num_objects=(5, 5), cameras=(camera, ), seed=seed,
                        object_pools={'seen': pool, 'similar': pool, 'novel': pool})
    generate_dataset(root, 'tiny', config=cfg, scene_ids=[scene], progress=False)


def gt_grasps(root, scene, camera, frame):
    return load_frame_label_grasps(root, scene, camera, frame)


def random_grasps(poses, num, rng):
    centres = poses[rng.integers(len(poses), size=num), :3, 3]
    return make_grasp_array(rng.uniform(0, 1, num), rng.uniform(0.01, 0.1, num),
                            rng.choice([0.01, 0.02, 0.03, 0.04], num),
                            Rotation.random(num, random_state=rng.integers(1 << 30))
                            .as_matrix(), centres + rng.uniform(-0.05, 0.05, (num, 3)))


def perturbed_grasps(gt, num, rng):
    g = gt[rng.choice(len(gt), min(num, len(gt)), replace=False)].copy()
    turn = Rotation.from_rotvec(rng.normal(0, np.deg2rad(5), (len(g), 3))).as_matrix()
    g[:, 4:13] = np.matmul(g[:, 4:13].reshape(-1, 3, 3).astype(np.float64),
                           turn).reshape(-1, 9)
    g[:, 13:16] += rng.normal(0, 0.003, (len(g), 3))
    g[:, 0] = rng.uniform(0, 1, len(g))
    g[:, 1] += rng.uniform(0, 0.02, len(g))
    return g


def cpu_seconds(fn):
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


def bench_frames(args, root, scene, camera):
    rng = np.random.default_rng(args.seed)
    frames = scene_frame_ids(root, scene, camera)
    picks = [frames[int(i)] for i in np.linspace(0, len(frames) - 1, args.frames)]
    rows = []
    for frame in picks:
        ids, poses = load_frame_objects(root, scene, camera, frame)
        load_s, objects = cpu_seconds(lambda: get_objects(root, ids))
        table = table_in_camera(root, scene, camera, frame)
        gt, meta_poses = gt_grasps(root, scene, camera, frame)
        sets = {'gt': gt, 'random': random_grasps(meta_poses, 300, rng)}
        if args.pred_dump:
            sets['predicted'] = np.load(dump_path(args.pred_dump, scene, camera, frame))
        else:
            sets['predicted'] = perturbed_grasps(gt, 1024, rng)
        for kind in KINDS:
            grasps = sets[kind]
            fast_s, fast = cpu_seconds(lambda: evaluate_frame(grasps, objects, poses, table))
            ref_s, ref = cpu_seconds(lambda: evaluate_frame(grasps, objects, poses, table,
                                                           backend='graspnetapi'))
            same = (np.array_equal(fast['accuracy'], ref['accuracy'])
                    and np.array_equal(fast['scores'], ref['scores']))
            rows.append(dict(frame=frame, kind=kind, num_grasps=len(grasps),
                             num_evaluated=fast['num_evaluated'],
                             num_scored=int((fast['scores'] > 0).sum()), fast_s=fast_s,
                             graspnetapi_s=ref_s, identical=bool(same),
                             first_load_s=load_s))
            print(f'frame {frame:4d} {kind:9s} {len(grasps):6d} grasps: fast {fast_s:7.3f} s, '
                  f'graspnetAPI {ref_s:7.3f} s, x{ref_s / max(fast_s, 1e-9):6.1f}, '
                  f'identical {same}', flush=True)
    return rows


def bench_scene(args, root, scene, camera):
    rng = np.random.default_rng(args.seed + 1)
    dump_dir = tempfile.mkdtemp(prefix='bench_dump_')
    try:
        frames = scene_frame_ids(root, scene, camera)[:args.scene_frames]
        for frame in frames:
            gt, meta_poses = gt_grasps(root, scene, camera, frame)
            grasps = np.concatenate([perturbed_grasps(gt, 768, rng),
                                     random_grasps(meta_poses, 256, rng)])
            save_grasps_atomic(dump_path(dump_dir, scene, camera, frame), grasps)
        out = {}
        backends = ['fast'] + (['graspnetapi'] if args.reference_scene else [])
        for backend in backends:
            t0, c0 = time.time(), os.times()
            res = evaluate_dump(root, dump_dir, camera, [scene], frames, nproc=args.nproc,
                                progress=False, backend=backend)
            c1 = os.times()
            out[backend] = dict(wall_s=time.time() - t0,
                                cpu_s=sum(c1[i] - c0[i] for i in range(4)),
                                ap=float(np.mean([r['accuracy'] for r in res])),
                                frames=len(res))
            print(f'scene {scene} ({len(res)} frames, {backend}, {args.nproc} processes): '
                  f"{out[backend]['wall_s']:.1f} s wall, {out[backend]['cpu_s']:.1f} CPU-s, "
                  f"AP {100 * out[backend]['ap']:.2f}", flush=True)
        return out
    finally:
        shutil.rmtree(dump_dir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', help='labelled GraspNet-layout dataset (default: '
                        'generate one scene in a temporary folder)')
    parser.add_argument('--scene', type=int, default=100)
    parser.add_argument('--camera', default='realsense', choices=('realsense', 'kinect'))
    parser.add_argument('--frames', type=int, default=3, help='frames timed side by side')
    parser.add_argument('--scene-frames', type=int, default=256,
                        help='frames of the full-scene run (0: skip)')
    parser.add_argument('--nproc', type=int, default=2)
    parser.add_argument('--reference-scene', action='store_true',
                        help='also run graspnetAPI on the full scene (slow)')
    parser.add_argument('--pred-dump', help='dump folder of predicted grasps')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', help='also write the figures here')
    args = parser.parse_args()
    if args.frames < 1 or args.nproc < 1 or args.scene_frames < 0:
        parser.error('--frames and --nproc must be >= 1, --scene-frames >= 0')
    tmp = None
    root = args.data_root
    try:
        if root is None:
            tmp = tempfile.mkdtemp(prefix='bench_graspnet_eval_')
            root = tmp
            t0 = time.time()
            generate_scene(root, args.scene, args.camera, max(args.scene_frames, args.frames),
                           args.seed)
            print(f'generated scene {args.scene} ({args.camera}) in {time.time() - t0:.0f} s')
        rows = bench_frames(args, root, args.scene, args.camera)
        print('\nCPU-seconds per frame (median over frames), one process, BLAS 1 thread:')
        print(f'{"grasps":10s} {"fast":>8s} {"graspnetAPI":>12s} {"speed-up":>9s} '
              f'{"identical":>10s}')
        summary = {}
        for kind in KINDS:
            sel = [r for r in rows if r['kind'] == kind]
            fast = statistics.median(r['fast_s'] for r in sel)
            ref = statistics.median(r['graspnetapi_s'] for r in sel)
            same = all(r['identical'] for r in sel)
            summary[kind] = dict(fast_s=fast, graspnetapi_s=ref, speedup=ref / max(fast, 1e-9),
                                 identical=same)
            print(f'{kind:10s} {fast:8.3f} {ref:12.3f} {ref / max(fast, 1e-9):8.1f}x '
                  f'{str(same):>10s}')
        scene = bench_scene(args, root, args.scene, args.camera) if args.scene_frames else {}
        if args.json:
            with open(args.json, 'w') as f:
                json.dump(dict(frames=rows, summary=summary, scene=scene,
                               settings=vars(args)), f, indent=1)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
