# Ablation: GSNet (1/256 labels, kinect frames) from pre-training without False-Negative
# Elimination (configs/pretrain_nofne_kinect.py).
_base_ = './gsnet_fne_kinect_1of256.py'
pretrained_backbone = 'work_dirs/pretrain_nofne_kinect/epoch_50.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained_backbone)))
