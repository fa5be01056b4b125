"""Row gathers whose backward pass is deterministic on CPU.

What is wrong in torch on CPU
-----------------------------
Advanced indexing with an integer tensor, ``x[index]``, back-propagates through
``index_put_(..., accumulate=True)``. On CPU that kernel adds the rows of a repeated index
in an order that changes from call to call, so the gradient of ``x`` differs in its last
bits between two identical backward passes (torch 2.13: 30 distinct gradients in 30 calls
for 20000 rows gathered from 2000; ``torch.use_deterministic_algorithms(True)`` switches it
to a sorted, deterministic kernel). The difference is tiny per step, but training is
chaotic: after a few dozen optimiser steps two identical runs of a detector predict
different grasps.

In this package repeated indices are the rule: every point of a voxel reads that voxel's
feature (``point2voxel``), and seeds and contrastive key points may repeat.

What this module does
---------------------
:func:`index_rows` gathers rows with ``index_select``, whose backward is ``index_add_``:
on CPU it adds the rows in index order, so the gradient is the same on every call (for a
fixed number of threads), without changing the global deterministic-algorithms setting of
the process. The forward values are identical to ``x[index]``.
"""
import torch
from torch import Tensor

__all__ = ['index_rows']


def index_rows(x: Tensor, index: Tensor) -> Tensor:
    """``x[index]`` along the first dimension, with a deterministic backward on CPU.

    Args:
        x: ``(N, ...)`` tensor.
        index: 1-D integer tensor of row indices in ``[0, N)``; repeats allowed.

    Returns:
        ``(len(index), ...)`` tensor, equal to ``x[index]``.

    Raises:
        ValueError: if ``index`` is not a 1-D integer tensor.
    """
    if index.dim() != 1 or index.dtype.is_floating_point or index.dtype == torch.bool:
        raise ValueError(f'index_rows needs a 1-D integer index, got '
                         f'{index.dtype} {tuple(index.shape)}')
    return x.index_select(0, index.long())
