"""Rigid transforms, homogeneous helpers and pinhole-camera geometry.

Conventions (see ``docs/data_flow.md``):

* All lengths are metres.
* A 4x4 matrix ``T_a_b`` maps homogeneous points from frame ``b`` to frame ``a``:
  ``p_a = T_a_b @ p_b``. Point arrays are row-major ``(N, 3)``, so in code this reads
  ``p_a = p_b @ T_a_b[:3, :3].T + T_a_b[:3, 3]`` (:func:`transform_points`).
* Camera frame: OpenCV (x right, y down, z along the optical axis).
* Pixels: ``u`` is the column, ``v`` the row; the centre of pixel ``(u, v)`` is at the
  integer coordinates ``(u, v)``, and ``u = fx * x / z + cx``, ``v = fy * y / z + cy``.
"""
from typing import Optional, Sequence, Tuple, Union

import numpy as np

__all__ = [
    'AXIS_INDEX', 'to_homogeneous', 'from_homogeneous', 'transform_points',
    'make_transform', 'invert_transform', 'is_rigid_transform',
    'rotation_matrix', 'flip_matrix', 'check_intrinsics', 'depth_to_points',
    'points_to_pixels'
]

#: Index of a named coordinate axis.
AXIS_INDEX = {'x': 0, 'y': 1, 'z': 2}

ArrayLike = Union[np.ndarray, Sequence]


def _as_transform(T: ArrayLike, name: str = 'T') -> np.ndarray:
    """Return ``T`` as a float64 (4, 4) array or raise a ValueError naming the shape."""
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        raise ValueError(f'{name} must be a 4x4 homogeneous matrix, got shape {T.shape}')
    return T


def _as_points(points: ArrayLike, name: str = 'points') -> np.ndarray:
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f'{name} must have shape (N, 3), got {points.shape}')
    return points


def to_homogeneous(points: ArrayLike) -> np.ndarray:
    """Append a column of ones.

    Args:
        points: (N, 3) points.

    Returns:
        np.ndarray: (N, 4) homogeneous points, same floating dtype as the input
        (float64 for integer input).
    """
    points = _as_points(points)
    dtype = points.dtype if np.issubdtype(points.dtype, np.floating) else np.float64
    out = np.ones((points.shape[0], 4), dtype=dtype)
    out[:, :3] = points
    return out


def from_homogeneous(points_h: ArrayLike) -> np.ndarray:
    """Divide by the last coordinate and drop it.

    Args:
        points_h: (N, 4) homogeneous points.

    Returns:
        np.ndarray: (N, 3) Euclidean points.
    """
    points_h = np.asarray(points_h)
    if points_h.ndim != 2 or points_h.shape[1] != 4:
        raise ValueError(f'homogeneous points must have shape (N, 4), got {points_h.shape}')
    return points_h[:, :3] / points_h[:, 3:4]


def transform_points(T: ArrayLike, points: ArrayLike) -> np.ndarray:
    """Apply a 4x4 transform to row-major points: ``p_a = T_a_b @ p_b``.

    The product is computed in float64; the result keeps the dtype of ``points`` when it is
    floating (float64 otherwise).

    Args:
        T: (4, 4) transform ``T_a_b`` (rigid or any affine matrix with last row 0 0 0 1).
        points: (N, 3) points in frame ``b``.

    Returns:
        np.ndarray: (N, 3) points in frame ``a``.
    """
    T = _as_transform(T)
    points = _as_points(points)
    dtype = points.dtype if np.issubdtype(points.dtype, np.floating) else np.float64
    out = points.astype(np.float64, copy=False) @ T[:3, :3].T + T[:3, 3]
    return out.astype(dtype, copy=False)


def make_transform(rotation: Optional[ArrayLike] = None,
                   translation: Optional[ArrayLike] = None) -> np.ndarray:
    """Build a 4x4 homogeneous matrix from a 3x3 linear part and a translation.

    Args:
        rotation: (3, 3) linear part (identity when None).
        translation: (3,) translation in metres (zero when None).

    Returns:
        np.ndarray: float64 (4, 4).
    """
    T = np.eye(4)
    if rotation is not None:
        rotation = np.asarray(rotation, dtype=np.float64)
        if rotation.shape != (3, 3):
            raise ValueError(f'rotation must have shape (3, 3), got {rotation.shape}')
        T[:3, :3] = rotation
    if translation is not None:
        translation = np.asarray(translation, dtype=np.float64).reshape(-1)
        if translation.shape != (3,):
            raise ValueError(f'translation must have 3 elements, got {translation.shape}')
        T[:3, 3] = translation
    return T


def invert_transform(T: ArrayLike) -> np.ndarray:
    """Invert a 4x4 transform whose linear part is orthogonal (rotation or reflection).

    Uses ``[R | t]^-1 = [R^T | -R^T t]``, which is exact for orthogonal ``R`` (det +-1, as
    produced by rigid motions and the flips of :func:`flip_matrix`). Non-orthogonal linear
    parts fall back to a general matrix inverse.

    Args:
        T: (4, 4) transform ``T_a_b``.

    Returns:
        np.ndarray: float64 (4, 4) ``T_b_a``.
    """
    T = _as_transform(T)
    R = T[:3, :3]
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or not np.allclose(
            T[3], (0., 0., 0., 1.)):
        return np.linalg.inv(T)
    out = np.eye(4)
    out[:3, :3] = R.T
    out[:3, 3] = -R.T @ T[:3, 3]
    return out


def is_rigid_transform(T: ArrayLike, *, allow_reflection: bool = False,
                       atol: float = 1e-6) -> bool:
    """Whether ``T`` is a rigid transform (orthonormal rotation, last row 0 0 0 1).

    Args:
        T: (4, 4) matrix.
        allow_reflection: accept det(R) == -1 (e.g. a flip over a plane).
        atol: absolute tolerance.

    Returns:
        bool
    """
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4) or not np.allclose(T[3], (0., 0., 0., 1.), atol=atol):
        return False
    R = T[:3, :3]
    if not np.allclose(R @ R.T, np.eye(3), atol=atol):
        return False
    det = np.linalg.det(R)
    return bool(abs(det - 1.) < atol or (allow_reflection and abs(det + 1.) < atol))


def _axis_index(axis: str) -> int:
    if axis not in AXIS_INDEX:
        raise ValueError(f"axis must be one of 'x', 'y', 'z', got {axis!r}")
    return AXIS_INDEX[axis]


def rotation_matrix(axis: str, angle_rad: float) -> np.ndarray:
    """4x4 right-handed rotation about a coordinate axis through the origin.

    Args:
        axis: ``'x'``, ``'y'`` or ``'z'``.
        angle_rad: rotation angle in radians (counter-clockwise looking down the axis).

    Returns:
        np.ndarray: float64 (4, 4) with det(R) = +1.
    """
    i = _axis_index(axis)
    j, k = (i + 1) % 3, (i + 2) % 3
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    T = np.eye(4)
    T[j, j], T[j, k] = c, -s
    T[k, j], T[k, k] = s, c
    return T


def flip_matrix(axis: str = 'x') -> np.ndarray:
    """4x4 reflection that negates one coordinate.

    ``flip_matrix('x')`` is the flip over the YZ plane (x -> -x) of the paper.

    Args:
        axis: the coordinate to negate.

    Returns:
        np.ndarray: float64 (4, 4) with det(R) = -1.
    """
    T = np.eye(4)
    T[_axis_index(axis), _axis_index(axis)] = -1.
    return T


def check_intrinsics(K: ArrayLike) -> np.ndarray:
    """Validate a pinhole intrinsic matrix.

    Args:
        K: (3, 3) ``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]`` in pixels.

    Returns:
        np.ndarray: float64 (3, 3) copy of ``K``.

    Raises:
        ValueError: wrong shape, non-finite entries, non-positive focal lengths, or a last
            row other than ``(0, 0, 1)``.
    """
    K = np.array(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f'camera intrinsics K must have shape (3, 3), got {K.shape}')
    if not np.all(np.isfinite(K)):
        raise ValueError(f'camera intrinsics K contain non-finite values: {K.tolist()}')
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError('camera intrinsics K must have positive focal lengths, got '
                         f'fx={K[0, 0]}, fy={K[1, 1]}')
    if not np.allclose(K[2], (0., 0., 1.)):
        raise ValueError(f'the last row of camera intrinsics K must be (0, 0, 1), got {K[2]}')
    return K


def depth_to_points(depth_m: np.ndarray, K: ArrayLike, *, min_depth: float = 0.,
                    max_depth: float = np.inf,
                    mask: Optional[np.ndarray] = None
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """Back-project a depth image into camera-frame points.

    A pixel is kept when its depth is finite and ``min_depth <= z <= max_depth`` (and
    ``z > 0``), and ``mask`` is true there. For pixel ``(u, v)`` (column, row) with depth
    ``z``: ``y = (v - cy) * z / fy`` and ``x = ((u - cx) * z - s * y) / fx`` with the skew
    ``s = K[0, 1]`` (0 for GraspNet cameras), the exact inverse of :func:`points_to_pixels`.

    Args:
        depth_m: (H, W) depth along the optical axis in metres; 0 / NaN mark invalid pixels.
        K: (3, 3) intrinsics in pixels.
        min_depth: smallest kept depth, metres.
        max_depth: largest kept depth, metres.
        mask: optional (H, W) bool, extra pixels to keep.

    Returns:
        tuple:
            - points: float32 (N, 3) camera frame, metres, in row-major pixel order.
            - pixel_uv: int32 (N, 2) ``(u, v)`` = (column, row) of each point.
    """
    K = check_intrinsics(K)
    depth_m = np.asarray(depth_m)
    if depth_m.ndim != 2:
        raise ValueError(f'depth image must have shape (H, W), got {depth_m.shape}')
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(depth_m) & (depth_m > 0) & (depth_m >= min_depth) & (
            depth_m <= max_depth)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != depth_m.shape:
            raise ValueError(f'mask shape {mask.shape} differs from depth shape '
                             f'{depth_m.shape}')
        valid &= mask
    # flat indices: the same pixels in row-major order, cheaper than 2-D nonzero/indexing
    flat = np.flatnonzero(valid)
    v, u = np.divmod(flat, depth_m.shape[1])
    z = depth_m.ravel()[flat].astype(np.float64)
    fx, fy, cx, cy, skew = K[0, 0], K[1, 1], K[0, 2], K[1, 2], K[0, 1]
    y = (v - cy) * z / fy
    x = ((u - cx) * z - skew * y) / fx
    points = np.stack([x, y, z], axis=1).astype(np.float32)
    pixel_uv = np.stack([u, v], axis=1).astype(np.int32)
    return points, pixel_uv


def points_to_pixels(points_cam: ArrayLike, K: ArrayLike) -> np.ndarray:
    """Project camera-frame points to pixel coordinates.

    Args:
        points_cam: (N, 3) camera frame, metres.
        K: (3, 3) intrinsics in pixels.

    Returns:
        np.ndarray: float64 (N, 2) ``(u, v)`` (column, row); rows of points with
        ``z <= 0`` (behind the camera) are NaN.
    """
    K = check_intrinsics(K)
    points = _as_points(points_cam, 'points_cam').astype(np.float64)
    z = points[:, 2]
    uv = np.full((points.shape[0], 2), np.nan)
    front = z > 0
    proj = points[front] @ K.T
    uv[front] = proj[:, :2] / proj[:, 2:3]
    return uv
