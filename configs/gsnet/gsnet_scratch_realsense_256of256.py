# GSNet trained from scratch on every labelled realsense frame of the train scenes
# (256/256 labels): the reference GSNet recipe (Adam 1e-3 x0.95/epoch, batch 4,
# 10 epochs).
_base_ = [
    '../_base_/models/gsnet.py',
    '../_base_/datasets/graspnet_grasp.py',
    '../_base_/schedules/gsnet_adam_exp095_10e.py',
    '../_base_/default_runtime.py',
]
label_fraction = '256/256'
train_dataloader = dict(dataset=dict(label_fraction=label_fraction))
