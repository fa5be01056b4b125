"""Generate synthetic scenes in the GraspNet-1Billion layout.

Every preset also writes the labels of GraspNet-1Billion (``grasp_label/``,
``collision_label/``, ``dex_models/``) and GSNet's per-frame ``graspness/`` maps
(``--no-labels``: scenes only). See ``docs/data_flow.md`` for the files.

Examples::

    # 4 small scenes (0, 1, 2, 100), 16 views of 640x360, coarse labels: ~1 min on a CPU
    python tools/create_graspnet_scenes.py --out data/graspnet_tiny --preset tiny

    # one or more scenes in every split (train, test_seen, test_similar, test_novel)
    python tools/create_graspnet_scenes.py --out data/graspnet_bench --preset tiny_benchmark

    # GraspNet-like: scenes 0-189, 256 views of 1280x720, both cameras
    python tools/create_graspnet_scenes.py --out data/graspnet_syn --preset default

    # scenes 0-9 and 100-104 only, realsense, 64 views
    python tools/create_graspnet_scenes.py --out data/syn --preset default \
        --scene-ids 0-9 100-104 --camera realsense --num-views 64

A rerun with the same settings completes an interrupted run (finished scenes and object
label files are skipped).

Evaluating with graspnetAPI on a generated root: ``GraspNet(root, camera, split='custom',
sceneIds=[...])`` (the named splits expect all of their scenes on disk), and
``GraspNetEval(root, camera, split='custom').eval_scene(scene_id, dump_folder)`` (it reads
256 frames: generate with ``--num-views 256``).
"""
import argparse
import logging
import sys
from typing import List

from graspcontrast_mm.synthetic import PRESETS, ManifestMismatchError, generate_dataset
from graspcontrast_mm.synthetic.generator import MIN_IMAGE_SIZE
from graspcontrast_mm.utils.cli import int_at_least


def parse_scene_ids(tokens: List[str]) -> List[int]:
    """``['0-2', '100']`` -> ``[0, 1, 2, 100]``."""
    ids: List[int] = []
    for tok in tokens:
        for part in tok.split(','):
            part = part.strip()
            if not part:
                continue
            try:
                if '-' in part:
                    lo, hi = (int(x) for x in part.split('-', 1))
                else:
                    lo = hi = int(part)
            except ValueError:
                raise ValueError(f'bad scene id {part!r}: expected N or LO-HI '
                                 '(non-negative integers)') from None
            if lo > hi:
                raise ValueError(f'bad scene range {part!r}: {lo} > {hi}')
            ids.extend(range(lo, hi + 1))
    return sorted(set(ids))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate synthetic scenes in the GraspNet-1Billion layout.')
    parser.add_argument('--out', required=True, help='dataset root to write')
    parser.add_argument('--preset', default='tiny', choices=sorted(PRESETS))
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--num-scenes', type=int_at_least(1), default=None,
                       help="first N scene ids of the preset")
    group.add_argument('--scene-ids', nargs='+', default=None,
                       help='scene ids, e.g. 0-99 100 101 or 0,1,2')
    parser.add_argument('--num-views', type=int_at_least(1), default=None,
                        help='views per scene')
    parser.add_argument('--camera', default=None, choices=['realsense', 'kinect', 'both'])
    parser.add_argument('--seed', type=int_at_least(0), default=None)
    parser.add_argument('--image-size', type=int_at_least(MIN_IMAGE_SIZE), nargs=2,
                        default=None,
                        metavar=('WIDTH', 'HEIGHT'),
                        help='image size in pixels (intrinsics scaled from 1280x720)')
    parser.add_argument('--no-noise', action='store_true',
                        help='exact depth (quantised to 1 mm) instead of the sensor model')
    parser.add_argument('--no-rgb', action='store_true', help='do not write rgb images')
    parser.add_argument('--no-labels', action='store_true',
                        help='scenes only: no grasp / collision labels, dexnet models or '
                        'graspness maps')
    parser.add_argument('--quiet', action='store_true', help='no progress bars')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        scene_ids = parse_scene_ids(args.scene_ids) if args.scene_ids else None
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if args.scene_ids is not None and not scene_ids:
        print(f'error: --scene-ids {" ".join(args.scene_ids)!r} names no scene',
              file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')
    try:
        result = generate_dataset(
            args.out,
            args.preset,
            scene_ids=scene_ids,
            num_scenes=args.num_scenes,
            num_views=args.num_views,
            cameras=args.camera,
            image_size=tuple(args.image_size) if args.image_size else None,
            seed=args.seed,
            noise=False if args.no_noise else None,
            write_rgb=False if args.no_rgb else None,
            with_labels=False if args.no_labels else None,
            progress=not args.quiet)
    except (ManifestMismatchError, ValueError) as e:  # settings: checked before writing
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f'{result.root}: generated {len(result.generated)} scene(s), skipped '
          f'{len(result.skipped)} complete scene(s) in {result.seconds:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
