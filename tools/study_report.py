"""Write the label-efficiency study report (docs/study.md and its plot) from the JSON
results of ``tools/run_study.py`` alone (no checkpoint is read).

Usage: python tools/study_report.py WORK_DIR/results --out docs/study.md
       [--plot docs/study_ap_vs_fraction.png]
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
from collections import defaultdict
from fractions import Fraction

import numpy as np

ARM_NAMES = {
    'scratch': 'scratch', 'fne': 'FNE pre-training', 'nofne': 'no-FNE (PointInfoNCE)',
    'noaug': 'FNE, no augmentation', 'scratch_fc': 'scratch, frame-consistent',
    'fne_fc': 'FNE, frame-consistent'}
ARM_ORDER = list(ARM_NAMES)
SPLITS = ('seen', 'similar', 'novel')
METRICS = ('AP', 'AP0.8', 'AP0.4')
#: Paper numbers quoted for reference (GraspContrast, RealSense, AP on test_seen):
#: Table I at 1/256, 16/256, 256/256 labels.
PAPER_SEEN_AP = {'scratch': (3.96, 37.72, 65.70), 'fne': (7.84, 39.51, 67.22)}
PAPER_NOTES = ('Paper (RealSense, AP on seen): scratch 3.96 / 37.72 / 65.70 and FNE '
               '7.84 / 39.51 / 67.22 at 1/256 / 16/256 / 256/256 labels (Table I); FNE vs '
               'PointInfoNCE +0.97 AP at 1/256 (Table II); augmentation about +0.7 AP '
               '(Table III).')


def load_results(results_dir):
    runs, pretrain, sampling, data = [], {}, [], None
    for path in sorted(glob.glob(osp.join(results_dir, '*.json'))):
        with open(path) as f:
            rec = json.load(f)
        name = osp.basename(path)
        if name.startswith('finetune_'):
            runs.append(rec)
        elif name.startswith('pretrain_'):
            pretrain[rec['arm']] = rec
        elif name.startswith('sampling_'):
            sampling.append(rec)
        elif name == 'data.json':
            data = rec
    return runs, pretrain, sampling, data


FRAME_NAMES = {'graspnet_kinect': 'GraspNet Kinect (workspace mask)',
               'hggd_realsense': 'HGGD RealSense', 'm2t2_robot_view': 'M2T2 robot view'}


#: the issue's target for the full-label arm: AP on the seen test scenes
FULL_LABEL_SEEN_TARGET = 30.0


def budget_lines(agg, fractions, settings, longer=None):
    """Where the full-label arm stands against the target, and how many passes over its
    labelled frames each fraction's fixed number of steps makes."""
    if not fractions or settings is None:
        return []
    full = fractions[-1]
    best = [(a, c['graspnet/seen/AP'][0]) for (a, f), c in agg.items()
            if f == full and 'graspnet/seen/AP' in c]
    if not best:
        return []
    arm, ap = max(best, key=lambda x: x[1])
    samples = settings['iters'] * settings['batch_size']
    lines = ['## What the budget reaches', '',
             f'Best full-label ({full}) AP on the seen test scenes: {ap:.2f} '
             f'({ARM_NAMES[arm]}), against a target of {FULL_LABEL_SEEN_TARGET:.0f}'
             f'{" (met)" if ap >= FULL_LABEL_SEEN_TARGET else " (not met)"}. Every run '
             f'trains {settings["iters"]} steps of batch {settings["batch_size"]} '
             f'({samples} samples):', '',
             '| labels | labelled frames | passes over them |', '| --- | --- | --- |']
    for f in fractions:
        frames = int(settings['frames_per_scene'] * Fraction(f)) * settings['scenes']
        lines.append(f'| {f} | {frames} | {samples / max(frames, 1):.1f} |')
    lines += ['', 'The full-label runs see each labelled frame one or two times, where the '
              'reference trains 10 epochs, and the one-frame check of '
              '[study_design.md](study_design.md) shows the same narrow model fitting a '
              'single frame only after 400-600 steps. So the number of steps is the first '
              'limit of the full-label arm (more labelled frames at the same steps mean '
              'fewer passes over each), the width of the `cpu2` model the next.', '']
    measured = []
    for arm, rows in sorted((longer or {}).items()):
        step, per_seed = rows[-1]
        values = [m['graspnet/seen/AP'] for m in per_seed if 'graspnet/seen/AP' in m]
        if values:
            measured.append(f'{ARM_NAMES.get(arm, arm)} {_fmt(_stat(values))} '
                            f'({len(values)} seed{"s" if len(values) > 1 else ""})')
            last_step = step
    if measured:
        lines += [f'Measured ("Longer schedule" below): at {last_step} steps the full-label '
                  f'seen AP is {", ".join(measured)} (target '
                  f'{FULL_LABEL_SEEN_TARGET:.0f}).', '']
    return lines


def load_longer_schedule(longer_dir):
    """``{arm: [(step, [metrics of each seed]), ...]}`` of the study's ``--longer`` stage's
    results, steps ascending, seeds ascending."""
    out = {}
    if not longer_dir or not osp.isdir(longer_dir):
        return out
    for path in sorted(glob.glob(osp.join(longer_dir, '*_iter_*.json'))):
        with open(path) as f:
            rec = json.load(f)
        out.setdefault(rec['arm'], {}).setdefault(int(rec['iter']), []).append(
            (int(rec.get('seed', 0)), rec['metrics']))
    return {arm: [(step, [m for _, m in sorted(seeds, key=lambda x: x[0])])
                  for step, seeds in sorted(steps.items())]
            for arm, steps in out.items()}


def _longer_mean(per_seed, key):
    values = [m[key] for m in per_seed if key in m]
    return float(np.mean(values)) if values else None


def longer_schedule_lines(longer, study_iters=None):
    """AP against optimiser steps for the full-label cell trained longer than the study
    (mean ± standard deviation over the seeds run)."""
    if not longer:
        return []
    seeds = sorted({len(per_seed) for rows in longer.values() for _, per_seed in rows})
    lines = ['## Longer schedule (full labels)', '',
             'The full-label cell fine-tuned for a multiple of the study\'s steps with the same '
             'recipe (the per-step lr decay continues), the checkpoint at every multiple '
             'evaluated as in the study: `python tools/run_study.py --longer 4 --longer-only '
             '--seeds S`. Mean ± standard deviation over seeds; n = seeds.', '',
             '| arm | steps | n | AP | seen AP | similar AP | novel AP |',
             '| --- | --- | --- | --- | --- | --- | --- |']
    for arm, rows in sorted(longer.items()):
        for step, per_seed in rows:
            cells = []
            for k in ('graspnet/AP', 'graspnet/seen/AP', 'graspnet/similar/AP',
                      'graspnet/novel/AP'):
                values = [m[k] for m in per_seed if k in m]
                cells.append(_fmt(_stat(values)) if values else '-')
            lines.append(f'| {ARM_NAMES.get(arm, arm)} | {step} | {len(per_seed)} | '
                         + ' | '.join(cells) + ' |')
    lines.append('')
    for arm, rows in sorted(longer.items()):
        if len(rows) < 2:
            continue
        (s0, m0), (s1, m1) = rows[0], rows[-1]
        a0, a1 = _longer_mean(m0, 'graspnet/AP'), _longer_mean(m1, 'graspnet/AP')
        best_step, best = max(((s, _longer_mean(m, 'graspnet/AP')) for s, m in rows),
                              key=lambda r: r[1])
        lines.append(f'- {ARM_NAMES.get(arm, arm)}: mean AP {a0:.2f} at {s0} steps, '
                     f'{a1:.2f} at {s1} ({a1 - a0:+.2f}); best {best:.2f} at {best_step}.')
    if study_iters:
        lines.append(f'- The study itself trains {study_iters} steps per run.')
    if seeds and max(seeds) < 2:
        lines.append('- One seed: no spread yet.')
    return lines + ['']


def study_settings(root=None):
    """Steps, batch and labelled frames of the study (configs/_base_/study_settings.py)."""
    try:
        from mmengine.config import Config
        root = root or osp.abspath(osp.join(osp.dirname(__file__), '..'))
        cfg = Config.fromfile(osp.join(root, 'configs', '_base_', 'study_settings.py'))
    except Exception:  # noqa: BLE001  (the report still works without the settings)
        return None
    return dict(iters=cfg.study_finetune_iters, batch_size=cfg.study_batch_size,
                frames_per_scene=cfg.study_views_per_scene,
                scenes=len(cfg.study_train_scenes))


def _read_optional_json(results_dir, name):
    path = osp.join(results_dir, name)
    if not osp.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def real_frame_lines(results_dir, out):
    """Counts and pictures of ``real_frames.json`` (tools/real_frames_report.py)."""
    rec = _read_optional_json(results_dir, 'real_frames.json')
    if rec is None:
        return []
    root = osp.abspath(osp.join(osp.dirname(__file__), '..'))
    pic_dir = osp.relpath(osp.join(root, rec['picture_dir']),  # relative to the repository
                          osp.dirname(osp.abspath(out)))
    lines = ['## On real depth', '',
             'The full-label seed-0 detectors through the Inferencer (collision filter and '
             'support plane on, best 50) on the real frames of `../shared/realdata`: grasps '
             'after NMS -> in collision -> below the support plane -> kept; for the M2T2 '
             'frame also the share of kept grasps centred on an object (its instance '
             'mask, 3 px).', '',
             '| model | frame | after NMS | in collision | below plane | kept | on objects |',
             '| --- | --- | --- | --- | --- | --- | --- |']
    pictures = []
    for model, m in sorted(rec['models'].items()):
        for frame, r in m['frames'].items():
            share = r.get('on_object_share')
            lines.append(f'| {model} | {FRAME_NAMES.get(frame, frame)} | {r["after_nms"]} | '
                         f'{r["in_collision"]} | {r.get("below_support_plane")} | '
                         f'{r["kept"]} | {"-" if share is None else f"{100 * share:.0f} %"} |')
            pictures.append(f'![{model} {frame}]({pic_dir}/{r["picture"]})')
    return lines + [''] + pictures + ['']


def progress_lines(results_dir, runs):
    """How much of the planned grid (``plan.json`` of tools/run_study.py) has finished."""
    plan = _read_optional_json(results_dir, 'plan.json')
    if plan is None:
        return []
    done = {(r['arm'], r['fraction'], r['seed']) for r in runs}
    planned = [(u['arm'], u['fraction'], u['seed']) for u in plan['finetune']]
    missing = [u for u in planned if u not in done]
    if not missing:
        return [f'All {len(planned)} fine-tuning runs of the `{plan["grid"]}` grid have '
                'finished.', '']
    return [f'**Partial study: {len(planned) - len(missing)} of the {len(planned)} '
            f'fine-tuning runs of the `{plan["grid"]}` grid have finished.** Missing: ' +
            ', '.join(f'{ARM_NAMES[a]} {f} seed {s}' for a, f, s in missing) +
            '. `bash tools/run_study.sh` continues the study where it stopped.', '']


def _frac_key(f):
    return Fraction(f)


def _stat(values):
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return None
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0, len(v)


def _fmt(stat):
    if stat is None:
        return '-'
    mean, std, n = stat
    return f'{mean:.2f} ± {std:.2f}' if n > 1 else f'{mean:.2f}'


def aggregate(runs):
    """{(arm, fraction): {metric key: (mean, std, n)}}"""
    cells = defaultdict(lambda: defaultdict(list))
    for r in runs:
        for k, v in r['metrics'].items():
            cells[(r['arm'], r['fraction'])][k].append(v)
    return {key: {k: _stat(v) for k, v in d.items()} for key, d in cells.items()}


def _arms(keys):
    present = {a for a, _ in keys}
    return [a for a in ARM_ORDER if a in present]


def _fractions(keys):
    return sorted({f for _, f in keys}, key=_frac_key)


def table_one(agg, arms, fractions):
    head = ['arm', 'labels'] + [f'{s} {m}' for s in SPLITS for m in METRICS] + \
        ['all AP', 'seeds', 'paper seen AP']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + ' --- |' * len(head)]
    for arm in arms:
        for i, frac in enumerate(fractions):
            cell = agg.get((arm, frac))
            if cell is None:
                continue
            vals = [_fmt(cell.get(f'graspnet/{s}/{m}')) for s in SPLITS for m in METRICS]
            n = cell.get('graspnet/AP', (0, 0, 0))[2]
            paper = PAPER_SEEN_AP.get(arm)
            paper_s = f'{paper[i]:.2f}' if paper and len(fractions) == 3 else '-'
            lines.append('| ' + ' | '.join([ARM_NAMES[arm], frac] + vals +
                                            [_fmt(cell.get('graspnet/AP')), str(n),
                                             paper_s]) + ' |')
    return lines


def difference_table(agg, fractions, arm_a, arm_b, title):
    lines = [f'| labels | {ARM_NAMES[arm_a]} AP | {ARM_NAMES[arm_b]} AP | difference | '
             'within the spread? |', '| --- | --- | --- | --- | --- |']
    for frac in fractions:
        a, b = agg.get((arm_a, frac)), agg.get((arm_b, frac))
        if not a or not b:
            continue
        sa, sb = a['graspnet/AP'], b['graspnet/AP']
        diff = sa[0] - sb[0]
        spread = max(sa[1], sb[1])
        within = ('one seed: cannot tell' if min(sa[2], sb[2]) < 2 else
                  'yes' if abs(diff) <= spread else 'no')
        lines.append(f'| {frac} | {_fmt(sa)} | {_fmt(sb)} | {diff:+.2f} | {within} |')
    return [title, ''] + lines if len(lines) > 2 else []


def pretrain_lines(pretrain):
    lines = []
    for arm in ('fne', 'nofne', 'noaug'):
        rec = pretrain.get(arm)
        if not rec:
            continue
        lines += [f'**{arm}** (checkpoint `{osp.basename(rec["checkpoint"])}`, '
                  f'{rec["seconds"]:.0f} s)', '',
                  '| iteration | feature-match recall | hit ratio | top-1 | chance hit ratio |',
                  '| --- | --- | --- | --- | --- |']
        for p in rec['feature_match']:
            lines.append('| {} | {:.3f} | {:.4f} | {:.4f} | {:.4f} |'.format(
                p['step'], p.get('feature_match/feature_match_recall', float('nan')),
                p.get('feature_match/hit_ratio', float('nan')),
                p.get('feature_match/top1_accuracy', float('nan')),
                p.get('feature_match/chance_hit_ratio', float('nan'))))
        lines.append('')
    return lines


def real_feature_match_lines(results_dir):
    """Table of ``real_feature_match.json`` (tools/real_feature_match.py)."""
    rec = _read_optional_json(results_dir, 'real_feature_match.json')
    if rec is None or not rec.get('models'):
        return []
    models = rec['models']
    any_pairs = next(iter(models.values()))['num_pairs']
    lines = ['## Pre-training on real depth (label-free)', '',
             f'The same feature-match measure on {any_pairs} pairs of consecutive real depth '
             f'frames of `{rec["frames"]}` (a static room scene, Kinect v1, ground-truth '
             f'camera poses; points up to {rec["max_depth"]} m, hit radius '
             f'{rec["hit_radius"] * 100:.0f} cm), every backbone after its full '
             'pre-training and the same network with its initial weights. Command: '
             '`python tools/real_feature_match.py` (see its docstring).', '',
             '| backbone | feature-match recall | hit ratio | top-1 | chance hit ratio |',
             '| --- | --- | --- | --- | --- |']
    for name, m in models.items():
        label = ARM_NAMES.get(name, name)
        lines.append(f'| {label} | {m["feature_match_recall"]:.3f} | {m["hit_ratio"]:.4f} | '
                     f'{m["top1_accuracy"]:.4f} | {m["chance_hit_ratio"]:.4f} |')
    if rec.get('skipped_pairs'):
        lines += ['', f'Pairs without enough matched points (skipped): '
                  f'{", ".join(rec["skipped_pairs"])}.']
    return lines + ['']


#: Seeds through the graspness gate from which a run counts as having found the objects.
GATE_SEEDS = 100


def _curve_stats(run):
    """``(first-logs loss, last-logs loss, last-logs view loss, step from which every log
    has at least GATE_SEEDS graspable seeds, last-logs graspable seeds)`` of one run; NaN
    where the result has no such record (inf: the last log is below GATE_SEEDS). A
    randomly initialised model often passes many points at the first steps, before it
    has learnt objectness: the gate counts as open from the log after the last one below
    GATE_SEEDS."""
    nan = float('nan')
    losses = [x['loss'] for x in run.get('loss', [])]
    if not losses:
        return None
    k = max(1, len(losses) // 10)
    curves = run.get('train_curves') or []
    view = [c['loss_view'] for c in curves if 'loss_view' in c]
    gate = [(c['step'], c['graspable_count']) for c in curves if 'graspable_count' in c]
    below = [i for i, (_, g) in enumerate(gate) if g < GATE_SEEDS]
    if not gate:
        first_gate = nan
    elif not below:
        first_gate = gate[0][0]
    elif below[-1] == len(gate) - 1:
        first_gate = float('inf')
    else:
        first_gate = gate[below[-1] + 1][0]
    kv, kg = max(1, len(view) // 10), max(1, len(gate) // 10)
    return (np.mean(losses[:k]), np.mean(losses[-k:]),
            np.mean(view[-kv:]) if view else nan, first_gate,
            np.mean([g for _, g in gate[-kg:]]) if gate else nan)


def learning_lines(runs):
    groups = defaultdict(list)
    for r in runs:
        stats = _curve_stats(r)
        if stats is not None:
            groups[(r['arm'], r['fraction'])].append(stats)

    def cell(v, fmt):
        v = v[~np.isnan(v)]
        if not len(v):
            return '-'
        if np.isinf(v).any():
            return f'never ({int(np.isinf(v).sum())} of {len(v)} runs)' if np.isinf(v).all() \
                else f'{fmt.format(v[~np.isinf(v)].mean())} ({int(np.isinf(v).sum())} never)'
        return fmt.format(v.mean())

    lines = ['Means over seeds; "last logs" = the last tenth of the logged steps. The view '
             'loss is weighted (x100, as the reference). Graspable seeds: points that pass '
             'the graspness gate (objectness and graspness above threshold), of which the '
             'heads train on up to 1024 per frame; with none, the seeds are the points of '
             'highest graspness wherever they lie.', '',
             f'| arm | labels | training loss, first logs | last logs | view loss, last logs '
             f'| step from which >= {GATE_SEEDS} seeds pass the gate | graspable seeds, last '
             'logs |',
             '| --- | --- | --- | --- | --- | --- | --- |']
    for (arm, frac) in sorted(groups, key=lambda k: (ARM_ORDER.index(k[0]), _frac_key(k[1]))):
        v = np.asarray(groups[(arm, frac)], dtype=float)
        lines.append(f'| {ARM_NAMES[arm]} | {frac} | {v[:, 0].mean():.3f} | '
                     f'{v[:, 1].mean():.3f} | {cell(v[:, 2], "{:.3f}")} | '
                     f'{cell(v[:, 3], "{:.0f}")} | {cell(v[:, 4], "{:.0f}")} |')
    opened = {kind: [s[3] for (arm, _), stats in groups.items() for s in stats
                     if (arm.startswith('scratch') == (kind == 'scratch'))
                     and np.isfinite(s[3])] for kind in ('scratch', 'pre-trained')}
    if all(opened.values()):
        steps = max(max(x['step'] for x in r['loss']) for r in runs if r.get('loss'))
        lines += ['', f'The graspness gate stays open from step '
                  f'{np.mean(opened["scratch"]):.0f} for the backbones trained from scratch '
                  f'(mean of {len(opened["scratch"])} runs where it opens) and from step '
                  f'{np.mean(opened["pre-trained"]):.0f} for the pre-trained ones (mean of '
                  f'{len(opened["pre-trained"])}), of {steps} steps: until then the heads '
                  'train on seeds chosen among few or no object points. The weighted view '
                  'loss goes up while the gate opens, and is the largest term at the end.']
    return lines


def sampling_lines(sampling, runs):
    lines = ['| arm | labels | seed | AP per test-time sampling seed | range |',
             '| --- | --- | --- | --- | --- |']
    for rec in sampling:
        aps = {s: m['graspnet/AP'] for s, m in rec['sampling'].items()}
        base = [r for r in runs if (r['arm'], r['fraction'], r['seed']) ==
                (rec['arm'], rec['fraction'], rec['seed'])]
        if base:
            aps = {'0 (study)': base[0]['metrics']['graspnet/AP'], **aps}
        vals = list(aps.values())
        lines.append(f'| {ARM_NAMES[rec["arm"]]} | {rec["fraction"]} | {rec["seed"]} | ' +
                     ', '.join(f'{k}: {v:.2f}' for k, v in aps.items()) +
                     f' | {max(vals) - min(vals):.2f} |')
    return lines


def plot(agg, arms, fractions, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    x = [float(Fraction(f)) for f in fractions]
    fig, ax = plt.subplots(figsize=(6, 4))
    for arm in arms:
        pts = [(xi, agg[(arm, f)]['graspnet/AP']) for xi, f in zip(x, fractions)
               if (arm, f) in agg]
        if not pts:
            continue
        ax.errorbar([p[0] for p in pts], [p[1][0] for p in pts],
                    yerr=[p[1][1] for p in pts], marker='o', capsize=3,
                    label=ARM_NAMES[arm])
    ax.set_xscale('log', base=2)
    ax.set_xticks(x)
    ax.set_xticklabels(fractions)
    ax.set_xlabel('labelled frames per scene')
    ax.set_ylabel('AP (all test frames), mean ± std over seeds')
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


#: What a study run reads: its results depend on these paths only (with the data).
RUN_INPUTS = ('graspcontrast_mm', 'configs', 'tools/train.py', 'tools/test.py')
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def code_changes(commits, repo=REPO):
    """Files under :data:`RUN_INPUTS` that differ between the oldest and the newest of
    ``commits`` (a sorted list), ``[]`` for one commit, None when git cannot tell (no
    repository, an unknown commit)."""
    known = [c for c in commits if c and c != '?']
    if len(known) < 2:
        return []
    try:
        def git(*args):
            return subprocess.run(['git', '-C', repo, *args], capture_output=True,
                                  text=True, check=True).stdout
        ordered = sorted(known, key=lambda c: int(git('show', '-s', '--format=%ct', c)))
        return git('diff', '--name-only', ordered[0], ordered[-1], '--',
                   *RUN_INPUTS).split()
    except (OSError, ValueError, subprocess.CalledProcessError):
        return None


def provenance_lines(commits, repo=REPO):
    """One sentence on whether the runs' commits differ in what the runs read."""
    changed = code_changes(commits, repo)
    if len(commits) < 2:
        return []
    inputs = ', '.join(f'`{p}`' for p in RUN_INPUTS)
    if changed is None:
        return [f'The runs were made at {len(commits)} commits; git could not compare '
                'them here.', '']
    if not changed:
        return [f'The runs were made at {len(commits)} commits that do not differ in what a '
                f'run reads ({inputs}).', '']
    return [f'The runs were made at {len(commits)} commits. Between the oldest and the '
            f'newest, these of the files a run reads ({inputs}) changed: '
            + ', '.join(f'`{c}`' for c in changed)
            + ' (`git diff` of the two commits shows how).', '']


def write_report(results_dir, out, plot_path=None, longer_dir=None):
    """Write the report; ``longer_dir`` (default: ``study_longer`` beside
    ``results_dir``) holds the ``--longer`` stage's results, if any."""
    runs, pretrain, sampling, data = load_results(results_dir)
    if longer_dir is None:
        longer_dir = osp.join(osp.dirname(osp.abspath(results_dir)), 'study_longer')
    longer = load_longer_schedule(longer_dir)
    if not runs:
        raise SystemExit(f'no finetune_*.json results in {results_dir}')
    agg = aggregate(runs)
    arms, fractions = _arms(agg), _fractions(agg)
    presets = sorted({r.get('preset', '?') for r in runs})
    commits = sorted({r.get('commit', '?') for r in runs})
    plot_path = plot_path or osp.splitext(out)[0] + '_ap_vs_fraction.png'
    for path in (out, plot_path):
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    plot(agg, arms, fractions, plot_path)
    seeds = sorted({r['seed'] for r in runs})
    lines = ['# Label-efficiency study', '',
             f'Generated by `tools/study_report.py` from {len(runs)} fine-tuning results '
             f'(preset {", ".join(presets)}; seeds {seeds}; commit(s) '
             f'{", ".join(commits)}). Command: `bash tools/run_study.sh [WORK_DIR]`. '
             'What runs, why, and the one-frame check: '
             '[study_design.md](study_design.md).', '']
    lines += provenance_lines(commits)
    lines += progress_lines(results_dir, runs)
    if 'study' not in presets:
        lines += ['**This is a run of the micro preset: it checks that the pipeline runs, '
                  'its numbers say nothing about pre-training.**', '']
    lines += ['## AP per arm and label fraction (Table I shape)', '',
              'graspnetAPI AP / AP0.8 / AP0.4 (percent) on the generated test scenes, mean ± '
              'standard deviation over fine-tuning seeds. ' + PAPER_NOTES, '']
    plot_link = osp.relpath(plot_path, osp.dirname(out) or '.')
    lines += table_one(agg, arms, fractions) + ['', f'![AP vs label fraction]({plot_link})', '']
    for a, b, title in (('fne', 'nofne', '## FNE ablation (Table II shape)'),
                        ('fne', 'noaug', '## Augmentation ablation (Table III shape)'),
                        ('fne', 'scratch', '## Pre-training vs scratch'),
                        ('scratch_fc', 'scratch', '## Frame-consistent training, scratch'),
                        ('fne_fc', 'fne', '## Frame-consistent training, FNE')):
        block = difference_table(agg, fractions, a, b, title)
        if block:
            lines += block + ['']
    lines += ['"Within the spread" means the difference of the means is at most the larger '
              'of the two standard deviations over seeds.', '']
    if pretrain:
        lines += ['## Pre-training curves (label-free)', '',
                  'FeatureMatchMetric on the held-out unlabelled scene (iteration 0 = before '
                  'training).', ''] + pretrain_lines(pretrain)
        lines += real_feature_match_lines(results_dir)
    settings = study_settings() if 'study' in presets else None
    if 'study' in presets:
        lines += budget_lines(agg, fractions, settings, longer)
    lines += longer_schedule_lines(longer, settings and settings['iters'])
    lines += ['## Learning curves of fine-tuning', ''] + learning_lines(runs) + ['']
    lines += real_frame_lines(results_dir, out)
    if sampling:
        lines += ['## AP across test-time sampling seeds', '',
                  'The same checkpoint evaluated with other seeds of the test-time point '
                  'sampling (the study itself uses seed 0).', ''] + \
            sampling_lines(sampling, runs) + ['']
    train_s = sum(r.get('train_seconds', 0) for r in runs)
    test_s = sum(r.get('test_seconds', 0) for r in runs)
    pre_s = sum(p.get('seconds', 0) for p in pretrain.values())
    lines += ['## Time', '',
              f'Wall time recorded by the runs: pre-training {pre_s / 60:.1f} min, '
              f'fine-tuning {train_s / 60:.1f} min, evaluation {test_s / 60:.1f} min.']
    if data and data.get('calls'):
        for c in data['calls']:
            machine = c.get('machine') or 'machine load not recorded'
            lines.append(f'Data generation: {c["generated"]} scenes in '
                         f'{c["seconds"] / 60:.1f} min ({machine}).')
    lines.append('')
    with open(out, 'w') as f:
        f.write('\n'.join(lines))
    return out, plot_path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('results_dir')
    p.add_argument('--out', default='docs/study.md')
    p.add_argument('--plot', default=None)
    p.add_argument('--longer', default=None,
                   help='results of run_study.py --longer (default: study_longer '
                        'beside RESULTS_DIR)')
    args = p.parse_args(argv)
    out, png = write_report(args.results_dir, args.out, args.plot, args.longer)
    print(f'wrote {out} and {png}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
