"""ROS 2 message conversion and frame logic as pure functions (no ROS import).

:mod:`robot_integration.ros2_node` calls these; they take plain values or any object with
the fields of the ROS message (duck typing), so they are tested without ROS.

* depth images (``sensor_msgs/Image``): ``16UC1`` / ``mono16`` = uint16 millimetres,
  ``32FC1`` = float32 metres; row padding (``step``) and byte order (``is_bigendian``) are
  honoured; 0 / NaN = no measurement -> 0 in the returned metres;
* ``sensor_msgs/CameraInfo.k`` (9 floats, row-major) -> (3, 3);
* ``geometry_msgs/Pose`` / ``Transform`` <-> 4x4, quaternions in ROS order ``(x, y, z, w)``;
* frame ids (leading ``/`` ignored) and the ROS camera frame conventions: the optical frame
  (``*_optical_frame``: x right, y down, z forward = the OpenCV camera frame of this project)
  and the body frame (``camera_link``: x forward, y left, z up).
"""
from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np

from .transforms import (check_rigid_transform, make_transform, matrix_to_quaternion,
                         quaternion_to_matrix)

__all__ = [
    'DEPTH_ENCODINGS', 'depth_msg_to_metres', 'depth_image_to_metres', 'metres_to_depth_image',
    'camera_info_to_K', 'matrix_to_pose_dict', 'pose_dict_to_matrix', 'pose_msg_to_matrix',
    'fill_pose_msg', 'transform_msg_to_matrix', 'normalize_frame_id', 'same_frame',
    'T_LINK_OPTICAL', 'planned_grasp_poses'
]

#: Supported depth encodings: name -> (numpy dtype, metres per unit).
DEPTH_ENCODINGS: Dict[str, Tuple[str, float]] = {
    '16UC1': ('u2', 1e-3),
    'mono16': ('u2', 1e-3),
    '32FC1': ('f4', 1.0),
}

#: Pose of the optical frame (OpenCV axes) in the camera body frame (x forward, y left,
#: z up), REP 103 / REP 105: optical z = body x, optical x = -body y, optical y = -body z.
T_LINK_OPTICAL = make_transform(np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0],
                                          [0.0, -1.0, 0.0]]))


def depth_image_to_metres(data, height: int, width: int, encoding: str, *,
                          is_bigendian: bool = False, step: int = 0) -> np.ndarray:
    """Decode the buffer of a ``sensor_msgs/Image`` depth image to metres.

    Args:
        data: Raw bytes (``bytes``, ``bytearray``, ``array.array`` or a uint8 array).
        height: Image rows.
        width: Image columns.
        encoding: ``'16UC1'`` / ``'mono16'`` (uint16 mm) or ``'32FC1'`` (float32 m).
        is_bigendian: Byte order of the data.
        step: Bytes per row (0: ``width * bytes per pixel``).

    Returns:
        np.ndarray: float32 (H, W) depth, metres; 0 where there is no measurement.

    Raises:
        ValueError: unsupported encoding or a buffer of the wrong size.
    """
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(f'unsupported depth encoding {encoding!r}; expected one of '
                         f'{sorted(DEPTH_ENCODINGS)}')
    kind, scale = DEPTH_ENCODINGS[encoding]
    dtype = np.dtype(('>' if is_bigendian else '<') + kind)
    buf = np.frombuffer(bytes(data) if not isinstance(data, np.ndarray) else
                        data.astype(np.uint8, copy=False).tobytes(), dtype=np.uint8)
    row = int(step) or int(width) * dtype.itemsize
    if row < int(width) * dtype.itemsize:
        raise ValueError(f'step {row} is smaller than width * {dtype.itemsize} bytes')
    if buf.size < row * int(height):
        raise ValueError(f'depth buffer has {buf.size} bytes, expected {row * height} '
                         f'({height} rows of {row} bytes)')
    rows = buf[:row * int(height)].reshape(int(height), row)[:, :int(width) * dtype.itemsize]
    img = np.ascontiguousarray(rows).view(dtype).reshape(int(height), int(width))
    depth = img.astype(np.float32) * np.float32(scale)
    depth[~np.isfinite(depth) | (depth < 0)] = 0.0
    return depth


def depth_msg_to_metres(msg: Any) -> np.ndarray:
    """:func:`depth_image_to_metres` of a ``sensor_msgs/Image`` (or any object with its
    ``data``, ``height``, ``width``, ``encoding``, ``is_bigendian``, ``step`` fields)."""
    return depth_image_to_metres(msg.data, msg.height, msg.width, msg.encoding,
                                 is_bigendian=bool(getattr(msg, 'is_bigendian', 0)),
                                 step=int(getattr(msg, 'step', 0)))


def metres_to_depth_image(depth_m, encoding: str = '16UC1') -> Tuple[bytes, int]:
    """Encode a metric depth image (for publishing / tests).

    Args:
        depth_m: (H, W) depth, metres; NaN / negative -> 0 (no measurement).
        encoding: ``'16UC1'`` / ``'mono16'`` (rounded to millimetres, clipped to 65.535 m)
            or ``'32FC1'``.

    Returns:
        tuple: little-endian ``data`` bytes and ``step`` (bytes per row).
    """
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(f'unsupported depth encoding {encoding!r}')
    kind, scale = DEPTH_ENCODINGS[encoding]
    d = np.array(depth_m, dtype=np.float64)
    d[~np.isfinite(d) | (d < 0)] = 0.0
    if kind == 'u2':
        arr = np.clip(np.rint(d / scale), 0, 65535).astype('<u2')
    else:
        arr = d.astype('<f4')
    return arr.tobytes(), int(arr.shape[1] * arr.dtype.itemsize)


def camera_info_to_K(k: Any) -> np.ndarray:
    """(3, 3) intrinsics from ``CameraInfo.k`` (9 floats, row-major) or a ``CameraInfo``.

    Raises:
        ValueError: not 9 values, non-finite, non-positive focal length, or an all-zero
            (uncalibrated) matrix.
    """
    k = getattr(k, 'k', k)
    K = np.asarray(list(k), dtype=np.float64)
    if K.size != 9:
        raise ValueError(f'CameraInfo.k must have 9 values, got {K.size}')
    K = K.reshape(3, 3)
    if not np.all(np.isfinite(K)):
        raise ValueError('CameraInfo.k contains NaN or inf')
    if not np.any(K):
        raise ValueError('CameraInfo.k is all zeros: the camera is not calibrated')
    if K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], (0, 0, 1)):
        raise ValueError(f'CameraInfo.k is not a pinhole matrix: {K.tolist()}')
    return K


def matrix_to_pose_dict(T) -> Dict[str, Dict[str, float]]:
    """``{'position': {x, y, z}, 'orientation': {x, y, z, w}}`` of a rigid 4x4 transform."""
    T = check_rigid_transform(T)
    q = matrix_to_quaternion(T[:3, :3])
    return dict(position=dict(x=float(T[0, 3]), y=float(T[1, 3]), z=float(T[2, 3])),
                orientation=dict(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])))


def pose_dict_to_matrix(pose: Dict[str, Dict[str, float]]) -> np.ndarray:
    """Inverse of :func:`matrix_to_pose_dict`."""
    p, o = pose['position'], pose['orientation']
    return make_transform(quaternion_to_matrix([o['x'], o['y'], o['z'], o['w']]),
                          [p['x'], p['y'], p['z']])


def pose_msg_to_matrix(msg: Any) -> np.ndarray:
    """4x4 of a ``geometry_msgs/Pose`` (``PoseStamped`` accepted: its ``pose`` is used)."""
    msg = getattr(msg, 'pose', msg)
    p, o = msg.position, msg.orientation
    return make_transform(quaternion_to_matrix([o.x, o.y, o.z, o.w]), [p.x, p.y, p.z])


def fill_pose_msg(msg: Any, T) -> Any:
    """Write a rigid 4x4 transform into a ``geometry_msgs/Pose`` (in place; returned)."""
    d = matrix_to_pose_dict(T)
    for k in 'xyz':
        setattr(msg.position, k, d['position'][k])
    for k in 'xyzw':
        setattr(msg.orientation, k, d['orientation'][k])
    return msg


def transform_msg_to_matrix(msg: Any) -> np.ndarray:
    """4x4 of a ``geometry_msgs/Transform`` (``TransformStamped`` accepted).

    A ``TransformStamped`` with ``header.frame_id = A`` and ``child_frame_id = B`` gives
    ``T_A_B``.
    """
    msg = getattr(msg, 'transform', msg)
    t, r = msg.translation, msg.rotation
    return make_transform(quaternion_to_matrix([r.x, r.y, r.z, r.w]), [t.x, t.y, t.z])


def normalize_frame_id(frame_id: str) -> str:
    """Frame id without leading ``/`` and surrounding spaces (tf2 rejects the slash)."""
    return str(frame_id).strip().lstrip('/')


def same_frame(a: str, b: str) -> bool:
    """Whether two frame ids name the same frame."""
    return normalize_frame_id(a) == normalize_frame_id(b)


def planned_grasp_poses(plan) -> List[np.ndarray]:
    """``[pre_grasp, grasp, lift]`` (4x4 ``T_base_tcp``) of a planned grasp (the order of
    the published ``PoseArray``)."""
    return [np.asarray(plan.pre_grasp), np.asarray(plan.grasp), np.asarray(plan.lift)]

