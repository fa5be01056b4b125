# GSNet reference training (graspness_implementation train.py): Adam, lr 1e-3 decayed
# x0.95 every epoch (lr = 1e-3 * 0.95 ** epoch), 10 epochs, batch 4 (in the dataloader).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-3, weight_decay=0.0),
    clip_grad=None)
param_scheduler = [
    dict(type='ExponentialLR', gamma=0.95, by_epoch=True, begin=0, end=1000)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=10, val_interval=1)
val_cfg = None
test_cfg = dict(type='TestLoop')
