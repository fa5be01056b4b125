"""The label-efficiency study: presets, per-step schedules, seeded test-time sampling,
and the whole pipeline end to end on the micro preset (tools/run_study.sh)."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine import Config

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
STUDY = osp.join(ROOT, 'configs', 'study')
ARMS = ('scratch', 'fne', 'nofne', 'noaug', 'scratch_fc', 'fne_fc')


def test_study_presets():
    from graspcontrast_mm.synthetic.generator import (PRESETS, get_preset,
                                                      preset_unlabelled_scene_ids)
    cfg, ids = get_preset('study')
    pool = preset_unlabelled_scene_ids('study')
    assert cfg.with_labels and cfg.num_views == 64
    assert set(pool) <= set(ids) and 99 in pool
    labelled = sorted(set(ids) - set(pool))
    assert labelled == [0, 1, 2, 3, 4, 5, 6, 7, 100, 101, 130, 131, 160, 161]
    _, micro_ids = get_preset('study_micro')
    # one scene per role: labelled train, pool, held-out pool, seen / similar / novel test
    assert micro_ids == (0, 1, 99, 100, 130, 160)
    assert preset_unlabelled_scene_ids('study_micro') == (1, 99)
    assert preset_unlabelled_scene_ids('tiny') == ()
    assert 'unlabelled_scene_ids' not in PRESETS['default']


def test_study_configs_share_one_compute_profile_and_steps():
    settings = Config.fromfile(osp.join(STUDY, '..', '_base_', 'study_settings.py'))
    prof = settings.study_profile
    steps = None
    for arm in ARMS:
        cfg = Config.fromfile(osp.join(STUDY, f'gsnet_study_{arm}.py'))
        assert tuple(cfg.model.backbone.planes) == tuple(prof['planes'])
        assert cfg.model.num_seeds == prof['num_seeds']
        assert cfg.train_cfg.type == 'IterBasedTrainLoop'
        steps = steps or cfg.train_cfg.max_iters
        assert cfg.train_cfg.max_iters == steps  # equal steps for every arm
        assert cfg.train_dataloader.sampler.type == 'InfiniteSampler'
        assert cfg.model.train_cfg.get('frame_consistent', False) == arm.endswith('_fc')
        assert (cfg.model.backbone.get('init_cfg') is not None) == \
            (arm not in ('scratch', 'scratch_fc'))
        sample = [t for t in cfg.test_dataloader.dataset.pipeline
                  if t['type'] == 'PointSample']
        assert sample[0]['seed'] == settings.study_test_sampling_seed
    for arm in ('fne', 'nofne', 'noaug'):
        cfg = Config.fromfile(osp.join(STUDY, f'pretrain_study_{arm}.py'))
        assert tuple(cfg.model.backbone.planes) == tuple(prof['planes'])
        view_tf = [t['type'] for t in cfg.train_dataloader.dataset.pipeline[0]['transforms']]
        assert ('RandomFlipRotate' in view_tf) == (arm != 'noaug')
        assert cfg.model.loss.use_fne == (arm != 'nofne')
    # the paper configs keep the reference convention
    paper = Config.fromfile(osp.join(ROOT, 'configs', 'gsnet',
                                     'gsnet_fne_realsense_1of256.py'))
    assert not paper.model.train_cfg.get('frame_consistent', False)


def test_robot_detector_config_is_the_study_fne_arm_on_the_robot_data():
    """configs/robot/gsnet_robot_fne.py changes only the training data and the steps of the
    study's FNE arm: the same network, initialisation and test scenes."""
    from graspcontrast_mm.synthetic import PRESETS
    study = Config.fromfile(osp.join(STUDY, 'gsnet_study_fne.py'))
    robot = Config.fromfile(osp.join(ROOT, 'configs', 'robot', 'gsnet_robot_fne.py'))
    assert robot.model.to_dict() == study.model.to_dict()
    assert robot.test_dataloader.to_dict() == study.test_dataloader.to_dict()
    assert robot.test_evaluator.data_root == study.test_evaluator.data_root
    train = robot.train_dataloader.dataset
    assert train.data_root == 'data/graspnet_robot'
    assert tuple(train.scene_ids) == tuple(PRESETS['robot']['scene_ids'])
    assert train.pipeline == study.train_dataloader.dataset.pipeline
    assert robot.train_cfg.max_iters == robot.param_scheduler[0]['end'] == 2400
    assert robot.param_scheduler[0]['gamma'] == study.param_scheduler[0]['gamma']


def _lr_after(gamma, steps, base=1e-3):
    from mmengine.optim.scheduler import ExponentialLR
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base)
    sched = ExponentialLR(opt, gamma=gamma, by_epoch=False, begin=0, end=10 ** 9)
    for _ in range(steps):
        opt.step()
        sched.step()
    return opt.param_groups[0]['lr']


def test_per_step_decay_equals_reference_per_epoch():
    base = Config.fromfile(osp.join(ROOT, 'configs', '_base_', 'schedules',
                                    'gsnet_adam_exp095_per_step.py'))
    assert base.steps_per_epoch == 6400  # 100 scenes x 256 frames / batch 4
    (sched, ) = base.param_scheduler
    assert not sched['by_epoch']
    # one reference epoch of steps -> x0.95; ten -> x0.95 ** 10
    assert _lr_after(sched['gamma'], 6400) == pytest.approx(0.95e-3, rel=1e-6)
    study = Config.fromfile(osp.join(STUDY, 'gsnet_study_scratch.py'))
    batch = study.train_dataloader.batch_size
    assert batch == study.study_profile['batch_size']
    # the study's epoch is its FULL labelled set (8 scenes x 64 views), at its batch size
    epoch = 8 * 64 // batch
    assert study.study_steps_per_epoch == epoch
    gamma = study.param_scheduler[0]['gamma']
    assert _lr_after(gamma, epoch) == pytest.approx(0.95e-3, rel=1e-6)
    assert _lr_after(gamma, 10 * epoch) == pytest.approx(1e-3 * 0.95 ** 10, rel=1e-5)
    assert study.optim_wrapper.optimizer.lr == study.study_profile['lr']


def test_core_grid_cells_and_order():
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import run_study
    fr = ['1/64', '4/64', '64/64']
    full = run_study.study_units(list(ARMS), fr, [0, 1, 2], 'full')
    assert len(full) == 6 * 3 * 3 and len(set(full)) == len(full)
    core = run_study.study_units(list(ARMS), fr, [0, 1, 2])
    assert set(core) <= set(full)
    # Table I arms: every fraction x seed
    for arm in ('scratch', 'fne'):
        assert {(f, s) for a, f, s in core if a == arm} == {(f, s) for f in fr
                                                           for s in (0, 1, 2)}
    # ablations at the smallest fraction (every seed), frame-consistent arms seed 0 only
    for arm in ('nofne', 'noaug'):
        assert {(f, s) for a, f, s in core if a == arm} == {('1/64', s) for s in (0, 1, 2)}
    for arm in ('scratch_fc', 'fne_fc'):
        assert {(f, s) for a, f, s in core if a == arm} == {(f, 0) for f in fr}
    assert len(core) == 18 + 6 + 6
    # every cell's first seed comes before any second seed; within seed 0, Table I first
    seeds = [s for _, _, s in core]
    assert seeds == sorted(seeds)
    assert core[:6] == [(a, f, 0) for a in ('scratch', 'fne') for f in fr]
    assert core[6:8] == [('nofne', '1/64', 0), ('noaug', '1/64', 0)]
    with pytest.raises(ValueError, match='unknown grid'):
        run_study.study_units(list(ARMS), fr, [0], 'everything')


def test_seeded_point_sample_is_per_frame_and_repeatable():
    from graspcontrast_mm.datasets.transforms import PointSample
    pts = np.random.default_rng(0).random((500, 3)).astype(np.float32)

    def draw(seed, scene, frame):
        out = PointSample(num_points=64, seed=seed)(dict(points=pts.copy(), scene_id=scene,
                                                         frame_id=frame))
        return out['points']

    np.random.seed(1)
    a = draw(0, 100, 3)
    np.random.seed(2)  # the global RNG does not matter
    np.testing.assert_array_equal(a, draw(0, 100, 3))
    exp = np.random.default_rng(np.random.SeedSequence([0, 100, 3])).choice(
        500, 64, replace=False)
    np.testing.assert_array_equal(a, pts[exp])
    assert not np.array_equal(a, draw(1, 100, 3))
    assert not np.array_equal(a, draw(0, 100, 4))
    with pytest.raises(ValueError):
        PointSample(num_points=8, seed=-1)


def test_report_from_json_alone(tmp_path):
    """Hand-made results: means, standard deviations and differences."""
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import study_report
    res = tmp_path / 'results'
    res.mkdir()
    for arm, aps in (('scratch', (1.0, 3.0)), ('fne', (4.0, 6.0))):
        for seed, ap in enumerate(aps):
            metrics = {'graspnet/AP': ap}
            for s in ('seen', 'similar', 'novel'):
                metrics.update({f'graspnet/{s}/AP': ap, f'graspnet/{s}/AP0.8': ap,
                                f'graspnet/{s}/AP0.4': ap})
            (res / f'finetune_{arm}_1of64_seed{seed}.json').write_text(json.dumps(dict(
                arm=arm, fraction='1/64', seed=seed, metrics=metrics, preset='study',
                commit='abc', loss=[dict(step=1, loss=2.0), dict(step=2, loss=1.0)])))
    plan = [dict(arm=a, fraction='1/64', seed=s) for a in ('scratch', 'fne', 'nofne')
            for s in (0, 1)]
    (res / 'plan.json').write_text(json.dumps(dict(grid='core', finetune=plan)))
    (res / 'real_frames.json').write_text(json.dumps(dict(
        picture_dir=str(tmp_path / 'study_real'), models={'fne_64of64_seed0': dict(frames={
            'm2t2_robot_view': dict(after_nms=70, in_collision=36, below_support_plane=0,
                                    kept=34, on_object_share=0.5, picture='a.png')})})))
    longer = tmp_path / 'study_longer'  # beside the results: found without an option
    longer.mkdir()
    for seed, shift in ((0, 0.0), (1, 2.0)):
        for step, ap in ((400, 5.0), (800, 7.5), (1200, 7.0)):
            (longer / f'fne_seed{seed}_iter_{step}.json').write_text(json.dumps(dict(
                arm='fne', seed=seed, iter=step,
                metrics={'graspnet/AP': ap + shift, 'graspnet/seen/AP': ap + 1 + shift})))
    out, png = study_report.write_report(str(res), str(tmp_path / 'study.md'))
    text = open(out).read()
    # seeds 0 and 1 differ by 2: mean + 1, std sqrt(2)
    assert '| FNE pre-training | 800 | 2 | 8.50 ± 1.41 | 9.50 ± 1.41 | - | - |' in text
    assert 'mean AP 6.00 at 400 steps, 8.00 at 1200 (+2.00); best 8.50 at 800.' in text
    assert 'seen AP is FNE pre-training 9.00 ± 1.41 (2 seeds)' in text
    assert '| fne_64of64_seed0 | M2T2 robot view | 70 | 36 | 0 | 34 | 50 % |' in text
    assert '(study_real/a.png)' in text
    assert 'Partial study: 4 of the 6 fine-tuning runs' in text
    assert 'no-FNE (PointInfoNCE) 1/64 seed 0, no-FNE (PointInfoNCE) 1/64 seed 1.' in text
    assert '| scratch | 1/64 | 2.00 ± 1.41 |' in text  # std with ddof=1: sqrt(2)
    assert '| 1/64 | 5.00 ± 1.41 | 2.00 ± 1.41 | +3.00 | no |' in text
    assert 'What the budget reaches' in text and '| 1/64 | 8 | ' in text
    assert 'micro preset' not in text
    assert osp.getsize(png) > 1000


def test_study_end_to_end_micro(tmp_path):
    """tools/run_study.sh on the micro preset: data, pre-training, two arms, seeded
    evaluation (the same checkpoint twice in two processes gives the same AP), the
    sampling-seed spread, the report; a rerun skips every finished unit."""
    work = tmp_path / 'study'
    env = dict(os.environ, STUDY_SKIP_SETUP='1', OMP_NUM_THREADS='1')
    cmd = ['bash', osp.join(ROOT, 'tools', 'run_study.sh'), str(work), '--preset',
           'study_micro', '--data-root', str(tmp_path / 'data'), '--arms', 'scratch', 'fne',
           '--seeds', '0', '--fractions', '1/4', '--sampling-seeds', '0', '1',
           '--spread-arms', 'scratch', '--report', str(tmp_path / 'study.md'),
           '--longer', '2']
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = work / 'results'
    names = sorted(os.listdir(res))
    real = osp.isdir(osp.join(ROOT, '..', 'shared', 'realdata'))
    assert names == ['data.json', 'finetune_fne_1of4_seed0.json',
                     'finetune_scratch_1of4_seed0.json', 'plan.json', 'pretrain_fne.json'] + \
        (['real_feature_match.json', 'real_frames.json'] if real else []) + \
        ['sampling_scratch_1of4_seed0.json']
    pre = json.loads((res / 'pretrain_fne.json').read_text())
    assert [p['step'] for p in pre['feature_match']] == [0, 2, 4]
    run = json.loads((res / 'finetune_scratch_1of4_seed0.json').read_text())
    assert run['metrics']['graspnet/num_frames'] == 3
    assert {'graspnet/seen/AP', 'graspnet/similar/AP', 'graspnet/novel/AP'} <= \
        set(run['metrics'])
    spread = json.loads((res / 'sampling_scratch_1of4_seed0.json').read_text())
    # sampling seed 0 is the study's own seed: a second evaluation, same numbers
    assert spread['sampling']['0'] == run['metrics']
    # the longer schedule: the largest fraction run (1/4 here) trained 2 x 4 steps, both
    # checkpoints evaluated; the first is the study's own 4-step run, whose schedule it
    # continues (same seed, data order and per-step lr), so it scores the same AP
    longer = sorted(os.listdir(work / 'study_longer'))
    assert longer == [f'{arm}_seed0_iter_{n}.json' for arm in ('fne', 'scratch')
                      for n in (4, 8)]
    for arm in ('fne', 'scratch'):
        first = json.loads((work / 'study_longer' / f'{arm}_seed0_iter_4.json').read_text())
        assert first['iter'] == 4 and first['fraction'] == '1/4'
        study_run = json.loads((res / f'finetune_{arm}_1of4_seed0.json').read_text())
        assert first['metrics'] == study_run['metrics']
    report = (tmp_path / 'study.md').read_text()
    assert 'micro preset' in report and '| FNE pre-training | 1/4 |' in report
    assert '## Longer schedule (full labels)' in report
    assert '| FNE pre-training | 8 | 1 |' in report
    assert (tmp_path / 'study_ap_vs_fraction.png').stat().st_size > 1000
    if real:  # both full-label detectors on the three real frames, pictures beside
        frames = json.loads((res / 'real_frames.json').read_text())['models']
        assert sorted(frames) == ['fne_1of4_seed0', 'scratch_1of4_seed0']
        for model in frames.values():
            assert sorted(model['frames']) == ['graspnet_kinect', 'hggd_realsense',
                                               'm2t2_robot_view']
            for r in model['frames'].values():
                assert r['kept'] <= r['after_nms']
                assert (tmp_path / 'study_real' / r['picture']).stat().st_size > 1000
        assert '## On real depth' in report and '](study_real/' in report
        match = json.loads((res / 'real_feature_match.json').read_text())
        assert sorted(match['models']) == ['fne', 'random init']
        for m in match['models'].values():
            assert m['num_pairs'] == 2 and 0 <= m['hit_ratio'] <= 1
        assert '## Pre-training on real depth (label-free)' in report
    # unlabelled pool scenes carry no labels
    data = tmp_path / 'data'
    assert not (data / 'collision_label' / 'scene_0001').exists()
    assert (data / 'collision_label' / 'scene_0000').exists()
    # a rerun does nothing but the report
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0
    assert 'tools/train.py' not in proc.stdout and 'tools/test.py' not in proc.stdout


def test_scalars_of_an_aborted_and_a_restarted_run_count_once(tmp_path):
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import run_study
    for stamp, losses in (('20260101_000000', (9.0, 8.0)),            # killed at step 20
                          ('20260101_010000', (7.0, 6.0, 5.0))):      # restarted from 0
        d = tmp_path / stamp / 'vis_data'
        d.mkdir(parents=True)
        lines = [json.dumps(dict(step=10 * (i + 1), loss=v)) for i, v in enumerate(losses)]
        lines.append(json.dumps({'step': 10 * len(losses), 'graspnet/AP': 1.0}))
        (d / 'scalars.json').write_text('\n'.join(lines) + '\n')
    train, val = run_study.load_scalars(str(tmp_path))
    assert [(r['step'], r['loss']) for r in train] == [(10, 7.0), (20, 6.0), (30, 5.0)]
    assert [r['step'] for r in val] == [30]   # the aborted run's validation is void
    # a resume continues after the checkpoint: both runs' records are kept
    d = tmp_path / '20260101_020000' / 'vis_data'
    d.mkdir(parents=True)
    (d / 'scalars.json').write_text(json.dumps(dict(step=40, loss=4.0)) + '\n')
    train, _ = run_study.load_scalars(str(tmp_path))
    assert [r['step'] for r in train] == [10, 20, 30, 40]


def test_training_curves_are_recorded_backfilled_and_reported(tmp_path):
    """A finished result without curves gets them from its run's scalars (nothing is
    retrained); the report gives the view loss and when the graspness gate opened."""
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import run_study
    import study_report
    work = tmp_path / 'study'
    res = work / 'results'
    res.mkdir(parents=True)
    d = work / 'finetune_fne_1of64_seed0' / '20260101_000000' / 'vis_data'
    d.mkdir(parents=True)
    # open at the random initialisation, closed while objectness is learnt, open from 40
    logged = [dict(step=10 * (i + 1), loss=3.0 - 0.1 * i, loss_view=0.5 + 0.1 * i,
                   graspable_count=g) for i, g in enumerate((600, 40, 50, 300, 500,
                                                              600, 700, 800, 900, 1000))]
    (d / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in logged) + '\n')
    metrics = {'graspnet/AP': 5.0, **{f'graspnet/{s}/{m}': 5.0 for s in
                                      ('seen', 'similar', 'novel')
                                      for m in ('AP', 'AP0.8', 'AP0.4')}}
    old = dict(arm='fne', fraction='1/64', seed=0, metrics=metrics, preset='study',
               commit='abc', loss=[dict(step=r['step'], loss=r['loss']) for r in logged])
    path = res / 'finetune_fne_1of64_seed0.json'
    path.write_text(json.dumps(old))
    study = run_study.Study.__new__(run_study.Study)
    study.work_dir, study.results = str(work), str(res)
    rec = study.finetune('fne', '1/64', 0)
    assert [c['graspable_count'] for c in rec['train_curves']][:3] == [600, 40, 50]
    assert json.loads(path.read_text())['train_curves'] == rec['train_curves']
    # a run that never opens the gate
    never = dict(old, arm='scratch', train_curves=[dict(c, graspable_count=5)
                                                  for c in rec['train_curves']])
    (res / 'finetune_scratch_1of64_seed0.json').write_text(json.dumps(never))
    late = dict(never, fraction='4/64', train_curves=[
        dict(c, graspable_count=5 if c['step'] < 90 else 200) for c in rec['train_curves']])
    (res / 'finetune_scratch_4of64_seed0.json').write_text(json.dumps(late))
    out, _ = study_report.write_report(str(res), str(tmp_path / 'new' / 'study.md'))
    text = open(out).read()
    assert '| FNE pre-training | 1/64 | 3.000 | 2.100 | 1.400 | 40 | 1000 |' in text
    assert '| scratch | 1/64 | 3.000 | 2.100 | 1.400 | never (1 of 1 runs) | 5 |' in text
    assert ('stays open from step 90 for the backbones trained from scratch (mean of 1 runs '
            'where it opens) and from step 40 for the pre-trained ones (mean of 1), of 100 '
            'steps') in text


def test_report_names_code_changes_between_run_commits(tmp_path):
    """Runs made at several commits: the report lists the files a run reads that changed
    between them, and says so when only other files changed."""
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import study_report
    repo = tmp_path / 'repo'
    (repo / 'configs').mkdir(parents=True)
    (repo / 'docs').mkdir()

    def git(*args):
        return subprocess.run(['git', '-C', str(repo), *args], capture_output=True,
                              text=True, check=True).stdout.strip()

    git('init', '-q')
    git('config', 'user.email', 'a@b.c')
    git('config', 'user.name', 'n')
    commits = []
    for i, path in enumerate(('configs/a.py', 'docs/x.md', 'configs/a.py')):
        (repo / path).write_text(f'v = {i}\n')
        git('add', '-A')
        # distinct commit times, so that the oldest and newest are known
        env_date = f'2026-01-0{i + 1}T00:00:00'
        subprocess.run(['git', '-C', str(repo), 'commit', '-qm', f'c{i}'], check=True,
                       env={**os.environ, 'GIT_COMMITTER_DATE': env_date,
                            'GIT_AUTHOR_DATE': env_date})
        commits.append(git('rev-parse', 'HEAD'))
    assert study_report.code_changes(commits[:1], str(repo)) == []
    assert study_report.code_changes(commits[:2], str(repo)) == []  # docs only
    assert study_report.code_changes(sorted(commits), str(repo)) == ['configs/a.py']
    assert study_report.code_changes([commits[0], 'f' * 40], str(repo)) is None
    text = ' '.join(study_report.provenance_lines(sorted(commits), str(repo)))
    assert 'changed: `configs/a.py`' in text
    assert 'do not differ' in ' '.join(study_report.provenance_lines(commits[:2], str(repo)))


def test_parallel_units_run_all_and_stop_at_a_failure():
    """--jobs 2: every unit runs; a failing one stops the study (no new unit starts,
    its error reaches the caller)."""
    import threading
    import types
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import run_study
    assert run_study.parse_args([]).jobs == 2
    with pytest.raises(SystemExit):
        run_study.parse_args(['--jobs', '0'])
    study = types.SimpleNamespace(args=types.SimpleNamespace(jobs=2))
    seen, lock = [], threading.Lock()

    def unit(i):
        with lock:
            seen.append(i)
    run_study.Study._in_parallel(study, unit, [(i,) for i in range(7)])
    assert sorted(seen) == list(range(7))

    started, one_started, release = [], threading.Event(), threading.Event()

    def failing(i):
        with lock:
            started.append(i)
        if i == 0:
            one_started.wait(5)  # fail while unit 1 runs beside it
            raise SystemExit('[study] command failed')
        one_started.set()
        release.wait(5)
    with pytest.raises(SystemExit, match='command failed'):
        threading.Timer(0.5, release.set).start()
        run_study.Study._in_parallel(study, failing, [(i,) for i in range(6)])
    assert sorted(started) == [0, 1]  # the running unit finished, no later one started


def test_a_pretraining_needed_by_two_slots_runs_once():
    """Pre-training and fine-tuning share one pool: a fine-tuning run that needs a
    pre-training already running in another slot waits for it and reuses its result."""
    import threading
    import time
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import run_study
    study = run_study.Study.__new__(run_study.Study)
    calls, done = [], {}

    def fake_pretrain(arm):  # the real one skips an arm whose result file exists
        if arm in done:
            return done[arm]
        calls.append(arm)
        time.sleep(0.3)
        done[arm] = dict(arm=arm, checkpoint=f'{arm}.pth')
        return done[arm]
    study._pretrain = fake_pretrain
    out = []
    threads = [threading.Thread(target=lambda: out.append(study.pretrain('fne_lock_test')))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ['fne_lock_test']
    assert [r['checkpoint'] for r in out] == ['fne_lock_test.pth'] * 3
