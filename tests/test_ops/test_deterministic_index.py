"""index_rows: the values of ``x[index]`` and a backward that is the same on every call.

The last test is the reason for the function: torch's own ``x[index]`` back-propagates
through a CPU kernel that sums repeated rows in a varying order.
"""
import hashlib

import pytest
import torch

from graspcontrast_mm.ops import index_rows


def _digest(t: torch.Tensor) -> str:
    return hashlib.md5(t.detach().contiguous().numpy().tobytes()).hexdigest()


def _distinct_grads(gather, num_rows=2000, num_index=20000, channels=64, calls=20):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(num_rows, channels, generator=gen, requires_grad=True)
    index = torch.randint(0, num_rows, (num_index, ), generator=gen)
    grad_out = torch.randn(num_index, channels, generator=gen)
    digests = set()
    for _ in range(calls):
        x.grad = None
        gather(x, index).backward(grad_out)
        digests.add(_digest(x.grad))
    return digests


def test_values_and_gradient_by_hand():
    x = torch.arange(12, dtype=torch.float32).view(4, 3).requires_grad_()
    index = torch.tensor([2, 0, 2, 2], dtype=torch.int32)
    out = index_rows(x, index)
    assert torch.equal(out, x.detach()[index.long()])
    out.backward(torch.ones(4, 3))
    # row 2 was read three times, row 0 once, rows 1 and 3 never
    assert x.grad.tolist() == [[1.0] * 3, [0.0] * 3, [3.0] * 3, [0.0] * 3]


def test_backward_is_the_same_on_every_call():
    assert len(_distinct_grads(index_rows)) == 1


def test_torch_advanced_indexing_backward_varies_on_cpu():
    """If this starts failing, torch's CPU kernel became deterministic and index_rows can
    go back to ``x[index]``."""
    if torch.get_num_threads() < 2:  # checked when the test runs: others change it
        pytest.skip('with one thread torch sums the rows in order')
    assert len(_distinct_grads(lambda x, i: x[i])) > 1


@pytest.mark.parametrize('index', [torch.tensor([[0, 1]]), torch.tensor([0.0, 1.0]),
                                   torch.tensor([True, False])])
def test_bad_index_is_an_error(index):
    with pytest.raises(ValueError, match='1-D integer index'):
        index_rows(torch.zeros(2, 3), index)
