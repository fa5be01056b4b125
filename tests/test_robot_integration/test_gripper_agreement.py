"""The planner's gripper agrees with the package's gripper model on the shared edge cases
(``tests/gripper_edge_cases.py``)."""
import numpy as np
from gripper_edge_cases import CLOSING, D, DB, FW, H, IDS, POINTS, SOLID, W, X_FACES

from graspcontrast_mm.structures.gripper import points_in_box


def test_robot_gripper_agrees():
    """The planner's gripper, given graspnetAPI's dimensions, in its TCP frame (origin at
    the finger tips: x shifted by the depth)."""
    from robot_integration.planner import GripperModel
    robot = GripperModel(max_width=W, finger_length=D + DB, finger_thickness=FW,
                         finger_height=H, palm_depth=FW, palm_height=H)
    keep = np.array([name not in X_FACES for name in IDS])
    tcp = POINTS[keep] - np.array([D, 0.0, 0.0])
    solid = np.zeros(len(tcp), bool)
    for lo, hi in robot.boxes(W).values():
        solid |= points_in_box(tcp, lo, hi)
    np.testing.assert_array_equal(solid, SOLID[keep])
    np.testing.assert_array_equal(robot.points_between_jaws(tcp, W), CLOSING[keep])
    # faces normal to x, exactly, in the TCP frame: tips, finger / palm plane, palm back
    L, y_finger = robot.finger_length, W / 2 + FW / 2
    faces = np.array([[0.0, y_finger, 0.0], [-L, 0.0, 0.0], [-L, y_finger, 0.0],
                      [-L - FW, 0.0, 0.0], [0.0, 0.0, 0.0]])
    boxes = robot.boxes(W)
    assert not any(points_in_box(faces, lo, hi).any() for lo, hi in boxes.values())
    np.testing.assert_array_equal(robot.points_between_jaws(faces, W),
                                  [False, False, False, False, False])
