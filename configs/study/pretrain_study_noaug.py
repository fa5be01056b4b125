# Label-efficiency study: FNE pre-training without the flip / rotation augmentation,
# otherwise pretrain_study_fne.py (paper Table III).
_base_ = './pretrain_study_fne.py'
train_dataloader = dict(dataset=dict(pipeline={{_base_.noaug_train_pipeline}}))
