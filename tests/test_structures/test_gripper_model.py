"""Every user of the parallel-jaw gripper agrees with the one model
(``structures.gripper``) and with graspnetAPI's ``collision_detection`` on points on, just
inside and just outside the gripper's faces."""
import numpy as np
import pytest

from gripper_edge_cases import (BACK, CASES, CLOSING, D, DB, E, FLOAT32_FACES, FW, H, HW,
                                IDS, OUT, POINTS, SOLID, W)  # tests/ is on sys.path

from graspcontrast_mm.structures import gripper_collision_counts, make_grasp_array
from graspcontrast_mm.structures.gripper import (GRASPNET_GRIPPER, ParallelJawGripper,
                                                 points_in_box)

def test_model_matches_hand_values():
    got = GRASPNET_GRIPPER.contains(POINTS, W, D)
    for name, s, c, gs, gc in zip(IDS, SOLID, CLOSING, got['solid'], got['closing']):
        assert (gs, gc) == (s, c), name
    # the approach path is the palm swept back: it takes the point just behind the palm
    swept = GRASPNET_GRIPPER.contains(POINTS, W, D, approach=0.05)['solid']
    expected = SOLID.copy()
    expected[IDS.index('on the palm back face')] = True
    expected[IDS.index('just behind the palm (approach region)')] = True
    np.testing.assert_array_equal(swept, expected)
    back = GRASPNET_GRIPPER.contains(np.array([[BACK - 0.05 + E, 0, 0],
                                               [BACK - 0.05 - E, 0, 0]]), W, D, 0.05)
    np.testing.assert_array_equal(back['solid'], [True, False])


def test_model_boxes_are_the_open_boxes_of_contains():
    boxes = GRASPNET_GRIPPER.boxes(W, D)
    union = np.zeros(len(POINTS), bool)
    for lo, hi in boxes.values():
        union |= points_in_box(POINTS, lo, hi)
    np.testing.assert_array_equal(union, SOLID)
    np.testing.assert_allclose(boxes['right_finger'], [[-DB, HW, -H / 2], [D, OUT, H / 2]])
    np.testing.assert_allclose(boxes['palm'], [[BACK, -OUT, -H / 2], [-DB, OUT, H / 2]])


def test_graspnetapi_collision_detection_agrees():
    from graspnetAPI.utils.eval_utils import collision_detection
    grasp = make_grasp_array(np.ones(1), np.full(1, W), np.full(1, D), np.eye(3)[None],
                             np.zeros((1, 3)), heights=H)
    for name, p, s, c in CASES:
        if name in FLOAT32_FACES:
            continue
        scene = np.asarray(p, np.float64)[None]
        coll, _ = collision_detection([grasp], [np.zeros((1, 3))], [None], [np.eye(4)],
                                      scene, empty_thresh=0)
        _, empty = collision_detection([grasp], [np.zeros((1, 3))], [None], [np.eye(4)],
                                       scene, empty_thresh=1)
        assert (bool(coll[0][0]), not bool(empty[0][0])) == (s, c), name


def test_label_kernel_agrees():
    from graspcontrast_mm.synthetic.grasp_labels import gripper_collision
    # view (-1, 0, 0), angle 0: the gripper frame is the object frame (R = I)
    for name, p, s, _ in CASES:
        out = gripper_collision(np.asarray(p)[None], np.zeros((1, 3)),
                                np.full((1, 1, 1, 1), W), views=np.array([[-1.0, 0, 0]]),
                                angles=np.zeros(1), depths=np.array([D]))
        assert bool(out[0, 0, 0, 0]) == s, name


def test_model_free_check_agrees():
    grasps = make_grasp_array(np.ones(1), np.full(1, W), np.full(1, D), np.eye(3)[None],
                              np.zeros((1, 3)), heights=H)
    for name, p, s, c in CASES:
        hits, inner = gripper_collision_counts(grasps, np.asarray(p)[None],
                                               approach_dist=0.0)
        assert (hits[0] == 1, inner[0] == 1) == (s, c), name
    hits, _ = gripper_collision_counts(grasps, np.array([[BACK - E, 0.0, 0.0]]),
                                       approach_dist=0.05)
    assert hits[0] == 1


def test_fixed_finger_length_and_wide_palm():
    g = ParallelJawGripper(finger_length=0.05, palm_width=0.12, palm_height=0.04)
    pts = np.array([[D - 0.05 + E, HW + E, 0.0],     # finger, near its back end
                    [D - 0.05 - E, 0.055, 0.015],    # palm: wider and taller than fingers
                    [D - 0.05 - E, 0.061, 0.0]])     # outside the palm's 6 cm half span
    np.testing.assert_array_equal(g.contains(pts, W, D)['solid'], [True, True, False])


@pytest.mark.parametrize('kwargs', [dict(finger_width=0.0), dict(height=-0.01),
                                    dict(depth_base=-0.01), dict(palm_width=np.nan)])
def test_bad_dimensions_raise(kwargs):
    with pytest.raises(ValueError, match='gripper'):
        ParallelJawGripper(**kwargs)
