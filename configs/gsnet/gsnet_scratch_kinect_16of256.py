# GSNet from scratch, 16/256 labels, kinect frames (train and test).
_base_ = './gsnet_scratch_realsense_16of256.py'
camera = 'kinect'
train_dataloader = dict(dataset=dict(camera=camera))
test_dataloader = dict(dataset=dict(camera=camera))
test_evaluator = dict(camera=camera)
