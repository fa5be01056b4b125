"""Strict backbone initialisation from a pre-training checkpoint (``PretrainedStrict``)."""
import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope
from mmengine.runner.checkpoint import save_checkpoint, weights_to_cpu

import graspcontrast_mm  # noqa: F401  (registers everything)
from graspcontrast_mm.engine import (CheckpointLoadError, CheckpointMismatchError,
                                     PretrainedStrictInit, apply_key_mapping,
                                     load_pretrained_module)
from graspcontrast_mm.registry import MODELS
from tiny_gsnet import (tiny_backbone_cfg, tiny_gsnet_model_cfg,
                        tiny_pretrainer_model_cfg)


@pytest.fixture(autouse=True)
def _default_scope():
    """What the runner does for every config of this package (default_scope)."""
    with DefaultScope.overwrite_default_scope('graspcontrast_mm'):
        yield


def gsnet_cfg(backbone: dict) -> dict:
    return tiny_gsnet_model_cfg(16, gated=True, backbone=backbone)


def _pair_batch(seed: int = 0) -> dict:
    """One packed view pair: a random surface patch seen twice, 64 matched points."""
    rng = np.random.default_rng(seed)
    g = np.arange(0.0, 0.2, 0.01)
    xx, yy = np.meshgrid(g, g, indexing='ij')
    world = np.stack([xx.ravel(), yy.ravel(), 0.02 * np.sin(10 * xx.ravel())], 1)
    views = []
    for shift in (0.0, 0.003):
        pts = (world + shift).astype(np.float32)
        grid = np.floor((pts - pts.min(0)) / 0.01).astype(np.int64)
        coords, p2v = np.unique(grid, axis=0, return_inverse=True)
        views.append(dict(points=torch.from_numpy(pts),
                          coords=torch.from_numpy(coords.astype(np.int32)),
                          feats=torch.ones(len(coords), 1),
                          point2voxel=torch.from_numpy(p2v.reshape(-1))))
    key = np.sort(rng.choice(len(world), 64, replace=False))
    inputs = dict(views=views, matches=torch.from_numpy(np.stack([key, key], 1)),
                  key_points_world=torch.from_numpy(world[key].astype(np.float32)))
    from mmdet3d.structures import Det3DDataSample
    return dict(inputs=[inputs], data_samples=[Det3DDataSample()])


@pytest.fixture(scope='module')
def pretrain_ckpt(tmp_path_factory):
    """A GraspContrastPretrainer trained for one step, saved like mmengine's CheckpointHook."""
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('graspcontrast_mm'):
        model = MODELS.build(tiny_pretrainer_model_cfg())
    before = copy.deepcopy(model.backbone.state_dict())
    optim = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-2))
    model.train()
    log = model.train_step(_pair_batch(), optim)
    assert torch.isfinite(log['loss'])
    after = model.backbone.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), 'no step taken'
    path = tmp_path_factory.mktemp('pretrain') / 'epoch_1.pth'
    save_checkpoint(dict(meta=dict(epoch=1, iter=1),
                         state_dict=weights_to_cpu(model.state_dict()),
                         optimizer=optim.state_dict(),
                         message_hub=MessageHub.get_current_instance().state_dict()),
                    str(path))
    return path, {k: v.clone() for k, v in model.state_dict().items()}


def _gsnet_with_init(path, **init_kwargs):
    torch.manual_seed(1)
    init = dict(type='PretrainedStrict', checkpoint=str(path), **init_kwargs)
    return MODELS.build(gsnet_cfg(tiny_backbone_cfg(init_cfg=init)))


def test_backbone_equals_checkpoint_and_heads_untouched(pretrain_ckpt):
    path, ckpt = pretrain_ckpt
    model = _gsnet_with_init(path)
    heads_before = {k: v.clone() for k, v in model.state_dict().items()
                    if not k.startswith('backbone.')}
    backbone_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    model.init_weights()  # what the runner calls before training
    loaded = model.backbone.state_dict()
    expected = {k[len('backbone.'):]: v for k, v in ckpt.items() if k.startswith('backbone.')}
    assert set(loaded) == set(expected)
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key
    # the random initialisation really was replaced (the test could fail)
    assert any(not torch.equal(backbone_before[k], loaded[k]) for k in loaded
               if loaded[k].is_floating_point())
    for key, value in model.state_dict().items():
        if not key.startswith('backbone.'):
            assert torch.equal(value, heads_before[key]), key


def test_kernels_not_permuted_after_mmdet3d_models_import(pretrain_ckpt):
    """mmdet3d.models overrides spconv's state-dict loading (spconv 1.x kernel layout
    conversion for dicts without version metadata); the strict init must not be affected."""
    import mmdet3d.models  # noqa: F401  (installs the override, as tools/train.py does)
    from spconv.pytorch import SparseModule
    assert SparseModule._version == 2
    path, ckpt = pretrain_ckpt
    model = _gsnet_with_init(path)
    model.init_weights()
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, ckpt['backbone.' + key]), key


def test_init_from_gsnet_config_via_registry_builds_without_reading(tmp_path):
    """Building never reads the checkpoint (test / inference configs need not have it)."""
    model = _gsnet_with_init(tmp_path / 'not_there.pth')
    with pytest.raises(CheckpointLoadError, match='not_there.pth'):
        model.init_weights()


def test_corrupt_file_raises_checkpoint_load_error(tmp_path):
    bad = tmp_path / 'corrupt.pth'
    bad.write_bytes(b'PK\x03\x04 definitely not a torch zip archive' * 10)
    model = _gsnet_with_init(bad)
    with pytest.raises(CheckpointLoadError, match='corrupt.pth'):
        model.init_weights()


def test_mismatched_planes_raise_naming_the_shapes(pretrain_ckpt):
    path, _ = pretrain_ckpt
    torch.manual_seed(1)
    planes = (8, 8, 16, 24, 16, 16, 8, 8)  # stage 4 wider than in the checkpoint
    model = MODELS.build(gsnet_cfg(tiny_backbone_cfg(
        planes=planes, init_cfg=dict(type='PretrainedStrict', checkpoint=str(path)))))
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    with pytest.raises(CheckpointMismatchError) as info:
        model.init_weights()
    msg = str(info.value)
    assert 'shape mismatch' in msg and 'block4.0' in msg, msg
    shapes = {k: (a, b) for k, a, b in info.value.mismatched}
    assert shapes['block4.0.norm1.weight'] == ((16,), (24,))
    assert shapes['block4.0.conv1.weight'] == ((16, 3, 3, 3, 16), (24, 3, 3, 3, 16))
    # a 16 -> 24 stage gets a projection shortcut the checkpoint does not have
    assert 'block4.0.downsample.0.weight' in info.value.missing
    assert not info.value.unexpected
    assert all(k.startswith(('block4.', 'block5.', 'convtr4')) for k in shapes), shapes
    # nothing was loaded
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_wrong_model_checkpoint_raises_naming_keys(tmp_path):
    # a model whose 'backbone.' is something else entirely
    other = nn.Module()
    other.backbone = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    path = tmp_path / 'other.pth'
    torch.save(dict(state_dict=other.state_dict(), meta={}), path)
    model = _gsnet_with_init(path)
    with pytest.raises(CheckpointMismatchError) as info:
        model.init_weights()
    msg = str(info.value)
    assert 'missing key' in msg and 'unexpected key' in msg
    assert '0.weight' in msg and 'block1.0.conv1.weight' in msg, msg
    assert f'{len(info.value.missing)} missing key(s)' in msg
    assert '0.weight' in info.value.unexpected
    assert {'final.weight', 'conv0p1s1.weight'} <= set(info.value.missing)


def test_checkpoint_without_the_prefix_lists_its_prefixes(tmp_path):
    path = tmp_path / 'noprefix.pth'
    torch.save(dict(state_dict={'encoder.w': torch.zeros(2), 'head.b': torch.zeros(1)}), path)
    model = _gsnet_with_init(path)
    with pytest.raises(CheckpointMismatchError, match=r"prefix 'backbone\.'.*encoder\."):
        model.init_weights()


def test_key_mapping_and_ignore_missing(pretrain_ckpt, tmp_path):
    path, ckpt = pretrain_ckpt
    # a checkpoint that stores the backbone under other names
    renamed = {k.replace('backbone.', 'encoder.net.').replace('.final.', '.head.'): v
               for k, v in ckpt.items()}
    other = tmp_path / 'renamed.pth'
    torch.save(dict(state_dict=renamed), other)
    model = _gsnet_with_init(other, prefix='encoder.net.', key_mapping={r'^head\.': 'final.'})
    model.init_weights()
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, ckpt['backbone.' + key]), key

    # drop the output layer from the checkpoint: strict load fails, ignore_missing allows it
    no_final = {k: v for k, v in ckpt.items() if '.final.' not in k}
    path2 = tmp_path / 'no_final.pth'
    torch.save(dict(state_dict=no_final), path2)
    with pytest.raises(CheckpointMismatchError, match='final.bias'):
        _gsnet_with_init(path2).init_weights()
    model = _gsnet_with_init(path2, ignore_missing=[r'^final\.'])
    final_before = model.backbone.final.weight.clone()
    model.init_weights()
    assert torch.equal(model.backbone.final.weight, final_before)
    assert torch.equal(model.backbone.conv0p1s1.weight, ckpt['backbone.conv0p1s1.weight'])


def test_key_mapping_validation():
    with pytest.raises(ValueError, match='both'):
        apply_key_mapping({'a.x': torch.zeros(1), 'b.x': torch.zeros(1)}, {r'^[ab]\.': ''})
    with pytest.raises(ValueError, match='regular'):
        PretrainedStrictInit('x.pth', key_mapping={'(': 'y'})
    with pytest.raises(ValueError, match='checkpoint path'):
        PretrainedStrictInit('')


def test_bare_state_dict_and_ddp_prefix(tmp_path):
    torch.manual_seed(3)
    src = MODELS.build(tiny_backbone_cfg())
    path = tmp_path / 'bare.pth'
    torch.save({'module.' + k: v for k, v in src.state_dict().items()}, path)
    torch.manual_seed(4)
    dst = MODELS.build(tiny_backbone_cfg())
    keys = load_pretrained_module(dst, str(path), prefix='')
    assert set(keys) == set(src.state_dict())
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v)
