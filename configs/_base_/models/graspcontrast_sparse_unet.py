# Two-branch contrastive pre-trainer around the MinkUNet14D-style SparseUNet (GSNet's
# backbone: 512-d point-wise features). Both views run through the SAME backbone.
model = dict(
    type='GraspContrastPretrainer',
    data_preprocessor=dict(type='SparsePairDataPreprocessor'),
    backbone=dict(
        type='SparseUNet',
        in_channels=3,      # GSNet: 3 channels of ones (Voxelize feat_mode='ones3')
        out_channels=512,
        # GSNet's MinkUNet14D (14.6 M parameters); the 384-wide decoder of
        # MinkowskiEngine's own MinkUNet14D: planes=(32, 64, 128, 256, 384, 384, 384, 384)
        planes=(32, 64, 128, 256, 192, 192, 192, 192),
        layers=(1, 1, 1, 1, 1, 1, 1, 1)),
    loss=dict(
        type='FNEInfoNCELoss',
        temperature=0.07,   # tau (paper)
        use_fne=True,       # False -> plain PointInfoNCE (paper eq. 3)
        fne_radius=0.02,    # gamma_D, metres (world frame)
        loss_weight=1.0))
