"""Scene-level grasp collision labels and GSNet point graspness.

``collision_label/scene_XXXX/collision_labels.npz`` holds one bool array (Np, 300, 12, 4) per
object of the scene, stored as ``arr_0 .. arr_{n-1}`` in ``object_id_list.txt`` order
(graspnetAPI's ``loadCollisionLabels``). A label grasp of an object (its grasp points, views,
angles, depths and widths from ``grasp_label/XXX_labels.npz``) collides in the scene when
graspnetAPI's gripper (:data:`~graspcontrast_mm.structures.gripper.GRASPNET_GRIPPER`, tested
by :func:`~graspcontrast_mm.synthetic.grasp_labels.gripper_collision`) intersects

* the table: the half-space ``z < table_height`` of the table / world frame (z up, table
  top at ``z = 0``), tested exactly on the box corners;
* any OTHER object of the scene at its pose (dense surface sample);
* optionally (``include_self=True``, default) the object itself, i.e. the ``collision`` array
  of its grasp label file, so that the scene labels alone tell which grasps are feasible.

Point graspness (GSNet): for a grasp point, the fraction of its 300 x 12 x 4 grasps with
``0 < mu <= 0.8`` and no collision; a frame's scene points take the graspness of their
nearest grasp point (all objects, camera frame), min-max normalised per frame.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

import numpy as np

from ..datasets.graspnet_io import read_collision_labels as load_collision_labels
from ..datasets.graspnet_io import write_collision_labels as save_collision_labels
from ..structures.frames import invert_transform, transform_points
from ..structures.gripper import ParallelJawGripper
from ..structures.workspace import point_graspness
from ..structures.grasp import (GRASP_HEIGHT, GRIPPER_DEPTH_BASE, GRIPPER_FINGER_WIDTH,
                                approach_angle_to_matrix, generate_views)
from .grasp_labels import (GraspLabels, as_trimesh, gripper_collision,
                           sample_surface_points)

__all__ = [
    'table_collision', 'compute_scene_collision_labels', 'save_collision_labels',
    'load_collision_labels', 'point_graspness', 'compute_point_graspness'
]


def _label_arrays(label: Any):
    if isinstance(label, GraspLabels):
        return label.points, label.offsets, label.scores, label.collision
    return (np.asarray(label['points']), np.asarray(label['offsets']),
            np.asarray(label['scores']), np.asarray(label['collision']))


def table_collision(grasp_points_obj: np.ndarray,
                    widths: np.ndarray,
                    T_world_obj: np.ndarray,
                    *,
                    views: Optional[np.ndarray] = None,
                    angles: Optional[np.ndarray] = None,
                    depths: Optional[np.ndarray] = None,
                    table_height: float = 0.0,
                    finger_width: float = GRIPPER_FINGER_WIDTH,
                    depth_base: float = GRIPPER_DEPTH_BASE,
                    height: float = GRASP_HEIGHT) -> np.ndarray:
    """Whether any gripper box of each label grasp reaches below the table top.

    Args:
        grasp_points_obj: (Np, 3) grasp points, object frame, metres.
        widths: (Np, V, A, D) jaw openings, metres.
        T_world_obj: (4, 4) object pose in the table / world frame (z up).
        views: (V, 3) view directions (default :func:`generate_views` ``(V)``).
        angles: (A,) in-plane angles, radians (default ``k pi / A``).
        depths: (D,) grasp depths, metres (default ``0.01 (j + 1)``).
        table_height: z of the table top in the world frame, metres.
        finger_width, depth_base, height: Gripper dimensions, metres.

    Returns:
        np.ndarray: bool (Np, V, A, D), True = a finger or the palm has a corner below the
        table top.
    """
    widths = np.asarray(widths, dtype=np.float64)
    num_p, num_v, num_a, num_d = widths.shape
    T = np.asarray(T_world_obj, dtype=np.float64)
    views = generate_views(num_v) if views is None else np.asarray(views, np.float64)
    angles = np.arange(num_a) * np.pi / num_a if angles is None else np.asarray(angles)
    depths = (np.arange(num_d) + 1.0) * 0.01 if depths is None else np.asarray(depths)
    rot = approach_angle_to_matrix(-views, 0.0).astype(np.float64)  # (V, 3, 3) obj frame
    row = T[2, :3] @ rot  # world z of the gripper axes at angle 0: (V, 3)
    cos, sin = np.cos(angles), np.sin(angles)
    rx = np.broadcast_to(row[:, None, 0], (num_v, num_a))
    ry = row[:, None, 1] * cos[None] + row[:, None, 2] * sin[None]
    rz = -row[:, None, 1] * sin[None] + row[:, None, 2] * cos[None]
    z0 = grasp_points_obj.astype(np.float64) @ T[2, :3] + T[2, 3]  # (Np,)
    rx, ry, rz = (a[None, :, :, None] for a in (rx, ry, rz))
    gripper = ParallelJawGripper(finger_width=finger_width, depth_base=depth_base,
                                 height=height)
    hw, flo, fhi, fw, plo, phw, hh, phh = gripper.solid_args(widths,
                                                             depths[None, None, None, :])
    z0 = z0[:, None, None, None]
    # lowest corner of an axis-aligned gripper box [lo, hi]: z0 + sum_j r_j c_j - |r_j| h_j
    # (c centre, h half size); fingers: the lower of y = +-(w/2 + finger_width / 2)
    cx, hx = 0.5 * (flo + fhi), 0.5 * (fhi - flo)
    cy, hy = hw + 0.5 * fw, 0.5 * fw
    finger_low = z0 + rx * cx - hx * np.abs(rx) - hy * np.abs(ry) - hh * np.abs(rz)
    finger_low = finger_low - np.abs(ry * cy)
    pcx, phx = 0.5 * (plo + flo), 0.5 * (flo - plo)
    palm_low = z0 + rx * pcx - phx * np.abs(rx) - phw * np.abs(ry) - phh * np.abs(rz)
    return (np.minimum(finger_low, palm_low) < table_height)


def compute_scene_collision_labels(meshes: Sequence[Any],
                                   poses_world: Sequence[np.ndarray],
                                   grasp_labels: Sequence[Any],
                                   *,
                                   include_self: bool = True,
                                   table_height: Optional[float] = 0.0,
                                   collision_spacing: float = 0.004,
                                   seed: int = 0,
                                   names: Optional[Sequence[str]] = None,
                                   finger_width: float = GRIPPER_FINGER_WIDTH,
                                   depth_base: float = GRIPPER_DEPTH_BASE,
                                   height: float = GRASP_HEIGHT) -> List[np.ndarray]:
    """Collision labels of every object of a scene.

    Args:
        meshes: n meshes, each in its object frame, metres, in ``object_id_list`` order.
        poses_world: n (4, 4) poses ``T_world_obj`` (table / world frame, z up).
        grasp_labels: n :class:`GraspLabels` (or npz-like mappings with ``points``,
            ``offsets``, ``scores``, ``collision``) of the objects.
        include_self: OR in each object's own ``collision`` label.
        table_height: z of the table top (``None``: no table).
        collision_spacing: Spacing of the obstacle surface samples, metres.
        seed: Sampling seed.
        names: Optional object names for errors.
        finger_width, depth_base, height: Gripper dimensions, metres.

    Returns:
        list: n bool arrays (Np_i, V, A, D), True = collision.
    """
    n = len(meshes)
    if len(poses_world) != n or len(grasp_labels) != n:
        raise ValueError(f'meshes ({n}), poses_world ({len(poses_world)}) and grasp_labels '
                         f'({len(grasp_labels)}) must have the same length')
    names = list(names) if names is not None else [f'object {i}' for i in range(n)]
    poses = [np.asarray(T, dtype=np.float64) for T in poses_world]
    for T, nm in zip(poses, names):
        if T.shape != (4, 4):
            raise ValueError(f'{nm}: pose must be 4x4, got {T.shape}')
    # obstacle samples of every object, world frame
    samples_world = []
    for i, mesh in enumerate(meshes):
        pts = sample_surface_points(as_trimesh(mesh, names[i]), collision_spacing, None,
                                    seed + i)
        samples_world.append(transform_points(poses[i], pts))
    out = []
    for i in range(n):
        points, offsets, _, own = _label_arrays(grasp_labels[i])
        widths = np.asarray(offsets[..., 2], dtype=np.float64)
        coll = np.array(own, dtype=bool) if include_self else np.zeros(widths.shape, bool)
        if coll.shape != widths.shape:
            raise ValueError(f'{names[i]}: collision shape {coll.shape} does not match '
                             f'offsets {offsets.shape}')
        others = [samples_world[j] for j in range(n) if j != i]
        if others:
            obst = transform_points(invert_transform(poses[i]),
                                    np.concatenate(others, axis=0))
            gripper_collision(obst, points, widths, finger_width=finger_width,
                              depth_base=depth_base, height=height, out=coll)
        if table_height is not None:
            coll |= table_collision(np.asarray(points), widths, poses[i],
                                    table_height=table_height, finger_width=finger_width,
                                    depth_base=depth_base, height=height)
        out.append(coll)
    return out


def compute_point_graspness(scene_points_cam: np.ndarray,
                            label_points_obj: Sequence[np.ndarray],
                            poses_cam_obj: Sequence[np.ndarray],
                            *,
                            label_graspness: Optional[Sequence[np.ndarray]] = None,
                            scores: Optional[Sequence[np.ndarray]] = None,
                            collisions: Optional[Sequence[np.ndarray]] = None,
                            fric_coef_thresh: float = 0.8,
                            normalize: bool = True) -> np.ndarray:
    """Per-point graspness of a frame (GSNet's label).

    Args:
        scene_points_cam: (N, 3) scene points, camera frame, metres.
        label_points_obj: n (Np_i, 3) grasp points of the objects, object frames.
        poses_cam_obj: n (4, 4) object poses in the camera frame (``T_cam_obj``).
        label_graspness: n (Np_i,) graspness of the grasp points (see
            :func:`point_graspness`); computed from ``scores`` / ``collisions`` if omitted.
        scores: n (Np_i, V, A, D) friction labels (needed without ``label_graspness``).
        collisions: n (Np_i, V, A, D) bool scene collision labels.
        fric_coef_thresh: Largest friction coefficient counted.
        normalize: Min-max normalise over the frame's points (all zeros if constant).

    Returns:
        np.ndarray: float32 (N,) graspness of the nearest grasp point (any object).
    """
    from scipy.spatial import cKDTree
    scene = np.asarray(scene_points_cam, dtype=np.float64)
    if scene.ndim != 2 or scene.shape[1] != 3:
        raise ValueError(f'scene_points_cam must have shape (N, 3), got {scene.shape}')
    n = len(label_points_obj)
    if len(poses_cam_obj) != n:
        raise ValueError('label_points_obj and poses_cam_obj must have the same length')
    if label_graspness is None:
        if scores is None:
            raise ValueError('give label_graspness or scores (and collisions)')
        label_graspness = [
            point_graspness(scores[i], None if collisions is None else collisions[i],
                            fric_coef_thresh) for i in range(n)
        ]
    if n == 0 or len(scene) == 0:
        return np.zeros(len(scene), dtype=np.float32)
    pts, vals = [], []
    for i in range(n):
        T = np.asarray(poses_cam_obj[i], dtype=np.float64)
        p = np.asarray(label_points_obj[i], dtype=np.float64)
        g = np.asarray(label_graspness[i], dtype=np.float64).reshape(-1)
        if g.shape[0] != p.shape[0]:
            raise ValueError(f'object {i}: {p.shape[0]} grasp points but {g.shape[0]} '
                             'graspness values')
        pts.append(transform_points(T, p))
        vals.append(g)
    _, idx = cKDTree(np.concatenate(pts)).query(scene, k=1)
    out = np.concatenate(vals)[idx]
    if normalize:
        lo, hi = out.min(), out.max()
        out = (out - lo) / (hi - lo) if hi > lo else np.zeros_like(out)
    return out.astype(np.float32)
