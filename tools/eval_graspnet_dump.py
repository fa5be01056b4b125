"""Evaluate a folder of dumped grasps with graspnetAPI's AP, fast.

The dump folder is in graspnetAPI's layout, ``DUMP/scene_XXXX/{camera}/NNNN.npy`` (one
(N, 17) array of graspnetAPI grasp rows per frame, camera frame, metres), as written by
``tools/test.py --dump-dir``, GSNet's or graspnet-baseline's test scripts. The numbers are
those of graspnetAPI's ``GraspNetEval.eval_seen`` / ``eval_similar`` / ``eval_novel`` /
``eval_all`` (the same per-frame tables; ``--backend graspnetapi`` runs graspnetAPI's own
``eval_grasp`` for a cross-check), and the same result lines are printed, followed by a
table with AP, AP0.8 and AP0.4 (percent) per split.

Examples:
    python tools/eval_graspnet_dump.py --root data/graspnet --dump-dir dump --camera \
        realsense --split seen --nproc 8
    python tools/eval_graspnet_dump.py --root data/graspnet_tiny --dump-dir dump \
        --scenes 100 --frames 0 1 2 --save-dir work_dirs/eval
"""
import argparse
import json
import os
import os.path as osp
import pickle
import sys
import time

import numpy as np

SPLIT_SCENES = {'seen': range(100, 130), 'similar': range(130, 160),
                'novel': range(160, 190), 'all': range(100, 190)}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='GraspNet-1Billion AP of a dump folder (graspnetAPI numbers, fast)')
    parser.add_argument('--root', required=True, help='dataset root (scenes/, models/, '
                        'dex_models/)')
    parser.add_argument('--dump-dir', required=True,
                        help='DUMP/scene_XXXX/<camera>/NNNN.npy')
    parser.add_argument('--camera', default='realsense', choices=('realsense', 'kinect'))
    which = parser.add_mutually_exclusive_group()
    which.add_argument('--split', choices=sorted(SPLIT_SCENES),
                       help="graspnetAPI's scene ranges (default: all)")
    which.add_argument('--scenes', type=int, nargs='+', help='explicit scene ids')
    parser.add_argument('--frames', type=int, nargs='+',
                        help='frame ids of every scene (default: all frames of '
                        'camera_poses.npy, 256 in GraspNet-1Billion)')
    parser.add_argument('--nproc', type=int, default=os.cpu_count() or 1,
                        help='evaluation processes (default: all cores)')
    parser.add_argument('--backend', default='fast', choices=('fast', 'graspnetapi'))
    parser.add_argument('--compare-backends', action='store_true',
                        help="evaluate every frame with both backends and compare the "
                        "per-grasp scores and the frame tables (exit status 1 on any "
                        "difference); prints the CPU-seconds per frame of each")
    parser.add_argument('--top-k', type=int, default=50)
    parser.add_argument('--max-width', type=float, default=0.1, help='metres')
    parser.add_argument('--pose-source', default='annotations',
                        choices=('annotations', 'meta'))
    parser.add_argument('--save-dir', help='write ap_<camera>.npy (scenes x frames x top_k '
                        'x 6, as graspnetAPI returns it) and eval_<camera>.json')
    parser.add_argument('--no-progress', action='store_true')
    args = parser.parse_args(argv)
    if args.nproc < 1:
        parser.error(f'--nproc must be >= 1, got {args.nproc}')
    if args.compare_backends and args.backend != 'fast':
        parser.error('--compare-backends runs both backends; leave --backend alone')
    if args.top_k < 1:
        parser.error(f'--top-k must be >= 1, got {args.top_k}')
    if not args.max_width > 0:
        parser.error(f'--max-width must be > 0, got {args.max_width}')
    if args.frames is not None and min(args.frames) < 0:
        parser.error('--frames must be >= 0')
    for name in ('root', 'dump_dir'):
        if not osp.isdir(getattr(args, name)):
            parser.error(f'--{name.replace("_", "-")} {getattr(args, name)} is not a folder')
    if args.scenes is None:
        split = args.split or 'all'
        args.scenes = list(SPLIT_SCENES[split])
        if args.split is None:
            # default: every scene of the test range that has dumps
            present = [s for s in args.scenes if osp.isdir(
                osp.join(args.dump_dir, f'scene_{s:04d}', args.camera))]
            if not present:
                parser.error(f'no scene_0100 ... scene_0189 with a {args.camera} folder in '
                             f'{args.dump_dir}; give --scenes')
            args.scenes = present
    if min(args.scenes) < 0:
        parser.error('--scenes must be >= 0')
    return args


def result_lines(camera: str, metrics: dict) -> list:
    """graspnetAPI's result lines (fractions) for the splits present."""
    lines = ['', 'Evaluation Result:', '----------']
    have = [s for s in ('seen', 'similar', 'novel') if f'{s}/AP' in metrics]
    if len(have) == 3:
        lines.append('{}, AP={}, AP Seen={}, AP Similar={}, AP Novel={}'.format(
            camera, metrics['AP'], metrics['seen/AP'], metrics['similar/AP'],
            metrics['novel/AP']))
    elif have == ['seen']:
        lines.append('{}, AP Seen={}'.format(camera, metrics['seen/AP']))
    elif have == ['similar']:
        lines.append('{}, AP={}, AP Similar={}'.format(camera, metrics['AP'],
                                                      metrics['similar/AP']))
    elif have == ['novel']:
        lines.append('{}, AP={}, AP Novel={}'.format(camera, metrics['AP'],
                                                    metrics['novel/AP']))
    else:
        lines.append('{}, AP={}'.format(camera, metrics['AP']) + ''.join(
            ', AP {}={}'.format(s.capitalize(), metrics[f'{s}/AP']) for s in have))
    return lines


def table_lines(metrics: dict, counts: dict) -> list:
    rows = [('all', '')] + [(s, f'{s}/') for s in ('seen', 'similar', 'novel')
                            if f'{s}/AP' in metrics]
    out = ['', f'{"split":<8} {"frames":>7} {"AP":>7} {"AP0.8":>7} {"AP0.4":>7}']
    for name, pre in rows:
        out.append(f'{name:<8} {counts[name]:>7d} {100 * metrics[pre + "AP"]:7.2f} '
                   f'{100 * metrics[pre + "AP0.8"]:7.2f} {100 * metrics[pre + "AP0.4"]:7.2f}')
    return out


def compare_backends(tasks: list, nproc: int, progress: bool) -> int:
    """Run every task with both backends; print the differences; 0 when identical."""
    from graspcontrast_mm.evaluation.graspnet_eval import evaluate_tasks
    runs, seconds = {}, {}
    for backend in ('fast', 'graspnetapi'):
        start = os.times()
        runs[backend] = evaluate_tasks([dict(t, backend=backend, keep_scores=True)
                                        for t in tasks], nproc=nproc, progress=progress)
        end = os.times()
        seconds[backend] = sum(end[i] - start[i] for i in range(4))
    grasps = differing_grasps = differing_frames = 0
    for fast, ref in zip(runs['fast'], runs['graspnetapi']):
        where = f"scene {fast['scene_id']} frame {fast['frame_id']}"
        a, b = np.asarray(fast['scores']), np.asarray(ref['scores'])
        grasps += len(b)
        if a.shape != b.shape:
            differing_frames += 1
            print(f'{where}: {len(a)} evaluated grasps (fast) vs {len(b)} (graspnetAPI)')
            continue
        bad = int(np.sum(a != b))
        table_same = np.array_equal(fast['accuracy'], ref['accuracy'])
        if bad or not table_same:
            differing_frames += 1
            differing_grasps += bad
            print(f'{where}: {bad} of {len(a)} per-grasp scores differ; accuracy table '
                  f'{"identical" if table_same else "differs"}')
    n = max(len(tasks), 1)
    print(f'\n{len(tasks)} frames, {grasps} evaluated grasps: {differing_grasps} per-grasp '
          f'scores and {differing_frames} frames differ between the backends')
    print(f'CPU-seconds per frame: fast {seconds["fast"] / n:.3f}, graspnetAPI '
          f'{seconds["graspnetapi"] / n:.3f} ({nproc} process(es))')
    return 0 if differing_frames == 0 else 1


def main(argv=None):
    args = parse_args(argv)
    from graspcontrast_mm.evaluation.graspnet_eval import (dump_tasks, evaluate_tasks,
                                                           split_of_scene, summarize_frames)
    try:
        tasks = dump_tasks(args.root, args.dump_dir, args.camera, args.scenes, args.frames,
                           backend=args.backend, top_k=args.top_k,
                           max_width=args.max_width, pose_source=args.pose_source)
    except (FileNotFoundError, IndexError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if args.compare_backends:
        try:
            return compare_backends(tasks, args.nproc, not args.no_progress)
        except (ValueError, FileNotFoundError, pickle.UnpicklingError) as e:
            print(f'error: {e}', file=sys.stderr)
            return 2
    start = time.time()
    cpu_start = os.times()
    try:
        results = evaluate_tasks(tasks, nproc=args.nproc, progress=not args.no_progress)
    except (ValueError, FileNotFoundError, pickle.UnpicklingError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    wall = time.time() - start
    cpu_end = os.times()
    cpu = sum(cpu_end[i] - cpu_start[i] for i in range(4))
    metrics = summarize_frames(results)
    counts = {'all': len(results)}
    for r in results:
        split = split_of_scene(r['scene_id'])
        if split is not None:
            counts[split] = counts.get(split, 0) + 1
    print('\n'.join(result_lines(args.camera, metrics) + table_lines(metrics, counts)))
    print(f'\n{len(results)} frames of {len(args.scenes)} scene(s), backend {args.backend}, '
          f'{args.nproc} process(es): {wall:.1f} s wall, {cpu:.1f} CPU-s')
    if args.save_dir:
        os.makedirs(args.save_dir, exist_ok=True)
        per_scene = {}
        for r in results:
            per_scene.setdefault(r['scene_id'], []).append(r['accuracy'])
        if len({len(v) for v in per_scene.values()}) == 1:
            np.save(osp.join(args.save_dir, f'ap_{args.camera}.npy'),
                    np.array([np.stack(v) for v in per_scene.values()]))
        report = dict(camera=args.camera, backend=args.backend, metrics=metrics,
                      scenes=[int(s) for s in args.scenes],
                      frames=[dict(scene_id=r['scene_id'], frame_id=r['frame_id'],
                                   num_grasps=r['num_grasps'],
                                   num_evaluated=r['num_evaluated'],
                                   AP=float(np.mean(r['accuracy']))) for r in results])
        with open(osp.join(args.save_dir, f'eval_{args.camera}.json'), 'w') as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
