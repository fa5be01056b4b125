"""Pick-and-place protocol and metrics (clutter removal into a bin).

One clutter level: drop ``n`` objects onto the table, then repeat observe -> plan ->
execute until the table is clear or the level stops. Rules:

* an attempt is one executed pick (pre-grasp, approach, close, lift, move over the bin,
  release); it succeeds when at least one object ends in the bin;
* each attempt is charged to its target object (the table object nearest to the planned
  TCP); an object that has used ``max_attempts_per_object`` attempts (3, as in the
  GraspContrast robot experiment) without being cleared is taken out of the scene;
* the level stops when no object is left, when the planner finds no executable grasp
  (recorded as a ``no_grasp`` record, not an attempt), or after ``max_total_attempts``;
* an attempt that exceeds the physics-step budget or ``attempt_timeout_s`` of wall time is
  a failure with outcome ``timeout``; a motion refused by the safety limits is a failure
  with outcome ``refused``.

Metrics per level: success rate ``SR = successful attempts / attempts`` (0 when there was
no attempt) and completion rate ``CR = objects in the bin / objects``.
"""
from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from .pipeline import perceive_and_plan
from .planner import GraspPlanner

__all__ = [
    'CLUTTER_LEVELS', 'ProtocolConfig', 'AttemptRecord', 'LevelResult', 'run_level',
    'format_results_table', 'write_records'
]

#: Default clutter levels: name -> number of objects.
CLUTTER_LEVELS: Dict[str, int] = {'low': 3, 'medium': 6, 'high': 10}


@dataclasses.dataclass
class ProtocolConfig:
    """Protocol limits.

    Attributes:
        max_attempts_per_object: Attempts charged to one object before it is taken out.
        max_total_attempts: Attempts per level (None: ``max_attempts_per_object * n``).
        attempt_timeout_s: Wall-clock limit of one attempt, seconds (None: off).
    """
    max_attempts_per_object: int = 3
    max_total_attempts: Optional[int] = None
    attempt_timeout_s: Optional[float] = 60.0


@dataclasses.dataclass
class AttemptRecord:
    """One record of the per-attempt log (one JSON line).

    Attributes:
        level: Level name.
        index: Record index within the level.
        outcome: ``'success'``, ``'failure'``, ``'timeout'``, ``'refused'`` or
            ``'no_grasp'`` (planning failed: nothing executed, not an attempt).
        success: Whether an object reached the bin.
        target_obj_id: Library id of the target object (None when unknown).
        target_body: Simulation body of the target.
        cleared_obj_ids: Library ids of the objects that entered the bin.
        lifted: An object was above the lift-check height after the lift.
        grasp: Planned grasp summary (score, width, approach angle, TCP position) or None.
        planning_failure: :class:`PlanningFailure` as a dict, or None.
        num_grasps: Rows returned by the grasp source.
        remaining: Objects left on the table after the record.
        timings: Seconds: ``observe``, ``perception``, ``planning``, ``execution``.
        steps: Physics steps of the execution.
    """
    level: str
    index: int
    outcome: str
    success: bool
    target_obj_id: Optional[int] = None
    target_body: Optional[int] = None
    cleared_obj_ids: List[int] = dataclasses.field(default_factory=list)
    lifted: bool = False
    grasp: Optional[Dict[str, Any]] = None
    planning_failure: Optional[Dict[str, Any]] = None
    num_grasps: int = 0
    remaining: int = 0
    timings: Dict[str, float] = dataclasses.field(default_factory=dict)
    steps: int = 0

    def to_dict(self, with_timings: bool = True) -> dict:
        """JSON-friendly dict (timings are wall-clock and therefore not reproducible)."""
        out = dataclasses.asdict(self)
        if not with_timings:
            out.pop('timings')
        return out


@dataclasses.dataclass
class LevelResult:
    """Outcome of one clutter level.

    Attributes:
        level: Level name.
        num_objects: Objects dropped.
        attempts: Executed attempts.
        successes: Successful attempts.
        cleared: Objects in the bin at the end.
        stop_reason: ``'cleared'``, ``'no_grasp'``, ``'attempt_limit'`` or ``'no_objects'``.
        records: Per-record log.
    """
    level: str
    num_objects: int
    attempts: int = 0
    successes: int = 0
    cleared: int = 0
    stop_reason: str = ''
    records: List[AttemptRecord] = dataclasses.field(default_factory=list)

    @property
    def success_rate(self) -> float:
        """SR = successful attempts / attempts (0 without attempts)."""
        return self.successes / self.attempts if self.attempts else 0.0

    @property
    def completion_rate(self) -> float:
        """CR = objects cleared / objects."""
        return self.cleared / self.num_objects if self.num_objects else 0.0

    def summary(self) -> dict:
        """Metrics as a dict."""
        return dict(level=self.level, objects=self.num_objects, attempts=self.attempts,
                    successes=self.successes, cleared=self.cleared,
                    success_rate=round(self.success_rate, 4),
                    completion_rate=round(self.completion_rate, 4),
                    stop_reason=self.stop_reason)


def _grasp_summary(plan) -> Dict[str, Any]:
    return dict(score=round(float(plan.score), 5), width=round(float(plan.width), 5),
                open_width=round(float(plan.open_width), 5),
                approach_angle_deg=round(float(plan.approach_angle_deg), 3),
                tcp=np.round(plan.grasp[:3, 3], 5).tolist(), source_index=int(plan.index))


def run_level(sim, source: Any, planner: GraspPlanner, *, level: str, num_objects: int,
              seed: int, config: Optional[ProtocolConfig] = None,
              on_record: Optional[Callable[[AttemptRecord], None]] = None) -> LevelResult:
    """Run one clutter level in the simulation.

    Args:
        sim: :class:`~robot_integration.sim.PyBulletPickPlaceSim`.
        source: Grasp source (``predict(depth_m, K, mask=None)``).
        planner: Planner calibrated for the simulated camera.
        level: Level name (recorded).
        num_objects: Objects to drop.
        seed: Scene seed.
        config: Protocol limits.
        on_record: Called after every record (progress display).

    Returns:
        LevelResult
    """
    cfg = config or ProtocolConfig()
    max_total = cfg.max_total_attempts or cfg.max_attempts_per_object * max(num_objects, 1)
    sim.reset_scene(num_objects, seed=seed)
    result = LevelResult(level, num_objects)
    index = 0
    while True:
        remaining = sim.remaining()
        if not remaining:
            result.stop_reason = 'cleared'
            break
        if result.attempts >= max_total:
            result.stop_reason = 'attempt_limit'
            break
        t0 = time.perf_counter()
        obs = sim.observe()
        t_obs = time.perf_counter() - t0
        pick = perceive_and_plan(obs, source, planner)
        timings = dict(observe=t_obs, **pick.timings, execution=0.0)
        if not pick.ok:
            rec = AttemptRecord(level, index, 'no_grasp', False,
                                planning_failure=pick.result.to_dict(),
                                num_grasps=pick.num_grasps, remaining=len(remaining),
                                timings=timings)
            result.records.append(rec)
            if on_record:
                on_record(rec)
            result.stop_reason = 'no_grasp'
            break
        plan = pick.result
        target = sim.nearest_object(plan.grasp[:3, 3])
        t1 = time.perf_counter()
        out = sim.execute_pick(plan)
        timings['execution'] = time.perf_counter() - t1
        cleared = [sim.objects[b]['obj_id'] for b in out['new_in_bin']]
        success = bool(cleared)
        if out.get('timeout') or (cfg.attempt_timeout_s is not None and
                                  sum(timings.values()) > cfg.attempt_timeout_s):
            outcome, success = 'timeout', False
        elif 'refused' in out:
            outcome = 'refused'
        else:
            outcome = 'success' if success else 'failure'
        result.attempts += 1
        result.successes += int(success)
        if target is not None:
            sim.objects[target]['attempts'] += 1
            info = sim.objects[target]
            if info['state'] == 'table' and info['attempts'] >= cfg.max_attempts_per_object:
                sim.remove_object(target, 'abandoned')
        rec = AttemptRecord(level, index, outcome, success,
                            target_obj_id=None if target is None else sim.objects[target]['obj_id'],
                            target_body=target, cleared_obj_ids=cleared,
                            lifted=bool(out['lifted']), grasp=_grasp_summary(plan),
                            num_grasps=pick.num_grasps, remaining=len(sim.remaining()),
                            timings=timings, steps=int(out['steps']))
        result.records.append(rec)
        if on_record:
            on_record(rec)
        index += 1
    result.cleared = sum(1 for info in sim.objects.values() if info['state'] == 'bin')
    return result


def format_results_table(results: Sequence[LevelResult]) -> str:
    """Plain-text table of SR and CR per level (and over all levels)."""
    head = f"{'level':<8}{'objects':>8}{'attempts':>9}{'success':>8}{'cleared':>8}" \
           f"{'SR':>8}{'CR':>8}  stop"
    lines = [head, '-' * len(head)]
    tot = LevelResult('all', 0)
    for r in results:
        lines.append(f'{r.level:<8}{r.num_objects:>8}{r.attempts:>9}{r.successes:>8}'
                     f'{r.cleared:>8}{r.success_rate:>8.3f}{r.completion_rate:>8.3f}  '
                     f'{r.stop_reason}')
        tot.num_objects += r.num_objects
        tot.attempts += r.attempts
        tot.successes += r.successes
        tot.cleared += r.cleared
    if len(results) > 1:
        lines.append(f'{tot.level:<8}{tot.num_objects:>8}{tot.attempts:>9}{tot.successes:>8}'
                     f'{tot.cleared:>8}{tot.success_rate:>8.3f}{tot.completion_rate:>8.3f}')
    return '\n'.join(lines)


def write_records(path: str, results: Sequence[LevelResult]) -> None:
    """Write every record as one JSON line."""
    with open(path, 'w') as f:
        for r in results:
            for rec in r.records:
                f.write(json.dumps(rec.to_dict()) + '\n')
