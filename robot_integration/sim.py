"""Headless pybullet backend of the pick-and-place benchmark.

Scene (robot base frame = simulation world frame, z up, metres): a table whose top is the
plane ``z = 0``, a pile area in front of the robot where objects are dropped, an open bin
beside it, and an eye-in-hand depth camera.

Simplifications (common in grasping benchmarks, stated here so that numbers are read
correctly):

* The arm is not simulated. The gripper is a free-floating body (palm + two prismatic
  fingers with friction) driven by a fixed constraint whose target follows the commanded
  TCP path; free motions (to the pre-grasp and observation poses) are teleports of the
  gripper, straight-line motions (approach, lift, transfer to the bin) are interpolated at
  ``linear_speed``. Reachability and arm collisions are therefore not evaluated.
* Objects are rigid convex hulls of the library meshes (physics and rendering use the same
  hull, so what the camera sees is what the fingers touch).
* Depth is rendered exactly (no sensor noise) with pybullet's TinyRenderer at the RealSense
  D435 intrinsics of GraspNet-1Billion scaled by ``image_scale``; the gripper is moved out
  of view for the capture, like a wrist camera whose field of view excludes the fingers.

Deterministic: the same :class:`SimConfig` (seed included) and the same commands give the
same states, images and outcomes (pybullet DIRECT, fixed time step, no wall-clock input).
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .executor import Executor, Observation, SafetyLimits, UnsafeCommandError
from .planner import GripperModel
from .transforms import invert_transform, make_transform, matrix_to_quaternion

__all__ = [
    'SimConfig', 'PyBulletPickPlaceSim', 'REALSENSE_D435_K', 'REALSENSE_D435_SIZE',
    'depth_buffer_to_metres', 'opengl_projection_from_K', 'opengl_view_from_pose',
    'T_TCP_CAM_DEFAULT', 'observation_tcp_pose'
]

#: RealSense D435 intrinsics of GraspNet-1Billion (``camK.npy``, 1280 x 720), pixels.
REALSENSE_D435_K = np.array([[927.17, 0.0, 651.32], [0.0, 927.37, 349.62], [0.0, 0.0, 1.0]])
#: Image size (width, height) of :data:`REALSENSE_D435_K`.
REALSENSE_D435_SIZE = (1280, 720)

#: Hand-eye calibration of the simulated wrist camera: camera pose in the TCP frame.
#: Optical axis = approach (TCP x), image x = closing direction (TCP y), camera 0.12 m behind
#: the finger tips and 0.06 m to the side (TCP z).
T_TCP_CAM_DEFAULT = make_transform(
    np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), (-0.12, 0.0, 0.06))


def opengl_projection_from_K(K, width: int, height: int, near: float,
                             far: float) -> np.ndarray:
    """OpenGL projection matrix that reproduces a pinhole camera ``K``.

    A point ``(x, y, z)`` of the OpenCV camera frame lands on pixel
    ``u = fx x / z + cx``, ``v = fy y / z + cy`` (pixel centres at integers, row 0 on top,
    as pybullet returns its images).

    Returns:
        np.ndarray: float64 (4, 4) (row-major; pybullet wants the transpose flattened).
    """
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    return np.array([
        [2 * fx / width, 0.0, 1 - 2 * (cx + 0.5) / width, 0.0],
        [0.0, 2 * fy / height, 2 * (cy + 0.5) / height - 1, 0.0],
        [0.0, 0.0, -(far + near) / (far - near), -2 * far * near / (far - near)],
        [0.0, 0.0, -1.0, 0.0],
    ])


def opengl_view_from_pose(T_world_cam) -> np.ndarray:
    """OpenGL view matrix of an OpenCV camera pose ``T_world_cam`` (4, 4)."""
    return invert_transform(np.asarray(T_world_cam, np.float64) @ np.diag([1.0, -1.0, -1.0,
                                                                           1.0]))


def depth_buffer_to_metres(buffer, near: float, far: float) -> np.ndarray:
    """Convert an OpenGL depth buffer in [0, 1] to z-depth in metres (0 at the far plane).

    Returns:
        np.ndarray: float32 (H, W) depth along the optical axis, metres; pixels at the far
        plane (nothing hit) are 0.
    """
    d = np.asarray(buffer, dtype=np.float64)
    z = far * near / (far - (far - near) * d)
    z[d >= 1.0 - 1e-7] = 0.0
    return z.astype(np.float32)


def observation_tcp_pose(camera_position: Sequence[float],
                         T_tcp_cam: np.ndarray = T_TCP_CAM_DEFAULT) -> np.ndarray:
    """TCP pose that puts the wrist camera at ``camera_position`` looking straight down.

    The approach (TCP x) points down and the closing direction (TCP y) along base ``-y``.

    Returns:
        np.ndarray: float64 (4, 4) ``T_base_tcp``.
    """
    R = np.stack([[0.0, 0.0, -1.0], [0.0, -1.0, 0.0], [-1.0, 0.0, 0.0]], axis=1)
    T_base_tcp = make_transform(R, (0.0, 0.0, 0.0))
    cam = T_base_tcp @ T_tcp_cam
    T_base_tcp[:3, 3] = np.asarray(camera_position, float) - cam[:3, 3]
    return T_base_tcp


@dataclasses.dataclass
class SimConfig:
    """Simulation scene and protocol constants (base frame, metres, seconds).

    Attributes:
        seed: Seed of the object choice and placement.
        object_ids: Library ids to draw objects from (default: the ``'novel'`` set, never
            used for training), with replacement.
        time_step: Physics step, seconds.
        pile_center: (x, y) centre of the drop area.
        pile_half_size: Half side of the square drop area.
        drop_height: Height above the table of the first dropped object.
        bin_center: (x, y) centre of the bin.
        bin_half_size: Inner half side of the square bin.
        bin_wall_height: Height of the bin walls.
        camera_position: Camera centre at capture, base frame.
        image_scale: Scale of the D435 image size / intrinsics (0.5: 640 x 360).
        near: Near clipping plane, metres.
        far: Far clipping plane, metres.
        linear_speed: Speed of straight-line motions, m/s.
        finger_force: Closing force per finger, newtons.
        finger_friction: Lateral friction coefficient of the fingers.
        object_friction: Lateral friction coefficient of objects.
        object_mass: Mass of every object, kg.
        max_steps_per_attempt: Physics steps after which an attempt times out.
        lift_check_height: An object higher than this above the table after the lift is
            counted as lifted.
    """
    seed: int = 0
    object_ids: Optional[Tuple[int, ...]] = None
    time_step: float = 1.0 / 240.0
    pile_center: Tuple[float, float] = (0.6, -0.1)
    pile_half_size: float = 0.11
    drop_height: float = 0.12
    bin_center: Tuple[float, float] = (0.6, 0.42)
    bin_half_size: float = 0.13
    bin_wall_height: float = 0.08
    camera_position: Tuple[float, float, float] = (0.6, -0.1, 0.6)
    image_scale: float = 0.5
    near: float = 0.1
    far: float = 2.0
    linear_speed: float = 0.4
    finger_force: float = 30.0
    finger_friction: float = 1.2
    object_friction: float = 0.8
    object_mass: float = 0.12
    max_steps_per_attempt: int = 4000
    lift_check_height: float = 0.08


class _StepBudgetExceeded(RuntimeError):
    pass


class PyBulletPickPlaceSim(Executor):
    """pybullet (DIRECT) table-top scene with a free-floating parallel-jaw gripper.

    Args:
        config: :class:`SimConfig`.
        gripper: Gripper box model (also used to build the simulated gripper).
        limits: Safety limits (default: motion box over table and bin).
    """

    def __init__(self, config: Optional[SimConfig] = None,
                 gripper: Optional[GripperModel] = None,
                 limits: Optional[SafetyLimits] = None) -> None:
        super().__init__(limits, gripper)
        import pybullet
        self.config = config or SimConfig()
        self._p = pybullet
        self.client = pybullet.connect(pybullet.DIRECT)
        self._steps = 0
        self._step_budget: Optional[int] = None
        self.objects: Dict[int, dict] = {}  # body id -> info
        scale = self.config.image_scale
        self.width = int(round(REALSENSE_D435_SIZE[0] * scale))
        self.height = int(round(REALSENSE_D435_SIZE[1] * scale))
        self.K = REALSENSE_D435_K.copy()
        self.K[:2] *= scale
        self.T_tcp_cam = T_TCP_CAM_DEFAULT.copy()
        self._library = None
        self._hull_cache: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}
        self._build_static_scene()
        self._build_gripper()
        self.T_base_tcp_home = observation_tcp_pose(self.config.camera_position,
                                                    self.T_tcp_cam)

    # ------------------------------------------------------------------ scene
    def close(self) -> None:
        """Disconnect the physics server."""
        if self.client is not None and self._p.isConnected(self.client):
            self._p.disconnect(self.client)
        self.client = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _step(self, n: int = 1) -> None:
        for _ in range(n):
            if self._step_budget is not None and self._steps >= self._step_budget:
                raise _StepBudgetExceeded
            self._p.stepSimulation(physicsClientId=self.client)
            self._steps += 1

    def _box(self, half, pos, mass=0.0, rgba=(0.6, 0.6, 0.6, 1)) -> int:
        p = self._p
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=self.client)
        vis = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=rgba,
                                  physicsClientId=self.client)
        return p.createMultiBody(mass, col, vis, basePosition=pos, physicsClientId=self.client)

    def _build_static_scene(self) -> None:
        p, c = self._p, self.config
        p.resetSimulation(physicsClientId=self.client)
        p.setGravity(0, 0, -9.81, physicsClientId=self.client)
        p.setTimeStep(c.time_step, physicsClientId=self.client)
        p.setPhysicsEngineParameter(deterministicOverlappingPairs=1,
                                    physicsClientId=self.client)
        self.table = self._box([0.5, 0.7, 0.025], [0.6, 0.0, -0.025])
        p.changeDynamics(self.table, -1, lateralFriction=0.6, physicsClientId=self.client)
        bx, by = c.bin_center
        h, t, wall = c.bin_half_size, 0.01, c.bin_wall_height
        self.bin_parts = [
            self._box([h + t, t / 2, wall / 2], [bx, by - h - t / 2, wall / 2]),
            self._box([h + t, t / 2, wall / 2], [bx, by + h + t / 2, wall / 2]),
            self._box([t / 2, h, wall / 2], [bx - h - t / 2, by, wall / 2]),
            self._box([t / 2, h, wall / 2], [bx + h + t / 2, by, wall / 2]),
        ]

    def _build_gripper(self) -> None:
        p, g, c = self._p, self.gripper, self.config
        cid = self.client
        palm_half = [g.palm_depth / 2, g.max_width / 2 + g.finger_thickness, g.palm_height / 2]
        palm_col = p.createCollisionShape(
            p.GEOM_BOX, halfExtents=palm_half,
            collisionFramePosition=[-g.finger_length - g.palm_depth / 2, 0, 0],
            physicsClientId=cid)
        f_half = [g.finger_length / 2, g.finger_thickness / 2, g.finger_height / 2]
        f_col = p.createCollisionShape(p.GEOM_BOX, halfExtents=f_half,
                                       collisionFramePosition=[-g.finger_length / 2, 0, 0],
                                       physicsClientId=cid)
        ft = g.finger_thickness
        self.gripper_id = p.createMultiBody(
            baseMass=0.5, baseCollisionShapeIndex=palm_col, basePosition=[0, 0, 2.0],
            linkMasses=[0.05, 0.05], linkCollisionShapeIndices=[f_col, f_col],
            linkVisualShapeIndices=[-1, -1], linkPositions=[[0, -ft / 2, 0], [0, ft / 2, 0]],
            linkOrientations=[[0, 0, 0, 1]] * 2, linkInertialFramePositions=[[0, 0, 0]] * 2,
            linkInertialFrameOrientations=[[0, 0, 0, 1]] * 2, linkParentIndices=[0, 0],
            linkJointTypes=[p.JOINT_PRISMATIC] * 2, linkJointAxis=[[0, -1, 0], [0, 1, 0]],
            physicsClientId=cid)
        for link in (0, 1):
            p.changeDynamics(self.gripper_id, link, lateralFriction=c.finger_friction,
                             spinningFriction=0.002, frictionAnchor=1, physicsClientId=cid)
            p.resetJointState(self.gripper_id, link, g.max_width / 2, physicsClientId=cid)
        self._finger_target = g.max_width / 2
        self._set_fingers(self._finger_target)
        self.constraint = p.createConstraint(self.gripper_id, -1, -1, -1, p.JOINT_FIXED,
                                             [0, 0, 0], [0, 0, 0], [0, 0, 2.0],
                                             physicsClientId=cid)
        self._tcp = make_transform(None, (0.0, 0.0, 2.0))
        self._teleport(self._tcp)

    def _set_fingers(self, half_opening: float) -> None:
        p = self._p
        for link in (0, 1):
            p.setJointMotorControl2(self.gripper_id, link, p.POSITION_CONTROL,
                                    targetPosition=half_opening, force=self.config.finger_force,
                                    maxVelocity=0.2, physicsClientId=self.client)

    def _teleport(self, T_base_tcp: np.ndarray) -> None:
        p = self._p
        pos = T_base_tcp[:3, 3].tolist()
        orn = matrix_to_quaternion(T_base_tcp[:3, :3]).tolist()
        p.resetBasePositionAndOrientation(self.gripper_id, pos, orn, physicsClientId=self.client)
        p.resetBaseVelocity(self.gripper_id, [0, 0, 0], [0, 0, 0], physicsClientId=self.client)
        for link in (0, 1):
            p.resetJointState(self.gripper_id, link, self._finger_target,
                              physicsClientId=self.client)
        p.changeConstraint(self.constraint, pos, orn, maxForce=2000,
                           physicsClientId=self.client)
        self._tcp = np.asarray(T_base_tcp, np.float64).copy()

    def _library_hull(self, obj_id: int) -> Tuple[np.ndarray, np.ndarray]:
        if obj_id not in self._hull_cache:
            if self._library is None:
                from graspcontrast_mm.synthetic.objects import ObjectLibrary
                self._library = ObjectLibrary()
            hull = self._library.get(obj_id).trimesh().convex_hull
            self._hull_cache[obj_id] = (np.asarray(hull.vertices, np.float64),
                                        np.asarray(hull.faces, np.int64))
        return self._hull_cache[obj_id]

    def object_ids_pool(self) -> Tuple[int, ...]:
        """Library ids objects are drawn from."""
        if self.config.object_ids:
            return tuple(int(i) for i in self.config.object_ids)
        from graspcontrast_mm.synthetic.objects import object_ids_of_set
        return object_ids_of_set('novel')

    def reset_scene(self, num_objects: int, seed: Optional[int] = None) -> List[int]:
        """Remove all objects and drop ``num_objects`` new ones onto the pile area.

        Args:
            num_objects: Number of objects.
            seed: Placement seed (default ``config.seed``).

        Returns:
            list: pybullet body ids of the objects.
        """
        p, c, cid = self._p, self.config, self.client
        for body in list(self.objects):
            p.removeBody(body, physicsClientId=cid)
        self.objects = {}
        self._step_budget = None
        self._teleport(make_transform(None, (0.0, 0.0, 2.0)))
        rng = np.random.default_rng(np.random.SeedSequence([int(
            c.seed if seed is None else seed), int(num_objects)]))
        pool = self.object_ids_pool()
        ids = rng.choice(pool, size=num_objects, replace=True)
        for k, obj_id in enumerate(ids):
            verts, faces = self._library_hull(int(obj_id))
            col = p.createCollisionShape(p.GEOM_MESH, vertices=verts.tolist(),
                                         physicsClientId=cid)
            colour = list(rng.uniform(0.2, 0.9, 3)) + [1.0]
            vis = p.createVisualShape(p.GEOM_MESH, vertices=verts.tolist(),
                                      indices=faces.reshape(-1).tolist(), rgbaColor=colour,
                                      physicsClientId=cid)
            xy = np.asarray(c.pile_center) + rng.uniform(-c.pile_half_size,
                                                         c.pile_half_size, 2)
            q = rng.normal(size=4)
            q /= np.linalg.norm(q)
            body = p.createMultiBody(c.object_mass, col, vis,
                                     basePosition=[xy[0], xy[1], c.drop_height + 0.02 * k],
                                     baseOrientation=q.tolist(), physicsClientId=cid)
            p.changeDynamics(body, -1, lateralFriction=c.object_friction,
                             rollingFriction=0.001, spinningFriction=0.001,
                             physicsClientId=cid)
            self.objects[body] = dict(obj_id=int(obj_id), state='table', attempts=0)
            self._step(90)
        self._step(240)
        self._update_states()
        return list(self.objects)

    # ------------------------------------------------------------------ state
    def object_position(self, body: int) -> np.ndarray:
        """float64 (3,) position of an object's centre of mass, base frame."""
        pos, _ = self._p.getBasePositionAndOrientation(body, physicsClientId=self.client)
        return np.asarray(pos, np.float64)

    def in_bin(self, body: int) -> bool:
        """Whether an object rests inside the bin."""
        c = self.config
        pos = self.object_position(body)
        d = np.abs(pos[:2] - np.asarray(c.bin_center))
        return bool(np.all(d <= c.bin_half_size) and pos[2] < c.bin_wall_height + 0.02)

    def _update_states(self) -> None:
        for body, info in self.objects.items():
            if info['state'] != 'table':
                continue
            pos = self.object_position(body)
            if self.in_bin(body):
                info['state'] = 'bin'
            elif pos[2] < -0.05 or abs(pos[0] - 0.6) > 0.5 or abs(pos[1]) > 0.7:
                info['state'] = 'fell'

    def remaining(self) -> List[int]:
        """Bodies still on the table."""
        return [b for b, info in self.objects.items() if info['state'] == 'table']

    def remove_object(self, body: int, state: str = 'removed') -> None:
        """Take an object out of the scene (e.g. after too many failed attempts)."""
        self._p.resetBasePositionAndOrientation(body, [5.0 + 0.3 * body, 5.0, 0.5],
                                                [0, 0, 0, 1], physicsClientId=self.client)
        self._p.resetBaseVelocity(body, [0, 0, 0], [0, 0, 0], physicsClientId=self.client)
        self._p.changeDynamics(body, -1, mass=0.0, physicsClientId=self.client)
        self.objects[body]['state'] = state

    def nearest_object(self, point) -> Optional[int]:
        """Table object whose bounding box is nearest to a base-frame point (3,)."""
        best, best_d = None, np.inf
        point = np.asarray(point, np.float64)
        for body in self.remaining():
            lo, hi = self._p.getAABB(body, physicsClientId=self.client)
            d = np.linalg.norm(point - np.clip(point, lo, hi))
            if d < best_d:
                best, best_d = body, d
        return best

    # ------------------------------------------------------------------ executor hooks
    def _observe(self) -> Observation:
        p = self._p
        c = self.config
        T_base_tcp = self.T_base_tcp_home
        self._teleport(make_transform(T_base_tcp[:3, :3], (0.0, 0.0, 3.0)))  # out of view
        T_base_cam = T_base_tcp @ self.T_tcp_cam
        view = opengl_view_from_pose(T_base_cam)
        proj = opengl_projection_from_K(self.K, self.width, self.height, c.near, c.far)
        img = p.getCameraImage(self.width, self.height,
                               viewMatrix=view.T.reshape(-1).tolist(),
                               projectionMatrix=proj.T.reshape(-1).tolist(),
                               renderer=p.ER_TINY_RENDERER,
                               flags=p.ER_NO_SEGMENTATION_MASK, physicsClientId=self.client)
        buf = np.reshape(np.asarray(img[3], np.float32), (self.height, self.width))
        depth = depth_buffer_to_metres(buf, c.near, c.far)
        self._teleport(T_base_tcp)
        return Observation(depth_m=depth, K=self.K.copy(), T_base_ee=T_base_tcp.copy(),
                           T_base_cam=T_base_cam, stamp=self._steps * c.time_step)

    def _move_to(self, T_base_tcp: np.ndarray, *, linear: bool) -> bool:
        if not linear:
            self._teleport(T_base_tcp)
            self._step(5)
            return True
        p, c = self._p, self.config
        start = self._tcp.copy()
        dist = float(np.linalg.norm(T_base_tcp[:3, 3] - start[:3, 3]))
        n = max(int(np.ceil(dist / (c.linear_speed * c.time_step))), 1)
        q0 = matrix_to_quaternion(start[:3, :3])
        q1 = matrix_to_quaternion(T_base_tcp[:3, :3])
        for i in range(1, n + 1):
            s = i / n
            pos = (1 - s) * start[:3, 3] + s * T_base_tcp[:3, 3]
            q = _nlerp(q0, q1, s)
            p.changeConstraint(self.constraint, pos.tolist(), q.tolist(), maxForce=2000,
                               physicsClientId=self.client)
            self._step(1)
        self._step(10)
        self._tcp = T_base_tcp.copy()
        pos, orn = p.getBasePositionAndOrientation(self.gripper_id, physicsClientId=self.client)
        return bool(np.linalg.norm(np.asarray(pos) - T_base_tcp[:3, 3]) < 0.01)

    def _open_gripper(self, width: float) -> None:
        self._finger_target = width / 2
        self._set_fingers(width / 2)
        self._step(40)

    def _close_gripper(self) -> float:
        self._finger_target = 0.0
        self._set_fingers(0.0)
        self._step(120)
        return self.gripper_opening()

    def gripper_opening(self) -> float:
        """Current jaw opening, metres."""
        q = [self._p.getJointState(self.gripper_id, j, physicsClientId=self.client)[0]
             for j in (0, 1)]
        return float(q[0] + q[1])

    # ------------------------------------------------------------------ one pick
    def execute_pick(self, plan, *, drop_height: float = 0.22) -> Dict[str, object]:
        """Run pre-grasp -> approach -> close -> lift -> over the bin -> release.

        Args:
            plan: A :class:`~robot_integration.planner.PlannedGrasp`.
            drop_height: TCP height above the table when releasing over the bin.

        Returns:
            dict: ``lifted`` (an object was above ``lift_check_height`` after the lift),
            ``opening_after_close`` (m), ``new_in_bin`` (bodies that entered the bin),
            ``timeout`` (step budget exhausted), ``steps``.
        """
        c = self.config
        before = {b for b, i in self.objects.items() if i['state'] == 'bin'}
        self._step_budget = self._steps + c.max_steps_per_attempt
        start_steps = self._steps
        out = dict(lifted=False, opening_after_close=None, timeout=False)
        try:
            self.open_gripper(plan.open_width)
            self.move_to(plan.pre_grasp)
            self.move_to(plan.grasp, linear=True)
            out['opening_after_close'] = self.close_gripper()
            self.move_to(plan.lift, linear=True)
            out['lifted'] = any(self.object_position(b)[2] > c.lift_check_height
                                for b in self.remaining())
            over_bin = plan.lift.copy()
            over_bin[:2, 3] = c.bin_center
            over_bin[2, 3] = max(drop_height, plan.lift[2, 3])
            self.move_to(over_bin, linear=True)
            self.open_gripper(self.gripper.max_width)
            self._step(120)
        except _StepBudgetExceeded:
            out['timeout'] = True
        except UnsafeCommandError as err:
            out['refused'] = str(err)
        finally:
            self._step_budget = None
            self._finger_target = self.gripper.max_width / 2
            self._teleport(self.T_base_tcp_home)
            self._set_fingers(self._finger_target)
            self._step(60)
            self._update_states()
        after = {b for b, i in self.objects.items() if i['state'] == 'bin'}
        out['new_in_bin'] = sorted(after - before)
        out['steps'] = self._steps - start_steps
        return out


def _nlerp(q0: np.ndarray, q1: np.ndarray, s: float) -> np.ndarray:
    if np.dot(q0, q1) < 0:
        q1 = -q1
    q = (1 - s) * q0 + s * q1
    return q / np.linalg.norm(q)

