"""benchmarks/gpu_check.py: skips cleanly without CUDA; its comparison code runs (CPU
against CPU) and catches a difference."""
import importlib.util
import os.path as osp

import pytest
import torch

from tool_helpers import REPO

_spec = importlib.util.spec_from_file_location(
    'gpu_check', osp.join(REPO, 'benchmarks', 'gpu_check.py'))
gpu_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_check)

TINY = ['--device', 'cpu', '--size', 'tiny', '--points', '1500', '--repeats', '1',
        '--threads', '1']
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason='CUDA is available here')


@no_cuda
def test_skips_cleanly_without_cuda(capsys):
    assert gpu_check.main([]) == 0
    out = capsys.readouterr().out
    assert 'CUDA is not available' in out and 'nothing was compared' in out


@no_cuda
def test_require_cuda_fails_without_cuda(capsys):
    assert gpu_check.main(['--require-cuda', '--size', 'tiny']) == 2
    assert 'CUDA is not available' in capsys.readouterr().out


def test_arguments_are_checked():
    with pytest.raises(SystemExit):
        gpu_check.parse_args(['--size', 'huge'])
    with pytest.raises(SystemExit):
        gpu_check.parse_args(['--repeats', '0'])
    args = gpu_check.parse_args([])
    assert args.device == 'cuda' and args.size == 'full' and not args.require_cuda


def test_cpu_against_cpu_passes(capsys):
    assert gpu_check.main(TINY) == 0
    out = capsys.readouterr().out
    assert 'all 9 comparisons within tolerance' in out
    for name in ('SparseUNet forward', 'pre-training forward + loss + backward',
                 'GSNet forward'):
        assert name in out  # step times


def test_perturbed_weights_fail(capsys):
    assert gpu_check.main(TINY + ['--perturb', '1e-2']) == 1
    out = capsys.readouterr().out
    assert 'FAILED' in out
    assert 'comparisons FAILED' in out


def test_metrics():
    ref = torch.tensor([1.0, -2.0, 4.0])
    assert gpu_check.rel_error(ref.clone(), ref) == 0.0
    assert gpu_check.rel_error(ref + torch.tensor([0.0, 0.0, 0.004]), ref) \
        == pytest.approx(1e-3, rel=1e-3)
    assert gpu_check.rel_error(ref[:2], ref) == float('inf')
    report = gpu_check.Report()
    report.check('a', 'x', 1e-4, 1e-3)
    report.check('b', 'y', 0.995, 0.99, at_least=True)
    assert report.ok
    report.check('c', 'z', float('nan'), 1e-3)
    assert not report.ok
