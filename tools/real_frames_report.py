"""Run grasp detectors on the real RGB-D frames of ``../shared/realdata`` and record what
they do there: grasp counts through the Inferencer's funnel (model output after NMS ->
in collision -> below the support plane -> kept), the share of kept grasps whose centre
lies on an object (where the frame has an object mask), and one picture per model and
frame.

Frames (uint16 millimetre depth, 1280x720): the GraspNet-1Billion Kinect frame (with its
workspace mask), the HGGD RealSense frame and the M2T2 robot-view scene (object mask from
its instance segmentation). Intrinsics come from the frames' own files or their README.

Usage::

    python tools/real_frames_report.py --model fne CONFIG CKPT --model scratch CONFIG CKPT \
        --out-dir docs/study_real [--realdata ../shared/realdata] [--top-k 50]

Writes ``OUT_DIR/real_frames.json`` (atomically) and ``OUT_DIR/<model>_<frame>.png``.
Exit status 2 with a one-line ``error:`` for a missing checkpoint, config or data folder.
"""
import argparse
import json
import os
import os.path as osp
import sys

import graspcontrast_mm  # noqa: F401  (CPU runtime defaults before torch loads)
import numpy as np

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))

#: name -> (folder, depth file, colour file, mask file or None, intrinsics (fx fy cx cy) or
#: the file holding them, object segmentation file or None)
REAL_FRAMES = {
    'graspnet_kinect': ('graspnet_kinect_frame', 'depth.png', 'color.png',
                        'workspace_mask.png', 'meta.mat', None),
    'hggd_realsense': ('hggd_realsense_frame', 'demo_depth.png', 'demo_rgb.png', None,
                       (927.17, 927.37, 651.32, 349.62), None),
    'm2t2_robot_view': ('m2t2_real_scene', 'depth.png', 'rgb.png', None, 'meta.json',
                        'seg.png'),
}


#: (W, H) of the pictures
PICTURE_SIZE = (640, 360)


def _intrinsics(folder: str, spec) -> np.ndarray:
    """3x3 intrinsics from ``(fx, fy, cx, cy)`` or a file of the frame's folder
    (``meta.mat``, ``meta.json`` with ``intrinsics``: the package's reader)."""
    from graspcontrast_mm.datasets.transforms.loading import read_intrinsics
    return read_intrinsics(spec if isinstance(spec, tuple) else osp.join(folder, spec))


def object_share(grasps: np.ndarray, K: np.ndarray, seg: np.ndarray, radius: int = 3):
    """Share of grasps whose centre (camera frame, metres) projects within ``radius``
    pixels (square window) of an object pixel of ``seg`` (non-zero = object; an (H, W)
    image of the same camera); None without grasps. Centres outside the image or behind
    the camera count as off the objects."""
    if len(grasps) == 0:
        return None
    import cv2
    near = cv2.dilate((seg > 0).astype(np.uint8),
                      np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)) > 0
    t = grasps[:, 13:16].astype(np.float64)
    z = np.where(t[:, 2] > 0, t[:, 2], np.nan)
    with np.errstate(invalid='ignore'):
        u = np.round(K[0, 0] * t[:, 0] / z + K[0, 2])
        v = np.round(K[1, 1] * t[:, 1] / z + K[1, 2])
    h, w = near.shape
    inside = np.isfinite(u) & np.isfinite(v) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    hits = np.zeros(len(t), bool)
    hits[inside] = near[v[inside].astype(int), u[inside].astype(int)]
    return float(hits.mean())


def run_model(name: str, config: str, checkpoint: str, realdata: str, out_dir: str,
              top_k: int) -> dict:
    import cv2
    from graspcontrast_mm.apis import GraspInferencer
    inferencer = GraspInferencer(config, checkpoint)
    result = {}
    for frame, (folder, depth, color, mask, intr, seg) in REAL_FRAMES.items():
        d = osp.join(realdata, folder)
        K = _intrinsics(d, intr)
        item = dict(depth=osp.join(d, depth), intrinsics=K, color=osp.join(d, color),
                    name=f'{name}_{frame}')
        if mask:
            item['mask'] = osp.join(d, mask)
        out = inferencer(item, support_plane=True, top_k=top_k, return_datasamples=True,
                         img_out_dir=out_dir, image_size=PICTURE_SIZE)
        ds = out['predictions'][0]
        meta = ds.metainfo
        grasps = np.asarray(ds.pred_grasps, np.float32)
        rec = dict(after_nms=int(meta['num_grasps_nms']),
                   in_collision=int(meta['num_collisions']),
                   below_support_plane=meta.get('num_below_support_plane'),
                   kept=int(len(grasps)),
                   mean_width_m=float(grasps[:, 1].mean()) if len(grasps) else None,
                   picture=osp.relpath(meta['files']['picture'], out_dir))
        if seg:
            seg_img = cv2.imread(osp.join(d, seg), cv2.IMREAD_UNCHANGED)
            rec['on_object_share'] = object_share(grasps, K, seg_img)
        result[frame] = rec
        print(f'[real frames] {name} {frame}: ' + ', '.join(
            f'{k}={v}' for k, v in rec.items() if k != 'picture'), flush=True)
    return result


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--model', nargs=3, action='append', required=True,
                   metavar=('NAME', 'CONFIG', 'CHECKPOINT'))
    p.add_argument('--out-dir', required=True)
    p.add_argument('--realdata', default=osp.join(ROOT, '..', 'shared', 'realdata'))
    p.add_argument('--top-k', type=int, default=50)
    args = p.parse_args(argv)
    for name, config, ckpt in args.model:
        for path in (config, ckpt):
            if not osp.isfile(path):
                p.error(f'{name}: file not found: {path}')
    for folder, *_ in REAL_FRAMES.values():
        if not osp.isdir(osp.join(args.realdata, folder)):
            p.error(f'real frame folder not found: {osp.join(args.realdata, folder)}')
    if args.top_k < 1:
        p.error(f'--top-k must be >= 1, got {args.top_k}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    record = {name: dict(config=osp.relpath(config, ROOT),
                         checkpoint=osp.relpath(ckpt, ROOT),
                         frames=run_model(name, config, ckpt, args.realdata, args.out_dir,
                                          args.top_k))
              for name, config, ckpt in args.model}
    path = osp.join(args.out_dir, 'real_frames.json')
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(record, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
    print(f'[real frames] {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
