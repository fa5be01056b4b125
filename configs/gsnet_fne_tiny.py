# Tiny CPU variant of gsnet/gsnet_fne_realsense_*.py: gsnet_scratch_tiny.py with the
# backbone initialised (strictly) from the tiny FNE pre-training,
#   python tools/train.py configs/pretrain_fne_tiny.py   # -> work_dirs/pretrain_fne_tiny
#   python tools/train.py configs/gsnet_fne_tiny.py
# Another checkpoint: --cfg-options model.backbone.init_cfg.checkpoint=PATH
_base_ = './gsnet_scratch_tiny.py'
pretrained_backbone = 'work_dirs/pretrain_fne_tiny/epoch_20.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(type='PretrainedStrict', checkpoint=pretrained_backbone,
                      prefix='backbone.',
                      # the UNet body is transferred; the final 1x1 projection (the
                      # contrastive embedding, unconstrained in scale) is re-initialised
                      key_mapping={r'^final\..*': ''},
                      ignore_missing=[r'^final\.'])))
