# GSNet initialised with the WHOLE pre-trained backbone, the final 1x1 projection included,
# as in the paper (strict load; the default, gsnet_pretrained_backbone.py, re-initialises
# that projection). Experiment configs set the checkpoint:
#     model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained_backbone)))
_base_ = './gsnet.py'
model = dict(
    backbone=dict(
        init_cfg=dict(type='PretrainedStrict', checkpoint=None, prefix='backbone.')))
