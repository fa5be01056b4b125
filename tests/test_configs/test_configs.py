"""Every config loads; ablations differ from their base only by what they ablate."""
import glob
import os.path as osp

import pytest
from config_diff import config_diff
from mmengine.config import Config

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', 'configs')
TOP_CONFIGS = sorted(glob.glob(osp.join(CONFIG_DIR, '*.py')))






@pytest.mark.parametrize('path', TOP_CONFIGS, ids=osp.basename)
def test_config_loads_with_registered_types(path):
    import graspcontrast_mm  # noqa: F401
    from graspcontrast_mm.registry import DATASETS, METRICS, MODELS, TRANSFORMS
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'graspcontrast_mm'
    assert MODELS.get(cfg.model.type) is not None
    assert MODELS.get(cfg.model.backbone.type) is not None
    assert MODELS.get(cfg.model.loss.type) is not None
    assert DATASETS.get(cfg.train_dataloader.dataset.type) is not None
    assert METRICS.get(cfg.val_evaluator.type) is not None
    for loader in ('train_dataloader', 'val_dataloader'):
        for t in cfg[loader].dataset.pipeline:
            assert TRANSFORMS.get(t.type) is not None, t.type
            for sub in t.get('transforms', []):
                assert TRANSFORMS.get(sub.type) is not None, sub.type


def test_paper_settings_in_pretrain_fne():
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'pretrain_fne.py'))
    assert cfg.optim_wrapper.optimizer.type == 'Adam'
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(1e-3)
    assert cfg.param_scheduler[0].type == 'ExponentialLR'
    assert cfg.param_scheduler[0].gamma == pytest.approx(0.95)
    assert cfg.param_scheduler[0].by_epoch
    assert cfg.train_dataloader.batch_size == 4
    assert cfg.model.loss.temperature == pytest.approx(0.07)
    assert cfg.model.loss.use_fne is True
    assert cfg.model.backbone.out_channels == 512
    view_types = [t.type for t in cfg.train_dataloader.dataset.pipeline[0].transforms]
    assert 'RandomFlipRotate' in view_types
    sample = [t for t in cfg.train_dataloader.dataset.pipeline[0].transforms
              if t.type == 'PointSample'][0]
    assert sample.num_points == 20000
    vox = [t for t in cfg.train_dataloader.dataset.pipeline[0].transforms
           if t.type == 'Voxelize'][0]
    assert vox.voxel_size == pytest.approx(0.005)


def test_nofne_changes_only_the_fne_switch():
    base = Config.fromfile(osp.join(CONFIG_DIR, 'pretrain_fne.py'))
    abl = Config.fromfile(osp.join(CONFIG_DIR, 'pretrain_nofne.py'))
    assert config_diff(base, abl) == {'model.loss.use_fne'}
    assert abl.model.loss.use_fne is False


def test_noaug_changes_only_the_augmentation():
    base = Config.fromfile(osp.join(CONFIG_DIR, 'pretrain_fne.py'))
    abl = Config.fromfile(osp.join(CONFIG_DIR, 'pretrain_noaug.py'))
    changed = config_diff(base, abl)
    assert changed, 'the ablation must change something'
    assert all(k.startswith('train_dataloader.dataset.pipeline.') for k in changed), changed
    base_views = [t.to_dict() for t in base.train_dataloader.dataset.pipeline[0].transforms]
    abl_views = [t.to_dict() for t in abl.train_dataloader.dataset.pipeline[0].transforms]
    assert [t for t in base_views if t['type'] != 'RandomFlipRotate'] == abl_views
    # the pair-level transforms are untouched
    assert [t.to_dict() for t in base.train_dataloader.dataset.pipeline[1:]] == \
        [t.to_dict() for t in abl.train_dataloader.dataset.pipeline[1:]]
