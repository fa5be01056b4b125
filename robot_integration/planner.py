"""Grasp planner: camera-frame grasp rows -> safe, ranked robot poses (pure numpy).

Input: graspnetAPI 17-float grasp rows in the camera frame (``T_cam_grasp``, origin at the
grasp point, x = approach, y = closing direction; see
:mod:`graspcontrast_mm.structures.grasp`), the camera pose in the robot base frame (fixed
``T_base_cam``, or eye-in-hand ``T_base_ee @ T_ee_cam`` with the end-effector pose at capture
time) and optionally the observed point cloud (camera frame) for collision checking.

Output: the best :class:`PlannedGrasp` (pre-grasp, grasp and lift poses of the tool centre
point, ``T_base_tcp`` (4, 4), plus the jaw opening), or a :class:`PlanningFailure` that
counts why every candidate was rejected. The planner never returns a pose that failed a
filter.

Tool centre point (TCP) frame: the gripper axes of graspnetAPI (x = approach, y = closing,
z = x cross y), origin at the middle of the finger tips, i.e. ``depth`` metres along the
approach from the grasp point: ``T_base_tcp = T_base_grasp @ translation(depth, 0, 0)``.
The fingers extend from the tips back to ``x = -finger_length``; the palm lies behind them.

Filters, applied in this order; a grasp is counted under the first filter it fails, so the
counts of a :class:`PlanningFailure` add up to the number of candidates:

===================== ==================================================================
``invalid_grasp``     non-finite values, a rotation off by more than ``ROTATION_ATOL``
                      (:mod:`robot_integration.transforms`, the executor's limit too),
                      width <= 0, depth < 0
``too_wide``          width larger than the gripper's maximum opening
``outside_workspace`` grasp point or TCP outside the workspace box (base frame)
``approach_angle``    approach more than ``max_approach_angle_deg`` from straight down
``below_table``       a gripper box corner (at the grasp pose, jaws open) lower than
                      ``table_height + table_clearance``
``collision``         more than ``collision_max_points`` observed points inside the fingers
                      or the palm (each point counted once), swept back along the
                      approach to the pre-grasp pose
``empty``             fewer than ``min_points_between_fingers`` points between the jaws
===================== ==================================================================
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from graspcontrast_mm.structures.frames import transform_points
from graspcontrast_mm.structures.grasp import (GRASP_ARRAY_LEN, GRASP_HEIGHT,
                                               GRASP_MAX_WIDTH, transform_grasp_array)
from graspcontrast_mm.structures.gripper import ParallelJawGripper, points_in_box
from graspcontrast_mm.structures.points import voxelize

from .transforms import (ROTATION_ATOL, RigidTransformError, check_rigid_transform,
                         nearest_rotation, translation_matrix, valid_rotations)

__all__ = [
    'GripperModel', 'PlannerConfig', 'PlannedGrasp', 'PlanningFailure', 'GraspPlanner',
    'FILTERS', 'InvalidCameraPoseError', 'check_camera_pose', 'tcp_poses_from_grasps',
    'voxel_downsample', 'segment_objects', 'centre_offsets', 'jaw_contact',
    'PLANNER_PRESETS'
]

#: Names of the planner filters, in the order they are applied.
FILTERS = ('invalid_grasp', 'too_wide', 'outside_workspace', 'approach_angle',
           'below_table', 'collision', 'empty', 'shallow', 'edge', 'face_angle')

_DOWN = np.array([0.0, 0.0, -1.0])


class InvalidCameraPoseError(ValueError):
    """The camera pose in the base frame is not rigid or not physically plausible."""


@dataclasses.dataclass(frozen=True)
class GripperModel:
    """The robot's parallel-jaw gripper in the TCP frame (metres).

    A :class:`~graspcontrast_mm.structures.gripper.ParallelJawGripper` (:attr:`model`)
    with fixed-length fingers and a palm spanning the maximum opening, seen from the TCP
    frame: x = approach, y = closing direction, z = x cross y, origin at the middle of the
    finger tips (the gripper frame of a grasp of depth 0). Each finger is the open box
    ``-finger_length < x < 0``, ``|z| < finger_height / 2``, on one side of the jaw gap
    ``|y| <= opening / 2``; the palm is ``-finger_length - palm_depth < x <
    -finger_length``, ``|y| < max_width / 2 + finger_thickness``, ``|z| < palm_height / 2``.
    Points are tested with the structures' convention (open boxes, see
    :mod:`graspcontrast_mm.structures.gripper`).

    Attributes:
        max_width: Maximum jaw opening, metres.
        finger_length: Finger length along the approach, metres.
        finger_thickness: Finger size along the closing direction, metres.
        finger_height: Finger size along the gripper z axis, metres.
        palm_depth: Palm size along the approach, metres.
        palm_height: Palm size along the gripper z axis, metres.
    """
    max_width: float = GRASP_MAX_WIDTH
    finger_length: float = 0.06
    finger_thickness: float = 0.01
    finger_height: float = GRASP_HEIGHT
    palm_depth: float = 0.02
    palm_height: float = 0.04

    @property
    def model(self) -> ParallelJawGripper:
        """The gripper as the package's :class:`ParallelJawGripper`."""
        return ParallelJawGripper(finger_width=self.finger_thickness,
                                  height=self.finger_height, max_width=self.max_width,
                                  finger_length=self.finger_length,
                                  palm_depth=self.palm_depth,
                                  palm_width=self.max_width + 2 * self.finger_thickness,
                                  palm_height=self.palm_height)

    def boxes(self, opening: float, sweep: float = 0.0) -> Dict[str, np.ndarray]:
        """Boxes of the gripper in the TCP frame (:meth:`ParallelJawGripper.boxes`).

        Args:
            opening: Jaw opening, metres.
            sweep: Extra length added behind every box along ``-x`` (the volume swept while
                approaching from ``sweep`` metres back), metres.

        Returns:
            dict: ``{'left_finger' | 'right_finger' | 'palm': float64 (2, 3) [lo, hi]}``.
        """
        out = self.model.boxes(float(opening), 0.0)
        for box in out.values():
            box[0, 0] -= sweep
        return out

    def closing_region(self, opening: float) -> np.ndarray:
        """float64 (2, 3) ``[lo, hi]`` box between the jaws in the TCP frame, metres."""
        return self.model.closing_box(float(opening), 0.0)

    def points_between_jaws(self, points_tcp: np.ndarray, opening: float) -> np.ndarray:
        """bool (N,): TCP-frame points in the closing region (its ``|y| = opening / 2``
        faces included)."""
        return self.model.contains(points_tcp, float(opening), 0.0)['closing']

    def corners(self, opening: float) -> np.ndarray:
        """float64 (24, 3) corners of the three gripper boxes in the TCP frame, metres."""
        out = []
        for lo, hi in self.boxes(opening).values():
            for ix in (0, 1):
                for iy in (0, 1):
                    for iz in (0, 1):
                        out.append([(lo, hi)[ix][0], (lo, hi)[iy][1], (lo, hi)[iz][2]])
        return np.asarray(out)


@dataclasses.dataclass
class PlannerConfig:
    """Limits and preferences of :class:`GraspPlanner` (base frame, metres, degrees).

    Attributes:
        table_height: z of the table top in the base frame, metres.
        table_clearance: Smallest allowed height of any gripper box corner above the table.
        workspace_min: (3,) lower corner of the box that grasp points and TCPs must lie in.
        workspace_max: (3,) upper corner of that box.
        max_approach_angle_deg: Largest angle between the approach and straight down
            (35: chosen on the benchmark's seed-1 scenes, robot_integration/README.md;
            GSNet's view grid then allows approaches up to 29.5 degrees).
        width_margin: Extra opening added to the predicted width before the approach.
        pre_grasp_distance: Retreat of the pre-grasp pose along ``-approach``, metres.
        lift_height: Height of the lift pose above the grasp pose (base z), metres.
        collision_max_points: Largest number of observed points tolerated inside the
            gripper boxes (sensor noise).
        min_points_between_fingers: Fewest observed points between the jaws (0: off).
        min_grip_depth: Smallest distance along the approach from the highest observed
            point between the jaws down to the finger tips (``-x_lo`` of
            :func:`jaw_contact`), metres: how far the fingers reach down the side of what
            they hold; grasps with less are rejected as ``shallow`` (0: off). Needs the
            cloud.
        min_pad_cover: Smallest share of the finger pads' width (the gripper z axis)
            spanned by the observed points between the jaws (``pad_cover`` of
            :func:`jaw_contact`); grasps with less hold the object's edge or corner with
            part of the pads and are rejected as ``edge`` (0: off). Needs the cloud.
        max_face_angle_deg: Largest ``face_angle_deg`` of :func:`jaw_contact` (the angle
            between the closing axis and the held faces seen in the pads' plane); grasps
            beyond it close on faces their contacts cannot hold by friction (a box closed
            along its diagonal) and are rejected as ``face_angle`` (90: off). Needs the
            cloud.
        deepen_shallow_grasps: With ``min_grip_depth``, first try moving a shallow grasp
            further along its approach by the missing depth (the grasp point stays, the
            grasp depth grows); the moved grasp is kept when it stays in the workspace,
            above the table and passes the collision / emptiness checks.
        check_collision: Run the collision / emptiness filters when a cloud is given.
        cloud_voxel_size: Voxel size of the cloud downsampling before the checks, metres
            (0: off).
        max_collision_checks: Largest number of candidates (best first) that are collision
            checked; the rest count as ``not_checked``.
        min_camera_height: Smallest height of the camera above the table, metres.
        max_camera_tilt_deg: Largest angle between the optical axis and straight down.
        score_weight: Weight of the grasp score in the ranking.
        verticality_weight: Weight of ``cos(approach angle from straight down)``.
        height_weight: Weight of the TCP height above the table (per metre).
        centre_weight: Penalty per metre of :attr:`PlannedGrasp.centre_offset`, the
            horizontal distance from the TCP to the centroid of the observed object segment
            the grasp point lies on (:func:`segment_objects`); needs the cloud (0: off).
            Grasp labels of GraspNet score the contacts only, not where the object's mass
            lies; an off-centre grasp of a wide object tends to close on its edge. The
            offset is computed, and recorded on the plan, whenever a cloud is given (about
            10 ms per call for 20 000 points), whatever the weight.
        held_span_weight: Penalty per metre of the held span, the extent along the closing
            axis of the observed points between the jaws (``y_hi - y_lo`` of
            :func:`jaw_contact`); needs the cloud (0: off). A wide span means contacts far
            apart on a curved or long object; the geometric baseline prefers narrow grasps
            for the same reason. With a weight every candidate up to
            ``max_collision_checks`` is measured before the ranking.
        segment_voxel_size: Voxel edge of the object segmentation, metres.
        segment_min_height: Points less than this above the table are not part of any
            object segment, metres.
        center_jaws_on_points: Move an accepted grasp along its closing axis so that the
            jaws are centred on the observed points between them (midpoint of their extent
            along the closing axis), when the moved grasp passes the same checks; off by
            default (the benchmark's tables are recorded without it).
    """
    table_height: float = 0.0
    table_clearance: float = 0.005
    workspace_min: Tuple[float, float, float] = (0.25, -0.35, -0.05)
    workspace_max: Tuple[float, float, float] = (0.95, 0.35, 0.40)
    max_approach_angle_deg: float = 35.0
    width_margin: float = 0.02
    pre_grasp_distance: float = 0.10
    lift_height: float = 0.20
    collision_max_points: int = 3
    min_points_between_fingers: int = 5
    min_grip_depth: float = 0.02
    deepen_shallow_grasps: bool = True
    min_pad_cover: float = 0.9
    max_face_angle_deg: float = 40.0
    check_collision: bool = True
    cloud_voxel_size: float = 0.003
    max_collision_checks: int = 300
    min_camera_height: float = 0.10
    max_camera_tilt_deg: float = 80.0
    score_weight: float = 1.0
    verticality_weight: float = 0.0
    height_weight: float = 0.0
    centre_weight: float = 0.0
    held_span_weight: float = 10.0
    segment_voxel_size: float = 0.006
    segment_min_height: float = 0.008
    center_jaws_on_points: bool = False

    def __post_init__(self) -> None:
        """Reject settings that would make every plan fail, or pass, for the wrong reason."""
        problems = []
        for name in ('table_height', 'score_weight', 'verticality_weight', 'height_weight'):
            if not np.isfinite(getattr(self, name)):
                problems.append(f'{name} must be finite')
        for name in ('table_clearance', 'width_margin', 'pre_grasp_distance',
                     'cloud_voxel_size', 'min_camera_height', 'centre_weight',
                     'segment_min_height', 'min_grip_depth', 'held_span_weight'):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                problems.append(f'{name} must be a finite number >= 0 (metres)')
        for name in ('lift_height', 'segment_voxel_size'):
            if not (np.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                problems.append(f'{name} must be > 0 (metres)')
        if not 0 < self.max_face_angle_deg <= 90:
            problems.append('max_face_angle_deg must be in (0, 90] degrees (90: off)')
        for name in ('max_approach_angle_deg', 'max_camera_tilt_deg'):
            if not 0 <= getattr(self, name) <= 180:
                problems.append(f'{name} must be in [0, 180] degrees')
        if not 0 <= self.min_pad_cover <= 1:
            problems.append('min_pad_cover must be in [0, 1] (a share of the pad width)')
        for name in ('collision_max_points', 'min_points_between_fingers'):
            if getattr(self, name) < 0:
                problems.append(f'{name} must be >= 0')
        if self.max_collision_checks < 1:
            problems.append('max_collision_checks must be >= 1')
        lo = np.asarray(self.workspace_min, dtype=float)
        hi = np.asarray(self.workspace_max, dtype=float)
        if lo.shape != (3, ) or hi.shape != (3, ) or not np.all(np.isfinite(lo)) or \
                not np.all(np.isfinite(hi)) or not np.all(lo < hi):
            problems.append('workspace_min / workspace_max must be finite 3-vectors with '
                            'min < max on every axis')
        if problems:
            raise ValueError('PlannerConfig: ' + '; '.join(problems))


#: Named sets of :class:`PlannerConfig` fields (``pick_and_place.py --planner-preset``).
#: ``no_jaw_checks``: the planner without the checks of what the jaws hold (grip depth,
#: pad cover, face angle) and without the narrow-hold ranking: reachability, approach
#: angle, collisions and the emptiness test only. Random candidates pass it mostly at
#: random, which is what the benchmark's calibration (random SR <= 40 %) needs; the
#: default planner selects among random candidates like a geometric grasp planner
#: (robot_integration/README.md).
PLANNER_PRESETS = {
    'default': {},
    'no_jaw_checks': dict(min_grip_depth=0.0, min_pad_cover=0.0, held_span_weight=0.0,
                          max_face_angle_deg=90.0),
}


@dataclasses.dataclass
class PlannedGrasp:
    """A grasp that passed every filter, as robot poses.

    Attributes:
        index: Row of the grasp in the planner input.
        score: Score of the grasp source.
        rank_value: Value the candidates were sorted by (score plus preferences).
        width: Predicted object width between the jaws, metres.
        open_width: Jaw opening for the approach, metres.
        approach_angle_deg: Angle of the approach from straight down, degrees.
        pre_grasp: float64 (4, 4) ``T_base_tcp`` before the straight-line approach.
        grasp: float64 (4, 4) ``T_base_tcp`` at which the jaws close.
        lift: float64 (4, 4) ``T_base_tcp`` after lifting straight up.
        grasp_row_base: float32 (17,) the grasp row expressed in the base frame.
        num_candidates: Number of input rows.
        centre_offset: Horizontal distance (base frame, metres) from the TCP to the
            centroid of the observed object segment under the grasp point; None without
            a cloud or without object points.
        jaw_contact: What the jaws hold of the observed cloud (:func:`jaw_contact`: point
            count and extents in the TCP frame, metres); None without a cloud.
    """
    index: int
    score: float
    rank_value: float
    width: float
    open_width: float
    approach_angle_deg: float
    pre_grasp: np.ndarray
    grasp: np.ndarray
    lift: np.ndarray
    grasp_row_base: np.ndarray
    num_candidates: int = 0
    centre_offset: Optional[float] = None
    jaw_contact: Optional[Dict[str, float]] = None
    ok: bool = dataclasses.field(default=True, init=False)

    def to_dict(self) -> dict:
        """JSON-friendly copy (poses as nested lists)."""
        out = dataclasses.asdict(self)
        for key in ('pre_grasp', 'grasp', 'lift', 'grasp_row_base'):
            out[key] = np.asarray(out[key]).round(6).tolist()
        return out


@dataclasses.dataclass
class PlanningFailure:
    """Why no grasp can be executed. Carries no pose.

    Attributes:
        reason: ``'no_candidates'`` (the source returned nothing), ``'all_rejected'`` (every
            candidate failed a filter), ``'invalid_camera_pose'`` or ``'invalid_input'``.
        message: Human-readable explanation.
        counts: Rejected candidates per filter (:data:`FILTERS` plus ``not_checked``).
        num_candidates: Number of input rows.
    """
    reason: str
    message: str = ''
    counts: Dict[str, int] = dataclasses.field(default_factory=dict)
    num_candidates: int = 0
    ok: bool = dataclasses.field(default=False, init=False)

    def to_dict(self) -> dict:
        """JSON-friendly copy."""
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        parts = ', '.join(f'{k}={v}' for k, v in self.counts.items() if v)
        out = f'PlanningFailure({self.reason}): {self.message}'
        if self.num_candidates:
            out += f' [{self.num_candidates} candidates; rejected: {parts or "none"}]'
        return out


def check_camera_pose(T_base_cam, *, table_height: float = 0.0, min_height: float = 0.1,
                      max_tilt_deg: float = 80.0) -> np.ndarray:
    """Validate a camera pose in the base frame.

    Args:
        T_base_cam: (4, 4) camera pose, OpenCV camera axes.
        table_height: z of the table top, metres.
        min_height: Smallest allowed height of the camera centre above the table, metres.
        max_tilt_deg: Largest angle between the optical axis and straight down, degrees
            (a camera looking sideways or up sees no table top).

    Returns:
        np.ndarray: float64 (4, 4) copy.

    Raises:
        InvalidCameraPoseError: not a rigid transform, camera below ``table_height +
            min_height``, or optical axis tilted more than ``max_tilt_deg``.
    """
    try:
        T = check_rigid_transform(T_base_cam, 'T_base_cam')
    except RigidTransformError as err:
        raise InvalidCameraPoseError(str(err)) from err
    height = T[2, 3] - table_height
    if height < min_height:
        raise InvalidCameraPoseError(
            f'camera centre is {height:.3f} m above the table top (z={T[2, 3]:.3f} m, table '
            f'at {table_height:.3f} m); at least {min_height:.3f} m required')
    tilt = np.degrees(np.arccos(np.clip(T[:3, 2] @ _DOWN, -1.0, 1.0)))
    if tilt > max_tilt_deg:
        raise InvalidCameraPoseError(
            f'camera optical axis {T[:3, 2].round(3).tolist()} is {tilt:.1f} deg from '
            f'straight down (max {max_tilt_deg:.1f}): camera looking sideways or up')
    return T


def tcp_poses_from_grasps(grasps) -> np.ndarray:
    """TCP poses of grasp rows: ``T_F_grasp @ translation(depth, 0, 0)``.

    Args:
        grasps: (N, 17) grasp rows in frame ``F``.

    Returns:
        np.ndarray: float64 (N, 4, 4) ``T_F_tcp`` (origin at the middle of the finger tips).
    """
    g = np.asarray(grasps, dtype=np.float64)
    poses = np.tile(np.eye(4), (g.shape[0], 1, 1))
    R = g[:, 4:13].reshape(-1, 3, 3)
    poses[:, :3, :3] = R
    poses[:, :3, 3] = g[:, 13:16] + g[:, 3:4] * R[:, :, 0]
    return poses


def voxel_downsample(points: np.ndarray, voxel_size: float) -> np.ndarray:
    """Keep the first point of every occupied voxel (deterministic).

    Args:
        points: (N, 3) points, metres.
        voxel_size: Voxel edge, metres (<= 0: no downsampling).

    Returns:
        np.ndarray: (M, 3) subset of ``points`` in their input order.
    """
    if voxel_size <= 0 or len(points) == 0:
        return points
    # the package's voxel lattice (floor(points / voxel_size)); one point kept per voxel
    _, first = np.unique(voxelize(points, voxel_size).point2voxel, return_index=True)
    return points[np.sort(first)]


def segment_objects(points: np.ndarray, *, table_height: float, min_height: float,
                    voxel_size: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split the observed points above the table into connected object segments.

    Points more than ``min_height`` above the table are put on the package's voxel lattice
    (:func:`~graspcontrast_mm.structures.points.voxelize`, edge ``voxel_size``); occupied
    voxels that touch (26-neighbourhood) form one segment. Objects in contact share a
    segment. Only occupied voxels are visited, so far-away points (a wall, the robot) cost
    no more than near ones.

    Args:
        points: (M, 3) observed points, base frame (z up), metres.
        table_height: z of the table top, metres.
        min_height: Height above the table below which a point is table, metres.
        voxel_size: Voxel edge, metres.

    Returns:
        tuple: ``(object_points (K, 3), labels int64 (K,) in [0, S), centroids_xy (S, 2))``,
        the centroid being the mean x, y of a segment's points (base frame, metres);
        segments are numbered in the lexicographic order of their first voxel.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    pts = pts[pts[:, 2] > table_height + min_height]
    if len(pts) == 0:
        return pts, np.zeros(0, np.int64), np.zeros((0, 2))
    grid = voxelize(pts, voxel_size)
    coords = grid.coords.astype(np.int64) + 1  # a free layer on every side for the offsets
    dims = coords.max(axis=0) + 2
    keys = np.ravel_multi_index(coords.T, dims)
    order = np.argsort(keys)
    sorted_keys = keys[order]
    rows, cols = [np.arange(len(keys))], [np.arange(len(keys))]
    for offset in _FORWARD_NEIGHBOURS:  # each touching pair once
        wanted = np.ravel_multi_index((coords + offset).T, dims)
        pos = np.minimum(np.searchsorted(sorted_keys, wanted), len(keys) - 1)
        hit = sorted_keys[pos] == wanted
        rows.append(np.nonzero(hit)[0])
        cols.append(order[pos[hit]])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    adjacency = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)),
                           shape=(len(keys), len(keys)))
    num, voxel_labels = connected_components(adjacency, directed=False)
    labels = voxel_labels[grid.point2voxel].astype(np.int64)
    size = np.bincount(labels, minlength=num)
    centroids = np.stack([np.bincount(labels, weights=pts[:, k], minlength=num)
                          for k in (0, 1)], axis=1) / size[:, None]
    return pts, labels, centroids


#: The 13 of the 26 voxel neighbour offsets that come after (0, 0, 0) lexicographically.
_FORWARD_NEIGHBOURS = [np.subtract(d, 1) for d in np.ndindex(3, 3, 3)
                       if tuple(np.subtract(d, 1)) > (0, 0, 0)]


def centre_offsets(tcp_xy: np.ndarray, grasp_points: np.ndarray, object_points: np.ndarray,
                   labels: np.ndarray, centroids_xy: np.ndarray) -> np.ndarray:
    """Horizontal distance from each TCP to the centroid of the segment of the object
    point nearest to its grasp point (:func:`segment_objects`); NaN without object points.

    Args:
        tcp_xy: (N, 2) TCP positions, base frame x, y, metres.
        grasp_points: (N, 3) grasp points, base frame, metres.
        object_points, labels, centroids_xy: the output of :func:`segment_objects`.

    Returns:
        np.ndarray: float64 (N,) metres.
    """
    if len(object_points) == 0:
        return np.full(len(tcp_xy), np.nan)
    from scipy.spatial import cKDTree
    _, nearest = cKDTree(object_points).query(grasp_points)
    return np.linalg.norm(tcp_xy - centroids_xy[labels[nearest]], axis=1)


def jaw_contact(points_tcp: np.ndarray, gripper: GripperModel, opening: float
                ) -> Dict[str, float]:
    """What the jaws of a grasp hold of an observed cloud.

    Args:
        points_tcp: (N, 3) observed points in the TCP frame (x approach, y closing,
            z = x cross y), metres.
        gripper: The gripper (its closing region, :meth:`GripperModel.closing_region`).
        opening: Jaw opening, metres.

    Returns:
        dict: ``points`` (number of points between the jaws) and, over those points, the
        extents ``x_lo, x_hi`` (along the approach: ``x_lo`` is the highest point the
        fingers hold, ``-finger_length`` at the palm, 0 at the finger tips), ``y_lo,
        y_hi`` (closing axis; the jaws are at ``-opening / 2`` and ``opening / 2``) and
        ``z_lo, z_hi`` (across the finger pads, ``|z| < finger_height / 2``), metres;
        ``pad_cover``: ``(z_hi - z_lo) / finger_height``, the share of the pads' width
        that the held points span; ``face_angle_deg``: how far, at the worse of the two
        jaws, the held outline turns away from facing the jaw, degrees (see below).
        Extents are NaN when no point is between the jaws.

    ``face_angle_deg``: the pads' width is cut into :data:`FACE_BINS` strips along z; in
    every strip holding points the outermost point towards each jaw (largest ``y`` for
    the ``+y`` jaw, smallest for the other) is where that jaw meets the object. How far
    those contacts recede along the closing axis across the strips (largest minus
    smallest), over the z distance between the outermost strips' centres, is the tangent
    of the angle between the closing axis and the face the jaw closes on, seen in the
    pads' plane: 0 for a face square to the closing axis, 45 for a face at 45 degrees (a
    box closed along its diagonal, which a friction coefficient below 1 cannot hold),
    about 18 for a right-angled corner centred on the pads (its contacts recede 5 mm from
    the middle strips to the outer ones, 15 mm apart). NaN with fewer than two strips
    holding points.
    """
    inside = np.asarray(points_tcp, dtype=np.float64).reshape(-1, 3)
    inside = inside[gripper.points_between_jaws(inside, opening)]
    out: Dict[str, float] = dict(points=float(len(inside)))
    for axis, name in enumerate('xyz'):
        lo, hi = ((float(inside[:, axis].min()), float(inside[:, axis].max()))
                  if len(inside) else (float('nan'), float('nan')))
        out[f'{name}_lo'], out[f'{name}_hi'] = lo, hi
    out['pad_cover'] = (out['z_hi'] - out['z_lo']) / gripper.finger_height
    out['face_angle_deg'] = _face_angle_deg(inside, gripper.finger_height)
    return out


#: Strips across the finger pads' width used by :func:`jaw_contact`'s face angle.
FACE_BINS = 4


def _face_angle_deg(inside: np.ndarray, pad_width: float) -> float:
    """The ``face_angle_deg`` of :func:`jaw_contact` for TCP-frame points between the
    jaws (``|z| < pad_width / 2``)."""
    if len(inside) == 0:
        return float('nan')
    edges = np.linspace(-0.5 * pad_width, 0.5 * pad_width, FACE_BINS + 1)
    strip = np.clip(np.searchsorted(edges, inside[:, 2], side='right') - 1, 0, FACE_BINS - 1)
    used = np.unique(strip)
    if len(used) < 2:
        return float('nan')
    centres = 0.5 * (edges[used] + edges[used + 1])
    y_hi = np.full(FACE_BINS, -np.inf)
    y_lo = np.full(FACE_BINS, np.inf)
    np.maximum.at(y_hi, strip, inside[:, 1])
    np.minimum.at(y_lo, strip, inside[:, 1])
    recess = max(np.ptp(y_hi[used]), np.ptp(y_lo[used]))
    return float(np.degrees(np.arctan2(recess, centres[-1] - centres[0])))


def _lowest_box_z(gripper: GripperModel, T_base_tcp: np.ndarray,
                  opening: np.ndarray) -> np.ndarray:
    """Lowest base-frame z of the gripper boxes (:meth:`GripperModel.boxes`) per grasp.

    For an axis-aligned box ``[lo, hi]`` in the TCP frame, the smallest base z over its
    corners is ``t_z + sum_j min(R[2, j] * lo_j, R[2, j] * hi_j)``.

    Args:
        gripper: gripper box model.
        T_base_tcp: (N, 4, 4) TCP poses in the base frame.
        opening: (N,) jaw openings, metres.

    Returns:
        np.ndarray: float64 (N,) lowest corner height in the base frame, metres.
    """
    boxes = gripper.model.boxes(np.asarray(opening, dtype=np.float64),
                                np.zeros(T_base_tcp.shape[0]))  # each (N, 2, 3) TCP frame
    boxes = [(b[:, 0], b[:, 1]) for b in boxes.values()]
    r_z = T_base_tcp[:, 2, :3]
    low = np.min([np.minimum(r_z * lo, r_z * hi).sum(axis=1) for lo, hi in boxes], axis=0)
    return T_base_tcp[:, 2, 3] + low


class GraspPlanner:
    """Turn camera-frame grasp rows into a safe grasp for the robot.

    Exactly one camera calibration is given: ``T_ee_cam`` (eye-in-hand; then every
    :meth:`plan` call needs the end-effector pose ``T_base_ee`` at capture time) or
    ``T_base_cam`` (fixed camera).

    Args:
        config: Limits and preferences.
        gripper: Gripper box model.
        T_ee_cam: (4, 4) hand-eye calibration, camera pose in the end-effector frame.
        T_base_cam: (4, 4) fixed camera pose in the base frame.

    Raises:
        ValueError: both or neither calibration given, or a calibration that is not rigid.
    """

    def __init__(self, config: Optional[PlannerConfig] = None,
                 gripper: Optional[GripperModel] = None, *, T_ee_cam=None,
                 T_base_cam=None) -> None:
        if (T_ee_cam is None) == (T_base_cam is None):
            raise ValueError('give exactly one of T_ee_cam (eye-in-hand) and T_base_cam '
                             '(fixed camera)')
        self.config = config or PlannerConfig()
        self.gripper = gripper or GripperModel()
        self.T_ee_cam = None if T_ee_cam is None else check_rigid_transform(
            T_ee_cam, 'T_ee_cam')
        self.T_base_cam = None if T_base_cam is None else check_rigid_transform(
            T_base_cam, 'T_base_cam')

    # ------------------------------------------------------------------ frames
    def camera_pose(self, T_base_ee=None) -> np.ndarray:
        """Camera pose ``T_base_cam`` of one capture, validated.

        Args:
            T_base_ee: (4, 4) end-effector pose at capture (eye-in-hand only).

        Returns:
            np.ndarray: float64 (4, 4).

        Raises:
            InvalidCameraPoseError: see :func:`check_camera_pose`, or a missing / non-rigid
                ``T_base_ee``.
        """
        if self.T_ee_cam is not None:
            if T_base_ee is None:
                raise InvalidCameraPoseError(
                    'eye-in-hand planner needs the end-effector pose T_base_ee at capture')
            try:
                T_base_ee = check_rigid_transform(T_base_ee, 'T_base_ee')
            except RigidTransformError as err:
                raise InvalidCameraPoseError(str(err)) from err
            T = T_base_ee @ self.T_ee_cam
        else:
            T = self.T_base_cam
        cfg = self.config
        return check_camera_pose(T, table_height=cfg.table_height,
                                 min_height=cfg.min_camera_height,
                                 max_tilt_deg=cfg.max_camera_tilt_deg)

    # ------------------------------------------------------------------ planning
    def plan(self, grasps_cam, *, T_base_ee=None, cloud_cam=None
             ) -> Union[PlannedGrasp, PlanningFailure]:
        """Best executable grasp, or the reasons why there is none.

        Args:
            grasps_cam: (N, 17) grasp rows in the camera frame (graspnetAPI convention).
            T_base_ee: (4, 4) end-effector pose at capture (eye-in-hand).
            cloud_cam: optional (M, 3) observed points in the camera frame, metres, for the
                collision / emptiness filters (NaN rows are dropped).

        Returns:
            PlannedGrasp | PlanningFailure
        """
        result = self.plan_all(grasps_cam, T_base_ee=T_base_ee, cloud_cam=cloud_cam,
                               max_results=1)
        if isinstance(result, PlanningFailure):
            return result
        return result[0][0]

    def plan_all(self, grasps_cam, *, T_base_ee=None, cloud_cam=None, max_results: int = 1
                 ) -> Union[Tuple[List[PlannedGrasp], Dict[str, int]], PlanningFailure]:
        """Up to ``max_results`` executable grasps, best first, with the rejection counts.

        Returns:
            tuple | PlanningFailure: ``(grasps, counts)`` when at least one grasp passes,
            else a :class:`PlanningFailure`.
        """
        cfg = self.config
        try:
            T_base_cam = self.camera_pose(T_base_ee)
        except InvalidCameraPoseError as err:
            return PlanningFailure('invalid_camera_pose', str(err))
        try:
            grasps = np.asarray(grasps_cam, dtype=np.float64)
        except (TypeError, ValueError) as err:
            return PlanningFailure('invalid_input', f'grasps are not numeric: {err}')
        if grasps.ndim != 2 or grasps.shape[1] != GRASP_ARRAY_LEN:
            if grasps.size == 0:
                grasps = grasps.reshape(0, GRASP_ARRAY_LEN)
            else:
                return PlanningFailure('invalid_input', f'grasps must have shape (N, '
                                       f'{GRASP_ARRAY_LEN}), got {grasps.shape}')
        n = grasps.shape[0]
        counts = {name: 0 for name in FILTERS}
        counts['not_checked'] = 0
        if n == 0:
            return PlanningFailure('no_candidates', 'the grasp source returned no grasp',
                                   counts, 0)

        alive = np.ones(n, bool)

        def reject(mask: np.ndarray, name: str) -> None:
            bad = alive & mask
            counts[name] += int(bad.sum())
            alive[bad] = False

        # 1. malformed rows
        finite = np.all(np.isfinite(grasps), axis=1)
        safe = np.where(finite[:, None], grasps, 0.0)
        rot_ok = valid_rotations(safe[:, 4:13].reshape(-1, 3, 3), ROTATION_ATOL)
        reject(~(finite & rot_ok & (safe[:, 1] > 0) & (safe[:, 3] >= 0)), 'invalid_grasp')
        # 2. width
        reject(safe[:, 1] > self.gripper.max_width + 1e-6, 'too_wide')
        # frames
        grasps_base = transform_grasp_array(safe, T_base_cam)
        tcp = tcp_poses_from_grasps(grasps_base)
        gpoint = grasps_base[:, 13:16]
        lo, hi = np.asarray(cfg.workspace_min, float), np.asarray(cfg.workspace_max, float)
        inside = np.all((gpoint >= lo) & (gpoint <= hi), axis=1) & np.all(
            (tcp[:, :3, 3] >= lo) & (tcp[:, :3, 3] <= hi), axis=1)
        reject(~inside, 'outside_workspace')
        # 4. approach
        approach = tcp[:, :3, 0]
        cos_down = np.clip(approach @ _DOWN, -1.0, 1.0)
        angle_deg = np.degrees(np.arccos(cos_down))
        reject(angle_deg > cfg.max_approach_angle_deg + 1e-9, 'approach_angle')
        # 5. table
        open_width = np.minimum(safe[:, 1] + cfg.width_margin, self.gripper.max_width)
        lowest = _lowest_box_z(self.gripper, tcp, open_width)
        reject(lowest < cfg.table_height + cfg.table_clearance, 'below_table')

        cloud = None
        if cloud_cam is not None and cfg.check_collision:
            cloud = self._cloud_in_base(cloud_cam, T_base_cam)
        offset = np.full(n, np.nan)
        if cloud is not None:
            segments = segment_objects(cloud, table_height=cfg.table_height,
                                       min_height=cfg.segment_min_height,
                                       voxel_size=cfg.segment_voxel_size)
            offset = centre_offsets(tcp[:, :2, 3], gpoint, *segments)
        rank = (cfg.score_weight * safe[:, 0] + cfg.verticality_weight * cos_down +
                cfg.height_weight * (tcp[:, 2, 3] - cfg.table_height) -
                cfg.centre_weight * np.nan_to_num(offset, nan=0.0))
        # TCP-frame clouds and jaw contacts of the candidates, measured once per pose
        locals_: Dict[int, np.ndarray] = {}
        contacts: Dict[int, Dict[str, float]] = {}

        def local_and_contact(i: int) -> Tuple[np.ndarray, Dict[str, float]]:
            if i not in locals_:
                locals_[i] = self._local_cloud(cloud, tcp[i])
                contacts[i] = jaw_contact(locals_[i], self.gripper, open_width[i])
            return locals_[i], contacts[i]

        if cloud is not None and cfg.held_span_weight > 0:
            span = np.zeros(n)
            for i in [i for i in np.argsort(-rank, kind='stable')
                      if alive[i]][:cfg.max_collision_checks]:
                contact = local_and_contact(int(i))[1]
                if contact['points'] > 0:
                    span[i] = contact['y_hi'] - contact['y_lo']
            rank = rank - cfg.held_span_weight * span
        order = [i for i in np.argsort(-rank, kind='stable') if alive[i]]

        accepted: List[PlannedGrasp] = []
        for k, i in enumerate(order):
            if len(accepted) >= max_results or (cloud is not None
                                                and k >= cfg.max_collision_checks):
                counts['not_checked'] += 1
                continue
            contact = None
            if cloud is not None:
                local, contact = local_and_contact(int(i))
                reason = self._cloud_check(local, open_width[i])
                if reason is not None:
                    counts[reason] += 1
                    continue
                if cfg.center_jaws_on_points:
                    tcp[i], grasps_base[i, 13:16], centred = self._centred(
                        cloud, local, contact, tcp[i], grasps_base[i, 13:16],
                        open_width[i], lo, hi)
                    if centred is not local:  # moved: measure the jaws' contact again
                        local = centred
                        contact = jaw_contact(local, self.gripper, open_width[i])
                if cfg.min_grip_depth > 0 and not -contact['x_lo'] >= cfg.min_grip_depth:
                    moved = None
                    if cfg.deepen_shallow_grasps and np.isfinite(contact['x_lo']):
                        shift = cfg.min_grip_depth + contact['x_lo']
                        moved = self._deepened(cloud, tcp[i], shift, open_width[i],
                                               lo, hi)
                    if moved is None:
                        counts['shallow'] += 1
                        continue
                    tcp[i], local = moved
                    grasps_base[i, 3] += shift
                    contact = jaw_contact(local, self.gripper, open_width[i])
                if cfg.min_pad_cover > 0 and not contact['pad_cover'] >= cfg.min_pad_cover:
                    counts['edge'] += 1
                    continue
                if contact['face_angle_deg'] > cfg.max_face_angle_deg:  # NaN passes
                    counts['face_angle'] += 1
                    continue
            plan = self._make_plan(int(i), safe[i], grasps_base[i], tcp[i],
                                   float(open_width[i]), float(angle_deg[i]),
                                   float(rank[i]), n)
            if np.isfinite(offset[i]):
                plan.centre_offset = float(offset[i])
            plan.jaw_contact = contact
            accepted.append(plan)
        if not accepted:
            return PlanningFailure('all_rejected', 'every grasp candidate was rejected',
                                   counts, n)
        return accepted, counts

    # ------------------------------------------------------------------ helpers
    def _cloud_in_base(self, cloud_cam, T_base_cam) -> np.ndarray:
        cfg = self.config
        pts = np.asarray(cloud_cam, dtype=np.float64).reshape(-1, 3)
        pts = pts[np.all(np.isfinite(pts), axis=1)]
        pts = transform_points(T_base_cam, pts)
        # The table itself is handled by the clearance filter.
        pts = pts[pts[:, 2] > cfg.table_height + 0.5 * cfg.table_clearance]
        return voxel_downsample(pts, cfg.cloud_voxel_size)

    def _local_cloud(self, cloud_base: np.ndarray, T_base_tcp: np.ndarray) -> np.ndarray:
        """The observed points (base frame, metres) that the gripper can reach from its
        pre-grasp pose, in the TCP frame (x approach, y closing), metres."""
        reach = (self.gripper.finger_length + self.gripper.palm_depth +
                 self.config.pre_grasp_distance + self.gripper.max_width)
        near = np.linalg.norm(cloud_base - T_base_tcp[:3, 3], axis=1) < reach
        return (cloud_base[near] - T_base_tcp[:3, 3]) @ T_base_tcp[:3, :3]

    def _cloud_check(self, local: np.ndarray, open_width: float) -> Optional[str]:
        """``'collision'``, ``'empty'`` or None for TCP-frame points ``local``
        (:meth:`_local_cloud`) and the jaw opening ``open_width`` (metres)."""
        cfg = self.config
        solid = np.zeros(len(local), dtype=bool)
        for lo, hi in self.gripper.boxes(open_width, sweep=cfg.pre_grasp_distance).values():
            solid |= points_in_box(local, lo, hi)
        if int(solid.sum()) > cfg.collision_max_points:
            return 'collision'
        if cfg.min_points_between_fingers > 0:
            inside = int(self.gripper.points_between_jaws(local, open_width).sum())
            if inside < cfg.min_points_between_fingers:
                return 'empty'
        return None

    def _moved_pose_local(self, cloud_base: np.ndarray, moved: np.ndarray,
                          open_width: float, lo: np.ndarray, hi: np.ndarray,
                          points: np.ndarray) -> Optional[np.ndarray]:
        """The TCP-frame cloud of a moved TCP pose ``moved`` when the pose and ``points``
        (base frame, metres; the TCP and, for a moved grasp point, that point) stay in the
        workspace box ``[lo, hi]``, its gripper boxes stay above the table and it passes
        :meth:`_cloud_check`; else None."""
        cfg = self.config
        if np.any(points < lo) or np.any(points > hi) or \
                _lowest_box_z(self.gripper, moved[None], np.array([open_width]))[0] < \
                cfg.table_height + cfg.table_clearance:
            return None
        local = self._local_cloud(cloud_base, moved)
        return None if self._cloud_check(local, open_width) is not None else local

    def _centred(self, cloud_base: np.ndarray, local: np.ndarray,
                 contact: Dict[str, float], T_base_tcp: np.ndarray, point: np.ndarray,
                 open_width: float, lo: np.ndarray, hi: np.ndarray
                 ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(T_base_tcp, grasp point, TCP-frame cloud)`` moved along the closing axis
        (TCP y) so that the jaws are centred on the points between them (the midpoint of
        ``contact``'s closing-axis extent, :func:`jaw_contact` of ``local``), when the
        moved grasp passes :meth:`_moved_pose_local`; else the inputs unchanged. Base
        frame, metres."""
        if contact['points'] == 0:
            return T_base_tcp, point, local
        step = 0.5 * (contact['y_lo'] + contact['y_hi']) * T_base_tcp[:3, 1]
        if not np.any(step):
            return T_base_tcp, point, local
        moved = T_base_tcp.copy()
        moved[:3, 3] += step
        moved_point = point + step
        moved_local = self._moved_pose_local(cloud_base, moved, open_width, lo, hi,
                                             np.stack([moved[:3, 3], moved_point]))
        if moved_local is None:
            return T_base_tcp, point, local
        return moved, moved_point, moved_local

    def _deepened(self, cloud_base: np.ndarray, T_base_tcp: np.ndarray,
                  shift: float, open_width: float, lo: np.ndarray, hi: np.ndarray
                  ) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """``(T_base_tcp, TCP-frame cloud)`` moved ``shift`` metres along the approach
        (TCP x) when the moved TCP passes :meth:`_moved_pose_local`; else None. Base
        frame, metres."""
        moved = T_base_tcp.copy()
        moved[:3, 3] += shift * T_base_tcp[:3, 0]
        local = self._moved_pose_local(cloud_base, moved, open_width, lo, hi,
                                       moved[None, :3, 3])
        return None if local is None else (moved, local)

    def _make_plan(self, index: int, row_cam: np.ndarray, row_base: np.ndarray,
                   T_base_tcp: np.ndarray, open_width: float, angle_deg: float,
                   rank_value: float, n: int) -> PlannedGrasp:
        cfg = self.config
        # within ROTATION_ATOL; made exactly orthonormal so that composed poses stay rigid
        T_base_tcp = T_base_tcp.copy()
        T_base_tcp[:3, :3] = nearest_rotation(T_base_tcp[:3, :3])
        pre = T_base_tcp @ translation_matrix((-cfg.pre_grasp_distance, 0.0, 0.0))
        lift = T_base_tcp.copy()
        lift[2, 3] += cfg.lift_height
        return PlannedGrasp(index=index, score=float(row_cam[0]), rank_value=rank_value,
                            width=float(row_cam[1]), open_width=open_width,
                            approach_angle_deg=angle_deg, pre_grasp=pre,
                            grasp=T_base_tcp.copy(), lift=lift,
                            grasp_row_base=row_base.astype(np.float32), num_candidates=n)

