"""Graspness files in the GSNet reference's layout, on the REAL GraspNet Kinect frame.

The reference's ``generate_graspness.py`` writes, per frame, an ``(N_masked, 1)`` float64
array: one value per pixel of its workspace mask (row-major), i.e. aligned with its masked
cloud, not with the image. Here such a file is written, in a temporary GraspNet-layout
folder, for the real Kinect frame of ../shared/realdata (with a made-up label image, table
pose and grasp labels, see tests/real_kinect_frame.py), by an independent transcription of
the reference's steps; GraspNetDataset + LoadGraspLabels must read it back at the right
pixels, and computing the graspness from the labels must give the same values.
"""
import os
import shutil

import cv2
import numpy as np
import pytest
import real_kinect_frame as real
from scipy.spatial import cKDTree

from graspcontrast_mm.registry import DATASETS

pytestmark = real.requires_realdata()
SCENE = 100
NUM_GRASP_POINTS = 12


@pytest.fixture(scope='module')
def reference_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('graspnet_real_reference')
    depth_png, meta = real.load()
    seg = real.label_image(depth_png, meta)
    cam_dir = root / 'scenes' / f'scene_{SCENE:04d}' / 'kinect'
    for sub in ('depth', 'label', 'meta'):
        os.makedirs(cam_dir / sub)
    shutil.copy(os.path.join(real.REAL, 'depth.png'), cam_dir / 'depth' / '0000.png')
    shutil.copy(os.path.join(real.REAL, 'meta.mat'), cam_dir / 'meta' / '0000.mat')
    cv2.imwrite(str(cam_dir / 'label' / '0000.png'), seg)
    np.save(cam_dir / 'camK.npy', meta['intrinsic_matrix'])
    np.save(cam_dir / 'camera_poses.npy', np.eye(4)[None])
    np.save(cam_dir / 'cam0_wrt_table.npy', real.CAM2WORLD)
    ids = (meta['cls_indexes'].reshape(-1) - 1).tolist()
    (root / 'scenes' / f'scene_{SCENE:04d}' / 'object_id_list.txt').write_text(
        '\n'.join(map(str, ids)) + '\n')
    # grasp labels: 12 grasp points on a 3 cm sphere around every object's origin
    rng = np.random.default_rng(0)
    os.makedirs(root / 'grasp_label')
    points, collisions, scores_all = [], [], []
    for obj_id in ids:
        p = rng.normal(size=(NUM_GRASP_POINTS, 3))
        p = 0.03 * p / np.linalg.norm(p, axis=1, keepdims=True)
        scores = rng.choice([-1.0, 0.2, 0.6, 1.0], size=(NUM_GRASP_POINTS, 300, 12, 4))
        np.savez(root / 'grasp_label' / f'{obj_id:03d}_labels.npz',
                 points=p.astype(np.float32), scores=scores.astype(np.float32),
                 offsets=np.full(scores.shape + (3,), 0.02, np.float32))
        points.append(p.astype(np.float32))
        scores_all.append(scores.astype(np.float32))
        collisions.append(rng.random(scores.shape) < 0.3)
    os.makedirs(root / 'collision_label' / f'scene_{SCENE:04d}')
    np.savez(root / 'collision_label' / f'scene_{SCENE:04d}' / 'collision_labels.npz',
             *collisions)
    # the reference's generate_graspness.py, step by step
    mask = real.reference_workspace_mask(depth_png, seg, meta['intrinsic_matrix'],
                                         float(meta['factor_depth'][0, 0]),
                                         real.CAM2WORLD @ np.eye(4))
    K = meta['intrinsic_matrix']
    h, w = depth_png.shape
    xmap, ymap = np.meshgrid(np.arange(w), np.arange(h))
    z = depth_png / 1000.0
    cloud = np.stack([(xmap - K[0][2]) * z / K[0][0], (ymap - K[1][2]) * z / K[1][1], z],
                     axis=-1)[mask]
    grasp_cam, grasp_g = [], []
    for i in range(len(ids)):
        T = np.eye(4)
        T[:3, :] = meta['poses'][:, :, i]
        grasp_cam.append(points[i] @ T[:3, :3].T + T[:3, 3])
        valid = (scores_all[i] <= 0.8) & (scores_all[i] > 0) & ~collisions[i]
        grasp_g.append(valid.reshape(NUM_GRASP_POINTS, -1).sum(1) / (300 * 12 * 4))
    _, nn = cKDTree(np.vstack(grasp_cam)).query(cloud)
    values = np.concatenate(grasp_g)[nn].reshape(-1, 1)
    values = (values - values.min()) / (values.max() - values.min())
    out = root / 'graspness' / f'scene_{SCENE:04d}' / 'kinect'
    os.makedirs(out)
    np.save(out / '0000.npy', values)
    gmap = np.zeros((h, w))
    gmap[mask] = values[:, 0]
    return str(root), gmap, seg, mask


def _dataset(root, source):
    return DATASETS.build(dict(
        type='GraspNetDataset', data_root=root, camera='kinect', scene_ids=[SCENE],
        mode='grasp', test_mode=True,
        pipeline=[dict(type='LoadDepthImage'),
                  dict(type='DepthToPoints', min_depth=0.1, max_depth=2.0,
                       with_pixel_uv=True),
                  dict(type='LoadGraspLabels', graspness_source=source)]))


def test_reference_layout_file_is_read_at_its_pixels(reference_root):
    root, gmap, seg, mask = reference_root
    values = np.load(os.path.join(root, 'graspness', f'scene_{SCENE:04d}', 'kinect',
                                  '0000.npy'))
    assert values.shape == (mask.sum(), 1) and values.dtype == np.float64
    out = _dataset(root, 'auto')[0]
    assert out['graspness_source'] == 'file'
    u, v = out['pixel_uv'][:, 0], out['pixel_uv'][:, 1]
    obj = out['objectness_label'] == 1
    assert obj.sum() > 1000
    np.testing.assert_array_equal(out['pts_instance_mask'], seg[v, u])
    np.testing.assert_allclose(out['graspness_label'][obj], gmap[v, u][obj].astype(np.float32))
    assert np.all(out['graspness_label'][~obj] == 0)
    assert out['graspness_label'][obj].max() > 0.5
    # the reference's workspace reached the camera centre (object pixels without depth)
    np.testing.assert_array_equal(out['workspace_mask'], mask)


def test_computed_graspness_equals_the_reference_file(reference_root):
    root = reference_root[0]
    from_file = _dataset(root, 'file')[0]
    computed = _dataset(root, 'compute')[0]
    assert computed['graspness_source'] == 'compute'
    np.testing.assert_allclose(computed['graspness_label'], from_file['graspness_label'],
                               atol=1e-6)
