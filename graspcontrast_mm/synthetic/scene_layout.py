"""Physically plausible object clutter on the table (pybullet drop-and-settle, headless).

Objects are dropped one above the other with random orientations over the central part of
the table and simulated until they are at rest. Collision shapes are the convex hulls of the
object meshes (a mesh lies inside its hull, so resting hulls never let the meshes
interpenetrate beyond the solver's contact slop of about a millimetre). Objects that end
outside the workspace square or fall off the table are removed and logged.

Frames: table / world frame, z up, table top at z = 0, metres.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import List, Sequence, Tuple

import numpy as np

from .objects import ObjectModel

__all__ = ['LayoutConfig', 'SceneLayout', 'settle_objects']

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LayoutConfig:
    """Parameters of the drop-and-settle simulation (metres, seconds).

    Attributes:
        drop_half_extent: Objects are dropped above ``[-h, h]^2`` around the table centre.
        workspace_half_extent: Objects whose centre ends outside ``[-w, w]^2`` are removed
            (GraspNet objects lie within the central ~0.4 x 0.4 m).
        table_half_extent: Half side of the (square) physics table.
        time_step: Simulation step.
        max_sim_time: Simulated time after which the settling stops.
        rest_linear_speed: Objects slower than this (m/s) ...
        rest_angular_speed: ... and turning slower than this (rad/s) are at rest.
        lateral_friction / rolling_friction / spinning_friction: contact parameters.
    """
    drop_half_extent: float = 0.12
    workspace_half_extent: float = 0.2
    table_half_extent: float = 0.5
    time_step: float = 1.0 / 240.0
    max_sim_time: float = 5.0
    rest_linear_speed: float = 5e-3
    rest_angular_speed: float = 5e-2
    lateral_friction: float = 0.8
    rolling_friction: float = 2e-3
    spinning_friction: float = 1e-3


@dataclasses.dataclass
class SceneLayout:
    """Objects at rest on the table.

    Attributes:
        obj_ids: Ids of the objects kept in the scene, in scene order.
        poses: float64 (n_obj, 4, 4) ``T_world_obj`` of each object (table frame, metres).
        removed_ids: Ids dropped but removed (fell off or left the workspace).
    """
    obj_ids: List[int]
    poses: np.ndarray
    removed_ids: List[int]


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    return q  # (x, y, z, w) as pybullet expects; uniform on SO(3)


def _quat_to_matrix(q: Sequence[float]) -> np.ndarray:
    x, y, z, w = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def settle_objects(models: Sequence[ObjectModel], rng: np.random.Generator,
                   cfg: LayoutConfig = LayoutConfig()) -> SceneLayout:
    """Drop ``models`` on the table and simulate until they rest.

    Args:
        models: Library objects to drop (order = drop order, bottom first).
        rng: Random generator (drop positions and orientations).
        cfg: Simulation parameters.

    Returns:
        SceneLayout: the kept objects with their resting poses ``T_world_obj``.
    """
    import pybullet as pb

    client = pb.connect(pb.DIRECT)
    try:
        pb.setPhysicsEngineParameter(deterministicOverlappingPairs=1,
                                     fixedTimeStep=cfg.time_step,
                                     physicsClientId=client)
        pb.setGravity(0, 0, -9.81, physicsClientId=client)
        half = cfg.table_half_extent
        table_shape = pb.createCollisionShape(
            pb.GEOM_BOX, halfExtents=[half, half, 0.025], physicsClientId=client)
        table = pb.createMultiBody(0, table_shape, basePosition=[0, 0, -0.025],
                                   physicsClientId=client)
        pb.changeDynamics(table, -1, lateralFriction=cfg.lateral_friction,
                          physicsClientId=client)
        bodies: List[Tuple[int, ObjectModel]] = []
        z = 0.0
        for model in models:
            hull = model.trimesh().convex_hull
            radius = float(np.linalg.norm(model.vertices, axis=1).max())
            shape = pb.createCollisionShape(
                pb.GEOM_MESH, vertices=np.asarray(hull.vertices).tolist(),
                physicsClientId=client)
            z += radius + 0.01
            xy = rng.uniform(-cfg.drop_half_extent, cfg.drop_half_extent, size=2)
            quat = _random_rotation(rng)
            mass = max(float(hull.volume) * 500.0, 0.01)  # 500 kg/m^3
            body = pb.createMultiBody(mass, shape, basePosition=[xy[0], xy[1], z],
                                      baseOrientation=quat.tolist(),
                                      physicsClientId=client)
            pb.changeDynamics(body, -1, lateralFriction=cfg.lateral_friction,
                              rollingFriction=cfg.rolling_friction,
                              spinningFriction=cfg.spinning_friction,
                              physicsClientId=client)
            z += radius
            bodies.append((body, model))

        _simulate_until_rest(pb, client, [b for b, _ in bodies], cfg)

        kept, removed = [], []
        for body, model in bodies:
            pos, _ = pb.getBasePositionAndOrientation(body, physicsClientId=client)
            inside = (abs(pos[0]) <= cfg.workspace_half_extent
                      and abs(pos[1]) <= cfg.workspace_half_extent and pos[2] > -0.01)
            if inside:
                kept.append((body, model))
            else:
                removed.append(model.obj_id)
                pb.removeBody(body, physicsClientId=client)
        if removed:
            logger.debug('objects %s left the workspace while settling and were removed',
                        removed)
            _simulate_until_rest(pb, client, [b for b, _ in kept], cfg)

        poses = np.zeros((len(kept), 4, 4))
        for i, (body, _) in enumerate(kept):
            pos, quat = pb.getBasePositionAndOrientation(body, physicsClientId=client)
            poses[i] = np.eye(4)
            poses[i, :3, :3] = _quat_to_matrix(quat)
            poses[i, :3, 3] = pos
        return SceneLayout([m.obj_id for _, m in kept], poses, removed)
    finally:
        pb.disconnect(physicsClientId=client)


def _simulate_until_rest(pb, client: int, bodies: Sequence[int], cfg: LayoutConfig) -> None:
    max_steps = int(cfg.max_sim_time / cfg.time_step)
    check_every = 30
    for step in range(1, max_steps + 1):
        pb.stepSimulation(physicsClientId=client)
        if step % check_every or step * cfg.time_step < 0.5:
            continue
        at_rest = True
        for body in bodies:
            lin, ang = pb.getBaseVelocity(body, physicsClientId=client)
            if (np.linalg.norm(lin) > cfg.rest_linear_speed
                    or np.linalg.norm(ang) > cfg.rest_angular_speed):
                at_rest = False
                break
        if at_rest:
            return
    logger.debug('settling stopped after %.1f s of simulated time', cfg.max_sim_time)
