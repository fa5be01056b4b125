"""Model-free collision check of parallel-jaw grasps against a scene point cloud.

The gripper is :class:`~graspcontrast_mm.structures.gripper.ParallelJawGripper` (fingers,
palm and an approach path, the palm swept back by ``a``, the approach distance: the
stretch the gripper travels along its approach axis before reaching the grasp pose, which
must be free too), with the grasp row's own width, depth and height, and its boundary
convention (open boxes; the closing region between the fingers includes the fingers'
inner faces and is not a collision).
A grasp collides when more than ``collision_thresh`` scene points (after a voxel
down-sampling of the scene) fall inside the fingers, the palm or the approach path. The
scene is given without any object model ("model-free"), e.g. the camera-frame cloud of
one depth image.
"""
from typing import NamedTuple, Optional

import numpy as np

from .grasp import GRIPPER_DEPTH_BASE, GRIPPER_FINGER_WIDTH, _as_grasp_array
from .gripper import ParallelJawGripper, gripper_closing_contains, gripper_solid_contains
from .points import voxelize

__all__ = ['GripperCollisionResult', 'gripper_collision_counts', 'check_grasp_collisions',
           'REFERENCE_FINGER_LENGTH', 'reference_collision_iou', 'reference_collision_mask']

#: Finger length of the GSNet reference's ModelFreeCollisionDetector, metres.
REFERENCE_FINGER_LENGTH = 0.06


class GripperCollisionResult(NamedTuple):
    """Result of :func:`check_grasp_collisions`.

    Attributes:
        collision: bool (K,), True = the grasp collides with the scene.
        num_collision_points: int64 (K,) scene points inside the fingers, palm or
            approach path.
        num_inner_points: int64 (K,) scene points between the fingers (closing region).
        empty: bool (K,), True = fewer than ``empty_thresh`` points between the fingers
            (all False when the emptiness test is off).
    """
    collision: np.ndarray
    num_collision_points: np.ndarray
    num_inner_points: np.ndarray
    empty: np.ndarray


def gripper_collision_counts(grasps: np.ndarray,
                             scene_points: np.ndarray,
                             *,
                             approach_dist: float = 0.05,
                             finger_width: float = GRIPPER_FINGER_WIDTH,
                             depth_base: float = GRIPPER_DEPTH_BASE) -> tuple:
    """Scene points inside each grasp's gripper model (no down-sampling).

    Only the scene points within the bounding sphere of each gripper model (a KD-tree ball
    query around the grasp point) are transformed, so the cost grows with the number of
    nearby points, not with ``K * M``.

    Args:
        grasps: (K, 17) grasp rows, same frame as ``scene_points`` (e.g. camera), metres.
        scene_points: (M, 3) scene points, metres.
        approach_dist: length of the free approach path behind the palm, metres.
        finger_width: finger width along the closing axis, metres.
        depth_base: finger length behind the grasp point, metres.

    Returns:
        tuple: int64 (K,) points in the fingers / palm / approach path, and int64 (K,)
        points in the closing region between the fingers.
    """
    from scipy.spatial import cKDTree

    grasps = _as_grasp_array(grasps).astype(np.float64)
    pts = np.asarray(scene_points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f'scene_points must have shape (M, 3), got {pts.shape}')
    if approach_dist < 0 or finger_width <= 0 or depth_base < 0:
        raise ValueError('need approach_dist >= 0, finger_width > 0, depth_base >= 0 '
                         f'(metres), got {approach_dist}, {finger_width}, {depth_base}')
    k = grasps.shape[0]
    hits = np.zeros(k, dtype=np.int64)
    inner = np.zeros(k, dtype=np.int64)
    if k == 0 or pts.shape[0] == 0:
        return hits, inner
    rot = grasps[:, 4:13].reshape(k, 3, 3)
    trans = grasps[:, 13:16]
    half_w = np.abs(grasps[:, 1]) / 2.0
    depth = grasps[:, 3]
    half_h = np.abs(grasps[:, 2]) / 2.0
    # Every point of the gripper model lies within this radius of the grasp point.
    back = depth_base + finger_width + approach_dist
    radius = np.sqrt(np.maximum(back, np.abs(depth)) ** 2 + (half_w + finger_width) ** 2
                     + half_h ** 2) + 1e-9
    lists = cKDTree(pts).query_ball_point(trans, radius)
    counts = np.fromiter((len(idx) for idx in lists), dtype=np.int64, count=k)
    if counts.sum() == 0:
        return hits, inner
    owner = np.repeat(np.arange(k), counts)
    index = np.concatenate([np.asarray(idx, dtype=np.int64) for idx in lists])
    # local = R^T (p - t): pair coordinates in the gripper frame of their grasp
    local = np.einsum('ni,nij->nj', pts[index] - trans[owner], rot[owner])
    gripper = ParallelJawGripper(finger_width=finger_width, depth_base=depth_base)
    x, y, z = local[:, 0], local[:, 1], local[:, 2]
    # the grasp's own height (row column 2) replaces the model's
    hw, flo, fhi, fw, plo, phw, _, _ = gripper.solid_args(2.0 * half_w[owner],
                                                          depth[owner], approach_dist)
    hh = half_h[owner]
    solid = gripper_solid_contains(x, y, z, hw, flo, fhi, fw, plo, phw, hh, hh)
    closing = gripper_closing_contains(x, y, z, hw, flo, fhi, hh)
    hits = np.bincount(owner[solid], minlength=k).astype(np.int64)
    inner = np.bincount(owner[closing], minlength=k).astype(np.int64)
    return hits, inner


def check_grasp_collisions(grasps: np.ndarray,
                           scene_points: np.ndarray,
                           *,
                           voxel_size: Optional[float] = 0.01,
                           approach_dist: float = 0.05,
                           collision_thresh: int = 0,
                           empty_thresh: int = 0,
                           finger_width: float = GRIPPER_FINGER_WIDTH,
                           depth_base: float = GRIPPER_DEPTH_BASE) -> GripperCollisionResult:
    """Model-free collision (and optional emptiness) test of grasps against a scene cloud.

    Args:
        grasps: (K, 17) grasp rows in the frame of ``scene_points`` (camera frame for the
            inferencer), metres.
        scene_points: (M, 3) scene cloud, metres; non-finite rows are ignored.
        voxel_size: the scene is reduced to one mean point per voxel of this edge (metres)
            first, so that the counts do not depend on the sensor's point density;
            None or 0 keeps every point.
        approach_dist: free approach path behind the palm, metres (0.05).
        collision_thresh: a grasp collides when MORE than this many points fall inside
            its fingers, palm or approach path (0: any point).
        empty_thresh: when > 0, grasps with fewer points than this between the fingers are
            flagged ``empty`` (nothing to grasp); 0 disables the test.
        finger_width: finger width, metres.
        depth_base: finger length behind the grasp point, metres.

    Returns:
        GripperCollisionResult: per-grasp flags and counts.
    """
    grasps = _as_grasp_array(grasps)
    pts = np.asarray(scene_points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f'scene_points must have shape (M, 3), got {pts.shape}')
    if not np.isfinite(pts).all():  # (a flat test first: the row test is several times slower)
        pts = pts[np.isfinite(pts).all(axis=1)]
    if voxel_size and pts.shape[0] > 0:
        pts = voxelize(pts, float(voxel_size)).voxel_points.astype(np.float64)
    hits, inner = gripper_collision_counts(grasps, pts, approach_dist=approach_dist,
                                           finger_width=finger_width,
                                           depth_base=depth_base)
    collision = hits > int(collision_thresh)
    empty = inner < int(empty_thresh) if empty_thresh > 0 else np.zeros_like(collision)
    return GripperCollisionResult(collision, hits, inner, empty)


def _voxel_down_sample_open3d(points: np.ndarray, voxel_size: float) -> np.ndarray:
    """Mean point per voxel, with Open3D's ``voxel_down_sample`` (the reference's call)."""
    import open3d as o3d
    cloud = o3d.geometry.PointCloud()
    cloud.points = o3d.utility.Vector3dVector(np.ascontiguousarray(points, np.float64))
    return np.asarray(cloud.voxel_down_sample(float(voxel_size)).points, dtype=np.float64)


def reference_collision_iou(grasps: np.ndarray,
                            scene_points: np.ndarray,
                            *,
                            voxel_size: float = 0.01,
                            approach_dist: float = 0.05,
                            finger_width: float = GRIPPER_FINGER_WIDTH,
                            finger_length: float = REFERENCE_FINGER_LENGTH,
                            chunk_size: int = 4_000_000) -> np.ndarray:
    """Collision "IoU" of the GSNet reference's ``ModelFreeCollisionDetector.detect``.

    The scene is voxel down-sampled (Open3D, ``voxel_size``); in the gripper frame of a
    grasp row (x approach, y closing, z height; metres) with width ``w``, height ``h``,
    depth ``d``, finger width ``f``, finger length ``L`` and ``a = max(approach_dist, f)``
    the gripper is (all inside ``-h/2 < z < h/2``):

    =============  ===================================  ===============================
    region         x range                              y range
    =============  ===================================  ===============================
    left finger    ``(d - L, d)``                       ``(-w/2 - f, -w/2)``
    right finger   ``(d - L, d)``                       ``(w/2, w/2 + f)``
    bottom         ``(d - L - f, d - L]``               ``(-w/2 - f, w/2 + f)``
    approach path  ``(d - L - f - a, d - L - f]``       ``(-w/2 - f, w/2 + f)``
    =============  ===================================  ===============================

    and the IoU is the number of down-sampled scene points inside any region divided by
    the gripper's volume in voxels, ``(2 h L f + h (w + 2f) f + h (w + 2f) a) /
    voxel_size ** 3`` (+ 1e-6).

    Args:
        grasps: (K, 17) grasp rows, same frame as ``scene_points`` (camera), metres.
        scene_points: (M, 3) scene cloud, metres (non-finite rows are ignored).
        voxel_size: down-sampling voxel, metres (reference ``--voxel_size_cd`` 0.01).
        approach_dist: free approach path, metres (reference test: 0.05).
        finger_width: finger width ``f``, metres (0.01).
        finger_length: finger length ``L``, metres (0.06).
        chunk_size: grasps x points evaluated at once (memory bound).

    Returns:
        np.ndarray: float64 (K,) IoU per grasp.
    """
    grasps = _as_grasp_array(grasps).astype(np.float64)
    pts = np.asarray(scene_points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f'scene_points must have shape (M, 3), got {pts.shape}')
    if not voxel_size > 0 or finger_width <= 0 or finger_length <= 0 or approach_dist < 0:
        raise ValueError('need voxel_size > 0, finger_width > 0, finger_length > 0 and '
                         f'approach_dist >= 0 (metres), got {voxel_size}, {finger_width}, '
                         f'{finger_length}, {approach_dist}')
    pts = pts[np.isfinite(pts).all(axis=1)]
    k = grasps.shape[0]
    if k == 0:
        return np.zeros(0, dtype=np.float64)
    if pts.shape[0]:
        pts = _voxel_down_sample_open3d(pts, voxel_size)
    a = max(float(approach_dist), float(finger_width))
    f, L = float(finger_width), float(finger_length)
    w = grasps[:, 1:2]
    h = grasps[:, 2:3]
    d = grasps[:, 3:4]
    rot = grasps[:, 4:13].reshape(k, 3, 3)
    trans = grasps[:, 13:16]
    hits = np.zeros(k, dtype=np.int64)
    step = max(1, int(chunk_size) // max(pts.shape[0], 1))
    for s0 in range(0, k if pts.shape[0] else 0, step):
        sl = slice(s0, s0 + step)
        local = np.matmul(pts[None, :, :] - trans[sl, None, :], rot[sl])
        x, y, z = local[..., 0], local[..., 1], local[..., 2]
        ws, hs, ds = w[sl], h[sl], d[sl]
        in_h = (z > -hs / 2) & (z < hs / 2)
        in_fingers_x = (x > ds - L) & (x < ds)
        outer_lo = y > -(ws / 2 + f)
        outer_hi = y < (ws / 2 + f)
        left = in_h & in_fingers_x & outer_lo & (y < -ws / 2)
        right = in_h & in_fingers_x & outer_hi & (y > ws / 2)
        bottom = in_h & outer_lo & outer_hi & (x <= ds - L) & (x > ds - L - f)
        path = in_h & outer_lo & outer_hi & (x <= ds - L - f) & (x > ds - L - f - a)
        hits[sl] = (left | right | bottom | path).sum(axis=1)
    volume = (2 * h * L * f + h * (w + 2 * f) * f + h * (w + 2 * f) * a).reshape(-1) \
        / voxel_size ** 3
    return hits / (volume + 1e-6)


def reference_collision_mask(grasps: np.ndarray, scene_points: np.ndarray, *,
                             collision_thresh: float = 0.01, **kwargs) -> np.ndarray:
    """Grasps in collision by the GSNet reference's test-time rule.

    ``reference_collision_iou(...) > collision_thresh`` (reference ``--collision_thresh``:
    0.01 offered, -1 = detection off, its published protocol).

    Args:
        grasps: (K, 17) grasp rows, frame of ``scene_points``, metres.
        scene_points: (M, 3) scene cloud (the reference: the frame's whole workspace cloud
            before sampling), metres.
        collision_thresh: IoU threshold; a value <= 0 disables the test (all False).
        **kwargs: :func:`reference_collision_iou` arguments.

    Returns:
        np.ndarray: bool (K,), True = in collision.
    """
    grasps = _as_grasp_array(grasps)
    if not collision_thresh > 0:
        return np.zeros(grasps.shape[0], dtype=bool)
    return reference_collision_iou(grasps, scene_points, **kwargs) > float(collision_thresh)
