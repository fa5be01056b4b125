# GSNet (1/256 labels, kinect frames) with its backbone initialised from GraspContrast
# FNE pre-training on the same camera (configs/pretrain_fne_kinect.py; strict load).
_base_ = './gsnet_scratch_kinect_1of256.py'
pretrained_backbone = 'work_dirs/pretrain_fne_kinect/epoch_50.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(type='PretrainedStrict', checkpoint=pretrained_backbone,
                      prefix='backbone.',
                      # the UNet body is transferred; the final 1x1 projection (the
                      # contrastive embedding, unconstrained in scale) is re-initialised
                      key_mapping={r'^final\..*': ''},
                      ignore_missing=[r'^final\.'])))
