"""Selection of a detector's grasps for execution: the Inferencer's model-free collision
filter, the scene-aware support-plane filter, a score threshold and top-k.

The detector owns its decoding and NMS (``GSNet.test_cfg``); :func:`select_grasps` runs
once on its output, in the camera frame of the input, metres.
"""
import time
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from graspcontrast_mm.structures import check_grasp_collisions
from graspcontrast_mm.structures.grasp import GRASP_ARRAY_LEN
from graspcontrast_mm.structures.gripper_collision import reference_collision_iou
from graspcontrast_mm.structures.plane_fit import ransac_plane

__all__ = ['DEFAULT_COLLISION_CFG', 'DEFAULT_SUPPORT_PLANE_CFG', 'merge_options',
           'collision_mask', 'fit_support_plane', 'select_grasps']

#: Collision filter: :func:`check_grasp_collisions` arguments, and ``iou_thresh`` (None:
#: point-count rule; a number: the reference's volume tolerance, see :func:`collision_mask`).
DEFAULT_COLLISION_CFG = dict(voxel_size=0.01, approach_dist=0.05, collision_thresh=0,
                             empty_thresh=0, iou_thresh=None)
#: Scene-aware option: RANSAC plane settings (:func:`ransac_plane`) and the smallest grasp
#: height.
DEFAULT_SUPPORT_PLANE_CFG = dict(distance_threshold=0.005, num_iterations=200,
                                 min_height=0.005)


def merge_options(defaults: dict, given: Optional[dict], name: str) -> dict:
    """``defaults`` updated with ``given``; an unknown key is a ``ValueError``."""
    unknown = set(given or {}) - set(defaults)
    if unknown:
        raise ValueError(f'unknown {name} keys {sorted(unknown)}; expected {sorted(defaults)}')
    return {**defaults, **dict(given or {})}


def collision_mask(grasps: np.ndarray, scene_points: np.ndarray, cfg: dict) -> np.ndarray:
    """bool (K,): grasps rejected by the collision filter.

    ``iou_thresh`` None: :func:`check_grasp_collisions` (a scene point inside the fingers,
    palm or approach path collides; ``empty_thresh`` > 0 also rejects empty grasps). A
    number: graspnet-baseline's ``ModelFreeCollisionDetector`` tolerance, a grasp collides
    when the voxel down-sampled scene points inside its gripper volume exceed
    ``iou_thresh`` times that volume (:func:`reference_collision_iou`).
    """
    cfg = dict(cfg)
    iou_thresh = cfg.pop('iou_thresh', None)
    if iou_thresh is None:
        res = check_grasp_collisions(grasps, scene_points, **cfg)
        return res.collision | res.empty
    iou = reference_collision_iou(grasps, scene_points, voxel_size=float(cfg['voxel_size']),
                                  approach_dist=float(cfg['approach_dist']))
    bad = iou > float(iou_thresh)
    if cfg['empty_thresh'] > 0:
        bad |= check_grasp_collisions(grasps, scene_points, **cfg).empty
    return bad


def fit_support_plane(depth_m: np.ndarray, K: np.ndarray, depth_range: Sequence[float],
                      cfg: dict) -> Optional[list]:
    """Support plane ``[a, b, c, d]`` of a depth image (camera frame, unit normal towards
    the camera: a point's height above the plane is ``n . p + d``).

    Seeded RANSAC (:func:`graspcontrast_mm.structures.ransac_plane`, reproducible: Open3D's
    ``segment_plane`` is not) on every valid pixel of every second row and column within
    ``depth_range``.

    Args:
        depth_m: (H, W) depth, metres (0 / NaN: invalid).
        K: (3, 3) intrinsics of the image, pixels.
        depth_range: ``(min_depth, max_depth)``, metres.
        cfg: ``distance_threshold`` and ``num_iterations`` (:data:`DEFAULT_SUPPORT_PLANE_CFG`).

    Returns:
        list or None: the plane, None when fewer than 100 pixels are valid.
    """
    from graspcontrast_mm.structures.frames import depth_to_points
    lo, hi = depth_range
    metres = np.asarray(depth_m, np.float64)
    with np.errstate(invalid='ignore'):
        metres = np.where(np.isfinite(metres) & (metres >= lo) & (metres <= hi), metres, 0.0)
    K = np.asarray(K, np.float64).copy()
    K[:2] /= 2.0  # intrinsics of the [::2, ::2] image (pixel i -> 2 i)
    pts, _ = depth_to_points(metres[::2, ::2], K)
    if len(pts) < 100:
        return None
    plane, _ = ransac_plane(pts, float(cfg['distance_threshold']),
                            int(cfg['num_iterations']), seed=0)
    if plane[3] < 0:  # the camera (origin) above the plane
        plane = -plane
    return [float(v) for v in plane]


def select_grasps(grasps: np.ndarray, scene_points: Optional[np.ndarray], *,
                  collision_cfg: Optional[dict] = None,
                  support_plane: Optional[Sequence[float]] = None,
                  min_height: float = DEFAULT_SUPPORT_PLANE_CFG['min_height'],
                  score_thr: Optional[float] = None, top_k: Optional[int] = None,
                  clock=time.perf_counter) -> Tuple[np.ndarray, Dict[str, object]]:
    """Collision filter, support-plane filter, score threshold, sort and top-k.

    Args:
        grasps: (K, 17) rows, camera frame; non-finite rows are dropped first.
        scene_points: (M, 3) scene cloud, camera frame (the collision filter's obstacles).
        collision_cfg: settings of :func:`collision_mask`; None: no collision filter.
        support_plane: ``[a, b, c, d]`` (:func:`fit_support_plane`); grasps whose centre
            is not higher than ``min_height`` above it are dropped. None: no such filter.
        min_height: metres.
        score_thr: drop lower scores (None: keep all).
        top_k: keep the best ``top_k`` (None: all).
        clock: clock of the ``collision_filter`` timing.

    Returns:
        tuple: float32 (K', 17) rows sorted by score (descending, stable) and a dict with
        ``num_collisions``, ``num_below_support_plane`` (None without a plane) and
        ``collision_time``.
    """
    if top_k is not None and int(top_k) < 1:
        raise ValueError(f'top_k must be >= 1 or None, got {top_k}')
    grasps = np.asarray(grasps, np.float32).reshape(-1, GRASP_ARRAY_LEN)
    grasps = grasps[np.isfinite(grasps).all(axis=1)]
    t0 = clock()
    num_coll = 0
    if collision_cfg is not None and grasps.shape[0]:
        bad = collision_mask(grasps, scene_points, collision_cfg)
        num_coll = int(bad.sum())
        grasps = grasps[~bad]
    stats: Dict[str, object] = dict(num_collisions=num_coll, collision_time=clock() - t0,
                                    num_below_support_plane=None)
    if support_plane is not None:
        normal, offset = np.asarray(support_plane[:3], np.float64), float(support_plane[3])
        below = grasps[:, 13:16].astype(np.float64) @ normal + offset <= float(min_height)
        stats['num_below_support_plane'] = int(below.sum())
        grasps = grasps[~below]
    if score_thr is not None:
        grasps = grasps[grasps[:, 0] >= float(score_thr)]
    grasps = grasps[np.argsort(-grasps[:, 0], kind='stable')]
    if top_k is not None:
        grasps = grasps[:int(top_k)]
    return np.ascontiguousarray(grasps, dtype=np.float32), stats
