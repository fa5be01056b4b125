# GSNet trained from scratch.
# Labels: 16/256 of the labelled frames of every train scene (evenly spaced);
# frames of the kinect camera for training and testing.
_base_ = [
    '../_base_/models/gsnet.py',
    '../_base_/datasets/graspnet_grasp.py',
    '../_base_/schedules/gsnet_adam_exp095_10e.py',
    '../_base_/default_runtime.py',
]
camera = 'kinect'
label_fraction = '16/256'
train_dataloader = dict(dataset=dict(camera=camera, label_fraction=label_fraction))
test_dataloader = dict(dataset=dict(camera=camera))
test_evaluator = dict(camera=camera)
