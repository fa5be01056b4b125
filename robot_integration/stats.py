"""Statistics of the simulated benchmark: pooled SR / CR per level with 95% confidence
intervals, attempt counts, failure reasons, stop reasons.

SR pools the attempts of all scenes of a level (``successes / attempts``), CR pools the
objects (``cleared / objects``); both come with Wilson score intervals (binomial, 95%,
``z = 1.96``), which stay inside [0, 1] and behave at 0 / n and n / n, where the normal
approximation does not. Attempts of one scene are not independent (same clutter), so the
intervals are somewhat optimistic; the scene count (>= 20 by default) keeps that effect
small. A level without attempts has SR ``None`` (undefined), not 0.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

__all__ = ['wilson_interval', 'aggregate_level', 'format_level_table']


def wilson_interval(successes: int, trials: int,
                    z: float = 1.959963984540054) -> Tuple[Optional[float], Optional[float]]:
    """Wilson score interval of a binomial proportion.

    Args:
        successes: Successes ``k`` (0 <= k <= n).
        trials: Trials ``n``.
        z: Normal quantile (1.96: 95%).

    Returns:
        tuple: ``(low, high)``, or ``(None, None)`` when ``n == 0``.

    Raises:
        ValueError: ``k`` outside ``[0, n]``.
    """
    k, n = int(successes), int(trials)
    if n < 0 or k < 0 or k > n:
        raise ValueError(f'need 0 <= successes <= trials, got {k} of {n}')
    if n == 0:
        return None, None
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _count(items) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return dict(sorted(out.items()))


def aggregate_level(results: Sequence[Any]) -> Dict[str, Any]:
    """Pool the scene results (:class:`~robot_integration.protocol.LevelResult`) of a level.

    Returns:
        dict: ``level``, ``scenes``, ``objects``, ``attempts``, ``successes``, ``cleared``,
        ``success_rate`` / ``completion_rate`` (None when undefined) with ``*_ci95``
        ``[low, high]``, ``failure_reasons``, ``wrong_object``, ``stop_reasons``,
        ``no_grasp_captures``, ``left_workspace_at_setup`` / ``left_workspace_later``,
        ``abandoned``, ``settle_timeouts``, ``graspable_at_start`` (share of objects with an
        executable oracle grasp at the first capture, when computed), ``attempts_per_scene``
        and ``seconds``.
    """
    results = list(results)
    objects = sum(r.num_objects for r in results)
    attempts = sum(r.attempts for r in results)
    successes = sum(r.successes for r in results)
    cleared = sum(r.cleared for r in results)
    records = [rec for r in results for rec in r.records]
    sr_ci = wilson_interval(successes, attempts)
    cr_ci = wilson_interval(cleared, objects)
    events = [e for rec in records for e in rec.events]
    graspable = [r.graspable_at_start for r in results if r.graspable_at_start is not None]
    grasp_objects = sum(r.num_objects for r in results if r.graspable_at_start is not None)
    return dict(
        level=results[0].level if results else '',
        scenes=len(results), objects=objects, attempts=attempts, successes=successes,
        cleared=cleared,
        success_rate=None if not attempts else round(successes / attempts, 4),
        success_rate_ci95=[None if v is None else round(v, 4) for v in sr_ci],
        completion_rate=None if not objects else round(cleared / objects, 4),
        completion_rate_ci95=[None if v is None else round(v, 4) for v in cr_ci],
        failure_reasons=_count(rec.failure_reason for rec in records
                               if rec.outcome == 'failure'),
        wrong_object=sum(bool(rec.wrong_object) for rec in records),
        stop_reasons=_count(r.stop_reason for r in results),
        no_grasp_captures=sum(rec.outcome == 'no_grasp' for rec in records),
        left_workspace_at_setup=sum(len(r.setup_events) for r in results),
        left_workspace_later=sum(e.get('event') == 'left_workspace' for e in events),
        abandoned=sum(e.get('event') == 'abandoned' for e in events),
        settle_timeouts=sum(not rec.settle.get('resting', True) for rec in records),
        graspable_at_start=(None if not grasp_objects else
                            round(sum(graspable) / grasp_objects, 4)),
        attempts_per_scene=None if not results else round(attempts / len(results), 2),
        seconds=round(sum(r.seconds for r in results), 1))


def _pct(v: Optional[float]) -> str:
    return ' n/a ' if v is None else f'{100 * v:5.1f}'


def _ci(ci: Sequence[Optional[float]]) -> str:
    lo, hi = ci
    return '[  n/a  ]' if lo is None else f'[{100 * lo:4.1f},{100 * hi:5.1f}]'


def format_level_table(rows: Sequence[Dict[str, Any]], source: str = '') -> str:
    """Plain-text table of :func:`aggregate_level` dicts (percentages, 95% CI)."""
    head = (f"{'source':<10}{'level':<8}{'scenes':>7}{'objects':>8}{'attempts':>9}"
            f"{'SR %':>7} {'95% CI':<13}{'CR %':>6} {'95% CI':<13}{'ceil %':>7}  failures")
    lines = [head, '-' * len(head)]
    for row in rows:
        fails = ', '.join(f'{k} {v}' for k, v in row['failure_reasons'].items()) or '-'
        if row.get('wrong_object'):
            fails += f" (wrong object {row['wrong_object']})"
        lines.append(
            f"{source:<10}{row['level']:<8}{row['scenes']:>7}{row['objects']:>8}"
            f"{row['attempts']:>9}{_pct(row['success_rate']):>7} "
            f"{_ci(row['success_rate_ci95']):<13}{_pct(row['completion_rate']):>6} "
            f"{_ci(row['completion_rate_ci95']):<13}{_pct(row['graspable_at_start']):>7}  "
            f'{fails}')
    return '\n'.join(lines)
