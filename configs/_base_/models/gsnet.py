# GSNet (Wang et al., ICCV 2021) as in the reference implementation: GSNet's MinkUNet14D
# SparseUNet (512-d point features; 3 input channels of ones, the same backbone as the
# GraspContrast pre-trainer), graspable head -> 1024 FPS seeds -> 300
# approach views -> cylinder crop (r = 5 cm, h in [-2, 4] cm, 16 samples) -> 12 angles x 4
# depths of score and width. Loss weights: objectness 1, graspness 10, view 100,
# score 15, width 10.
model = dict(
    type='GSNet',
    data_preprocessor=dict(type='SparsePairDataPreprocessor'),
    backbone=dict(
        type='SparseUNet',
        in_channels=3,      # GSNet: 3 channels of ones (Voxelize feat_mode='ones3')
        out_channels=512,
        # GSNet's MinkUNet14D (14.6 M parameters); the 384-wide decoder of
        # MinkowskiEngine's own MinkUNet14D: planes=(32, 64, 128, 256, 384, 384, 384, 384)
        planes=(32, 64, 128, 256, 192, 192, 192, 192),
        layers=(1, 1, 1, 1, 1, 1, 1, 1)),
    # the heads' in_channels default to the backbone's out_channels
    graspable_head=dict(type='GraspableHead'),
    approach_head=dict(type='ApproachViewHead', num_views=300),
    crop_head=dict(
        type='CylinderCropHead',
        mlp_channels=(256, 256),
        radius=0.05,       # metres, gripper frame
        hmin=-0.02,
        hmax=0.04,
        num_samples=16),
    swad_head=dict(type='SWADHead', hidden_channels=256, num_angles=12, num_depths=4),
    loss=dict(type='GSNetLoss'),
    num_seeds=1024,
    graspness_threshold=0.1,
    train_cfg=dict(view_mu_thresh=0.6, max_width=0.1, score_mu_range=None,
                   sample_views=True),
    test_cfg=dict(nms=True, nms_translation_thresh=0.03, nms_rotation_thresh_deg=30.0,
                  score_thr=None, max_num=None, width_factor=1.2, to_camera_frame=True,
                  empty_if_no_graspable=True,
                  # test-time collision detection of the reference's test.py: -1 = off
                  # (its published protocol, --collision_thresh -1); 0.01 = its other
                  # setting (IoU of the gripper with the 1 cm-voxel workspace cloud)
                  collision_thresh=-1.0, collision_voxel_size=0.01,
                  collision_approach_dist=0.05))
