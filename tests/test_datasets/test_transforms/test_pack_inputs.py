import cv2
import numpy as np
import torch
from mmcv.transforms import Compose
from mmdet3d.structures import Det3DDataSample

from graspcontrast_mm.datasets.transforms import (PackPointsInputs, PackViewPairInputs,
                                                  Voxelize)
from graspcontrast_mm.datasets.transforms.view_pair import view_points_world
from graspcontrast_mm.registry import TRANSFORMS
from graspcontrast_mm.structures import invert_transform


def render_plane_depth(cam2world, K, shape=(60, 80)):
    """Depth (metres) of the table plane z_world = 0 seen by the camera."""
    h, w = shape
    u, v = np.meshgrid(np.arange(w), np.arange(h))
    rays_cam = np.stack([u, v, np.ones_like(u)], -1).reshape(-1, 3) @ np.linalg.inv(K).T
    rays_world = rays_cam @ cam2world[:3, :3].T  # directions with z_cam = 1
    depth = -cam2world[2, 3] / rays_world[:, 2]  # hit z_world = 0
    return depth.reshape(h, w)


def test_pack_view_pair_types(grid_scene, two_poses, make_view_fn):
    v0 = Voxelize()(make_view_fn(grid_scene[:400], two_poses[0], 0))
    v1 = Voxelize()(make_view_fn(grid_scene[100:], two_poses[1], 1))
    matches = np.stack([np.arange(100, 400), np.arange(300)], 1)
    results = {'scene_id': 3, 'sample_idx': 7, 'camera': 'kinect', 'views': [v0, v1],
               'matches': matches,
               'match_points_world': grid_scene[100:400].astype(np.float32)}
    out = PackViewPairInputs()(results)
    inputs, ds = out['inputs'], out['data_samples']
    assert isinstance(ds, Det3DDataSample)
    assert ds.scene_id == 3 and ds.sample_idx == 7 and ds.camera == 'kinect'
    assert ds.frame_ids == [0, 1] and len(ds.aug_mats) == 2
    assert inputs['matches'].dtype == torch.int64 and inputs['matches'].shape == (300, 2)
    assert inputs['key_points_world'].dtype == torch.float32
    for view in inputs['views']:
        assert view['points'].dtype == torch.float32 and view['points'].shape[1] == 3
        assert view['coords'].dtype == torch.int32
        assert view['feats'].dtype == torch.float32
        assert view['point2voxel'].dtype == torch.int64
        assert view['point2voxel'].max() < len(view['coords'])


def test_pack_points_inputs():
    pts = np.random.rand(50, 3).astype(np.float32)
    results = Voxelize(voxel_size=0.1)({'points': pts, 'scene_id': 1, 'frame_id': 5,
                                        'aug_mat': np.eye(4), 'labels': np.arange(50)})
    out = PackPointsInputs(extra_input_keys=('labels',))(results)
    assert set(out['inputs']) == {'points', 'coords', 'feats', 'point2voxel', 'labels'}
    assert out['data_samples'].frame_id == 5
    assert out['data_samples'].voxel_size == 0.1


def test_depth_png_pair_pipeline_end_to_end(tmp_path, look_at_fn, intrinsics):
    """Two PNG depth views of the table from known poses -> packed, matched pair."""
    poses = [look_at_fn((0.05, 0.02, 0.6)), look_at_fn((-0.06, 0.05, 0.55))]
    views = []
    for i, pose in enumerate(poses):
        depth_mm = np.round(render_plane_depth(pose, intrinsics) * 1000).astype(np.uint16)
        path = str(tmp_path / f'{i:04d}.png')
        cv2.imwrite(path, depth_mm)
        views.append({'scene_id': 0, 'frame_id': i, 'camera': 'realsense',
                      'depth_path': path, 'depth_scale': 1000.,
                      'cam_intrinsic': intrinsics, 'cam2world': pose})
    pipeline = Compose([TRANSFORMS.build(c) for c in [
        dict(type='ApplyToViews', transforms=[
            dict(type='LoadDepthImage'),
            dict(type='DepthToPoints', min_depth=0.1, max_depth=2.0),
            dict(type='WorkspaceCrop'),
            dict(type='PointSample', num_points=3000),
            dict(type='RandomFlipRotate'),
            dict(type='Voxelize', voxel_size=0.005),
        ]),
        dict(type='MatchViewPair', match_radius=0.0075, min_matches=64),
        dict(type='SampleKeyPoints', num_key_points=256),
    ]])
    np.random.seed(0)
    results = pipeline({'scene_id': 0, 'sample_idx': 0, 'camera': 'realsense',
                        'views': views})
    assert results is not None
    w0 = view_points_world(results['views'][0])
    w1 = view_points_world(results['views'][1])
    assert np.all(np.abs(w0[:, 2]) < 0.003)  # the table plane, within 1 mm rounding
    m = results['matches']
    assert m.shape == (256, 2)
    assert np.all(np.linalg.norm(w0[m[:, 0]] - w1[m[:, 1]], axis=1) <= 0.0075 + 1e-6)
    out = PackViewPairInputs()(results)
    assert out['inputs']['views'][0]['points'].shape == (3000, 3)
    # the camera-frame points are recoverable from the packed augmentation
    cam0 = np.asarray(out['inputs']['views'][0]['points'], np.float64) @ np.linalg.inv(
        out['data_samples'].aug_mats[0][:3, :3]).T
    assert np.all(cam0[:, 2] > 0.4)
    assert invert_transform(out['data_samples'].cam2worlds[1]).shape == (4, 4)
