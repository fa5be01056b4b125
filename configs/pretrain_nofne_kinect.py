# Ablation (paper Table II) on the kinect frames: without False-Negative Elimination =
# plain PointInfoNCE. Only the FNE switch differs from pretrain_fne_kinect.py.
_base_ = './pretrain_fne_kinect.py'
model = dict(loss=dict(use_fne=False))
