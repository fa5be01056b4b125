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

A submanifold rule-book that cannot be sliced is generated here too
(:func:`dense_subm_rulebook`), by looking every voxel's neighbours up in a dense grid of
voxel numbers over the voxels' bounding box instead of spconv's hash table: equal to
spconv's rule-book entry by entry (same offsets, same pair order, same counts; tested
against spconv), 2-4x faster on CPU (the tiny pre-training's ``5^3`` stem: 34-42 ms ->
about 12 ms). It falls back to spconv when the grid would be large for the work
(more than :data:`DENSE_GRID_MAX_CELLS_PER_LOOKUP` cells per neighbour lookup) or the
work small (:data:`DENSE_GRID_MIN_LOOKUPS`), when a voxel lies outside the grid or the
batch, or when a voxel is listed twice.
"""
import threading
import weakref
from typing import List, Optional, Tuple

import torch
from torch import Tensor

__all__ = ['SUBM_MEMO_SIZE', 'derived_get_indice_pairs', 'clear_subm_rulebook_memo',
           'sub_kernel_offsets', 'dense_subm_rulebook', 'DENSE_GRID_MAX_CELLS_PER_LOOKUP',
           'DENSE_GRID_MIN_LOOKUPS', 'release_dense_grid']

#: Submanifold rule-books kept for derivation (SparseUNet builds five per forward).
SUBM_MEMO_SIZE = 8
#: :func:`dense_subm_rulebook` uses a dense grid while it has at most this many cells per
#: neighbour lookup (voxels x kernel volume); a sparser grid goes to spconv's hash table.
#: The tiny pre-training's grids have 2-3 cells per lookup.
DENSE_GRID_MAX_CELLS_PER_LOOKUP = 16
#: Below this many neighbour lookups (voxels x kernel volume) spconv's generator is as
#: fast (measured: 830 voxels x 27 offsets 0.6 ms either way, 2923 x 27 1.7 vs 1.2 ms).
DENSE_GRID_MIN_LOOKUPS = 32768

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


class _DenseGrid(threading.local):
    """One int32 grid of voxel numbers per thread, ``-1`` in every cell between calls
    (a call writes its voxels' cells and clears exactly those again), grown as needed:
    a call costs its voxels, not the grid's size."""

    def __init__(self):
        self.cells = torch.empty(0, dtype=torch.int32)

    def get(self, num_cells: int) -> Tensor:
        if self.cells.numel() < num_cells:
            self.cells = torch.empty(0, dtype=torch.int32)  # free before allocating
            self.cells = torch.full((num_cells + num_cells // 4,), -1, dtype=torch.int32)
        return self.cells


_DENSE_GRID = _DenseGrid()


def release_dense_grid() -> int:
    """Free the calling thread's neighbour-lookup grid; returns the bytes released."""
    freed = _DENSE_GRID.cells.numel() * 4
    _DENSE_GRID.cells = torch.empty(0, dtype=torch.int32)
    return freed


def dense_subm_rulebook(indices: Tensor, batch_size: int, spatial_shape,
                        ksize) -> Optional[Tuple[Tensor, Tensor]]:
    """spconv's submanifold rule-book (native layout, CPU) from a dense lookup grid.

    spconv's CPU rule-book of a submanifold conv with an odd kernel (stride 1, dilation
    1): for offset ``k`` (row-major over the kernel, ``d_k`` its displacement) and
    ``k < K // 2``, the pairs ``(in j, out i)`` with ``p_j = p_i + d_k``, listed in
    increasing ``j``; offset ``K - 1 - k`` holds the same pairs with input and output
    swapped; the centre offset is implicit; ``indice_pair_num`` counts the first half only.

    Args:
        indices: int32 ``(V, 1 + D)`` voxels ``[batch, *coords]``, CPU.
        batch_size: number of batch entries.
        spatial_shape: the grid ``(D,)`` the coordinates lie in.
        ksize: odd kernel size ``(D,)``.

    Returns:
        ``(indice_pairs, indice_pair_num)``: int32 ``(2, K, V)`` (columns past each
        offset's count are not written, as in spconv's CPU path with the package's fixes)
        and int32 ``(K,)``; or ``None`` when spconv should generate it instead (a grid of
        more than :data:`DENSE_GRID_MAX_CELLS_PER_LOOKUP` cells per lookup, fewer than
        :data:`DENSE_GRID_MIN_LOOKUPS` lookups, a voxel outside the grid or the batch, a
        voxel listed twice).
    """
    num, dims = indices.shape[0], indices.shape[1] - 1
    ksize = _ints(ksize)
    spatial_shape = _ints(spatial_shape)
    if (num == 0 or len(ksize) != dims or len(spatial_shape) != dims
            or any(k % 2 == 0 for k in ksize) or indices.device.type != 'cpu'):
        return None
    kv = 1
    for k in ksize:
        kv *= k
    if num * kv < DENSE_GRID_MIN_LOOKUPS:
        return None
    centre = kv // 2
    coords = indices.long()
    lo = coords.amin(0).tolist()
    hi = coords.amax(0).tolist()
    if lo[0] < 0 or hi[0] >= batch_size or any(
            lo[1 + a] < 0 or hi[1 + a] >= spatial_shape[a] for a in range(dims)):
        return None
    # the voxels' bounding box, padded by the kernel radius: no lookup leaves the grid
    extent = [hi[1 + a] - lo[1 + a] + 1 + 2 * (ksize[a] // 2) for a in range(dims)]
    strides = [1] * dims
    for a in range(dims - 2, -1, -1):
        strides[a] = strides[a + 1] * extent[a + 1]
    per_batch = strides[0] * extent[0]
    num_cells = (hi[0] + 1) * per_batch
    if num_cells > DENSE_GRID_MAX_CELLS_PER_LOOKUP * num * kv or num_cells >= 2**31:
        return None
    shift = torch.tensor([ksize[a] // 2 - lo[1 + a] for a in range(dims)])
    cell = coords[:, 0] * per_batch + ((coords[:, 1:] + shift) * torch.tensor(strides)).sum(1)
    grid = _DENSE_GRID.get(num_cells)
    grid.index_put_((cell,), torch.arange(num, dtype=torch.int32))
    try:
        if not bool((grid.index_select(0, cell) == torch.arange(num, dtype=torch.int32))
                    .all()):
            return None  # a voxel listed twice: spconv decides what that means
        # displacement of every offset as a cell step, row-major over the kernel
        axes = torch.meshgrid(*[torch.arange(k) - k // 2 for k in ksize], indexing='ij')
        step = sum(ax.reshape(-1) * s for ax, s in zip(axes, strides))
        # offsets K-1-k (k < centre): out i = grid[cell_j - d_k] = grid[cell_j + d_(K-1-k)]
        mirrored = step[centre + 1:].flip(0)  # row k: displacement d_(K-1-k)
        lookup = (cell.int()[None, :] + mirrored.int()[:, None]).view(-1)
        partner = grid.index_select(0, lookup).view(centre, num)
    finally:
        grid.index_fill_(0, cell, -1)
    offset, inp = torch.nonzero(partner >= 0, as_tuple=True)  # offset-major, j increasing
    out = partner[offset, inp]
    inp = inp.int()
    counts = torch.zeros(kv, dtype=torch.int32)
    counts[:centre] = torch.bincount(offset, minlength=centre).int()
    pairs = torch.empty((2, kv, num), dtype=torch.int32)
    start = 0
    for k, n in enumerate(counts[:centre].tolist()):
        if n:
            stop = start + n
            pairs[0, k, :n] = inp[start:stop]
            pairs[1, k, :n] = out[start:stop]
            pairs[0, kv - 1 - k, :n] = out[start:stop]
            pairs[1, kv - 1 - k, :n] = inp[start:stop]
            start = stop
    return pairs, counts


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
        if derived is None:
            derived = dense_subm_rulebook(indices, *key)
            if derived is not None:
                _SUBM_MEMO.remember(indices, *key, *derived)
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
