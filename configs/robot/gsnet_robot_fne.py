# The robot's detector: the study's FNE arm (cpu2 profile: the same narrow SparseUNet,
# heads and recipe, backbone initialised from the study's FNE pre-training) fine-tuned on
# 48 labelled scenes of 40 seen objects (6x the study's 8 scenes of 10 objects) for 2400
# steps. Data and training (robot_integration/README.md):
#   python tools/create_graspnet_scenes.py --preset robot --out data/graspnet_robot
#   python tools/train.py configs/robot/gsnet_robot_fne.py --work-dir work_dirs/robot_fne
# (the backbone checkpoint comes from `python tools/run_study.py`'s pre-training stage,
# work_dirs/study/pretrain_fne/iter_640.pth). Test scenes: the study's (data/graspnet_study).
_base_ = '../study/gsnet_study_fne.py'
robot_data_root = 'data/graspnet_robot'
robot_train_scenes = list(range(48))
robot_finetune_iters = 2400

train_dataloader = dict(
    dataset=dict(data_root=robot_data_root, scene_ids=robot_train_scenes,
                 label_fraction='64/64'))
param_scheduler = [
    dict(type='ExponentialLR', gamma={{_base_.study_gamma_per_step}}, by_epoch=False,
         begin=0, end=robot_finetune_iters)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=robot_finetune_iters,
                 val_interval=robot_finetune_iters)
default_hooks = dict(checkpoint=dict(interval=800, max_keep_ckpts=-1))
