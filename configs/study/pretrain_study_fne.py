# Label-efficiency study: FNE-InfoNCE pre-training on the unlabelled views of the study
# data (labelled train scenes read as depth only + the unlabelled pool, no labels read),
# the paper's loss, augmentation and optimiser, the study's compute profile. Iteration
# based (study_pretrain_iters steps, lr x0.95 per epoch of the pre-training set expressed
# per step); the label-free FeatureMatchMetric on the held-out pool scene every
# study_pretrain_val_interval steps (and before training) gives the pre-training curve.
_base_ = ['../pretrain_fne.py', '../_base_/study_settings.py']
data_root = {{_base_.study_data_root}}
num_points = {{_base_.study_profile.pretrain_points}}
num_key_points = {{_base_.study_profile.num_key_points}}

model = dict(
    backbone=dict(planes={{_base_.study_profile.planes}},
                  init_dim={{_base_.study_profile.init_dim}},
                  out_channels={{_base_.study_profile.out_channels}}))


def _pair_pipeline(augment, sampling_seed=None):
    views = [
        dict(type='LoadDepthImage'),
        dict(type='DepthToPoints', min_depth=0.1, max_depth=2.0, with_pixel_uv=True),
        dict(type='LoadPointSegmentation', allow_missing=True),
        dict(type='ObjectWorkspaceCrop', margin={{_base_.crop_margin}}, mode='reference',
             object_pixels_without_depth='camera_centre',
             fallback_world_bounds={{_base_.workspace_bounds}}),
        dict(type='PointSample', num_points=num_points, seed=sampling_seed),
    ]
    if augment:
        views.append({{_base_.augmentation}})
    views.append(dict(type='Voxelize', voxel_size={{_base_.voxel_size}},
                      feat_mode={{_base_.feat_mode}}))
    return [
        dict(type='ApplyToViews', transforms=views),
        dict(type='MatchViewPair', match_radius={{_base_.match_radius}},
             min_matches=64),
        dict(type='SampleKeyPoints', num_key_points=num_key_points, method='fps'),
        dict(type='PackViewPairInputs'),
    ]


train_pipeline = _pair_pipeline(True)
noaug_train_pipeline = _pair_pipeline(False)   # pretrain_study_noaug.py
# fixed points per validation frame: the curve moves only with the weights
val_pipeline = _pair_pipeline(False, sampling_seed=0)
train_dataloader = dict(
    batch_size={{_base_.study_pretrain_batch_size}},
    num_workers=0,
    persistent_workers=False,
    sampler=dict(_delete_=True, type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, scene_ids={{_base_.study_pretrain_scenes}},
                 pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, scene_ids={{_base_.study_pretrain_val_scenes}},
                 pipeline=val_pipeline))
test_dataloader = val_dataloader
param_scheduler = [
    dict(type='ExponentialLR', gamma={{_base_.study_pretrain_gamma_per_step}},
         by_epoch=False, begin=0, end={{_base_.study_pretrain_iters}})
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop',
                 max_iters={{_base_.study_pretrain_iters}},
                 val_interval={{_base_.study_pretrain_val_interval}})
custom_hooks = [dict(type='ValidateBeforeTrainHook')]
default_hooks = dict(
    logger=dict(interval=10, log_metric_by_epoch=False),
    checkpoint=dict(_delete_=True, type='CheckpointHook', by_epoch=False,
                    interval={{_base_.study_pretrain_iters}}, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
