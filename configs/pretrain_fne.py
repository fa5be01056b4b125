# GraspContrast pre-training with False-Negative Elimination (paper settings):
# SparseUNet (GSNet's MinkUNet14D, 512-d), FNE-InfoNCE tau = 0.07, Adam 1e-3 x0.95/epoch,
# batch 4, 20000 points per view, 5 mm voxels, GSNet's object workspace and augmentation,
# realsense frames of every scene (0-189, no labels read; pretrain_fne_kinect.py: kinect).
# The paper pre-trains one model per camera and fine-tunes each on its own camera.
_base_ = [
    './_base_/models/graspcontrast_sparse_unet.py',
    './_base_/datasets/graspnet_pair.py',
    './_base_/schedules/pretrain_adam_exp095.py',
    './_base_/default_runtime.py',
]
custom_hooks = [
    dict(type='ValidateBeforeTrainHook'),
    # paper-scale epochs are long: also keep the latest checkpoint every 1000 iterations,
    # so a killed run resumes (--resume) from at most 1000 iterations back
    dict(type='CheckpointHook', by_epoch=False, interval=1000, max_keep_ckpts=1,
         save_last=False),
]
default_hooks = dict(
    checkpoint=dict(save_best='feature_match/hit_ratio', rule='greater'))
