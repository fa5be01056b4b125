# Micro pre-training config for tool tests: pretrain_fne_tiny.py on a 2-scene generated
# dataset (data_root given with --cfg-options), 2048 points per view, 256 key points.
_base_ = '../../configs/pretrain_fne_tiny.py'

model = dict(backbone=dict(planes=(8, 8, 16, 16, 16, 16, 8, 8), init_dim=8,
                           out_channels=16))
train_dataloader = dict(batch_size=2)
train_cfg = dict(max_epochs=2, val_interval=1)
default_hooks = dict(logger=dict(interval=1))
