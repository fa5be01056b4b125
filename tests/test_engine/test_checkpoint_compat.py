"""mmengine checkpoints load and resume under torch >= 2.6 (weights_only default)."""
import os
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from graspcontrast_mm.engine import CheckpointLoadError, load_checkpoint_file


class _LinearModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='loss'):
        x = torch.stack(inputs) if isinstance(inputs, (list, tuple)) else inputs
        return dict(loss=(self.linear(x) - 1.0).pow(2).mean())


class _RandomDataset(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        g = torch.Generator().manual_seed(idx)
        return dict(inputs=torch.randn(2, generator=g))


def _runner(work_dir, max_epochs, resume=False):
    torch.manual_seed(0)  # identical initial weights for every run
    return Runner(
        model=_LinearModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_RandomDataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        resume=resume,
        randomness=dict(seed=0),
        experiment_name=f'{os.path.basename(work_dir)}_{max_epochs}_{int(resume)}')


def test_upstream_torch_load_rejects_mmengine_checkpoint(tmp_path):
    """The problem being fixed: plain torch.load cannot read mmengine's checkpoints."""
    _runner(tmp_path, 1).train()
    with pytest.raises(pickle.UnpicklingError):
        torch.load(tmp_path / 'epoch_1.pth')


def test_load_checkpoint_file_reads_message_hub(tmp_path):
    _runner(tmp_path, 1).train()
    ckpt = load_checkpoint_file(tmp_path / 'epoch_1.pth')
    assert ckpt['meta']['epoch'] == 1
    assert 'message_hub' in ckpt and 'optimizer' in ckpt
    assert set(ckpt['state_dict']) == {'linear.weight', 'linear.bias'}


def test_resume_continues_where_it_stopped(tmp_path):
    # reference: 2 epochs in one go
    ref_dir = tmp_path / 'ref'
    ref = _runner(ref_dir, 2)
    ref.train()
    ref_weight = ref.model.linear.weight.detach().clone()

    # killed after epoch 1, then resumed to epoch 2
    run_dir = tmp_path / 'run'
    _runner(run_dir, 1).train()
    resumed = _runner(run_dir, 2, resume=True)
    resumed.train()
    assert resumed.epoch == 2
    assert resumed.iter == 8  # 4 iterations per epoch, counted across the resume
    # optimizer momentum and data order were restored: same weights as uninterrupted
    torch.testing.assert_close(resumed.model.linear.weight, ref_weight)


def test_corrupt_checkpoint_gives_clear_error(tmp_path):
    _runner(tmp_path, 1).train()
    good = tmp_path / 'epoch_1.pth'
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointLoadError, match='truncated.pth'):
        load_checkpoint_file(truncated)
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(CheckpointLoadError, match='empty'):
        load_checkpoint_file(empty)
    with pytest.raises(CheckpointLoadError, match='not found'):
        load_checkpoint_file(tmp_path / 'missing.pth')


def test_mmengine_load_checkpoint_uses_the_fix(tmp_path):
    from mmengine.runner import load_checkpoint
    _runner(tmp_path, 1).train()
    model = _LinearModel()
    ckpt = load_checkpoint(model, os.fspath(tmp_path / 'epoch_1.pth'))
    assert ckpt['meta']['epoch'] == 1
