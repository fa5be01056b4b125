"""The label-efficiency study, end to end and resumable (docs/study.md).

Stages (each finished unit writes a JSON file under ``WORK_DIR/results`` and is skipped
when that file exists, so an interrupted study continues where it stopped):

1. data: ``tools/create_graspnet_scenes.py --preset study`` (itself resumable);
2. pre-training per arm (``configs/study/pretrain_study_{fne,nofne,noaug}.py``), with the
   label-free feature-match curve;
3. fine-tuning per arm x label fraction x seed (``configs/study/gsnet_study_*.py``, the
   same number of optimiser steps for every fraction), then graspnetAPI AP on the test
   scenes with seeded test-time point sampling (``tools/test.py``);
4. the spread of AP over test-time sampling seeds for the full-label runs of seed 0;
5. the full-label seed-0 FNE and scratch detectors on the real frames of
   ``../shared/realdata`` (``tools/real_frames_report.py``; pictures next to the report,
   in ``study_real/``), and the pre-trained backbones' label-free feature matching on the
   real multi-view depth sequence there (``tools/real_feature_match.py``);
6. with ``--longer MULT``: the full-label scratch and FNE cells fine-tuned for MULT times
   the study's steps (the per-step lr decay continues), a checkpoint kept at every
   multiple of the study's steps and each evaluated as in stage 3; one JSON per
   checkpoint in ``WORK_DIR/study_longer/<arm>_seed<S>_iter_<N>.json``, where the report
   finds them (``--longer-only`` runs this stage alone, for ``--seeds``);
7. the report (``tools/study_report.py``: docs/study.md and the plot) from the JSON files.

Usage::

    python tools/run_study.py --work-dir work_dirs/study            # the default study
    python tools/run_study.py --preset study_micro --work-dir /tmp/s --report /tmp/s/study.md
    # the full-label cell trained 4x longer, seed 1 (after the study; ~25 min per seed)
    python tools/run_study.py --work-dir work_dirs/study --longer 4 --longer-only --seeds 1

``--preset study_micro`` runs the same pipeline on the micro preset (one scene per role,
a few iterations) in about a minute of compute: it checks the machinery, not the numbers.
"""
import argparse
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Callable, Dict, List, Optional, Sequence, Tuple

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..'))
STUDY_CFG = osp.join(ROOT, 'configs', 'study')

#: pre-training arms -> config; fine-tuning arms -> (config, pre-training arm or None)
PRETRAIN_ARMS = {'fne': 'pretrain_study_fne.py', 'nofne': 'pretrain_study_nofne.py',
                 'noaug': 'pretrain_study_noaug.py'}
FINETUNE_ARMS = {
    'scratch': ('gsnet_study_scratch.py', None),
    'fne': ('gsnet_study_fne.py', 'fne'),
    'nofne': ('gsnet_study_nofne.py', 'nofne'),
    'noaug': ('gsnet_study_noaug.py', 'noaug'),
    'scratch_fc': ('gsnet_study_scratch_fc.py', None),
    'fne_fc': ('gsnet_study_fne_fc.py', 'fne'),
}
#: Which (arm, fraction, seed) cells a grid runs. 'full': every arm x fraction x seed.
#: 'core' (default; fits a 2-core machine in about 4 hours): scratch and FNE at every
#: fraction and seed (Table I); the no-FNE and no-augmentation ablations at the smallest
#: fraction, where the paper reports them (Tables II and III), every seed; the
#: frame-consistent arms at every fraction for the first seed only.
ABLATION_ARMS = ('nofne', 'noaug')
FRAME_CONSISTENT_ARMS = ('scratch_fc', 'fne_fc')
GRIDS = ('core', 'full')
FRACTIONS = {'study': ['1/64', '4/64', '64/64'], 'study_micro': ['1/4', '4/4']}
DATA_ROOTS = {'study': 'data/graspnet_study', 'study_micro': 'data/graspnet_study_micro'}

#: cfg-options of the micro preset (one scene per role, 4 views, a few iterations)
MICRO_PRETRAIN = [
    'train_cfg.max_iters=4', 'train_cfg.val_interval=2',
    'default_hooks.checkpoint.interval=4', 'train_dataloader.batch_size=2',
    'train_dataloader.dataset.scene_ids=[0,1]',
    'train_dataloader.dataset.pair_cfg.max_angle=180',
    'val_dataloader.dataset.pair_cfg.max_angle=180',
    'train_dataloader.dataset.pipeline.2.num_key_points=256',
    'val_dataloader.dataset.pipeline.2.num_key_points=256',
]
MICRO_FINETUNE = [
    'train_cfg.max_iters=4', 'train_cfg.val_interval=4',
    'default_hooks.checkpoint.interval=4', 'default_hooks.logger.interval=1',
    'train_dataloader.batch_size=2', 'train_dataloader.dataset.scene_ids=[0]',
    'test_dataloader.dataset.scene_ids=[100,130,160]',
    'test_dataloader.dataset.frame_ids=[0]', 'test_evaluator.nproc=1',
]


def _fraction_tag(fraction: str) -> str:
    return fraction.replace('/', 'of')


def _write_json(path: str, data: dict) -> None:
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _commit() -> str:
    try:
        sha = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return sha + ('+dirty' if dirty else '')
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def _run(cmd: List[str], log_path: str) -> str:
    """Run a tool, tee its output to ``log_path``; stop the study on failure."""
    print('[study] $ ' + ' '.join(cmd), flush=True)
    env = dict(os.environ)
    env.setdefault('OMP_NUM_THREADS', '2')
    with open(log_path, 'w') as log:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
        log.write(proc.stdout)
    if proc.returncode != 0:
        tail = '\n'.join(proc.stdout.splitlines()[-30:])
        raise SystemExit(f'[study] command failed (exit {proc.returncode}), log '
                         f'{log_path}:\n{tail}')
    return proc.stdout


def load_scalars(work_dir: str):
    """Training and validation records of mmengine's ``vis_data/scalars.json`` files.

    The run folders (time-stamped) are read oldest first. A later run (a resume from a
    checkpoint, or a restart from step 0 after a kill before the first checkpoint)
    replaces every earlier record from its own first step on, so no step counts twice."""
    records = []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            run = [json.loads(line) for line in f if line.strip()]
        if run:
            first = min(r.get('step', 0) for r in run)
            records = [r for r in records if r.get('step', 0) < first] + run
    return ([r for r in records if 'loss' in r], [r for r in records if 'loss' not in r])


#: Per-step training scalars kept in a fine-tuning result besides the total loss: the
#: weighted loss terms and the number of seeds that passed the graspness gate.
CURVE_KEYS = ('loss_objectness', 'loss_graspness', 'loss_view', 'loss_score', 'loss_width',
              'graspable_count')


def train_curves(train_records: List[dict]) -> List[dict]:
    """``[{step, loss, <CURVE_KEYS present>}]`` of the logged training steps."""
    return [dict(step=r['step'], loss=r['loss'],
                 **{k: r[k] for k in CURVE_KEYS if k in r}) for r in train_records]


def parse_metrics(stdout: str) -> Dict[str, float]:
    """``name: value`` lines printed by tools/test.py."""
    out = {}
    for line in stdout.splitlines():
        m = re.match(r'^(graspnet/[\w./]+): ([-+0-9.eE]+|nan)$', line.strip())
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


class Study:

    #: One lock per pre-training arm: a fine-tuning run that needs a pre-training another
    #: process slot is running waits for it instead of starting it a second time.
    _pretrain_locks: Dict[str, threading.Lock] = {}
    _locks_guard = threading.Lock()

    def __init__(self, args):
        self.args = args
        self.preset = args.preset
        self.work_dir = osp.abspath(args.work_dir)
        self.results = osp.join(self.work_dir, 'results')
        self.logs = osp.join(self.work_dir, 'logs')
        os.makedirs(self.results, exist_ok=True)
        os.makedirs(self.logs, exist_ok=True)
        self.data_root = osp.abspath(args.data_root or osp.join(ROOT,
                                                                DATA_ROOTS[self.preset]))
        self.py = sys.executable
        self.micro = self.preset == 'study_micro'
        self.commit = _commit()

    # ------------------------------------------------------------------ data
    def data(self) -> None:
        path = osp.join(self.results, 'data.json')
        record = json.load(open(path)) if osp.exists(path) else {'calls': []}
        t = time.time()
        out = _run([self.py, 'tools/create_graspnet_scenes.py', '--preset', self.preset,
                    '--out', self.data_root], osp.join(self.logs, 'data.log'))
        m = re.search(r'generated (\d+) scene\(s\), skipped (\d+)', out)
        generated = int(m.group(1)) if m else None
        if generated:
            record['calls'].append(dict(generated=generated, skipped=int(m.group(2)),
                                        seconds=time.time() - t,
                                        machine=self.args.machine_note))
        record.update(preset=self.preset, data_root=self.data_root)
        _write_json(path, record)

    # ------------------------------------------------------------------ pre-training
    def _data_opts_pretrain(self) -> List[str]:
        return [f'train_dataloader.dataset.data_root={self.data_root}',
                f'val_dataloader.dataset.data_root={self.data_root}']

    def pretrain(self, arm: str) -> dict:
        with self._locks_guard:
            lock = self._pretrain_locks.setdefault(arm, threading.Lock())
        with lock:
            return self._pretrain(arm)

    def _pretrain(self, arm: str) -> dict:
        path = osp.join(self.results, f'pretrain_{arm}.json')
        if osp.exists(path):
            return json.load(open(path))
        work = osp.join(self.work_dir, f'pretrain_{arm}')
        cmd = [self.py, 'tools/train.py', osp.join(STUDY_CFG, PRETRAIN_ARMS[arm]),
               '--work-dir', work]
        if osp.exists(osp.join(work, 'last_checkpoint')):
            cmd.append('--resume')
        opts = self._data_opts_pretrain() + (MICRO_PRETRAIN if self.micro else [])
        t = time.time()
        _run(cmd + ['--cfg-options'] + opts, osp.join(self.logs, f'pretrain_{arm}.log'))
        train, val = load_scalars(work)
        with open(osp.join(work, 'last_checkpoint')) as f:
            ckpt = f.read().strip()
        curve = [{k: v for k, v in r.items() if k == 'step' or k.startswith('feature_match/')}
                 for r in val]
        record = dict(arm=arm, checkpoint=ckpt, seconds=time.time() - t, commit=self.commit,
                      preset=self.preset, feature_match=curve,
                      loss=[dict(step=r['step'], loss=r['loss']) for r in train])
        _write_json(path, record)
        return record

    # ------------------------------------------------------------------ fine-tuning
    def _data_opts_gsnet(self) -> List[str]:
        return [f'train_dataloader.dataset.data_root={self.data_root}',
                f'test_dataloader.dataset.data_root={self.data_root}',
                f'test_evaluator.data_root={self.data_root}']

    def test(self, config: str, ckpt: str, opts: List[str], log: str,
             sampling_seed: Optional[int] = None) -> Dict[str, float]:
        extra = [] if sampling_seed is None else [
            f'test_dataloader.dataset.pipeline.5.seed={sampling_seed}']
        out = _run([self.py, 'tools/test.py', config, ckpt, '--work-dir',
                    osp.join(self.work_dir, 'test_runs'), '--cfg-options'] + opts + extra,
                   log)
        metrics = parse_metrics(out)
        if 'graspnet/AP' not in metrics:
            raise SystemExit(f'[study] no graspnet/AP in the output of tools/test.py ({log})')
        return metrics

    def _finetune_run(self, arm: str, fraction: str, seed: int) -> Tuple[str, List[str]]:
        """Config and cfg-options of one fine-tuning cell (pre-training run if needed)."""
        config_name, pre_arm = FINETUNE_ARMS[arm]
        opts = self._data_opts_gsnet() + [
            f'train_dataloader.dataset.label_fraction={fraction}', f'randomness.seed={seed}']
        if self.micro:
            opts += MICRO_FINETUNE
        if pre_arm is not None:
            opts.append('model.backbone.init_cfg.checkpoint='
                        + self.pretrain(pre_arm)['checkpoint'])
        return osp.join(STUDY_CFG, config_name), opts

    def finetune(self, arm: str, fraction: str, seed: int) -> dict:
        name = f'finetune_{arm}_{_fraction_tag(fraction)}_seed{seed}'
        path = osp.join(self.results, f'{name}.json')
        work = osp.join(self.work_dir, name)
        if osp.exists(path):
            record = json.load(open(path))
            if 'train_curves' not in record and osp.isdir(work):  # results of older runs
                curves = train_curves(load_scalars(work)[0])
                if curves:
                    record['train_curves'] = curves
                    _write_json(path, record)
            return record
        config, opts = self._finetune_run(arm, fraction, seed)
        t = time.time()
        ckpt_file = osp.join(work, 'last_checkpoint')
        cmd = [self.py, 'tools/train.py', config, '--work-dir', work]
        done = osp.exists(ckpt_file) and re.search(
            r'iter_(\d+)\.pth$', open(ckpt_file).read().strip()) is not None and \
            osp.exists(osp.join(work, 'train_done'))
        if not done:
            if osp.exists(ckpt_file):
                cmd.append('--resume')
            _run(cmd + ['--cfg-options'] + opts, osp.join(self.logs, f'{name}.log'))
            open(osp.join(work, 'train_done'), 'w').close()
        train_seconds = time.time() - t
        with open(ckpt_file) as f:
            ckpt = f.read().strip()
        t = time.time()
        metrics = self.test(config, ckpt, opts, osp.join(self.logs, f'{name}_test.log'))
        train, _ = load_scalars(work)
        record = dict(arm=arm, fraction=fraction, seed=seed, checkpoint=ckpt,
                      metrics=metrics, train_seconds=train_seconds,
                      test_seconds=time.time() - t, commit=self.commit, preset=self.preset,
                      loss=[dict(step=r['step'], loss=r['loss']) for r in train],
                      train_curves=train_curves(train))
        _write_json(path, record)
        return record

    def longer_schedule(self, arm: str, seed: int, fraction: str, mult: int) -> List[dict]:
        """The ``fraction`` cell of ``arm`` fine-tuned for ``mult`` times the study's steps,
        every multiple of the study's steps evaluated as in :meth:`finetune`."""
        config, opts = self._finetune_run(arm, fraction, seed)
        steps = study_steps(config, opts)
        total = steps * mult
        # later cfg-options win: the schedule is the study's, continued to `total` steps
        opts += [f'train_cfg.max_iters={total}', f'train_cfg.val_interval={total}',
                 f'param_scheduler.0.end={total}',
                 f'default_hooks.checkpoint.interval={steps}',
                 'default_hooks.checkpoint.max_keep_ckpts=-1']  # every multiple kept
        out_dir = osp.join(self.work_dir, 'study_longer')
        os.makedirs(out_dir, exist_ok=True)
        name = f'longer_{arm}_seed{seed}'
        work = osp.join(self.work_dir, name)
        paths = [osp.join(out_dir, f'{arm}_seed{seed}_iter_{n}.json')
                 for n in range(steps, total + 1, steps)]
        if all(osp.exists(p) for p in paths):
            return [json.load(open(p)) for p in paths]
        if not osp.exists(osp.join(work, 'train_done')):
            cmd = [self.py, 'tools/train.py', config, '--work-dir', work]
            if osp.exists(osp.join(work, 'last_checkpoint')):
                cmd.append('--resume')
            _run(cmd + ['--cfg-options'] + opts, osp.join(self.logs, f'{name}.log'))
            open(osp.join(work, 'train_done'), 'w').close()
        records = []
        for n, path in zip(range(steps, total + 1, steps), paths):
            if not osp.exists(path):
                ckpt = osp.join(work, f'iter_{n}.pth')
                metrics = self.test(config, ckpt, opts,
                                    osp.join(self.logs, f'{name}_test_{n}.log'))
                _write_json(path, dict(arm=arm, seed=seed, iter=n, fraction=fraction,
                                       metrics=metrics, commit=self.commit,
                                       preset=self.preset))
                print(f'[study] longer schedule {arm} seed {seed} iter {n}: '
                      f'AP {metrics["graspnet/AP"]:.2f}', flush=True)
            records.append(json.load(open(path)))
        return records

    def real_frames(self, fraction: str, seed: int) -> Optional[dict]:
        """The full-label FNE and scratch checkpoints on the real frames of
        ``../shared/realdata`` (tools/real_frames_report.py): counts and pictures."""
        path = osp.join(self.results, 'real_frames.json')
        if osp.exists(path):
            return json.load(open(path))
        if not osp.isdir(self.args.realdata):
            print(f'[study] {self.args.realdata} not found: the real-frame stage is skipped',
                  flush=True)
            return None
        models = []
        for arm in ('fne', 'scratch'):
            if arm in self.args.arms:
                ckpt = self.finetune(arm, fraction, seed)['checkpoint']
                models += ['--model', f'{arm}_{_fraction_tag(fraction)}_seed{seed}',
                           osp.join(STUDY_CFG, FINETUNE_ARMS[arm][0]), ckpt]
        if not models:
            return None
        out_dir = (osp.join(osp.dirname(osp.abspath(self.args.report)), 'study_real')
                   if self.args.report else osp.join(self.work_dir, 'real_frames'))
        _run([self.py, 'tools/real_frames_report.py', *models, '--out-dir', out_dir,
              '--realdata', self.args.realdata], osp.join(self.logs, 'real_frames.log'))
        with open(osp.join(out_dir, 'real_frames.json')) as f:
            record = dict(models=json.load(f), picture_dir=osp.relpath(out_dir, ROOT),
                          commit=self.commit,
                          preset=self.preset)
        _write_json(path, record)
        return record

    def real_feature_match(self) -> Optional[dict]:
        """Feature matching of every pre-trained backbone (and the randomly initialised
        one) on the real 7-Scenes depth pairs of ``../shared/realdata``."""
        path = osp.join(self.results, 'real_feature_match.json')
        if osp.exists(path):
            return json.load(open(path))
        frames = osp.join(self.args.realdata, 'sevenscenes_multiview')
        if not osp.isdir(frames):
            print(f'[study] {frames} not found: the real feature-match stage is skipped',
                  flush=True)
            return None
        ckpts = [f'{arm}={self.pretrain(arm)["checkpoint"]}'
                 for arm in self.args.pretrain_arms]
        if not ckpts:
            return None
        out = osp.join(self.work_dir, 'real_feature_match.json')
        _run([self.py, 'tools/real_feature_match.py',
              osp.join(STUDY_CFG, PRETRAIN_ARMS['fne']), '--random-init', '--checkpoints',
              *ckpts, '--frames', frames, '--out', out] +
             (['--max-pairs', '2'] if self.micro else []),
             osp.join(self.logs, 'real_feature_match.log'))
        with open(out) as f:
            record = dict(json.load(f), commit=self.commit, preset=self.preset)
        record['frames'] = osp.relpath(record['frames'], ROOT)
        _write_json(path, record)
        return record

    def sampling_spread(self, arm: str, fraction: str, seed: int) -> dict:
        """AP of one checkpoint under several test-time sampling seeds."""
        name = f'sampling_{arm}_{_fraction_tag(fraction)}_seed{seed}'
        path = osp.join(self.results, f'{name}.json')
        if osp.exists(path):
            return json.load(open(path))
        run = self.finetune(arm, fraction, seed)
        config = osp.join(STUDY_CFG, FINETUNE_ARMS[arm][0])
        opts = self._data_opts_gsnet() + (MICRO_FINETUNE if self.micro else [])
        per_seed = {}
        for s in self.args.sampling_seeds:
            per_seed[str(s)] = self.test(config, run['checkpoint'], opts,
                                         osp.join(self.logs, f'{name}_{s}.log'),
                                         sampling_seed=s)
        record = dict(arm=arm, fraction=fraction, seed=seed, sampling=per_seed,
                      commit=self.commit, preset=self.preset)
        _write_json(path, record)
        return record

    # ------------------------------------------------------------------ all
    def _in_parallel(self, fn: Callable, items: Sequence[tuple]) -> None:
        """``fn(*item)`` for every item, ``--jobs`` at a time (the items are independent).

        A failure stops the study: no new item starts, the running ones finish."""
        if self.args.jobs == 1 or len(items) <= 1:
            for item in items:
                fn(*item)
            return
        stop = threading.Event()

        def guarded(*item):
            if stop.is_set():
                return
            try:
                fn(*item)
            except BaseException:
                stop.set()
                raise

        with ThreadPoolExecutor(self.args.jobs) as pool:
            futures = [pool.submit(guarded, *item) for item in items]
            wait(futures)
        for f in futures:
            if f.exception() is not None:
                raise f.exception()

    def run(self) -> None:
        if not self.args.skip_data:
            self.data()
        fractions = self.args.fractions or FRACTIONS[self.preset]
        longer = [(arm, seed, fractions[-1], self.args.longer)
                  for seed in self.args.seeds for arm in ('scratch', 'fne')
                  if arm in self.args.arms] if self.args.longer else []
        if self.args.longer_only:
            self._in_parallel(self.longer_schedule, longer)
            return
        units = study_units(self.args.arms, fractions, self.args.seeds, self.args.grid)
        _write_json(osp.join(self.results, 'plan.json'),
                    dict(grid=self.args.grid, preset=self.preset,
                         finetune=[dict(arm=a, fraction=f, seed=s) for a, f, s in units]))

        def finetune(i, arm, fraction, seed):
            print(f'[study] fine-tuning {i + 1}/{len(units)}: {arm} {fraction} seed {seed}',
                  flush=True)
            self.finetune(arm, fraction, seed)

        # One pool: the pre-training runs first, then the fine-tuning runs in study order.
        # A slot that a pre-training run leaves free takes the next fine-tuning run (the
        # scratch ones need no pre-training; one whose pre-training is still running
        # waits for it).
        tasks = [(self.pretrain, (arm,)) for arm in self.args.pretrain_arms]
        tasks += [(finetune, (i, *unit)) for i, unit in enumerate(units)]
        self._in_parallel(lambda fn, args: fn(*args), tasks)
        # the stages after fine-tuning only read its results: one pool, longest first
        after = [(self.longer_schedule, unit) for unit in longer]
        after += [(self.sampling_spread, (arm, fractions[-1], self.args.seeds[0]))
                  for arm in self.args.spread_arms]
        if not self.args.skip_real_frames:
            after += [(self.real_frames, (fractions[-1], self.args.seeds[0])),
                      (self.real_feature_match, ())]
        self._in_parallel(lambda fn, args: fn(*args), after)
        if self.args.report:
            cmd = [self.py, 'tools/study_report.py', self.results, '--out', self.args.report]
            _run(cmd, osp.join(self.logs, 'report.log'))
            print(f'[study] report: {self.args.report}')


def study_steps(config: str, opts: Sequence[str]) -> int:
    """Optimiser steps of a fine-tuning run: ``train_cfg.max_iters`` of the config, or
    the last ``train_cfg.max_iters=N`` of the cfg-options."""
    from mmengine import Config
    steps = Config.fromfile(config).train_cfg.max_iters
    for opt in opts:
        if opt.startswith('train_cfg.max_iters='):
            steps = int(opt.split('=', 1)[1])
    return steps


def study_units(arms: List[str], fractions: List[str], seeds: List[int],
                grid: str = 'core') -> List[tuple]:
    """The (arm, fraction, seed) fine-tuning runs of a grid, in the order they run: seed by
    seed, and within a seed scratch and FNE at every fraction first (Table I), then the
    ablations, then the frame-consistent arms, so that a partial study already answers the
    main question."""
    if grid not in GRIDS:
        raise ValueError(f'unknown grid {grid!r}; choose one of {GRIDS}')
    groups = [[a for a in arms if a not in ABLATION_ARMS + FRAME_CONSISTENT_ARMS],
              [a for a in arms if a in ABLATION_ARMS],
              [a for a in arms if a in FRAME_CONSISTENT_ARMS]]
    units = []
    for s in seeds:
        for group in groups:
            for a in group:
                for f in fractions:
                    if grid == 'core' and a in ABLATION_ARMS and f != fractions[0]:
                        continue
                    if grid == 'core' and a in FRAME_CONSISTENT_ARMS and s != seeds[0]:
                        continue
                    units.append((a, f, s))
    return units


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'study'))
    p.add_argument('--preset', default='study', choices=sorted(FRACTIONS))
    p.add_argument('--data-root', default=None,
                   help='default: data/graspnet_study (data/graspnet_study_micro)')
    p.add_argument('--arms', nargs='+', default=list(FINETUNE_ARMS),
                   choices=list(FINETUNE_ARMS))
    p.add_argument('--pretrain-arms', nargs='*', default=None, choices=list(PRETRAIN_ARMS),
                   help='default: those the fine-tuning arms need')
    p.add_argument('--fractions', nargs='+', default=None)
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--grid', default='core', choices=GRIDS,
                   help="'core': ablation arms at the smallest fraction only, "
                   "frame-consistent arms for the first seed only; 'full': every cell")
    p.add_argument('--sampling-seeds', nargs='+', type=int, default=[1, 2, 3],
                   help='test-time sampling seeds of the AP-spread check')
    p.add_argument('--spread-arms', nargs='*', default=['scratch', 'fne'],
                   help='arms whose full-label seed-0 checkpoint is evaluated under '
                   '--sampling-seeds')
    p.add_argument('--report', default=osp.join(ROOT, 'docs', 'study.md'),
                   help="report file ('' = no report)")
    p.add_argument('--skip-data', action='store_true', help='the data root is complete')
    p.add_argument('--realdata', default=osp.join(ROOT, '..', 'shared', 'realdata'),
                   help='real RGB-D frames for the real-frame stage (skipped when absent)')
    p.add_argument('--skip-real-frames', action='store_true',
                   help='do not run the full-label checkpoints on the real frames')
    p.add_argument('--machine-note', default='',
                   help='recorded with the data generation time (e.g. "idle 2-core")')
    p.add_argument('--jobs', type=int, default=2,
                   help='training runs (and, after fine-tuning, evaluations and '
                   'real-frame runs) at a time, each with cores / jobs threads (an '
                   'exported OMP_NUM_THREADS wins). Two one-thread runs side by side '
                   'train about 1.8x faster than one two-thread run on 2 cores '
                   '(docs/study_design.md, "Budget")')
    p.add_argument('--longer', type=int, default=0, metavar='MULT',
                   help='also fine-tune the full-label scratch and FNE cells of every seed '
                   'for MULT times the study\'s steps, evaluating every multiple '
                   '(results in WORK_DIR/study_longer; 0 = off)')
    p.add_argument('--longer-only', action='store_true',
                   help='run only the --longer stage (the pre-training it needs is reused '
                   'or run)')
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error(f'--jobs must be >= 1, got {args.jobs}')
    if args.longer < 0 or args.longer == 1:
        p.error(f'--longer must be 0 (off) or >= 2, got {args.longer}')
    if args.longer_only and not args.longer:
        p.error('--longer-only needs --longer MULT')
    if args.pretrain_arms is None:
        args.pretrain_arms = sorted({FINETUNE_ARMS[a][1] for a in args.arms} - {None})
    args.spread_arms = [a for a in args.spread_arms if a in args.arms]
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.jobs > 1:
        # read by _run's children (torch sizes its thread pool from it)
        os.environ.setdefault('OMP_NUM_THREADS',
                              str(max(1, (os.cpu_count() or 2) // args.jobs)))
    Study(args).run()
    return 0


if __name__ == '__main__':
    sys.exit(main())
