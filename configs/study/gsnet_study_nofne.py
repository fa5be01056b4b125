# Label-efficiency study, arm 'nofne': gsnet_study_scratch.py with the backbone initialised
# (strictly; UNet body, the final 1x1 projection re-initialised as in every fine-tuning
# config) from pre-training without FNE, plain PointInfoNCE (pretrain_study_nofne.py).
# tools/run_study.py passes the checkpoint: model.backbone.init_cfg.checkpoint=PATH
_base_ = './gsnet_study_scratch.py'
pretrained_backbone = 'work_dirs/study/pretrain_nofne/iter_640.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(type='PretrainedStrict', checkpoint=pretrained_backbone,
                      prefix='backbone.', key_mapping={r'^final\..*': ''},
                      ignore_missing=[r'^final\.'])))
