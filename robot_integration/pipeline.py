"""Perception + planning of one pick: observation -> grasp source -> planner.

Shared by the simulated benchmark and the ROS 2 node. Bad input never produces a pose:
an unusable depth image or camera pose ends in a :class:`PlanningFailure` with reason
``'invalid_observation'`` / ``'invalid_camera_pose'``; a source that raises ends in
``'source_error'``.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any, Dict, Union

import numpy as np

from graspcontrast_mm.structures.frames import depth_to_points

from .executor import Observation
from .grasp_sources import InvalidObservationError, as_grasp_array, sanitize_depth
from .planner import GraspPlanner, InvalidCameraPoseError, PlannedGrasp, PlanningFailure

__all__ = ['PickPlan', 'perceive_and_plan', 'workspace_mask']


@dataclasses.dataclass
class PickPlan:
    """Result of :func:`perceive_and_plan`.

    Attributes:
        result: The planned grasp, or why there is none.
        num_grasps: Rows returned by the grasp source.
        timings: Seconds spent in ``'perception'`` (grasp source) and ``'planning'``.
        planner_counts: Candidates rejected per planner filter (plus ``not_checked``),
            also when a grasp was planned (empty when planning did not run).
    """
    result: Union[PlannedGrasp, PlanningFailure]
    num_grasps: int = 0
    timings: Dict[str, float] = dataclasses.field(default_factory=dict)
    planner_counts: Dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether a grasp was planned."""
        return bool(self.result.ok)


def perceive_and_plan(observation: Observation, source: Any, planner: GraspPlanner, *,
                      min_valid_ratio: float = 0.05, max_cloud_depth: float = 2.0,
                      cloud_stride: int = 2) -> PickPlan:
    """Run the grasp source on an observation and plan the best grasp.

    Args:
        observation: Depth capture (``T_base_ee`` is required by eye-in-hand planners).
        source: Grasp source (``predict(depth_m, K, mask=None)``). A source whose
            ``wants_workspace_mask`` is True gets ``mask`` = the pixels inside the planner's
            workspace box (:func:`workspace_mask`).
        planner: Grasp planner.
        min_valid_ratio: Smallest fraction of valid depth pixels.
        max_cloud_depth: Points farther than this (metres) are left out of the collision
            cloud.
        cloud_stride: Pixel stride of the collision cloud (1 = every pixel).

    Returns:
        PickPlan
    """
    timings = {'perception': 0.0, 'planning': 0.0}
    try:
        planner.camera_pose(observation.T_base_ee)
    except InvalidCameraPoseError as err:
        return PickPlan(PlanningFailure('invalid_camera_pose', str(err)), 0, timings)
    try:
        depth, _ = sanitize_depth(observation.depth_m, observation.K,
                                  min_valid_ratio=min_valid_ratio)
    except InvalidObservationError as err:
        return PickPlan(PlanningFailure('invalid_observation', str(err)), 0, timings)
    K = np.asarray(observation.K, np.float64)
    t0 = time.perf_counter()
    try:
        if getattr(source, 'wants_workspace_mask', False):
            mask = workspace_mask(depth, K, planner.camera_pose(observation.T_base_ee),
                                  planner.config.workspace_min, planner.config.workspace_max)
            grasps = as_grasp_array(source.predict(depth, K, mask=mask))
        else:
            grasps = as_grasp_array(source.predict(depth, K))
    except InvalidObservationError as err:
        timings['perception'] = time.perf_counter() - t0
        return PickPlan(PlanningFailure('invalid_observation', str(err)), 0, timings)
    except Exception as err:  # a learned source may fail in many ways; report, never move
        timings['perception'] = time.perf_counter() - t0
        return PickPlan(PlanningFailure('source_error', f'{type(err).__name__}: {err}'), 0,
                        timings)
    timings['perception'] = time.perf_counter() - t0
    t1 = time.perf_counter()
    step = max(int(cloud_stride), 1)
    cloud, _ = depth_to_points(depth[::step, ::step], _strided_K(observation.K, step),
                               max_depth=max_cloud_depth)
    result = planner.plan_all(grasps, T_base_ee=observation.T_base_ee, cloud_cam=cloud,
                              max_results=1)
    if isinstance(result, PlanningFailure):
        counts = dict(result.counts)
    else:
        plans, counts = result
        result = plans[0]
    timings['planning'] = time.perf_counter() - t1
    return PickPlan(result, int(len(grasps)), timings, dict(counts))


def workspace_mask(depth_m: np.ndarray, K: np.ndarray, T_base_cam: np.ndarray,
                   workspace_min, workspace_max) -> np.ndarray:
    """Pixels whose back-projected point lies inside a base-frame box.

    Args:
        depth_m: float32 (H, W) depth, metres (0 = invalid, never selected).
        K: (3, 3) intrinsics, pixels.
        T_base_cam: (4, 4) camera pose in the base frame.
        workspace_min: (3,) lower corner of the box, base frame, metres.
        workspace_max: (3,) upper corner.

    Returns:
        np.ndarray: bool (H, W).
    """
    depth = np.asarray(depth_m, np.float64)
    h, w = depth.shape
    K = np.asarray(K, np.float64)
    u = (np.arange(w) - K[0, 2]) / K[0, 0]
    v = (np.arange(h) - K[1, 2]) / K[1, 1]
    pts = np.stack([u[None, :] * depth, v[:, None] * depth, depth], axis=-1)
    T = np.asarray(T_base_cam, np.float64)
    base = pts @ T[:3, :3].T + T[:3, 3]
    lo, hi = np.asarray(workspace_min, float), np.asarray(workspace_max, float)
    return (depth > 0) & np.all((base >= lo) & (base <= hi), axis=-1)


def _strided_K(K, step: int) -> np.ndarray:
    """Intrinsics of ``depth[::step, ::step]`` (pixel i of the strided image = step * i)."""
    K = np.array(K, dtype=np.float64)
    if step == 1:
        return K
    S = np.diag([1.0 / step, 1.0 / step, 1.0])
    return S @ K
