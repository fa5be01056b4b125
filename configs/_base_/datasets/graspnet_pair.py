# Unlabelled view pairs of GraspNet-1Billion-layout scenes for contrastive pre-training.
# Frames: points are back-projected in each view's camera frame (metres), augmented
# independently per view, and matched in the table/world frame (docs/data_flow.md).
dataset_type = 'GraspNetDataset'
data_root = 'data/graspnet'
camera = 'realsense'
# Pre-training scenes. Paper: "the entire dataset is utilized during the pre-training
# phase" (no labels are read): 'all' = scenes 0-189; 'train' = scenes 0-99 only.
pretrain_split = 'all'

voxel_size = 0.005        # metres (paper / GSNet)
feat_mode = 'ones3'       # GSNet: 3 input channels of ones
num_points = 20000        # points per view (paper)
num_key_points = 4096     # M: FPS key points per pair
match_radius = 0.0075     # epsilon (eq. 2), metres: 1.5 voxels
# Workspace: GSNet's crop (as in fine-tuning and testing), the objects' box in the
# table/world frame grown by crop_margin, built from the label image exactly as the
# reference's get_workspace_mask. Views without a label image fall back to a fixed box
# of the table/world frame (z up, table top at z = 0), metres.
crop_margin = 0.02
workspace_bounds = ((-0.3, -0.3, -0.02), (0.3, 0.3, 0.3))
# View augmentation (same as fine-tuning): GSNet's augment_data, the reading of the
# paper's "random flip along global YZ plane and random rotation along upper Z-axis"
# chosen in docs/fidelity.md: flip camera x (p = 0.5), rotate about camera x by
# U(-30, 30) degrees. The table-frame reading: frame='world', flip_axis='x', axis='z'.
augmentation = dict(type='RandomFlipRotate', flip_prob=0.5, rot_range_deg=(-30.0, 30.0),
                    flip_axis='x', axis='x', frame='camera')

view_pipeline = [
    dict(type='LoadDepthImage'),
    dict(type='DepthToPoints', min_depth=0.1, max_depth=2.0, with_pixel_uv=True),
    dict(type='LoadPointSegmentation', allow_missing=True),
    dict(type='ObjectWorkspaceCrop', margin=crop_margin, mode='reference',
         object_pixels_without_depth='camera_centre',
         fallback_world_bounds=workspace_bounds),
    dict(type='PointSample', num_points=num_points),
    augmentation,
    dict(type='Voxelize', voxel_size=voxel_size, feat_mode=feat_mode),
]
eval_view_pipeline = [
    dict(type='LoadDepthImage'),
    dict(type='DepthToPoints', min_depth=0.1, max_depth=2.0, with_pixel_uv=True),
    dict(type='LoadPointSegmentation', allow_missing=True),
    dict(type='ObjectWorkspaceCrop', margin=crop_margin, mode='reference',
         object_pixels_without_depth='camera_centre',
         fallback_world_bounds=workspace_bounds),
    # one fixed draw per frame: the label-free metric does not depend on which process
    # loads the pairs or on what drew random numbers before
    dict(type='PointSample', num_points=num_points, seed=0),
    dict(type='Voxelize', voxel_size=voxel_size, feat_mode=feat_mode),
]
train_pipeline = [
    dict(type='ApplyToViews', transforms=view_pipeline),
    dict(type='MatchViewPair', match_radius=match_radius, min_matches=64),
    dict(type='SampleKeyPoints', num_key_points=num_key_points, method='fps'),
    dict(type='PackViewPairInputs'),
]
# the no-augmentation ablation's training pairs: the training views without the flip /
# rotation (random point draws kept)
noaug_train_pipeline = [
    dict(type='ApplyToViews',
         transforms=[t for t in view_pipeline if t['type'] != 'RandomFlipRotate']),
] + train_pipeline[1:]
val_pipeline = [
    dict(type='ApplyToViews', transforms=eval_view_pipeline),
    dict(type='MatchViewPair', match_radius=match_radius, min_matches=64),
    dict(type='SampleKeyPoints', num_key_points=num_key_points, method='fps'),
    dict(type='PackViewPairInputs'),
]

train_dataloader = dict(
    batch_size=4,   # paper
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        camera=camera,
        split=pretrain_split,
        mode='pair',
        pair_cfg=dict(strategy='view_angle', min_angle=5.0,
                      max_angle=60.0),
        pipeline=train_pipeline))
# The label-free FeatureMatchMetric on fixed pairs of the test_seen scenes (with
# pretrain_split='all' these scenes are also pre-training scenes: the metric then tracks
# fitting, not generalisation to unseen scenes).
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        camera=camera,
        split='test_seen',
        mode='pair',
        pair_cfg=dict(strategy='view_angle', min_angle=5.0,
                      max_angle=60.0, seed=0),
        test_mode=True,
        pipeline=val_pipeline))
val_evaluator = dict(type='FeatureMatchMetric', hit_radius=0.02)
test_dataloader = val_dataloader
test_evaluator = val_evaluator
