"""Executor interface: what a pick-and-place protocol needs from a robot.

Every motion command goes through :meth:`Executor.move_to`, which checks the target against
:class:`SafetyLimits` first and raises :class:`UnsafeCommandError` (the backend is never
called) for a non-rigid pose, a TCP outside the motion box, or a gripper corner below the
table. Backends implement the ``_move_to`` / ``_open_gripper`` / ``_close_gripper`` /
``_observe`` hooks.

Poses are ``T_base_tcp`` (4, 4): the tool centre point frame of
:mod:`robot_integration.planner` (x = approach, y = closing, origin between the finger tips)
in the robot base frame (z up), metres.
"""
from __future__ import annotations

import abc
import dataclasses
from typing import Optional, Tuple

import numpy as np

from .planner import GripperModel
from .transforms import RigidTransformError, check_rigid_transform

__all__ = ['Observation', 'SafetyLimits', 'UnsafeCommandError', 'Executor', 'check_pose_safe']


@dataclasses.dataclass
class Observation:
    """One depth capture.

    Attributes:
        depth_m: float32 (H, W) depth along the optical axis, metres (0 / NaN = invalid).
        K: float64 (3, 3) intrinsics, pixels.
        T_base_ee: float64 (4, 4) end-effector pose at capture (eye-in-hand), or None.
        T_base_cam: float64 (4, 4) camera pose at capture when the backend knows it (fixed
            camera, or simulation ground truth), or None.
        stamp: Capture time, seconds (backend clock).
    """
    depth_m: np.ndarray
    K: np.ndarray
    T_base_ee: Optional[np.ndarray] = None
    T_base_cam: Optional[np.ndarray] = None
    stamp: float = 0.0


class UnsafeCommandError(RuntimeError):
    """A motion command was refused before reaching the robot."""


@dataclasses.dataclass
class SafetyLimits:
    """Hard limits checked on every motion command (base frame, metres).

    Attributes:
        motion_min: (3,) lower corner of the box the TCP must stay in.
        motion_max: (3,) upper corner of that box.
        table_height: z of the table top.
        table_clearance: Smallest height of any gripper box corner above the table.
        max_width: Largest jaw opening command, metres.
    """
    motion_min: Tuple[float, float, float] = (0.2, -0.7, -0.05)
    motion_max: Tuple[float, float, float] = (1.0, 0.7, 0.9)
    table_height: float = 0.0
    table_clearance: float = 0.003
    max_width: float = 0.1


def check_pose_safe(T_base_tcp, limits: SafetyLimits, gripper: GripperModel,
                    opening: float = 0.0) -> np.ndarray:
    """Validate a TCP target.

    Args:
        T_base_tcp: (4, 4) target pose.
        limits: Safety limits.
        gripper: Gripper box model (for the table check).
        opening: Jaw opening during the motion, metres.

    Returns:
        np.ndarray: float64 (4, 4) copy.

    Raises:
        UnsafeCommandError: non-rigid / non-finite pose, TCP outside the motion box, or a
            gripper corner below ``table_height + table_clearance``.
    """
    try:
        T = check_rigid_transform(T_base_tcp, 'T_base_tcp')
    except RigidTransformError as err:
        raise UnsafeCommandError(f'refused motion: {err}') from err
    p = T[:3, 3]
    lo, hi = np.asarray(limits.motion_min, float), np.asarray(limits.motion_max, float)
    if np.any(p < lo) or np.any(p > hi):
        raise UnsafeCommandError(f'refused motion: TCP {p.round(3).tolist()} outside the '
                                 f'motion box {lo.tolist()} .. {hi.tolist()}')
    corners = gripper.corners(opening) @ T[:3, :3].T + p
    low = float(corners[:, 2].min())
    if low < limits.table_height + limits.table_clearance:
        raise UnsafeCommandError(f'refused motion: gripper reaches z={low:.3f} m, below the '
                                 f'table top {limits.table_height:.3f} m + clearance '
                                 f'{limits.table_clearance:.3f} m')
    return T


class Executor(abc.ABC):
    """Robot (or simulated robot) with a parallel-jaw gripper and a depth camera.

    Args:
        limits: Safety limits checked before every motion.
        gripper: Gripper box model.
    """

    def __init__(self, limits: Optional[SafetyLimits] = None,
                 gripper: Optional[GripperModel] = None) -> None:
        self.limits = limits or SafetyLimits()
        self.gripper = gripper or GripperModel()
        self._opening = 0.0

    # public API (validated) --------------------------------------------------------
    def move_to(self, T_base_tcp, *, linear: bool = False) -> bool:
        """Move the TCP to a pose (checked against the safety limits first).

        Args:
            T_base_tcp: (4, 4) target.
            linear: Straight-line Cartesian motion (approach / lift) instead of a free one.

        Returns:
            bool: whether the target was reached (within the backend's tolerance).

        Raises:
            UnsafeCommandError: the target violates the safety limits (robot not moved).
        """
        T = check_pose_safe(T_base_tcp, self.limits, self.gripper, self._opening)
        return self._move_to(T, linear=linear)

    def open_gripper(self, width: float) -> None:
        """Open the jaws to ``width`` metres (clipped to the maximum opening)."""
        width = float(width)
        if not np.isfinite(width) or width < 0:
            raise UnsafeCommandError(f'refused gripper command: width {width}')
        width = min(width, self.limits.max_width, self.gripper.max_width)
        self._opening = width
        self._open_gripper(width)

    def close_gripper(self) -> float:
        """Close the jaws until they stop; returns the final opening, metres."""
        width = self._close_gripper()
        self._opening = 0.0
        return width

    def observe(self) -> Observation:
        """Capture a depth image (from the backend's observation pose)."""
        return self._observe()

    # backend hooks -----------------------------------------------------------------
    @abc.abstractmethod
    def _move_to(self, T_base_tcp: np.ndarray, *, linear: bool) -> bool:
        """Move to a validated pose."""

    @abc.abstractmethod
    def _open_gripper(self, width: float) -> None:
        """Open to a validated width."""

    @abc.abstractmethod
    def _close_gripper(self) -> float:
        """Close; return the final opening."""

    @abc.abstractmethod
    def _observe(self) -> Observation:
        """Capture."""
