"""Calibration grasp sources of the simulated benchmark: an oracle and random grasps.

A benchmark that can tell grasp detectors apart must rank these two far apart, with the
geometric baseline in between (see ``robot_integration/README.md``):

* :class:`OracleGraspSource` reads the true object poses and shapes from the simulation
  and proposes top-down antipodal grasps on them
  (:func:`~robot_integration.sim_objects.topdown_grasps`): what a perfect detector of
  top-down grasps would return. Its completion rate is the graspability ceiling of a level.
* :class:`RandomGraspSource` proposes grasps at random observed points above the table,
  with random approach (within a cone around straight down), closing direction, width and
  depth: what a detector that learned nothing would return.

Both return graspnetAPI rows in the camera frame and go through the same planner
(workspace, table, collision and emptiness filters) as every other source.
:func:`oracle_graspable` counts the objects of a scene that have at least one executable
oracle grasp (the per-scene graspability ceiling).
"""
from __future__ import annotations

import zlib
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from graspcontrast_mm.structures.frames import depth_to_points
from graspcontrast_mm.structures.grasp import (GRASP_ARRAY_LEN, approach_angle_to_matrix,
                                               make_grasp_array, transform_grasp_array)

from .grasp_sources import GraspSource, fit_table_plane, sanitize_depth
from .sim_objects import TopDownConfig, topdown_grasps
from .transforms import invert_transform

__all__ = ['OracleGraspSource', 'RandomGraspSource', 'oracle_graspable']


def _empty() -> np.ndarray:
    return np.zeros((0, GRASP_ARRAY_LEN), np.float32)


class OracleGraspSource(GraspSource):
    """Top-down antipodal grasps computed from the true object poses (simulation only).

    Args:
        sim: The :class:`~robot_integration.sim.PyBulletPickPlaceSim` to read (or call
            :meth:`bind` later).
        config: Grasp search settings.

    Column 16 of the rows holds the simulation body of the object.
    """

    wants_workspace_mask = False

    def __init__(self, sim: Any = None, config: Optional[TopDownConfig] = None) -> None:
        self.sim = sim
        self.config = config or TopDownConfig()
        self.last_info: Dict[str, Any] = {}

    def bind(self, sim: Any) -> 'OracleGraspSource':
        """Read this simulation from now on."""
        self.sim = sim
        return self

    def object_grasps(self, body: int) -> np.ndarray:
        """float32 (N, 17) top-down grasps of one object, base frame, best first."""
        com = self.sim.object_position(body)[:2]
        return topdown_grasps(self.sim.object_parts(body), cfg=self.config, com_xy=com,
                              object_id=body)

    def predict(self, depth_m, K, mask=None) -> np.ndarray:
        """See :meth:`GraspSource.predict` (the image is not used; camera frame rows)."""
        if self.sim is None:
            raise RuntimeError('OracleGraspSource needs the simulation: call bind(sim)')
        rows = [self.object_grasps(b) for b in self.sim.remaining()]
        rows = [r for r in rows if len(r)]
        self.last_info = dict(num_grasps=int(sum(len(r) for r in rows)),
                              objects_with_grasps=len(rows))
        if not rows:
            return _empty()
        base = np.concatenate(rows)
        cam = transform_grasp_array(base, invert_transform(self.sim.camera_pose()))
        return cam[np.argsort(-cam[:, 0], kind='stable')].astype(np.float32)


class RandomGraspSource(GraspSource):
    """Random grasps on the observed points above the table (a floor for the benchmark).

    Per image: the table plane is fitted by RANSAC; ``num_grasps`` grasp points are drawn
    among the points higher than ``min_height`` above it (inside the workspace mask);
    each gets an approach drawn uniformly within ``max_tilt_deg`` of the plane normal
    (pointing into the table), a uniform in-plane angle, width in ``width_range``, depth
    in ``depth_range`` and a uniform score. The draw is seeded by ``seed`` and the image
    content, so the same image gives the same grasps.

    Args:
        num_grasps: Grasps per image.
        seed: Base seed.
        max_tilt_deg: Largest angle of the approach from the plane normal, degrees.
        width_range: (min, max) width, metres.
        depth_range: (min, max) depth, metres.
        min_height: Points higher than this above the plane are object points, metres.
    """

    wants_workspace_mask = True

    def __init__(self, num_grasps: int = 200, seed: int = 0, max_tilt_deg: float = 30.0,
                 width_range: Tuple[float, float] = (0.01, 0.08),
                 depth_range: Tuple[float, float] = (0.0, 0.03),
                 min_height: float = 0.008) -> None:
        if num_grasps < 1:
            raise ValueError(f'num_grasps must be >= 1, got {num_grasps}')
        self.num_grasps = int(num_grasps)
        self.seed = int(seed)
        self.max_tilt = np.radians(float(max_tilt_deg))
        self.width_range = tuple(float(v) for v in width_range)
        self.depth_range = tuple(float(v) for v in depth_range)
        self.min_height = float(min_height)
        self.last_info: Dict[str, Any] = {}

    def predict(self, depth_m, K, mask=None) -> np.ndarray:
        """See :meth:`GraspSource.predict`; float32 (N, 17), camera frame."""
        depth, _ = sanitize_depth(depth_m, K, min_valid_ratio=0.0)
        if mask is not None:
            depth = np.where(np.asarray(mask, bool), depth, 0.0).astype(np.float32)
        pts, _ = depth_to_points(depth, np.asarray(K, np.float64))
        if len(pts) < 10:
            return _empty()
        n, d = fit_table_plane(pts)
        obj = pts[pts @ n + d > self.min_height]
        self.last_info = dict(object_points=int(len(obj)))
        if len(obj) == 0:
            return _empty()
        key = zlib.crc32(np.ascontiguousarray(depth).tobytes())
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, key]))
        m = self.num_grasps
        t = obj[rng.integers(0, len(obj), m)].astype(np.float64)
        # approach within a cone around -n (into the table)
        cos_t = rng.uniform(np.cos(self.max_tilt), 1.0, m)
        phi = rng.uniform(0.0, 2 * np.pi, m)
        e1 = np.cross(n, [1.0, 0.0, 0.0] if abs(n[0]) < 0.9 else [0.0, 1.0, 0.0])
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(n, e1)
        sin_t = np.sqrt(1.0 - cos_t ** 2)
        approach = (-cos_t[:, None] * n[None] + sin_t[:, None] * (
            np.cos(phi)[:, None] * e1[None] + np.sin(phi)[:, None] * e2[None]))
        R = approach_angle_to_matrix(approach, rng.uniform(0.0, np.pi, m))
        rows = make_grasp_array(rng.uniform(0.0, 1.0, m), rng.uniform(*self.width_range, m),
                                rng.uniform(*self.depth_range, m), R, t)
        self.last_info['num_grasps'] = int(len(rows))
        return rows[np.argsort(-rows[:, 0], kind='stable')]


def oracle_graspable(sim: Any, planner: Any, observation: Any,
                     config: Optional[TopDownConfig] = None) -> Dict[str, Any]:
    """How many table objects have at least one executable oracle grasp right now.

    Every object's oracle grasps go through ``planner`` with the cloud of
    ``observation`` (so neighbours that block a grasp count). The ceiling is a property of
    the scene, measured on ground truth: with a simulator that keeps the noise-free depth
    of its last capture (``sim.last_exact_depth``, the capture of ``observation``), that
    depth is used, so that sensor noise (on for learned sources, off for the calibration
    ones) does not move the ceiling of the same scene.

    Returns:
        dict: ``objects``, ``graspable`` and ``per_object`` (``[obj_id, bool]`` pairs).
    """
    from .pipeline import _strided_K
    oracle = OracleGraspSource(sim, config)
    T_cam_base = invert_transform(sim.camera_pose())
    depth_m = getattr(sim, 'last_exact_depth', None)
    if depth_m is None or np.shape(depth_m) != np.shape(observation.depth_m):
        depth_m = observation.depth_m
    depth, _ = sanitize_depth(depth_m, observation.K, min_valid_ratio=0.0)
    cloud, _ = depth_to_points(depth[::2, ::2], _strided_K(observation.K, 2), max_depth=2.0)
    per: List[List[Any]] = []
    for body in sim.remaining():
        rows = oracle.object_grasps(body)
        ok = False
        if len(rows):
            plan = planner.plan(transform_grasp_array(rows, T_cam_base),
                                T_base_ee=observation.T_base_ee, cloud_cam=cloud)
            ok = bool(plan.ok)
        per.append([int(sim.objects[body]['obj_id']), ok])
    return dict(objects=len(per), graspable=int(sum(ok for _, ok in per)), per_object=per)
