"""Tests of GraspInferencer with a tiny random-weight GSNet (CPU, a few seconds each)."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
import real_kinect_frame
from tiny_gsnet import save_checkpoint, tiny_gsnet_model_cfg

from graspcontrast_mm.apis import GraspInferencer, read_intrinsics, read_point_cloud
from graspcontrast_mm.engine import CheckpointLoadError
from graspcontrast_mm.registry import INFERENCERS, MODELS
from graspcontrast_mm.structures import depth_to_points

REALDATA = osp.join(osp.dirname(__file__), '..', '..', '..', 'shared', 'realdata',
                    'graspnet_kinect_frame')
NUM_POINTS = 3000
K = np.array([[150.0, 0.0, 80.0], [0.0, 150.0, 60.0], [0.0, 0.0, 1.0]])


def tiny_cfg() -> Config:
    """A tiny GSNet (random weights) with a test pipeline sampling NUM_POINTS points."""
    return Config(dict(
        model=tiny_gsnet_model_cfg(),
        test_dataloader=dict(dataset=dict(type='GraspNetDataset', data_root='unused',
                                          pipeline=[
                                              dict(type='LoadDepthImage'),
                                              dict(type='DepthToPoints', min_depth=0.1,
                                                   max_depth=1.5, with_pixel_uv=True),
                                              dict(type='LoadGraspLabels'),
                                              dict(type='ObjectWorkspaceCrop', margin=0.02),
                                              dict(type='PointSample',
                                                   num_points=NUM_POINTS),
                                              dict(type='Voxelize', voxel_size=0.005),
                                              dict(type='PackGraspInputs'),
                                          ]))))


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    """Config file, checkpoint embedding the config, and a bare state-dict checkpoint."""
    root = tmp_path_factory.mktemp('gsnet_tiny')
    cfg = tiny_cfg()
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    cfg_path = str(root / 'gsnet_tiny.py')
    cfg.dump(cfg_path)
    with_cfg = str(root / 'with_cfg.pth')
    save_checkpoint(with_cfg, model.state_dict(), cfg.pretty_text)
    bare = save_checkpoint(root / 'bare.pth', model.state_dict())
    return dict(cfg=cfg_path, with_cfg=with_cfg, bare=bare)


@pytest.fixture(scope='module')
def inferencer(ckpt):
    return GraspInferencer(ckpt['cfg'], ckpt['with_cfg'])


def scene_depth() -> np.ndarray:
    """uint16 millimetres (120, 160): a table at 0.6 m with a 6 cm box in the middle."""
    depth = np.full((120, 160), 600, np.uint16)
    depth[40:80, 55:105] = 540
    depth[:3] = 0  # a few invalid pixels
    return depth


def cloud_of(depth_mm: np.ndarray) -> np.ndarray:
    pts, _ = depth_to_points(depth_mm.astype(np.float32) / 1000.0, K, min_depth=0.1,
                             max_depth=1.5)
    return pts


def test_registered():
    assert INFERENCERS.get('GraspInferencer') is GraspInferencer
    assert INFERENCERS.get('gsnet') is GraspInferencer


def test_settings_from_test_pipeline(inferencer):
    s = inferencer.settings
    assert inferencer.settings_source == 'test_dataloader.dataset.pipeline'
    assert s['num_points'] == NUM_POINTS and s['voxel_size'] == 0.005
    assert s['depth_range'] == (0.1, 1.5) and s['object_crop_margin'] == 0.02


def test_depth_input_end_to_end(inferencer, tmp_path):
    from graspnetAPI import GraspGroup
    depth = scene_depth()
    out = inferencer(depth, intrinsics=K, depth_scale=1000.0, out_dir=str(tmp_path),
                     collision_filter=False, return_vis=True)
    gg = out['predictions'][0]
    assert isinstance(gg, GraspGroup) and len(gg) > 0
    arr = gg.grasp_group_array
    assert arr.shape[1] == 17 and np.isfinite(arr).all()
    assert np.all(np.diff(arr[:, 0]) <= 1e-6)  # sorted by score
    rot = arr[:, 4:13].reshape(-1, 3, 3)
    assert np.allclose(rot @ rot.transpose(0, 2, 1), np.eye(3), atol=1e-4)
    cloud = cloud_of(depth)
    lo, hi = cloud.min(0) - 0.01, cloud.max(0) + 0.01
    assert np.all((arr[:, 13:16] >= lo) & (arr[:, 13:16] <= hi))  # camera frame, metres
    # files
    name = out['summaries'][0]['name']
    npy = tmp_path / 'preds' / f'{name}.npy'
    js = tmp_path / 'preds' / f'{name}.json'
    png = tmp_path / 'vis' / f'{name}.png'
    assert npy.is_file() and js.is_file() and png.is_file()
    np.testing.assert_array_equal(GraspGroup(str(npy)).grasp_group_array, arr)
    summary = json.loads(js.read_text())
    assert summary['num_grasps'] == len(gg) and summary['frame'] == 'camera'
    assert summary['num_sampled_points'] == NUM_POINTS
    assert summary['input']['kind'] == 'depth' and summary['input']['depth_scale'] == 1000.0
    assert set(summary['timings_s']) >= {'preprocess', 'model', 'backbone', 'heads', 'nms',
                                         'collision_filter', 'picture'}
    assert summary['top_scores'][0] == pytest.approx(arr[0, 0], abs=1e-5)
    assert not [f for f in os.listdir(tmp_path / 'preds') if f.startswith('.tmp_')]
    img = out['visualization'][0]
    assert img.dtype == np.uint8 and img.shape == (120, 160, 3)
    assert (img != 255).any()


def test_point_cloud_input_equals_depth_input(inferencer, tmp_path):
    depth = scene_depth()
    a = inferencer(dict(depth=depth, intrinsics=K), collision_filter=False,
                   return_datasamples=True)['predictions'][0]
    np.save(tmp_path / 'cloud.npy', cloud_of(depth))
    b = inferencer(str(tmp_path / 'cloud.npy'), collision_filter=False,
                   return_datasamples=True)['predictions'][0]
    assert a.metainfo['num_scene_points'] == b.metainfo['num_scene_points']
    assert a.metainfo['num_sampled_points'] == b.metainfo['num_sampled_points'] == NUM_POINTS
    assert a.metainfo['num_voxels'] == b.metainfo['num_voxels']
    np.testing.assert_allclose(a.pred_grasps, b.pred_grasps, atol=1e-5)
    # float metres give the same as uint16 millimetres
    c = inferencer(dict(depth=depth.astype(np.float32) / 1000, intrinsics=K),
                   collision_filter=False)['predictions'][0]
    np.testing.assert_allclose(c.grasp_group_array, a.pred_grasps, atol=1e-5)


def test_checkpoint_alone_and_without_config(ckpt):
    alone = GraspInferencer(None, ckpt['with_cfg'])
    with_cfg = GraspInferencer(ckpt['cfg'], ckpt['bare'])
    depth = scene_depth()
    a = alone(depth, intrinsics=K, collision_filter=False)['predictions'][0]
    b = with_cfg(depth, intrinsics=K, collision_filter=False)['predictions'][0]
    np.testing.assert_allclose(a.grasp_group_array, b.grasp_group_array, atol=1e-6)
    with pytest.raises(ValueError, match='does not embed its config'):
        GraspInferencer(None, ckpt['bare'])
    with pytest.raises(CheckpointLoadError, match='not found'):
        GraspInferencer(ckpt['cfg'], ckpt['bare'] + '.missing')
    with pytest.raises(FileNotFoundError, match='config file not found'):
        GraspInferencer(ckpt['cfg'] + '.missing', ckpt['bare'])


def test_top_k_score_thr_and_collision_filter(inferencer):
    depth = scene_depth()
    full = inferencer(depth, intrinsics=K, collision_filter=False,
                      return_datasamples=True)['predictions'][0]
    top = inferencer(depth, intrinsics=K, collision_filter=False, top_k=3)['predictions'][0]
    np.testing.assert_allclose(top.grasp_group_array, full.pred_grasps[:3], atol=1e-6)
    thr = float(full.pred_grasps[1, 0])
    above = inferencer(depth, intrinsics=K, collision_filter=False,
                       score_thr=thr)['predictions'][0]
    assert len(above) >= 2 and (above.scores >= thr).all()
    filt = inferencer(depth, intrinsics=K, collision_filter=True,
                      return_datasamples=True)['predictions'][0]
    assert filt.metainfo['num_collisions'] + len(filt.pred_grasps) == len(full.pred_grasps)
    kept = {tuple(np.round(r, 5)) for r in full.pred_grasps}
    assert all(tuple(np.round(r, 5)) in kept for r in filt.pred_grasps)


def test_workspace_mask(inferencer):
    depth = scene_depth()
    mask = np.zeros(depth.shape, bool)
    mask[40:80, 55:105] = True  # the box top only
    ds = inferencer(depth, intrinsics=K, mask=mask, collision_filter=False,
                    return_datasamples=True)['predictions'][0]
    assert ds.metainfo['num_scene_points'] == 40 * 50
    assert np.allclose(ds.scene_points[:, 2], 0.54)


def test_list_of_inputs_and_intrinsics_forms(inferencer):
    depth = scene_depth()
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    out = inferencer([dict(depth=depth, intrinsics=(fx, fy, cx, cy)),
                      dict(depth=depth, intrinsics=K), cloud_of(depth)],
                     collision_filter=False)
    assert len(out['predictions']) == 3
    np.testing.assert_allclose(out['predictions'][0].grasp_group_array,
                               out['predictions'][1].grasp_group_array)
    assert out['visualization'] is None


def test_graspnet_frame_input(inferencer, tmp_path_factory):
    from graspcontrast_mm.synthetic import generate_dataset
    root = str(tmp_path_factory.mktemp('graspnet_infer'))
    generate_dataset(root, 'tiny', scene_ids=[0], num_views=1, image_size=(160, 90),
                     with_labels=False, write_rgb=True, noise=False, progress=False)
    frame = dict(data_root=root, scene_id=0, camera='realsense', frame_id=0)
    out = inferencer(frame, collision_filter=False, return_datasamples=True,
                     out_dir=str(tmp_path_factory.mktemp('graspnet_out')))
    ds = out['predictions'][0]
    assert ds.metainfo['input_name'] == 'scene_0000_realsense_0000'
    assert ds.metainfo['input_desc']['workspace'].startswith('objects')
    assert np.isfinite(ds.pred_grasps).all() and len(ds.pred_grasps) > 0
    assert ds.scene_colors.shape == ds.scene_points.shape
    # object workspace: the crop keeps fewer points than the full frame
    scene_dir = osp.join(root, 'scenes', 'scene_0000', 'realsense')
    import cv2
    raw = cv2.imread(osp.join(scene_dir, 'depth', '0000.png'), cv2.IMREAD_UNCHANGED)
    camk = np.load(osp.join(scene_dir, 'camK.npy'))
    full = inferencer(dict(depth=raw, intrinsics=camk), collision_filter=False,
                      return_datasamples=True)['predictions'][0]
    assert ds.metainfo['num_scene_points'] < full.metainfo['num_scene_points']
    with pytest.raises(FileNotFoundError):
        inferencer(dict(frame, frame_id=7))


@pytest.mark.parametrize('bad, kwargs, exc, match', [
    (np.full((120, 160), np.nan, np.float32), dict(intrinsics=K), ValueError,
     'no usable depth'),
    (np.zeros((120, 160), np.uint16), dict(intrinsics=K), ValueError, 'no usable depth'),
    (scene_depth(), dict(intrinsics=np.eye(2)), ValueError, 'intrinsics'),
    (scene_depth(), dict(intrinsics=np.diag([-1.0, 1.0, 1.0])), ValueError, 'focal'),
    (scene_depth(), {}, ValueError, 'needs camera intrinsics'),
    (np.full((120, 160), 5000, np.uint16), dict(intrinsics=K), ValueError,
     'empty point cloud'),
    (np.full((120, 160), 600.0, np.float32), dict(intrinsics=K), ValueError,
     'check depth_scale'),
    (scene_depth(), dict(intrinsics=K, mask=np.zeros((120, 160), bool)), ValueError,
     'mask is empty'),
    (scene_depth(), dict(intrinsics=K, mask=np.ones((10, 10), bool)), ValueError,
     'mask has shape'),
    ('/nonexistent/depth.png', dict(intrinsics=K), FileNotFoundError, 'not found'),
    (dict(points='/nonexistent/cloud.ply'), {}, FileNotFoundError, 'not found'),
    (np.zeros((5, 4, 3)), {}, ValueError, 'shape'),
    (dict(points=np.full((100, 3), np.nan)), {}, ValueError, 'NaN'),
    (dict(points=np.zeros((0, 3))), {}, ValueError, 'empty'),
    (dict(foo=1), {}, KeyError, "'depth', 'points' or 'data_root'"),
    (dict(data_root='/nonexistent', scene_id=0, frame_id=0), {}, FileNotFoundError,
     'data_root'),
])
def test_bad_inputs(inferencer, bad, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        inferencer(bad, **kwargs)


def test_readers(tmp_path):
    K4 = read_intrinsics([150, 150, 80, 60])
    np.testing.assert_allclose(K4, K)
    (tmp_path / 'k.json').write_text(json.dumps(dict(fx=150, fy=150, cx=80, cy=60)))
    np.testing.assert_allclose(read_intrinsics(str(tmp_path / 'k.json')), K)
    np.savetxt(tmp_path / 'k.txt', K)
    np.testing.assert_allclose(read_intrinsics(str(tmp_path / 'k.txt')), K)
    with pytest.raises(ValueError, match='3x3'):
        read_intrinsics(np.ones((3, 4)))
    import open3d as o3d
    pts = np.random.default_rng(0).uniform(-0.1, 0.1, (50, 3)) + [0, 0, 0.5]
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    o3d.io.write_point_cloud(str(tmp_path / 'c.ply'), cloud)
    back, colors = read_point_cloud(str(tmp_path / 'c.ply'))
    np.testing.assert_allclose(back, pts, atol=1e-6)
    assert colors is None


@real_kinect_frame.requires_realdata(REALDATA)
def test_real_graspnet_kinect_frame(inferencer, tmp_path):
    import scipy.io
    meta = scipy.io.loadmat(osp.join(REALDATA, 'meta.mat'))
    out = inferencer(dict(depth=osp.join(REALDATA, 'depth.png'),
                          intrinsics=meta['intrinsic_matrix'],
                          depth_scale=float(np.asarray(meta['factor_depth']).ravel()[0]),
                          mask=osp.join(REALDATA, 'workspace_mask.png'),
                          color=osp.join(REALDATA, 'color.png')),
                     out_dir=str(tmp_path), collision_filter=False, top_k=20)
    gg = out['predictions'][0]
    assert 0 < len(gg) <= 20 and np.isfinite(gg.grasp_group_array).all()
    t = gg.translations
    assert (t[:, 2] > 0.3).all() and (t[:, 2] < 1.2).all()  # on the table, ~0.4-0.7 m
    summary = out['summaries'][0]
    assert summary['num_scene_points'] > 100000
    assert osp.isfile(summary['files']['picture'])
