import cv2
import numpy as np
import pytest

from graspcontrast_mm.datasets.transforms import LoadDepthImage
from graspcontrast_mm.registry import TRANSFORMS


def write_png(path, depth_mm):
    assert cv2.imwrite(str(path), depth_mm.astype(np.uint16))
    return str(path)


def test_loads_uint16_millimetres(tmp_path):
    raw = np.zeros((6, 8), np.uint16)
    raw[1:, :] = 800
    raw[2, 3] = 1234
    path = write_png(tmp_path / '0000.png', raw)
    out = LoadDepthImage()({'depth_path': path, 'depth_scale': 1000.})
    depth = out['depth']
    assert depth.dtype == np.float32 and depth.shape == (6, 8)
    assert depth[0, 0] == 0
    assert depth[1, 0] == pytest.approx(0.8)
    assert depth[2, 3] == pytest.approx(1.234)
    assert out['depth_valid_ratio'] == pytest.approx(40 / 48)


def test_depth_scale_from_results_overrides_default(tmp_path):
    path = write_png(tmp_path / 'd.png', np.full((2, 2), 4000))
    out = LoadDepthImage(depth_scale=1000.)({'depth_path': path, 'depth_scale': 4000.})
    np.testing.assert_allclose(out['depth'], 1.)
    out = LoadDepthImage(depth_scale=2000.)({'depth_path': path})
    np.testing.assert_allclose(out['depth'], 2.)


def test_missing_file_names_the_path(tmp_path):
    missing = str(tmp_path / 'nope.png')
    with pytest.raises(FileNotFoundError, match='nope.png'):
        LoadDepthImage()({'depth_path': missing, 'depth_scale': 1000.})


def test_all_zero_depth_is_a_value_error_naming_the_file(tmp_path):
    path = write_png(tmp_path / 'zeros.png', np.zeros((4, 4)))
    with pytest.raises(ValueError, match='zeros.png'):
        LoadDepthImage()({'depth_path': path, 'depth_scale': 1000.})
    assert LoadDepthImage(on_invalid='skip')({'depth_path': path}) is None


def test_nan_inf_negative_become_invalid(tmp_path):
    raw = np.array([[np.nan, np.inf, -1.], [0.5, 0.25, 0.]], np.float32)
    path = str(tmp_path / 'd.npy')
    np.save(path, raw)
    depth = LoadDepthImage()({'depth_path': path, 'depth_scale': 1.})['depth']
    np.testing.assert_array_equal(depth, [[0., 0., 0.], [0.5, 0.25, 0.]])
    nan_path = str(tmp_path / 'nan.npy')
    np.save(nan_path, np.full((3, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match='nan.npy'):
        LoadDepthImage()({'depth_path': nan_path, 'depth_scale': 1.})


def test_invalid_value_and_min_valid_ratio(tmp_path):
    raw = np.full((4, 4), 65535, np.uint16)
    raw[0, :] = 1000
    path = write_png(tmp_path / 'd.png', raw)
    depth = LoadDepthImage(invalid_value=65535)({'depth_path': path})['depth']
    assert np.count_nonzero(depth) == 4
    with pytest.raises(ValueError, match='valid pixel ratio'):
        LoadDepthImage(invalid_value=65535, min_valid_ratio=0.5)({'depth_path': path})


def test_in_memory_depth_and_multichannel_error(tmp_path):
    out = LoadDepthImage()({'depth_raw': np.full((2, 3), 500, np.uint16)})
    np.testing.assert_allclose(out['depth'], 0.5)
    path = str(tmp_path / 'rgb.png')
    cv2.imwrite(path, np.full((4, 4, 3), 7, np.uint8))
    with pytest.raises(ValueError, match='single-channel'):
        LoadDepthImage()({'depth_path': path})


def test_registered_and_repr():
    t = TRANSFORMS.build(dict(type='LoadDepthImage', min_valid_ratio=0.1))
    assert 'min_valid_ratio=0.1' in repr(t)


def test_label_image_reader_names_the_label_image(tmp_path):
    import cv2
    from graspcontrast_mm.datasets.transforms import read_label_image
    with pytest.raises(FileNotFoundError, match='label image not found'):
        read_label_image(str(tmp_path / 'missing.png'))
    path = str(tmp_path / 'label.png')
    seg = np.array([[0, 1], [2, 3]], np.uint8)
    cv2.imwrite(path, seg)
    np.testing.assert_array_equal(read_label_image(path), seg)
    rgb = str(tmp_path / 'rgb.png')
    cv2.imwrite(rgb, np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match='label image .* must be single-channel'):
        read_label_image(rgb)
