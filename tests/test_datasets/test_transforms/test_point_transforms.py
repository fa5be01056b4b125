import numpy as np
import pytest

from graspcontrast_mm.datasets.transforms import (DepthToPoints, PointSample, Voxelize,
                                                  WorkspaceCrop)
from graspcontrast_mm.structures import (points_to_pixels, rotation_matrix,
                                         transform_points)


def test_depth_to_points_plane_and_pixels(intrinsics):
    depth = np.full((60, 80), 0.6, np.float32)
    depth[:5] = 0.
    depth[5:10] = 2.5  # beyond max_depth
    out = DepthToPoints(min_depth=0.1, max_depth=2.0, with_pixel_uv=True)(
        {'depth': depth, 'cam_intrinsic': intrinsics})
    assert out['points'].shape == (50 * 80, 3) and out['points'].dtype == np.float32
    np.testing.assert_allclose(out['points'][:, 2], 0.6)
    np.testing.assert_array_equal(out['aug_mat'], np.eye(4))
    assert out['aug_mat'].dtype == np.float64
    np.testing.assert_allclose(points_to_pixels(out['points'], intrinsics), out['pixel_uv'],
                               atol=1e-3)


def test_depth_to_points_bad_intrinsics():
    depth = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match=r'\(4, 4\)'):
        DepthToPoints()({'depth': depth, 'cam_intrinsic': np.eye(4)})
    K = np.array([[-100., 0, 2], [0, 100, 2], [0, 0, 1]])
    with pytest.raises(ValueError, match='focal'):
        DepthToPoints()({'depth': depth, 'cam_intrinsic': K})


def test_depth_to_points_out_of_range_returns_none(intrinsics):
    depth = np.full((4, 4), 5.0, np.float32)
    assert DepthToPoints()({'depth': depth, 'cam_intrinsic': intrinsics}) is None


def test_workspace_crop_in_world_frame(look_at_fn):
    cam2world = look_at_fn((0., 0., 1.0), up=(0., 1., 0.))  # straight down from 1 m
    world = np.array([[0., 0., 0.05],     # inside
                      [0.29, -0.29, 0.29],  # inside
                      [0.35, 0., 0.05],     # x outside
                      [0., 0., -0.05]])     # below the table
    cam = transform_points(np.linalg.inv(cam2world), world).astype(np.float32)
    results = {'points': cam, 'cam2world': cam2world, 'aug_mat': np.eye(4),
               'pixel_uv': np.arange(8, dtype=np.int32).reshape(4, 2)}
    out = WorkspaceCrop()(dict(results))
    np.testing.assert_allclose(out['points'], cam[:2])
    np.testing.assert_array_equal(out['pixel_uv'], [[0, 1], [2, 3]])
    # same selection when the points were augmented first
    A = rotation_matrix('z', 0.7) @ np.diag([-1., 1., 1., 1.])
    aug = dict(results, points=transform_points(A, cam), aug_mat=A)
    out = WorkspaceCrop()(aug)
    np.testing.assert_array_equal(out['pixel_uv'], [[0, 1], [2, 3]])
    # nothing inside -> None (the dataset refetches)
    far = dict(results, points=cam + np.float32(10.))
    assert WorkspaceCrop()(far) is None


def test_workspace_crop_bad_bounds():
    with pytest.raises(ValueError, match='world_bounds'):
        WorkspaceCrop(world_bounds=((0, 0, 0), (-1, 1, 1)))


def test_point_sample_more_and_fewer():
    np.random.seed(0)
    pts = np.random.rand(100, 3).astype(np.float32)
    uv = np.arange(200, dtype=np.int32).reshape(100, 2)
    out = PointSample(num_points=30)({'points': pts, 'pixel_uv': uv})
    assert out['points'].shape == (30, 3)
    assert len(np.unique(out['points'], axis=0)) == 30
    # per-point arrays stay aligned with points
    np.testing.assert_array_equal(pts[out['pixel_uv'][:, 0] // 2], out['points'])
    out = PointSample(num_points=250)({'points': pts, 'pixel_uv': uv})
    assert out['points'].shape == (250, 3)
    assert len(np.unique(out['points'], axis=0)) == 100  # every point kept, then repeats
    out = PointSample(num_points=250, replace_if_fewer=False)({'points': pts})
    assert out['points'].shape == (100, 3)


def test_point_sample_misaligned_array_error():
    with pytest.raises(ValueError, match='pixel_uv'):
        PointSample(num_points=2)({'points': np.zeros((5, 3)),
                                   'pixel_uv': np.zeros((4, 2))})


def test_voxelize_transform():
    pts = np.array([[0.0011, 0.0012, 0.0013], [0.0041, 0.0042, 0.0043],
                    [0.0061, 0.0012, 0.0013], [0.0261, -0.0012, 0.0013]], np.float32)
    out = Voxelize(voxel_size=0.005)({'points': pts})
    assert out['coords'].dtype == np.int32 and out['coords'].min() == 0
    assert out['feats'].shape == (3, 1) and out['feats'].dtype == np.float32
    assert np.all(out['feats'] == 1)
    assert out['point2voxel'].dtype == np.int64
    p2v = out['point2voxel']
    assert p2v[0] == p2v[1] and len(set(p2v.tolist())) == 3
    np.testing.assert_array_equal(out['coords'][p2v],
                                  np.floor(pts / 0.005).astype(int) - [0, -1, 0])
    np.testing.assert_allclose(out['voxel_origin'], [0., -0.005, 0.])
    xyz = Voxelize(voxel_size=0.005, feat_mode='xyz')({'points': pts})
    np.testing.assert_allclose(xyz['feats'][p2v[0]], pts[:2].mean(0), rtol=1e-6)
    assert Voxelize(feat_mode='ones_xyz')({'points': pts})['feats'].shape[1] == 4
    with pytest.raises(ValueError, match='feat_mode'):
        Voxelize(feat_mode='rgb')
