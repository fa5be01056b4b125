# Ablation (paper Table II): without False-Negative Elimination = plain PointInfoNCE.
_base_ = './pretrain_fne.py'
model = dict(loss=dict(use_fne=False))
