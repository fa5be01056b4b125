"""Tests of the offscreen grasp pictures and the gripper collision filter."""
import numpy as np
import pytest

from graspcontrast_mm.registry import VISUALIZERS
from graspcontrast_mm.structures import check_grasp_collisions, points_to_pixels
from graspcontrast_mm.structures.grasp import make_grasp_array
from graspcontrast_mm.visualization import (GraspVisualizer, gripper_box_mesh, render_grasps,
                                            save_grasp_picture, score_colors, view_camera)

K = np.array([[300.0, 0.0, 160.0], [0.0, 300.0, 120.0], [0.0, 0.0, 1.0]])
#: Gripper pointing along the camera's +z (a top-down grasp seen by the camera).
R_DOWN = np.stack([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]], axis=1)
#: Gripper approaching along the camera's +x (parallel to a z = const plane).
R_SIDE = np.eye(3)


def plane(z=0.5, half=0.15, step=0.002):
    g = np.arange(-half, half + 1e-9, step)
    xx, yy = np.meshgrid(g, g)
    return np.stack([xx.ravel(), yy.ravel(), np.full(xx.size, z)], 1)


def grasps(scores, translations, rotation=R_DOWN, width=0.06, depth=0.02):
    n = len(scores)
    return make_grasp_array(np.asarray(scores, float), np.full(n, width), np.full(n, depth),
                            np.repeat(rotation[None], n, 0), np.asarray(translations, float))


def colour_pixels(img, colour):
    r, g, b = (img[..., i].astype(int) for i in range(3))
    if colour == 'red':
        return (r > 120) & (g < 60) & (b < 60)
    return (b > 120) & (g < 60) & (r < 60)


def near(mask, uv, radius):
    vv, uu = np.nonzero(mask)
    return np.any(np.hypot(uu - uv[0], vv - uv[1]) <= radius)


def test_score_colors():
    c = score_colors(np.array([0.0, 0.5, 1.0]))
    np.testing.assert_array_equal(c[0], [0, 0, 255])
    np.testing.assert_array_equal(c[2], [255, 0, 0])
    assert c[1, 0] == c[1, 2]
    np.testing.assert_array_equal(score_colors([1.0]), [[255, 0, 0]])  # lone high score
    np.testing.assert_array_equal(score_colors([0.2], score_range=(0.2, 0.4)), [[0, 0, 255]])
    with pytest.raises(ValueError):
        score_colors([0.1], score_range=(1, 0))


def test_gripper_box_mesh_geometry():
    g = grasps([1.0], [[0.1, 0.2, 0.3]], rotation=np.eye(3), width=0.05, depth=0.03)
    verts, faces = gripper_box_mesh(g)
    assert verts.shape == (32, 3) and faces.shape == (48, 3) and faces.max() == 31
    local = verts - [0.1, 0.2, 0.3]
    assert local[:, 0].max() == pytest.approx(0.03)  # finger tips at x = depth
    assert local[:, 0].min() == pytest.approx(-(0.02 + 0.004 + 0.004 + 0.04))
    assert np.abs(local[:, 1]).max() == pytest.approx(0.025 + 0.004)


def test_render_one_red_grasp_at_its_projection():
    t = np.array([[0.02, -0.01, 0.45]])
    img = render_grasps(plane(), None, grasps([1.0], t), K=K)
    assert img.shape == (240, 320, 3) and img.dtype == np.uint8
    uv = points_to_pixels(t, K)[0]
    red = colour_pixels(img, 'red')
    assert red.sum() > 10 and near(red, uv, 6)
    assert not colour_pixels(img, 'blue').any()
    # the plane is visible (grey) and the background is white only outside it
    assert ((img[..., 0] == img[..., 1]) & (img[..., 0] < 230)).sum() > 10000


def test_render_low_score_is_blue_and_occlusion():
    t = np.array([[0.0, 0.0, 0.45], [0.05, 0.05, 0.45]])
    img = render_grasps(plane(), None, grasps([0.0, 1.0], t), K=K)
    uv = np.stack([K[0, 0] * t[:, 0] / t[:, 2] + K[0, 2], K[1, 1] * t[:, 1] / t[:, 2] + K[1, 2]],
                  1)
    assert near(colour_pixels(img, 'blue'), uv[0], 6)
    assert near(colour_pixels(img, 'red'), uv[1], 6)
    # a grasp behind the plane is hidden by it
    hidden = render_grasps(plane(), None, grasps([1.0], [[0.0, 0.0, 0.6]]), K=K)
    assert not colour_pixels(hidden, 'red').any()


def test_oblique_view_and_sizes(tmp_path):
    pts = plane()
    g = grasps([1.0, 0.3], [[0.0, 0.0, 0.45], [0.05, 0.0, 0.48]])
    img = render_grasps(pts, None, g, K=K, view='oblique', image_size=(200, 150))
    assert img.shape == (150, 200, 3)
    assert colour_pixels(img, 'red').any() and (img != 255).any()
    small = render_grasps(pts, None, g, K=K, image_size=(160, 120))  # K rescaled
    uv = np.array([K[0, 2], K[1, 2]]) / 2
    assert near(colour_pixels(small, 'red'), uv, 5)
    # no K: virtual camera aimed at the points
    img = render_grasps(pts, np.tile([[0, 200, 0]], (len(pts), 1)).astype(np.uint8), g)
    assert img.shape == (480, 640, 3) and (img[..., 1] == 200).sum() > 1000
    # grasps only
    assert colour_pixels(render_grasps(None, None, g), 'red').any()
    path = tmp_path / 'pic.png'
    out = save_grasp_picture(str(path), pts, None, g, K=K)
    import cv2
    back = cv2.imread(str(path))[:, :, ::-1]
    np.testing.assert_array_equal(back, out)


def test_render_errors():
    with pytest.raises(ValueError, match='grasps'):
        render_grasps(plane(), None, np.zeros((2, 16)), K=K)
    with pytest.raises(ValueError, match='colors'):
        render_grasps(plane(), np.zeros((3, 3)), None, K=K)
    with pytest.raises(ValueError, match='view'):
        render_grasps(plane(), view='top')
    with pytest.raises(ValueError, match='at least one finite point'):
        render_grasps(None, None, None)
    with pytest.raises(ValueError, match=r'shape \(3, 3\)'):
        view_camera(plane(), K=np.eye(2))
    with pytest.raises(ValueError, match='positive focal lengths'):
        view_camera(plane(), K=np.diag([0.0, 500.0, 1.0]))


def test_visualizer_registered(tmp_path):
    from mmengine.structures import BaseDataElement
    vis = VISUALIZERS.build(dict(type='GraspVisualizer', name='grasp_vis_test',
                                 image_size=(160, 120)))
    assert isinstance(vis, GraspVisualizer)
    ds = BaseDataElement()
    ds.pred_grasps = grasps([1.0], [[0.0, 0.0, 0.45]])
    ds.scene_points = plane()
    img = vis.add_datasample('x', data_sample=ds, K=K, out_file=str(tmp_path / 'v.png'))
    assert img.shape == (120, 160, 3) and (tmp_path / 'v.png').is_file()
    assert colour_pixels(vis.get_image(), 'red').any()


# ---------------------------------------------------------------- collision filter
def test_collision_plane_vs_free_space():
    scene = plane(z=0.5)
    g = np.concatenate([
        grasps([1.0], [[0.0, 0.0, 0.40]]),                 # 10 cm above the plane: free
        grasps([1.0], [[0.0, 0.0, 0.50]], rotation=R_SIDE),  # fingers inside the plane
        grasps([1.0], [[0.0, 0.0, 0.49]]),                 # finger tips 1 cm into it
    ])
    res = check_grasp_collisions(g, scene, voxel_size=0.01, approach_dist=0.05)
    assert res.collision.tolist() == [False, True, True]
    assert res.num_collision_points[0] == 0 and res.num_collision_points[1] > 10
    assert not res.empty.any()


def test_collision_approach_path_and_thresholds():
    obstacle = np.array([[0.0, 0.0, 0.40]])  # on the gripper axis, behind the palm
    # Gripper frame x = camera z - t_z. Palm: x in [-0.03, -0.02]; approach path of 5 cm:
    # x in [-0.08, -0.03].
    g_near = grasps([1.0], [[0.0, 0.0, 0.445]])  # obstacle at x = -0.045: in the path
    g_far = grasps([1.0], [[0.0, 0.0, 0.50]])    # obstacle at x = -0.10: beyond the path
    hit = check_grasp_collisions(np.concatenate([g_near, g_far]), obstacle, voxel_size=None)
    assert hit.collision.tolist() == [True, False]
    short = check_grasp_collisions(g_near, obstacle, voxel_size=None, approach_dist=0.01)
    assert not short.collision[0]
    tolerant = check_grasp_collisions(g_near, obstacle, voxel_size=None, collision_thresh=1)
    assert not tolerant.collision[0]
    # emptiness: points between the fingers
    inside = np.array([[0.0, 0.0, 0.46], [0.0, 0.01, 0.455]])
    res = check_grasp_collisions(grasps([1.0, 1.0], [[0.0, 0.0, 0.45], [0.3, 0.0, 0.45]]),
                                 inside, voxel_size=None, empty_thresh=1)
    assert res.num_inner_points.tolist() == [2, 0]
    assert res.empty.tolist() == [False, True] and not res.collision.any()
    assert check_grasp_collisions(np.zeros((0, 17)), inside).collision.shape == (0,)
    with pytest.raises(ValueError, match='scene_points'):
        check_grasp_collisions(g_near, np.zeros((3, 2)))
