# Label-efficiency study, arm 'scratch_fc': gsnet_study_scratch.py with frame-consistent
# training (the crop and the score / width targets in the template view's frame, as
# decoded at test time; docs/fidelity.md).
_base_ = './gsnet_study_scratch.py'
model = dict(train_cfg=dict(frame_consistent=True))
