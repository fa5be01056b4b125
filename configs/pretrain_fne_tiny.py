# Tiny CPU variant of pretrain_fne.py for demos and tests: the generated 'tiny' dataset
# (tools/create_graspnet_scenes.py --preset tiny), 4096 points per view, 512 key points,
# a narrow SparseUNet, a few epochs. Same pipeline, loss and optimiser as the paper config.
_base_ = './pretrain_fne.py'

data_root = 'data/graspnet_tiny'
model = dict(
    backbone=dict(planes=(16, 16, 32, 32, 32, 32, 32, 32), out_channels=32))
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=6, val_interval=2)
default_hooks = dict(logger=dict(interval=5))
