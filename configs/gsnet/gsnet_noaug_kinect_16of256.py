# Ablation: GSNet (16/256 labels, kinect frames) from pre-training without view
# augmentation (configs/pretrain_noaug_kinect.py).
_base_ = './gsnet_fne_kinect_16of256.py'
pretrained_backbone = 'work_dirs/pretrain_noaug_kinect/epoch_50.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained_backbone)))
