"""Submanifold rule-books derived from a larger kernel's instead of generated again.

spconv builds a conv's *rule-book* (which input voxel feeds which output voxel, per
kernel offset; layout in :mod:`graspcontrast_mm.ops.spconv_cpu`) in
``spconv.pytorch.ops.get_indice_pairs``. A submanifold conv pairs every active voxel with
the active voxel at each kernel offset, so the rule-book of a centred smaller kernel is a
slice of a larger kernel's rule-book on the same voxels: for a ``3^3`` kernel, the
``[-1, 1]^3`` offsets of the ``5^3`` rule-book. spconv numbers the offsets row-major and
lists each offset's pairs in input-row order (the mirrored half in output-row order), so
the slice equals spconv's own ``3^3`` rule-book entry by entry (tested against spconv).

:func:`derived_get_indice_pairs` wraps ``get_indice_pairs`` (installed and removed with
the other CPU fixes of :mod:`~graspcontrast_mm.ops.spconv_cpu`): for CPU voxels, a
submanifold call (stride 1, dilation 1, odd kernel) whose voxels (equal tensor content),
batch size and grid match a larger odd kernel's submanifold rule-book built before gets
the slice; everything else, CUDA included, goes to spconv. ``SparseUNet`` builds its
level-0 ``3^3`` rule-book this way from the ``5^3`` stem's (8-20 ms of a 0.33 s tiny CPU
pre-training step). The memo keeps the last :data:`SUBM_MEMO_SIZE` rule-books, each only
while its voxel tensor is alive (a weak reference; the rule-book itself is held by the
sparse tensor's ``indice_dict`` anyway).
"""
import threading
import weakref
from typing import List, Optional, Tuple

import torch
from torch import Tensor

__all__ = ['SUBM_MEMO_SIZE', 'derived_get_indice_pairs', 'clear_subm_rulebook_memo',
           'sub_kernel_offsets']

#: Submanifold rule-books kept for derivation (SparseUNet builds five per forward).
SUBM_MEMO_SIZE = 8

Ints = Tuple[int, ...]


def _ints(values) -> Ints:
    return tuple(int(v) for v in values)


def sub_kernel_offsets(big: Ints, small: Ints) -> Tensor:
    """Offset numbers, in the row-major enumeration of the ``big`` kernel, of the centred
    ``small`` kernel's offsets (listed in the ``small`` kernel's row-major order).

    Example: ``sub_kernel_offsets((5, 5, 5), (3, 3, 3))[0] == 31`` (offset ``(-1, -1, -1)``
    is ``(1, 1, 1)`` in the 5-kernel: ``1 * 25 + 1 * 5 + 1``).
    """
    if len(big) != len(small) or any(s > b or (b - s) % 2 for b, s in zip(big, small)):
        raise ValueError(f'kernel {small} is not a centred part of kernel {big}')
    grids = torch.meshgrid(*[torch.arange(s) + (b - s) // 2 for b, s in zip(big, small)],
                           indexing='ij')
    flat = torch.zeros_like(grids[0])
    for axis, g in enumerate(grids):
        flat = flat * big[axis] + g
    return flat.reshape(-1)


class _SubmMemo:
    """The last few submanifold rule-books, each with a weak reference to its voxels."""

    def __init__(self, size: int):
        self.size = size
        self.entries: List[tuple] = []  # (ref(voxels), batch, grid, kernel, pairs, counts)
        self.lock = threading.Lock()

    def remember(self, indices: Tensor, batch_size: int, grid: Ints, kernel: Ints,
                 pairs: Tensor, counts: Tensor) -> None:
        with self.lock:
            self.entries = [e for e in self.entries if e[0]() is not None]
            self.entries.append((weakref.ref(indices), batch_size, grid, kernel, pairs,
                                 counts))
            del self.entries[:-self.size]

    def derive(self, indices: Tensor, batch_size: int, grid: Ints,
               kernel: Ints) -> Optional[Tuple[Tensor, Tensor]]:
        """The rule-book of ``kernel`` sliced from a larger one of the same voxels."""
        with self.lock:
            entries = list(self.entries)
        for ref, b, g, big, pairs, counts in reversed(entries):
            if (b != batch_size or g != grid or len(big) != len(kernel) or big == kernel
                    or any(k > K or (K - k) % 2 for k, K in zip(kernel, big))):
                continue
            source = ref()
            if source is None or not (source is indices or (
                    source.shape == indices.shape and source.dtype == indices.dtype
                    and torch.equal(source, indices))):
                continue
            select = sub_kernel_offsets(big, kernel)
            return pairs.index_select(1, select), counts.index_select(0, select)
        return None

    def clear(self) -> None:
        with self.lock:
            self.entries = []


_SUBM_MEMO = _SubmMemo(SUBM_MEMO_SIZE)


def clear_subm_rulebook_memo() -> None:
    """Forget the submanifold rule-books kept for derivation."""
    _SUBM_MEMO.clear()


def derived_get_indice_pairs(original):
    """``spconv.pytorch.ops.get_indice_pairs`` (``original``) with CPU submanifold
    rule-books derived from a larger kernel's when possible (module docstring)."""

    def get_indice_pairs(indices, batch_size, spatial_shape, algo, ksize, stride, padding,
                         dilation, out_padding, subm=False, transpose=False,
                         num_out_act_bound=-1):
        args = (indices, batch_size, spatial_shape, algo, ksize, stride, padding, dilation,
                out_padding, subm, transpose, num_out_act_bound)
        derivable = (indices.device.type == 'cpu' and bool(subm) and not transpose
                     and num_out_act_bound == -1 and all(int(s) == 1 for s in stride)
                     and all(int(d) == 1 for d in dilation)
                     and all(int(k) % 2 == 1 for k in ksize))
        if not derivable:
            return original(*args)
        key = (int(batch_size), _ints(spatial_shape), _ints(ksize))
        derived = _SUBM_MEMO.derive(indices, *key)
        if derived is not None:
            return (indices[:indices.shape[0]],) + derived  # spconv returns this view
        result = original(*args)
        _SUBM_MEMO.remember(indices, *key, result[1], result[2])
        return result

    get_indice_pairs.__name__ = 'get_indice_pairs'
    get_indice_pairs.__doc__ = ('spconv.pytorch.ops.get_indice_pairs with CPU submanifold '
                                'rule-books derived from a larger kernel\'s '
                                '(graspcontrast_mm.ops.spconv_rulebooks).')
    get_indice_pairs._graspcontrast_original = original
    return get_indice_pairs
