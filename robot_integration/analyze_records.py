"""Where a grasp source wins and loses in the simulated benchmark, from its records.

Reads the ``records.jsonl`` written by ``pick_and_place.py --out DIR`` (one line per
capture) and prints, per source, Markdown tables of:

* outcomes: captures, executed attempts, successes and failure reasons, captures without an
  executable grasp;
* per object: attempts on each object (the planned target) and the share of success, slip
  and empty close;
* geometry of the executed grasps by outcome: median approach angle from straight down
  (degrees), horizontal distance of the planned TCP from the target's centre of mass
  (``tcp_offset_from_com``, cm), predicted width (m), score, grip depth (how far the finger
  tips reach below the highest observed point between the jaws, cm) and the held span (the
  extent of those points along the closing axis, cm) and the face angle (degrees), the
  last three from the planner's ``jaw_contact`` (records written before it have none:
  ``-``);
* the candidate funnel, mean per capture: the detector's stages (points through the
  graspness gate, after NMS, collision filter, support plane) and the planner's rejections.

Usage::

    python robot_integration/analyze_records.py work_dirs/pick_and_place/baseline \\
        work_dirs/pick_and_place/fne_default [--json OUT.json]

A path is a ``records.jsonl`` file or a folder holding one (searched one level down too, as
``--calibration`` writes one folder per source).
"""
from __future__ import annotations

import argparse
import os
import glob
import json
import os.path as osp
import sys
from collections import Counter, OrderedDict
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np

ATTEMPT_OUTCOMES = ('success', 'failure')
#: failure reasons reported per object, in this order
OBJECT_REASONS = ('slip', 'empty_close', 'collision_at_approach')


def find_record_files(paths: Sequence[str]) -> List[str]:
    """``records.jsonl`` files named by ``paths`` (files, or folders holding one at their
    top or one level down). Raises ``FileNotFoundError`` naming a path without any."""
    files: List[str] = []
    for path in paths:
        if osp.isfile(path):
            files.append(path)
            continue
        found = sorted(glob.glob(osp.join(path, 'records.jsonl')) +
                       glob.glob(osp.join(path, '*', 'records.jsonl')))
        if not found:
            raise FileNotFoundError(f'no records.jsonl in {path!r}')
        files.extend(found)
    return files


def load_records(files: Iterable[str]) -> List[Dict[str, Any]]:
    """Every capture record of ``files``; a line that is not a JSON object is an error
    naming the file and line. With several files, each record's ``source`` is prefixed
    with the name of its file's folder (``run/source``), so that runs of the same source
    stay apart."""
    files = list(files)
    out: List[Dict[str, Any]] = []
    for path in files:
        run = osp.basename(osp.dirname(osp.abspath(path)))
        with open(path) as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f'{path}:{number}: not JSON ({err.msg})') from None
                if not isinstance(record, dict) or 'outcome' not in record:
                    raise ValueError(f'{path}:{number}: not a capture record')
                if len(files) > 1:
                    record['source'] = f"{run}/{record.get('source', '?')}"
                out.append(record)
    return out


def _median(values: Sequence[float]) -> Optional[float]:
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.median(values)) if values else None


def _horizontal_offset_cm(record: Dict[str, Any]) -> Optional[float]:
    offset = record.get('tcp_offset_from_com')
    if offset is None or len(offset) < 2:
        return None
    return 100.0 * float(np.hypot(offset[0], offset[1]))


def _grip_depth_cm(grasp: Dict[str, Any]) -> Optional[float]:
    """How far the finger tips reach below the highest observed point between the jaws,
    cm (``-x_lo`` of the planner's ``jaw_contact``); None for records without it."""
    x_lo = (grasp.get('jaw_contact') or {}).get('x_lo')
    return None if x_lo is None else -100.0 * float(x_lo)


def _held_span_cm(grasp: Dict[str, Any]) -> Optional[float]:
    """Extent along the closing axis of the observed points between the jaws, cm."""
    contact = grasp.get('jaw_contact') or {}
    if contact.get('y_lo') is None or contact.get('y_hi') is None:
        return None
    return 100.0 * (float(contact['y_hi']) - float(contact['y_lo']))


def _face_angle_deg(grasp: Dict[str, Any]) -> Optional[float]:
    """The planner's ``jaw_contact['face_angle_deg']``; None for records without it."""
    value = (grasp.get('jaw_contact') or {}).get('face_angle_deg')
    return None if value is None else float(value)


def _label(record: Dict[str, Any]) -> str:
    return 'success' if record['outcome'] == 'success' else (record.get('failure_reason')
                                                             or 'unknown')


def analyze(records: Sequence[Dict[str, Any]],
            object_names: Optional[Dict[int, str]] = None) -> Dict[str, Dict[str, Any]]:
    """Per source: ``outcomes``, ``per_object``, ``geometry`` and ``funnel`` (see the
    module docstring). ``object_names`` maps object ids to names (default: the ids)."""
    names = object_names or {}
    by_source: Dict[str, List[Dict[str, Any]]] = OrderedDict()
    for record in records:
        by_source.setdefault(str(record.get('source', '?')), []).append(record)
    result: Dict[str, Dict[str, Any]] = OrderedDict()
    for source, recs in by_source.items():
        attempts = [r for r in recs if r['outcome'] in ATTEMPT_OUTCOMES]
        labels = Counter(_label(r) for r in attempts)
        outcomes = dict(captures=len(recs), attempts=len(attempts),
                        success=labels.pop('success', 0),
                        failures=dict(sorted(labels.items(), key=lambda kv: -kv[1])),
                        no_grasp=sum(r['outcome'] == 'no_grasp' for r in recs))
        per_object: Dict[str, Dict[str, Any]] = OrderedDict()
        for obj in sorted({r.get('target_obj_id') for r in attempts} - {None}):
            mine = [_label(r) for r in attempts if r.get('target_obj_id') == obj]
            count = Counter(mine)
            row = dict(attempts=len(mine),
                       success_pct=100.0 * count['success'] / len(mine))
            for reason in OBJECT_REASONS:
                row[f'{reason}_pct'] = 100.0 * count[reason] / len(mine)
            per_object[names.get(int(obj), str(obj))] = row
        geometry: Dict[str, Dict[str, Any]] = OrderedDict()
        for label in ['success'] + list(outcomes['failures']):
            mine = [r for r in attempts if _label(r) == label]
            grasps = [r.get('grasp') or {} for r in mine]
            geometry[label] = dict(
                attempts=len(mine),
                approach_deg=_median([g.get('approach_angle_deg') for g in grasps]),
                offset_cm=_median([_horizontal_offset_cm(r) for r in mine]),
                width_m=_median([g.get('width') for g in grasps]),
                score=_median([g.get('score') for g in grasps]),
                grip_depth_cm=_median([_grip_depth_cm(g) for g in grasps]),
                held_span_cm=_median([_held_span_cm(g) for g in grasps]),
                face_angle_deg=_median([_face_angle_deg(g) for g in grasps]))
        funnel_sum: Counter = Counter()
        for r in recs:
            funnel = r.get('funnel') or {}
            for key, value in funnel.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    funnel_sum[key] += value
            for key, value in (funnel.get('planner_rejected') or {}).items():
                funnel_sum[f'planner:{key}'] += value
        funnel_mean = {k: v / len(recs) for k, v in funnel_sum.items()}
        result[source] = dict(outcomes=outcomes, per_object=per_object, geometry=geometry,
                              funnel_mean_per_capture=funnel_mean)
    return result


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return '-'
    if isinstance(value, float):
        return f'{value:.{digits}f}'
    return str(value)


def to_markdown(analysis: Dict[str, Dict[str, Any]]) -> str:
    """The tables of :func:`analyze` as Markdown."""
    lines: List[str] = []
    lines += ['| source | captures | attempts | success | SR % | failures | no grasp |',
              '| --- | --- | --- | --- | --- | --- | --- |']
    for source, a in analysis.items():
        o = a['outcomes']
        sr = 100.0 * o['success'] / o['attempts'] if o['attempts'] else None
        fails = ', '.join(f'{k} {v}' for k, v in o['failures'].items()) or '-'
        lines.append(f"| {source} | {o['captures']} | {o['attempts']} | {o['success']} | "
                     f"{_fmt(sr)} | {fails} | {o['no_grasp']} |")
    lines += ['', '| source | object | attempts | success % | slip % | empty close % | '
              'collision at approach % |', '| --- | --- | --- | --- | --- | --- | --- |']
    for source, a in analysis.items():
        for obj, row in a['per_object'].items():
            lines.append(f"| {source} | {obj} | {row['attempts']} | "
                         f"{_fmt(row['success_pct'], 0)} | {_fmt(row['slip_pct'], 0)} | "
                         f"{_fmt(row['empty_close_pct'], 0)} | "
                         f"{_fmt(row['collision_at_approach_pct'], 0)} |")
    lines += ['', '| source | outcome | attempts | approach from vertical, median deg | '
              'TCP to centre of mass, horizontal median cm | width median m | '
              'score median | grip depth median cm | held span median cm | '
              'face angle median deg |',
              '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for source, a in analysis.items():
        for label, row in a['geometry'].items():
            lines.append(f"| {source} | {label} | {row['attempts']} | "
                         f"{_fmt(row['approach_deg'])} | {_fmt(row['offset_cm'])} | "
                         f"{_fmt(row['width_m'], 3)} | {_fmt(row['score'], 3)} | "
                         f"{_fmt(row.get('grip_depth_cm'))} | "
                         f"{_fmt(row.get('held_span_cm'))} | "
                         f"{_fmt(row.get('face_angle_deg'))} |")
    lines += ['', '| source | funnel stage | mean per capture |', '| --- | --- | --- |']
    for source, a in analysis.items():
        for key, value in a['funnel_mean_per_capture'].items():
            lines.append(f'| {source} | {key} | {value:.2f} |')
    return '\n'.join(lines) + '\n'


def library_names() -> Dict[int, str]:
    """Object id -> name of the benchmark's ``novel`` set (empty if the library is not
    importable)."""
    try:
        from graspcontrast_mm.synthetic.objects import ObjectLibrary, object_ids_of_set
    except ImportError:
        return {}
    library = ObjectLibrary()
    return {i: library.name(i) for i in object_ids_of_set('novel')}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('paths', nargs='+', help='records.jsonl files or pick_and_place --out '
                   'folders')
    p.add_argument('--json', default=None, help='also write the analysis as JSON here')
    args = p.parse_args(argv)
    try:
        records = load_records(find_record_files(args.paths))
    except (OSError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    if not records:
        print('error: the records files hold no capture', file=sys.stderr)
        return 1
    analysis = analyze(records, library_names())
    print(to_markdown(analysis), end='')
    if args.json:
        tmp = args.json + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(analysis, f, indent=1)
        os.replace(tmp, args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
