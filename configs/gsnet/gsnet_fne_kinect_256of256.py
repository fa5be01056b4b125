# GSNet with its backbone initialised from GraspContrast pre-training
# with FNE-InfoNCE on the same camera (configs/pretrain_fne_kinect.py).
# Labels: 256/256 of the labelled frames of every train scene (evenly spaced);
# frames of the kinect camera for training and testing.
_base_ = [
    '../_base_/models/gsnet_pretrained_backbone.py',
    '../_base_/datasets/graspnet_grasp.py',
    '../_base_/schedules/gsnet_adam_exp095_10e.py',
    '../_base_/default_runtime.py',
]
camera = 'kinect'
label_fraction = '256/256'
pretrained_backbone = 'work_dirs/pretrain_fne_kinect/epoch_50.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained_backbone)))
train_dataloader = dict(dataset=dict(camera=camera, label_fraction=label_fraction))
test_dataloader = dict(dataset=dict(camera=camera))
test_evaluator = dict(camera=camera)
