"""benchmarks/bench_train_step.py rejects bad arguments before starting any run."""
import importlib.util
import os.path as osp

import pytest

from tool_helpers import REPO

_spec = importlib.util.spec_from_file_location(
    'bench_train_step', osp.join(REPO, 'benchmarks', 'bench_train_step.py'))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.mark.parametrize('argv,message', [
    (['--threads', '0'], '--threads'),
    (['--steps', '0'], '--steps'),
    (['--batches', '2'], '--batches'),
    (['configs/no_such_config.py'], 'config not found'),
])
def test_bad_arguments_are_errors(argv, message, monkeypatch):
    monkeypatch.setattr(bench, '_child', lambda *a, **k: pytest.fail('a run started'))
    with pytest.raises(SystemExit, match=message):
        bench.main(argv)


def test_wait_policy_is_validated(capsys):
    with pytest.raises(SystemExit):
        bench.main(['--wait-policy', 'spin'])
    assert 'invalid choice' in capsys.readouterr().err
