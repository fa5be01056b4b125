# GraspContrast pre-training (configs/pretrain_fne.py: same data, pairs, backbone, schedule)
# with PointContrast's hardest-contrastive loss instead of FNE-InfoNCE: positive margin 0.1,
# negative margin 1.4 on unit-norm features, negatives at least 1 cm from the anchor.
_base_ = ['../../../configs/pretrain_fne.py']

custom_imports = dict(
    imports=['graspcontrast_mm', 'projects.PointContrast.pointcontrast'],
    allow_failed_imports=False)

model = dict(
    loss=dict(
        _delete_=True,
        type='HardestContrastiveLoss',
        pos_margin=0.1,
        neg_margin=1.4,
        neg_radius=0.01,
        neg_weight=1.0,
        num_pos=None,
        normalize=True,
        loss_weight=1.0))
