# Label-efficiency study, arm 'scratch': GSNet from a random backbone. Every arm and label
# fraction trains study_finetune_iters optimiser steps with the reference's lr decay
# expressed per step (x0.95 per epoch of the FULL labelled training set). The fraction
# and the seed come from tools/run_study.py:
#   --cfg-options train_dataloader.dataset.label_fraction=1/64 randomness.seed=1
_base_ = [
    '../_base_/models/gsnet.py',
    '../_base_/datasets/graspnet_grasp.py',
    '../_base_/schedules/gsnet_adam_exp095_per_step.py',
    '../_base_/default_runtime.py',
    '../_base_/study_settings.py',
]
data_root = {{_base_.study_data_root}}
num_points = {{_base_.study_profile.num_points}}
label_fraction = '64/64'

model = dict(
    backbone=dict(planes={{_base_.study_profile.planes}},
                  init_dim={{_base_.study_profile.init_dim}},
                  out_channels={{_base_.study_profile.out_channels}}),
    crop_head=dict(mlp_channels=({{_base_.study_profile.head_width}},
                                 {{_base_.study_profile.head_width}})),
    swad_head=dict(hidden_channels={{_base_.study_profile.head_width}}),
    num_seeds={{_base_.study_profile.num_seeds}})

train_pipeline = [
    dict(type='LoadDepthImage'),
    dict(type='DepthToPoints', min_depth=0.1, max_depth=2.0, with_pixel_uv=True),
    dict(type='LoadGraspLabels', graspness_source='auto', num_grasp_points='reference',
         workspace_margin={{_base_.crop_margin}},
         object_pixels_without_depth='camera_centre'),
    {{_base_.workspace_crop}},
    dict(type='PointSample', num_points=num_points),
    {{_base_.augmentation}},
    dict(type='Voxelize', voxel_size={{_base_.voxel_size}}, feat_mode={{_base_.feat_mode}}),
    dict(type='PackGraspInputs', min_object_points=50, graspness_threshold=0.1),
]
test_pipeline = [
    dict(type='LoadDepthImage'),
    dict(type='DepthToPoints', min_depth=0.1, max_depth=2.0, with_pixel_uv=True),
    dict(type='LoadPointSegmentation'),
    {{_base_.workspace_crop}},
    dict(type='KeepScenePoints'),
    dict(type='PointSample', num_points=num_points,
         seed={{_base_.study_test_sampling_seed}}),
    dict(type='Voxelize', voxel_size={{_base_.voxel_size}}, feat_mode={{_base_.feat_mode}}),
    dict(type='PackPointsInputs'),
]
train_dataloader = dict(
    batch_size={{_base_.study_batch_size}},
    num_workers=0,
    persistent_workers=False,
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, scene_ids={{_base_.study_train_scenes}},
                 label_fraction=label_fraction, pipeline=train_pipeline))
test_dataloader = dict(
    num_workers=0,
    dataset=dict(data_root=data_root, scene_ids={{_base_.study_test_scenes}},
                 frame_ids={{_base_.study_test_frames}}, pipeline=test_pipeline))
test_evaluator = dict(data_root=data_root, nproc=2)

optim_wrapper = dict(optimizer=dict(lr={{_base_.study_lr}}))
param_scheduler = [
    dict(type='ExponentialLR', gamma={{_base_.study_gamma_per_step}}, by_epoch=False,
         begin=0, end={{_base_.study_finetune_iters}})
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters={{_base_.study_finetune_iters}},
                 val_interval={{_base_.study_finetune_iters}})
default_hooks = dict(
    logger=dict(interval=10, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval={{_base_.study_finetune_iters}},
                    max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
