"""The paper configs follow the paper and the GSNet reference (docs/fidelity.md): backbone
widths and input channels, one pre-training per camera, pre-training on the whole dataset,
one augmentation in both stages, GSNet's object workspace, the reference's test-time
protocol, and the whole-backbone transfer ablation."""
import copy
import glob
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch
from config_diff import config_diff, expand_cached
from mmengine.config import Config
from mmengine.registry import DefaultScope

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
CONFIG_DIR = osp.join(ROOT, 'configs')
# the paper configs: every config but the _base_ pieces, the label-efficiency study's own
# configs (configs/study/, a documented CPU-budget variant with its own tests) and the
# robot detector's (configs/robot/, derived from the study's, tested with them)
ALL_CONFIGS = sorted(
    p for p in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
    if not {'_base_', 'study', 'robot'} & set(osp.relpath(p, CONFIG_DIR).split(os.sep)))
PROJECT_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'projects', '*', 'configs', '*.py')))
PRETRAIN = [f'pretrain_{k}{c}.py' for k in ('fne', 'nofne', 'noaug') for c in ('', '_kinect')]
FINETUNE = sorted(osp.relpath(p, CONFIG_DIR) for p in ALL_CONFIGS
                  if osp.basename(p).startswith('gsnet_'))
CAMERAS = ('realsense', 'kinect')
FRACTIONS = ('1of256', '16of256', '256of256')
#: GSNet's augment_data, the reading chosen for the paper configs (docs/fidelity.md)
PAPER_AUGMENTATION = dict(type='RandomFlipRotate', flip_prob=0.5, rot_range_deg=(-30.0, 30.0),
                          flip_axis='x', axis='x', frame='camera')
TABLE_BOX = ((-0.3, -0.3, -0.02), (0.3, 0.3, 0.3))


def _load(name: str) -> Config:
    return Config.fromfile(name if osp.isabs(name) else osp.join(CONFIG_DIR, name))


def _views(pipeline):
    """Per-view transforms of a pair pipeline (inside ApplyToViews), else the pipeline;
    the transforms of a CachedTransforms in its place."""
    for t in expand_cached(pipeline):
        if t['type'] == 'ApplyToViews':
            return [dict(v) for v in t['transforms']]
    return [dict(t) for t in expand_cached(pipeline)]


def _of_type(transforms, name):
    return [t for t in transforms if t['type'] == name]


def _pipelines(cfg):
    """``{loader: per-view transform list}`` of the train / val / test loaders."""
    out = {}
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader and loader.get('dataset') and loader['dataset'].get('pipeline'):
            out[key] = _views(loader['dataset']['pipeline'])
    return out


# ----------------------------------------------------------------------------- 1. widths
def test_backbone_is_gsnets_minkunet14d_in_both_arms():
    from graspcontrast_mm.models.backbones import MINKUNET14D_PLANES
    for name in ('pretrain_fne.py', 'gsnet/gsnet_scratch_realsense_256of256.py'):
        backbone = _load(name).model.backbone
        assert tuple(backbone.planes) == MINKUNET14D_PLANES == \
            (32, 64, 128, 256, 192, 192, 192, 192), name
        assert tuple(backbone.layers) == (1,) * 8
        assert (backbone.in_channels, backbone.out_channels) == (3, 512), name
    import graspcontrast_mm  # noqa: F401
    from graspcontrast_mm.registry import MODELS
    with DefaultScope.overwrite_default_scope('graspcontrast_mm'):
        model = MODELS.build(_load('pretrain_fne.py').model)
    assert sum(p.numel() for p in model.backbone.parameters()) == 14_646_816  # 14.6 M


@pytest.mark.parametrize('path', ALL_CONFIGS + PROJECT_CONFIGS,
                         ids=lambda p: osp.relpath(p, ROOT))
def test_every_voxelize_feeds_its_backbone(path):
    """Voxelize's feature channels = the backbone's in_channels (GSNet: 3 ones)."""
    from graspcontrast_mm.datasets.transforms import Voxelize
    cfg = _load(path)
    channels = cfg.model.backbone.in_channels
    found = 0
    for loader, views in _pipelines(cfg).items():
        for t in _of_type(views, 'Voxelize'):
            assert Voxelize.FEAT_CHANNELS[t.get('feat_mode', 'ones')] == channels, \
                (loader, t)
            found += 1
    assert found >= 2


# ----------------------------------------------------------------------------- 2. cameras
@pytest.mark.parametrize('kind', ('fne', 'nofne', 'noaug'))
def test_kinect_pretraining_configs_change_only_the_camera(kind):
    base = _load(f'pretrain_{kind}.py')
    kinect = _load(f'pretrain_{kind}_kinect.py')
    assert config_diff(base, kinect) == {
        'camera', 'train_dataloader.dataset.camera', 'val_dataloader.dataset.camera',
        'test_dataloader.dataset.camera'}
    assert kinect.train_dataloader.dataset.camera == kinect.val_dataloader.dataset.camera \
        == kinect.test_dataloader.dataset.camera == 'kinect'
    assert base.train_dataloader.dataset.camera == 'realsense'


def test_every_finetuning_config_starts_from_its_own_camera():
    """The paper: "All models for both RealSense and Kinect datasets are trained
    separately": the pre-training behind a fine-tuning config read the same camera."""
    seen = set()
    for name in FINETUNE:
        cfg = _load(name)
        init = cfg.model.backbone.get('init_cfg')
        if init is None:
            continue  # scratch
        m = re.fullmatch(r'work_dirs/(\w+)/epoch_(\d+)\.pth', init.checkpoint)
        assert m, (name, init.checkpoint)
        pre_path = osp.join(CONFIG_DIR, m.group(1) + '.py')
        assert osp.isfile(pre_path), (name, pre_path)
        pre = _load(pre_path)
        camera = cfg.train_dataloader.dataset.camera
        assert pre.train_dataloader.dataset.camera == camera, (name, m.group(1))
        assert int(m.group(2)) == pre.train_cfg.max_epochs, name
        a, b = dict(cfg.model.backbone.to_dict()), dict(pre.model.backbone.to_dict())
        a.pop('init_cfg')
        assert a == b, name
        seen.add(camera)
    assert seen == set(CAMERAS)


# ----------------------------------------------------------------------------- 3. scope
@pytest.mark.parametrize('name', PRETRAIN + ['pretrain_fne_tiny.py'])
def test_pretraining_reads_the_whole_dataset(name):
    """The paper: "the entire dataset is utilized during the pre-training phase"."""
    from graspcontrast_mm.datasets import split_scene_ids
    ds = _load(name).train_dataloader.dataset
    assert (ds.mode, ds.split) == ('pair', 'all'), name
    assert split_scene_ids('all') == list(range(190))


def test_pretraining_pairs_come_from_train_and_test_scenes(labelled_graspnet_root):
    import graspcontrast_mm  # noqa: F401
    from graspcontrast_mm.registry import DATASETS
    cfg = _load('pretrain_fne_tiny.py').train_dataloader.dataset
    with DefaultScope.overwrite_default_scope('graspcontrast_mm'):
        ds = DATASETS.build(dict(cfg, data_root=labelled_graspnet_root, pipeline=[]))
        train_only = DATASETS.build(dict(cfg, data_root=labelled_graspnet_root,
                                         pipeline=[], split='train'))
    scenes = {ds.get_data_info(i)['scene_id'] for i in range(len(ds))}
    assert scenes == {0, 100}
    assert {train_only.get_data_info(i)['scene_id'] for i in range(len(train_only))} == {0}


@pytest.mark.parametrize('name', PRETRAIN + ['pretrain_fne_tiny.py'])
def test_pretraining_validation_draws_fixed_points_per_frame(name):
    """The label-free metric's pairs get one fixed point draw per frame (PointSample with a
    seed), so it does not depend on the loading process's random state."""
    samplers = _of_type(_pipelines(_load(name))['val_dataloader'], 'PointSample')
    assert samplers and all(t.get('seed') is not None for t in samplers)
    # training keeps drawing from the (per-worker seeded) global RNG
    assert all(t.get('seed') is None
               for t in _of_type(_pipelines(_load(name))['train_dataloader'], 'PointSample'))


def test_pretraining_validation_pair_is_the_same_whatever_the_rng_state(
        labelled_graspnet_root):
    import graspcontrast_mm  # noqa: F401
    from graspcontrast_mm.registry import DATASETS
    cfg = _load('pretrain_fne_tiny.py').val_dataloader.dataset
    with DefaultScope.overwrite_default_scope('graspcontrast_mm'):
        ds = DATASETS.build(dict(cfg, data_root=labelled_graspnet_root))
    clouds = []
    for seed in (1, 2):
        np.random.seed(seed)
        clouds.append([np.asarray(v['points']) for v in ds[0]['inputs']['views']])
    assert all(np.array_equal(a, b) for a, b in zip(*clouds))
    assert not np.array_equal(clouds[0][0][:50], clouds[0][1][:50])  # own draw per view


# ----------------------------------------------------------------------------- 4. augmentation
@pytest.mark.parametrize('name', PRETRAIN + FINETUNE + ['pretrain_fne_tiny.py'])
def test_paper_configs_use_gsnets_augmentation_in_both_stages(name):
    pipes = _pipelines(_load(name))
    train_aug = _of_type(pipes['train_dataloader'], 'RandomFlipRotate')
    if 'noaug' in name and name.startswith('pretrain'):
        assert train_aug == []
    else:
        assert [dict(t) for t in train_aug] == [PAPER_AUGMENTATION], name
    for loader in ('val_dataloader', 'test_dataloader'):
        if loader in pipes:
            assert _of_type(pipes[loader], 'RandomFlipRotate') == [], (name, loader)


def test_paper_augmentation_is_the_reference_augment_data():
    from graspcontrast_mm.registry import TRANSFORMS
    t = TRANSFORMS.build(copy.deepcopy(PAPER_AUGMENTATION))
    np.random.seed(0)
    for _ in range(20):
        A = t.sample_matrix()
        # rotation about camera x (first row / column fixed up to the flip), |angle| <= 30
        assert abs(abs(A[0, 0]) - 1) < 1e-12 and np.allclose(A[1:3, 0], 0)
        assert np.degrees(np.arccos(np.clip(A[1, 1], -1, 1))) <= 30 + 1e-9


# ----------------------------------------------------------------------------- 5. crop
@pytest.mark.parametrize('name', PRETRAIN + FINETUNE + ['pretrain_fne_tiny.py'])
def test_paper_configs_crop_to_gsnets_object_workspace(name):
    pipes = _pipelines(_load(name))
    assert pipes
    for loader, views in pipes.items():
        types = [t['type'] for t in views]
        assert 'WorkspaceCrop' not in types, (name, loader)
        crops = _of_type(views, 'ObjectWorkspaceCrop')
        assert len(crops) == 1, (name, loader)
        crop = crops[0]
        assert (crop['mode'], crop['margin'], crop['object_pixels_without_depth']) == \
            ('reference', 0.02, 'camera_centre'), (name, loader)
        seg = types.index('ObjectWorkspaceCrop') - 1
        assert types[seg] in ('LoadPointSegmentation', 'LoadGraspLabels'), (name, loader)
        if name.startswith('pretrain'):  # data without label images: the table box
            assert tuple(map(tuple, crop['fallback_world_bounds'])) == TABLE_BOX
            assert _of_type(views, 'LoadPointSegmentation')[0]['allow_missing'] is True


def test_pretraining_views_are_cropped_like_finetuning(labelled_graspnet_root):
    """A pre-training view keeps exactly the pixels of GSNet's workspace mask."""
    import graspcontrast_mm  # noqa: F401
    from mmcv.transforms import Compose
    from graspcontrast_mm.registry import DATASETS, TRANSFORMS
    from real_kinect_frame import reference_workspace_mask
    cfg = _load('pretrain_fne_tiny.py').train_dataloader.dataset
    views = _views(cfg.pipeline)
    upto = [t['type'] for t in views].index('ObjectWorkspaceCrop') + 1
    with DefaultScope.overwrite_default_scope('graspcontrast_mm'):
        ds = DATASETS.build(dict(cfg, data_root=labelled_graspnet_root, pipeline=[]))
        crop = Compose([TRANSFORMS.build(t) for t in views[:upto]])
    import cv2
    for idx in (0, len(ds) - 1):
        view = ds.get_data_info(idx)['views'][0]
        out = crop(copy.deepcopy(view))
        depth = cv2.imread(view['depth_path'], cv2.IMREAD_UNCHANGED)
        seg = cv2.imread(view['label_path'], cv2.IMREAD_UNCHANGED)
        mask = reference_workspace_mask(depth, seg, view['cam_intrinsic'],
                                         view['depth_scale'], view['cam2world'])
        mask &= (depth >= 100) & (depth <= 2000)  # DepthToPoints' range, mm
        kept = np.zeros_like(mask)
        kept[out['pixel_uv'][:, 1], out['pixel_uv'][:, 0]] = True
        np.testing.assert_array_equal(kept, mask)
        assert mask.sum() < (depth > 0).sum()  # the far table is cut


# ----------------------------------------------------------------------------- 8. testing
@pytest.mark.parametrize('name', FINETUNE)
def test_reference_test_time_protocol(name):
    """No collision detection at test time by default (the reference's published runs:
    --collision_thresh -1); the workspace cloud is kept for the 0.01 setting."""
    cfg = _load(name)
    t = cfg.model.test_cfg
    assert (t.collision_thresh, t.collision_voxel_size, t.collision_approach_dist) == \
        (-1.0, 0.01, 0.05)
    types = [x['type'] for x in cfg.test_dataloader.dataset.pipeline]
    assert types.index('ObjectWorkspaceCrop') < types.index('KeepScenePoints') < \
        types.index('PointSample')


# ----------------------------------------------------------------------------- 9. transfer
@pytest.mark.parametrize('camera', CAMERAS)
@pytest.mark.parametrize('fraction', FRACTIONS)
def test_whole_backbone_ablation_changes_only_the_transfer(camera, fraction):
    fne = _load(f'gsnet/gsnet_fne_{camera}_{fraction}.py')
    abl = _load(f'gsnet/ablations/gsnet_fne_fullbackbone_{camera}_{fraction}.py')
    assert config_diff(fne, abl) == {'model.backbone.init_cfg.key_mapping.^final\\..*',
                                     'model.backbone.init_cfg.ignore_missing'}
    init = abl.model.backbone.init_cfg
    assert dict(init) == dict(type='PretrainedStrict', checkpoint=fne.pretrained_backbone,
                              prefix='backbone.')


def test_whole_backbone_ablation_transfers_the_final_layer(tmp_path):
    """Built from the ablation config (narrowed for speed), every backbone tensor, the
    final 1x1 projection included, is the pre-trained one; the default config keeps its
    own final layer."""
    import graspcontrast_mm  # noqa: F401
    from mmengine.runner.checkpoint import save_checkpoint
    from graspcontrast_mm.registry import MODELS
    narrow = dict(planes=(8, 8, 16, 16, 16, 16, 8, 8), init_dim=8, out_channels=16)
    pre = _load('pretrain_fne.py')
    pre.model.backbone.update(narrow)
    ckpt = str(tmp_path / 'epoch_50.pth')
    with DefaultScope.overwrite_default_scope('graspcontrast_mm'):
        torch.manual_seed(0)
        pretrainer = MODELS.build(pre.model)
        save_checkpoint(dict(meta=dict(epoch=50), state_dict=pretrainer.state_dict()), ckpt)
        loaded = {}
        for name in ('gsnet/ablations/gsnet_fne_fullbackbone_realsense_16of256.py',
                     'gsnet/gsnet_fne_realsense_16of256.py'):
            cfg = _load(name)
            cfg.model.backbone.update(narrow)
            cfg.model.backbone.init_cfg.checkpoint = ckpt
            cfg.model.crop_head.mlp_channels = (16, 16)
            cfg.model.swad_head.hidden_channels = 16
            torch.manual_seed(1)
            model = MODELS.build(cfg.model)
            model.init_weights()
            loaded[name] = model.backbone.state_dict()
    source = pretrainer.backbone.state_dict()
    full, default = loaded.values()
    for key, value in source.items():
        assert torch.equal(full[key], value), key
        if key != 'final.weight':
            assert torch.equal(default[key], value), key
    assert not torch.equal(default['final.weight'], source['final.weight'])
