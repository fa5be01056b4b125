"""The generated files follow the GraspNet-1Billion layout and agree on frames and units."""
import json
import os

import cv2
import numpy as np
import pytest
import scipy.io

from graspcontrast_mm.synthetic import (MANIFEST_NAME, GraspNetLayout, ObjectLibrary,
                                        load_scene_info)

W, H, N_VIEWS = 320, 180, 8  # clean_root (tests/conftest.py)
SCENES = (0, 100)


def _cam_dir(root, scene_id, camera='realsense'):
    return os.path.join(GraspNetLayout(root).scene_dir(scene_id), camera)


def _read_png(path):
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    return img


def _cam2world(root, scene_id, frame_id):
    cam_dir = _cam_dir(root, scene_id)
    return np.load(os.path.join(cam_dir, 'cam0_wrt_table.npy')) @ np.load(
        os.path.join(cam_dir, 'camera_poses.npy'))[frame_id]


def _backproject(depth_mm, K, mask):
    v, u = np.nonzero(mask & (depth_mm > 0))
    z = depth_mm[v, u].astype(np.float64) / 1000.0
    x = (u - K[0, 2]) * z / K[0, 0]
    y = (v - K[1, 2]) * z / K[1, 1]
    return np.stack([x, y, z], 1)


def _transform(T, p):
    return p @ T[:3, :3].T + T[:3, 3]


def test_files_dtypes_shapes(clean_root):
    layout = GraspNetLayout(clean_root)
    assert os.path.isfile(os.path.join(clean_root, MANIFEST_NAME))
    for scene_id in SCENES:
        scene_dir = layout.scene_dir(scene_id)
        obj_ids = [int(x) for x in open(os.path.join(scene_dir, 'object_id_list.txt'))]
        assert 1 <= len(obj_ids) <= 5 and obj_ids == sorted(obj_ids)
        cam_dir = _cam_dir(clean_root, scene_id)
        K = np.load(os.path.join(cam_dir, 'camK.npy'))
        assert K.shape == (3, 3) and K.dtype == np.float64
        np.testing.assert_allclose(K[0, 0], 927.17 * W / 1280)
        poses = np.load(os.path.join(cam_dir, 'camera_poses.npy'))
        assert poses.shape == (N_VIEWS, 4, 4)
        np.testing.assert_allclose(poses[0], np.eye(4), atol=1e-12)
        cam0 = np.load(os.path.join(cam_dir, 'cam0_wrt_table.npy'))
        assert cam0.shape == (4, 4)
        np.testing.assert_allclose(cam0[:3, :3] @ cam0[:3, :3].T, np.eye(3), atol=1e-9)
        for frame_id in range(N_VIEWS):
            files = GraspNetLayout.camera_files(layout.scene_dir(scene_id), 'realsense',
                                                frame_id)
            depth = _read_png(files['depth'])
            assert depth.dtype == np.uint16 and depth.shape == (H, W)
            label = _read_png(files['label'])
            assert label.dtype == np.uint8 and label.shape == (H, W)
            assert set(np.unique(label)) <= {0} | {i + 1 for i in obj_ids}
            rgb = _read_png(files['rgb'])
            assert rgb.dtype == np.uint8 and rgb.shape == (H, W, 3)
            meta = scipy.io.loadmat(files['meta'])
            np.testing.assert_allclose(meta['intrinsic_matrix'], K)
            assert meta['factor_depth'].shape == (1, 1) and meta['factor_depth'][0, 0] == 1000
            assert meta['poses'].shape == (3, 4, len(obj_ids))
            np.testing.assert_array_equal(meta['cls_indexes'],
                                          np.array([obj_ids]) + 1)
            assert os.path.isfile(files['annotation'])
    for obj_id in {int(x) for s in SCENES
                   for x in open(os.path.join(layout.scene_dir(s), 'object_id_list.txt'))}:
        import open3d as o3d
        pcd = o3d.io.read_point_cloud(layout.model_ply(obj_id))
        pts = np.asarray(pcd.points)
        assert len(pts) > 500
        assert np.abs(pts).max() < 0.15  # metres, object frame centred at the mass centre


def test_annotations_readable_by_graspnetapi(clean_root):
    xmlhandler = pytest.importorskip('graspnetAPI.utils.xmlhandler')
    utils = pytest.importorskip('graspnetAPI.utils.utils')
    files = GraspNetLayout.camera_files(GraspNetLayout(clean_root).scene_dir(0),
                                        'realsense', 3)
    meta = scipy.io.loadmat(files['meta'])
    vectors = xmlhandler.xmlReader(files['annotation']).getposevectorlist()
    assert [int(v[0]) + 1 for v in vectors] == meta['cls_indexes'][0].astype(int).tolist()
    for i, vec in enumerate(vectors):
        _, mat = utils.parse_posevector(vec)
        np.testing.assert_allclose(mat[:3, :4], meta['poses'][:, :, i], atol=2e-3)


def test_meta_poses_are_camera_frame_poses(clean_root):
    for scene_id in SCENES:
        info = load_scene_info(clean_root, scene_id)
        for frame_id in range(N_VIEWS):
            T_world_cam = _cam2world(clean_root, scene_id, frame_id)
            meta = scipy.io.loadmat(os.path.join(_cam_dir(clean_root, scene_id), 'meta',
                                                 f'{frame_id:04d}.mat'))
            for i in range(len(info['obj_ids'])):
                expected = np.linalg.inv(T_world_cam) @ info['poses_world'][i]
                np.testing.assert_allclose(meta['poses'][:, :, i], expected[:3], atol=1e-9)


def test_backprojected_object_pixels_lie_on_posed_models(clean_root):
    import open3d as o3d
    lib = ObjectLibrary()
    for scene_id in SCENES:
        info = load_scene_info(clean_root, scene_id)
        K = np.load(os.path.join(_cam_dir(clean_root, scene_id), 'camK.npy'))
        for frame_id in (0, N_VIEWS - 1):
            files = GraspNetLayout.camera_files(
                GraspNetLayout(clean_root).scene_dir(scene_id), 'realsense', frame_id)
            depth, label = _read_png(files['depth']), _read_png(files['label'])
            T_world_cam = _cam2world(clean_root, scene_id, frame_id)
            for obj_id, T_world_obj in zip(info['obj_ids'], info['poses_world']):
                pts_cam = _backproject(depth, K, label == obj_id + 1)
                if len(pts_cam) < 20:
                    continue
                pts_obj = _transform(np.linalg.inv(T_world_obj),
                                     _transform(T_world_cam, pts_cam))
                model = lib.get(obj_id)
                scene = o3d.t.geometry.RaycastingScene()
                scene.add_triangles(o3d.core.Tensor(model.vertices.astype(np.float32)),
                                    o3d.core.Tensor(model.faces.astype(np.uint32)))
                dist = scene.compute_distance(
                    o3d.core.Tensor(pts_obj.astype(np.float32))).numpy()
                assert np.median(dist) < 1e-3, (scene_id, frame_id, obj_id)
                assert np.percentile(dist, 99) < 3e-3, (scene_id, frame_id, obj_id)


def test_table_pixels_at_table_height_and_depth_in_mm(clean_root):
    K = np.load(os.path.join(_cam_dir(clean_root, 0), 'camK.npy'))
    for frame_id in range(N_VIEWS):
        files = GraspNetLayout.camera_files(GraspNetLayout(clean_root).scene_dir(0),
                                            'realsense', frame_id)
        depth, label = _read_png(files['depth']), _read_png(files['label'])
        T_world_cam = _cam2world(clean_root, 0, frame_id)
        pts = _transform(T_world_cam, _backproject(depth, K, label == 0))
        assert len(pts) > 1000
        assert np.abs(pts[:, 2]).max() < 3e-3  # table top at z = 0 (metres)
        # the optical axis passes near the table centre 0.5-0.7 m away: millimetres
        centre = depth[int(round(K[1, 2])), int(round(K[0, 2]))]
        dist = np.linalg.norm(T_world_cam[:3, 3])
        assert 450 <= centre <= 750 and abs(centre / 1000.0 - dist) < 0.08


def test_two_views_see_the_same_world_points(clean_root):
    K = np.load(os.path.join(_cam_dir(clean_root, 0), 'camK.npy'))
    layout = GraspNetLayout(clean_root)
    fa, fb = 0, 1
    depth_a = _read_png(layout.camera_files(layout.scene_dir(0), 'realsense', fa)['depth'])
    label_a = _read_png(layout.camera_files(layout.scene_dir(0), 'realsense', fa)['label'])
    depth_b = _read_png(layout.camera_files(layout.scene_dir(0), 'realsense', fb)['depth'])
    label_b = _read_png(layout.camera_files(layout.scene_dir(0), 'realsense', fb)['label'])
    world = _transform(_cam2world(clean_root, 0, fa),
                       _backproject(depth_a, K, np.ones_like(label_a, bool)))
    lab_a = label_a[depth_a > 0]
    p_b = _transform(np.linalg.inv(_cam2world(clean_root, 0, fb)), world)
    u = np.round(K[0, 0] * p_b[:, 0] / p_b[:, 2] + K[0, 2]).astype(int)
    v = np.round(K[1, 1] * p_b[:, 1] / p_b[:, 2] + K[1, 2]).astype(int)
    inside = (u >= 0) & (u < W) & (v >= 0) & (v < H) & (p_b[:, 2] > 0)
    assert inside.mean() > 0.3
    zb = depth_b[v[inside], u[inside]] / 1000.0
    err = np.abs(zb - p_b[inside, 2])
    valid = zb > 0
    agree = err[valid] < 5e-3  # rounding to the pixel grid and occlusions aside
    assert agree.mean() > 0.8
    same_label = label_b[v[inside], u[inside]][valid][agree] == lab_a[inside][valid][agree]
    assert same_label.mean() > 0.95


def test_objects_rest_on_table_without_interpenetration(clean_root):
    import open3d as o3d
    lib = ObjectLibrary()
    for scene_id in SCENES:
        info = load_scene_info(clean_root, scene_id)
        posed = []
        for obj_id, T in zip(info['obj_ids'], info['poses_world']):
            m = lib.get(obj_id)
            v = _transform(T, m.vertices)
            posed.append((v, m.faces))
            assert v[:, 2].min() > -3e-3, 'object sinks into the table'
            assert v[:, 2].min() < 0.05, 'object floats'
            assert np.abs(T[:2, 3]).max() <= 0.2, 'object outside the workspace'
        for i, (vi, fi) in enumerate(posed):
            for j, (vj, fj) in enumerate(posed):
                if i == j:
                    continue
                scene = o3d.t.geometry.RaycastingScene()
                scene.add_triangles(o3d.core.Tensor(vj.astype(np.float32)),
                                    o3d.core.Tensor(fj.astype(np.uint32)))
                sd = scene.compute_signed_distance(
                    o3d.core.Tensor(vi.astype(np.float32))).numpy()
                assert sd.min() > -4e-3, (scene_id, i, j, sd.min())


def test_scene_info_and_manifest(clean_root):
    manifest = json.load(open(os.path.join(clean_root, MANIFEST_NAME)))
    assert manifest['settings']['num_views'] == N_VIEWS
    assert manifest['settings']['noise'] is False
    info = load_scene_info(clean_root, 100)
    assert info['object_set'] == 'seen'
    assert info['poses_world'].shape == (len(info['obj_ids']), 4, 4)
