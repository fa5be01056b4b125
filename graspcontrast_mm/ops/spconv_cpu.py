"""Correct, deterministic and differentiable CPU sparse convolution for spconv 2.3.8.

What is wrong in spconv 2.3.8 on CPU
------------------------------------
spconv's "native" algorithm (the only one a CPU build has) computes a sparse convolution in
two steps: it builds a *rule-book* (``indice_pairs`` / ``indice_pair_num``: for every kernel
offset, which input row feeds which output row) and then, for every offset, gathers the
input rows, multiplies them with that offset's weight matrix and scatter-adds the product
into the output rows. On CPU the second step has two defects:

1. **Wrong rows with 2+ torch threads.** ``SpconvOps.scatter_add_cpu`` (the scatter of
   ``spconv.pytorch.ops.indice_conv`` and of its backward) is not thread safe: when torch
   runs with two or more intra-op threads it sometimes adds the product row of a *different*
   rule-book entry to an output row (``out[o_j] += buf[m]`` with ``m != j``). The result
   differs from call to call: depending on the data, 3% to 80% of identical calls of a
   3x3x3 ``SubMConv3d`` on ~2000 voxels return a few wrong rows with 2 threads (torch's
   default on a 2-core machine); with one thread it is exact. The rule-book itself is
   correct and identical on every call, and ``gather_cpu`` is correct.
2. **No backward on CPU.** ``ops.indice_conv_backward`` calls ``get_current_stream()`` ->
   ``torch.cuda.current_stream()`` unconditionally, so ``loss.backward()`` through any
   ``SubMConv3d`` / ``SparseConv3d`` / ``SparseInverseConv3d`` raises
   ``AssertionError: Torch not compiled with CUDA enabled`` on a CPU build of torch.
3. **No bias at inference on CPU.** In eval mode spconv passes the bias to the conv
   kernel, whose CPU path asserts ``cpu don't support act and bias``: any layer built with
   ``bias=True`` fails in eval mode on CPU.

What this module does
---------------------
It keeps spconv's rule-book generation and layer classes, and replaces only the feature
computation for CPU tensors: :func:`rulebook_conv` evaluates the convolution over the
rule-book with plain torch operations inside a :class:`torch.autograd.Function` whose
backward uses the same deterministic operations (a conv's gather is recomputed in
backward, so memory stays ``O(P * C)`` for ``P`` rule-book pairs, unless it takes at most
:data:`KEEP_GATHER_MAX_BYTES`: small convs keep it from forward to backward). Two
algorithms compute the same sum:

* ``'bucketed'`` (default): the kernel offsets are sorted by their number of pairs and
  split into at most :data:`MAX_BUCKETS` groups of similar size (an optimal split that
  minimises padding, typically 3-6 % extra rows); one ``index_select`` gathers the input
  rows of every pair, one batched GEMM (``bmm``) per group multiplies them with the
  offsets' weights, and one sparse (CSR, one nonzero per pair) matrix product sums the
  products into the output rows. A conv therefore runs about 10 large kernels instead of
  three small ones per offset (up to 81 for a 3x3x3 conv, 375 for the 5x5x5 stem), which
  is what keeps it fast when the machine is shared (every kernel is an OpenMP parallel
  region whose threads wait for each other). The padding plan and the CSR structure are
  built once per rule-book and reused by every conv that shares it (spconv's
  ``indice_key``), forward and backward.
  A submanifold conv with at most :data:`IM2COL_MAX_IN_CHANNELS` input channels (a
  network's first layer on raw point features, e.g. the ``5^3`` stem on 3 channels) runs
  instead as one gather of every voxel's whole neighbourhood (a zero row where a
  neighbour is missing) and one GEMM with the flattened weights ("im2col"); its backward
  is two more GEMMs and, for the input gradient, one gather by the same neighbour table
  read through the mirrored offsets. With so few input channels the padded products
  cost little, and the conv needs no padding plan and no scatter: on the tiny
  pre-training's stem (21 000 voxels, 125 offsets, 3 -> 16 channels) forward + backward
  take 32-33 ms with the neighbour table instead of 47-49 ms with the padding plan
  (``docs/results_raw/bench_dense_rulebooks/stem_ab.txt``).
* ``'per_offset'``: ``index_select`` -> ``mm`` -> ``index_add_`` for each offset (exact
  FLOPs, many small kernels). Kept as the reference and for benchmarks.

The algorithm is chosen with :func:`set_rulebook_algorithm` or the environment variable
``GRASPCONTRAST_SPCONV_CPU_ALGO`` (``bucketed`` / ``per_offset``).

GEMM precision (``bucketed`` only): by default the batched GEMMs run in the features'
dtype (float32), and the result matches a dense ``conv3d`` to float32 rounding. With
:func:`set_rulebook_gemm_dtype` (``'bfloat16'``) or the environment variable
``GRASPCONTRAST_SPCONV_CPU_GEMM_DTYPE=bfloat16``, float32 features and weights are rounded to
bfloat16 for the GEMMs only (as torch's CPU autocast does for ``mm``); the products are
summed into the output rows, and the weight gradients returned, in float32. On CPUs with
AMX or AVX-512 BF16 units the GEMMs are then several times faster; elsewhere they are
slower. The relative error per conv is that of bfloat16 (about 2^-8); it is a training and
inference option, never used by the exactness tests. The im2col path of convs with few
input channels (see above) keeps the features' dtype.

:func:`apply_spconv_cpu_fixes` installs it by wrapping the three functional entry points
that spconv's layers call (``spconv.pytorch.functional.indice_subm_conv``,
``indice_conv`` and ``indice_inverse_conv``); the wrappers send CPU tensors to
:func:`rulebook_conv` and everything else (CUDA tensors, quantized tensors) to spconv
unchanged. This covers ``SubMConv3d``, ``SparseConv3d``, ``SparseInverseConv3d`` (and their
1d/2d/4d and transposed siblings); spconv's pooling layers are not touched. It also
makes ``spconv.pytorch.ops.get_indice_pairs`` allocate a CPU rule-book's pair buffer
without filling it with ``-1`` first (:func:`_rulebook_allocator_class`): spconv writes
every column that is read, and the fill was about 5 % of a tiny training step; and it
wraps ``get_indice_pairs`` so that a CPU submanifold rule-book that is a slice of a larger
kernel's on the same voxels is sliced instead of generated
(:mod:`graspcontrast_mm.ops.spconv_rulebooks`).

The fix is applied when :mod:`graspcontrast_mm.ops` is imported (every model of this
package imports it), unless the environment variable ``GRASPCONTRAST_SPCONV_CPU_FIX`` is
``0``. The CPU path is deterministic for a fixed number of threads and uses torch's own
multi-threaded kernels, so it keeps multi-core speed (on 12k surface voxels, 64->64
channels, it is faster than spconv's racy path; see ``benchmarks/bench_spconv_cpu.py``).

Rule-book layout (spconv 2.3.8, native algorithm, weights in KRSC layout
``(C_out, *kernel_size, C_in)``): ``indice_pairs`` is ``(2, K, N)`` int32 with ``K`` the
kernel volume; for offset ``k`` the first ``indice_pair_num[k]`` columns hold input rows
(``[0, k]``) and output rows (``[1, k]``) of a regular or transposed conv. An inverse conv
reuses the rule-book of its paired regular conv with the two rows swapped. A submanifold
conv stores the centre offset implicitly (identity pairs) and only counts the first half of
the offsets: offset ``k > K // 2`` holds ``indice_pair_num[K - 1 - k]`` pairs (the mirrored
pairs of offset ``K - 1 - k``).
"""
import contextlib
import os
import threading
import warnings
import weakref
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from graspcontrast_mm.cpu_runtime import env_switch_on

__all__ = [
    'rulebook_conv', 'apply_spconv_cpu_fixes', 'remove_spconv_cpu_fixes',
    'spconv_cpu_fixes_enabled', 'spconv_cpu_fixes', 'ENV_VAR', 'ALGORITHM_ENV_VAR',
    'RULEBOOK_ALGORITHMS', 'set_rulebook_algorithm', 'get_rulebook_algorithm', 'MAX_BUCKETS',
    'GEMM_DTYPE_ENV_VAR', 'GEMM_DTYPES', 'set_rulebook_gemm_dtype', 'get_rulebook_gemm_dtype',
    'WORKSPACE_ENV_VAR', 'release_rulebook_workspace', 'rulebook_workspace_bytes',
    'IM2COL_MAX_IN_CHANNELS', 'KEEP_GATHER_MAX_BYTES'
]

#: Environment variable; ``0`` stops :mod:`graspcontrast_mm.ops` from applying the fix.
ENV_VAR = 'GRASPCONTRAST_SPCONV_CPU_FIX'
#: Environment variable choosing the CPU algorithm (``bucketed`` or ``per_offset``).
ALGORITHM_ENV_VAR = 'GRASPCONTRAST_SPCONV_CPU_ALGO'
#: The CPU algorithms of :func:`rulebook_conv` (see the module docstring).
RULEBOOK_ALGORITHMS = ('bucketed', 'per_offset')
#: Most batched GEMMs per conv of the ``bucketed`` algorithm.
MAX_BUCKETS = 6
#: A ``bucketed`` conv keeps its forward gather for the weight gradient (instead of
#: gathering again in backward) when the gather takes at most this many bytes: every conv
#: of the tiny models (up to 31 MB), none at paper scale (hundreds of MB each).
KEEP_GATHER_MAX_BYTES = 32 << 20
#: Submanifold convs with at most this many input channels take the ``bucketed``
#: algorithm's im2col path (one neighbourhood gather and one GEMM; module docstring).
IM2COL_MAX_IN_CHANNELS = 4
#: Environment variable choosing the GEMM dtype of the ``bucketed`` algorithm.
GEMM_DTYPE_ENV_VAR = 'GRASPCONTRAST_SPCONV_CPU_GEMM_DTYPE'
#: GEMM dtypes of :func:`set_rulebook_gemm_dtype` (``float32``: the features' own dtype).
GEMM_DTYPES = {'float32': None, 'bfloat16': torch.bfloat16}
#: Environment variable; ``0`` makes every ``bucketed`` conv allocate fresh buffers.
WORKSPACE_ENV_VAR = 'GRASPCONTRAST_SPCONV_CPU_WORKSPACE'


def _env_choice(variable: str, default: str, choices) -> str:
    """The value of an environment variable (case and spaces ignored; unset or empty:
    ``default``), which must be one of ``choices``."""
    name = os.environ.get(variable, default).strip().lower() or default
    if name not in choices:
        raise ValueError(f'{variable}={name!r}: expected one of {tuple(choices)}')
    return name


def _algorithm_from_env() -> str:
    return _env_choice(ALGORITHM_ENV_VAR, 'bucketed', RULEBOOK_ALGORITHMS)


def _gemm_dtype_from_env() -> str:
    return _env_choice(GEMM_DTYPE_ENV_VAR, 'float32', GEMM_DTYPES)


_ALGORITHM = _algorithm_from_env()
_GEMM_DTYPE = _gemm_dtype_from_env()


def set_rulebook_algorithm(name: str) -> str:
    """Choose the CPU algorithm of :func:`rulebook_conv` for the whole process.

    Args:
        name: ``'bucketed'`` (default) or ``'per_offset'``.

    Returns:
        The previous algorithm, so that a caller can restore it.
    """
    global _ALGORITHM
    if name not in RULEBOOK_ALGORITHMS:
        raise ValueError(f'unknown rule-book algorithm {name!r}; expected one of '
                         f'{RULEBOOK_ALGORITHMS}')
    before, _ALGORITHM = _ALGORITHM, name
    return before


def get_rulebook_algorithm() -> str:
    """The CPU algorithm :func:`rulebook_conv` uses when none is passed."""
    return _ALGORITHM


def set_rulebook_gemm_dtype(name: str) -> str:
    """Choose the GEMM dtype of the ``bucketed`` algorithm for the whole process.

    Args:
        name: ``'float32'`` (default: the features' dtype, exact to float32 rounding) or
            ``'bfloat16'`` (float32 features and weights rounded to bfloat16 for the GEMMs;
            sums and gradients in float32; see the module docstring).

    Returns:
        The previous setting, so that a caller can restore it.
    """
    global _GEMM_DTYPE
    if name not in GEMM_DTYPES:
        raise ValueError(f'unknown GEMM dtype {name!r}; expected one of {tuple(GEMM_DTYPES)}')
    before, _GEMM_DTYPE = _GEMM_DTYPE, name
    return before


def get_rulebook_gemm_dtype() -> str:
    """The GEMM dtype of the ``bucketed`` algorithm (``'float32'`` or ``'bfloat16'``)."""
    return _GEMM_DTYPE


# name in spconv.pytorch.functional -> (subm, inverse)
_ENTRY_POINTS = {
    'indice_subm_conv': (True, False),
    'indice_conv': (False, False),
    'indice_inverse_conv': (False, True),
}
_ORIGINALS = {}  # name -> spconv's original callable, filled while the fix is applied

Segment = Tuple[int, Tensor, Tensor]  # (kernel offset, input rows, output rows)


def _rulebook_segments(indice_pairs: Tensor, indice_pair_num: Tensor, *,
                       subm: bool, inverse: bool) -> List[Segment]:
    """Turn spconv's rule-book into a list of ``(offset, in_rows, out_rows)``.

    Args:
        indice_pairs: int32 ``(2, K, N)`` rule-book of spconv's native algorithm.
        indice_pair_num: int32 ``(K,)`` number of valid pairs per offset.
        subm: whether the rule-book belongs to a submanifold conv (centre offset implicit,
            second half counted by the mirrored offset).
        inverse: whether to read the rule-book of a regular conv backwards (inverse conv).

    Returns:
        One entry per non-empty offset (the implicit submanifold centre excluded), with
        int32 (or int64) row indices of equal length.
    """
    counts = indice_pair_num.tolist()
    kv = len(counts)
    centre = kv // 2
    if subm and kv % 2 == 0:
        raise ValueError(f'a submanifold rule-book needs an odd kernel volume, got {kv}')
    src, dst = (1, 0) if inverse else (0, 1)
    # index_select / index_add_ take int32 indices: slice views, no conversion
    pairs = indice_pairs if indice_pairs.dtype == torch.int32 else indice_pairs.long()
    segments = []
    for k in range(kv):
        if subm:
            if k == centre:
                continue
            n = counts[k] if k < centre else counts[kv - 1 - k]
        else:
            n = counts[k]
        if n > 0:
            segments.append((k, pairs[src, k, :n], pairs[dst, k, :n]))
    return segments


class _RulebookConvFunction(torch.autograd.Function):
    """Gather-GEMM-scatter over a rule-book; forward and backward in plain torch."""

    @staticmethod
    def forward(ctx, features: Tensor, weight: Tensor, segments: List[Segment],
                num_out: int, subm: bool) -> Tensor:
        c_out, c_in = weight.shape[0], weight.shape[-1]
        w = weight.reshape(c_out, -1, c_in)  # (C_out, K, C_in)
        if subm:
            out = features.mm(w[:, w.shape[1] // 2].t())
        else:
            out = features.new_zeros((num_out, c_out))
        for k, rows_in, rows_out in segments:
            out.index_add_(0, rows_out, features.index_select(0, rows_in).mm(w[:, k].t()))
        ctx.save_for_backward(features, weight)
        ctx.segments = segments
        ctx.subm = subm
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):
        features, weight = ctx.saved_tensors
        c_out, c_in = weight.shape[0], weight.shape[-1]
        w = weight.reshape(c_out, -1, c_in)
        grad_out = grad_out.contiguous()
        grad_features = grad_weight = None
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if need_w:
            grad_w = torch.zeros_like(w)
        if need_x:
            grad_features = (grad_out.mm(w[:, w.shape[1] // 2]) if ctx.subm
                             else torch.zeros_like(features))
        if ctx.subm and need_w:
            grad_w[:, w.shape[1] // 2] = grad_out.t().mm(features)
        for k, rows_in, rows_out in ctx.segments:
            g = grad_out.index_select(0, rows_out)  # (n, C_out)
            if need_w:
                grad_w[:, k] = g.t().mm(features.index_select(0, rows_in))
            if need_x:
                grad_features.index_add_(0, rows_in, g.mm(w[:, k]))
        if need_w:
            grad_weight = grad_w.reshape(weight.shape)
        return grad_features, grad_weight, None, None, None


def _split_sorted_counts(counts: List[int], max_groups: int) -> List[Tuple[int, int]]:
    """Split descending ``counts`` into at most ``max_groups`` contiguous groups.

    Each group is padded to its first (largest) count; the split minimises the total
    padded size (dynamic programming over ``(groups, stop)``, one vectorised minimum over
    the group's start per number of groups). Among equal costs the fewest groups and, for
    each group, the earliest start win.

    Returns:
        ``[(start, stop), ...]`` index ranges covering ``range(len(counts))``.
    """
    n = len(counts)
    if n == 0:
        return []
    c = np.asarray(counts, dtype=np.float64)
    span = np.arange(1, n + 1)[None, :] - np.arange(n)[:, None]  # (start, stop - 1)
    group_cost = np.where(span > 0, span * c[:, None], np.inf)
    best = np.full((max_groups + 1, n + 1), np.inf)
    best[0, 0] = 0.0
    cut = np.zeros((max_groups + 1, n + 1), dtype=np.int64)
    for g in range(1, max_groups + 1):
        total = best[g - 1, :n, None] + group_cost  # (start, stop - 1)
        cut[g, 1:] = np.argmin(total, axis=0)
        best[g, 1:] = total[cut[g, 1:], np.arange(n)]
    g = min(range(1, max_groups + 1), key=lambda m: (best[m, n], m))
    groups, stop = [], n
    while stop > 0:
        start = int(cut[g, stop])
        groups.append((start, stop))
        stop, g = start, g - 1
    return groups[::-1]


class _BucketPlan:
    """Padded pair layout of one rule-book for the ``bucketed`` algorithm.

    Attributes:
        buckets: ``[(offsets, start, num_offsets, length)]``: the kernel offsets of a
            group (int64), where its rows start in the padded pair list, how many offsets
            it has and how many pairs each one is padded to.
        total: padded pair rows ``sum(num_offsets * length)``.
        in_rows: int64 ``(total,)`` input row of every padded pair; padding points at
            row 0 (a padded product is never summed into an output row, and in backward
            its output gradient row is zero, so it adds nothing to the weight gradient).
        out_rows: int64 ``(total,)`` output row of every padded pair, padding at row 0.
        pad_positions: int64 positions of the padding in the padded pair list (their
            gathered output gradient rows are set to zero in backward).
        scatter_out / scatter_in: CSR structure ``(crow, col, size)`` of the 0/1 matrices
            that sum padded pair rows into output rows (forward) and input rows (backward);
            padding is left out.
    """

    def __init__(self, segments: List[Segment], num_in: int, num_out: int,
                 device: torch.device):
        segments = sorted(segments, key=lambda seg: -len(seg[1]))
        counts = [len(seg[1]) for seg in segments]
        self.buckets = []
        base = []  # where each segment's first pair goes in the padded list
        start = 0
        for lo, hi in _split_sorted_counts(counts, MAX_BUCKETS):
            length, num = counts[lo], hi - lo
            offsets = torch.tensor([seg[0] for seg in segments[lo:hi]], device=device)
            self.buckets.append((offsets, start, num, length))
            base += [start + row * length for row in range(num)]
            start += num * length
        self.total = start
        long = dict(dtype=torch.long, device=device)
        #: the kernel offsets of all buckets, bucket after bucket (a conv gathers its
        #: weights in this order once; each bucket then reads a contiguous slice)
        self.offset_order = torch.tensor([seg[0] for seg in segments], **long)
        if segments:
            pairs_in = torch.cat([seg[1] for seg in segments]).long()
            pairs_out = torch.cat([seg[2] for seg in segments]).long()
            n = torch.tensor(counts, **long)
            first = torch.cumsum(n, 0) - n
            # padded position of every pair: its segment's base + its rank in the segment
            # (increasing along the concatenation, which follows the padded layout)
            positions = (torch.repeat_interleave(torch.tensor(base, **long) - first, n)
                         + torch.arange(len(pairs_in), **long))
        else:
            pairs_in = pairs_out = positions = torch.zeros(0, **long)
        self.in_rows = torch.zeros(self.total, **long)
        self.in_rows[positions] = pairs_in
        self.out_rows = torch.zeros(self.total, **long)
        self.out_rows[positions] = pairs_out
        padding = torch.ones(self.total, dtype=torch.bool, device=device)
        padding[positions] = False
        self.pad_positions = torch.nonzero(padding).squeeze(1)
        self._counts = counts
        self.scatter_out = self._csr(positions, pairs_out, num_out)
        self._positions, self._pairs_in = positions, pairs_in
        self._num_in = num_in
        self._scatter_in = None

    def reversed(self) -> '_BucketPlan':
        """The plan of the same rule-book read backwards (an inverse conv of this conv).

        Reading backwards swaps each pair's input and output row and keeps the offsets'
        sizes, so the padded layout is the same: the input rows are this plan's output
        rows and vice versa, and the two scatters change places. Equal, field by field,
        to the plan built from the swapped rule-book (tested), without building it.
        """
        plan = _BucketPlan.__new__(_BucketPlan)
        plan.__dict__.update(self.__dict__)
        plan.in_rows, plan.out_rows = self.out_rows, self.in_rows
        plan.scatter_out = self.scatter_in
        plan._scatter_in = self.scatter_out
        plan._positions = plan._pairs_in = None
        return plan

    @property
    def scatter_in(self):
        """CSR structure of the backward scatter; built on the first backward (inference
        never needs it)."""
        if self._scatter_in is None:
            self._scatter_in = self._csr(self._positions, self._pairs_in, self._num_in)
            self._positions = self._pairs_in = None
        return self._scatter_in

    def _csr(self, positions: Tensor, rows: Tensor, num_rows: int):
        """0/1 matrix ``(num_rows, total)`` with a one at ``(rows[j], positions[j])``,
        each row's ones in increasing ``positions`` (the padded order).

        ``rows`` lists the pairs segment after segment (``self._counts``) and
        ``positions`` increase along it. A rule-book names a row at most once per
        offset, so a row's rank among its own pairs is the number of earlier segments
        that hold it: counted segment by segment (a counting sort, no comparison sort).
        Should a row repeat within a segment, the stable sort does it instead.
        """
        seen = torch.zeros(num_rows, dtype=torch.long, device=rows.device)
        rank = torch.empty_like(rows)
        start = 0
        for n in self._counts:
            r = rows[start:start + n]
            got = torch.index_select(seen, 0, r, out=rank[start:start + n])
            seen.index_put_((r,), got + 1)  # a repeated row would be counted once
            start += n
        crow = torch.zeros(num_rows + 1, dtype=torch.long, device=rows.device)
        if int(seen.sum()) == len(rows):
            torch.cumsum(seen, 0, out=crow[1:])
            col = torch.empty_like(positions)
            col[crow[rows] + rank] = positions
            return crow, col, (num_rows, self.total)
        # int32 keys sort about twice as fast as int64 (rows < num_rows < 2**31)
        rows_sorted, order = torch.sort(rows.to(torch.int32), stable=True)
        crow[1:] = torch.cumsum(torch.bincount(rows_sorted, minlength=num_rows), 0)
        return crow, positions[order], (num_rows, self.total)

    @staticmethod
    def scatter_add_(structure, values: Tensor, out: Tensor) -> Tensor:
        """``out += S @ values`` in place for a CSR 0/1 structure from :meth:`_csr`
        (deterministic). Summing into an existing buffer avoids the zero-filled result
        and the copy that ``S @ values`` makes (together more than the product itself
        for 10^5 rows)."""
        crow, col, size = structure
        with warnings.catch_warnings():
            # built here from valid indices; torch's note that CSR support is "beta"
            # says nothing to the user
            warnings.filterwarnings('ignore', message='Sparse CSR tensor support')
            s = torch.sparse_csr_tensor(crow, col,
                                        torch.ones(len(col), dtype=values.dtype,
                                                   device=values.device),
                                        size=size, check_invariants=False)
        return out.addmm_(s, values)


class _Workspace(threading.local):
    """Reused scratch buffers of the ``bucketed`` algorithm, one set per thread.

    A conv gathers its input rows into a ``(P, C_in)`` buffer and writes its products into
    a ``(P, C_out)`` one (P: padded rule-book pairs, about 9 per voxel for a 3x3x3
    submanifold conv on a surface); backward needs three such buffers. At paper scale
    they are hundreds of MB each, and a freshly allocated buffer is paid for in page
    faults on its first write (a gather into a new 550 MB buffer took 330 ms in a
    pre-training step, about 4x the gather into memory already touched). The buffers never
    leave the conv: each is filled and fully consumed inside one forward or backward
    call, so they are kept here (per role and dtype, grown with 25 % headroom) and
    reused by the next conv. They stay allocated until :func:`release_rulebook_workspace`
    or the end of the thread; ``GRASPCONTRAST_SPCONV_CPU_WORKSPACE=0`` turns the reuse off.
    """

    def __init__(self):
        self.buffers: Dict[tuple, Tensor] = {}

    def get(self, role: str, rows: int, cols: int, dtype: torch.dtype,
            device: torch.device) -> Tensor:
        """An uninitialised ``(rows, cols)`` buffer for ``role``; the previous content of
        the role's buffer is overwritten by the caller."""
        if not _WORKSPACE_ENABLED or device.type != 'cpu':
            return torch.empty((rows, cols), dtype=dtype, device=device)
        key = (role, dtype)
        need = rows * cols
        buf = self.buffers.get(key)
        if buf is None or buf.numel() < need:
            self.buffers.pop(key, None)  # free the old one before the larger allocation
            buf = self.buffers[key] = torch.empty(need + need // 4, dtype=dtype,
                                                  device=device)
        return buf[:need].view(rows, cols)


_WORKSPACE_ENABLED = env_switch_on(WORKSPACE_ENV_VAR)
_WORKSPACE = _Workspace()


def release_rulebook_workspace() -> int:
    """Free the calling thread's reused conv buffers (see :class:`_Workspace`).

    Returns:
        The number of bytes released.
    """
    freed = rulebook_workspace_bytes()
    _WORKSPACE.buffers.clear()
    return freed


def rulebook_workspace_bytes() -> int:
    """Bytes held by the calling thread's reused conv buffers."""
    return sum(b.numel() * b.element_size() for b in _WORKSPACE.buffers.values())


# id(indice_pairs) -> (weakref to indice_pairs, {(subm, inverse, num_in, num_out): plan})
_PLAN_CACHE: Dict[int, Tuple[weakref.ref, Dict[tuple, _BucketPlan]]] = {}


def _rulebook_cache(indice_pairs: Tensor) -> dict:
    """What is built from a rule-book (plans, neighbour tables), kept while it lives."""
    entry = _PLAN_CACHE.get(id(indice_pairs))
    if entry is None or entry[0]() is not indice_pairs:
        for stale in [k for k, (ref, _) in _PLAN_CACHE.items() if ref() is None]:
            del _PLAN_CACHE[stale]
        entry = (weakref.ref(indice_pairs), {})
        _PLAN_CACHE[id(indice_pairs)] = entry
    return entry[1]


def _bucket_plan(indice_pairs: Tensor, indice_pair_num: Tensor, num_in: int,
                 num_out: int, *, subm: bool, inverse: bool,
                 device: torch.device) -> _BucketPlan:
    """The plan of a rule-book, built once and reused while the rule-book lives."""
    key = (subm, inverse, num_in, num_out, str(device))
    cached = _rulebook_cache(indice_pairs)
    plan = cached.get(key)
    forward = None if subm else cached.get((subm, not inverse, num_out, num_in, str(device)))
    if plan is None and forward is not None:  # an inverse conv of a conv seen before
        plan = cached[key] = forward.reversed()
    if plan is None:
        segments = _rulebook_segments(indice_pairs.to(device), indice_pair_num,
                                      subm=subm, inverse=inverse)
        plan = cached[key] = _BucketPlan(segments, num_in, num_out, device)
    return plan


def _bmm_into(out: Tensor, a: Tensor, b: Tensor) -> None:
    """``out[...] = a @ b`` (batched); ``a @ b`` is computed in the operands' dtype and
    converted when ``out`` has another one (copying into an existing buffer is several
    times cheaper than converting into a fresh one, which page-faults)."""
    if out.dtype == a.dtype:
        torch.bmm(a, b, out=out)
    else:
        out.copy_(torch.bmm(a, b))


class _BucketedConvFunction(torch.autograd.Function):
    """Gather -> grouped batched GEMMs -> CSR scatter; forward and backward."""

    @staticmethod
    def forward(ctx, features: Tensor, weight: Tensor, plan: _BucketPlan, num_out: int,
                subm: bool, gemm_dtype: Optional[torch.dtype]) -> Tensor:
        c_out, c_in = weight.shape[0], weight.shape[-1]
        # GEMM operands, possibly rounded to gemm_dtype; sums stay in the features' dtype
        x = features if gemm_dtype is None else features.to(gemm_dtype)
        w = weight.reshape(c_out, -1, c_in).to(x.dtype)  # (C_out, K, C_in)
        centre = w.shape[1] // 2
        if subm:  # the centre offset (identity pairs), then the other offsets added
            out = x.mm(w[:, centre].t()).to(features.dtype)
        else:
            out = features.new_zeros((num_out, c_out))
        keep = (ctx.needs_input_grad[1]
                and plan.total * c_in * x.element_size() <= KEEP_GATHER_MAX_BYTES)
        ctx.gathered = None
        if plan.total:
            dev = features.device
            gathered = torch.index_select(  # (P, C_in)
                x, 0, plan.in_rows,
                out=None if keep else _WORKSPACE.get('a', plan.total, c_in, x.dtype, dev))
            if keep:  # for the weight gradient (memory for time, KEEP_GATHER_MAX_BYTES)
                ctx.gathered = gathered
            products = _WORKSPACE.get('b', plan.total, c_out, features.dtype, dev)
            # (., C_in, C_out) views of one gather (each matrix column-major, as BLAS reads)
            w_sorted = w.index_select(1, plan.offset_order).permute(1, 2, 0)
            first = 0
            for _, start, num, length in plan.buckets:
                stop = start + num * length
                _bmm_into(products[start:stop].view(num, length, c_out),
                          gathered[start:stop].view(num, length, c_in),
                          w_sorted[first:first + num])
                first += num
            del gathered
            _BucketPlan.scatter_add_(plan.scatter_out, products, out)
        ctx.save_for_backward(features, weight)
        ctx.plan = plan
        ctx.subm = subm
        ctx.gemm_dtype = gemm_dtype
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):
        features, weight = ctx.saved_tensors
        plan = ctx.plan
        dtype = features.dtype
        c_out, c_in = weight.shape[0], weight.shape[-1]
        gemm_dtype = dtype if ctx.gemm_dtype is None else ctx.gemm_dtype
        x = features.to(gemm_dtype)
        w = weight.reshape(c_out, -1, c_in).to(gemm_dtype)
        centre = w.shape[1] // 2
        grad_out = grad_out.contiguous()
        g_out = grad_out.to(gemm_dtype)
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_w = weight.new_zeros(w.shape) if need_w else None
        grad_features = None
        if need_x:  # the centre offset (identity pairs), then the other offsets added
            grad_features = (g_out.mm(w[:, centre]).to(dtype) if ctx.subm
                             else torch.zeros_like(features))
        if need_w and ctx.subm:
            grad_w[:, centre] = g_out.t().mm(x).to(dtype)
        if plan.total:
            dev = features.device
            grad_rows = torch.index_select(
                g_out, 0, plan.out_rows,
                out=_WORKSPACE.get('c', plan.total, c_out, g_out.dtype, dev))
            # padded pairs get a zero output gradient, so they add nothing to grad_w
            grad_rows.index_fill_(0, plan.pad_positions, 0)
            if need_w:
                gathered = ctx.gathered if ctx.gathered is not None else torch.index_select(
                    x, 0, plan.in_rows,
                    out=_WORKSPACE.get('a', plan.total, c_in, x.dtype, dev))
            if need_x:
                grad_gathered = _WORKSPACE.get('b', plan.total, c_in, dtype, dev)
                # (., C_out, C_in): each bucket's weights, transposed, as one slice
                w_sorted_t = w.index_select(1, plan.offset_order).transpose(0, 1)
            if need_w:
                gw_sorted = weight.new_empty((len(plan.offset_order), c_in, c_out))
            first = 0
            for _, start, num, length in plan.buckets:
                stop = start + num * length
                g = grad_rows[start:stop].view(num, length, c_out)
                if need_w:
                    _bmm_into(gw_sorted[first:first + num],
                              gathered[start:stop].view(num, length, c_in).transpose(1, 2),
                              g)
                if need_x:
                    _bmm_into(grad_gathered[start:stop].view(num, length, c_in), g,
                              w_sorted_t[first:first + num])
                first += num
            ctx.gathered = None  # the kept forward gather is used up
            if need_w:
                grad_w.index_copy_(1, plan.offset_order, gw_sorted.permute(2, 0, 1))
            if need_x:
                _BucketPlan.scatter_add_(plan.scatter_in, grad_gathered, grad_features)
        if need_w:
            grad_w = grad_w.reshape(weight.shape)
        return grad_features, grad_w, None, None, None, None


def _subm_neighbours(indice_pairs: Tensor, indice_pair_num: Tensor, num: int,
                     device: torch.device) -> Tensor:
    """Neighbour table of a submanifold rule-book: int32 ``(num, K)``, entry ``(i, k)``
    the input row that feeds output row ``i`` through offset ``k`` (``i`` itself at the
    centre), ``num`` where there is none (the caller's zero row). Built once per
    rule-book (cached with the plans)."""
    key = ('neighbours', num, str(device))
    cached = _rulebook_cache(indice_pairs)
    table = cached.get(key)
    if table is None:
        kv = indice_pairs.shape[1]
        table = torch.full((kv, num), num, dtype=torch.int32, device=device)
        table[kv // 2] = torch.arange(num, dtype=torch.int32, device=device)
        for k, rows_in, rows_out in _rulebook_segments(
                indice_pairs.to(device), indice_pair_num, subm=True, inverse=False):
            table[k].index_copy_(0, rows_out.long(), rows_in.int())
        table = cached[key] = table.t().contiguous()
    return table


class _Im2colSubmConvFunction(torch.autograd.Function):
    """Submanifold conv as one neighbourhood gather and one GEMM (module docstring).

    ``out[i] = sum_k W_k x[nb[i, k]]`` with ``x`` padded by a zero row. For odd kernels
    ``nb[j, k] = i`` exactly when ``nb[i, K - 1 - k] = j``, so the input gradient
    ``sum_k W_k^T g[i]`` over the pairs that read ``j`` is
    ``sum_k W_(K-1-k)^T g[nb[j, k]]``: a gather by the same table.
    """

    @staticmethod
    def forward(ctx, features: Tensor, weight: Tensor, neighbours: Tensor) -> Tensor:
        num, c_in = features.shape
        c_out, kv = weight.shape[0], neighbours.shape[1]
        padded = torch.cat([features, features.new_zeros((1, c_in))])
        columns = padded.index_select(0, neighbours.view(-1)).view(num, kv * c_in)
        out = columns.mm(weight.reshape(c_out, kv * c_in).t())
        ctx.save_for_backward(weight, neighbours,
                              columns if ctx.needs_input_grad[1] else None)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: Tensor):
        weight, neighbours, columns = ctx.saved_tensors
        num, kv = neighbours.shape
        c_out, c_in = weight.shape[0], weight.shape[-1]
        grad_out = grad_out.contiguous()
        grad_features = grad_weight = None
        if ctx.needs_input_grad[1]:
            grad_weight = grad_out.t().mm(columns).view(weight.shape)
        if ctx.needs_input_grad[0]:
            padded = torch.cat([grad_out, grad_out.new_zeros((1, c_out))])
            grad_columns = padded.index_select(0, neighbours.view(-1)).view(num, kv * c_out)
            mirrored = weight.reshape(c_out, kv, c_in).flip(1).transpose(0, 1)
            grad_features = grad_columns.mm(mirrored.reshape(kv * c_out, c_in))
        return grad_features, grad_weight, None


def rulebook_conv(features: Tensor,
                  weight: Tensor,
                  indice_pairs: Tensor,
                  indice_pair_num: Tensor,
                  num_out: int,
                  *,
                  subm: bool,
                  inverse: bool = False,
                  bias: Optional[Tensor] = None,
                  algorithm: Optional[str] = None) -> Tensor:
    """Sparse convolution of features over an spconv rule-book, in plain torch.

    Deterministic for a fixed number of torch threads and differentiable with respect to
    ``features``, ``weight`` and ``bias`` on any device torch supports (used for CPU
    tensors).

    Args:
        features: ``(V_in, C_in)`` input features (one row per active input voxel).
        weight: ``(C_out, *kernel_size, C_in)`` weights in spconv's KRSC layout.
        indice_pairs: int32 ``(2, K, N)`` rule-book from ``spconv.pytorch.ops.
            get_indice_pairs`` (layout in the module docstring).
        indice_pair_num: int32 ``(K,)`` valid pairs per kernel offset.
        num_out: number of active output voxels ``V_out``.
        subm: submanifold rule-book (``V_out == V_in``, implicit centre offset).
        inverse: apply the rule-book of a regular conv backwards (``SparseInverseConv``).
        bias: optional ``(C_out,)`` bias added to every output row.
        algorithm: ``'bucketed'`` or ``'per_offset'`` (module docstring); ``None`` uses
            the process-wide choice (:func:`set_rulebook_algorithm`).

    Returns:
        ``(V_out, C_out)`` output features, rows in the order of spconv's output indices.
    """
    if features.dim() != 2 or features.shape[1] != weight.shape[-1]:
        raise ValueError(f'features {tuple(features.shape)} do not match weight '
                         f'{tuple(weight.shape)} (KRSC layout, C_in last)')
    if subm and num_out != features.shape[0]:
        raise ValueError('a submanifold conv keeps the input rows: num_out must be '
                         f'{features.shape[0]}, got {num_out}')
    algorithm = _ALGORITHM if algorithm is None else algorithm
    if algorithm not in RULEBOOK_ALGORITHMS:
        raise ValueError(f'unknown rule-book algorithm {algorithm!r}; expected one of '
                         f'{RULEBOOK_ALGORITHMS}')
    weight = weight.to(features.dtype)
    if (algorithm == 'bucketed' and subm and not inverse
            and features.shape[1] <= IM2COL_MAX_IN_CHANNELS
            and (weight.numel() // (weight.shape[0] * weight.shape[-1])) % 2 == 1):
        neighbours = _subm_neighbours(indice_pairs, indice_pair_num, features.shape[0],
                                      features.device)
        out = _Im2colSubmConvFunction.apply(features.contiguous(), weight, neighbours)
    elif algorithm == 'bucketed':
        plan = _bucket_plan(indice_pairs, indice_pair_num, features.shape[0],
                            int(num_out), subm=subm, inverse=inverse,
                            device=features.device)
        gemm_dtype = GEMM_DTYPES[_GEMM_DTYPE] if features.dtype == torch.float32 else None
        out = _BucketedConvFunction.apply(features.contiguous(), weight, plan,
                                          int(num_out), subm, gemm_dtype)
    else:
        segments = _rulebook_segments(
            indice_pairs.to(features.device), indice_pair_num, subm=subm,
            inverse=inverse)
        out = _RulebookConvFunction.apply(features.contiguous(), weight, segments,
                                          int(num_out), subm)
    if bias is not None:
        out = out + bias.to(out.dtype)
    return out


def _apply_activation(x: Tensor, act_type, alpha: float) -> Tensor:
    """Apply one of spconv's fused inference activations (cumm ``tv.gemm.Activation``)."""
    name = getattr(act_type, 'name', str(act_type))
    if name == 'None_':
        return x
    if name == 'ReLU':
        return torch.relu(x)
    if name == 'LeakyReLU':
        return torch.nn.functional.leaky_relu(x, alpha)
    if name == 'Sigmoid':
        return torch.sigmoid(x)
    raise NotImplementedError(f'activation {act_type} is not supported on CPU')


_ENTRY_POINT_ARGS = ('features', 'filters', 'indice_pairs', 'indice_pair_num',
                     'num_activate_out', 'algo', 'timer', 'bias', 'act_alpha',
                     'act_beta', 'act_type')


def _make_entry_point(name: str, original):
    """Wrap one of spconv's functional conv entry points: CPU -> torch, else -> spconv."""
    subm, inverse = _ENTRY_POINTS[name]

    def entry_point(*args, **kwargs):
        a = dict(zip(_ENTRY_POINT_ARGS, args), **kwargs)
        features, filters = a['features'], a['filters']
        if (features.device.type != 'cpu' or not features.is_floating_point()
                or filters.is_quantized):
            return original(*args, **kwargs)  # spconv's own kernels, unchanged
        out = rulebook_conv(features, filters, a['indice_pairs'], a['indice_pair_num'],
                            a['num_activate_out'], subm=subm, inverse=inverse,
                            bias=a.get('bias'))
        act_type = a.get('act_type')
        if act_type is not None:
            # spconv's indice_conv call site passes act_type in the act_alpha slot; only
            # a number is a meaningful slope.
            alpha = a.get('act_alpha', 0.0)
            out = _apply_activation(out, act_type,
                                    alpha if isinstance(alpha, (int, float)) else 0.0)
        return out

    entry_point.__name__ = name
    entry_point.__qualname__ = name
    entry_point.__doc__ = (f'spconv.pytorch.functional.{name}, with CPU tensors routed '
                           f'to graspcontrast_mm.ops.rulebook_conv.')
    entry_point._graspcontrast_original = original
    return entry_point


_ALLOCATOR_CLASS = {}  # the rule-book allocator class, built on first use (needs spconv)


def _rulebook_allocator_class():
    """A subclass of spconv's ``TorchAllocator`` that leaves a CPU rule-book unfilled.

    spconv's C++ rule-book generation asks its allocator for the pair buffer
    ``PairFwd`` (``(2, K, N)`` int32) filled with ``-1``, then writes, for every kernel
    offset ``k``, the first ``indice_pair_num[k]`` columns (for a submanifold conv's
    second half: those of the mirrored offset). Nothing reads the rest: not the
    generation itself (its result is the same whatever the buffer held before; see the
    tests) and not :func:`rulebook_conv`, which reads exactly those columns. On CPU the
    fill is a pass over ``2 * K * N`` int32 per rule-book (K = 125 for a 5x5x5 stem),
    about 17 ms of a tiny pre-training step of 0.31 s; this allocator returns the buffer
    unfilled instead. Every other allocation, and every allocation for CUDA, is
    spconv's.
    """
    cls = _ALLOCATOR_CLASS.get('cls')
    if cls is None:
        from spconv.pytorch.cppcore import AllocKeys, TorchAllocator

        class CpuRulebookAllocator(TorchAllocator):
            def full_int(self, name, shape, value, dtype, device, stream=0,
                         is_temp_memory=False):
                if (name == AllocKeys.PairFwd and device == -1 and value == -1
                        and not self.is_quantized):
                    return self.empty(name, shape, dtype, device, stream, is_temp_memory)
                return super().full_int(name, shape, value, dtype, device, stream,
                                        is_temp_memory)

        cls = _ALLOCATOR_CLASS['cls'] = CpuRulebookAllocator
    return cls


def spconv_cpu_fixes_enabled() -> bool:
    """Whether spconv's CPU convs are currently routed to :func:`rulebook_conv`."""
    return bool(_ORIGINALS)


def apply_spconv_cpu_fixes() -> bool:
    """Route spconv's CPU sparse convolutions to :func:`rulebook_conv` (idempotent).

    Affects every spconv layer in the process (also ones created before the call), for
    CPU tensors only; CUDA tensors keep spconv's kernels.

    Returns:
        True (the fix is active after the call).
    """
    if _ORIGINALS:
        return True
    from spconv.constants import ALL_WEIGHT_IS_KRSC
    from spconv.pytorch import functional as spconv_functional
    if not ALL_WEIGHT_IS_KRSC:
        raise RuntimeError('the spconv CPU fix expects KRSC weights (spconv 2.3.x)')
    from spconv.pytorch import ops as spconv_ops
    for name in _ENTRY_POINTS:
        original = getattr(spconv_functional, name)
        _ORIGINALS[name] = original
        setattr(spconv_functional, name, _make_entry_point(name, original))
    # spconv.pytorch.ops.get_indice_pairs builds its allocator from this module global
    _ORIGINALS['TorchAllocator'] = spconv_ops.TorchAllocator
    spconv_ops.TorchAllocator = _rulebook_allocator_class()
    # submanifold rule-books sliced from a larger kernel's (spconv_rulebooks; spconv's
    # conv layers call get_indice_pairs through this module attribute)
    from graspcontrast_mm.ops.spconv_rulebooks import derived_get_indice_pairs
    _ORIGINALS['get_indice_pairs'] = spconv_ops.get_indice_pairs
    spconv_ops.get_indice_pairs = derived_get_indice_pairs(spconv_ops.get_indice_pairs)
    return True


def remove_spconv_cpu_fixes() -> bool:
    """Restore spconv's own CPU path (racy with 2+ threads, no CPU backward).

    Meant for benchmarks and for checking that the tests catch spconv's defects.

    Returns:
        False (the fix is inactive after the call).
    """
    if not _ORIGINALS:
        return False
    from spconv.pytorch import functional as spconv_functional
    from spconv.pytorch import ops as spconv_ops
    spconv_ops.TorchAllocator = _ORIGINALS.pop('TorchAllocator')
    spconv_ops.get_indice_pairs = _ORIGINALS.pop('get_indice_pairs')
    for name, original in _ORIGINALS.items():
        setattr(spconv_functional, name, original)
    _ORIGINALS.clear()
    return False


@contextlib.contextmanager
def spconv_cpu_fixes(enabled: bool = True) -> Iterator[None]:
    """Context manager that enables (or disables) the fix and restores the previous state.

    Args:
        enabled: state inside the ``with`` block.
    """
    before = spconv_cpu_fixes_enabled()
    if enabled:
        apply_spconv_cpu_fixes()
    else:
        remove_spconv_cpu_fixes()
    try:
        yield
    finally:
        if before:
            apply_spconv_cpu_fixes()
        else:
            remove_spconv_cpu_fixes()


def _env_allows_fix() -> bool:
    return env_switch_on(ENV_VAR)
