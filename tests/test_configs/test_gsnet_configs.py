"""GSNet fine-tuning configs: every config builds; each experiment changes only its factor."""
import glob
import os
import os.path as osp
import sys

import pytest
import torch
from config_diff import config_diff, expand_cached
from mmengine.config import Config
from mmengine.registry import DefaultScope

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
CONFIG_DIR = osp.join(ROOT, 'configs')
GSNET_DIR = osp.join(CONFIG_DIR, 'gsnet')
ALL_CONFIGS = sorted(
    p for p in glob.glob(osp.join(CONFIG_DIR, '**', '*.py'), recursive=True)
    if '_base_' not in osp.relpath(p, CONFIG_DIR).split(os.sep))
PROJECT_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'projects', '*', 'configs', '*.py')))
FRACTIONS = ('1of256', '16of256', '256of256')
CAMERAS = ('realsense', 'kinect')
PRETRAIN_OF = {'fne': 'pretrain_fne', 'nofne': 'pretrain_nofne', 'noaug': 'pretrain_noaug'}
INIT_KEYS = {'pretrained_backbone', 'model.backbone.init_cfg.type',
             'model.backbone.init_cfg.checkpoint', 'model.backbone.init_cfg.prefix',
             'model.backbone.init_cfg.key_mapping.^final\\..*',
             'model.backbone.init_cfg.ignore_missing'}





def _load(name: str) -> Config:
    path = name if osp.isabs(name) else osp.join(CONFIG_DIR, name)
    return Config.fromfile(path)




def _gsnet(kind: str, camera: str, fraction: str) -> str:
    return f'gsnet/gsnet_{kind}_{camera}_{fraction}.py'


def test_experiment_grid_is_complete():
    names = {osp.basename(p) for p in glob.glob(osp.join(GSNET_DIR, '*.py'))}
    expected = {osp.basename(_gsnet(k, c, f)) for k in ('scratch', 'fne', 'nofne', 'noaug')
                for c in CAMERAS for f in FRACTIONS}
    assert names == expected


@pytest.mark.parametrize('path', ALL_CONFIGS + PROJECT_CONFIGS,
                         ids=lambda p: osp.relpath(p, ROOT))
def test_every_config_builds_its_model(path):
    from mmengine.utils import import_modules_from_strings
    import graspcontrast_mm  # noqa: F401
    from graspcontrast_mm.registry import MODELS
    # before reading the config: Config.fromfile imports its custom_imports
    if osp.relpath(path, ROOT).startswith('projects') and ROOT not in sys.path:
        sys.path.insert(0, ROOT)  # as `PYTHONPATH=$(pwd)` for tools/train.py
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'graspcontrast_mm'
    import_modules_from_strings(**cfg.custom_imports)
    with DefaultScope.overwrite_default_scope('graspcontrast_mm'):
        model = MODELS.build(cfg.model)
    assert type(model).__name__ == cfg.model.type
    assert model.backbone.out_channels == cfg.model.backbone.out_channels


def test_reference_gsnet_settings():
    cfg = _load(_gsnet('scratch', 'realsense', '256of256'))
    assert cfg.model.type == 'GSNet'
    assert cfg.optim_wrapper.optimizer.type == 'Adam'
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(1e-3)
    assert cfg.param_scheduler[0].type == 'ExponentialLR'
    assert cfg.param_scheduler[0].gamma == pytest.approx(0.95)
    assert cfg.train_cfg.max_epochs == 10
    assert cfg.train_dataloader.batch_size == 4
    assert cfg.model.num_seeds == 1024
    assert cfg.model.graspness_threshold == pytest.approx(0.1)
    assert cfg.model.approach_head.num_views == 300
    assert (cfg.model.crop_head.radius, cfg.model.crop_head.hmin,
            cfg.model.crop_head.hmax) == (0.05, -0.02, 0.04)
    ds = cfg.train_dataloader.dataset
    assert (ds.mode, ds.split, ds.camera, ds.label_fraction) == \
        ('grasp', 'train', 'realsense', '256/256')
    types = [t.type for t in ds.pipeline]
    assert types == ['LoadDepthImage', 'DepthToPoints', 'LoadGraspLabels',
                     'ObjectWorkspaceCrop', 'PointSample', 'RandomFlipRotate', 'Voxelize',
                     'PackGraspInputs']
    vox = [t for t in ds.pipeline if t.type == 'Voxelize'][0]
    assert vox.voxel_size == pytest.approx(0.005)
    test = cfg.test_dataloader.dataset
    assert (test.mode, test.split, test.test_mode) == ('grasp', 'test', True)
    assert 'RandomFlipRotate' not in [t.type for t in test.pipeline]
    assert cfg.test_evaluator.type == 'GraspNetMetric'
    assert cfg.test_evaluator.data_root == test.data_root == ds.data_root
    assert 'init_cfg' not in cfg.model.backbone  # scratch: random initialisation


def test_gsnet_backbone_is_the_pretrained_one():
    """Strict loading needs the pre-training and fine-tuning backbones to agree."""
    for gsnet, pretrain in (('gsnet/gsnet_scratch_realsense_256of256.py', 'pretrain_fne.py'),
                            ('gsnet_scratch_tiny.py', 'pretrain_fne_tiny.py')):
        a = _load(gsnet).model.backbone.to_dict()
        b = _load(pretrain).model.backbone.to_dict()
        a.pop('init_cfg', None)
        assert a == b, (gsnet, pretrain)


@pytest.mark.parametrize('camera', CAMERAS)
@pytest.mark.parametrize('fraction', FRACTIONS[:2])
def test_label_fraction_configs_change_only_the_fraction(camera, fraction):
    base = _load(_gsnet('scratch', camera, '256of256'))
    cfg = _load(_gsnet('scratch', camera, fraction))
    assert config_diff(base, cfg) == {'label_fraction', 'train_dataloader.dataset.label_fraction'}
    assert cfg.train_dataloader.dataset.label_fraction == fraction.replace('of', '/')


@pytest.mark.parametrize('fraction', FRACTIONS)
def test_kinect_configs_change_only_the_camera(fraction):
    base = _load(_gsnet('scratch', 'realsense', fraction))
    cfg = _load(_gsnet('scratch', 'kinect', fraction))
    assert config_diff(base, cfg) == {'camera', 'train_dataloader.dataset.camera',
                                'test_dataloader.dataset.camera', 'test_evaluator.camera'}
    assert cfg.train_dataloader.dataset.camera == cfg.test_dataloader.dataset.camera == \
        cfg.test_evaluator.camera == 'kinect'


@pytest.mark.parametrize('camera', CAMERAS)
@pytest.mark.parametrize('fraction', FRACTIONS)
def test_pretrained_configs_change_only_the_backbone_init(camera, fraction):
    scratch = _load(_gsnet('scratch', camera, fraction))
    fne = _load(_gsnet('fne', camera, fraction))
    assert config_diff(scratch, fne) == INIT_KEYS
    init = fne.model.backbone.init_cfg
    assert (init.type, init.prefix) == ('PretrainedStrict', 'backbone.')
    assert init.checkpoint == fne.pretrained_backbone
    # the final 1x1 projection (contrastive embedding) is not transferred
    assert dict(init.key_mapping) == {r'^final\..*': ''}
    assert list(init.ignore_missing) == [r'^final\.']
    for kind in ('nofne', 'noaug'):
        abl = _load(_gsnet(kind, camera, fraction))
        assert config_diff(fne, abl) == {'pretrained_backbone', 'model.backbone.init_cfg.checkpoint'}
    for kind, pretrain in PRETRAIN_OF.items():
        if camera == 'kinect':  # one pre-training per camera (paper)
            pretrain += '_kinect'
        ckpt = _load(_gsnet(kind, camera, fraction)).model.backbone.init_cfg.checkpoint
        assert osp.dirname(ckpt) == f'work_dirs/{pretrain}', ckpt
        assert osp.basename(ckpt) == f'epoch_{_load(pretrain + ".py").train_cfg.max_epochs}.pth'


def test_tiny_configs():
    full = _load(_gsnet('scratch', 'realsense', '256of256'))
    tiny = _load('gsnet_scratch_tiny.py')
    allowed = ('data_root', 'num_points', 'label_fraction', 'model.backbone.planes',
               'model.backbone.init_dim', 'model.backbone.out_channels',
               'model.crop_head.mlp_channels', 'model.swad_head.hidden_channels',
               'model.train_cfg.frame_consistent', 'train_dataloader.', 'test_dataloader.',
               'val_dataloader', 'val_evaluator', 'val_cfg', 'test_evaluator.', 'train_cfg.',
               'default_hooks.logger.', 'default_hooks.checkpoint.', 'log_processor.',
               'train_pipeline.', 'test_pipeline.', 'finetune_iters', 'steps_per_epoch',
               'optim_wrapper.optimizer.lr', 'param_scheduler.0.')
    changed = config_diff(full, tiny)
    assert changed and all(k.startswith(allowed) for k in changed), \
        sorted(k for k in changed if not k.startswith(allowed))
    # the CPU demo recipe (docs/fidelity.md row 25): the reference's 1024 seeds, its
    # optimiser at a higher lr, its x0.95-per-epoch decay applied per optimiser step over
    # the tiny set's 48 labelled frames at batch 2, frame-consistent targets
    assert tiny.model.num_seeds == full.model.num_seeds == 1024
    assert tiny.model.train_cfg.frame_consistent is True
    assert 'frame_consistent' not in full.model.train_cfg \
        or full.model.train_cfg.frame_consistent is False
    assert tiny.optim_wrapper.optimizer.type == full.optim_wrapper.optimizer.type == 'Adam'
    assert tiny.optim_wrapper.optimizer.lr == pytest.approx(3e-3)
    (sched,) = tiny.param_scheduler
    assert sched.type == 'ExponentialLR' and sched.by_epoch is False
    steps = tiny.train_cfg.max_iters
    assert tiny.train_cfg.type == 'IterBasedTrainLoop' and sched.end == steps
    assert sched.gamma ** (48 // tiny.train_dataloader.batch_size) == pytest.approx(0.95)
    assert tiny.train_dataloader.sampler.type == 'InfiniteSampler'
    # the same checkpoint scores the same AP every time
    sample = [t for t in tiny.test_dataloader.dataset.pipeline if t.type == 'PointSample']
    assert sample and sample[0].seed == 0
    assert tiny.model.loss == full.model.loss
    assert [t['type'] for t in expand_cached(tiny.train_dataloader.dataset.pipeline)] == \
        [t['type'] for t in full.train_dataloader.dataset.pipeline]
    assert tiny.val_dataloader == tiny.test_dataloader
    assert tiny.val_evaluator == tiny.test_evaluator
    assert tiny.test_evaluator.data_root == tiny.train_dataloader.dataset.data_root

    fne = _load('gsnet_fne_tiny.py')
    assert config_diff(tiny, fne) == INIT_KEYS
    pre = _load('pretrain_fne_tiny.py')
    assert fne.model.backbone.init_cfg.checkpoint == \
        f'work_dirs/pretrain_fne_tiny/epoch_{pre.train_cfg.max_epochs}.pth'


def test_tiny_fne_config_loads_a_tiny_pretraining_checkpoint(tmp_path):
    """The tiny pre-trainer's checkpoint initialises the tiny GSNet's backbone strictly."""
    import graspcontrast_mm  # noqa: F401
    from mmengine.runner.checkpoint import save_checkpoint
    from graspcontrast_mm.registry import MODELS
    pre = _load('pretrain_fne_tiny.py')
    fne = _load('gsnet_fne_tiny.py')
    ckpt = tmp_path / 'epoch_1.pth'
    fne.model.backbone.init_cfg.checkpoint = str(ckpt)
    with DefaultScope.overwrite_default_scope('graspcontrast_mm'):
        torch.manual_seed(0)
        pretrainer = MODELS.build(pre.model)
        save_checkpoint(dict(meta=dict(epoch=1), state_dict=pretrainer.state_dict()),
                        str(ckpt))
        torch.manual_seed(1)
        model = MODELS.build(fne.model)
        model.init_weights()
    transferred = pretrainer.backbone.state_dict()
    for key, value in model.backbone.state_dict().items():
        if key == 'final.weight':  # re-initialised, not transferred (bias is 0 in both)
            assert not torch.equal(value, transferred[key]), key
        else:
            assert torch.equal(value, transferred[key]), key


@pytest.mark.parametrize('name', ['gsnet_scratch_tiny.py', 'gsnet_fne_tiny.py'])
def test_tiny_datasets_build_and_feed_the_model(name, labelled_graspnet_root):
    """Train and test datasets of the tiny configs, on a generated labelled dataset."""
    import graspcontrast_mm  # noqa: F401
    from mmengine.dataset import pseudo_collate
    from graspcontrast_mm.registry import DATASETS, METRICS, MODELS
    cfg = _load(name)
    cfg.model.backbone.pop('init_cfg', None)
    with DefaultScope.overwrite_default_scope('graspcontrast_mm'):
        train = DATASETS.build(dict(cfg.train_dataloader.dataset,
                                    data_root=labelled_graspnet_root))
        test = DATASETS.build(dict(cfg.test_dataloader.dataset,
                                   data_root=labelled_graspnet_root))
        METRICS.build(dict(cfg.test_evaluator, data_root=labelled_graspnet_root))
        model = MODELS.build(cfg.model)
    # label fraction 4/16 of the 8 generated frames of the one train scene
    assert len(train) == 2
    assert {d['scene_id'] for d in (train.get_data_info(i) for i in range(len(train)))} == {0}
    assert len(test) == 8 and test.get_data_info(0)['scene_id'] == 100
    model.train()
    losses = model.loss(**model.data_preprocessor(pseudo_collate([train[0], train[1]]),
                                                  True))
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        out = model.test_step(pseudo_collate([test[0]]))
    assert out[0].pred_grasps.shape[1] == 17
    assert out[0].metainfo['scene_id'] == 100


def _base_files(path):
    """The files a config's ``_base_`` names, resolved against its folder."""
    import ast
    import os.path as osp
    for node in ast.parse(open(path).read()).body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, 'id', None) == '_base_' for t in node.targets):
            value = ast.literal_eval(node.value)
            names = [value] if isinstance(value, str) else list(value)
            return [osp.normpath(osp.join(osp.dirname(path), n)) for n in names]
    return []


def _depth(path):
    bases = _base_files(path)
    return 0 if not bases else 1 + max(_depth(b) for b in bases)


def test_experiment_configs_are_at_most_two_hops_from_a_base_piece():
    import glob
    files = sorted(glob.glob('configs/gsnet/*.py') + glob.glob('configs/gsnet/ablations/*.py'))
    assert len(files) == 30
    too_deep = {f: _depth(f) for f in files if _depth(f) > 2}
    assert not too_deep, too_deep
    for f in files:
        assert all('/_base_/' in b for b in _base_files(f)), f  # only base pieces
        # the strict-initialisation block lives in one base piece, not in experiments
        assert 'PretrainedStrict' not in open(f).read(), f
