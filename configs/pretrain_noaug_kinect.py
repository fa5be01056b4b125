# Ablation (paper Table III) on the kinect frames: no random flip / rotation of the
# views. The base's noaug_train_pipeline is its train_pipeline without the RandomFlipRotate
# step.
_base_ = './pretrain_fne_kinect.py'
train_dataloader = dict(dataset=dict(pipeline={{_base_.noaug_train_pipeline}}))
