# Label-efficiency study, arm 'fne': gsnet_study_scratch.py with the backbone initialised
# (strictly; UNet body, the final 1x1 projection re-initialised as in every fine-tuning
# config) from FNE pre-training (pretrain_study_fne.py).
# tools/run_study.py passes the checkpoint: model.backbone.init_cfg.checkpoint=PATH
_base_ = './gsnet_study_scratch.py'
pretrained_backbone = 'work_dirs/study/pretrain_fne/iter_640.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(type='PretrainedStrict', checkpoint=pretrained_backbone,
                      prefix='backbone.', key_mapping={r'^final\..*': ''},
                      ignore_missing=[r'^final\.'])))
