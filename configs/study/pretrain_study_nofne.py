# Label-efficiency study: pre-training without FNE (plain PointInfoNCE), otherwise
# pretrain_study_fne.py (paper Table II).
_base_ = './pretrain_study_fne.py'
model = dict(loss=dict(use_fne=False))
