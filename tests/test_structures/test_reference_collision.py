"""The GSNet reference's test-time collision detection (ModelFreeCollisionDetector)."""
import numpy as np
import pytest

from graspcontrast_mm.structures import (make_grasp_array, reference_collision_iou,
                                         reference_collision_mask)


def _grasp(width=0.04, height=0.02, depth=0.02, rotation=np.eye(3), translation=(0, 0, 0)):
    return make_grasp_array(scores=[1.0], widths=[width], heights=[height], depths=[depth],
                            rotations=np.asarray(rotation)[None],
                            translations=np.asarray(translation, float)[None])


# Gripper frame = camera frame (rotation I, grasp point at the origin): width 4 cm,
# height 2 cm, depth 2 cm, finger width f = 1 cm, finger length L = 6 cm, approach 5 cm:
# fingers x in (-0.04, 0.02), |y| in (0.02, 0.03); bottom x in (-0.05, -0.04];
# approach path x in (-0.1, -0.05]; |z| < 0.01. Volume in 1 cm voxels:
# (2 h L f + h (w + 2f) f + h (w + 2f) a) / 1e-6 = (24 + 12 + 60) = 96.
SCENE = np.array([
    [0.0, -0.025, 0.0],    # left finger
    [0.0, 0.025, 0.0],     # right finger
    [-0.045, 0.005, 0.0],  # bottom (palm)
    [-0.075, -0.005, 0.0],  # approach path
    [0.0, 0.005, 0.0],     # between the fingers: not a collision
    [0.0, 0.045, 0.0],     # beside the gripper
])  # every point in its own 1 cm voxel: the down-sampling keeps them as they are


def test_iou_hand_computed():
    iou = reference_collision_iou(_grasp(), SCENE, voxel_size=0.01, approach_dist=0.05)
    assert iou.shape == (1,)
    assert iou[0] == pytest.approx(4 / (96 + 1e-6), rel=1e-6)
    # a point above the gripper height does not count
    iou = reference_collision_iou(_grasp(), SCENE + [0, 0, 0.015], voxel_size=0.01)
    assert iou[0] == 0.0
    # the approach path is at least one finger width long (the reference's max(a, f))
    short = reference_collision_iou(_grasp(), SCENE, voxel_size=0.01, approach_dist=0.0)
    assert short[0] == pytest.approx(3 / (36 + 12 + 1e-6), rel=1e-6)


def test_iou_follows_the_grasp_pose():
    # the same scene and grasp turned by 90 degrees about z and moved: same count
    R = np.array([[0., -1, 0], [1, 0, 0], [0, 0, 1]])
    t = np.array([0.3, -0.2, 0.6])
    iou = reference_collision_iou(_grasp(rotation=R, translation=t), SCENE @ R.T + t,
                                  voxel_size=0.01)
    assert iou[0] == pytest.approx(4 / (96 + 1e-6), rel=1e-6)


def test_mask_threshold_and_off_switch():
    grasps = np.concatenate([_grasp(), _grasp(translation=(1.0, 0, 0))])
    np.testing.assert_array_equal(
        reference_collision_mask(grasps, SCENE, collision_thresh=0.01), [True, False])
    np.testing.assert_array_equal(
        reference_collision_mask(grasps, SCENE, collision_thresh=0.05), [False, False])
    # -1 (the reference's published protocol) switches the test off
    np.testing.assert_array_equal(
        reference_collision_mask(grasps, SCENE, collision_thresh=-1), [False, False])
    assert reference_collision_mask(grasps[:0], SCENE, collision_thresh=0.01).shape == (0,)


def test_scene_is_voxel_down_sampled():
    # 27 points in one 1 cm voxel of the left finger count once
    dense = SCENE[:1] + np.stack(np.meshgrid(*[np.linspace(-0.002, 0.002, 3)] * 3),
                                 -1).reshape(-1, 3)
    iou = reference_collision_iou(_grasp(), dense, voxel_size=0.01)
    assert iou[0] == pytest.approx(1 / (96 + 1e-6), rel=1e-6)
