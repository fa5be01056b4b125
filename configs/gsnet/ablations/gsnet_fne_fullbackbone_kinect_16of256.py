# Ablation (paper-faithful transfer): GSNet (16/256 labels, kinect frames) initialised with
# the WHOLE pre-trained backbone, the final 1x1 projection included, as in the paper.
# The default configs (../gsnet_fne_kinect_16of256.py) re-initialise that projection
# (docs/gsnet_finetuning.md, docs/results.md); only the initialisation differs.
_base_ = '../gsnet_fne_kinect_16of256.py'
model = dict(
    backbone=dict(
        init_cfg=dict(_delete_=True, type='PretrainedStrict',
                      checkpoint={{_base_.pretrained_backbone}}, prefix='backbone.')))
