# Tiny CPU variant of pretrain_fne.py for demos and tests: the generated 'tiny' dataset
# (tools/create_graspnet_scenes.py --preset tiny --out data/graspnet_tiny), 8192 points per
# view, 1024 key points, a narrow SparseUNet (32-d output), a few epochs. Loss, optimiser,
# augmentation and matching rules are the paper config's.
_base_ = './pretrain_fne.py'

data_root = 'data/graspnet_tiny'
num_points = 8192
num_key_points = 1024

model = dict(
    backbone=dict(planes=(16, 16, 32, 32, 32, 32, 32, 32), init_dim=16,
                  out_channels=32))


def _pair_pipeline(augment):
    views = [
        # loading, deprojection and the workspace crop give the same points for a frame
        # in every epoch: computed once per frame (datasets/transforms/caching.py)
        dict(type='CachedTransforms', transforms=[
            dict(type='LoadDepthImage'),
            dict(type='DepthToPoints', min_depth=0.1, max_depth=2.0, with_pixel_uv=True),
            dict(type='LoadPointSegmentation', allow_missing=True),
            dict(type='ObjectWorkspaceCrop', margin={{_base_.crop_margin}},
                 mode='reference', object_pixels_without_depth='camera_centre',
                 fallback_world_bounds={{_base_.workspace_bounds}})]),
        # validation: one fixed draw per frame (as the base config's eval pipeline)
        dict(type='PointSample', num_points=num_points, seed=None if augment else 0),
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


train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=_pair_pipeline(True)))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=_pair_pipeline(False)))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=20, val_interval=5)
default_hooks = dict(logger=dict(interval=6))
