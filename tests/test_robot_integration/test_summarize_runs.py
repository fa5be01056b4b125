"""Pooled benchmark tables (robot_integration/summarize_runs.py) against hand-computed
values of a hand-written summary."""
import json

import pytest

from robot_integration import summarize_runs as sr
from robot_integration.stats import wilson_interval


def _level(name, scenes, objects, attempts, successes, cleared, reasons, ceil=0.9):
    return dict(level=name, scenes=scenes, objects=objects, attempts=attempts,
                successes=successes, cleared=cleared, failure_reasons=reasons,
                wrong_object=1 if name == 'high' else 0, no_grasp_captures=2,
                graspable_at_start=ceil)


@pytest.fixture
def run_dir(tmp_path):
    levels = [_level('low', 2, 6, 8, 4, 5, {'slip': 4}),
              _level('high', 2, 20, 22, 11, 15, {'slip': 6, 'empty_close': 5}, None)]
    out = tmp_path / 'robot'
    out.mkdir()
    (out / 'summary.json').write_text(json.dumps(
        dict(args={}, sources=dict(model=dict(partial=False, levels=levels)))))
    return out


def test_pooled_rows_sum_the_levels(run_dir):
    text = sr.tables([sr.parse_run(f'robot FNE={run_dir}')], pooled_only=True)
    lo, hi = wilson_interval(15, 30)   # 4 + 11 successes of 8 + 22 attempts
    clo, chi = wilson_interval(20, 26)  # 5 + 15 cleared of 6 + 20 objects
    row = (f'| robot FNE | 4 | 26 | 30 | 50.0 [{100 * lo:.1f}, {100 * hi:.1f}] | '
           f'76.9 [{100 * clo:.1f}, {100 * chi:.1f}] | empty_close 5, slip 10 | 4 |')
    assert row in text.splitlines()


def test_level_rows_and_labels(run_dir):
    text = sr.tables([sr.parse_run(str(run_dir / 'summary.json'))])
    lines = text.splitlines()
    assert len(lines) == 2 + 3  # header, rule, two levels, pooled
    assert lines[2].startswith('| robot | low | 2 | 6 | 8 | 50.0 [')
    assert lines[2].endswith('| 90.0 | slip 4 |')
    assert lines[3].endswith('| - | empty_close 5, slip 6 (wrong object 1) |')
    assert lines[4].startswith('| **robot** | all | 4 | 26 | 30 | 50.0 [')


def test_bad_paths_are_one_line_errors(tmp_path, capsys):
    assert sr.main([str(tmp_path / 'missing')]) == 1
    assert 'no benchmark summary' in capsys.readouterr().err
    (tmp_path / 'summary.json').write_text('{"sources": {}}')
    assert sr.main([str(tmp_path)]) == 1
    assert 'no source results' in capsys.readouterr().err
    for levels in ('[]', 'null'):
        (tmp_path / 'summary.json').write_text(f'{{"sources": {{"m": {{"levels": {levels}}}}}}}')
        assert sr.main([str(tmp_path)]) == 1
        assert "source 'm' has no level results" in capsys.readouterr().err
    (tmp_path / 'summary.json').write_text('{"sources": {"m": {"levels": [{"scenes": 1}]}}}')
    assert sr.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith('error:') and "a level lacks 'objects'" in err and '\n' not in err[:-1]
    (tmp_path / 'summary.json').write_text('not json')
    assert sr.main([str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith('error:')
