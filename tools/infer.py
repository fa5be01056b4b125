"""Detect 6-DoF grasps on a depth image, a point cloud or a GraspNet frame.

Examples:
    # depth image (uint16 millimetres) + intrinsics + workspace mask
    python tools/infer.py CONFIG CKPT --depth depth.png --intrinsics 631.5 631.2 638.4 366.5 \
        --mask workspace_mask.png --color color.png --out-dir outputs --top-k 50

    # intrinsics from a file (3x3 .npy / .txt, .json, or GraspNet meta .mat)
    python tools/infer.py CONFIG CKPT --depth depth.png --intrinsics meta.mat

    # camera-frame point cloud in metres
    python tools/infer.py CONFIG CKPT --points cloud.ply --no-collision-filter

    # a frame of a dataset in the GraspNet-1Billion layout
    python tools/infer.py CONFIG CKPT --graspnet-frame data/graspnet 100 realsense 0

    # checkpoint written by tools/train.py embeds its config: pass '-' as CONFIG
    python tools/infer.py - work_dirs/gsnet/epoch_10.pth --depth depth.png --intrinsics K.npy

Prints the best grasps (camera frame, metres); with ``--out-dir`` writes
``preds/NAME.npy`` (graspnetAPI rows: ``GraspGroup(path)`` reloads them),
``preds/NAME.json`` (summary) and ``vis/NAME.png`` (picture, red = high score).

Bad arguments are a one-line ``error:`` before any work (exit status 2). The checkpoint is
loaded strictly (missing / unexpected / wrong-shape keys and NaN weights are an error;
``--non-strict-load`` relaxes it); a config stored in a checkpoint is read as data, never
executed. Bad checkpoints and inputs are a one-line ``error:`` (exit status 1).
"""
import argparse
import math
import sys

import graspcontrast_mm  # noqa: F401,E402  (CPU runtime defaults before torch loads)
import torch

from graspcontrast_mm.utils.cli import (add_wait_args, finite_float, int_at_least,
                                        non_negative_float, positive_float, wait_for_paths)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='6-DoF grasp detection with a graspcontrast_mm model',
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument('config', help="config file, or '-' to read it from the checkpoint")
    parser.add_argument('checkpoint', help='model checkpoint (.pth)')
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument('--depth', nargs='+', help='depth image(s): .png / .tif / .npy')
    src.add_argument('--points', nargs='+',
                     help='point cloud(s) in the camera frame, metres: .npy / .ply / .pcd')
    src.add_argument('--graspnet-frame', nargs=4,
                     metavar=('DATA_ROOT', 'SCENE_ID', 'CAMERA', 'FRAME_ID'),
                     help='a frame of a dataset in the GraspNet-1Billion layout')
    parser.add_argument('--intrinsics', nargs='+',
                        help='fx fy cx cy (pixels), or a file (.npy / .txt / .json / .mat)')
    parser.add_argument('--depth-scale', type=positive_float, default=None,
                        help='depth units per metre (default: 1000 for integer images, '
                        '1 for float images)')
    parser.add_argument('--mask', help='workspace mask image (non-zero = keep)')
    parser.add_argument('--color', help='colour image aligned with the depth (pictures)')
    parser.add_argument('--out-dir', default='', help='write grasps, summary and picture')
    parser.add_argument('--top-k', type=int_at_least(0), default=50,
                        help='best grasps kept (0: all)')
    parser.add_argument('--score-thr', type=finite_float, default=None, help='minimum score')
    parser.add_argument('--collision-filter', dest='collision_filter', action='store_true',
                        default=True, help='drop grasps colliding with the scene (default)')
    parser.add_argument('--no-collision-filter', dest='collision_filter',
                        action='store_false', help='keep colliding grasps')
    parser.add_argument('--approach-dist', type=non_negative_float, default=0.05,
                        help='free approach path checked by the collision filter, metres')
    parser.add_argument('--collision-voxel', type=positive_float, default=0.01,
                        help='voxel size of the scene for the collision filter, metres')
    parser.add_argument('--view', choices=['camera', 'oblique'], default='camera',
                        help='viewpoint of the picture')
    parser.add_argument('--num-points', type=int_at_least(1), default=None,
                        help='override the number of sampled points')
    parser.add_argument('--seed', type=int_at_least(0), default=0,
                        help='seed of the point sampling')
    parser.add_argument('--device', default='cpu', help='torch device')
    parser.add_argument('--threads', type=int_at_least(1), default=None,
                        help='torch CPU threads')
    parser.add_argument('--print-rows', type=int_at_least(0), default=10,
                        help='grasps printed per input')
    parser.add_argument('--non-strict-load', action='store_true',
                        help='use a checkpoint that does not fit the model (missing, '
                        'unexpected or wrong-shape keys, NaN weights); the parameters it '
                        'lacks stay random')
    add_wait_args(parser)
    args = parser.parse_args(argv)
    if args.intrinsics is not None:
        if len(args.intrinsics) not in (1, 4):
            parser.error('--intrinsics takes fx fy cx cy (pixels) or one file')
        if len(args.intrinsics) == 4:
            try:
                values = [float(v) for v in args.intrinsics]
            except ValueError:
                parser.error(f'--intrinsics: fx fy cx cy must be numbers, got '
                             f'{args.intrinsics}')
            if not all(math.isfinite(v) for v in values) or min(values[:2]) <= 0:
                parser.error(f'--intrinsics: fx fy cx cy must be finite and fx, fy '
                             f'positive (pixels), got {args.intrinsics}')
    if args.depth and not args.intrinsics:
        parser.error('--depth needs --intrinsics')
    if args.graspnet_frame:
        _, scene, _, frame = args.graspnet_frame
        if not (scene.isdigit() and frame.isdigit()):
            parser.error(f'--graspnet-frame: SCENE_ID and FRAME_ID must be non-negative '
                         f'integers, got {scene!r} and {frame!r}')
    return args


def build_inputs(args):
    """Inputs and call arguments of the inferencer from the parsed arguments."""
    from graspcontrast_mm.apis import read_intrinsics
    call = {}
    if args.intrinsics:
        vals = args.intrinsics
        if len(vals) == 4:
            call['intrinsics'] = read_intrinsics([float(v) for v in vals])
        elif len(vals) == 1:
            call['intrinsics'] = read_intrinsics(vals[0])
        else:
            raise SystemExit('--intrinsics takes fx fy cx cy or one file')
    if args.depth:
        if 'intrinsics' not in call:
            raise SystemExit('--depth needs --intrinsics')
        inputs = [dict(depth=p, mask=args.mask, color=args.color,
                       depth_scale=args.depth_scale) for p in args.depth]
    elif args.points:
        K = call.pop('intrinsics', None)  # only used for the picture's viewpoint
        inputs = [dict(points=p, intrinsics=K) for p in args.points]
    else:
        root, scene, camera, frame = args.graspnet_frame
        inputs = [dict(data_root=root, scene_id=int(scene), camera=camera,
                       frame_id=int(frame))]
    return inputs, call


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from graspcontrast_mm.apis import GraspInferencer
    from graspcontrast_mm.engine import CheckpointLoadError
    try:
        wait_for_paths(args.wait_for, args.wait_timeout)
    except TimeoutError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    try:
        inputs, call = build_inputs(args)
        inferencer = GraspInferencer(
            None if args.config == '-' else args.config, args.checkpoint,
            device=args.device, num_points=args.num_points,
            collision_cfg=dict(approach_dist=args.approach_dist,
                               voxel_size=args.collision_voxel),
            strict=not args.non_strict_load)
        out = inferencer(inputs, out_dir=args.out_dir, seed=args.seed,
                         top_k=args.top_k or None, score_thr=args.score_thr,
                         collision_filter=args.collision_filter, view=args.view, **call)
    except (CheckpointLoadError, FileNotFoundError, ValueError, KeyError,
            TypeError) as err:
        # CheckpointMismatchError, NonFiniteWeightsError and UnsafeConfigError are
        # ValueErrors; the str() of a KeyError quotes its message
        text = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f'error: {text}', file=sys.stderr)
        return 1
    for summary, gg in zip(out['summaries'], out['predictions']):
        title = (f"{summary['name']}: {len(gg)} grasps (model {summary['num_grasps_model']}, "
                 f"after NMS {summary['num_grasps_nms']}, in collision "
                 f"{summary['num_collisions']}); camera frame, metres")
        print(GraspInferencer.format_grasps(gg.grasp_group_array, title=title,
                                            max_rows=args.print_rows))
        timings = ', '.join(f'{k} {v * 1000:.0f} ms' for k, v in summary['timings_s'].items())
        print(f'  timings: {timings}')
        for kind, path in summary['files'].items():
            print(f'  {kind}: {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
