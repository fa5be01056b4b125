# Labelled single frames of GraspNet-1Billion-layout scenes for GSNet training and the
# GraspNet AP evaluation. Frames: points in the (augmented) camera frame, metres; object
# poses T_cam_obj and grasp labels from the dataset (docs/data_flow.md).
dataset_type = 'GraspNetDataset'
data_root = 'data/graspnet'
camera = 'realsense'

voxel_size = 0.005        # metres (GSNet)
num_points = 15000        # points per frame (reference GSNet training default)
label_fraction = None     # labelled frames per scene: None / '256/256' = all of them
crop_margin = 0.02        # object-box workspace margin, metres (reference: outlier 0.02)

train_pipeline = [
    dict(type='LoadDepthImage'),
    dict(type='DepthToPoints', min_depth=0.1, max_depth=2.0, with_pixel_uv=True),
    dict(type='LoadGraspLabels', graspness_source='auto', num_grasp_points='reference'),
    dict(type='ObjectWorkspaceCrop', margin=crop_margin),
    dict(type='PointSample', num_points=num_points),
    # reference augmentation: flip x with p = 0.5, rotate about the camera x axis by
    # U(-30, 30) degrees
    dict(type='RandomFlipRotate', flip_prob=0.5, rot_range_deg=(-30.0, 30.0), axis='x'),
    dict(type='Voxelize', voxel_size=voxel_size),
    dict(type='PackGraspInputs', min_object_points=50, graspness_threshold=0.1),
]
# Evaluation follows the reference protocol: the workspace is the box of the frame's
# object pixels (from the label image) grown by crop_margin; no augmentation. Only the
# segmentation of LoadGraspLabels' output is used.
test_pipeline = [
    dict(type='LoadDepthImage'),
    dict(type='DepthToPoints', min_depth=0.1, max_depth=2.0, with_pixel_uv=True),
    dict(type='LoadGraspLabels', graspness_source='auto'),
    dict(type='ObjectWorkspaceCrop', margin=crop_margin),
    dict(type='PointSample', num_points=num_points),
    dict(type='Voxelize', voxel_size=voxel_size),
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
