# Label-efficiency study, arm 'fne_fc': gsnet_study_fne.py with frame-consistent training
# (docs/fidelity.md).
_base_ = './gsnet_study_fne.py'
model = dict(train_cfg=dict(frame_consistent=True))
