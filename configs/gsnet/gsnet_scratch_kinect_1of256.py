# GSNet from scratch, 1/256 labels, kinect frames (train and test).
_base_ = './gsnet_scratch_realsense_1of256.py'
camera = 'kinect'
train_dataloader = dict(dataset=dict(camera=camera))
test_dataloader = dict(dataset=dict(camera=camera))
test_evaluator = dict(camera=camera)
