"""Headless pybullet backend of the pick-and-place benchmark.

Scene (robot base frame = simulation world frame, z up, metres): a table whose top is the
plane ``z = 0``, a pile area in front of the robot where objects are dropped, an open bin
beside it, and an eye-in-hand depth camera.

Simplifications (common in grasping benchmarks, stated here so that numbers are read
correctly):

* The arm is not simulated. The gripper is a free-floating body (palm + two prismatic
  fingers with friction) driven by a fixed constraint whose target follows the commanded
  TCP path; free motions (to the pre-grasp and observation poses) are teleports of the
  gripper, straight-line motions (approach, lift, transport to the bin) follow a
  trapezoidal velocity profile (``acceleration`` ramp, 0.5 m/s^2, up to
  ``approach_speed`` and ``lift_speed``, 0.1 m/s as in VGN's simulated clutter removal,
  and ``transport_speed``, 0.2 m/s, once the object is lifted).
  Reachability and arm collisions are therefore not evaluated.
* Objects are rigid compounds of the convex parts of a VHACD decomposition of the library
  meshes (:mod:`robot_integration.sim_objects`; ``shapes='hull'``: one convex hull), the
  same parts for physics and rendering, so what the camera sees is what the fingers touch.
* Depth is rendered with pybullet's TinyRenderer at the RealSense D435 intrinsics of
  GraspNet-1Billion scaled by ``image_scale``, optionally with the RealSense noise model
  of the data generator (:mod:`graspcontrast_mm.synthetic.depth_noise`); the gripper is
  moved out of view for the capture, like a wrist camera whose field of view excludes the
  fingers.

Scene state: before every capture the simulation runs until every object rests
(:meth:`PyBulletPickPlaceSim.settle`: linear speed below ``settle_speed`` and angular
speed below ``settle_angular_speed``, checked every ``settle_check_steps`` steps, at most
``settle_timeout`` seconds) and takes out the objects whose centre of mass left the
workspace box (``workspace_half_size`` around the pile centre, or fell off the table),
logging each in :attr:`PyBulletPickPlaceSim.events` with its reason.

One pick (:meth:`PyBulletPickPlaceSim.execute_pick`): teleport to the pre-grasp pose (any
contact there is a failure, ``collision_at_approach``), straight approach (blocked, or
touching the table or the bin: ``collision_at_approach``), close (no object between both
fingers: ``empty_close``), lift (the held object must have left the table: else
``slip``), transport over the bin, open, let everything settle. Success: the held object
ends in the bin by the footprint test :meth:`PyBulletPickPlaceSim.in_bin` (centre of mass
inside the bin's inner square and every vertex of its shape within ``bin_overhang`` of the
outer walls, seen from above, at any height, after it settled); a held object that is lost
before the bin is a ``slip``, one released over the bin that lands outside is
``missed_bin``; a motion refused by the safety limits is
``out_of_reach``; the physics step budget ``timeout``. ``wrong_object`` flags a held object
other than the planned target (the attempt still counts as a success if it ends in the
bin).

Deterministic: the same :class:`SimConfig` (seed included) and the same commands give the
same states, images and outcomes (pybullet DIRECT, fixed time step, no wall-clock input;
the depth noise is drawn from a generator seeded by the scene seed and the capture count).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .executor import (Executor, Observation, SafetyLimits, UnsafeCommandError,
                       check_pose_safe)
from .planner import GripperModel
from .transforms import invert_transform, make_transform, matrix_to_quaternion

__all__ = [
    'SimConfig', 'PyBulletPickPlaceSim', 'REALSENSE_D435_K', 'REALSENSE_D435_SIZE',
    'depth_buffer_to_metres', 'opengl_projection_from_K', 'opengl_view_from_pose',
    'T_TCP_CAM_DEFAULT', 'observation_tcp_pose', 'trapezoid_profile',
    'cos_incidence_from_depth', 'FAILURE_REASONS'
]

#: Failure reasons of an executed attempt (see the module docstring).
FAILURE_REASONS = ('collision_at_approach', 'empty_close', 'slip', 'missed_bin',
                   'out_of_reach', 'timeout', 'wall_timeout')
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



def trapezoid_profile(distance: float, max_speed: float, acceleration: float,
                      dt: float) -> np.ndarray:
    """Path positions of a straight-line motion with an acceleration ramp, one per step.

    Trapezoidal velocity profile from rest to rest: accelerate at ``acceleration`` up to
    ``max_speed``, cruise, decelerate (a triangle when the distance is too short to reach
    ``max_speed``).

    Args:
        distance: Path length, metres (>= 0).
        max_speed: Cruise speed, m/s (> 0).
        acceleration: Ramp acceleration, m/s^2 (> 0).
        dt: Time step, seconds.

    Returns:
        np.ndarray: float64 (n,) arc lengths at the end of each step, increasing, the last
        one exactly ``distance`` (n >= 1).
    """
    distance = float(distance)
    if distance <= 0:
        return np.zeros(1)
    v, a = float(max_speed), float(acceleration)
    t_ramp = v / a
    d_ramp = 0.5 * a * t_ramp ** 2
    if 2 * d_ramp >= distance:  # triangle
        t_ramp = np.sqrt(distance / a)
        v = a * t_ramp
        d_ramp = 0.5 * distance
        t_cruise = 0.0
    else:
        t_cruise = (distance - 2 * d_ramp) / v
    total = 2 * t_ramp + t_cruise
    n = max(int(np.ceil(total / dt)), 1)
    t = np.minimum(np.arange(1, n + 1) * dt, total)
    s = np.where(t < t_ramp, 0.5 * a * t ** 2,
                 np.where(t < t_ramp + t_cruise, d_ramp + v * (t - t_ramp),
                          distance - 0.5 * a * np.maximum(total - t, 0.0) ** 2))
    s[-1] = distance
    return np.maximum.accumulate(s)


def cos_incidence_from_depth(depth_m: np.ndarray, K: np.ndarray) -> np.ndarray:
    """|cos| of the angle between each pixel's viewing ray and its surface normal.

    Normals from the cross product of the back-projected points' image gradients; pixels
    without depth (or at a depth edge) get 1.

    Returns:
        np.ndarray: float32 (H, W) in [0, 1].
    """
    z = np.asarray(depth_m, np.float64)
    h, w = z.shape
    u = (np.arange(w) - K[0, 2]) / K[0, 0]
    v = (np.arange(h) - K[1, 2]) / K[1, 1]
    pts = np.stack([u[None, :] * z, v[:, None] * z, z], -1)
    du = np.gradient(pts, axis=1)
    dv = np.gradient(pts, axis=0)
    n = np.cross(du, dv)
    norm = np.linalg.norm(n, axis=-1)
    ray = pts / np.maximum(np.linalg.norm(pts, axis=-1, keepdims=True), 1e-12)
    cos = np.abs(np.sum(n * ray, -1)) / np.maximum(norm, 1e-12)
    bad = (z <= 0) | (norm <= 1e-12)
    return np.where(bad, 1.0, np.clip(cos, 0.0, 1.0)).astype(np.float32)


@dataclasses.dataclass
class SimConfig:
    """Simulation scene and protocol constants (base frame, metres, seconds).

    Attributes:
        seed: Seed of the object choice and placement.
        object_ids: Library ids to draw objects from (default: the ``'novel'`` set, never
            used for training), with replacement.
        shapes: ``'vhacd'`` (convex decomposition, default) or ``'hull'`` (one convex hull
            per object).
        time_step: Physics step, seconds.
        pile_center: (x, y) centre of the drop area.
        pile_half_size: Half side of the square drop area.
        workspace_half_size: Half side of the square (around ``pile_center``) whose objects
            count; an object whose centre of mass leaves it is taken out.
        drop_height: Height above the table of the first dropped object.
        bin_center: (x, y) centre of the bin.
        bin_half_size: Inner half side of the square bin.
        bin_wall_height: Height of the bin walls.
        bin_wall_thickness: Thickness of the bin walls.
        bin_overhang: How far beyond the outer walls an object in the bin may reach (seen
            from above), metres.
        camera_position: Camera centre at capture, base frame.
        image_scale: Scale of the D435 image size / intrinsics (0.5: 640 x 360).
        near: Near clipping plane, metres.
        far: Far clipping plane, metres.
        depth_noise: Sensor noise preset of :mod:`graspcontrast_mm.synthetic.depth_noise`
            (``'realsense'``, ``'kinect'``) or None (exact depth).
        approach_speed: Cruise speed of the approach, m/s.
        lift_speed: Cruise speed of the lift, m/s.
        transport_speed: Cruise speed of the transport to the bin, m/s.
        acceleration: Ramp of every straight-line motion, m/s^2.
        linear_speed: Deprecated single speed (when set, used for all three motions).
        finger_force: Closing force per finger, newtons.
        finger_friction: Lateral friction coefficient of the fingers.
        object_friction: Lateral friction coefficient of objects. Bullet multiplies the two:
            0.8 x 0.5 = 0.4 at a finger contact, so that a grasp whose contacts need more
            friction than that (off-centre, on rounded edges) slips, as it would on a real
            gripper; with the earlier 1.2 x 0.8 = 0.96 random grasps held nearly as well
            as good ones.
        object_mass: Mass of every object, kg.
        max_steps_per_attempt: Physics steps after which an attempt times out.
        lift_check_height: The held object's lowest point must be this high above the table
            after the lift (it left the table).
        empty_close_width: Jaw opening below which a closed gripper holds nothing, metres.
        settle_speed: Objects rest when their linear speed is below this, m/s.
        settle_angular_speed: ... and their angular speed below this, rad/s.
        settle_check_steps: Physics steps between two rest checks.
        settle_timeout: Longest wait for the objects to rest, seconds.
        release_steps: Steps with open jaws over the bin before the settle wait.
        sleep_threshold: Bullet deactivation threshold of objects (speeds below it for 2 s
            put an object to sleep until something touches it; 0: never). Resting piles
            then cost almost nothing per step.
        solver_iterations: Constraint solver iterations per step.
    """
    seed: int = 0
    object_ids: Optional[Tuple[int, ...]] = None
    shapes: str = 'vhacd'
    time_step: float = 1.0 / 240.0
    pile_center: Tuple[float, float] = (0.6, -0.1)
    pile_half_size: float = 0.11
    workspace_half_size: float = 0.24
    drop_height: float = 0.12
    bin_center: Tuple[float, float] = (0.6, 0.47)
    bin_half_size: float = 0.18
    bin_wall_height: float = 0.08
    bin_wall_thickness: float = 0.01
    bin_overhang: float = 0.02
    camera_position: Tuple[float, float, float] = (0.6, -0.1, 0.6)
    image_scale: float = 0.5
    near: float = 0.1
    far: float = 2.0
    depth_noise: Optional[str] = None
    approach_speed: float = 0.1
    lift_speed: float = 0.1
    transport_speed: float = 0.2
    acceleration: float = 0.5
    linear_speed: Optional[float] = None
    finger_force: float = 30.0
    finger_friction: float = 0.8
    object_friction: float = 0.5
    object_mass: float = 0.12
    max_steps_per_attempt: int = 8000
    lift_check_height: float = 0.01
    empty_close_width: float = 0.002
    settle_speed: float = 0.01
    settle_angular_speed: float = 0.2
    settle_check_steps: int = 30
    settle_timeout: float = 3.0
    release_steps: int = 60
    sleep_threshold: float = 0.05
    solver_iterations: int = 50


class _StepBudgetExceeded(RuntimeError):
    pass


class _AttemptOver(Exception):
    """Ends an attempt early with a failure reason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


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
        if self.config.shapes not in ('vhacd', 'hull'):
            raise ValueError(f"shapes must be 'vhacd' or 'hull', got {self.config.shapes!r}")
        self._p = pybullet
        self.client = pybullet.connect(pybullet.DIRECT)
        self._steps = 0
        self._step_budget: Optional[int] = None
        self.objects: Dict[int, dict] = {}  # body id -> info
        #: Scene events (objects taken out, settle time-outs), one dict each.
        self.events: List[Dict[str, Any]] = []
        self.scene_seed = int(self.config.seed)
        self.num_captures = 0
        #: float32 (H, W) noise-free depth of the last capture, metres (ground truth, for
        #: measures of the scene such as the graspability ceiling); None before one.
        self.last_exact_depth: Optional[np.ndarray] = None
        #: Render a picture of every failed attempt into ``execute_pick``'s result.
        self.capture_failure_pictures = False
        scale = self.config.image_scale
        self.width = int(round(REALSENSE_D435_SIZE[0] * scale))
        self.height = int(round(REALSENSE_D435_SIZE[1] * scale))
        self.K = REALSENSE_D435_K.copy()
        self.K[:2] *= scale
        self.T_tcp_cam = T_TCP_CAM_DEFAULT.copy()
        self._library = None
        self._shape_cache: Dict[int, Any] = {}
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
                                    numSolverIterations=int(c.solver_iterations),
                                    physicsClientId=self.client)
        self.table = self._box([0.5, 0.7, 0.025], [0.6, 0.0, -0.025])
        p.changeDynamics(self.table, -1, lateralFriction=0.6, physicsClientId=self.client)
        bx, by = c.bin_center
        h, t, wall = c.bin_half_size, c.bin_wall_thickness, c.bin_wall_height
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

    def _park_gripper(self) -> None:
        """Open the jaws and move the gripper far above the scene."""
        self._finger_target = self.gripper.max_width / 2
        self._opening = self.gripper.max_width
        self._teleport(make_transform(None, (0.0, 0.0, 2.0)))
        self._set_fingers(self._finger_target)

    def _object_shape(self, obj_id: int):
        """Collision / visual shape description of a library object (cached)."""
        if obj_id not in self._shape_cache:
            if self.config.shapes == 'vhacd':
                from .sim_objects import load_benchmark_object
                self._shape_cache[obj_id] = load_benchmark_object(obj_id,
                                                                  library=self._get_library())
            else:
                hull = self._get_library().get(obj_id).trimesh().convex_hull
                self._shape_cache[obj_id] = (np.asarray(hull.vertices, np.float64),
                                             np.asarray(hull.faces, np.int64))
        return self._shape_cache[obj_id]

    def _get_library(self):
        if self._library is None:
            from graspcontrast_mm.synthetic.objects import ObjectLibrary
            self._library = ObjectLibrary()
        return self._library

    def object_parts(self, body: int) -> List[np.ndarray]:
        """World-frame convex parts of an object's collision shape (float64 (V_i, 3) each,
        base frame, metres; one part for ``shapes='hull'``)."""
        shape = self._object_shape(self.objects[body]['obj_id'])
        parts = [shape[0]] if isinstance(shape, tuple) else shape.parts
        pos, orn = self._p.getBasePositionAndOrientation(body, physicsClientId=self.client)
        R = np.asarray(self._p.getMatrixFromQuaternion(orn), np.float64).reshape(3, 3)
        return [p @ R.T + np.asarray(pos) for p in parts]

    def object_triangles(self, body: int) -> Tuple[np.ndarray, np.ndarray]:
        """World-frame triangles of an object's collision shape (parts' hulls).

        Returns:
            tuple: float64 (V, 3) vertices (base frame, metres) and int64 (F, 3) faces.
        """
        info = self.objects[body]
        shape = self._object_shape(info['obj_id'])
        if isinstance(shape, tuple):
            verts, faces = shape
        else:
            if 'triangles' not in info:
                info['triangles'] = shape.triangles()
            verts, faces = info['triangles']
        pos, orn = self._p.getBasePositionAndOrientation(body, physicsClientId=self.client)
        R = np.asarray(self._p.getMatrixFromQuaternion(orn), np.float64).reshape(3, 3)
        return verts @ R.T + np.asarray(pos), faces

    def _create_object(self, obj_id: int, pos, orn, colour) -> int:
        p, c, cid = self._p, self.config, self.client
        shape = self._object_shape(obj_id)
        if isinstance(shape, tuple):
            verts, faces = shape
            col = p.createCollisionShape(p.GEOM_MESH, vertices=verts.tolist(),
                                         physicsClientId=cid)
            vis = p.createVisualShape(p.GEOM_MESH, vertices=verts.tolist(),
                                      indices=faces.reshape(-1).tolist(), rgbaColor=colour,
                                      physicsClientId=cid)
        else:
            scale = [shape.scale] * 3
            col = p.createCollisionShape(p.GEOM_MESH, fileName=shape.obj_path,
                                         meshScale=scale, physicsClientId=cid)
            vis = p.createVisualShape(p.GEOM_MESH, fileName=shape.obj_path, meshScale=scale,
                                      rgbaColor=colour, physicsClientId=cid)
        body = p.createMultiBody(c.object_mass, col, vis, basePosition=list(pos),
                                 baseOrientation=list(orn), physicsClientId=cid)
        p.changeDynamics(body, -1, lateralFriction=c.object_friction,
                         rollingFriction=0.001, spinningFriction=0.001,
                         physicsClientId=cid)
        if c.sleep_threshold > 0:  # resting objects stop costing solver time
            p.changeDynamics(body, -1, activationState=p.ACTIVATION_STATE_ENABLE_SLEEPING,
                             sleepThreshold=c.sleep_threshold, physicsClientId=cid)
        return body

    def object_ids_pool(self) -> Tuple[int, ...]:
        """Library ids objects are drawn from."""
        if self.config.object_ids:
            return tuple(int(i) for i in self.config.object_ids)
        from graspcontrast_mm.synthetic.objects import object_ids_of_set
        return object_ids_of_set('novel')

    def reset_scene(self, num_objects: int, seed: Optional[int] = None) -> List[int]:
        """Remove all objects, drop ``num_objects`` new ones onto the pile area, wait until
        they rest and take out those that left the workspace (logged in :attr:`events`).

        Args:
            num_objects: Number of objects.
            seed: Placement seed (default ``config.seed``).

        Returns:
            list: pybullet body ids of the objects still on the table.
        """
        p, c, cid = self._p, self.config, self.client
        # a fresh physics world: the scene of a seed does not depend on what ran before
        # (body ids, contact caches and solver state would otherwise carry over)
        self._build_static_scene()
        self._build_gripper()
        self.objects = {}
        self.events = []
        self.num_captures = 0
        self.last_exact_depth = None
        self._step_budget = None
        self._park_gripper()
        self.scene_seed = int(c.seed if seed is None else seed)
        rng = np.random.default_rng(np.random.SeedSequence([self.scene_seed,
                                                            int(num_objects)]))
        pool = self.object_ids_pool()
        ids = rng.choice(pool, size=num_objects, replace=True)
        for k, obj_id in enumerate(ids):
            colour = list(rng.uniform(0.2, 0.9, 3)) + [1.0]
            xy = np.asarray(c.pile_center) + rng.uniform(-c.pile_half_size,
                                                         c.pile_half_size, 2)
            q = rng.normal(size=4)
            q /= np.linalg.norm(q)
            body = self._create_object(int(obj_id), [xy[0], xy[1], c.drop_height + 0.02 * k],
                                       q.tolist(), colour)
            self.objects[body] = dict(obj_id=int(obj_id), state='table', attempts=0,
                                      consecutive_failures=0)
            self._step(90)
        self.settle_scene(phase='scene_setup')
        return self.remaining()

    # ------------------------------------------------------------------ state
    def object_position(self, body: int) -> np.ndarray:
        """float64 (3,) position of an object's centre of mass, base frame."""
        pos, _ = self._p.getBasePositionAndOrientation(body, physicsClientId=self.client)
        return np.asarray(pos, np.float64)

    def in_bin(self, body: int) -> bool:
        """Footprint test: the object's centre of mass lies inside the bin's inner square
        and every vertex of its shape within ``bin_overhang`` of the outer walls (seen
        from above, any height: an object resting on another one in the bin is in)."""
        c = self.config
        pos = self.object_position(body)
        centre = np.asarray(c.bin_center)
        if not (np.all(np.abs(pos[:2] - centre) <= c.bin_half_size) and pos[2] > -0.05):
            return False
        verts, _ = self.object_triangles(body)  # the true shape, not the loose AABB
        outer = c.bin_half_size + c.bin_wall_thickness + c.bin_overhang
        return bool(np.all(np.abs(verts[:, :2] - centre) <= outer))

    def in_workspace(self, body: int) -> bool:
        """Whether an object's centre of mass is inside the workspace box on the table."""
        c = self.config
        pos = self.object_position(body)
        d = np.abs(pos[:2] - np.asarray(c.pile_center))
        return bool(np.all(d <= c.workspace_half_size) and pos[2] > -0.02)

    def _update_states(self, phase: str = '') -> List[Dict[str, Any]]:
        """Move table objects that are in the bin to ``'bin'`` and take out those that left
        the workspace (``'left_workspace'``). Returns the new events."""
        new = []
        for body, info in self.objects.items():
            if info['state'] != 'table':
                continue
            if self.in_bin(body):
                info['state'] = 'bin'
            elif not self.in_workspace(body):
                pos = self.object_position(body)
                event = dict(event='left_workspace', body=int(body), obj_id=info['obj_id'],
                             phase=phase, position=np.round(pos, 4).tolist(),
                             reason='centre of mass outside the workspace box'
                             if pos[2] > -0.02 else 'fell off the table')
                self.remove_object(body, 'left_workspace')
                self.events.append(event)
                new.append(event)
        return new

    def resting(self) -> Tuple[bool, float, float]:
        """Whether every object in the scene rests; the largest linear (m/s) and angular
        (rad/s) speed."""
        lin, ang = 0.0, 0.0
        for body, info in self.objects.items():
            if info['state'] in ('removed', 'abandoned', 'left_workspace'):
                continue
            v, w = self._p.getBaseVelocity(body, physicsClientId=self.client)
            lin = max(lin, float(np.linalg.norm(v)))
            ang = max(ang, float(np.linalg.norm(w)))
        c = self.config
        return (lin < c.settle_speed and ang < c.settle_angular_speed), lin, ang

    def settle(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Step until every object rests (or ``timeout`` simulated seconds passed).

        Returns:
            dict: ``resting`` (bool), ``steps``, ``seconds``, ``max_speed`` (m/s) and
            ``max_angular_speed`` (rad/s) at the end.
        """
        c = self.config
        timeout = c.settle_timeout if timeout is None else float(timeout)
        budget = int(np.ceil(timeout / c.time_step))
        steps = 0
        ok, lin, ang = self.resting()
        while not ok and steps < budget:
            n = min(c.settle_check_steps, budget - steps)
            self._step(n)
            steps += n
            ok, lin, ang = self.resting()
        if ok and c.sleep_threshold > 0:  # asleep until touched: resting piles cost nothing
            for body, info in self.objects.items():
                if info['state'] in ('table', 'bin'):
                    self._p.changeDynamics(body, -1,
                                           activationState=self._p.ACTIVATION_STATE_SLEEP,
                                           physicsClientId=self.client)
        return dict(resting=bool(ok), steps=steps, seconds=round(steps * c.time_step, 4),
                    max_speed=round(lin, 5), max_angular_speed=round(ang, 5))

    def settle_scene(self, phase: str = 'capture') -> Dict[str, Any]:
        """Wait for rest, take out objects that left the workspace, repeat while any did
        (VGN's ``remove_and_wait``). Logs a settle time-out in :attr:`events`.

        Returns:
            dict: the last :meth:`settle` result plus ``left_workspace`` (events).
        """
        left: List[Dict[str, Any]] = []
        total = 0
        while True:
            info = self.settle()
            total += info['steps']
            new = self._update_states(phase)
            left.extend(new)
            if not new:
                break
        info['steps'] = total
        info['seconds'] = round(total * self.config.time_step, 4)
        if not info['resting']:
            self.events.append(dict(event='settle_timeout', phase=phase,
                                    max_speed=info['max_speed'],
                                    max_angular_speed=info['max_angular_speed']))
        info['left_workspace'] = left
        return info

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

    def _contacts(self, link: Optional[int] = None) -> List[Tuple[int, int]]:
        """(other body, its link) pairs touching the gripper (or one of its links)."""
        kw = dict(bodyA=self.gripper_id, physicsClientId=self.client)
        if link is not None:
            kw['linkIndexA'] = link
        return [(int(c[2]), int(c[4])) for c in self._p.getContactPoints(**kw)]

    def held_objects(self) -> List[int]:
        """Table / moving objects touched by both fingers."""
        left = {b for b, _ in self._contacts(0)}
        right = {b for b, _ in self._contacts(1)}
        return sorted(b for b in left & right if b in self.objects)

    def camera_pose(self) -> np.ndarray:
        """float64 (4, 4) ``T_base_cam`` of every capture (the observation pose)."""
        return self.T_base_tcp_home @ self.T_tcp_cam

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
        self.last_exact_depth = depth
        if c.depth_noise:
            depth = self._noisy(depth)
        self.num_captures += 1
        self._teleport(T_base_tcp)
        return Observation(depth_m=depth, K=self.K.copy(), T_base_ee=T_base_tcp.copy(),
                           T_base_cam=T_base_cam, stamp=self._steps * c.time_step)

    def _noisy(self, depth: np.ndarray) -> np.ndarray:
        """The data generator's sensor noise model on an exact depth image (metres)."""
        from graspcontrast_mm.synthetic.depth_noise import NOISE_PRESETS, apply_depth_noise
        if self.config.depth_noise not in NOISE_PRESETS:
            raise ValueError(f'unknown depth_noise {self.config.depth_noise!r}; expected one '
                             f'of {sorted(NOISE_PRESETS)} or None')
        rng = np.random.default_rng(np.random.SeedSequence(
            [int(self.config.seed), self.scene_seed, self.num_captures, 7]))
        mm = apply_depth_noise(depth, cos_incidence_from_depth(depth, self.K), rng,
                               NOISE_PRESETS[self.config.depth_noise])
        return mm.astype(np.float32) / 1000.0

    def _speed(self, kind: str) -> float:
        c = self.config
        if c.linear_speed is not None:
            return float(c.linear_speed)
        return float(dict(approach=c.approach_speed, lift=c.lift_speed,
                          transport=c.transport_speed)[kind])

    def _move_to(self, T_base_tcp: np.ndarray, *, linear: bool, speed: Optional[float] = None,
                 watch: Optional[callable] = None) -> bool:
        if not linear:
            self._teleport(T_base_tcp)
            self._step(5)
            return True
        p, c = self._p, self.config
        start = self._tcp.copy()
        delta = T_base_tcp[:3, 3] - start[:3, 3]
        dist = float(np.linalg.norm(delta))
        path = trapezoid_profile(dist, speed or self._speed('approach'), c.acceleration,
                                 c.time_step)
        q0 = matrix_to_quaternion(start[:3, :3])
        q1 = matrix_to_quaternion(T_base_tcp[:3, :3])
        for s in path:
            f = s / dist if dist > 0 else 1.0
            pos = start[:3, 3] + f * delta
            q = _nlerp(q0, q1, f)
            p.changeConstraint(self.constraint, pos.tolist(), q.tolist(), maxForce=2000,
                               physicsClientId=self.client)
            self._step(1)
            if watch is not None:
                watch()
        self._step(10)
        self._tcp = T_base_tcp.copy()
        pos, orn = p.getBasePositionAndOrientation(self.gripper_id, physicsClientId=self.client)
        return bool(np.linalg.norm(np.asarray(pos) - T_base_tcp[:3, 3]) < 0.01)

    def _linear(self, T_base_tcp: np.ndarray, kind: str, watch=None) -> bool:
        """Checked straight-line motion at the speed of ``kind``."""
        T = check_pose_safe(T_base_tcp, self.limits, self.gripper, self._opening)
        return self._move_to(T, linear=True, speed=self._speed(kind), watch=watch)

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

    def snapshot(self, size: Tuple[int, int] = (480, 360)) -> np.ndarray:
        """uint8 (H, W, 3) RGB picture of the scene from an oblique camera (TinyRenderer)."""
        p, c = self._p, self.config
        target = [c.pile_center[0], 0.5 * (c.pile_center[1] + c.bin_center[1]), 0.05]
        view = p.computeViewMatrixFromYawPitchRoll(target, 0.9, 90.0, -35.0, 0.0, 2,
                                                   physicsClientId=self.client)
        proj = p.computeProjectionMatrixFOV(60.0, size[0] / size[1], 0.05, 3.0,
                                            physicsClientId=self.client)
        img = p.getCameraImage(size[0], size[1], viewMatrix=view, projectionMatrix=proj,
                               renderer=p.ER_TINY_RENDERER, physicsClientId=self.client)
        return np.reshape(np.asarray(img[2], np.uint8), (size[1], size[0], 4))[..., :3].copy()

    # ------------------------------------------------------------------ one pick
    def execute_pick(self, plan, *, target: Optional[int] = None,
                     drop_height: float = 0.22) -> Dict[str, Any]:
        """Run pre-grasp -> approach -> close -> lift -> over the bin -> release -> settle.

        Args:
            plan: A :class:`~robot_integration.planner.PlannedGrasp`.
            target: The body the grasp was planned for (for the ``wrong_object`` flag).
            drop_height: TCP height above the table when releasing over the bin.

        Returns:
            dict: ``success`` (a held object ended in the bin), ``failure_reason`` (one of
            :data:`FAILURE_REASONS` or None), ``held`` (bodies between both fingers after
            closing), ``wrong_object``, ``lifted``, ``opening_after_close`` (m),
            ``new_in_bin`` (bodies that entered the bin), ``left_workspace`` (events),
            ``settle`` (the final :meth:`settle_scene`), ``timeout``, ``steps`` and, with
            :attr:`capture_failure_pictures`, ``picture`` (uint8 RGB) for a failure.
        """
        c = self.config
        before = {b for b, i in self.objects.items() if i['state'] == 'bin'}
        self._step_budget = self._steps + c.max_steps_per_attempt
        start_steps = self._steps
        out: Dict[str, Any] = dict(success=False, failure_reason=None, held=[],
                                   wrong_object=False, lifted=False,
                                   opening_after_close=None, timeout=False)
        static = set(self.bin_parts) | {self.table}
        held: List[int] = []
        try:
            try:
                self.open_gripper(plan.open_width)
                # free motion to the pre-grasp pose (a teleport), checked for contacts
                # before any physics step can push something away
                pre = check_pose_safe(plan.pre_grasp, self.limits, self.gripper,
                                      self._opening)
                self._teleport(pre)
                self._p.performCollisionDetection(physicsClientId=self.client)
                if self._contacts():
                    raise _AttemptOver('collision_at_approach')
                self._step(5)

                def watch_static():
                    if any(b in static for b, _ in self._contacts()):
                        raise _AttemptOver('collision_at_approach')

                reached = self._linear(plan.grasp, 'approach', watch=watch_static)
                if not reached:
                    raise _AttemptOver('collision_at_approach')
                out['opening_after_close'] = self.close_gripper()
                held = self.held_objects()
                out['held'] = held
                if out['opening_after_close'] < c.empty_close_width or not held:
                    raise _AttemptOver('empty_close')
                out['wrong_object'] = target is not None and target not in held
                self._linear(plan.lift, 'lift')
                held = [b for b in held if b in self.held_objects()]
                lifted = [b for b in held if self._p.getAABB(
                    b, physicsClientId=self.client)[0][2] > c.lift_check_height]
                out['lifted'] = bool(lifted)
                if not lifted:
                    raise _AttemptOver('slip')
                over_bin = plan.lift.copy()
                over_bin[:2, 3] = c.bin_center
                over_bin[2, 3] = max(drop_height, plan.lift[2, 3])
                self._linear(over_bin, 'transport')
                still = [b for b in lifted if b in self.held_objects()]
                self.open_gripper(self.gripper.max_width)
                self._step(c.release_steps)
                self._park_gripper()
                out['settle'] = self.settle_scene(phase='attempt')
                out['left_workspace'] = out['settle'].pop('left_workspace')
                if any(self.objects[b]['state'] == 'bin' for b in lifted):
                    out['success'] = True
                else:
                    out['failure_reason'] = 'missed_bin' if still else 'slip'
            except _AttemptOver as stop:
                out['failure_reason'] = stop.reason
            except UnsafeCommandError as err:
                out['failure_reason'] = 'out_of_reach'
                out['refused'] = str(err)
            if out['failure_reason'] is not None and self.capture_failure_pictures:
                out['picture'] = self.snapshot()
        except _StepBudgetExceeded:
            out['timeout'] = True
            out['failure_reason'] = 'timeout'
            out['success'] = False
        finally:
            self._step_budget = None
            self._park_gripper()
        if 'settle' not in out:
            out['settle'] = self.settle_scene(phase='attempt')
            out['left_workspace'] = out['settle'].pop('left_workspace')
        after = {b for b, i in self.objects.items() if i['state'] == 'bin'}
        out['new_in_bin'] = sorted(after - before)
        out['held'] = [int(b) for b in out['held']]
        out['steps'] = self._steps - start_steps
        return out


def _nlerp(q0: np.ndarray, q1: np.ndarray, s: float) -> np.ndarray:
    if np.dot(q0, q1) < 0:
        q1 = -q1
    q = (1 - s) * q0 + s * q1
    return q / np.linalg.norm(q)
