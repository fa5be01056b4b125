"""benchmarks/bench_interleaved.py alternates its variants after one warm-up call each and
rejects meaningless arguments."""
import importlib.util
import os.path as osp
import sys

import pytest

from tool_helpers import REPO

sys.path.insert(0, osp.join(REPO, 'benchmarks'))  # the script imports its neighbours
_spec = importlib.util.spec_from_file_location(
    'bench_interleaved', osp.join(REPO, 'benchmarks', 'bench_interleaved.py'))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_variants_alternate_after_one_warm_up_each():
    calls = []
    times = bench.interleave({'a': lambda: calls.append('a'),
                              'b': lambda: calls.append('b')}, reps=3)
    assert calls == ['a', 'b'] + ['a', 'b'] * 3
    assert sorted(times) == ['a', 'b'] and all(len(v) == 3 for v in times.values())
    assert all(t >= 0 for v in times.values() for t in v)


@pytest.mark.parametrize('argv', [['gemm', '--reps', '0'], ['heads', '--threads', '0'],
                                  ['dense']])
def test_bad_arguments_are_errors(argv):
    with pytest.raises(SystemExit):
        bench.main(argv)
