"""Bad dataset files and settings: an undecodable depth image is skipped with a warning
when asked to, a missing depth image is reported, and the messages say what is wrong."""
import logging

import cv2
import numpy as np
import pytest
from mmengine.logging import MMLogger

from graspcontrast_mm.datasets import GraspNetDataset
from graspcontrast_mm.datasets.graspnet_dataset import parse_label_fraction
from graspcontrast_mm.datasets.transforms import LoadDepthImage


class _Records(logging.Handler):

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings_log():
    logger = MMLogger.get_current_instance()
    handler = _Records()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def test_undecodable_depth_image_is_skipped_with_a_warning(tmp_path, warnings_log):
    bad = tmp_path / '0003.png'
    bad.write_bytes(b'\x89PNG\r\n\x1a\n not an image')
    results = dict(depth_path=str(bad), depth_scale=1000.0)
    assert LoadDepthImage(on_invalid='skip')(dict(results)) is None
    assert any(str(bad) in m and 'decode' in m for m in warnings_log), warnings_log
    with pytest.raises(ValueError, match='0003.png'):
        LoadDepthImage(on_invalid='raise')(dict(results))
    missing = dict(depth_path=str(tmp_path / 'gone.png'), depth_scale=1000.0)
    assert LoadDepthImage(on_invalid='skip')(missing) is None
    assert any('gone.png' in m for m in warnings_log)


def _scene(root, frames_with_depth, num_poses=4):
    cam = root / 'scenes' / 'scene_0000' / 'realsense'
    (cam / 'depth').mkdir(parents=True)
    np.save(cam / 'camK.npy', np.array([[150.0, 0, 80], [0, 150.0, 60], [0, 0, 1]]))
    np.save(cam / 'camera_poses.npy', np.tile(np.eye(4), (num_poses, 1, 1)))
    np.save(cam / 'cam0_wrt_table.npy', np.eye(4))
    for f in frames_with_depth:
        cv2.imwrite(str(cam / 'depth' / f'{f:04d}.png'), np.full((120, 160), 600, np.uint16))


def test_missing_depth_image_is_a_warning(tmp_path, warnings_log):
    _scene(tmp_path, [0, 1, 3])
    ds = GraspNetDataset(str(tmp_path), scene_ids=[0], mode='single')
    assert [ds.get_data_info(i)['frame_id'] for i in range(len(ds))] == [0, 1, 3]
    assert any('scene 0' in m and 'no depth image' in m and ': 2' in m
               for m in warnings_log), warnings_log


def test_complete_scene_gives_no_warning(tmp_path, warnings_log):
    _scene(tmp_path, [0, 1, 2, 3])
    GraspNetDataset(str(tmp_path), scene_ids=[0], mode='single')
    assert not any('no depth image' in m for m in warnings_log)


def test_messages_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match='scene_ids is empty'):
        GraspNetDataset(str(tmp_path), scene_ids=[])
    with pytest.raises(ValueError, match='too small.*1/4096'):
        parse_label_fraction(1e-9)
    with pytest.raises(ValueError, match=r'must be in \(0, 1\]'):
        parse_label_fraction(1.5)
    assert parse_label_fraction(1 / 256) == parse_label_fraction('1/256')
