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


def test_every_timed_step_gets_its_own_batch_by_default(monkeypatch, capsys):
    seen = []

    def fake_child(args, what, threads, policy):
        seen.append(args.batches)
        return {'steps': [0.1]} if what == 'steps' else {'samples': 1, 'passes': [0.1, 0.1]}

    monkeypatch.setattr(bench, '_child', fake_child)
    bench.main(['--threads', '1', '--wait-policy', 'passive', '--steps', '16'])
    assert seen and set(seen) == {18}  # 2 warm-up batches + one per timed step
    seen.clear()
    bench.main(['--threads', '1', '--wait-policy', 'passive', '--steps', '16',
                '--batches', '6'])
    assert set(seen) == {6}


def test_batches_are_loaded_over_several_epochs_and_an_empty_loader_is_an_error():
    assert bench._load_batches([1, 2, 3], 7) == [1, 2, 3, 1, 2, 3, 1]
    with pytest.raises(SystemExit, match='yields no batch'):
        bench._load_batches([], 2)
