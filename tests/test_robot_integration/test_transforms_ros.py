"""Quaternions, rigid-transform checks and ROS 2 message conversion (no ROS needed)."""
import types

import numpy as np
import pytest

from robot_integration.ros2_conversions import (T_LINK_OPTICAL, camera_info_to_K,
                                                depth_image_to_metres, depth_msg_to_metres,
                                                fill_pose_msg, matrix_to_pose_dict,
                                                metres_to_depth_image, normalize_frame_id,
                                                pose_dict_to_matrix, pose_msg_to_matrix,
                                                same_frame, transform_msg_to_matrix)
from robot_integration.ros2_node import (JAW_CONTACT_PARAMETERS, build_planner_from_parameters,
                                         matrix_from_parameter)
from robot_integration.transforms import (RigidTransformError, check_rigid_transform,
                                          invert_transform, make_transform,
                                          matrix_to_quaternion, quaternion_to_matrix)


def _random_rotations(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        q, r = np.linalg.qr(rng.normal(size=(3, 3)))
        q = q * np.sign(np.diag(r))
        if np.linalg.det(q) < 0:
            q[:, 0] *= -1
        out.append(q)
    # include the numerically delicate 180-degree rotations
    out += [np.diag([1.0, -1.0, -1.0]), np.diag([-1.0, 1.0, -1.0]), np.diag([-1.0, -1.0, 1.0])]
    return out


def test_quaternion_known_values():
    # 90 deg about z: (x, y, z, w) = (0, 0, sin 45, cos 45)
    R = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(matrix_to_quaternion(R), [0, 0, np.sqrt(0.5), np.sqrt(0.5)],
                               atol=1e-12)
    np.testing.assert_allclose(quaternion_to_matrix([0, 0, np.sqrt(0.5), np.sqrt(0.5)]), R,
                               atol=1e-12)
    np.testing.assert_allclose(quaternion_to_matrix([0, 0, 0, 2.0]), np.eye(3))


def test_quaternion_round_trips():
    for R in _random_rotations(50):
        q = matrix_to_quaternion(R)
        assert q[3] >= 0 and abs(np.linalg.norm(q) - 1) < 1e-12
        np.testing.assert_allclose(quaternion_to_matrix(q), R, atol=1e-10)
        np.testing.assert_allclose(matrix_to_quaternion(quaternion_to_matrix(q)), q,
                                   atol=1e-10)
    with pytest.raises(ValueError):
        quaternion_to_matrix([0, 0, 0, 0])


def test_rigid_checks():
    T = make_transform(_random_rotations(1)[0], [0.1, 0.2, 0.3])
    np.testing.assert_allclose(invert_transform(T) @ T, np.eye(4), atol=1e-12)
    check_rigid_transform(T)
    for bad in (T * 1.1, T @ np.diag([1, 1, -1, 1.0]), np.full((4, 4), np.nan), np.eye(3)):
        with pytest.raises(RigidTransformError):
            check_rigid_transform(bad)
    skew = T.copy()
    skew[3, 0] = 0.5
    with pytest.raises(RigidTransformError):
        check_rigid_transform(skew)


def test_depth_16uc1_and_32fc1():
    depth = np.array([[0.5, 0.0, 1.2344], [np.nan, 0.001, 65.0]], np.float32)
    data, step = metres_to_depth_image(depth, '16UC1')
    assert step == 6
    out = depth_image_to_metres(data, 2, 3, '16UC1', step=step)
    np.testing.assert_allclose(out, [[0.5, 0.0, 1.234], [0.0, 0.001, 65.0]], atol=1e-6)
    # padded rows and big-endian data
    mm = np.array([[500, 0, 1234], [0, 1, 65000]], '>u2')
    padded = b''.join(row.tobytes() + b'\x00\x00' for row in mm)
    out = depth_image_to_metres(padded, 2, 3, 'mono16', is_bigendian=True, step=8)
    np.testing.assert_allclose(out, mm.astype(np.float64) / 1000, atol=1e-6)
    # 32FC1: metres, NaN -> 0
    data, step = metres_to_depth_image(depth, '32FC1')
    msg = types.SimpleNamespace(data=data, height=2, width=3, encoding='32FC1',
                                is_bigendian=0, step=step)
    out = depth_msg_to_metres(msg)
    assert out.dtype == np.float32 and out[1, 0] == 0.0
    np.testing.assert_allclose(out[0], [0.5, 0.0, 1.2344], atol=1e-6)
    with pytest.raises(ValueError, match='unsupported'):
        depth_image_to_metres(data, 2, 3, 'rgb8')
    with pytest.raises(ValueError, match='bytes'):
        depth_image_to_metres(data[:-4], 2, 3, '32FC1')


def test_camera_info_and_frames():
    k = [600.0, 0, 320, 0, 610, 240, 0, 0, 1]
    K = camera_info_to_K(types.SimpleNamespace(k=k))
    assert K.shape == (3, 3) and K[1, 1] == 610 and K[0, 2] == 320
    with pytest.raises(ValueError, match='not calibrated'):
        camera_info_to_K([0.0] * 9)
    with pytest.raises(ValueError):
        camera_info_to_K([1.0] * 4)
    assert normalize_frame_id('/camera_depth_optical_frame ') == 'camera_depth_optical_frame'
    assert same_frame('/base_link', 'base_link')
    # optical z (forward) is the body x axis; optical x (right) is body -y
    np.testing.assert_allclose(T_LINK_OPTICAL[:3, 2], [1, 0, 0])
    np.testing.assert_allclose(T_LINK_OPTICAL[:3, 0], [0, -1, 0])
    check_rigid_transform(T_LINK_OPTICAL)


def _ns_pose():
    return types.SimpleNamespace(position=types.SimpleNamespace(x=0, y=0, z=0),
                                 orientation=types.SimpleNamespace(x=0, y=0, z=0, w=1))


def test_pose_message_round_trip():
    for i, R in enumerate(_random_rotations(10, seed=3)):
        T = make_transform(R, [0.1 * i, -0.2, 0.3])
        np.testing.assert_allclose(pose_dict_to_matrix(matrix_to_pose_dict(T)), T,
                                   atol=1e-10)
        msg = fill_pose_msg(_ns_pose(), T)
        np.testing.assert_allclose(pose_msg_to_matrix(types.SimpleNamespace(pose=msg)), T,
                                   atol=1e-10)
        tf = types.SimpleNamespace(transform=types.SimpleNamespace(
            translation=msg.position, rotation=msg.orientation))
        np.testing.assert_allclose(transform_msg_to_matrix(tf), T, atol=1e-10)
    with pytest.raises(RigidTransformError):
        matrix_to_pose_dict(np.diag([2.0, 1, 1, 1]))


def test_node_parameters_without_ros():
    T = np.eye(4)
    T[2, 3] = 0.6
    assert matrix_from_parameter([], 'x') is None
    with pytest.raises(ValueError, match='16 values'):
        matrix_from_parameter([1.0] * 9, 'hand_eye')
    planner = build_planner_from_parameters(hand_eye=T.reshape(-1).tolist(),
                                            table_height=0.01)
    assert planner.T_ee_cam is not None and planner.config.table_height == 0.01
    # every jaw-contact parameter the node declares is a PlannerConfig field it can set
    relaxed = dict(min_grip_depth=0.0, deepen_shallow_grasps=False, min_pad_cover=0.5,
                   max_face_angle_deg=60.0, held_span_weight=0.0)
    assert set(relaxed) == set(JAW_CONTACT_PARAMETERS)
    planner = build_planner_from_parameters(hand_eye=T.reshape(-1).tolist(), **relaxed)
    assert {k: getattr(planner.config, k) for k in relaxed} == relaxed
    with pytest.raises(ValueError, match='exactly one'):
        build_planner_from_parameters(hand_eye=T.reshape(-1).tolist(),
                                      fixed_camera_pose=T.reshape(-1).tolist())
    with pytest.raises(ValueError):
        build_planner_from_parameters()
