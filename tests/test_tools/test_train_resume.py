"""Kill + resume gives the weights of the uninterrupted run (micro pre-training config,
in-process runners, a few seconds per run): the random state travels in checkpoints, a
resume inside an epoch skips the batches already trained on, and SIGTERM saves a resumable
checkpoint before the process exits."""
import os
import signal

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from tool_helpers import MICRO_CONFIG

from graspcontrast_mm.engine import load_checkpoint_file, prepare_resumable_training
from graspcontrast_mm.engine.resumable import SIGTERM_EXIT_CODE
from graspcontrast_mm.registry import HOOKS
from graspcontrast_mm.utils import register_all_modules


@HOOKS.register_module(name='SigtermAtIterHookOfResumeTest')
class _SigtermAtIterHook(Hook):
    """Test hook: the process sends itself SIGTERM after the second iteration of the
    second epoch."""

    priority = 'HIGHEST'

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.epoch == 1 and batch_idx == 1:
            os.kill(os.getpid(), signal.SIGTERM)


def _walk(pipeline):
    for t in pipeline:
        yield t
        yield from _walk(t.get('transforms', []))


def _cfg(root, work, name, *, max_epochs=2, resume=False, extra_hooks=()):
    register_all_modules()
    cfg = Config.fromfile(MICRO_CONFIG)
    # micro sizes, found by transform type (robust to reordered pipelines)
    from graspcontrast_mm.datasets.transforms import Voxelize
    channels = getattr(Voxelize, 'FEAT_CHANNELS', {'ones': 1, 'xyz': 3, 'ones_xyz': 4})
    for split in ('train_dataloader', 'val_dataloader'):
        dataset = cfg[split].dataset
        dataset.data_root = root
        for t in _walk(dataset.pipeline):
            if t['type'] == 'PointSample':
                t['num_points'] = 2048
            elif t['type'] == 'SampleKeyPoints':
                t['num_key_points'] = 256
            elif t['type'] == 'Voxelize':  # the backbone's input follows the features
                cfg.model.backbone.in_channels = channels[t.get('feat_mode', 'ones')]
    cfg.train_dataloader.dataset.scene_ids = [0]  # 6 anchors, 3 iterations per epoch
    cfg.val_dataloader.dataset.scene_ids = [100]
    cfg.train_cfg.max_epochs = max_epochs
    cfg.train_cfg.val_interval = 1
    cfg.work_dir = str(work)
    cfg.experiment_name = name
    cfg.resume = resume
    cfg.load_from = None
    cfg.launcher = 'none'
    cfg.visualizer = dict(type='Visualizer', vis_backends=[], name=f'vis_{name}')
    prepare_resumable_training(cfg)
    cfg.custom_hooks = list(cfg.custom_hooks) + list(extra_hooks)
    return cfg


def _train(cfg):
    runner = Runner.from_cfg(cfg)
    runner.train()
    return {k: v.detach().clone() for k, v in runner.model.state_dict().items()}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    diff = {k: float((a[k].double() - b[k].double()).abs().max()) for k in a
            if not torch.equal(a[k], b[k])}
    assert not diff, f'{len(diff)} tensors differ, e.g. {sorted(diff.items())[:3]}'


@pytest.fixture(scope='module')
def uninterrupted(micro_graspnet_root, tmp_path_factory):
    work = tmp_path_factory.mktemp('uninterrupted')
    return _train(_cfg(micro_graspnet_root, work, 'uninterrupted'))


def test_sigterm_mid_epoch_then_resume_equals_uninterrupted(micro_graspnet_root, tmp_path,
                                                            uninterrupted):
    # SIGTERM after the second iteration of epoch 2: iter_N.pth, N = one epoch + 2
    work = tmp_path / 'work'
    cfg = _cfg(micro_graspnet_root, work, 'killed',
               extra_hooks=[dict(type='SigtermAtIterHookOfResumeTest')])
    with pytest.raises(SystemExit) as stop:
        _train(cfg)
    assert stop.value.code == SIGTERM_EXIT_CODE
    saved_files = sorted(p.name for p in work.glob('iter_*.pth'))
    assert len(saved_files) == 1, saved_files
    path = work / saved_files[0]
    assert (work / 'last_checkpoint').read_text().strip() == str(path)
    assert not (work / 'epoch_2.pth').is_file()
    saved = load_checkpoint_file(path)
    per_epoch = saved['meta']['iter'] - 2
    assert per_epoch >= 2 and path.name == f'iter_{per_epoch + 2}.pth'
    assert saved['meta']['epoch'] == 1
    assert 'rng_state' in saved
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler removed again

    resumed = _train(_cfg(micro_graspnet_root, work, 'resumed_mid', resume=True))
    _assert_same(resumed, uninterrupted)


def test_resume_from_epoch_checkpoint_equals_uninterrupted(micro_graspnet_root, tmp_path,
                                                           uninterrupted):
    work = tmp_path / 'work'
    _train(_cfg(micro_graspnet_root, work, 'first_epoch', max_epochs=1))
    assert (work / 'epoch_1.pth').is_file()
    resumed = _train(_cfg(micro_graspnet_root, work, 'resumed_epoch', resume=True))
    _assert_same(resumed, uninterrupted)


def test_prepare_resumable_training_is_idempotent():
    cfg = Config(dict(train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=2),
                      custom_hooks=[dict(type='RandomStateHook')]))
    prepare_resumable_training(cfg)
    prepare_resumable_training(cfg)
    assert cfg.train_cfg.type.endswith('ResumableEpochBasedTrainLoop')
    types = [h['type'].split('.')[-1] for h in cfg.custom_hooks]
    assert sorted(types) == ['RandomStateHook', 'SignalCheckpointHook']
    iter_cfg = Config(dict(train_cfg=dict(type='IterBasedTrainLoop', max_iters=5)))
    prepare_resumable_training(iter_cfg)
    assert iter_cfg.train_cfg.type == 'IterBasedTrainLoop'
