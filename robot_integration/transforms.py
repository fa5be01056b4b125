"""Rigid transforms, quaternions (scipy's ``Rotation``) and pose sanity checks.

Conventions (see ``docs/data_flow.md``): a 4x4 matrix named ``T_a_b`` maps homogeneous points
from frame ``b`` to frame ``a`` (``p_a = T_a_b @ p_b``); lengths are metres; quaternions are
``(x, y, z, w)`` (the order of ROS ``geometry_msgs/Quaternion`` and of pybullet), unit norm,
and describe the rotation ``R`` of the same pose (``R @ v`` rotates a vector of the child
frame into the parent frame).

Frames used by :mod:`robot_integration`:

* ``base``: robot base frame, z up (against gravity); the table top is the plane
  ``z = table_height``;
* ``ee``: end-effector (flange / wrist) frame at which the hand-eye calibration is expressed;
* ``cam``: camera frame, OpenCV convention (x right, y down, z along the optical axis);
* ``tcp``: tool centre point of the parallel-jaw gripper: graspnetAPI's gripper axes
  (x = approach, y = closing direction, z = x cross y), origin at the middle of the finger
  tips (see :mod:`robot_integration.planner`).
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
from scipy.spatial.transform import Rotation

from graspcontrast_mm.structures import frames as _frames

__all__ = [
    'ROTATION_ATOL', 'rotation_errors', 'valid_rotations', 'nearest_rotation',
    'RigidTransformError', 'check_rigid_transform', 'is_rigid', 'invert_transform',
    'make_transform', 'translation_matrix', 'quaternion_to_matrix', 'matrix_to_quaternion',
    'pose_to_matrix', 'matrix_to_pose', 'rotation_angle_between',
    'camera_pose_looking_down'
]


#: Tolerance on ``max |R R^T - I|`` and ``|det R - 1|`` of a valid rotation: the one limit
#: of the planner (which drops grasp rows beyond it) and of the executor's safety check
#: (which refuses such motion targets), so that no planned grasp is refused at execution.
ROTATION_ATOL: float = 1e-4


def rotation_errors(R) -> Tuple[np.ndarray, np.ndarray]:
    """Orthonormality and determinant errors of rotation matrices.

    Args:
        R: (..., 3, 3) matrices.

    Returns:
        tuple: ``max |R R^T - I|`` and ``|det R - 1|``, each of shape ``(...)``.
    """
    R = np.asarray(R, dtype=np.float64)
    ortho = np.abs(R @ np.swapaxes(R, -1, -2) - np.eye(3)).max(axis=(-2, -1))
    return ortho, np.abs(np.linalg.det(R) - 1.0)


def valid_rotations(R, atol: float = ROTATION_ATOL) -> np.ndarray:
    """Which of the (..., 3, 3) matrices are rotations within ``atol`` (finite too)."""
    R = np.asarray(R, dtype=np.float64)
    finite = np.isfinite(R).all(axis=(-2, -1))
    ortho, det = rotation_errors(np.where(finite[..., None, None], R, 0.0))
    return finite & (ortho <= atol) & (det <= atol)


def nearest_rotation(R) -> np.ndarray:
    """The rotation matrix closest to ``R`` (Frobenius norm; SVD projection)."""
    U, _, Vt = np.linalg.svd(np.asarray(R, dtype=np.float64))
    D = np.eye(3)
    D[2, 2] = np.sign(np.linalg.det(U @ Vt)) or 1.0
    return U @ D @ Vt


class RigidTransformError(ValueError):
    """A 4x4 matrix that should be a rigid transform is not one."""


def check_rigid_transform(T, name: str = 'T', atol: float = ROTATION_ATOL) -> np.ndarray:
    """Validate and return a rigid transform.

    Args:
        T: (4, 4) homogeneous matrix.
        name: Name used in error messages (e.g. ``'T_base_cam'``).
        atol: Tolerance on orthonormality, ``det(R) = 1`` and the last row.

    Returns:
        np.ndarray: float64 (4, 4) copy of ``T``.

    Raises:
        RigidTransformError: wrong shape, non-finite values, a last row other than
            ``(0, 0, 0, 1)``, a non-orthonormal rotation (scale, shear) or a reflection.
    """
    try:
        T = np.array(T, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise RigidTransformError(f'{name} is not a numeric array: {err}') from err
    if T.shape != (4, 4):
        raise RigidTransformError(f'{name} must have shape (4, 4), got {T.shape}')
    if not np.all(np.isfinite(T)):
        raise RigidTransformError(f'{name} contains NaN or inf')
    if not np.allclose(T[3], (0.0, 0.0, 0.0, 1.0), atol=atol):
        raise RigidTransformError(f'{name} last row must be (0, 0, 0, 1), got {T[3].tolist()}')
    R = T[:3, :3]
    err = float(np.abs(R @ R.T - np.eye(3)).max())
    if err > atol:
        raise RigidTransformError(
            f'{name} rotation is not orthonormal (max |R R^T - I| = {err:.3g}): scaled, '
            'sheared or corrupted matrix')
    det = float(np.linalg.det(R))
    if abs(det - 1.0) > atol:
        raise RigidTransformError(f'{name} rotation has det {det:.4f} (a reflection), '
                                  'expected +1')
    return T


def is_rigid(T, atol: float = ROTATION_ATOL) -> bool:
    """Whether ``T`` passes :func:`check_rigid_transform`."""
    try:
        check_rigid_transform(T, atol=atol)
    except RigidTransformError:
        return False
    return True


def invert_transform(T) -> np.ndarray:
    """Inverse of a rigid transform: ``T_b_a`` from ``T_a_b``.

    Delegates to :func:`graspcontrast_mm.structures.frames.invert_transform` (closed form
    ``[R^T | -R^T t]`` for orthonormal ``R``, general inverse otherwise).

    Args:
        T: (4, 4) rigid transform.

    Returns:
        np.ndarray: float64 (4, 4).

    Raises:
        ValueError: ``T`` is not (4, 4).
    """
    return _frames.invert_transform(T)


def make_transform(rotation=None, translation=None) -> np.ndarray:
    """4x4 transform from a (3, 3) rotation and a (3,) translation in metres.

    Delegates to :func:`graspcontrast_mm.structures.frames.make_transform` (raises a
    ValueError naming the shape of a wrong-sized rotation or translation).
    """
    return _frames.make_transform(rotation, translation)


def translation_matrix(offset: Sequence[float]) -> np.ndarray:
    """Pure translation by ``offset`` (3,) metres."""
    return make_transform(None, offset)


def quaternion_to_matrix(q_xyzw) -> np.ndarray:
    """Rotation matrix of a quaternion ``(x, y, z, w)``.

    Args:
        q_xyzw: (4,) quaternion; normalised here (a zero or non-finite one raises).

    Returns:
        np.ndarray: float64 (3, 3) rotation.

    Raises:
        ValueError: wrong length, zero norm or non-finite values.
    """
    q = np.asarray(q_xyzw, dtype=np.float64).reshape(-1)
    if q.shape != (4, ):
        raise ValueError(f'quaternion must have 4 values (x, y, z, w), got {q.shape}')
    n = np.linalg.norm(q)
    if not np.isfinite(n) or n < 1e-12:
        raise ValueError(f'quaternion must be finite and non-zero, got {q.tolist()}')
    return Rotation.from_quat(q / n).as_matrix()


def matrix_to_quaternion(R) -> np.ndarray:
    """Quaternion ``(x, y, z, w)`` of a rotation matrix, with ``w >= 0``.

    scipy's ``Rotation.from_matrix`` (which projects a slightly non-orthonormal matrix onto
    the nearest rotation first), canonical sign.

    Args:
        R: (3, 3) rotation (or (4, 4) transform; its rotation block is used).

    Returns:
        np.ndarray: float64 (4,) unit quaternion ``(x, y, z, w)``.
    """
    R = np.asarray(R, dtype=np.float64)
    if R.shape == (4, 4):
        R = R[:3, :3]
    if R.shape != (3, 3):
        raise ValueError(f'rotation must have shape (3, 3), got {R.shape}')
    if not np.all(np.isfinite(R)):
        raise ValueError(f'rotation must be finite, got {R.tolist()}')
    return Rotation.from_matrix(R).as_quat(canonical=True)


def pose_to_matrix(position, q_xyzw) -> np.ndarray:
    """4x4 transform from a position (3,) in metres and a quaternion ``(x, y, z, w)``."""
    p = np.asarray(position, dtype=np.float64).reshape(-1)
    if p.shape != (3, ) or not np.all(np.isfinite(p)):
        raise ValueError(f'position must be 3 finite values, got {p.tolist()}')
    return make_transform(quaternion_to_matrix(q_xyzw), p)


def matrix_to_pose(T) -> Tuple[np.ndarray, np.ndarray]:
    """Position (3,) metres and quaternion ``(x, y, z, w)`` (4,) of a rigid transform."""
    T = check_rigid_transform(T)
    return T[:3, 3].copy(), matrix_to_quaternion(T[:3, :3])


def rotation_angle_between(a, b) -> float:
    """Angle in radians between two 3-vectors (0 .. pi)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    c = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
    return float(np.arccos(np.clip(c, -1.0, 1.0)))


def camera_pose_looking_down(position, yaw: float = 0.0) -> np.ndarray:
    """``T_base_cam`` of an OpenCV camera at ``position`` whose optical axis points straight
    down (-z of the base frame).

    With ``yaw = 0`` the image x axis (columns) is the base ``-y`` axis and the image y axis
    (rows) is the base ``-x`` axis; ``yaw`` (radians) rotates the camera about the vertical.

    Args:
        position: (3,) camera centre in the base frame, metres.
        yaw: Rotation about the base z axis, radians.

    Returns:
        np.ndarray: float64 (4, 4) ``T_base_cam``.
    """
    c, s = np.cos(yaw), np.sin(yaw)
    Rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    R0 = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
    return make_transform(Rz @ R0, position)
