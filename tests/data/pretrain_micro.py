# Micro pre-training config for tool tests: pretrain_fne_tiny.py on a 2-scene generated
# dataset (data_root given with --cfg-options), 2048 points per view, 256 key points.
_base_ = '../../configs/pretrain_fne_tiny.py'

model = dict(backbone=dict(planes=(8, 8, 16, 16, 16, 16, 8, 8), init_dim=8,
                           out_channels=16))
# train on scene 0 only (6 anchor frames, 3 iterations per epoch at batch 2); the
# pre-training configs' default split 'all' would also take the test scene
train_dataloader = dict(batch_size=2, dataset=dict(split='train'))
train_cfg = dict(max_epochs=2, val_interval=1)
default_hooks = dict(logger=dict(interval=1))
