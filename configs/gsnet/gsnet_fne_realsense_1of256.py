# GSNet (1/256 labels) with its backbone initialised from GraspContrast pre-training
# with FNE-InfoNCE (configs/pretrain_fne.py). The load is strict: a checkpoint of another
# model or of a backbone with other widths stops the run, naming the keys.
_base_ = './gsnet_scratch_realsense_1of256.py'
pretrained_backbone = 'work_dirs/pretrain_fne/epoch_50.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(type='PretrainedStrict', checkpoint=pretrained_backbone,
                      prefix='backbone.',
                      # the UNet body is transferred; the final 1x1 projection (the
                      # contrastive embedding, unconstrained in scale) is re-initialised
                      key_mapping={r'^final\..*': ''},
                      ignore_missing=[r'^final\.'])))
