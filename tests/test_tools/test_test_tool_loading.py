"""tools/test.py loads checkpoints strictly, through the loader the Inferencer uses
(in-process runs of its ``main`` on the micro pre-training config, seconds each)."""
import os.path as osp
from collections import OrderedDict

import pytest
import torch
from mmengine.config import Config
from tiny_gsnet import save_checkpoint
from tool_helpers import MICRO_CONFIG, REPO

from graspcontrast_mm.registry import MODELS
from graspcontrast_mm.utils import register_all_modules


def _test_main():
    import importlib.util
    spec = importlib.util.spec_from_file_location('_tools_test',
                                                  osp.join(REPO, 'tools', 'test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _walk(pipeline, prefix):
    for i, t in enumerate(pipeline):
        yield f'{prefix}.{i}', t
        yield from _walk(t.get('transforms', []), f'{prefix}.{i}.transforms')


def _options(root):
    """--cfg-options for the micro config, test split only, found by transform type."""
    cfg = Config.fromfile(MICRO_CONFIG)
    opts = [f'test_dataloader.dataset.data_root={root}',
            'test_dataloader.dataset.split=test_seen']  # scene 100 only
    from graspcontrast_mm.datasets.transforms import Voxelize
    channels = getattr(Voxelize, 'FEAT_CHANNELS', {'ones': 1, 'xyz': 3, 'ones_xyz': 4})
    in_channels = cfg.model.backbone.in_channels
    for key, t in _walk(cfg.test_dataloader.dataset.pipeline,
                        'test_dataloader.dataset.pipeline'):
        if t['type'] == 'PointSample':
            opts.append(f'{key}.num_points=2048')
        elif t['type'] == 'SampleKeyPoints':
            opts.append(f'{key}.num_key_points=256')
        elif t['type'] == 'Voxelize':
            in_channels = channels[t.get('feat_mode', 'ones')]
    opts.append(f'model.backbone.in_channels={in_channels}')
    return opts, in_channels


@pytest.fixture(scope='module')
def setup(micro_graspnet_root, tmp_path_factory):
    register_all_modules()
    root = tmp_path_factory.mktemp('test_tool')
    opts, in_channels = _options(micro_graspnet_root)
    cfg = Config.fromfile(MICRO_CONFIG)
    cfg.model.backbone.in_channels = in_channels
    torch.manual_seed(1234)  # not the runner's seed: a weight left unloaded would show
    state = MODELS.build(cfg.model).state_dict()
    good = str(root / 'good.pth')
    save_checkpoint(good, state)
    return dict(root=root, opts=opts, state=state, good=good)


def _run(setup, ckpt, capsys, *extra):
    capsys.readouterr()
    args = [MICRO_CONFIG, ckpt, '--work-dir', str(setup['root'] / 'work'), *extra,
            '--cfg-options', *setup['opts']]
    _test_main()(args)
    return capsys.readouterr()


def _save(setup, name, state):
    return save_checkpoint(setup['root'] / name, state)


@pytest.mark.parametrize('case', ['missing', 'unexpected', 'shape', 'nan'])
def test_checkpoint_that_does_not_fit_is_a_one_line_error(setup, capsys, case):
    state = OrderedDict((k, v.clone()) for k, v in setup['state'].items())
    key = next(k for k, v in state.items() if k.endswith('weight') and v.dim() == 5)
    if case == 'missing':
        del state[key]
    elif case == 'unexpected':
        state['head_from_elsewhere.weight'] = torch.zeros(3)
        key = 'head_from_elsewhere.weight'
    elif case == 'shape':
        state[key] = torch.zeros(tuple(state[key].shape[:-1]) + (state[key].shape[-1] + 1,))
    else:
        state[key][:] = float('nan')
    path = _save(setup, f'{case}.pth', state)
    with pytest.raises(SystemExit) as stop:
        _run(setup, path, capsys)
    assert stop.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith('error: ') and key in err[-1], err[-3:]


def test_state_dict_without_metadata_gives_the_same_metric(setup, capsys):
    """mmdet3d's spconv loader would permute the kernels of a state dict without version
    metadata; the shared loader copies them unchanged."""
    with_meta = _run(setup, setup['good'], capsys).out
    bare = OrderedDict((k, v.clone()) for k, v in setup['state'].items())
    assert not hasattr(bare, '_metadata')
    without = _run(setup, _save(setup, 'bare.pth', bare), capsys).out
    metric_lines = [line for line in with_meta.splitlines()
                    if line.startswith('feature_match/')]
    assert metric_lines
    assert metric_lines == [line for line in without.splitlines()
                            if line.startswith('feature_match/')]


def test_non_strict_load_is_explicit(setup, capsys):
    state = OrderedDict((k, v.clone()) for k, v in setup['state'].items())
    key = next(k for k, v in state.items() if k.endswith('weight') and v.dim() == 5)
    del state[key]
    out = _run(setup, _save(setup, 'partial.pth', state), capsys, '--non-strict-load')
    assert 'feature_match/hit_ratio' in out.out
