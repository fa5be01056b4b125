"""GraspNetDataset 'grasp' mode and the grasp-label transforms on a labelled tiny dataset."""
import copy
import os
from fractions import Fraction

import cv2
import numpy as np
import pytest
import scipy.io
import torch
from real_kinect_frame import reference_workspace_mask
from scipy.spatial import cKDTree

from graspcontrast_mm.datasets import (GraspNetDataset, parse_label_fraction,
                                       select_label_frames)
from graspcontrast_mm.datasets.transforms import (DepthToPoints, LoadDepthImage,
                                                  LoadGraspLabels, ObjectWorkspaceCrop,
                                                  PackGraspInputs, PointSample, Voxelize)
from graspcontrast_mm.structures import invert_transform, transform_points
from graspcontrast_mm.synthetic.collision_labels import point_graspness

SCENES = [0, 100]


def _dataset(root, **kw):
    kw.setdefault('scene_ids', SCENES)
    return GraspNetDataset(root, mode='grasp', **kw)


def _points_view(info):
    """The first three steps of the grasp pipeline on a dataset info dict."""
    r = LoadDepthImage()(copy.deepcopy(info))
    return DepthToPoints(with_pixel_uv=True)(r)


def _meta(info):
    meta = scipy.io.loadmat(info['meta_path'])
    ids = meta['cls_indexes'].reshape(-1).astype(int) - 1
    poses = np.transpose(meta['poses'], (2, 0, 1))  # (n, 3, 4)
    return ids, poses


# ----------------------------------------------------------------------------- frames
def test_label_fraction_frames():
    frames = list(range(256))
    assert select_label_frames(frames, 1 / 256) == [0]
    assert select_label_frames(frames, 16 / 256) == list(range(0, 256, 16))
    assert select_label_frames(frames, '16/256') == list(range(0, 256, 16))
    assert select_label_frames(frames, 256 / 256) == frames
    assert select_label_frames([3, 5, 9, 11], 0.5) == [3, 9]
    assert select_label_frames(list(range(8)), 1 / 256) == [0]  # at least one frame
    assert parse_label_fraction('16/256') == Fraction(1, 16)
    for bad in (0, 1.5, -0.1, 'x', '3/2'):
        with pytest.raises(ValueError):
            parse_label_fraction(bad)


def test_grasp_mode_info_and_label_fraction(labelled_graspnet_root):
    root = labelled_graspnet_root
    ds = _dataset(root)
    assert len(ds) == 2 * 8
    info = ds.get_data_info(9)
    assert (info['scene_id'], info['frame_id']) == (100, 1)
    assert info['scene_object_ids'] == [0, 4]
    assert info['collision_label_path'] == os.path.join(
        root, 'collision_label', 'scene_0100', 'collision_labels.npz')
    assert info['grasp_label_dir'] == os.path.join(root, 'grasp_label')
    assert info['graspness_path'] == os.path.join(root, 'graspness', 'scene_0100',
                                                  'realsense', '0001.npy')
    assert os.path.isfile(info['graspness_path'])
    for frac, frames in (('2/8', [0, 4]), (1 / 256, [0]), (1.0, list(range(8))),
                         (0.5, [0, 2, 4, 6])):
        ds = _dataset(root, label_fraction=frac)
        got = [(ds.get_data_info(i)['scene_id'], ds.get_data_info(i)['frame_id'])
               for i in range(len(ds))]
        assert got == [(s, f) for s in SCENES for f in frames], frac
    # label_fraction applies to the frame_ids selection; single mode keeps its behaviour
    ds = _dataset(root, frame_ids=[1, 3, 5, 7], label_fraction=0.5)
    assert [ds.get_data_info(i)['frame_id'] for i in range(2)] == [1, 5]
    single = GraspNetDataset(root, scene_ids=SCENES)
    assert 'scene_object_ids' not in single.get_data_info(0)


# ----------------------------------------------------------------------------- labels
def test_load_grasp_labels_matches_files(labelled_graspnet_root):
    ds = _dataset(labelled_graspnet_root)
    info = ds.get_data_info(3)
    r = LoadGraspLabels()(_points_view(info))
    n = len(r['points'])
    # per-point segmentation / objectness = the label image at each point's pixel
    seg = cv2.imread(info['label_path'], cv2.IMREAD_UNCHANGED)
    uv = r['pixel_uv']
    np.testing.assert_array_equal(r['pts_instance_mask'], seg[uv[:, 1], uv[:, 0]])
    np.testing.assert_array_equal(r['objectness_label'], (seg[uv[:, 1], uv[:, 0]] > 0))
    assert r['objectness_label'].dtype == np.int64 and r['objectness_label'].shape == (n,)
    assert 0 < r['objectness_label'].sum() < n
    # object ids and poses = meta.mat
    ids, poses = _meta(info)
    np.testing.assert_array_equal(r['object_ids'], ids)
    np.testing.assert_array_equal(r['object_poses'][:, :3, :], poses)
    np.testing.assert_array_equal(r['object_poses'][:, 3], [[0, 0, 0, 1]] * len(ids))
    # grasp targets: mu of valid, collision-free grasps, 0 elsewhere
    coll = np.load(info['collision_label_path'])
    for k, obj_id in enumerate(r['object_ids']):
        lab = np.load(os.path.join(info['grasp_label_dir'], f'{obj_id:03d}_labels.npz'))
        c = coll[f'arr_{info["scene_object_ids"].index(obj_id)}']
        expected = np.where((lab['scores'] > 0) & ~c, lab['scores'], 0)
        np.testing.assert_array_equal(r['grasp_scores'][k], expected)
        np.testing.assert_array_equal(r['grasp_widths'][k], lab['offsets'][..., 2])
        np.testing.assert_array_equal(r['grasp_points'][k], lab['points'])
    # graspness from the per-frame file
    g = r['graspness_label']
    assert r['graspness_source'] == 'file'
    assert g.dtype == np.float32 and g.shape == (n,)
    obj = r['objectness_label'] == 1
    assert np.all(g[~obj] == 0) and g[obj].mean() > 0.05 and g.max() <= 1.0


def test_graspness_computed_equals_file(labelled_graspnet_root):
    """The on-the-fly graspness follows the rule of the generator's per-frame files (the
    GSNet reference's rule)."""
    ds = _dataset(labelled_graspnet_root)
    info = ds.get_data_info(12)
    view = _points_view(info)
    from_file = LoadGraspLabels(graspness_source='file')(copy.deepcopy(view))
    computed = LoadGraspLabels(graspness_source='compute')(copy.deepcopy(view))
    assert computed['graspness_source'] == 'compute'
    np.testing.assert_allclose(computed['graspness_label'], from_file['graspness_label'],
                               atol=1e-3)  # files are float16
    # independent check of GSNet's rule: every workspace pixel takes the graspness of its
    # nearest grasp point over all objects, min-max over the workspace (background
    # included); the label keeps it on object points
    coll = np.load(info['collision_label_path'])
    depth_png = cv2.imread(info['depth_path'], cv2.IMREAD_UNCHANGED)
    seg_img = cv2.imread(info['label_path'], cv2.IMREAD_UNCHANGED)
    mask = reference_workspace_mask(depth_png, seg_img, info['cam_intrinsic'], 1000.0,
                                    info['cam2world'])
    v, u = np.nonzero(mask)
    K = info['cam_intrinsic']
    z = depth_png[v, u] / 1000.0
    cloud = np.stack([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z], 1)
    grasp_pts, grasp_g = [], []
    for obj_id, T in zip(computed['object_ids'], computed['object_poses']):
        lab = np.load(os.path.join(info['grasp_label_dir'], f'{obj_id:03d}_labels.npz'))
        grasp_g.append(point_graspness(lab['scores'], coll[f'arr_{[0, 4].index(obj_id)}'],
                                       0.8))
        grasp_pts.append(transform_points(T, lab['points']))
    _, idx = cKDTree(np.vstack(grasp_pts)).query(cloud)
    g = np.concatenate(grasp_g)[idx]
    gmap = np.zeros(depth_png.shape)
    gmap[v, u] = (g - g.min()) / (g.max() - g.min())
    uv = computed['pixel_uv']
    seg = computed['pts_instance_mask']
    expected = np.where(seg > 0, gmap[uv[:, 1], uv[:, 0]], 0.0)
    np.testing.assert_allclose(computed['graspness_label'], expected, atol=1e-5)
    # graspness is higher on objects than on the table / background (0 there)
    obj = computed['objectness_label'] == 1
    assert computed['graspness_label'][obj].mean() > computed['graspness_label'][~obj].mean()
    # missing file: 'auto' falls back to computing, 'file' names the path
    view['graspness_path'] = os.path.join(labelled_graspnet_root, 'nowhere', '0000.npy')
    assert LoadGraspLabels()(copy.deepcopy(view))['graspness_source'] == 'compute'
    with pytest.raises(FileNotFoundError, match='nowhere'):
        LoadGraspLabels(graspness_source='file')(copy.deepcopy(view))


def _grasp_pipeline(**pack_kw):
    return [
        dict(type='LoadDepthImage'),
        dict(type='DepthToPoints', with_pixel_uv=True),
        dict(type='LoadGraspLabels', num_grasp_points='reference'),
        dict(type='ObjectWorkspaceCrop', margin=0.02),
        dict(type='PointSample', num_points=20000),
        dict(type='Voxelize', voxel_size=0.005),
        dict(type='PackGraspInputs', **pack_kw),
    ]


def test_packed_sample_keeps_labels_aligned(labelled_graspnet_root):
    ds = _dataset(labelled_graspnet_root, pipeline=_grasp_pipeline())
    np.random.seed(0)
    out = ds[2]
    info = ds.get_data_info(2)
    inputs, sample = out['inputs'], out['data_samples']
    pts = inputs['points'].numpy()
    assert pts.shape == (20000, 3)
    labels = sample.gt_grasp_labels
    # objectness of every sampled point = the label image at its projected pixel
    K = info['cam_intrinsic']
    u = np.rint(K[0, 0] * pts[:, 0] / pts[:, 2] + K[0, 2]).astype(int)
    v = np.rint(K[1, 1] * pts[:, 1] / pts[:, 2] + K[1, 2]).astype(int)
    seg = cv2.imread(info['label_path'], cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(labels.objectness_label.numpy(), seg[v, u] > 0)
    np.testing.assert_array_equal(sample.gt_pts_seg.pts_instance_mask.numpy(), seg[v, u])
    assert labels.objectness_label.dtype == torch.int64
    assert labels.graspness_label.dtype == torch.float32
    # crop: the object box in the world frame, grown by 2 cm
    obj = labels.objectness_label.numpy() == 1
    world = transform_points(info['cam2world'], pts.astype(np.float64))
    lo, hi = world[obj].min(0) - 0.02, world[obj].max(0) + 0.02
    assert np.all(world >= lo - 1e-6) and np.all(world <= hi + 1e-6)
    assert (~obj).sum() > 0  # table points inside the margin are kept
    # object poses (camera frame) = meta.mat, ids in the metainfo
    ids, poses = _meta(info)
    assert sample.metainfo['object_ids'] == list(ids)
    np.testing.assert_allclose(labels.object_poses.numpy(), poses, atol=1e-6)
    # reference grasp-point subset: min(max(Np // 4, 300), Np) = all 64 coarse points
    assert [p.shape for p in labels.grasp_points] == [(64, 3)] * len(ids)
    assert labels.grasp_scores[0].shape == (64, 300, 12, 4)
    g = labels.graspness_label.numpy()
    assert g[obj].mean() > g[~obj].mean()


def test_augmented_sample_poses_follow_points(labelled_graspnet_root):
    pipeline = _grasp_pipeline()
    pipeline.insert(5, dict(type='RandomFlipRotate', flip_prob=1.0))
    ds = _dataset(labelled_graspnet_root, pipeline=pipeline)
    np.random.seed(1)
    out = ds[4]
    sample = out['data_samples']
    aug = np.asarray(sample.metainfo['aug_mat'])
    assert np.linalg.det(aug[:3, :3]) < 0  # flipped
    _, poses = _meta(ds.get_data_info(4))
    expected = aug[None] @ np.concatenate([poses, np.tile([[[0, 0, 0, 1.]]],
                                                          (len(poses), 1, 1))], 1)
    np.testing.assert_allclose(sample.gt_grasp_labels.object_poses.numpy(),
                               expected[:, :3], atol=1e-6)
    # the packed points are the camera points mapped by aug_mat
    cam = transform_points(invert_transform(aug), out['inputs']['points'].numpy())
    assert np.all(cam[:, 2] > 0.1)


# ----------------------------------------------------------------------------- failures
def test_frames_without_graspable_points_are_skipped(labelled_graspnet_root):
    ds = _dataset(labelled_graspnet_root)
    view = LoadGraspLabels()(_points_view(ds.get_data_info(0)))
    view = Voxelize()(PointSample(4000)(ObjectWorkspaceCrop()(view)))
    assert PackGraspInputs()(copy.deepcopy(view)) is not None
    assert PackGraspInputs(min_graspable_points=10**6)(copy.deepcopy(view)) is None
    no_grasp = copy.deepcopy(view)
    no_grasp['graspness_label'][:] = 0
    assert PackGraspInputs()(no_grasp) is None
    # objects with too few sampled points are left out of the labels
    counts = [int((view['pts_instance_mask'] == i + 1).sum()) for i in view['object_ids']]
    assert min(counts) < max(counts)
    packed = PackGraspInputs(min_object_points=max(counts))(copy.deepcopy(view))
    kept = int(view['object_ids'][int(np.argmax(counts))])
    assert packed['data_samples'].metainfo['object_ids'] == [kept]
    assert len(packed['data_samples'].gt_grasp_labels.grasp_points) == 1
    packed = PackGraspInputs(min_object_points=10**6, min_graspable_points=0)(
        copy.deepcopy(view))
    assert packed is None  # no object left
    # no object in view: the object workspace is undefined -> skipped
    bare = _points_view(ds.get_data_info(0))
    bare = LoadGraspLabels()(bare)
    bare['objectness_label'][:] = 0
    assert ObjectWorkspaceCrop()(bare) is None


def test_missing_label_files_name_the_path(labelled_graspnet_root, tmp_path):
    root = tmp_path / 'partial'
    root.mkdir()
    for name in ('scenes', 'grasp_label', 'models', 'dex_models', 'graspness'):
        os.symlink(os.path.join(labelled_graspnet_root, name), root / name)
    missing = os.path.join(str(root), 'collision_label', 'scene_0000', 'collision_labels.npz')
    with pytest.raises(FileNotFoundError, match='collision_labels.npz'):
        _dataset(str(root), scene_ids=[0])
    ds = _dataset(str(root), scene_ids=[0], check_labels=False)
    with pytest.raises(FileNotFoundError, match=missing.replace('.', r'\.')):
        LoadGraspLabels()(_points_view(ds.get_data_info(0)))
    info = _dataset(labelled_graspnet_root).get_data_info(0)
    info['grasp_label_dir'] = str(tmp_path / 'no_labels')
    with pytest.raises(FileNotFoundError, match='no_labels'):
        LoadGraspLabels()(_points_view(info))
    with pytest.raises(KeyError, match='with_pixel_uv'):
        LoadGraspLabels()(DepthToPoints()(LoadDepthImage()(copy.deepcopy(info))))
