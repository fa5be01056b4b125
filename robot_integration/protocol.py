"""Pick-and-place protocol and metrics (clutter removal into a bin).

One scene of a clutter level: drop ``n`` objects onto the table, wait until they rest
(objects that leave the workspace while the scene is set up are dropped from the count,
with the reason logged), then repeat: wait for rest -> capture -> plan -> execute, until
the scene stops. Rules (GraspContrast's robot protocol, VGN's simulated clutter removal):

* an attempt is one executed pick (pre-grasp, approach, close, lift, transport, release);
  it succeeds when the object held between the fingers ends in the bin (footprint test
  after it settles, :meth:`~robot_integration.sim.PyBulletPickPlaceSim.in_bin`); a contact
  at the pre-grasp pose or a blocked approach is a failed attempt
  (``collision_at_approach``); other failure reasons: ``empty_close``, ``slip``,
  ``missed_bin``, ``out_of_reach``, ``timeout`` (physics step budget), ``wall_timeout``
  (wall-clock ``attempt_timeout_s``, which depends on the machine's load);
* each attempt is charged to its target, the table object nearest to the planned grasp
  point; an object is taken out (``abandoned``, not cleared) after
  ``max_consecutive_failures`` (2) consecutive failed attempts or ``max_attempts_per_object``
  (3) attempts;
* a grasp that repeats a failed one of the same scene (TCP within ``repeat_distance`` and
  approach and closing axes within ``repeat_angle_deg``) is not executed again (the
  sources are deterministic); such rows are counted in the record's funnel;
* the scene stops when no object is left on the table, when ``max_empty_captures`` (2)
  consecutive captures give no executable grasp (``no_grasp`` records, not attempts; one
  object without a grasp does not stop it while another has one), or after
  ``max_total_attempts`` (default 3 per object);
* objects pushed out of the workspace by an attempt stay in the count (not cleared) and are
  logged (``left_workspace``).

Metrics: success rate ``SR = successful attempts / attempts`` (undefined, ``None``, without
attempts) and completion rate ``CR = objects in the bin / objects`` (objects counted after
the scene set-up). :mod:`robot_integration.stats` pools scenes and adds confidence
intervals.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from graspcontrast_mm.structures.grasp import transform_grasp_array

from .pipeline import perceive_and_plan
from .planner import GraspPlanner, tcp_poses_from_grasps

__all__ = [
    'CLUTTER_LEVELS', 'ProtocolConfig', 'AttemptRecord', 'LevelResult', 'run_level',
    'format_results_table', 'write_records', 'RepeatFilter'
]

#: Default clutter levels: name -> number of objects.
CLUTTER_LEVELS: Dict[str, int] = {'low': 3, 'medium': 6, 'high': 10}


@dataclasses.dataclass
class ProtocolConfig:
    """Protocol limits.

    Attributes:
        max_attempts_per_object: Attempts charged to one object before it is taken out.
        max_consecutive_failures: Consecutive failed attempts on one object before it is
            taken out.
        max_total_attempts: Attempts per scene (None: ``max_attempts_per_object * n``).
        max_empty_captures: Consecutive captures without an executable grasp that end a
            scene.
        attempt_timeout_s: Wall-clock limit of one attempt, seconds (None: off).
        repeat_distance: TCP distance under which a grasp repeats a failed one, metres.
        repeat_angle_deg: Axis angle under which a grasp repeats a failed one, degrees.
        ceiling: Count the objects with an executable oracle grasp at the scene start.
        failure_pictures: Folder for a picture of every failed attempt (None: none).
    """
    max_attempts_per_object: int = 3
    max_consecutive_failures: int = 2
    max_total_attempts: Optional[int] = None
    max_empty_captures: int = 2
    attempt_timeout_s: Optional[float] = 60.0
    repeat_distance: float = 0.01
    repeat_angle_deg: float = 20.0
    ceiling: bool = False
    failure_pictures: Optional[str] = None


@dataclasses.dataclass
class AttemptRecord:
    """One record of the per-attempt log (one JSON line).

    Attributes:
        level: Level name.
        index: Record index within the scene.
        outcome: ``'success'``, ``'failure'`` or ``'no_grasp'`` (planning failed: nothing
            executed, not an attempt).
        success: Whether the held object reached the bin.
        failure_reason: Why an attempt failed (see the module docstring), else None.
        scene: Scene index within the level.
        wrong_object: The held object was not the planned target.
        target_obj_id: Library id of the target object (None when unknown).
        target_body: Simulation body of the target.
        held_obj_ids: Library ids of the objects between both fingers after closing.
        cleared_obj_ids: Library ids of the objects that entered the bin.
        lifted: The held object left the table.
        grasp: Planned grasp summary (score, width, approach angle, TCP position) or None.
        planning_failure: :class:`PlanningFailure` as a dict, or None.
        num_grasps: Rows returned by the grasp source.
        funnel: Candidate counts of this capture: the source's stages (when it reports
            them), repeats of failed grasps removed, and the planner's rejections.
        settle: Rest wait before the capture (seconds, whether everything rested).
        events: Scene events of this record (objects that left the workspace, objects
            taken out by the stopping rules).
        remaining: Objects left on the table after the record.
        timings: Seconds: ``observe``, ``perception``, ``planning``, ``execution``.
        steps: Physics steps of the execution.
        picture: Path of the failure picture, or None.
        tcp_offset_from_com: Planned TCP (the point between the finger tips) minus the
            target's centre of mass at the capture, base frame (z up), metres; None
            without a target. A diagnostic of where on the object a source grasps.
    """
    level: str
    index: int
    outcome: str
    success: bool
    failure_reason: Optional[str] = None
    scene: int = 0
    wrong_object: bool = False
    target_obj_id: Optional[int] = None
    target_body: Optional[int] = None
    held_obj_ids: List[int] = dataclasses.field(default_factory=list)
    cleared_obj_ids: List[int] = dataclasses.field(default_factory=list)
    lifted: bool = False
    grasp: Optional[Dict[str, Any]] = None
    planning_failure: Optional[Dict[str, Any]] = None
    num_grasps: int = 0
    funnel: Dict[str, Any] = dataclasses.field(default_factory=dict)
    settle: Dict[str, Any] = dataclasses.field(default_factory=dict)
    events: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
    remaining: int = 0
    timings: Dict[str, float] = dataclasses.field(default_factory=dict)
    steps: int = 0
    picture: Optional[str] = None
    tcp_offset_from_com: Optional[List[float]] = None

    def to_dict(self, with_timings: bool = True) -> dict:
        """JSON-friendly dict (timings are wall-clock and therefore not reproducible)."""
        out = dataclasses.asdict(self)
        if not with_timings:
            out.pop('timings')
            out.get('funnel', {}).pop('timings_s', None)
        return out


@dataclasses.dataclass
class LevelResult:
    """Outcome of one scene of a clutter level.

    Attributes:
        level: Level name.
        num_objects: Objects counted (dropped minus those that left the workspace while
            the scene was set up).
        attempts: Executed attempts.
        successes: Successful attempts.
        cleared: Objects in the bin at the end.
        stop_reason: ``'cleared'`` (every object in the bin), ``'table_empty'`` (no object
            left on the table, some taken out or pushed away), ``'no_grasp'``,
            ``'attempt_limit'`` or ``'no_objects'`` (all left the workspace at set-up).
        records: Per-record log.
        scene: Scene index within the level.
        seed: Scene seed.
        dropped: Objects dropped onto the table.
        setup_events: Objects that left the workspace during the set-up (dropped from the
            count), with reasons.
        graspable_at_start: Objects with an executable oracle grasp at the first capture
            (None when not computed).
        seconds: Wall time of the scene.
    """
    level: str
    num_objects: int
    attempts: int = 0
    successes: int = 0
    cleared: int = 0
    stop_reason: str = ''
    records: List[AttemptRecord] = dataclasses.field(default_factory=list)
    scene: int = 0
    seed: int = 0
    dropped: int = 0
    setup_events: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
    graspable_at_start: Optional[int] = None
    seconds: float = 0.0

    @property
    def success_rate(self) -> Optional[float]:
        """SR = successful attempts / attempts (None without attempts: undefined)."""
        return self.successes / self.attempts if self.attempts else None

    @property
    def completion_rate(self) -> Optional[float]:
        """CR = objects cleared / objects (None without objects)."""
        return self.cleared / self.num_objects if self.num_objects else None

    def failure_reasons(self) -> Dict[str, int]:
        """Failed attempts per reason."""
        out: Dict[str, int] = {}
        for r in self.records:
            if r.outcome == 'failure':
                out[r.failure_reason or 'unknown'] = out.get(r.failure_reason or 'unknown',
                                                             0) + 1
        return out

    def summary(self) -> dict:
        """Metrics as a dict."""
        sr, cr = self.success_rate, self.completion_rate
        return dict(level=self.level, scene=self.scene, seed=self.seed,
                    objects=self.num_objects, dropped=self.dropped,
                    left_workspace_at_setup=len(self.setup_events),
                    attempts=self.attempts, successes=self.successes, cleared=self.cleared,
                    success_rate=None if sr is None else round(sr, 4),
                    completion_rate=None if cr is None else round(cr, 4),
                    stop_reason=self.stop_reason, failure_reasons=self.failure_reasons(),
                    wrong_object=sum(r.wrong_object for r in self.records),
                    graspable_at_start=self.graspable_at_start,
                    seconds=round(self.seconds, 2))


def _grasp_summary(plan) -> Dict[str, Any]:
    return dict(score=round(float(plan.score), 5), width=round(float(plan.width), 5),
                open_width=round(float(plan.open_width), 5),
                approach_angle_deg=round(float(plan.approach_angle_deg), 3),
                tcp=np.round(plan.grasp[:3, 3], 5).tolist(), source_index=int(plan.index),
                centre_offset=None if plan.centre_offset is None else
                round(float(plan.centre_offset), 5),
                jaw_contact=None if plan.jaw_contact is None else
                {k: (round(float(v), 5) if np.isfinite(v) else None)
                 for k, v in plan.jaw_contact.items()})


class RepeatFilter:
    """Grasp-source wrapper that drops rows repeating a failed grasp.

    A row repeats a failed grasp when its TCP (base frame) is within ``distance`` of the
    failed TCP and both its approach axis and its closing axis (up to sign: the jaws are
    symmetric) are within ``angle_deg`` of the failed ones.

    Args:
        source: The wrapped grasp source.
        distance: TCP distance, metres.
        angle_deg: Axis angle, degrees.
    """

    def __init__(self, source: Any, distance: float = 0.01, angle_deg: float = 20.0) -> None:
        self.source = source
        self.distance = float(distance)
        self.cos = float(np.cos(np.radians(angle_deg)))
        self.failed: List[np.ndarray] = []  # T_base_tcp of failed attempts
        self.T_base_cam: Optional[np.ndarray] = None
        self.removed = 0
        self.wants_workspace_mask = getattr(source, 'wants_workspace_mask', False)

    @property
    def last_info(self) -> Dict[str, Any]:
        return getattr(self.source, 'last_info', {}) or {}

    def repeats(self, grasps_cam: np.ndarray) -> np.ndarray:
        """bool (N,) rows that repeat a failed grasp."""
        n = len(grasps_cam)
        if not self.failed or n == 0 or self.T_base_cam is None:
            return np.zeros(n, bool)
        tcp = tcp_poses_from_grasps(transform_grasp_array(grasps_cam, self.T_base_cam))
        bad = np.zeros(n, bool)
        for T in self.failed:
            near = np.linalg.norm(tcp[:, :3, 3] - T[:3, 3], axis=1) < self.distance
            same_a = tcp[:, :3, 0] @ T[:3, 0] > self.cos
            same_b = np.abs(tcp[:, :3, 1] @ T[:3, 1]) > self.cos
            bad |= near & same_a & same_b
        return bad

    def predict(self, depth_m, K, mask=None) -> np.ndarray:
        from .grasp_sources import as_grasp_array
        if mask is not None:
            rows = as_grasp_array(self.source.predict(depth_m, K, mask=mask))
        else:
            rows = as_grasp_array(self.source.predict(depth_m, K))
        bad = self.repeats(rows)
        self.removed = int(bad.sum())
        return rows[~bad]


#: ``GraspInferencer`` summary keys -> funnel names, in pipeline order: input points,
#: sampled points, points through GSNet's graspness gate, decoded grasps, after NMS,
#: rejected by the collision filter, dropped on / below the support plane, returned.
_MODEL_STAGES = (('num_scene_points', 'input_points'), ('num_sampled_points', 'sampled_points'),
                 ('num_graspable', 'graspness_gate'), ('num_grasps_model', 'raw_predictions'),
                 ('num_grasps_nms', 'after_nms'), ('num_collisions', 'collision_rejected'),
                 ('num_below_support_plane', 'below_support_plane'),
                 ('num_grasps', 'returned'))


def _funnel(source: Any, pick, removed: int) -> Dict[str, Any]:
    """Candidate counts of one capture, from the source's own report to the planner."""
    info = dict(getattr(source, 'last_info', {}) or {})
    out: Dict[str, Any] = {}
    summary = info.get('summary') or {}
    for key, name in _MODEL_STAGES:
        if summary.get(key) is not None:
            out[name] = summary[key]
    if summary.get('timings_s'):
        out['timings_s'] = summary['timings_s']
    for key in ('workspace_pixels', 'object_points', 'objects_with_grasps'):
        if key in info:
            out[key] = info[key]
    out['source_rows'] = int(pick.num_grasps) + int(removed)
    out['repeat_of_failure'] = int(removed)
    out['planner_candidates'] = int(pick.num_grasps)
    counts = dict(getattr(pick, 'planner_counts', {}) or {})
    out['planner_rejected'] = {k: int(v) for k, v in counts.items() if v}
    out['planned'] = int(bool(pick.ok))
    return out


def run_level(sim, source: Any, planner: GraspPlanner, *, level: str, num_objects: int,
              seed: int, config: Optional[ProtocolConfig] = None,
              on_record: Optional[Callable[[AttemptRecord], None]] = None,
              scene: int = 0) -> LevelResult:
    """Run one scene of a clutter level in the simulation.

    Args:
        sim: :class:`~robot_integration.sim.PyBulletPickPlaceSim`.
        source: Grasp source (``predict(depth_m, K, mask=None)``); a source with ``bind``
            (the oracle) is bound to ``sim``.
        planner: Planner calibrated for the simulated camera.
        level: Level name (recorded).
        num_objects: Objects to drop.
        seed: Scene seed.
        config: Protocol limits.
        on_record: Called after every record (progress display).
        scene: Scene index (recorded).

    Returns:
        LevelResult
    """
    cfg = config or ProtocolConfig()
    t_start = time.perf_counter()
    if hasattr(source, 'bind'):
        source.bind(sim)
    sim.capture_failure_pictures = bool(cfg.failure_pictures)
    sim.reset_scene(num_objects, seed=seed)
    setup_events = [e for e in sim.events if e.get('event') == 'left_workspace']
    counted = num_objects - len(setup_events)
    result = LevelResult(level, counted, scene=scene, seed=int(seed), dropped=num_objects,
                         setup_events=setup_events)
    max_total = cfg.max_total_attempts or cfg.max_attempts_per_object * max(counted, 1)
    wrapped = RepeatFilter(source, cfg.repeat_distance, cfg.repeat_angle_deg)
    wrapped.T_base_cam = sim.camera_pose()
    index, empty_captures = 0, 0
    counted_bodies = set(sim.remaining())
    while True:
        remaining = sim.remaining()
        if not remaining:
            in_bin = sum(sim.objects[b]['state'] == 'bin' for b in counted_bodies)
            result.stop_reason = ('no_objects' if not counted else
                                  'cleared' if in_bin == counted else 'table_empty')
            break
        if result.attempts >= max_total:
            result.stop_reason = 'attempt_limit'
            break
        settle = sim.settle_scene(phase='capture')
        events = settle.pop('left_workspace')
        if not sim.remaining():
            continue
        t0 = time.perf_counter()
        obs = sim.observe()
        t_obs = time.perf_counter() - t0
        if cfg.ceiling and result.graspable_at_start is None:
            from .calibration_sources import oracle_graspable
            result.graspable_at_start = oracle_graspable(sim, planner, obs)['graspable']
        pick = perceive_and_plan(obs, wrapped, planner)
        timings = dict(observe=t_obs, **pick.timings, execution=0.0)
        funnel = _funnel(source, pick, wrapped.removed)
        if not pick.ok:
            empty_captures += 1
            rec = AttemptRecord(level, index, 'no_grasp', False, scene=scene,
                                planning_failure=pick.result.to_dict(),
                                num_grasps=pick.num_grasps, funnel=funnel, settle=settle,
                                events=events, remaining=len(remaining), timings=timings)
            result.records.append(rec)
            index += 1
            if on_record:
                on_record(rec)
            if empty_captures >= cfg.max_empty_captures:
                result.stop_reason = 'no_grasp'
                break
            continue
        empty_captures = 0
        plan = pick.result
        target = sim.nearest_object(plan.grasp_row_base[13:16])
        offset = None if target is None else np.round(
            plan.grasp[:3, 3] - sim.object_position(target), 5).tolist()
        t1 = time.perf_counter()
        out = sim.execute_pick(plan, target=target)
        timings['execution'] = time.perf_counter() - t1
        reason = out.get('failure_reason')
        success = bool(out.get('success'))
        if cfg.attempt_timeout_s is not None and sum(timings.values()) > cfg.attempt_timeout_s:
            success, reason = False, 'wall_timeout'  # wall clock: not reproducible
        if not success and reason is None:
            reason = 'unknown'
        result.attempts += 1
        result.successes += int(success)
        if not success:
            wrapped.failed.append(plan.grasp.copy())
        rule_events = []
        if target is not None:
            info = sim.objects[target]
            info['attempts'] += 1
            info['consecutive_failures'] = 0 if success else info['consecutive_failures'] + 1
            if info['state'] == 'table' and (
                    info['attempts'] >= cfg.max_attempts_per_object or
                    info['consecutive_failures'] >= cfg.max_consecutive_failures):
                sim.remove_object(target, 'abandoned')
                rule_events.append(dict(event='abandoned', body=int(target),
                                        obj_id=info['obj_id'], attempts=info['attempts'],
                                        consecutive_failures=info['consecutive_failures']))
        picture = None
        if not success and cfg.failure_pictures and out.get('picture') is not None:
            picture = _write_picture(cfg.failure_pictures, level, scene, index,
                                     out['picture'])
        rec = AttemptRecord(
            level, index, 'success' if success else 'failure', success,
            failure_reason=None if success else reason, scene=scene,
            wrong_object=bool(out.get('wrong_object')),
            target_obj_id=None if target is None else sim.objects[target]['obj_id'],
            target_body=target,
            held_obj_ids=[sim.objects[b]['obj_id'] for b in out.get('held', [])],
            cleared_obj_ids=[sim.objects[b]['obj_id'] for b in out['new_in_bin']],
            lifted=bool(out['lifted']), grasp=_grasp_summary(plan),
            num_grasps=pick.num_grasps, funnel=funnel, settle=settle,
            events=events + list(out.get('left_workspace', [])) + rule_events,
            remaining=len(sim.remaining()), timings=timings, steps=int(out['steps']),
            picture=picture, tcp_offset_from_com=offset)
        result.records.append(rec)
        if on_record:
            on_record(rec)
        index += 1
    result.cleared = sum(1 for b, info in sim.objects.items()
                         if info['state'] == 'bin' and b in counted_bodies)
    result.seconds = time.perf_counter() - t_start
    return result


def _write_picture(folder: str, level: str, scene: int, index: int, image) -> str:
    import cv2
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f'{level}_scene{scene:03d}_attempt{index:03d}.png')
    cv2.imwrite(path, np.ascontiguousarray(image[..., ::-1]))
    return path


def _fmt(value: Optional[float]) -> str:
    return 'n/a' if value is None else f'{value:.3f}'


def format_results_table(results: Sequence[LevelResult]) -> str:
    """Plain-text table of SR and CR per scene result (and pooled over all)."""
    head = f"{'level':<8}{'scene':>6}{'objects':>8}{'attempts':>9}{'success':>8}" \
           f"{'cleared':>8}{'SR':>8}{'CR':>8}  stop"
    lines = [head, '-' * len(head)]
    tot = LevelResult('all', 0)
    for r in results:
        lines.append(f'{r.level:<8}{r.scene:>6}{r.num_objects:>8}{r.attempts:>9}'
                     f'{r.successes:>8}{r.cleared:>8}{_fmt(r.success_rate):>8}'
                     f'{_fmt(r.completion_rate):>8}  {r.stop_reason}')
        tot.num_objects += r.num_objects
        tot.attempts += r.attempts
        tot.successes += r.successes
        tot.cleared += r.cleared
    if len(results) > 1:
        lines.append(f'{tot.level:<8}{"":>6}{tot.num_objects:>8}{tot.attempts:>9}'
                     f'{tot.successes:>8}{tot.cleared:>8}{_fmt(tot.success_rate):>8}'
                     f'{_fmt(tot.completion_rate):>8}')
    return '\n'.join(lines)


def write_records(path: str, results: Sequence[LevelResult], mode: str = 'w') -> None:
    """Write every record as one JSON line."""
    with open(path, mode) as f:
        for r in results:
            for rec in r.records:
                f.write(json.dumps(rec.to_dict()) + '\n')
