"""Markdown tables of finished benchmark runs, pooled over clutter levels.

Reads the ``summary.json`` written by ``pick_and_place.py --out DIR`` and prints, per source
of each run, one row per level and a pooled row over all levels: scenes, objects, attempts,
SR and CR with 95% Wilson intervals (``robot_integration.stats.wilson_interval``), the
graspability ceiling and the failure reasons; with ``--pooled-only`` the pooled rows alone,
plus the number of captures without an executable grasp. A run still being written
(``partial: true``) is marked ``PARTIAL``.

Usage::

    python robot_integration/summarize_runs.py 'baseline=work_dirs/pick_and_place/baseline' \\
        'robot FNE=work_dirs/pick_and_place/robot_fne' [--pooled-only]

Each argument is ``LABEL=PATH`` (or a path alone, labelled by its folder name); ``PATH`` is a
``summary.json`` or the folder holding one.
"""
from __future__ import annotations

import argparse
import json
import os.path as osp
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

from robot_integration.stats import wilson_interval

HEADER = ('| source | level | scenes | objects | attempts | SR % [95% CI] | CR % [95% CI] | '
          'ceil % | failures |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
POOLED_HEADER = ('| source | scenes | objects | attempts | SR % [95% CI] | CR % [95% CI] | '
                 'failures | no-grasp captures |\n'
                 '| --- | --- | --- | --- | --- | --- | --- | --- |')


def parse_run(spec: str) -> Tuple[str, str]:
    """``'LABEL=PATH'`` or ``'PATH'`` -> ``(label, summary.json path)``; a missing file is a
    ``FileNotFoundError`` naming it."""
    label, sep, path = spec.partition('=')
    if not sep:
        label, path = '', spec
    if osp.isdir(path):
        path = osp.join(path, 'summary.json')
    if not osp.isfile(path):
        raise FileNotFoundError(f'no benchmark summary at {path!r}')
    return label or osp.basename(osp.dirname(osp.abspath(path))), path


def _rate(successes: int, trials: int) -> str:
    if not trials:
        return 'n/a'
    lo, hi = wilson_interval(successes, trials)
    return f'{100 * successes / trials:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]'


def _failures(reasons: Dict[str, int], wrong: int = 0) -> str:
    text = ', '.join(f'{k} {v}' for k, v in sorted(reasons.items())) or '-'
    return text + (f' (wrong object {wrong})' if wrong else '')


def pooled(levels: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Sums over the level dicts of ``summary.json`` (``stats.aggregate_level``)."""
    out: Dict[str, Any] = {k: sum(int(l[k]) for l in levels)
                           for k in ('scenes', 'objects', 'attempts', 'successes', 'cleared')}
    for key in ('wrong_object', 'no_grasp_captures'):  # absent from older summaries
        out[key] = sum(int(l.get(key, 0)) for l in levels)
    reasons: Dict[str, int] = {}
    for level in levels:
        for key, value in level.get('failure_reasons', {}).items():
            reasons[key] = reasons.get(key, 0) + int(value)
    out['failure_reasons'] = reasons
    return out


def tables(runs: Sequence[Tuple[str, str]], pooled_only: bool = False) -> str:
    """The Markdown table of ``runs`` (``(label, summary.json path)``)."""
    lines: List[str] = [POOLED_HEADER if pooled_only else HEADER]
    for label, path in runs:
        with open(path) as f:
            summary = json.load(f)
        sources = summary.get('sources') or {}
        if not sources:
            raise ValueError(f'{path}: no source results in this summary')
        for source, result in sources.items():
            name = label if len(sources) == 1 else f'{label} / {source}'
            mark = ' PARTIAL' if result.get('partial') else ''
            levels = result.get('levels')
            if not levels:
                raise ValueError(f'{path}: source {source!r} has no level results')
            try:
                total = pooled(levels)
            except KeyError as err:
                raise ValueError(f'{path}: source {source!r}: a level lacks {err}') from None
            if pooled_only:
                lines.append(
                    f"| {name}{mark} | {total['scenes']} | {total['objects']} | "
                    f"{total['attempts']} | {_rate(total['successes'], total['attempts'])} | "
                    f"{_rate(total['cleared'], total['objects'])} | "
                    f"{_failures(total['failure_reasons'])} | "
                    f"{total['no_grasp_captures']} |")
                continue
            for level in levels:
                ceil = level.get('graspable_at_start')
                lines.append(
                    f"| {name}{mark} | {level['level']} | {level['scenes']} | "
                    f"{level['objects']} | {level['attempts']} | "
                    f"{_rate(level['successes'], level['attempts'])} | "
                    f"{_rate(level['cleared'], level['objects'])} | "
                    f"{'-' if ceil is None else f'{100 * ceil:.1f}'} | "
                    f"{_failures(level['failure_reasons'], level.get('wrong_object', 0))} |")
            lines.append(
                f"| **{name}**{mark} | all | {total['scenes']} | {total['objects']} | "
                f"{total['attempts']} | {_rate(total['successes'], total['attempts'])} | "
                f"{_rate(total['cleared'], total['objects'])} | | |")
    return '\n'.join(lines) + '\n'


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('runs', nargs='+', metavar='[LABEL=]PATH',
                   help='benchmark output folders (or their summary.json)')
    p.add_argument('--pooled-only', action='store_true',
                   help='one row per source: pooled over the levels')
    args = p.parse_args(argv)
    try:
        runs = [parse_run(spec) for spec in args.runs]
        sys.stdout.write(tables(runs, pooled_only=args.pooled_only))
    except (OSError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
