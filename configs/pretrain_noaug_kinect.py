# Ablation (paper Table III) on the kinect frames: no random flip / rotation of the
# views. The base's val_pipeline is its train_pipeline without the RandomFlipRotate step.
_base_ = './pretrain_fne_kinect.py'
train_dataloader = dict(dataset=dict(pipeline={{_base_.val_pipeline}}))
