# The GSNet reference schedule (Adam 1e-3, lr x0.95 per epoch of the full training set,
# 10 epochs, batch 4) expressed per optimiser step, so that it does not depend on how
# many labelled frames a run has: lr(step) = 1e-3 * 0.95 ** (step / steps_per_epoch),
# where steps_per_epoch = (frames of the FULL labelled training set) / batch size
# (GraspNet-1Billion: 100 scenes x 256 frames / 4 = 6400). A run on a label fraction keeps
# the same per-step decay and the same number of steps (iteration-based loop; the
# infinite sampler repeats its frames). A config that changes steps_per_epoch must set
# the gamma again (it is computed here when the file is read).
steps_per_epoch = 100 * 256 // 4
max_iters = 10 * steps_per_epoch
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-3, weight_decay=0.0),
    clip_grad=None)
param_scheduler = [
    dict(type='ExponentialLR', gamma=0.95 ** (1.0 / steps_per_epoch), by_epoch=False,
         begin=0, end=max_iters)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = None
test_cfg = dict(type='TestLoop')
