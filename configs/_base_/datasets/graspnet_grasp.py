# Labelled single frames of GraspNet-1Billion-layout scenes for GSNet training and the
# GraspNet AP evaluation. Frames: points in the (augmented) camera frame, metres; object
# poses T_cam_obj and grasp labels from the dataset (docs/data_flow.md).
dataset_type = 'GraspNetDataset'
data_root = 'data/graspnet'
camera = 'realsense'

voxel_size = 0.005        # metres (GSNet)
feat_mode = 'ones3'       # GSNet: 3 input channels of ones
num_points = 15000        # points per frame (reference GSNet training default)
label_fraction = None     # labelled frames per scene: None / '256/256' = all of them
crop_margin = 0.02        # object-box workspace margin, metres (reference: outlier 0.02)
# GSNet's workspace, bit for bit as its get_workspace_mask (an object pixel without
# depth counts as the camera centre); the same crop defines the graspness normalisation
# and the layout of reference graspness files.
workspace_crop = dict(type='ObjectWorkspaceCrop', margin=crop_margin, mode='reference',
                      object_pixels_without_depth='camera_centre')
# Augmentation (same as pre-training): GSNet's augment_data, flip camera x (p = 0.5),
# rotate about camera x by U(-30, 30) degrees (docs/fidelity.md).
augmentation = dict(type='RandomFlipRotate', flip_prob=0.5, rot_range_deg=(-30.0, 30.0),
                    flip_axis='x', axis='x', frame='camera')

train_pipeline = [
    dict(type='LoadDepthImage'),
    dict(type='DepthToPoints', min_depth=0.1, max_depth=2.0, with_pixel_uv=True),
    dict(type='LoadGraspLabels', graspness_source='auto', num_grasp_points='reference',
         workspace_margin=crop_margin, object_pixels_without_depth='camera_centre'),
    workspace_crop,
    dict(type='PointSample', num_points=num_points),
    augmentation,
    dict(type='Voxelize', voxel_size=voxel_size, feat_mode=feat_mode),
    dict(type='PackGraspInputs', min_object_points=50, graspness_threshold=0.1),
]
# Evaluation follows the reference protocol: the workspace is GSNet's object box of the
# frame (label image) grown by crop_margin; no augmentation; no grasp labels are read.
test_pipeline = [
    dict(type='LoadDepthImage'),
    dict(type='DepthToPoints', min_depth=0.1, max_depth=2.0, with_pixel_uv=True),
    dict(type='LoadPointSegmentation'),
    workspace_crop,
    # the workspace cloud before sampling, for the model's optional test-time collision
    # detection (model.test_cfg.collision_thresh)
    dict(type='KeepScenePoints'),
    dict(type='PointSample', num_points=num_points),
    dict(type='Voxelize', voxel_size=voxel_size, feat_mode=feat_mode),
    dict(type='PackPointsInputs'),
]

train_dataloader = dict(
    batch_size=4,   # reference
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        camera=camera,
        split='train',
        mode='grasp',
        label_fraction=label_fraction,
        pipeline=train_pipeline))
# test_seen + test_similar + test_novel in one loader; GraspNetMetric reports AP, AP0.8
# and AP0.4 per split (by scene id) and over all frames.
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        camera=camera,
        split='test',
        mode='grasp',
        test_mode=True,
        pipeline=test_pipeline))
test_evaluator = dict(
    type='GraspNetMetric',
    data_root=data_root,
    camera=camera,
    top_k=50,
    max_width=0.1,
    dump_dir=None,     # a folder keeps the predictions in graspnetAPI's layout
    backend='fast',    # graspnetAPI's numbers, batched ('graspnetapi': its own eval_grasp)
    nproc=4,
    percent=True)
# No validation during training (as the reference); evaluate with tools/test.py.
val_dataloader = None
val_evaluator = None
