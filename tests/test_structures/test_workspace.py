"""GSNet's object workspace and point graspness (the reference's get_workspace_mask and
generate_graspness.py), on hand-computed frames and on the real Kinect frame."""
import numpy as np
import pytest
import real_kinect_frame as real

from graspcontrast_mm.structures import (organized_cloud, reference_frame_graspness,
                                         reference_workspace_mask)

# A 2 x 3 frame. K: x = (u - 1) z, y = (v - 0.5) z. T_world_cam: camera 1 m above the
# table looking straight down, world = (x, -y, 1 - z).
K = np.array([[1., 0., 1.], [0., 1., 0.5], [0., 0., 1.]])
CAM2WORLD = np.array([[1., 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, 1], [0, 0, 0, 1]])
DEPTH = np.array([[1.0, 0.9, 0.0],
                  [1.0, 0.6, 0.95]])
SEG = np.array([[0, 1, 1],     # (u=2, v=0): an object pixel without depth
                [0, 0, 2]], np.uint8)
# camera-frame points: (u,v)=(1,0) (0, -0.45, 0.9) object 1; (1,1) (0, 0.3, 0.6) table;
# (2,1) (0.95, 0.475, 0.95) object 2; (0,*) x = -1.
# world: (1,0) (0, 0.45, 0.1); (1,1) (0, -0.3, 0.4); (2,1) (0.95, -0.475, 0.05);
# the pixel without depth is the camera centre (0, 0, 1).


def test_organized_cloud_hand_computed():
    cloud = organized_cloud(DEPTH, K)
    np.testing.assert_allclose(cloud[0, 1], [0., -0.45, 0.9])
    np.testing.assert_allclose(cloud[1, 1], [0., 0.3, 0.6])
    np.testing.assert_allclose(cloud[1, 2], [0.95, 0.475, 0.95])
    np.testing.assert_array_equal(cloud[0, 2], [0., 0., 0.])  # no depth: camera centre


def test_workspace_mask_hand_computed():
    # objects with depth: x in [0, 0.95], y in [-0.475, 0.45], z in [0.05, 0.1]; the
    # camera centre raises z max to 1. Margin 2 cm, strict bounds.
    mask, bounds = reference_workspace_mask(DEPTH, SEG, K, CAM2WORLD, margin=0.02,
                                            return_bounds=True)
    np.testing.assert_allclose(bounds, [[-0.02, -0.495, 0.03], [0.97, 0.47, 1.02]])
    # the table pixel (1, 1) at height 0.4 is inside only because of the camera centre
    np.testing.assert_array_equal(mask, [[False, True, False], [False, True, True]])
    mask, bounds = reference_workspace_mask(DEPTH, SEG, K, CAM2WORLD, margin=0.02,
                                            object_pixels_without_depth='ignore',
                                            return_bounds=True)
    np.testing.assert_allclose(bounds, [[-0.02, -0.495, 0.03], [0.97, 0.47, 0.12]])
    np.testing.assert_array_equal(mask, [[False, True, False], [False, False, True]])
    # no object pixel: empty workspace
    mask, bounds = reference_workspace_mask(DEPTH, np.zeros_like(SEG), K, CAM2WORLD,
                                            return_bounds=True)
    assert not mask.any() and bounds is None
    with pytest.raises(ValueError, match='object_pixels_without_depth'):
        reference_workspace_mask(DEPTH, SEG, K, CAM2WORLD, object_pixels_without_depth='x')


def test_frame_graspness_is_nearest_over_all_objects_min_max_over_workspace():
    """Hand-computed: GSNet's rule (nearest grasp point of ANY object, min-max over the
    whole workspace, background included), not the object's own points / maximum."""
    eye = np.eye(4)
    # object 0 (seg 1): A at pixel (1, 0), B 1 mm from pixel (2, 1) (object 2's pixel)
    pts0 = np.array([[0., -0.45, 0.9], [0.95, 0.475, 0.951]])
    g0 = np.array([0.6, 0.5])
    # object 1 (seg 2): C 1 cm from pixel (2, 1), D 1 cm from the table pixel (1, 1)
    pts1 = np.array([[0.95, 0.485, 0.95], [0., 0.3, 0.61]])
    g1 = np.array([0.2, 0.1])
    gmap, mask = reference_frame_graspness(DEPTH, SEG, K, CAM2WORLD, [eye, eye],
                                           [pts0, pts1], [g0, g1], margin=0.02)
    # workspace pixels (1,0) -> A 0.6, (1,1) -> D 0.1, (2,1) -> B 0.5 (not its own C);
    # min-max over {0.6, 0.1, 0.5}
    expected = np.zeros((2, 3))
    expected[0, 1], expected[1, 1], expected[1, 2] = 1.0, 0.0, 0.8
    np.testing.assert_allclose(gmap, expected, atol=1e-12)
    np.testing.assert_array_equal(mask, [[False, True, False], [False, True, True]])
    # object poses map the grasp points to the camera frame: a 10 cm shift of every
    # object and of its points cancels out
    T = np.eye(4)
    T[:3, 3] = (0.1, 0., 0.)
    shifted, _ = reference_frame_graspness(DEPTH, SEG, K, CAM2WORLD, [T, T],
                                           [pts0 - [0.1, 0, 0], pts1 - [0.1, 0, 0]],
                                           [g0, g1], margin=0.02)
    np.testing.assert_allclose(shifted, expected, atol=1e-12)


@real.requires_realdata()
def test_workspace_mask_is_bit_exact_on_the_real_kinect_frame():
    """Same pixels as the reference's formulas, from the float32 metres LoadDepthImage
    keeps (depth_scale recovers the millimetre integers)."""
    depth_png, meta = real.load()
    seg = real.label_image(depth_png, meta)
    K = meta['intrinsic_matrix']
    holes = int(np.count_nonzero((seg > 0) & (depth_png == 0)))
    assert holes > 0, 'the frame should have object pixels without depth'
    expected = real.reference_workspace_mask(depth_png, seg, K, 1000.0, real.CAM2WORLD)
    depth_m = depth_png.astype(np.float32) / np.float32(1000.0)
    got = reference_workspace_mask(depth_m, seg, K, real.CAM2WORLD, margin=0.02,
                                   depth_scale=1000.0)
    np.testing.assert_array_equal(got, expected)
    # without the camera centre the box is tighter
    tight = reference_workspace_mask(depth_m, seg, K, real.CAM2WORLD, margin=0.02,
                                     depth_scale=1000.0,
                                     object_pixels_without_depth='ignore')
    assert tight.sum() < got.sum() and not (tight & ~got).any()
