"""The real GraspNet-1Billion Kinect frame of ../shared/realdata, read in place.

The frame comes with depth (uint16 mm), ``meta.mat`` (intrinsics, factor_depth, 9 object
poses ``T_cam_obj``) but without a label image or camera poses. Tests make them up, in
memory or in a temporary folder (the real files are never copied into the repository):

- :func:`label_image`: every object is a disc around the projection of its origin (radius
  3.5 cm at its depth), painted in meta order: a plausible segmentation that, like the
  real one, also covers pixels without depth (the Kinect's holes);
- :data:`CAM2WORLD`: a fixed rigid ``T_world_cam`` (camera 0.62 m up, looking down at an
  angle), so that the table frame differs from the camera frame (it is not the frame's
  true table pose, which the real frame does not come with).
"""
import os
import os.path as osp

import numpy as np
import pytest

#: The shared folder of real sensor frames, next to the checkout.
REALDATA_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..', 'shared',
                                     'realdata'))
REAL = osp.join(REALDATA_ROOT, 'graspnet_kinect_frame')


def available() -> bool:
    return osp.isfile(osp.join(REAL, 'depth.png')) and osp.isfile(osp.join(REAL, 'meta.mat'))


def running_in_ci() -> bool:
    """True under CI (``CI=true``), where missing real data is a failure, not a skip."""
    return os.environ.get('CI', '').strip().lower() in ('1', 'true', 'yes')


def requires_realdata(folder: str = REAL):
    """Mark for tests that read ``folder`` of ../shared/realdata.

    Locally, a missing folder skips the test with a reason naming it. Under ``CI=true``
    the test is not skipped: :func:`check_realdata_in_ci` (run at session start) has
    already failed the run.
    """
    missing = not osp.isdir(folder)
    return pytest.mark.skipif(missing and not running_in_ci(),
                              reason=f'real sensor data not found: {folder}')


def check_realdata_in_ci() -> None:
    """Under ``CI=true`` a missing ../shared/realdata fails the whole session."""
    if running_in_ci() and not available():
        raise pytest.UsageError(
            f'CI=true but the real sensor frames are missing: {REAL} (the real-data tests '
            f'would be skipped silently); put ../shared/realdata next to the checkout')


def load():
    """``(depth uint16 (720, 1280) mm, meta dict)``."""
    import cv2
    import scipy.io
    depth = cv2.imread(osp.join(REAL, 'depth.png'), cv2.IMREAD_UNCHANGED)
    return depth, scipy.io.loadmat(osp.join(REAL, 'meta.mat'))


def _rot(axis, deg):
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    i, j = {'x': (1, 2), 'y': (2, 0), 'z': (0, 1)}[axis]
    R = np.eye(3)
    R[i, i], R[i, j], R[j, i], R[j, j] = c, -s, s, c
    return R


#: ``T_world_cam``: camera 0.62 m up, optical axis tilted 40 degrees from straight down,
#: turned 25 degrees about the world z axis.
CAM2WORLD = np.eye(4)
CAM2WORLD[:3, :3] = _rot('z', 25.) @ _rot('x', -(180. - 40.))
CAM2WORLD[:3, 3] = (0.05, -0.35, 0.62)


def label_image(depth: np.ndarray, meta: dict, radius_m: float = 0.035) -> np.ndarray:
    """uint8 (H, W) ``cls_indexes`` (obj_id + 1) discs around the objects' origins."""
    K = meta['intrinsic_matrix']
    poses = meta['poses']
    cls = meta['cls_indexes'].reshape(-1)
    h, w = depth.shape
    vv, uu = np.mgrid[0:h, 0:w]
    seg = np.zeros((h, w), np.uint8)
    for i, c in enumerate(cls):
        t = poses[:, 3, i]
        u = K[0, 0] * t[0] / t[2] + K[0, 2]
        v = K[1, 1] * t[1] / t[2] + K[1, 2]
        r = K[0, 0] * radius_m / t[2]
        seg[(uu - u) ** 2 + (vv - v) ** 2 <= r * r] = int(c)
    return seg


def reference_workspace_mask(depth_png: np.ndarray, seg: np.ndarray, K: np.ndarray,
                             factor_depth: float, trans: np.ndarray,
                             outlier: float = 0.02) -> np.ndarray:
    """The GSNet reference's ``depth > 0 & get_workspace_mask(...)``, from its formulas.

    Cloud: ``z = depth_png / factor_depth``, ``x = (u - cx) * z / fx``,
    ``y = (v - cy) * z / fy`` (float64, a pixel without depth is (0, 0, 0)); mapped with
    ``trans`` (``cam0_wrt_table @ camera_pose``) in homogeneous coordinates; box of the
    pixels with ``seg > 0``; strict bounds grown by ``outlier``.
    """
    h, w = depth_png.shape
    xmap, ymap = np.meshgrid(np.arange(w), np.arange(h))
    z = depth_png / np.array([[factor_depth]])
    cloud = np.stack([(xmap - K[0][2]) * z / K[0][0], (ymap - K[1][2]) * z / K[1][1], z],
                     axis=-1).reshape(-1, 3)
    hom = np.concatenate([cloud, np.ones((len(cloud), 1))], axis=1)
    cloud = np.dot(trans, hom.T).T[:, :3]
    fg = cloud[seg.reshape(-1) > 0]
    lo, hi = fg.min(axis=0), fg.max(axis=0)
    inside = np.all((cloud > lo - outlier) & (cloud < hi + outlier), axis=1)
    return (depth_png > 0) & inside.reshape(h, w)
