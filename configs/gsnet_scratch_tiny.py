# Tiny CPU variant of gsnet/gsnet_scratch_realsense_256of256.py for demos and tests: the
# generated 'tiny' dataset (tools/create_graspnet_scenes.py --preset tiny --out
# data/graspnet_tiny; labels included), 4 of the 16 frames of every train scene
# labelled, 8192 points per frame, the narrow SparseUNet of pretrain_fne_tiny.py (32-d
# output), narrow heads, 256 seeds, a few epochs. Evaluated (validation at the last epoch
# and tools/test.py) on the generated test scenes with GraspNetMetric.
_base_ = './gsnet/gsnet_scratch_realsense_256of256.py'

data_root = 'data/graspnet_tiny'
num_points = 8192
label_fraction = '4/16'

model = dict(
    backbone=dict(planes=(16, 16, 32, 32, 32, 32, 32, 32), init_dim=16,
                  out_channels=32),
    crop_head=dict(mlp_channels=(32, 32)),
    swad_head=dict(hidden_channels=32),
    num_seeds=256)

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
    dict(type='PointSample', num_points=num_points),
    dict(type='Voxelize', voxel_size={{_base_.voxel_size}}, feat_mode={{_base_.feat_mode}}),
    dict(type='PackPointsInputs'),
]

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, label_fraction=label_fraction,
                 pipeline=train_pipeline))
# the generated test scenes (split 'test': those of 100-189 on disk), also used for a
# validation at the last epoch
test_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='GraspNetDataset', data_root=data_root, camera='realsense',
                 split='test', mode='grasp', test_mode=True, pipeline=test_pipeline))
test_evaluator = dict(
    _delete_=True,
    type='GraspNetMetric',
    data_root=data_root,
    camera='realsense',
    top_k=50,
    max_width=0.1,
    dump_dir=None,     # a folder keeps the predictions in graspnetAPI's layout
    nproc=2,
    percent=True)
val_dataloader = test_dataloader
val_evaluator = test_evaluator
val_cfg = dict(_delete_=True, type='ValLoop')
train_cfg = dict(max_epochs=40, val_interval=40)
default_hooks = dict(logger=dict(interval=2))
