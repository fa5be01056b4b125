"""Bad checkpoints and implausible inputs at the Inferencer: a stored config is never
executed, loading is strict (keys, shapes, finite values) unless relaxed, a state dict
without ``_metadata`` loads unchanged, a pre-training checkpoint is refused at build, and
intrinsics that put the scene kilometres away are an error."""
import warnings
from collections import OrderedDict

import numpy as np
import pytest
import torch
from mmengine.config import Config
from tiny_gsnet import save_checkpoint as _save
from tiny_gsnet import tiny_gsnet_model_cfg, tiny_pretrainer_model_cfg

from graspcontrast_mm.apis import GraspInferencer
from graspcontrast_mm.engine import (CheckpointMismatchError, NonFiniteWeightsError,
                                     UnsafeConfigError)
from graspcontrast_mm.registry import MODELS

K = np.array([[150.0, 0.0, 80.0], [0.0, 150.0, 60.0], [0.0, 0.0, 1.0]])


def _cfg() -> Config:
    return Config(dict(model=tiny_gsnet_model_cfg(), test_pipeline=[
        dict(type='LoadDepthImage'),
        dict(type='DepthToPoints', min_depth=0.1, max_depth=1.5),
        dict(type='PointSample', num_points=2000),
        dict(type='Voxelize', voxel_size=0.005)]))


@pytest.fixture(scope='module')
def gsnet(tmp_path_factory):
    root = tmp_path_factory.mktemp('gsnet_ckpts')
    cfg = _cfg()
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    cfg_path = str(root / 'gsnet.py')
    cfg.dump(cfg_path)
    return dict(root=root, cfg=cfg, cfg_path=cfg_path,
                state=OrderedDict((k, v.clone()) for k, v in model.state_dict().items()))


def depth_mm() -> np.ndarray:
    depth = np.full((120, 160), 600, np.uint16)
    depth[40:80, 55:105] = 540
    return depth


def test_stored_config_payload_is_not_executed(gsnet, tmp_path):
    marker = tmp_path / 'MARKER'
    text = f"_x = __import__('os').system('touch {marker}')\n" + gsnet['cfg'].pretty_text
    path = _save(tmp_path / 'evil.pth', gsnet['state'], text)
    with pytest.raises(UnsafeConfigError, match='not plain data'):
        GraspInferencer(None, path)
    assert not marker.exists()
    # the same checkpoint with the user's config file loads (the stored text is not read)
    GraspInferencer(gsnet['cfg_path'], path)
    assert not marker.exists()


def test_wrong_shape_missing_and_unexpected_keys_are_named(gsnet, tmp_path):
    state = OrderedDict(gsnet['state'])
    key = 'swad_head.conv_swad.weight'
    state[key] = torch.zeros(tuple(state[key].shape[:-1]) + (state[key].shape[-1] + 1,))
    path = _save(tmp_path / 'shape.pth', state)
    with pytest.raises(CheckpointMismatchError, match=r'shape mismatch.*swad_head\.conv_swad'):
        GraspInferencer(gsnet['cfg_path'], path)
    state = OrderedDict(gsnet['state'])
    del state['swad_head.conv_swad.bias']
    state['extra.weight'] = torch.zeros(2)
    path = _save(tmp_path / 'keys.pth', state)
    with pytest.raises(CheckpointMismatchError) as err:
        GraspInferencer(gsnet['cfg_path'], path)
    assert 'swad_head.conv_swad.bias' in str(err.value) and 'extra.weight' in str(err.value)
    assert '--non-strict-load' in str(err.value)


def test_non_strict_loads_what_fits(gsnet, tmp_path):
    state = OrderedDict(gsnet['state'])
    del state['swad_head.conv_swad.bias']
    path = _save(tmp_path / 'partial.pth', state)
    infer = GraspInferencer(gsnet['cfg_path'], path, strict=False)
    loaded = infer.model.state_dict()
    for key in ('backbone.conv0p1s1.weight', 'swad_head.conv_swad.weight'):
        assert torch.equal(loaded[key], state[key])


def test_nan_weights_are_named(gsnet, tmp_path):
    state = OrderedDict((k, v.clone()) for k, v in gsnet['state'].items())
    state['swad_head.conv_swad.weight'][:] = float('nan')
    path = _save(tmp_path / 'nan.pth', state)
    with pytest.raises(NonFiniteWeightsError, match=r'NaN or inf.*swad_head\.conv_swad\.weight'):
        GraspInferencer(gsnet['cfg_path'], path)


def test_state_dict_without_metadata_loads_unchanged(gsnet, tmp_path):
    """mmdet3d's spconv loader permutes kernels of state dicts without version metadata;
    the shared loader copies them as they are."""
    import mmdet3d.models  # noqa: F401  installs mmdet3d's spconv state-dict loader
    state = OrderedDict((k, v.clone()) for k, v in gsnet['state'].items())
    assert not hasattr(state, '_metadata')
    path = _save(tmp_path / 'no_metadata.pth', state)
    infer = GraspInferencer(gsnet['cfg_path'], path)
    loaded = infer.model.state_dict()
    changed = [k for k in state if not torch.equal(loaded[k], state[k])]
    assert not changed, changed[:5]


def test_pretraining_checkpoint_is_refused_at_build(tmp_path):
    cfg = Config(dict(model=tiny_pretrainer_model_cfg()))
    model = MODELS.build(cfg.model)
    path = _save(tmp_path / 'pretrain.pth', model.state_dict(), cfg.pretty_text)
    with pytest.raises(TypeError, match='not a grasp detector'):
        GraspInferencer(None, path)


def test_implausible_intrinsics_are_an_error(gsnet, tmp_path):
    path = _save(tmp_path / 'ok.pth', gsnet['state'])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        infer = GraspInferencer(gsnet['cfg_path'], path)
    bad_K = np.array([[1.0, 0.0, 80.0], [0.0, 1.0, 60.0], [0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match=r'implausible intrinsics.*fx=1.*scale K'):
        infer(depth_mm(), intrinsics=bad_K, collision_filter=False)
    with pytest.raises(ValueError, match='implausible point cloud'):
        infer(dict(points=np.array([[300.0, 0.0, 0.6]] * 50 + [[0.0, 0.0, 0.6]] * 50)),
              collision_filter=False)
    # plausible K still works; a grayscale colour image is accepted, a wrong size named
    out = infer(dict(depth=depth_mm(), intrinsics=K,
                     color=np.full((120, 160), 128, np.uint8)), collision_filter=False)
    assert len(out['predictions']) == 1
    with pytest.raises(ValueError, match=r'colour image size \(60, 80\).*\(120, 160\)'):
        infer(dict(depth=depth_mm(), intrinsics=K, color=np.zeros((60, 80, 3), np.uint8)))
