"""Object library, camera trajectory and depth noise model."""
import os

import cv2
import numpy as np
import pytest

from graspcontrast_mm.synthetic import (NOISE_PRESETS, OBJECT_SETS, DepthNoiseConfig,
                                        ObjectLibrary, apply_depth_noise,
                                        camera_intrinsics, look_at, make_trajectory,
                                        object_set_of, quantize_depth_mm)


def test_library_ids_are_stable_and_objects_fit_the_gripper():
    lib = ObjectLibrary()
    assert lib.name(0) == 'cube_50mm'
    assert lib.name(12) == 'duck'
    assert lib.name(20) == 'random_urdf_000'
    assert lib.name(254) == 'random_urdf_234'
    assert max(lib.ids) == 254  # label PNGs are uint8 and store obj_id + 1
    with pytest.raises(KeyError, match='17'):
        lib.get(17)
    assert object_set_of(3) == 'seen' and object_set_of(170) == 'similar'
    assert object_set_of(14) == 'novel'
    assert not set(OBJECT_SETS['seen']) & set(OBJECT_SETS['similar'])
    for obj_id in (0, 3, 6, 7, 10, 12, 14, 20, 99, 254):
        model = lib.get(obj_id)
        mesh = model.trimesh()
        assert mesh.is_watertight and mesh.volume > 0, obj_id
        ext = np.sort(mesh.bounding_box_oriented.primitive.extents)
        assert ext[0] <= 0.0705 and ext[2] <= 0.2, (obj_id, ext)
        np.testing.assert_allclose(mesh.center_mass, 0, atol=1e-6)
    # same object, same mesh, every time
    a = ObjectLibrary().get(99)
    np.testing.assert_array_equal(a.vertices, lib.get(99).vertices)


def test_intrinsics_scaling():
    K = camera_intrinsics('kinect')
    np.testing.assert_allclose(K[[0, 1, 0, 1], [0, 1, 2, 2]], [631.55, 631.21, 638.44, 366.5])
    K2 = camera_intrinsics('realsense', (640, 360))
    np.testing.assert_allclose(K2[0, 0], 927.17 / 2)
    with pytest.raises(ValueError, match='camera'):
        camera_intrinsics('zed')


def test_trajectory_looks_at_table_from_quarter_sphere():
    rng = np.random.default_rng(0)
    poses = make_trajectory(256, rng)
    assert poses.shape == (256, 4, 4)
    R = poses[:, :3, :3]
    np.testing.assert_allclose(R @ R.transpose(0, 2, 1), np.broadcast_to(np.eye(3), R.shape),
                               atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-9)
    centres = poses[:, :3, 3]
    dist = np.linalg.norm(centres, axis=1)
    assert dist.min() > 0.47 and dist.max() < 0.73
    elevation = np.degrees(np.arcsin(centres[:, 2] / dist))
    assert elevation.min() > 25 and elevation.max() < 80
    # optical axis (camera z) passes within a few cm of the table centre
    axis = poses[:, :3, 2]
    t = -(centres * axis).sum(1)
    closest = centres + t[:, None] * axis
    assert np.linalg.norm(closest, axis=1).max() < 0.05
    # camera x axis is horizontal (no roll): image "up" is world up
    assert np.abs(poses[:, 2, 0]).max() < 1e-9
    # smooth: consecutive views are close
    step = np.linalg.norm(np.diff(centres, axis=0), axis=1)
    assert step.max() < 0.1 and np.median(step) < 0.04
    eye = look_at(np.array([0.5, 0, 0.5]), np.zeros(3))
    np.testing.assert_allclose(eye[:3, 1] @ np.array([0, 0, 1]) < 0, True)


def test_noise_model_statistics():
    h, w = 180, 320
    depth = np.full((h, w), 0.6, np.float32)
    cos = np.ones((h, w), np.float32)
    cfg = DepthNoiseConfig(holes_per_frame=0, pixel_dropout_prob=0.0)
    out = apply_depth_noise(depth, cos, np.random.default_rng(0), cfg)
    assert out.dtype == np.uint16
    err = out.astype(np.float64) / 1000.0 - 0.6
    sigma = cfg.axial_base + cfg.axial_quadratic * (0.6 - cfg.axial_ref_depth)**2
    assert 0.6 * sigma < err.std() < 1.6 * sigma
    assert abs(err.mean()) < 2e-4
    # deterministic for a generator state
    again = apply_depth_noise(depth, cos, np.random.default_rng(0), cfg)
    np.testing.assert_array_equal(out, again)
    # grazing angles drop out, frontal views keep their pixels
    grazing = np.full((h, w), np.cos(np.radians(88.0)), np.float32)
    out = apply_depth_noise(depth, grazing, np.random.default_rng(1), cfg)
    assert (out == 0).mean() > 0.99
    # holes and random dropout
    out = apply_depth_noise(depth, cos, np.random.default_rng(2),
                            DepthNoiseConfig(holes_per_frame=5, pixel_dropout_prob=0.01))
    assert 0.005 < (out == 0).mean() < 0.3
    # edges: a step of 10 cm produces invalid / flying / shifted pixels along it
    step = depth.copy()
    step[:, w // 2:] = 0.7
    out = apply_depth_noise(step, cos, np.random.default_rng(3), cfg)
    cols = out[:, w // 2 - 1:w // 2 + 1]
    assert (cols == 0).mean() > 0.1
    assert 'kinect' in NOISE_PRESETS


def test_quantisation_mm():
    q = quantize_depth_mm(np.array([[0.0, 0.5004, 0.5006, 70.0]]), min_depth=0.1)
    np.testing.assert_array_equal(q, [[0, 500, 501, 0]])


def test_noisy_dataset_has_sensor_artefacts(noisy_root):
    cam_dir = os.path.join(noisy_root, 'scenes', 'scene_0001', 'realsense')
    depth = cv2.imread(os.path.join(cam_dir, 'depth', '0000.png'), cv2.IMREAD_UNCHANGED)
    label = cv2.imread(os.path.join(cam_dir, 'label', '0000.png'), cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.uint16
    visible = label > 0
    # the label comes from exact geometry; some object pixels have no measurement
    assert visible.any()
    assert 0.0 < (depth[visible] == 0).mean() < 0.5
