"""Time per pick attempt, split into observation (depth rendering / capture), perception
(grasp source), planning and execution.

Example::

    python robot_integration/bench_pick_and_place.py --source baseline --levels medium

Takes the arguments of :mod:`robot_integration.pick_and_place` and prints mean / median /
max milliseconds per stage over every executed attempt (planning failures excluded).
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

import numpy as np

from robot_integration.pick_and_place import main as run_main

__all__ = ['stage_table', 'main']

STAGES = ('observe', 'perception', 'planning', 'execution')


def stage_table(results) -> str:
    """Mean / median / max milliseconds per stage over executed attempts."""
    recs = [r for res in results for r in res.records if r.outcome != 'no_grasp']
    if not recs:
        return 'no executed attempt'
    lines = [f"{'stage':<12}{'mean ms':>10}{'median ms':>11}{'max ms':>10}"]
    total = np.zeros(len(recs))
    for k in STAGES:
        t = np.array([r.timings.get(k, 0.0) for r in recs]) * 1000
        total += t
        lines.append(f'{k:<12}{t.mean():>10.1f}{np.median(t):>11.1f}{t.max():>10.1f}')
    lines.append(f"{'total':<12}{total.mean():>10.1f}{np.median(total):>11.1f}"
                 f'{total.max():>10.1f}')
    return f'{len(recs)} attempts\n' + '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Run the benchmark and print the stage timings."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if '--no-progress' not in argv:
        argv.append('--no-progress')
    results = run_main(argv)
    print(stage_table(results))


if __name__ == '__main__':
    main()
