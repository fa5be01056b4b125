"""The reading path on a REAL GraspNet-1Billion frame (Kinect, scene files of the official
layout): GraspNetDataset + the GSNet test pipeline + GSNet + GraspInferencer.

The frame (depth, meta.mat with the real intrinsics / factor_depth / 3x4xN poses, workspace
mask) comes from ../shared/realdata; it is arranged in the official folder layout in a
temporary directory (camK.npy from the meta's intrinsics, identity camera poses for the one
frame). Skipped when that folder is absent.
"""
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import scipy.io
import torch
from mmengine.config import Config
import real_kinect_frame
from tiny_gsnet import tiny_gsnet_model_cfg

from graspcontrast_mm.registry import DATASETS, MODELS

REAL = osp.join(osp.dirname(__file__), '..', '..', '..', 'shared', 'realdata',
                'graspnet_kinect_frame')
pytestmark = real_kinect_frame.requires_realdata(REAL)
SCENE = 100


@pytest.fixture(scope='module')
def real_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('graspnet_real')
    cam_dir = root / 'scenes' / f'scene_{SCENE:04d}' / 'kinect'
    for sub in ('depth', 'rgb', 'meta', 'label'):
        os.makedirs(cam_dir / sub)
    shutil.copy(osp.join(REAL, 'depth.png'), cam_dir / 'depth' / '0000.png')
    shutil.copy(osp.join(REAL, 'color.png'), cam_dir / 'rgb' / '0000.png')
    shutil.copy(osp.join(REAL, 'meta.mat'), cam_dir / 'meta' / '0000.mat')
    # the workspace mask stands in for the label image (objects + table region > 0)
    shutil.copy(osp.join(REAL, 'workspace_mask.png'), cam_dir / 'label' / '0000.png')
    meta = scipy.io.loadmat(osp.join(REAL, 'meta.mat'))
    np.save(cam_dir / 'camK.npy', meta['intrinsic_matrix'])
    np.save(cam_dir / 'camera_poses.npy', np.eye(4)[None])
    np.save(cam_dir / 'cam0_wrt_table.npy', np.eye(4))
    ids = (meta['cls_indexes'].reshape(-1) - 1).tolist()
    (root / 'scenes' / f'scene_{SCENE:04d}' / 'object_id_list.txt').write_text(
        '\n'.join(map(str, ids)) + '\n')
    return str(root), meta


def _pipeline(num_points):
    return [dict(type='LoadDepthImage'),
            dict(type='DepthToPoints', min_depth=0.1, max_depth=1.5),
            dict(type='PointSample', num_points=num_points),
            dict(type='Voxelize', voxel_size=0.005),
            dict(type='PackPointsInputs')]


def test_dataset_reads_the_real_frame(real_root):
    root, meta = real_root
    ds = DATASETS.build(dict(type='GraspNetDataset', data_root=root, camera='kinect',
                             split='test_seen', mode='single', test_mode=True,
                             pipeline=_pipeline(4000)))
    assert len(ds) == 1
    info = ds.get_data_info(0)
    np.testing.assert_allclose(info['cam_intrinsic'], meta['intrinsic_matrix'])
    assert info['depth_scale'] == pytest.approx(float(meta['factor_depth'][0, 0]))
    sample = ds[0]
    pts = sample['inputs']['points'].numpy()
    assert pts.shape == (4000, 3)
    # a table-top scene about 0.4-1.2 m in front of the Kinect, in metres (not mm)
    assert 0.3 < np.median(pts[:, 2]) < 1.3
    assert np.all(np.isfinite(pts))


def test_gsnet_and_inferencer_run_on_the_real_frame(real_root, tmp_path):
    from graspcontrast_mm.apis import GraspInferencer
    root, _ = real_root
    cfg = Config(dict(model=tiny_gsnet_model_cfg(),
                      test_dataloader=dict(dataset=dict(
                          type='GraspNetDataset', data_root=root, pipeline=_pipeline(4000)))))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ckpt = tmp_path / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(cfg=cfg.pretty_text)), ckpt)
    infer = GraspInferencer(cfg, str(ckpt))
    out = infer(dict(data_root=root, scene_id=SCENE, camera='kinect', frame_id=0),
                collision_filter=False, top_k=20)
    gg = out['predictions'][0]
    arr = gg.grasp_group_array
    assert arr.shape[1] == 17 and len(arr) > 0
    assert np.all(np.isfinite(arr))
    # grasp centres in the camera frame, in front of the camera, metres
    assert np.all((arr[:, 15] > 0.2) & (arr[:, 15] < 1.5))
