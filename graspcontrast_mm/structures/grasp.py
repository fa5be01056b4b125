"""Grasp representation shared with graspnetAPI: 17-float rows, gripper poses and views.

Gripper frame (graspnetAPI's parallel-jaw gripper; all lengths metres):

* origin: the grasp point ``t`` (the translation of a grasp row; for GraspNet labels a point
  of the object surface);
* x axis: the approach direction (from the gripper base towards the object);
* y axis: the closing direction (the line joining the two fingers);
* z axis: ``x cross y`` (the finger thickness, ``height``).

A grasp of depth ``d`` and width ``w`` has its fingers between ``x = -depth_base`` and
``x = d`` at ``y = -w/2 - finger_width .. -w/2`` and ``y = w/2 .. w/2 + finger_width``, and its
base (palm) between ``x = -depth_base - finger_width`` and ``x = -depth_base``; everything
spans ``|z| < height / 2``. The fingers close along the line ``x = d`` (the finger tips):
graspnetAPI's evaluator places the dexnet contact search at ``t + d * x_axis``
(:func:`closing_centers`).

A grasp row (graspnetAPI ``GraspGroup.grasp_group_array``) is 17 floats::

    [score, width, height, depth, R[0,0], R[0,1], ..., R[2,2], t_x, t_y, t_z, object_id]

where ``R`` (row-major) has the gripper axes as columns, ``R = [x_axis, y_axis, z_axis]``, and
``(R, t)`` is the pose of the gripper frame in the frame of the grasp group
(``T_frame_gripper``), usually the camera frame.

Approach views (GraspNet / GSNet): ``NUM_VIEWS = 300`` unit vectors on a Fibonacci lattice
(:func:`generate_views`). A view points from the grasp point towards the gripper, so the
approach direction is ``-view``. The gripper rotation of view ``v`` and in-plane angle
``theta`` is :func:`approach_angle_to_matrix` ``(-v, theta)``, which equals graspnetAPI's
``batch_viewpoint_params_to_matrix``: with ``a`` the normalised approach,
``y0 = normalise([-a_y, a_x, 0])`` (``[0, 1, 0]`` when ``a`` is vertical), ``z0 = a x y0``,
the gripper axes are ``x = a``, ``y = cos(theta) y0 + sin(theta) z0``,
``z = -sin(theta) y0 + cos(theta) z0``.

Labels (``grasp_label/XXX_labels.npz``) index grasps by ``(point, view, angle, depth)`` with
``angle_k = k * pi / NUM_ANGLES`` (``k = 0..11``) and ``depth_j = (j + 1) * 0.01`` metres.
"""
from typing import Dict, Optional, Sequence, Union

import numpy as np

__all__ = [
    'GRASP_ARRAY_LEN', 'GRASP_HEIGHT', 'GRASP_MAX_WIDTH', 'GRIPPER_FINGER_WIDTH',
    'GRIPPER_DEPTH_BASE', 'NUM_VIEWS', 'NUM_ANGLES', 'NUM_DEPTHS', 'LABEL_ANGLES',
    'LABEL_DEPTHS', 'generate_views', 'approach_angle_to_matrix', 'view_angle_to_matrix',
    'matrix_to_approach_angle', 'make_grasp_array', 'split_grasp_array',
    'grasp_array_to_poses', 'grasp_array_from_poses', 'transform_grasp_array',
    'closing_centers', 'decode_label_grasps'
]

#: Number of floats of one graspnetAPI grasp row.
GRASP_ARRAY_LEN = 17
#: Finger thickness along the gripper z axis, metres (graspnetAPI ``GRASP_HEIGHT``).
GRASP_HEIGHT = 0.02
#: Maximum jaw opening, metres.
GRASP_MAX_WIDTH = 0.1
#: Finger width along the closing (y) axis, metres (graspnetAPI's collision model).
GRIPPER_FINGER_WIDTH = 0.01
#: Length of the fingers behind the grasp point (x < 0), metres.
GRIPPER_DEPTH_BASE = 0.02
#: Approach views of GraspNet / GSNet labels.
NUM_VIEWS = 300
#: In-plane rotations of GraspNet labels.
NUM_ANGLES = 12
#: Grasp depths of GraspNet labels.
NUM_DEPTHS = 4
#: float64 (12,) in-plane angles of the label grid, radians: ``k * pi / 12``.
LABEL_ANGLES = np.arange(NUM_ANGLES, dtype=np.float64) * np.pi / NUM_ANGLES
#: float64 (4,) depths of the label grid, metres: 0.01, 0.02, 0.03, 0.04.
LABEL_DEPTHS = (np.arange(NUM_DEPTHS, dtype=np.float64) + 1.0) * 0.01

_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def generate_views(num_views: int = NUM_VIEWS,
                   phi: float = _GOLDEN,
                   center: Optional[np.ndarray] = None,
                   radius: float = 1.0) -> np.ndarray:
    """Fibonacci-lattice view directions, in graspnetAPI's order and arithmetic.

    View ``i`` has ``z_i = (2 i + 1) / N - 1`` and azimuth ``2 pi i phi``; the arithmetic
    (float32 indices, as ``graspnetAPI.utils.utils.generate_views``) is reproduced so that
    view indices of labels and networks refer to bit-identical vectors.

    Args:
        num_views: Number of views ``N``.
        phi: Golden-ratio constant of the lattice.
        center: (3,) sphere centre (default: origin).
        radius: Sphere radius.

    Returns:
        np.ndarray: (N, 3) points on the sphere (unit vectors for the defaults; float64 for
        the default ``phi``, like graspnetAPI), pointing from the grasp point towards the
        gripper (approach = ``-view``).
    """
    if int(num_views) <= 0:
        raise ValueError(f'num_views must be positive, got {num_views}')
    idx = np.arange(int(num_views), dtype=np.float32)
    z = (2 * idx + 1) / int(num_views) - 1
    ring = np.sqrt(1 - z**2)
    azimuth = 2 * idx * np.pi * phi
    views = np.stack([ring * np.cos(azimuth), ring * np.sin(azimuth), z], axis=1)
    if center is None:
        center = np.zeros(3, dtype=np.float32)
    return radius * views + np.asarray(center, dtype=np.float32)


def approach_angle_to_matrix(approach: np.ndarray, angle: Union[np.ndarray,
                                                                 float]) -> np.ndarray:
    """Gripper rotations from approach directions and in-plane angles.

    Same convention (and float32 output) as graspnetAPI's
    ``batch_viewpoint_params_to_matrix(approach, angle)``; see the module docstring.

    Args:
        approach: (N, 3) approach directions (gripper x axes, need not be unit).
        angle: (N,) or scalar in-plane rotation about the approach, radians.

    Returns:
        np.ndarray: float32 (N, 3, 3) rotations ``R = [x, y, z]`` (axes as columns).
    """
    approach = np.asarray(approach)
    if approach.ndim != 2 or approach.shape[1] != 3:
        raise ValueError(f'approach must have shape (N, 3), got {approach.shape}')
    if not np.issubdtype(approach.dtype, np.floating):
        approach = approach.astype(np.float64)
    norm = np.linalg.norm(approach, axis=-1, keepdims=True)
    if np.any(norm == 0):
        raise ValueError('approach directions must be non-zero')
    angle = np.broadcast_to(np.asarray(angle, dtype=approach.dtype), (approach.shape[0], ))
    base_y = np.stack([-approach[:, 1], approach[:, 0],
                       np.zeros_like(approach[:, 0])], axis=-1)
    vertical = np.linalg.norm(base_y, axis=-1) == 0
    base_y[vertical] = np.array([0, 1, 0], dtype=approach.dtype)
    x_axis = approach / norm
    base_y = base_y / np.linalg.norm(base_y, axis=-1, keepdims=True)
    base_z = np.cross(x_axis, base_y)
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    y_axis = cos * base_y + sin * base_z
    z_axis = -sin * base_y + cos * base_z
    return np.stack([x_axis, y_axis, z_axis], axis=-1).astype(np.float32)


def view_angle_to_matrix(views: np.ndarray, angle: Union[np.ndarray, float]) -> np.ndarray:
    """Gripper rotations of GraspNet label views: ``approach_angle_to_matrix(-views, angle)``.

    Args:
        views: (N, 3) view directions (grasp point towards gripper, e.g. from
            :func:`generate_views`).
        angle: (N,) or scalar in-plane rotation, radians.

    Returns:
        np.ndarray: float32 (N, 3, 3) gripper rotations (axes as columns).
    """
    return approach_angle_to_matrix(-np.asarray(views), angle)


def matrix_to_approach_angle(rotation: np.ndarray):
    """Inverse of :func:`approach_angle_to_matrix`.

    Args:
        rotation: (N, 3, 3) or (3, 3) gripper rotations (axes as columns).

    Returns:
        tuple: ``(approach, angle)``: float64 (N, 3) unit approach directions (first columns)
        and float64 (N,) in-plane angles in ``[0, 2 pi)`` radians (scalars' shapes squeezed
        for a single (3, 3) input).
    """
    rotation = np.asarray(rotation, dtype=np.float64)
    single = rotation.ndim == 2
    rotation = rotation.reshape(-1, 3, 3)
    approach = rotation[:, :, 0] / np.linalg.norm(rotation[:, :, 0], axis=-1, keepdims=True)
    base_y = np.stack([-approach[:, 1], approach[:, 0], np.zeros(len(approach))], axis=-1)
    vertical = np.linalg.norm(base_y, axis=-1) < 1e-12
    base_y[vertical] = np.array([0.0, 1.0, 0.0])
    base_y /= np.linalg.norm(base_y, axis=-1, keepdims=True)
    base_z = np.cross(approach, base_y)
    y_axis = rotation[:, :, 1]
    angle = np.arctan2(np.sum(y_axis * base_z, -1), np.sum(y_axis * base_y, -1))
    angle = np.mod(angle, 2 * np.pi)
    if single:
        return approach[0], float(angle[0])
    return approach, angle


def make_grasp_array(scores: np.ndarray,
                     widths: np.ndarray,
                     depths: np.ndarray,
                     rotations: np.ndarray,
                     translations: np.ndarray,
                     object_ids: Union[np.ndarray, int] = -1,
                     heights: Union[np.ndarray, float] = GRASP_HEIGHT) -> np.ndarray:
    """Assemble graspnetAPI 17-float rows.

    Args:
        scores: (N,) grasp scores.
        widths: (N,) jaw openings, metres.
        depths: (N,) grasp depths along the approach, metres.
        rotations: (N, 3, 3) gripper rotations ``T_frame_gripper[:3, :3]``.
        translations: (N, 3) grasp points ``T_frame_gripper[:3, 3]``, metres.
        object_ids: (N,) or scalar object ids (-1: unknown).
        heights: (N,) or scalar finger thickness, metres.

    Returns:
        np.ndarray: float32 (N, 17) grasp rows.
    """
    rotations = np.asarray(rotations, dtype=np.float64)
    translations = np.asarray(translations, dtype=np.float64)
    if rotations.ndim != 3 or rotations.shape[1:] != (3, 3):
        raise ValueError(f'rotations must have shape (N, 3, 3), got {rotations.shape}')
    n = rotations.shape[0]
    if translations.shape != (n, 3):
        raise ValueError(f'translations must have shape ({n}, 3), got {translations.shape}')
    out = np.zeros((n, GRASP_ARRAY_LEN), dtype=np.float32)
    for col, value, name in ((0, scores, 'scores'), (1, widths, 'widths'),
                             (2, heights, 'heights'), (3, depths, 'depths'),
                             (16, object_ids, 'object_ids')):
        value = np.asarray(value, dtype=np.float64)
        if value.ndim > 1 or (value.ndim == 1 and value.shape[0] != n):
            raise ValueError(f'{name} must be a scalar or have shape ({n},), '
                             f'got {value.shape}')
        out[:, col] = value
    out[:, 4:13] = rotations.reshape(n, 9)
    out[:, 13:16] = translations
    return out


def _as_grasp_array(grasps: np.ndarray) -> np.ndarray:
    grasps = np.asarray(grasps)
    if grasps.ndim != 2 or grasps.shape[1] != GRASP_ARRAY_LEN:
        raise ValueError(f'grasp arrays must have shape (N, {GRASP_ARRAY_LEN}), '
                         f'got {grasps.shape}')
    return grasps


def split_grasp_array(grasps: np.ndarray) -> Dict[str, np.ndarray]:
    """Split 17-float rows into named fields.

    Args:
        grasps: (N, 17) grasp rows.

    Returns:
        dict: ``scores`` (N,), ``widths`` (N,), ``heights`` (N,), ``depths`` (N,),
        ``rotations`` (N, 3, 3), ``translations`` (N, 3), ``object_ids`` int64 (N,)
        (copies, dtype of the input except ``object_ids``).
    """
    grasps = _as_grasp_array(grasps)
    return dict(
        scores=grasps[:, 0].copy(),
        widths=grasps[:, 1].copy(),
        heights=grasps[:, 2].copy(),
        depths=grasps[:, 3].copy(),
        rotations=grasps[:, 4:13].reshape(-1, 3, 3).copy(),
        translations=grasps[:, 13:16].copy(),
        object_ids=np.rint(grasps[:, 16]).astype(np.int64))


def grasp_array_to_poses(grasps: np.ndarray) -> np.ndarray:
    """Gripper poses of grasp rows.

    Args:
        grasps: (N, 17) grasp rows in some frame ``F``.

    Returns:
        np.ndarray: float64 (N, 4, 4) ``T_F_gripper`` (origin at the grasp point).
    """
    grasps = _as_grasp_array(grasps)
    poses = np.tile(np.eye(4), (grasps.shape[0], 1, 1))
    poses[:, :3, :3] = grasps[:, 4:13].reshape(-1, 3, 3)
    poses[:, :3, 3] = grasps[:, 13:16]
    return poses


def grasp_array_from_poses(poses: np.ndarray,
                           widths: np.ndarray,
                           depths: np.ndarray,
                           scores: Union[np.ndarray, float] = 1.0,
                           object_ids: Union[np.ndarray, int] = -1,
                           heights: Union[np.ndarray, float] = GRASP_HEIGHT) -> np.ndarray:
    """Grasp rows from gripper poses ``T_F_gripper`` (N, 4, 4); see :func:`make_grasp_array`.

    Returns:
        np.ndarray: float32 (N, 17) grasp rows in frame ``F``.
    """
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (4, 4):
        raise ValueError(f'poses must have shape (N, 4, 4), got {poses.shape}')
    n = poses.shape[0]
    return make_grasp_array(np.broadcast_to(np.asarray(scores, np.float64), (n, )),
                            widths, depths, poses[:, :3, :3], poses[:, :3, 3],
                            object_ids, heights)


def transform_grasp_array(grasps: np.ndarray, T_b_a: np.ndarray) -> np.ndarray:
    """Express grasp rows given in frame ``a`` in frame ``b``.

    Args:
        grasps: (N, 17) grasp rows in frame ``a``.
        T_b_a: (4, 4) rigid transform from frame ``a`` to frame ``b``.

    Returns:
        np.ndarray: (N, 17) grasp rows in frame ``b`` (input dtype).
    """
    grasps = _as_grasp_array(grasps)
    T_b_a = np.asarray(T_b_a, dtype=np.float64)
    if T_b_a.shape != (4, 4):
        raise ValueError(f'T_b_a must be 4x4, got {T_b_a.shape}')
    out = grasps.copy()
    rot = T_b_a[:3, :3] @ grasps[:, 4:13].reshape(-1, 3, 3).astype(np.float64)
    out[:, 4:13] = rot.reshape(-1, 9)
    out[:, 13:16] = grasps[:, 13:16].astype(np.float64) @ T_b_a[:3, :3].T + T_b_a[:3, 3]
    return out


def closing_centers(grasps: np.ndarray) -> np.ndarray:
    """Centres of the closing lines (finger tips): ``t + depth * x_axis``.

    This is the grasp centre graspnetAPI's evaluator hands to dexnet's contact search.

    Args:
        grasps: (N, 17) grasp rows in frame ``F``.

    Returns:
        np.ndarray: float64 (N, 3) points in frame ``F``, metres.
    """
    grasps = _as_grasp_array(grasps).astype(np.float64)
    approach = grasps[:, 4:13].reshape(-1, 3, 3)[:, :, 0]
    return grasps[:, 13:16] + grasps[:, 3:4] * approach


def decode_label_grasps(points: np.ndarray,
                        offsets: np.ndarray,
                        scores: np.ndarray,
                        collision: Optional[np.ndarray] = None,
                        T_frame_obj: Optional[np.ndarray] = None,
                        object_id: int = -1,
                        fric_coef_thresh: float = 0.4,
                        views: Optional[np.ndarray] = None) -> np.ndarray:
    """Grasp rows of the valid label grasps of one object (graspnetAPI ``loadGrasp`` rule).

    A grasp is kept when ``0 < mu <= fric_coef_thresh`` and it is not in collision; its
    score is ``1.1 - mu``.

    Args:
        points: (Np, 3) grasp points, object frame, metres.
        offsets: (Np, V, A, D, 3) ``[angle (rad), depth (m), width (m)]``.
        scores: (Np, V, A, D) minimum friction coefficients ``mu`` (-1: invalid).
        collision: optional (Np, V, A, D) bool, True = in collision.
        T_frame_obj: optional (4, 4) pose of the object in the output frame (identity:
            rows in the object frame).
        object_id: Object id written in column 16.
        fric_coef_thresh: Largest friction coefficient kept.
        views: optional (V, 3) view directions (default :func:`generate_views` ``(V)``).

    Returns:
        np.ndarray: float32 (K, 17) grasp rows in the output frame.
    """
    points = np.asarray(points, dtype=np.float64)
    offsets = np.asarray(offsets)
    scores = np.asarray(scores)
    if offsets.ndim != 5 or offsets.shape[-1] != 3 or offsets.shape[0] != points.shape[0]:
        raise ValueError(f'offsets must have shape (Np, V, A, D, 3) with Np = '
                         f'{points.shape[0]}, got {offsets.shape}')
    if scores.shape != offsets.shape[:-1]:
        raise ValueError(f'scores must have shape {offsets.shape[:-1]}, got {scores.shape}')
    mask = (scores > 0) & (scores <= fric_coef_thresh)
    if collision is not None:
        collision = np.asarray(collision, dtype=bool)
        if collision.shape != scores.shape:
            raise ValueError(f'collision must have shape {scores.shape}, '
                             f'got {collision.shape}')
        mask &= ~collision
    if views is None:
        views = generate_views(offsets.shape[1])
    idx_p, idx_v, _, _ = np.nonzero(mask)
    sel = offsets[mask].astype(np.float64)
    rot = view_angle_to_matrix(np.asarray(views)[idx_v], sel[:, 0]).astype(np.float64)
    trans = points[idx_p]
    if T_frame_obj is not None:
        T = np.asarray(T_frame_obj, dtype=np.float64)
        rot = T[:3, :3] @ rot
        trans = trans @ T[:3, :3].T + T[:3, 3]
    return make_grasp_array(1.1 - scores[mask].astype(np.float64), sel[:, 2], sel[:, 1],
                            rot, trans, object_id)
