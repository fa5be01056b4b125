"""The benchmark's records analysis (robot_integration/analyze_records.py) against
hand-computed tables of a few hand-written capture records."""
import json

import pytest

from robot_integration import analyze_records as ar


def _rec(source, outcome, reason=None, obj=12, angle=0.0, offset=(0.0, 0.0, 0.0),
         width=0.05, score=0.5, funnel=None, contact=None):
    return dict(source=source, outcome=outcome, failure_reason=reason, target_obj_id=obj,
                grasp=None if outcome == 'no_grasp' else dict(
                    approach_angle_deg=angle, width=width, score=score,
                    jaw_contact=contact),
                tcp_offset_from_com=None if outcome == 'no_grasp' else list(offset),
                funnel=funnel or {})


RECORDS = [
    _rec('model', 'success', obj=12, angle=10.0, offset=(0.03, 0.04, 0.01), score=0.2,
         funnel=dict(graspness_gate=100, after_nms=10, planned=1,
                     planner_rejected=dict(collision=2))),
    _rec('model', 'success', obj=16, angle=20.0, offset=(0.0, 0.01, 0.0), score=0.4,
         funnel=dict(graspness_gate=50, after_nms=6, planned=1),
         contact=dict(x_lo=-0.025, y_lo=-0.02, y_hi=0.01, face_angle_deg=12.0)),
    _rec('model', 'failure', 'empty_close', obj=16, angle=40.0, offset=(0.06, 0.08, 0.0),
         width=0.09, funnel=dict(graspness_gate=30, after_nms=2, planned=1,
                                 planner_rejected=dict(collision=1, below_table=3))),
    _rec('model', 'failure', 'slip', obj=16, angle=5.0,
         contact=dict(x_lo=None, y_lo=None, y_hi=None)),
    _rec('model', 'no_grasp', obj=None, funnel=dict(graspness_gate=0, planned=0)),
    _rec('baseline', 'success', obj=12),
]


def test_tables_match_hand_computed_values():
    out = ar.analyze(RECORDS, {12: 'duck', 16: 'lego_brick'})
    model = out['model']
    assert model['outcomes'] == dict(captures=5, attempts=4, success=2,
                                     failures={'empty_close': 1, 'slip': 1}, no_grasp=1)
    lego = model['per_object']['lego_brick']
    assert lego['attempts'] == 3
    assert lego['success_pct'] == pytest.approx(100 / 3)
    assert lego['slip_pct'] == pytest.approx(100 / 3)
    assert lego['empty_close_pct'] == pytest.approx(100 / 3)
    assert model['per_object']['duck']['success_pct'] == 100.0
    success = model['geometry']['success']
    assert success['attempts'] == 2
    assert success['approach_deg'] == pytest.approx(15.0)
    # horizontal offsets 5 cm (3-4-5) and 1 cm: median 3 cm
    assert success['offset_cm'] == pytest.approx(3.0)
    assert success['score'] == pytest.approx(0.3)
    # one success carries a jaw contact: grip 2.5 cm, held span 3 cm; the other has none
    assert success['grip_depth_cm'] == pytest.approx(2.5)
    assert success['held_span_cm'] == pytest.approx(3.0)
    assert success['face_angle_deg'] == pytest.approx(12.0)
    assert model['geometry']['slip']['grip_depth_cm'] is None
    assert model['geometry']['empty_close']['offset_cm'] == pytest.approx(10.0)
    assert model['geometry']['empty_close']['width_m'] == pytest.approx(0.09)
    funnel = model['funnel_mean_per_capture']
    assert funnel['graspness_gate'] == pytest.approx(180 / 5)
    assert funnel['planner:collision'] == pytest.approx(3 / 5)
    assert funnel['planner:below_table'] == pytest.approx(3 / 5)
    assert funnel['planned'] == pytest.approx(3 / 5)
    assert out['baseline']['outcomes']['attempts'] == 1
    text = ar.to_markdown(out)
    assert '| model | 5 | 4 | 2 | 50.0 | empty_close 1, slip 1 | 1 |' in text
    assert '| model | lego_brick | 3 | 33 | 33 | 33 | 0 |' in text


def test_cli_reads_folders_and_rejects_bad_input(tmp_path, capsys):
    run = tmp_path / 'run' / 'model'
    run.mkdir(parents=True)
    (run / 'records.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in RECORDS))
    out_json = tmp_path / 'analysis.json'
    assert ar.main([str(tmp_path / 'run'), '--json', str(out_json)]) == 0
    assert json.loads(out_json.read_text())['model']['outcomes']['attempts'] == 4
    assert '| baseline | 1 | 1 | 1 | 100.0 | - | 0 |' in capsys.readouterr().out
    assert ar.main([str(tmp_path / 'missing')]) == 1
    assert 'no records.jsonl' in capsys.readouterr().err
    # two runs of the same source stay apart, named by their folders
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'records.jsonl').write_text(json.dumps(RECORDS[0]) + '\n')
    assert ar.main([str(run), str(other)]) == 0
    text = capsys.readouterr().out
    assert '| model/model | 5 | 4 | 2 |' in text and '| other/model | 1 | 1 | 1 |' in text
    bad = tmp_path / 'bad.jsonl'
    bad.write_text('{"outcome": "success"}\nnot json\n')
    assert ar.main([str(bad)]) == 1
    assert 'bad.jsonl:2' in capsys.readouterr().err
