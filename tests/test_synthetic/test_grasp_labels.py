"""Analytic grasp labels, scene collision labels and graspness (hand-computed values)."""
import os
import types

import numpy as np
import pytest
import trimesh

from graspcontrast_mm.structures.grasp import (decode_label_grasps, generate_views,
                                               view_angle_to_matrix)
from graspcontrast_mm.synthetic.collision_labels import (
    compute_point_graspness, compute_scene_collision_labels, load_collision_labels,
    point_graspness, save_collision_labels, table_collision)
from graspcontrast_mm.synthetic.grasp_labels import (GraspLabelConfig, antipodal_contacts,
                                                     compute_grasp_labels, gripper_collision,
                                                     load_grasp_labels, save_grasp_labels)

VIEWS = generate_views(300).astype(np.float64)
TOP = 299  # the most vertical view (z = 599/300 - 1)
COARSE = GraspLabelConfig(point_spacing=0.02, max_points=16)


def _box_in_gripper_frame(view, extents=(0.05, 0.04, 0.06), point=(0.0, 0.0, 0.0)):
    """A box whose axes are the gripper axes of (view, angle 0), touching ``point``.

    The box face through ``point`` faces the gripper; the box extends ``extents[0]`` along
    the approach, ``extents[1]`` along the closing axis and ``extents[2]`` along z.
    """
    R = view_angle_to_matrix(view[None], 0.0)[0].astype(np.float64)
    box = trimesh.creation.box(extents=extents)
    centre = np.asarray(point) + 0.5 * extents[0] * R[:, 0]
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = centre
    box.apply_transform(T)
    return box, R


def test_contacts_box_axes_and_diagonal():
    box = trimesh.creation.box(extents=(0.05, 0.04, 0.06))
    centres = np.zeros((4, 3))
    a = np.deg2rad(20.0)
    dirs = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [np.cos(a), np.sin(a), 0]], float)
    res = antipodal_contacts(box, centres, dirs)
    assert res['found'].all()
    np.testing.assert_allclose(res['half_width'], [0.025, 0.02, 0.03, 0.025 / np.cos(a)],
                               atol=1e-6)
    np.testing.assert_allclose(res['mu'][:3], 0.0, atol=1e-6)
    np.testing.assert_allclose(res['mu'][3], np.tan(a), atol=1e-5)
    # a line that misses the box, and one whose centre lies beyond the box
    res = antipodal_contacts(box, np.array([[0, 0, 0.1], [0.1, 0, 0]]),
                             np.array([[1.0, 0, 0], [1.0, 0, 0]]))
    assert not res['found'].any()


def test_labels_box_hand_values():
    box, R = _box_in_gripper_frame(VIEWS[TOP])
    labels = compute_grasp_labels(box, COARSE, name='box', points=np.zeros((1, 3)))
    assert labels.offsets.shape == (1, 300, 12, 4, 3) and labels.offsets.dtype == np.float32
    assert labels.scores.dtype == np.float32 and labels.collision.dtype == bool
    s, w = labels.scores[0, TOP], labels.offsets[0, TOP, ..., 2]
    np.testing.assert_allclose(labels.offsets[0, TOP, :, 0, 0], np.arange(12) * np.pi / 12)
    np.testing.assert_allclose(labels.offsets[0, TOP, 0, :, 1], [0.01, 0.02, 0.03, 0.04])
    # closing along the box's 0.04 m axis: antipodal, width = 0.04 + margin, best score
    np.testing.assert_allclose(s[0], 0.1, atol=1e-6)
    np.testing.assert_allclose(w[0], 0.04 + COARSE.width_margin, atol=1e-5)
    assert not labels.collision[0, TOP, 0].any()
    # 15 and 30 degrees in-plane: the line leaves through the same faces, mu = tan(theta)
    for k, fric in ((1, 0.3), (2, 0.6)):  # tan 15 = 0.268, tan 30 = 0.577
        theta = k * np.pi / 12
        np.testing.assert_allclose(s[k], fric, atol=1e-6)
        np.testing.assert_allclose(w[k], 0.04 / np.cos(theta) + 0.01, atol=1e-5)
    # 60 degrees: the line leaves through the 0.06 m faces at 30 degrees
    np.testing.assert_allclose(s[4], 0.6, atol=1e-6)
    np.testing.assert_allclose(w[4], 0.06 / np.cos(np.pi / 6) + 0.01, atol=1e-5)
    # 90 degrees: closing along the 0.06 m axis
    np.testing.assert_allclose(s[6], 0.1, atol=1e-6)
    np.testing.assert_allclose(w[6], 0.07, atol=1e-5)
    # approaching from inside the box (the opposite view): the palm is inside -> collision
    opposite = np.argmin(VIEWS @ VIEWS[TOP])
    assert labels.collision[0, opposite].all()


def test_labels_box_too_wide_is_invalid():
    box, _ = _box_in_gripper_frame(VIEWS[TOP], extents=(0.05, 0.095, 0.095))
    labels = compute_grasp_labels(box, COARSE, name='wide', points=np.zeros((1, 3)))
    assert (labels.scores[0, TOP, 0] == -1).all()  # 0.095 + 0.01 > 0.1
    np.testing.assert_allclose(labels.offsets[0, TOP, 0, :, 2], 0.1)


def test_labels_sphere_hand_values():
    r = 0.03
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=r)
    idx = np.array([0, 77, 150, TOP])
    points = r * VIEWS[idx]  # approach = -view goes through the centre
    binned = compute_grasp_labels(sphere, COARSE, name='sphere', points=points)
    # continuous friction values (facets of the icosphere tilt normals by < 1 degree)
    cfg = GraspLabelConfig(point_spacing=0.02, max_points=16, friction_step=None)
    labels = compute_grasp_labels(sphere, cfg, name='sphere', points=points)
    for n, i in enumerate(idx):
        s, w = labels.scores[n, i], labels.offsets[n, i, ..., 2]
        # depth r = 0.03: the closing line passes the centre, every angle antipodal
        np.testing.assert_allclose(binned.scores[n, i, :, 2], 0.1, atol=1e-6)
        assert (s[:, 2] < 0.03).all()
        np.testing.assert_allclose(w[:, 2], 2 * r + 0.01, atol=2e-4)
        # depth d: line at |r - d| from the centre, sin(alpha) = |r - d| / r
        for j, d in enumerate((0.01, 0.02, 0.04)):
            jj = [0, 1, 3][j]
            mu = np.tan(np.arcsin(abs(r - d) / r))
            np.testing.assert_allclose(s[:, jj], mu, atol=0.03)
            np.testing.assert_allclose(w[:, jj], 2 * np.sqrt(r**2 - (r - d)**2) + 0.01,
                                       atol=3e-4)
        assert not labels.collision[n, i].any()


def test_labels_default_sampling():
    box = trimesh.creation.box(extents=(0.05, 0.04, 0.06))
    labels = compute_grasp_labels(box, COARSE, name='box')
    assert 4 <= labels.num_points <= 16
    # surface points lie on the surface
    import open3d as o3d
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(box.vertices.astype(np.float32)),
                        o3d.core.Tensor(box.faces.astype(np.uint32)))
    dist = scene.compute_distance(o3d.core.Tensor(labels.points.astype(np.float32)))
    assert dist.numpy().max() < 1e-6
    assert (labels.scores > 0).any() and (labels.scores == -1).any()
    valid = labels.scores > 0
    tenths = labels.scores[valid].astype(np.float64) * 10
    np.testing.assert_allclose(tenths, np.round(tenths), atol=1e-4)  # 0.1 friction grid
    assert tenths.min() > 0.99 and tenths.max() < 12.01
    assert (labels.offsets[..., 2] <= 0.1 + 1e-6).all()


def test_bad_meshes_raise():
    big = trimesh.creation.box(extents=(0.2, 0.2, 0.2))
    with pytest.raises(ValueError, match='big_box.*too big'):
        compute_grasp_labels(big, COARSE, name='big_box')
    open_box = trimesh.creation.box(extents=(0.05, 0.05, 0.05))
    open_box = trimesh.Trimesh(open_box.vertices, open_box.faces[:-1], process=False)
    with pytest.raises(ValueError, match='open_box.*watertight'):
        compute_grasp_labels(open_box, COARSE, name='open_box')
    with pytest.raises(ValueError, match='nan_box'):
        compute_grasp_labels((np.full((8, 3), np.nan), open_box.faces), COARSE,
                             name='nan_box')


def test_npz_loads_through_graspnetapi(tmp_path):
    """grasp_label npz -> graspnetAPI get_model_grasps / loadGraspLabels / loadGrasp."""
    from graspnetAPI.graspnet import GraspNet
    from graspnetAPI.utils.utils import get_model_grasps

    from graspcontrast_mm.synthetic.writer import write_annotation_xml

    box, _ = _box_in_gripper_frame(VIEWS[TOP])
    labels = compute_grasp_labels(box, COARSE, name='000', points=np.zeros((1, 3)))
    root = str(tmp_path)
    path = os.path.join(root, 'grasp_label', '000_labels.npz')
    save_grasp_labels(path, labels)
    assert not [f for f in os.listdir(os.path.dirname(path)) if 'tmp' in f]
    points, offsets, scores, collision = get_model_grasps(path)
    assert offsets.dtype == np.float32 and scores.dtype == np.float32
    assert collision.dtype == bool and points.dtype == np.float32
    np.testing.assert_array_equal(scores, labels.scores)
    back = load_grasp_labels(path)
    np.testing.assert_array_equal(back.offsets, labels.offsets)

    fake = types.SimpleNamespace(root=root, objIds=[0])
    grasp_labels = GraspNet.loadGraspLabels(fake, objIds=[0])
    # one-scene GraspNet root: camera 0 = identity, object pose T_cam_obj
    T = np.eye(4)
    T[:3, 3] = [0.1, -0.05, 0.6]
    cam_dir = os.path.join(root, 'scenes', 'scene_0000', 'kinect')
    os.makedirs(cam_dir)
    np.save(os.path.join(cam_dir, 'camera_poses.npy'), np.eye(4)[None])
    write_annotation_xml(os.path.join(cam_dir, 'annotations', '0000.xml'), T[None], [0],
                         ['box'])
    coll = {'scene_0000': [labels.collision]}
    gg = GraspNet.loadGrasp(fake, 0, 0, format='6d', camera='kinect',
                            grasp_labels=grasp_labels, collision_labels=coll,
                            fric_coef_thresh=0.6)
    ours = decode_label_grasps(labels.points, labels.offsets, labels.scores,
                               labels.collision, T, object_id=0, fric_coef_thresh=0.6)
    assert len(gg) == len(ours) > 0
    ref = gg.grasp_group_array
    key = lambda a: np.lexsort(np.round(a[:, :16], 4).T)  # noqa: E731
    np.testing.assert_allclose(ref[key(ref)], ours[key(ours)], atol=1e-5)


def test_collision_kernel_hand_values():
    # gripper at the origin, view TOP, angle 0, width 0.05: finger centre at y = +-0.03
    R = view_angle_to_matrix(VIEWS[TOP][None], 0.0)[0].astype(np.float64)
    widths = np.full((1, 300, 12, 4), 0.05)
    finger = (0.0 * R[:, 0] + 0.03 * R[:, 1])[None]           # inside a finger, x = 0
    tip = (0.025 * R[:, 0] + 0.03 * R[:, 1])[None]            # beyond depth 0.01 / 0.02
    palm = (-0.025 * R[:, 0])[None]                           # inside the palm
    inner = (0.005 * R[:, 0])[None]                           # between the fingers
    out = lambda p: gripper_collision(p, np.zeros((1, 3)), widths)[0, TOP, 0]  # noqa: E731
    assert out(finger).all()
    np.testing.assert_array_equal(out(tip), [False, False, True, True])
    assert out(palm).all()
    assert not out(inner).any()
    # the finger point is outside the slab |z| < 0.01 after a 90 degree rotation
    assert not gripper_collision(finger, np.zeros((1, 3)), widths)[0, TOP, 6].any()


def test_scene_collision_table_and_neighbour(tmp_path):
    cube = trimesh.creation.box(extents=(0.04, 0.04, 0.04))
    top = np.array([[0.0, 0.0, 0.02]])          # top-face centre, object frame
    labels = compute_grasp_labels(cube, COARSE, name='cube', points=top)
    T0 = np.eye(4)
    T0[2, 3] = 0.02                             # resting on the table
    # hand value: approach straight down at a top face at z = 0.035 (world): the finger
    # tips reach z = 0.035 - d, below the table only for d = 0.04
    T_low = T0.copy()
    T_low[2, 3] = 0.015
    down = table_collision(top, np.full((1, 1, 1, 4), 0.05), T_low,
                           views=np.array([[0.0, 0.0, 1.0]]), angles=np.zeros(1))
    np.testing.assert_array_equal(down[0, 0, 0], [False, False, False, True])
    # every label grasp against a brute-force corner test, for a tilted pose
    from scipy.spatial.transform import Rotation
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler('xyz', [20, -35, 50], degrees=True).as_matrix()
    T[2, 3] = 0.03
    views = VIEWS[::15]
    pts = np.array([[0.0, 0.0, 0.02], [0.02, 0.01, -0.02]])
    widths = np.random.default_rng(0).uniform(0.02, 0.1, (2, len(views), 12, 4))
    fast = table_collision(pts, widths, T, views=views)
    brute = np.zeros_like(fast)
    for v in range(len(views)):
        for a in range(12):
            R = T[:3, :3] @ view_angle_to_matrix(views[v][None], a * np.pi / 12)[0]
            for p in range(2):
                origin = T[:3, :3] @ pts[p] + T[:3, 3]
                for d in range(4):
                    dep, hw = 0.01 * (d + 1), widths[p, v, a, d] / 2
                    boxes = [((-0.02, dep), (hw, hw + 0.01)), ((-0.02, dep), (-hw - 0.01, -hw)),
                             ((-0.03, -0.02), (-hw - 0.01, hw + 0.01))]
                    low = min((origin + R @ np.array([x, y, z]))[2] for (xr, yr) in boxes
                              for x in xr for y in yr for z in (-0.01, 0.01))
                    brute[p, v, a, d] = low < 0
    np.testing.assert_array_equal(fast, brute)
    assert brute.any() and not brute.all()
    # a second cube next to the first, where the fingers of angle 0 go
    R = view_angle_to_matrix(VIEWS[TOP][None], 0.0)[0].astype(np.float64)
    T1 = np.eye(4)
    T1[:3, 3] = T0[:3, 3] + 0.02 * R[:, 0] + 0.06 * R[:, 1] * np.array([1, 1, 0])
    T1[2, 3] = 0.02
    colls = compute_scene_collision_labels([cube, cube], [T0, T1], [labels, labels])
    assert len(colls) == 2 and colls[0].shape == labels.scores.shape
    assert colls[0][0, TOP, 0].any()
    assert (colls[0] | labels.collision).sum() == colls[0].sum()  # includes self collision
    alone = compute_scene_collision_labels([cube], [T0], [labels])[0]
    assert not alone[0, TOP, 0, 0]
    path = os.path.join(str(tmp_path), 'collision_label', 'scene_0000', 'collision_labels.npz')
    save_collision_labels(path, colls)
    back = load_collision_labels(path)
    assert len(back) == 2 and back[0].dtype == bool
    np.testing.assert_array_equal(back[1], colls[1])


def test_point_graspness():
    scores = -np.ones((3, 300, 12, 4), np.float32)
    scores[0] = 0.5                     # every grasp good
    scores[1, :150] = 0.9               # above 0.8: not counted
    scores[1, 150:] = 0.3               # half good
    collision = np.zeros(scores.shape, bool)
    collision[0, :75] = True            # a quarter of point 0 collides
    g = point_graspness(scores, collision)
    np.testing.assert_allclose(g, [0.75, 0.5, 0.0])
    label_pts = np.array([[0, 0, 0], [0.1, 0, 0], [0.2, 0, 0]], float)
    T = np.eye(4)
    T[:3, 3] = [0, 0, 0.5]
    scene = np.array([[0.01, 0, 0.5], [0.09, 0, 0.5], [0.3, 0, 0.5], [0.19, 0.01, 0.5]])
    raw = compute_point_graspness(scene, [label_pts], [T], scores=[scores],
                                  collisions=[collision], normalize=False)
    np.testing.assert_allclose(raw, [0.75, 0.5, 0.0, 0.0])
    norm = compute_point_graspness(scene, [label_pts], [T], label_graspness=[g])
    np.testing.assert_allclose(norm, [1.0, 2 / 3, 0.0, 0.0], atol=1e-6)
