# Ablation: GSNet (1/256 labels) from pre-training without False-Negative Elimination
# (plain PointInfoNCE, configs/pretrain_nofne.py).
_base_ = './gsnet_fne_realsense_1of256.py'
pretrained_backbone = 'work_dirs/pretrain_nofne/epoch_50.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained_backbone)))
