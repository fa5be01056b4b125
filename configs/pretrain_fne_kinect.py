# GraspContrast FNE pre-training on the kinect frames (paper: "All models for both
# RealSense and Kinect datasets are trained separately"); initialises
# configs/gsnet/gsnet_*_kinect_*.py. Only the camera differs from pretrain_fne.py.
_base_ = './pretrain_fne.py'
camera = 'kinect'
train_dataloader = dict(dataset=dict(camera=camera))
val_dataloader = dict(dataset=dict(camera=camera))
test_dataloader = dict(dataset=dict(camera=camera))
