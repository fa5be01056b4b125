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

Prints SR (successful attempts / attempts) and CR (objects cleared / objects) per clutter
level, writes ``records.jsonl`` (one line per attempt) and ``summary.json`` to ``--out``.
``--timing`` adds the mean time per attempt split into observation (rendering), perception
(grasp source), planning and execution.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

if __package__ in (None, ''):  # run as a script: make the repository root importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import graspcontrast_mm  # noqa: F401,E402  (CPU runtime defaults before torch loads)
from robot_integration.grasp_sources import (GeometricBaselineSource,  # noqa: E402
                                             InferencerGraspSource)
from robot_integration.planner import GraspPlanner, PlannerConfig  # noqa: E402
from robot_integration.protocol import (CLUTTER_LEVELS, LevelResult, ProtocolConfig,  # noqa: E402
                                        format_results_table, run_level, write_records)
from robot_integration.sim import PyBulletPickPlaceSim, SimConfig  # noqa: E402

from graspcontrast_mm.utils.cli import float_in_range, int_at_least  # noqa: E402

__all__ = ['sim_planner_config', 'build_source', 'run_benchmark', 'timing_summary',
           'parse_args', 'main']


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
                 seed: Optional[int] = 0, strict: bool = True) -> Any:
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
    if name == 'model':
        if config is None and checkpoint is None:
            raise SystemExit('--source model needs --checkpoint (and --config unless the '
                             'checkpoint embeds its config)')
        return InferencerGraspSource(config=config, checkpoint=checkpoint, device=device,
                                     collision_filter=collision_filter, top_k=top_k,
                                     workspace=workspace, seed=seed, strict=strict).build()
    raise SystemExit(f'unknown --source {name!r}')


def run_benchmark(source: Any, levels: Dict[str, int], *, seed: int = 0,
                  sim_config: Optional[SimConfig] = None,
                  protocol: Optional[ProtocolConfig] = None, progress: bool = False
                  ) -> List[LevelResult]:
    """Run the clutter levels in one simulation.

    Args:
        source: Grasp source.
        levels: ``{level name: number of objects}`` in run order.
        seed: Base seed; level ``i`` uses scene seed ``seed * 100 + i``.
        sim_config: Simulation settings (its ``seed`` is overridden).
        protocol: Protocol limits.
        progress: Show a progress bar (stderr).

    Returns:
        list: one :class:`LevelResult` per level.
    """
    import dataclasses
    sim_config = dataclasses.replace(sim_config or SimConfig(), seed=seed)
    protocol = protocol or ProtocolConfig()
    results = []
    bar = None
    if progress:
        from tqdm import tqdm
        total = sum((protocol.max_total_attempts or protocol.max_attempts_per_object * n)
                    for n in levels.values())
        bar = tqdm(total=total, desc='attempts', unit='att', file=sys.stderr,
                   dynamic_ncols=True)
    with PyBulletPickPlaceSim(sim_config) as sim:
        planner = GraspPlanner(sim_planner_config(sim_config), sim.gripper,
                               T_ee_cam=sim.T_tcp_cam)
        for i, (name, n) in enumerate(levels.items()):
            def on_record(rec, _name=name):
                if bar is not None:
                    bar.set_postfix_str(f'{_name}: {rec.outcome}, left {rec.remaining}')
                    if rec.outcome != 'no_grasp':
                        bar.update(1)
            results.append(run_level(sim, source, planner, level=name, num_objects=n,
                                     seed=seed * 100 + i, config=protocol,
                                     on_record=on_record))
    if bar is not None:
        bar.close()
    return results


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
    p.add_argument('--source', choices=['baseline', 'model'], default='baseline')
    p.add_argument('--config', help='model config (--source model)')
    p.add_argument('--checkpoint', help='model checkpoint (--source model)')
    p.add_argument('--device', default='cpu')
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
    args = p.parse_args(argv)
    for name in args.levels:
        if name not in CLUTTER_LEVELS and args.objects_per_level is None:
            p.error(f'unknown level {name!r}; give --objects-per-level for custom levels')
    if args.objects_per_level is not None and len(args.objects_per_level) != len(args.levels):
        p.error('--objects-per-level needs one count per level')
    if args.source == 'model' and args.checkpoint is None:
        p.error('--source model needs --checkpoint (and --config unless the checkpoint '
                'embeds its config)')
    return args


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
                              strict=not args.non_strict_load)
    except (CheckpointLoadError, FileNotFoundError, ValueError, KeyError,
            TypeError) as err:
        text = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise SystemExit(f'error: cannot use the model: {text}') from None
    sim_cfg = SimConfig(image_scale=args.image_scale,
                        object_ids=tuple(args.object_ids) if args.object_ids else None)
    protocol = ProtocolConfig(max_attempts_per_object=args.max_attempts_per_object,
                              max_total_attempts=args.max_total_attempts,
                              attempt_timeout_s=args.attempt_timeout)
    t0 = time.perf_counter()
    results = run_benchmark(source, levels, seed=args.seed, sim_config=sim_cfg,
                            protocol=protocol, progress=not args.no_progress)
    print(f'source={args.source} backend={args.backend} seed={args.seed} '
          f'({time.perf_counter() - t0:.1f} s)')
    print(format_results_table(results))
    if args.timing:
        print(timing_summary(results))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        write_records(os.path.join(args.out, 'records.jsonl'), results)
        with open(os.path.join(args.out, 'summary.json'), 'w') as f:
            json.dump(dict(args=vars(args), levels=[r.summary() for r in results]), f,
                      indent=2)
        print(f'records written to {args.out}')
    errors = [r.planning_failure for res in results for r in res.records
              if r.planning_failure and r.planning_failure.get('reason') == 'source_error']
    if errors:  # the detector crashed: not a grasping result
        raise SystemExit(f'error: the grasp source failed in {len(errors)} perception '
                         f"step(s): {errors[0].get('message', '')}")
    return results


if __name__ == '__main__':
    main()
