"""benchmarks/bench_grasp_labels.py runs on a tiny frame, reports that both label paths
agree, and rejects bad sizes."""
import importlib.util
import os.path as osp

import pytest

from tool_helpers import REPO

_spec = importlib.util.spec_from_file_location(
    'bench_grasp_labels', osp.join(REPO, 'benchmarks', 'bench_grasp_labels.py'))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_tiny_run_reports_equal_labels(capsys):
    assert bench.main(['--seeds', '40', '--objects', '2', '--points', '6',
                       '--repeats', '1']) == 0
    out = capsys.readouterr().out
    assert 'same labels: True' in out
    assert 'all views:' in out and 'selected view:' in out


def test_bad_size_is_an_error():
    with pytest.raises(SystemExit):
        bench.main(['--seeds', '0'])
