"""Simulated clutter-removal benchmark (GraspContrast robot experiment, Table IV protocol).

Example::

    python robot_integration/pick_and_place.py --source baseline --seed 0 \\
        --levels low medium high --out work_dirs/pick_and_place/baseline

    python robot_integration/pick_and_place.py --source model \\
        --config configs/gsnet.py --checkpoint work_dirs/gsnet/epoch_10.pth --out ...

``--source model`` runs ``graspcontrast_mm.apis.GraspInferencer`` on the metric depth
(workspace: the planner's box and the objects above the table), with its collision
filter (``--no-collision-filter`` turns it off) and ``--top-k``; ``--config`` may be left
out when the checkpoint embeds its config.

The model and its checkpoint are loaded before the simulation starts, strictly (keys,
shapes, finite weights; ``--non-strict-load`` relaxes it) and only for a grasp detector: a
wrong checkpoint is a one-line ``error:`` (exit status 1) without a table. Bad numeric
arguments are argparse errors (exit status 2) before any work; a grasp source that fails
during the run ends it with exit status 1 after the table and records are written.

Runs ``--scenes`` (20) scenes per clutter level with fixed seeds (every source sees the
same scenes) and prints, per level, SR (successful attempts / attempts, undefined without
attempts) and CR (objects cleared / objects) pooled over the scenes with 95% Wilson
intervals, the attempt count, the failure reasons and the graspability ceiling (share of
objects with an executable oracle grasp at the first capture). ``--calibration`` runs the
oracle, the geometric baseline and random grasps on the same scenes beside ``--source``.
Writes ``records.jsonl`` (one line per record, with its source) and ``summary.json``
(per-level statistics and per-scene summaries of every source, rewritten after every
scene) to ``--out``. ``--timing`` adds the mean time per attempt split into observation
(rendering), perception (grasp source), planning and execution.

    python robot_integration/pick_and_place.py --source model --checkpoint CKPT \\
        --calibration --out work_dirs/pick_and_place/model_vs_calibration
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
import zlib
from typing import Any, Dict, List, Optional, Sequence

import graspcontrast_mm  # noqa: F401  (CPU runtime defaults before torch loads)
from robot_integration.calibration_sources import (OracleGraspSource,
                                                   RandomGraspSource)
from robot_integration.grasp_sources import (GeometricBaselineSource,
                                             InferencerGraspSource)
from robot_integration.planner import PLANNER_PRESETS, GraspPlanner, PlannerConfig
from robot_integration.protocol import (CLUTTER_LEVELS, LevelResult, ProtocolConfig,
                                        run_level)
from robot_integration.sim import PyBulletPickPlaceSim, SimConfig
from robot_integration.stats import aggregate_level, format_level_table

from graspcontrast_mm.utils.cli import float_in_range, int_at_least

__all__ = ['sim_planner_config', 'build_source', 'level_seed_index', 'scene_seed',
           'run_benchmark', 'level_statistics', 'timing_summary', 'parse_args', 'main',
           'CALIBRATION_SOURCES']

#: Sources run beside the chosen one with ``--calibration`` (see the README).
CALIBRATION_SOURCES = ('oracle', 'baseline', 'random')


def sim_planner_config(sim_config: SimConfig, **overrides) -> PlannerConfig:
    """Planner limits matching the simulated scene: the workspace box covers the pile area
    with a 0.15 m margin and stops 0.1 m short of the bin wall."""
    cx, cy = sim_config.pile_center
    m = sim_config.pile_half_size + 0.15
    bin_edge = sim_config.bin_center[1] - sim_config.bin_half_size - 0.01
    y_max = min(cy + m, bin_edge - 0.1)
    cfg = dict(table_height=0.0, workspace_min=(cx - m, cy - m, -0.02),
               workspace_max=(cx + m, y_max, 0.35))
    cfg.update(overrides)
    return PlannerConfig(**cfg)


def build_source(name: str, *, config: Optional[str] = None, checkpoint: Optional[str] = None,
                 device: str = 'cpu', collision_filter: bool = True,
                 top_k: Optional[int] = None, workspace: str = 'objects',
                 seed: Optional[int] = 0, strict: bool = True,
                 random_grasps: int = 200) -> Any:
    """Grasp source by name.

    Args:
        name: ``'baseline'`` (:class:`GeometricBaselineSource`) or ``'model'``
            (:class:`InferencerGraspSource` around ``GraspInferencer``, built here so that a
            bad config or checkpoint stops the run before the simulation starts).
        config: Model config (``'model'``; None: the config embedded in the checkpoint).
        checkpoint: Model checkpoint (``'model'``).
        device: Torch device.
        collision_filter: Detector-side collision filter (``'model'``).
        top_k: Best grasps kept by the detector (``'model'``; None: all).
        workspace: ``'objects'`` or ``'full'`` (``'model'``, see
            :class:`InferencerGraspSource`).
        seed: Point-sampling seed of the detector (``'model'``).
        strict: Strict checkpoint loading (``'model'``; see ``GraspInferencer``).
        random_grasps: Grasps per capture of ``'random'`` (:class:`RandomGraspSource`).

    Returns:
        A grasp source.

    Raises:
        For ``'model'``, before any simulation: ``CheckpointLoadError`` (unreadable file),
        ``UnsafeConfigError`` (no config given and the stored one is missing or not plain
        data), ``CheckpointMismatchError`` / ``NonFiniteWeightsError`` (the checkpoint does
        not fit the model, or has NaN weights), ``TypeError`` (not a grasp detector, e.g. a
        pre-training checkpoint).
    """
    if name == 'baseline':
        return GeometricBaselineSource()
    if name == 'oracle':  # bound to the simulation by run_level
        return OracleGraspSource()
    if name == 'random':
        return RandomGraspSource(num_grasps=random_grasps,
                                 seed=0 if seed is None else int(seed))
    if name == 'model':
        if config is None and checkpoint is None:
            raise SystemExit('--source model needs --checkpoint (and --config unless the '
                             'checkpoint embeds its config)')
        return InferencerGraspSource(config=config, checkpoint=checkpoint, device=device,
                                     collision_filter=collision_filter, top_k=top_k,
                                     workspace=workspace, seed=seed, strict=strict).build()
    raise SystemExit(f'unknown --source {name!r}')


def level_seed_index(level: str) -> int:
    """Seed index of a clutter level, fixed by its name (not by which levels a run asks
    for): the position in ``CLUTTER_LEVELS`` (low 0, medium 1, high 2), and for another
    name a number in 3-92 from its CRC-32."""
    names = list(CLUTTER_LEVELS)
    if level in names:
        return names.index(level)
    return 3 + zlib.crc32(str(level).encode()) % 90


def scene_seed(seed: int, level_index: int, scene: int) -> int:
    """Seed of scene ``scene`` of the level with seed index ``level_index``
    (:func:`level_seed_index`; fixed: every source sees the same scenes for the same
    ``seed``, whichever levels a run includes)."""
    return int(seed) * 100000 + int(level_index) * 1000 + int(scene)


def run_benchmark(source: Any, levels: Dict[str, int], *, seed: int = 0,
                  sim_config: Optional[SimConfig] = None,
                  protocol: Optional[ProtocolConfig] = None, progress: bool = False,
                  scenes: int = 1, on_scene: Optional[Any] = None,
                  planner_overrides: Optional[Dict[str, Any]] = None) -> List[LevelResult]:
    """Run ``scenes`` scenes of every clutter level in one simulation.

    Args:
        source: Grasp source.
        levels: ``{level name: number of objects}`` in run order.
        seed: Base seed; scene ``j`` of a level uses :func:`scene_seed` with the
            level's :func:`level_seed_index`.
        sim_config: Simulation settings (its ``seed`` is overridden).
        protocol: Protocol limits.
        progress: Show a progress bar (stderr).
        scenes: Scenes per level (>= 1).
        on_scene: Called with every finished :class:`LevelResult` (e.g. to save partial
            results).
        planner_overrides: :class:`PlannerConfig` fields that replace the simulation's
            planner settings (:func:`sim_planner_config`).

    Returns:
        list: one :class:`LevelResult` per scene, levels in order.
    """
    if int(scenes) < 1:
        raise ValueError(f'scenes must be >= 1, got {scenes}')
    sim_config = dataclasses.replace(sim_config or SimConfig(), seed=seed)
    protocol = protocol or ProtocolConfig()
    results = []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=int(scenes) * len(levels), desc='scenes', unit='scene',
                   file=sys.stderr, dynamic_ncols=True)
    with PyBulletPickPlaceSim(sim_config) as sim:
        planner = GraspPlanner(sim_planner_config(sim_config, **(planner_overrides or {})),
                               sim.gripper,
                               T_ee_cam=sim.T_tcp_cam)
        for name, n in levels.items():
            for j in range(int(scenes)):
                def on_record(rec, _name=name, _j=j):
                    if bar is not None:
                        bar.set_postfix_str(f'{_name} #{_j}: {rec.outcome}, '
                                            f'left {rec.remaining}')
                res = run_level(sim, source, planner, level=name, num_objects=n,
                                seed=scene_seed(seed, level_seed_index(name), j),
                                config=protocol,
                                on_record=on_record, scene=j)
                results.append(res)
                if on_scene is not None:
                    on_scene(res)
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()
    return results


def level_statistics(results: Sequence[LevelResult]) -> List[Dict[str, Any]]:
    """:func:`~robot_integration.stats.aggregate_level` of every level, in run order."""
    by_level: Dict[str, List[LevelResult]] = {}
    for r in results:
        by_level.setdefault(r.level, []).append(r)
    return [aggregate_level(rs) for rs in by_level.values()]


def timing_summary(results: Sequence[LevelResult]) -> str:
    """Mean seconds per executed attempt: observe / perception / planning / execution."""
    keys = ('observe', 'perception', 'planning', 'execution')
    recs = [r for res in results for r in res.records if r.outcome != 'no_grasp']
    if not recs:
        return 'no executed attempt'
    means = {k: sum(r.timings.get(k, 0.0) for r in recs) / len(recs) for k in keys}
    total = sum(means.values())
    parts = ', '.join(f'{k} {v * 1000:.1f} ms' for k, v in means.items())
    return f'mean per attempt over {len(recs)} attempts: {parts} (total {total * 1000:.1f} ms)'


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--source', choices=['baseline', 'model', 'oracle', 'random'],
                   default='baseline',
                   help='grasp source: the geometric baseline, a learned model, the oracle '
                   '(grasps from the true object poses) or random grasps')
    p.add_argument('--calibration', action='store_true',
                   help='also run the calibration sources oracle, baseline and random on '
                   'the same scenes and report them beside --source')
    p.add_argument('--scenes', type=int_at_least(1), default=20,
                   help='scenes per clutter level (default 20)')
    p.add_argument('--depth-noise', choices=['auto', 'none', 'realsense', 'kinect'],
                   default='auto', help="simulated depth noise (the data generator's model); "
                   "auto: 'realsense' for --source model, none for the others")
    p.add_argument('--shapes', choices=['vhacd', 'hull'], default='vhacd',
                   help='object collision shapes: VHACD convex decomposition (default) or '
                   'one convex hull')
    p.add_argument('--failure-pictures', action='store_true',
                   help='write a picture of every failed attempt to OUT/SOURCE/failures/')
    p.add_argument('--no-ceiling', action='store_true',
                   help='do not count the objects with an executable oracle grasp at the '
                   'start of every scene')
    p.add_argument('--config', help='model config (--source model)')
    p.add_argument('--checkpoint', help='model checkpoint (--source model)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--random-grasps', type=int_at_least(1), default=200,
                   help='grasps per capture of the random source (default 200)')
    p.add_argument('--top-k', type=int_at_least(1), default=None,
                   help='best grasps kept by the model (--source model; default all)')
    p.add_argument('--no-collision-filter', action='store_true',
                   help="turn off the model's own collision filter (--source model; the "
                   'planner checks collisions in any case)')
    p.add_argument('--workspace', choices=['objects', 'full'], default='objects',
                   help='model input: the box around the objects above the table '
                   '(default, as the GSNet test crop) or every pixel of the workspace')
    p.add_argument('--num-threads', type=int_at_least(1), default=None,
                   help='torch CPU threads (--source model; default: torch default)')
    p.add_argument('--backend', choices=['sim'], default='sim',
                   help='execution backend (the ROS 2 node is started separately, see '
                   'robot_integration/README.md)')
    p.add_argument('--seed', type=int_at_least(0), default=0)
    p.add_argument('--levels', nargs='+', default=list(CLUTTER_LEVELS),
                   help=f'clutter levels to run, names of {CLUTTER_LEVELS}')
    p.add_argument('--objects-per-level', type=int_at_least(1), nargs='+',
                   help='object counts, one per level (overrides the level defaults)')
    p.add_argument('--object-ids', type=int_at_least(0), nargs='+',
                   help='library object ids to draw from (default: the novel set)')
    p.add_argument('--max-attempts-per-object', type=int_at_least(1), default=3)
    p.add_argument('--max-total-attempts', type=int_at_least(1), default=None)
    p.add_argument('--attempt-timeout', type=float_in_range(0.0, low_inclusive=False),
                   default=60.0, help='wall-clock limit of one attempt, seconds')
    p.add_argument('--image-scale', type=float_in_range(0.05, 2.0), default=0.5,
                   help='scale of the 1280x720 RealSense image (0.5: 640x360; '
                   '0.05 .. 2)')
    p.add_argument('--non-strict-load', action='store_true',
                   help='--source model: use a checkpoint that does not fit the model '
                   '(missing, unexpected or wrong-shape keys, NaN weights)')
    p.add_argument('--out', default=None, help='output folder (records.jsonl, summary.json)')
    p.add_argument('--timing', action='store_true',
                   help='print the time per attempt split into its stages')
    p.add_argument('--no-progress', action='store_true')
    p.add_argument('--planner-preset', choices=sorted(PLANNER_PRESETS), default='default',
                   help='named planner settings (robot_integration.planner.PLANNER_PRESETS); '
                   'no_jaw_checks: the calibration planner (no checks of what the jaws '
                   'hold); --planner items override it')
    p.add_argument('--planner', nargs='+', default=[], metavar='NAME=VALUE',
                   help='planner settings (robot_integration.planner.PlannerConfig '
                   'fields), e.g. max_approach_angle_deg=30 verticality_weight=0.5; the '
                   'same for every source of the run')
    args = p.parse_args(argv)
    for name in args.levels:
        if name not in CLUTTER_LEVELS and args.objects_per_level is None:
            p.error(f'unknown level {name!r}; give --objects-per-level for custom levels')
    if args.objects_per_level is not None and len(args.objects_per_level) != len(args.levels):
        p.error('--objects-per-level needs one count per level')
    if args.source == 'model' and args.checkpoint is None:
        p.error('--source model needs --checkpoint (and --config unless the checkpoint '
                'embeds its config)')
    if args.failure_pictures and not args.out:
        p.error('--failure-pictures needs --out')
    try:
        args.planner = {**PLANNER_PRESETS[args.planner_preset],
                        **parse_planner_overrides(args.planner)}
    except ValueError as exc:
        p.error(str(exc))
    return args


def parse_planner_overrides(items: Sequence[str]) -> Dict[str, Any]:
    """``['max_approach_angle_deg=30', ...]`` -> ``{name: value}`` of :class:`PlannerConfig`
    fields, each value converted to the field's type (numbers and booleans; the
    workspace corners are set by the simulation)."""
    fields = {f.name: f for f in dataclasses.fields(PlannerConfig)}
    out: Dict[str, Any] = {}
    for item in items or ():
        name, sep, text = item.partition('=')
        if not sep or name not in fields:
            raise ValueError(f'--planner {item!r}: expected NAME=VALUE with NAME one of '
                             f'{sorted(n for n, f in fields.items() if f.type in _SCALARS)}')
        kind = _SCALARS.get(fields[name].type)
        if kind is None:
            raise ValueError(f'--planner {name} cannot be set from the command line')
        try:
            if kind is bool:
                if text.lower() not in ('true', 'false', '1', '0'):
                    raise ValueError(text)
                value = text.lower() in ('true', '1')
            else:
                value = kind(text)
        except ValueError:
            raise ValueError(f'--planner {name}={text!r}: not a {kind.__name__}') from None
        if kind is float and not math.isfinite(value):
            raise ValueError(f'--planner {name}={text!r}: not a finite number')
        out[name] = value
    if out:
        PlannerConfig(**out)  # the config's own range checks, one message for all
    return out


#: PlannerConfig field annotation (a type, or its name under postponed annotations)
_SCALARS = {float: float, int: int, bool: bool, 'float': float, 'int': int, 'bool': bool}


def _depth_noise(choice: str, source: str) -> Optional[str]:
    if choice == 'auto':
        return 'realsense' if source == 'model' else None
    return None if choice == 'none' else choice


def main(argv: Optional[Sequence[str]] = None) -> List[LevelResult]:
    """Entry point; returns the level results."""
    args = parse_args(argv)
    counts = args.objects_per_level or [CLUTTER_LEVELS[n] for n in args.levels]
    levels = dict(zip(args.levels, counts))
    if args.num_threads is not None and args.source == 'model':
        import torch
        torch.set_num_threads(max(int(args.num_threads), 1))
    # the model is built (and its checkpoint checked) before the simulation starts
    from graspcontrast_mm.engine import CheckpointLoadError
    try:
        source = build_source(args.source, config=args.config, checkpoint=args.checkpoint,
                              device=args.device,
                              collision_filter=not args.no_collision_filter,
                              top_k=args.top_k, workspace=args.workspace,
                              strict=not args.non_strict_load,
                              random_grasps=args.random_grasps)
    except (CheckpointLoadError, FileNotFoundError, ValueError, KeyError,
            TypeError) as err:
        text = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise SystemExit(f'error: cannot use the model: {text}') from None
    sim_cfg = SimConfig(image_scale=args.image_scale, shapes=args.shapes,
                        object_ids=tuple(args.object_ids) if args.object_ids else None)
    names = [args.source]
    if args.calibration:
        names += [n for n in CALIBRATION_SOURCES if n != args.source]
    report: Dict[str, Any] = {}
    results: List[LevelResult] = []
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        open(os.path.join(args.out, 'records.jsonl'), 'w').close()
    for name in names:
        src = source if name == args.source else build_source(
            name, seed=args.seed, random_grasps=args.random_grasps)
        noise = _depth_noise(args.depth_noise, name)
        cfg_n = dataclasses.replace(sim_cfg, depth_noise=noise)
        protocol = ProtocolConfig(
            max_attempts_per_object=args.max_attempts_per_object,
            max_total_attempts=args.max_total_attempts,
            attempt_timeout_s=args.attempt_timeout, ceiling=not args.no_ceiling,
            failure_pictures=(os.path.join(args.out, name, 'failures')
                              if args.failure_pictures else None))
        done: List[LevelResult] = []
        t0 = time.perf_counter()

        def on_scene(res: LevelResult, _name=name, _noise=noise, _done=done,
                     _t0=t0) -> None:
            _done.append(res)
            if not args.out:
                return
            with open(os.path.join(args.out, 'records.jsonl'), 'a') as f:
                for rec in res.records:
                    f.write(json.dumps(dict(source=_name, **rec.to_dict())) + '\n')
            report[_name] = dict(depth_noise=_noise, partial=True,
                                 seconds=round(time.perf_counter() - _t0, 1),
                                 levels=level_statistics(_done),
                                 scenes=[r.summary() for r in _done])
            _write_summary(args, report)

        res_n = run_benchmark(src, levels, seed=args.seed, sim_config=cfg_n,
                              protocol=protocol, progress=not args.no_progress,
                              scenes=args.scenes, on_scene=on_scene,
                              planner_overrides=args.planner)
        seconds = time.perf_counter() - t0
        stats = level_statistics(res_n)
        report[name] = dict(depth_noise=noise, partial=False, seconds=round(seconds, 1),
                            levels=stats, scenes=[r.summary() for r in res_n])
        print(f'source={name} backend={args.backend} seed={args.seed} '
              f'scenes/level={args.scenes} depth noise={noise or "none"} '
              f'shapes={args.shapes} ({seconds:.1f} s)')
        print(format_level_table(stats, name))
        if args.timing:
            print(timing_summary(res_n))
        if name == args.source:
            results = res_n
    if args.out:
        _write_summary(args, report)
        print(f'records written to {args.out}')
    errors = [r.planning_failure for res in results for r in res.records
              if r.planning_failure and r.planning_failure.get('reason') == 'source_error']
    if errors:  # the detector crashed: not a grasping result
        raise SystemExit(f'error: the grasp source failed in {len(errors)} perception '
                         f"step(s): {errors[0].get('message', '')}")
    return results


def _write_summary(args: argparse.Namespace, report: Dict[str, Any]) -> None:
    path = os.path.join(args.out, 'summary.json')
    primary = report.get(args.source, {})
    with open(path + '.tmp', 'w') as f:
        json.dump(dict(args=vars(args), levels=primary.get('levels', []), sources=report),
                  f, indent=1)
    os.replace(path + '.tmp', path)


if __name__ == '__main__':
    main()
