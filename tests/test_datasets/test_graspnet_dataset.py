"""GraspNetDataset on a small generated dataset in the official layout."""
import os
import shutil

import numpy as np
import pytest
import scipy.io

from graspcontrast_mm.datasets import GraspNetDataset
from graspcontrast_mm.registry import DATASETS
from graspcontrast_mm.synthetic import generate_dataset

N_VIEWS = 5
VIEW_KEYS = {
    'scene_id', 'frame_id', 'camera', 'depth_path', 'rgb_path', 'label_path', 'meta_path',
    'cam_intrinsic', 'depth_scale', 'cam2world'
}


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('graspnet_ds'))
    generate_dataset(path, 'tiny', scene_ids=[0, 1, 100], num_views=N_VIEWS,
                     image_size=(160, 90), write_rgb=False, progress=False,
                     with_labels=False)
    return path


def _cam_file(root, scene_id, name):
    return os.path.join(root, 'scenes', f'scene_{scene_id:04d}', 'realsense', name)


def test_single_mode_split_and_frames(root):
    ds = GraspNetDataset(root, split='train')  # scenes 2-99 absent: skipped
    assert len(ds) == 2 * N_VIEWS
    assert ds.metainfo['splits']['test_novel'] == (160, 189)
    info = ds.get_data_info(N_VIEWS + 2)
    assert set(info) == VIEW_KEYS | {'sample_idx'}
    assert (info['scene_id'], info['frame_id'], info['sample_idx']) == (1, 2, N_VIEWS + 2)
    assert info['depth_path'] == _cam_file(root, 1, 'depth/0002.png')
    assert os.path.isfile(info['depth_path']) and os.path.isfile(info['meta_path'])
    assert info['cam_intrinsic'].dtype == np.float64
    assert info['cam_intrinsic'].shape == (3, 3)
    assert info['depth_scale'] == 1000.0
    expected = np.load(_cam_file(root, 1, 'cam0_wrt_table.npy')) @ np.load(
        _cam_file(root, 1, 'camera_poses.npy'))[2]
    assert info['cam2world'].dtype == np.float64 and info['cam2world'].shape == (4, 4)
    np.testing.assert_allclose(info['cam2world'], expected)

    ds = GraspNetDataset(root, split='test_seen', frame_ids=[0, 3])
    assert len(ds) == 2
    assert [ds.get_data_info(i)['frame_id'] for i in range(2)] == [0, 3]
    assert {ds.get_data_info(i)['scene_id'] for i in range(2)} == {100}

    ds = DATASETS.build(dict(type='GraspNetDataset', data_root=root, scene_ids=[0, 100],
                             frame_ids=[4], pipeline=[]))
    assert len(ds) == 2 and ds[1]['scene_id'] == 100 and ds[-1]['sample_idx'] == 1


def test_pair_mode(root):
    ds = GraspNetDataset(root, split='all', mode='pair')
    assert len(ds) == 3 * N_VIEWS
    sample = ds.get_data_info(3)
    assert set(sample) == {'sample_idx', 'scene_id', 'camera', 'views'}
    a, b = sample['views']
    assert set(a) == VIEW_KEYS and set(b) == VIEW_KEYS
    assert a['scene_id'] == b['scene_id'] == sample['scene_id']
    assert a['frame_id'] == 3 and b['frame_id'] != a['frame_id']

    # deterministic partners for validation sets
    cfg = dict(strategy='random', seed=5)
    d1 = GraspNetDataset(root, scene_ids=[0, 1], mode='pair', pair_cfg=cfg)
    d2 = GraspNetDataset(root, scene_ids=[0, 1], mode='pair', pair_cfg=cfg)
    p1 = [d1.get_data_info(i)['views'][1]['frame_id'] for i in range(len(d1))]
    assert p1 == [d2.get_data_info(i)['views'][1]['frame_id'] for i in range(len(d2))]
    assert p1 == [d1.get_data_info(i)['views'][1]['frame_id'] for i in range(len(d1))]

    # view-angle constraint between the optical axes
    ds = GraspNetDataset(root, scene_ids=[0], frame_ids=[0, 1, 2, 3, 4], mode='pair',
                         pair_cfg=dict(strategy='view_angle', min_angle=15, max_angle=60))
    assert len(ds) > 0
    for i in range(len(ds)):
        for _ in range(5):
            a, b = ds.get_data_info(i)['views']
            cos = a['cam2world'][:3, 2] @ b['cam2world'][:3, 2]
            assert 15 - 1e-6 <= np.degrees(np.arccos(np.clip(cos, -1, 1))) <= 60 + 1e-6
    with pytest.raises(ValueError, match='no frame pair'):
        GraspNetDataset(root, scene_ids=[0], mode='pair',
                        pair_cfg=dict(strategy='view_angle', min_angle=179, max_angle=180))
    with pytest.raises(ValueError, match='strategy'):
        GraspNetDataset(root, scene_ids=[0], mode='pair', pair_cfg=dict(strategy='nearest'))
    # the pipeline gets the pair dict
    assert ds[0]['views'][0]['scene_id'] == 0


def test_missing_scenes_and_files(root, tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        GraspNetDataset(str(tmp_path / 'nowhere'), split='train')
    assert 'nowhere' in str(e.value) and 'scene_0000' in str(e.value)
    with pytest.raises(FileNotFoundError, match='test_novel'):
        GraspNetDataset(root, split='test_novel')
    with pytest.raises(FileNotFoundError, match='scenes'):
        GraspNetDataset(root, scene_ids=[0, 5], skip_missing_scenes=False)
    with pytest.raises(FileNotFoundError, match=r'frames \[9\]'):
        GraspNetDataset(root, scene_ids=[0], frame_ids=[1, 9])
    with pytest.raises(ValueError, match='camera'):
        GraspNetDataset(root, camera='zed')

    for name in ('camK.npy', 'camera_poses.npy', 'cam0_wrt_table.npy'):
        broken = tmp_path / name
        shutil.copytree(os.path.join(root, 'scenes', 'scene_0000'),
                        broken / 'scenes' / 'scene_0000')
        os.remove(broken / 'scenes' / 'scene_0000' / 'realsense' / name)
        with pytest.raises(FileNotFoundError, match=name.replace('.', r'\.')):
            GraspNetDataset(str(broken), scene_ids=[0])


def test_depth_scale_from_meta(root, tmp_path):
    copy = tmp_path / 'copy'
    shutil.copytree(os.path.join(root, 'scenes', 'scene_0001'),
                    copy / 'scenes' / 'scene_0001')
    meta = copy / 'scenes' / 'scene_0001' / 'realsense' / 'meta'
    m = scipy.io.loadmat(str(meta / '0002.mat'))
    m['factor_depth'] = np.array([[4000.0]])
    scipy.io.savemat(str(meta / '0002.mat'), {k: v for k, v in m.items()
                                               if not k.startswith('__')})
    ds = GraspNetDataset(str(copy), scene_ids=[1], frame_ids=[2, 3])
    assert ds.get_data_info(0)['depth_scale'] == 4000.0
    shutil.rmtree(meta)  # no meta at all: the GraspNet default
    ds = GraspNetDataset(str(copy), scene_ids=[1])
    assert ds.get_data_info(0)['depth_scale'] == 1000.0
