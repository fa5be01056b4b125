"""Readers of user inputs in transforms/loading.py: workspace masks, colours at the
back-projected pixels, camera-frame point clouds and intrinsics."""
import json

import cv2
import numpy as np
import pytest

from graspcontrast_mm.datasets.transforms import (DepthToPoints, LoadDepthImage,
                                                  LoadDepthMask, LoadPointCloud,
                                                  LoadPointColors, read_intrinsics)
from graspcontrast_mm.registry import TRANSFORMS

K = np.array([[100.0, 0.0, 3.5], [0.0, 100.0, 2.5], [0.0, 0.0, 1.0]])


def _view(mask=None, color=None):
    depth = np.full((6, 8), 500, np.uint16)  # 0.5 m everywhere
    results = dict(depth_raw=depth, depth_scale=1000.0, cam_intrinsic=K, depth_mask=mask,
                   color=color)
    results = LoadDepthMask()(LoadDepthImage()(results))
    return DepthToPoints(with_pixel_uv=True)(results)


def test_registered():
    for name in ('LoadDepthMask', 'LoadPointColors', 'LoadPointCloud'):
        assert TRANSFORMS.get(name) is not None


def test_depth_mask_from_an_image_file(tmp_path):
    mask = np.zeros((6, 8), np.uint8)
    mask[1:3, 2:6] = 255
    cv2.imwrite(str(tmp_path / 'mask.png'), mask)
    out = _view(mask=str(tmp_path / 'mask.png'))
    assert out['depth_mask'].dtype == bool and out['depth_mask'].sum() == 8
    assert len(out['points']) == 8
    assert {tuple(p) for p in out['pixel_uv']} == {(u, v) for u in range(2, 6) for v in (1, 2)}
    with pytest.raises(ValueError, match='mask has shape'):
        _view(mask=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match='mask is empty'):
        _view(mask=np.zeros((6, 8), bool))
    with pytest.raises(FileNotFoundError, match='mask not found'):
        _view(mask=str(tmp_path / 'missing.png'))


def test_point_colors_at_their_pixels():
    color = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    out = LoadPointColors()(_view(color=color))
    uv = out['pixel_uv']
    np.testing.assert_array_equal(out['point_colors'], color[uv[:, 1], uv[:, 0]])
    gray = LoadPointColors()(_view(color=np.full((6, 8), 0.5, np.float32)))
    assert np.all(gray['point_colors'] == 127)  # float 0-1 scaled to 0-255, R = G = B
    with pytest.raises(ValueError, match=r'colour image size \(3, 4\)'):
        LoadPointColors()(_view(color=np.zeros((3, 4, 3), np.uint8)))
    # a dataset frame without its colour image keeps no colours
    out = LoadPointColors()(dict(_view(), color=None, rgb_path='/nonexistent/rgb.png'))
    assert 'point_colors' not in out
    # a pixel outside the image is an error, not the colour of a wrapped-around pixel
    bad = _view(color=color)
    bad['pixel_uv'] = np.array(bad['pixel_uv'])
    bad['pixel_uv'][0] = (8, 0)
    with pytest.raises(ValueError, match='outside the 8x6 colour image'):
        LoadPointColors()(bad)


def test_point_cloud_keeps_the_depth_range(tmp_path):
    pts = np.array([[0.0, 0.0, 0.05], [0.1, 0.0, 0.5], [0.0, 0.2, 1.0], [0.0, 0.0, 3.0],
                    [np.nan, 0.0, 0.5]])
    rgb = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1, 1, 1], [0, 0, 0]])
    out = LoadPointCloud(min_depth=0.1, max_depth=2.0)(
        dict(points_raw=np.concatenate([pts, rgb], axis=1)))
    np.testing.assert_allclose(out['points'], pts[1:3])
    np.testing.assert_array_equal(out['point_colors'], [[0, 255, 0], [0, 0, 255]])
    assert out['num_input_points'] == 5 and np.array_equal(out['aug_mat'], np.eye(4))
    np.save(tmp_path / 'cloud.npy', pts[:3])
    out = LoadPointCloud(0.1, 2.0)(dict(points_path=str(tmp_path / 'cloud.npy')))
    assert len(out['points']) == 2 and 'point_colors' not in out
    with pytest.raises(ValueError, match='every point is NaN'):
        LoadPointCloud()(dict(points_raw=np.full((4, 3), np.nan)))
    with pytest.raises(ValueError, match='median z is 3.000 m'):
        LoadPointCloud(0.1, 2.0)(dict(points_raw=pts[3:4]))
    with pytest.raises(ValueError, match='colors'):
        LoadPointCloud()(dict(points_raw=pts, point_colors_raw=np.zeros((2, 3))))


def test_intrinsics_from_json_matrix(tmp_path):
    (tmp_path / 'k.json').write_text(json.dumps(dict(camera_matrix=K.tolist())))
    np.testing.assert_array_equal(read_intrinsics(str(tmp_path / 'k.json')), K)
    with pytest.raises(ValueError, match='invalid intrinsics'):
        read_intrinsics([0.0, 100.0, 3.5, 2.5])
