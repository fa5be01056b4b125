# Settings shared by every config of the label-efficiency study (docs/study.md). Data:
#   python tools/create_graspnet_scenes.py --preset study --out data/graspnet_study
# labelled train scenes 0-7 (seen objects), unlabelled pool 8-47 (pre-training) and 99
# (held out: label-free validation of pre-training), test scenes 100-101 (seen), 130-131
# (similar), 160-161 (novel); 64 realsense views of 640x360 per scene.
study_data_root = 'data/graspnet_study'
study_views_per_scene = 64
study_train_scenes = list(range(8))
study_pretrain_scenes = list(range(48))     # labelled train scenes (depth only) + pool
study_pretrain_val_scenes = [99]
study_test_scenes = [100, 101, 130, 131, 160, 161]
study_test_frames = [0, 16, 32, 48]          # evaluated frames of every test scene
# the analogues of the paper's 1/256, 16/256 and 256/256 for 64 views per scene
study_label_fractions = ['1/64', '4/64', '64/64']

# ---- compute switch: one setting, applied identically to pre-training and every arm ----
# 'paper': GSNet's MinkUNet14D widths (14.6 M parameters, 512-d), 15000 points per frame
#          (20000 in pre-training), 1024 seeds, 4096 key points, reference head widths.
# 'cpu2':  what a 2-core CPU affords in a few hours (docs/study_design.md): the narrow SparseUNet
#          of the tiny configs (32-d), 8192 points, 1024 key points, heads of
#          width 32; the reference's 1024 seeds (with 256 the cylinder crops, which
#          group seeds, see a quarter of the neighbours and the score head fits far
#          worse: docs/study_design.md). Same architecture, losses, augmentation and recipe
#          otherwise.
study_compute = 'cpu2'
_profiles = dict(
    paper=dict(planes=(32, 64, 128, 256, 192, 192, 192, 192), init_dim=32,
               out_channels=512, num_points=15000, pretrain_points=20000,
               num_key_points=4096, num_seeds=1024, head_width=256,
               # the reference recipe: batch 4, Adam 1e-3
               batch_size=4, lr=1e-3, finetune_iters=400,
               pretrain_batch_size=4, pretrain_iters=960),
    # recipe of the main job's tiny GSNet configs (docs/fidelity.md row 25, chosen on the
    # demo dataset, never on the study's scenes): batch 2, Adam 3e-3
    cpu2=dict(planes=(16, 16, 32, 32, 32, 32, 32, 32), init_dim=16, out_channels=32,
              num_points=8192, pretrain_points=8192, num_key_points=1024,
              num_seeds=1024, head_width=32,
              batch_size=2, lr=3e-3, finetune_iters=400,
              pretrain_batch_size=2, pretrain_iters=640))
study_profile = _profiles[study_compute]

# ---- schedules (per optimiser step, docs/study.md) ----
study_batch_size = study_profile['batch_size']
study_lr = study_profile['lr']
# the reference's epoch = the FULL labelled training set: 8 scenes x 64 views / batch
study_steps_per_epoch = (len(study_train_scenes) * study_views_per_scene
                         // study_batch_size)
# the same number of steps for every label fraction
study_finetune_iters = study_profile['finetune_iters']
study_pretrain_batch_size = study_profile['pretrain_batch_size']
study_pretrain_steps_per_epoch = (len(study_pretrain_scenes) * study_views_per_scene
                                  // study_pretrain_batch_size)
study_pretrain_iters = study_profile['pretrain_iters']
study_pretrain_val_interval = study_pretrain_iters // 4
study_gamma_per_step = 0.95 ** (1.0 / study_steps_per_epoch)
study_pretrain_gamma_per_step = 0.95 ** (1.0 / study_pretrain_steps_per_epoch)
# test-time point sampling: one fixed draw per frame (PointSample(seed=...)), so that a
# checkpoint gets the same AP every time; tools/run_study.py also reports the spread of
# AP over other sampling seeds for some runs
study_test_sampling_seed = 0
