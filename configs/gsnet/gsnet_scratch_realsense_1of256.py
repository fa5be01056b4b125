# GSNet from scratch with 1/256 of the labelled frames of every train scene (evenly
# spaced frames, GraspNetDataset label_fraction).
_base_ = './gsnet_scratch_realsense_256of256.py'
label_fraction = '1/256'
train_dataloader = dict(dataset=dict(label_fraction=label_fraction))
