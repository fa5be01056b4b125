# GSNet whose SparseUNet starts from a GraspContrast pre-training checkpoint. The load is
# strict (graspcontrast_mm.engine.PretrainedStrict): a checkpoint of another model or of a
# backbone with other widths stops the run, naming the keys. The UNet body is transferred;
# the final 1x1 projection (the contrastive embedding, unconstrained in scale) is
# re-initialised (docs/gsnet_finetuning.md). Experiment configs set the checkpoint:
#     pretrained_backbone = 'work_dirs/pretrain_fne/epoch_50.pth'
#     model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained_backbone)))
_base_ = './gsnet.py'
model = dict(
    backbone=dict(
        init_cfg=dict(type='PretrainedStrict', checkpoint=None, prefix='backbone.',
                      key_mapping={r'^final\..*': ''},
                      ignore_missing=[r'^final\.'])))
