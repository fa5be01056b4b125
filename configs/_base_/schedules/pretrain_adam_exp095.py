# GraspContrast pre-training schedule (paper): Adam, lr 1e-3, decayed x0.95 every epoch.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-3, weight_decay=0.0),
    clip_grad=None)
param_scheduler = [
    dict(type='ExponentialLR', gamma=0.95, by_epoch=True, begin=0, end=1000)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
