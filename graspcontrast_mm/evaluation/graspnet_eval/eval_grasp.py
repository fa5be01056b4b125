"""graspnetAPI's ``eval_grasp`` for one frame, with the dexnet part batched.

:func:`eval_grasp` takes the same inputs and returns the same three lists as
``graspnetAPI.utils.eval_utils.eval_grasp`` (grasps kept per object, their scores, their
collision masks), with identical values. Its stages, in graspnetAPI's order:

1. grasp NMS (``grasp_nms``: 3 cm, 30 degrees), the same C++ routine graspnetAPI calls;
2. assignment of every grasp to the object owning the nearest point of the 8 mm object
   models placed at their poses (first object on exact ties, as ``np.argmin``);
3. the 10 best grasps of every object (graspnetAPI's ``sort_by_score``), then every kept
   grasp whose score reaches the 50th best score over all objects (ties keep more than
   50; graspnetAPI hard-codes 50 whatever ``TOP_K`` says);
4. collision and emptiness with graspnetAPI's gripper box model (finger height 2 cm, base
   depth 2 cm, finger width 1 cm) against the object models and the table points within
   5 cm of the object's box; fewer than 10 points between the fingers = empty = collision;
5. dexnet's force-closure ladder (:mod:`.force_closure`) for the other grasps, with the
   grasp centre and closing axis mapped to the object frame by the same numpy calls
   graspnetAPI makes (float32 dumps stay float32 there, as in graspnetAPI).

Objects whose SDF cannot be reproduced exactly (:attr:`SdfGrid.exact` False) are scored by
dexnet itself, so results never depend on the path taken.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

from ...structures.grasp import GRASP_HEIGHT, GRIPPER_DEPTH_BASE, GRIPPER_FINGER_WIDTH
from .force_closure import force_closure_scores
from .sdf_grid import SdfGrid, row_norm

__all__ = [
    'EvalObject', 'eval_grasp', 'collision_masks', 'dexnet_grasp_params', 'transform_points',
    'closest_point_indices', 'NMS_TRANSLATION', 'NMS_ROTATION', 'PER_OBJECT_TOP',
    'MAX_EVALUATED'
]

NMS_TRANSLATION = 0.03              # metres
NMS_ROTATION = 30.0 / 180 * np.pi   # radians
PER_OBJECT_TOP = 10
MAX_EVALUATED = 50                  # graspnetAPI's min(49, ...) rank
# graspnetAPI's gripper (metres), the package's one definition (structures.grasp)
_HEIGHT, _DEPTH_BASE, _FINGER_WIDTH = GRASP_HEIGHT, GRIPPER_DEPTH_BASE, GRIPPER_FINGER_WIDTH
_OUTLIER = 0.05
_EMPTY_THRESH = 10


class EvalObject:
    """One object model as the evaluator needs it.

    Args:
        points: (M, 3) 8 mm voxel sample of ``models/XXX/nontextured.ply``, object frame,
            metres.
        dexnet_model: dexnet ``GraspableObject3D`` (``dex_models/XXX.pkl``).
        obj_id: object id (for messages).
    """

    def __init__(self, points: np.ndarray, dexnet_model: Any, obj_id: int = -1) -> None:
        self.points = points
        self.dexnet_model = dexnet_model
        self.obj_id = int(obj_id)
        self.grid = SdfGrid(dexnet_model.sdf)


def transform_points(points: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """(N, 3) points through a (4, 4) transform, by graspnetAPI's homogeneous matmul."""
    ones = np.ones([points.shape[0], 1], dtype=points.dtype)
    homog = np.concatenate([points, ones], axis=-1)
    return np.matmul(trans, homog.T).T[:, :3]


def closest_point_indices(queries: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index of the nearest of ``points`` for every query, as graspnetAPI's
    ``compute_closest_points`` (``argmin`` of the distance matrix) but with a KD-tree;
    near ties are settled by scanning the row with the same arithmetic."""
    from scipy.spatial import cKDTree
    if len(queries) == 0:
        return np.zeros(0, dtype=np.int64)
    q64 = np.asarray(queries, dtype=np.float64)
    if len(points) == 1:
        return np.zeros(len(queries), dtype=np.int64)
    _, idx = cKDTree(points).query(q64, k=2)
    d0 = row_norm(queries - points[idx[:, 0]])
    d1 = row_norm(queries - points[idx[:, 1]])
    best = idx[:, 0].astype(np.int64)
    for r in np.flatnonzero(np.abs(d1 - d0) <= 1e-9 * np.maximum(1.0, d0)):
        best[r] = int(np.argmin(row_norm(queries[r][None, :] - points)))
    return best


def _sort_by_score(grasps: np.ndarray) -> np.ndarray:
    """graspnetAPI ``GraspGroup.sort_by_score`` (descending, its tie order)."""
    return grasps[np.argsort(grasps[:, 0])[::-1]]


def collision_masks(grasps: np.ndarray, model: np.ndarray, scene: np.ndarray
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """graspnetAPI's gripper collision and emptiness test for the grasps of one object.

    Args:
        grasps: (K, 17) grasp rows, camera frame.
        model: (M, 3) the object's model points, camera frame (defines the crop box).
        scene: (S, 3) obstacle points (all object models, then the table), camera frame.

    Returns:
        tuple: ``collision`` (K,) bool (collision or empty) and ``empty`` (K,) bool.
    """
    centres = grasps[:, 13:16]
    rotations = grasps[:, 4:13].reshape([-1, 3, 3])
    depths = grasps[:, 3][:, np.newaxis]
    half = grasps[:, 1][:, np.newaxis] / 2
    lo, hi = model.min(axis=0), model.max(axis=0)
    inside = np.ones(len(scene), dtype=bool)
    for k in range(3):
        inside &= (scene[:, k] > lo[k] - _OUTLIER) & (scene[:, k] < hi[k] + _OUTLIER)
    workspace = scene[inside]
    local = np.matmul(workspace[np.newaxis, :, :] - centres[:, np.newaxis, :], rotations)
    x, y, z = local[:, :, 0], local[:, :, 1], local[:, :, 2]
    in_height = (z > -_HEIGHT / 2) & (z < _HEIGHT / 2)
    in_depth = (x > -_DEPTH_BASE) & (x < depths)
    past_left = y > -(half + _FINGER_WIDTH)
    left_of_gap = y < -half
    before_right = y < (half + _FINGER_WIDTH)
    right_of_gap = y > half
    in_base = (x > -(_DEPTH_BASE + _FINGER_WIDTH)) & (x < -_DEPTH_BASE)
    left = in_height & in_depth & past_left & left_of_gap
    right = in_height & in_depth & before_right & right_of_gap
    base = in_height & past_left & before_right & in_base
    between = in_height & in_depth & (~left_of_gap) & (~right_of_gap)
    empty = np.sum(between, axis=-1) < _EMPTY_THRESH
    collision = np.any(left | right | base, axis=-1) | empty
    return collision, empty


def dexnet_grasp_params(grasps: np.ndarray, pose: np.ndarray, empty: np.ndarray
                        ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """dexnet grasp parameters (object frame) of the non-empty grasps of one object.

    The same per-grasp numpy calls as graspnetAPI's ``collision_detection`` and dexnet's
    ``ParallelJawPtGrasp3D`` (so a float32 dump keeps float32 intermediates there too).

    Args:
        grasps: (K, 17) grasp rows, camera frame.
        pose: (4, 4) ``T_cam_obj``.
        empty: (K,) bool, grasps without a dexnet grasp.

    Returns:
        tuple: ``centers`` (K, 3), unit ``axes`` (K, 3), ``widths`` (K,) float64 and
        dexnet's ``configurations`` (K, 10) (zeros for empty grasps).

    Raises:
        ValueError: a grasp's rotation is not orthonormal (its closing axis in the
            object frame is not unit length within 1e-5): graspnetAPI raises too.
    """
    num = len(grasps)
    centers, axes, widths = np.zeros((num, 3)), np.zeros((num, 3)), np.zeros(num)
    configs = np.zeros((num, 10))
    if num == 0:
        return centers, axes, widths, configs
    inv_pose = np.linalg.inv(pose)
    points = grasps[:, 13:16]
    rotations = grasps[:, 4:13].reshape([-1, 3, 3])
    for g in range(num):
        if empty[g]:
            continue
        rot = rotations[g]
        center = np.dot(rot, np.array([grasps[g, 3], 0, 0]).reshape([3, 1])).reshape([3])
        center = (center + points[g]).reshape([1, 3])
        center = transform_points(center, inv_pose).reshape([3])
        binormal = np.dot(pose[:3, :3].T, rot)[:, 1]
        config = np.zeros(10)
        config[0:3], config[3:6], config[6] = center, binormal, grasps[g, 1]
        for axis in (binormal, config[3:6]):
            if np.abs(np.linalg.norm(axis) - 1.0) > 1e-5:
                raise ValueError(
                    f'grasp row {g} (score {grasps[g, 0]}): its rotation matrix is not '
                    f'orthonormal (closing axis of length {np.linalg.norm(axis)}); '
                    'graspnetAPI rejects it too ("Illegal grasp axis. Must be norm one")')
        centers[g] = config[0:3]
        axes[g] = config[3:6] / np.linalg.norm(config[3:6])
        widths[g] = config[6]
        configs[g] = config
    return centers, axes, widths, configs


def _dexnet_scores(obj: EvalObject, configs: np.ndarray) -> np.ndarray:
    """Fallback: dexnet's own ladder (graspnetAPI ``get_grasp_score``)."""
    from graspnetAPI.utils.config import get_config
    from graspnetAPI.utils.dexnet.grasping.grasp import ParallelJawPtGrasp3D
    from graspnetAPI.utils.dexnet.grasping.grasp_quality_config import \
        GraspQualityConfigFactory
    from graspnetAPI.utils.eval_utils import get_grasp_score
    config = get_config()
    ladder = np.array([1.2, 1.0, 0.8, 0.6, 0.4, 0.2])
    quality_cfgs = {}
    for value in ladder:
        value = round(value, 2)
        config['metrics']['force_closure']['friction_coef'] = value
        quality_cfgs[value] = GraspQualityConfigFactory.create_config(
            config['metrics']['force_closure'])
    out = np.empty(len(configs))
    for g, conf in enumerate(configs):
        out[g] = get_grasp_score(ParallelJawPtGrasp3D(conf.copy()), obj.dexnet_model,
                                 ladder, quality_cfgs)
    return out


def eval_grasp(grasps: np.ndarray,
               objects: Sequence[EvalObject],
               poses: Sequence[np.ndarray],
               table: Optional[np.ndarray] = None
               ) -> Tuple[List[np.ndarray], List[np.ndarray], List[Any]]:
    """Evaluate one frame's grasps exactly as graspnetAPI's ``eval_grasp``.

    Args:
        grasps: (N, 17) graspnetAPI rows, camera frame, finite, N >= 1 (widths as given:
            graspnetAPI's ``eval_scene`` clips them before this call).
        objects: the frame's objects (same order as ``poses``).
        poses: per object (4, 4) ``T_cam_obj`` (graspnetAPI reads float32 from the
            annotations).
        table: (T, 3) table points, camera frame, or None.

    Returns:
        tuple: per object, the kept grasps (K_i, 17), their scores (K_i,) (minimum
        force-closure ``mu``; -1 for collisions, empty grasps and failed contacts) and
        their collision masks (K_i,) (an empty list for objects without kept grasps), as
        graspnetAPI returns them.
    """
    from grasp_nms import nms_grasp
    num_models = len(objects)
    grasps = nms_grasp(grasps, NMS_TRANSLATION, NMS_ROTATION)

    model_trans = [transform_points(obj.points, poses[i]) for i, obj in enumerate(objects)]
    seg = np.concatenate([np.full(len(m), i, dtype=np.int32)
                          for i, m in enumerate(model_trans)])
    scene = np.concatenate(model_trans, axis=0)
    owner = seg[closest_point_indices(grasps[:, 13:16], scene)]
    pre = [_sort_by_score(grasps[owner == i])[:PER_OBJECT_TOP] for i in range(num_models)]
    every = np.vstack(pre)
    order = np.argsort(every[:, 0])[::-1]
    min_score = every[order[min(MAX_EVALUATED - 1, len(order) - 1)], 0]
    kept = [p[p[:, 0] >= min_score] for p in pre]

    if table is not None:
        scene = np.concatenate([scene, table])
    scores, collisions = [], []
    for i, obj in enumerate(objects):
        g = kept[i]
        if len(g) == 0:
            scores.append(np.array([]))
            collisions.append([])
            continue
        collision, empty = collision_masks(g, model_trans[i], scene)
        centers, axes, widths, configs = dexnet_grasp_params(g, poses[i], empty)
        s = np.full(len(g), -1.0)
        todo = np.flatnonzero(~collision)
        if len(todo) and obj.grid.exact:
            s[todo] = force_closure_scores(obj.grid, centers[todo], axes[todo], widths[todo])
        elif len(todo):
            s[todo] = _dexnet_scores(obj, configs[todo])
        scores.append(s)
        collisions.append(collision)
    return kept, scores, collisions
