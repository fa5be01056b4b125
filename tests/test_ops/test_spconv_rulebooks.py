"""Submanifold rule-books sliced from a larger kernel's (graspcontrast_mm.ops.spconv_rulebooks)
and the counting-sort CSR of the bucketed CPU conv plans, against spconv's own rule-books
and a comparison sort."""
import pytest
import torch
from spconv.core import ConvAlgo
from spconv.pytorch import ops as spconv_ops
from spconv_helpers import rulebook_read_region

from graspcontrast_mm.models.backbones import SparseUNet
from graspcontrast_mm.ops import spconv_cpu, spconv_rulebooks
from graspcontrast_mm.ops.spconv_rulebooks import sub_kernel_offsets

GRID = [14, 12, 10]


def surface_voxels(seed, batch_size=2, num=600):
    """Unique voxels near a wavy surface (neighbours in every direction), rows shuffled:
    int32 (V, 4) [batch, x, y, z]."""
    gen = torch.Generator().manual_seed(seed)
    clouds = []
    for b in range(batch_size):
        x = torch.randint(0, GRID[0], (num,), generator=gen)
        y = torch.randint(0, GRID[1], (num,), generator=gen)
        z = (GRID[2] // 2 + torch.round(2 * torch.sin(x * 0.7) + torch.randint(
            -1, 2, (num,), generator=gen))).clamp(0, GRID[2] - 1).long()
        clouds.append(torch.unique(torch.stack([torch.full_like(x, b), x, y, z], 1), dim=0))
    coords = torch.cat(clouds)
    return coords[torch.randperm(len(coords), generator=gen)].int().contiguous()


def spconv_rulebook(coords, kernel, batch_size=2, grid=GRID, dilation=1):
    """spconv's own submanifold rule-book (the unwrapped generator)."""
    original = spconv_cpu._ORIGINALS['get_indice_pairs']
    kernel = list(kernel)
    return original(coords, batch_size, grid, ConvAlgo.Native, kernel, [1] * 3,
                    [k // 2 for k in kernel], [dilation] * 3, [0] * 3, True, False)


def read_region(pairs, counts):
    return rulebook_read_region(pairs, counts, subm=True)


def wrapped_call(coords, kernel, batch_size=2, grid=GRID, dilation=1, stride=1):
    kernel = list(kernel)
    return spconv_ops.get_indice_pairs(coords, batch_size, grid, ConvAlgo.Native, kernel,
                                       [stride] * 3, [k // 2 for k in kernel],
                                       [dilation] * 3, [0] * 3, True, False)


@pytest.fixture
def generations(monkeypatch):
    """Count the rule-books generated through the installed wrapper (by spconv's generator
    or the dense-grid one), by kernel size."""
    spconv_rulebooks.clear_subm_rulebook_memo()
    original = spconv_cpu._ORIGINALS['get_indice_pairs']
    dense = spconv_rulebooks.dense_subm_rulebook
    calls = []

    def counting(*args):
        calls.append(tuple(args[4]))
        return original(*args)

    def counting_dense(indices, batch_size, grid, ksize):
        result = dense(indices, batch_size, grid, ksize)
        if result is not None:
            calls.append(tuple(ksize))
        return result

    monkeypatch.setattr(spconv_rulebooks, 'dense_subm_rulebook', counting_dense)
    monkeypatch.setattr(spconv_ops, 'get_indice_pairs',
                        spconv_rulebooks.derived_get_indice_pairs(counting))
    yield calls
    spconv_rulebooks.clear_subm_rulebook_memo()


def test_sub_kernel_offsets_are_the_centred_part():
    sel = sub_kernel_offsets((5, 5, 5), (3, 3, 3))
    assert sel[0] == 31 and sel[13] == 62 and sel[26] == 93 and len(sel) == 27
    assert sub_kernel_offsets((3, 3, 3), (1, 1, 1)).tolist() == [13]
    assert sub_kernel_offsets((5, 3, 5), (3, 3, 1)).tolist() == [
        (a + 1) * 15 + b * 5 + 2 for a in range(3) for b in range(3)]
    with pytest.raises(ValueError, match='centred part'):
        sub_kernel_offsets((5, 5, 5), (4, 4, 4))


@pytest.mark.parametrize('big,small', [((5, 5, 5), (3, 3, 3)), ((7, 7, 7), (3, 3, 3)),
                                       ((5, 3, 5), (3, 3, 1)), ((3, 3, 3), (1, 1, 1))])
def test_sliced_rulebook_equals_spconvs(generations, big, small):
    coords = surface_voxels(seed=sum(big) + sum(small))
    _, pairs_big, counts_big = wrapped_call(coords, big)
    same_voxels = coords.clone()  # equal content, another tensor
    out, pairs, counts = wrapped_call(same_voxels, small)
    assert generations == [big]  # the small rule-book was not generated
    assert out.data_ptr() == same_voxels.data_ptr() and out.shape == same_voxels.shape
    _, ref_pairs, ref_counts = spconv_rulebook(coords, small)
    assert torch.equal(counts, ref_counts)
    got, ref = read_region(pairs, counts), read_region(ref_pairs, ref_counts)
    assert (sum(r.shape[1] for r in ref) > 0) == (small != (1, 1, 1))  # 1^3: centre only
    assert all(torch.equal(a, b) for a, b in zip(got, ref))


def test_no_slice_when_anything_differs(generations):
    coords = surface_voxels(seed=3)
    wrapped_call(coords, (5, 5, 5))
    moved = coords.clone()
    moved[0, 3] = (moved[0, 3] + 1) % GRID[2]
    if (moved[1:] == moved[0]).all(dim=1).any():
        moved[0, 3] = (moved[0, 3] + 1) % GRID[2]
    wrapped_call(moved, (3, 3, 3))                      # other voxels
    wrapped_call(coords, (3, 3, 3), batch_size=3)       # other batch size
    wrapped_call(coords, (3, 3, 3), grid=[16, 12, 10])  # other grid
    wrapped_call(coords, (3, 3, 3), dilation=2)         # dilated: not a slice
    assert generations == [(5, 5, 5)] + [(3, 3, 3)] * 4
    # the slice once everything matches, and the result is spconv's
    _, pairs, counts = wrapped_call(coords.clone(), (3, 3, 3))
    assert len(generations) == 5
    _, ref_pairs, ref_counts = spconv_rulebook(coords, (3, 3, 3))
    assert all(torch.equal(a, b) for a, b in zip(read_region(pairs, counts),
                                                 read_region(ref_pairs, ref_counts)))


def test_memo_forgets_dead_voxels(generations):
    coords = surface_voxels(seed=4)
    wrapped_call(coords, (5, 5, 5))
    same = coords.clone()
    del coords  # the 5^3 rule-book's voxels are gone: nothing to slice from
    wrapped_call(same, (3, 3, 3))
    assert generations == [(5, 5, 5), (3, 3, 3)]


def test_sparse_unet_slices_its_level0_rulebook_and_gives_the_same_result(
        generations, monkeypatch):
    """SparseUNet: 9 generations instead of 10 (subm0 from the 5^3 stem), and the same
    forward and gradients, bit for bit, as with every rule-book generated."""
    torch.manual_seed(0)
    net = SparseUNet(3, 8, planes=(8, 8, 8, 8, 8, 8, 8, 8), init_dim=8)
    coords = surface_voxels(seed=5, num=900)
    feats = torch.rand(len(coords), 3)

    def run():
        net.zero_grad()
        out = net(feats, coords, 2)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        return out.detach(), [p.grad.clone() for p in net.parameters()]

    out, grads = run()
    assert len(generations) == 9 and generations[0] == (5, 5, 5)
    generations.clear()
    monkeypatch.setattr(spconv_rulebooks._SUBM_MEMO, 'derive', lambda *a: None)
    ref_out, ref_grads = run()
    assert len(generations) == 10
    assert torch.equal(out, ref_out)
    assert all(torch.equal(a, b) for a, b in zip(grads, ref_grads))


def test_strided_calls_go_to_spconv_and_are_not_kept(generations):
    coords = surface_voxels(seed=6)
    original = spconv_cpu._ORIGINALS['get_indice_pairs']
    out, pairs, counts = spconv_ops.get_indice_pairs(
        coords, 2, GRID, ConvAlgo.Native, [2] * 3, [2] * 3, [0] * 3, [1] * 3, [0] * 3,
        False, False)
    ref = original(coords, 2, GRID, ConvAlgo.Native, [2] * 3, [2] * 3, [0] * 3, [1] * 3,
                   [0] * 3, False, False)
    assert generations == [(2, 2, 2)] and torch.equal(out, ref[0])
    assert spconv_rulebooks._SUBM_MEMO.entries == []  # only submanifold rule-books kept


def sort_csr(rows, positions, num_rows, total):
    """The CSR structure by a stable comparison sort (the reference)."""
    order = torch.sort(rows, stable=True).indices
    crow = torch.zeros(num_rows + 1, dtype=torch.long)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=num_rows), 0)
    return crow, positions[order], (num_rows, total)


@pytest.mark.parametrize('kernel,subm', [(5, True), (3, True), (2, False)])
def test_counting_sort_csr_equals_the_stable_sort(kernel, subm):
    coords = surface_voxels(seed=7 + kernel)
    original = spconv_cpu._ORIGINALS['get_indice_pairs']
    pad = kernel // 2 if subm else 0
    out, pairs, counts = original(coords, 2, GRID, ConvAlgo.Native, [kernel] * 3,
                                  [1 if subm else 2] * 3, [pad] * 3, [1] * 3, [0] * 3,
                                  subm, False)
    num_out = len(coords) if subm else len(out)
    for inverse in (False, True):
        segments = spconv_cpu._rulebook_segments(pairs, counts, subm=subm, inverse=inverse)
        n_in, n_out = (num_out, len(coords)) if inverse else (len(coords), num_out)
        plan = spconv_cpu._BucketPlan(segments, n_in, n_out, torch.device('cpu'))
        positions, pairs_in = plan._positions, plan._pairs_in
        ordered = sorted(segments, key=lambda seg: -len(seg[1]))
        pairs_out = torch.cat([seg[2] for seg in ordered]).long()
        for got, rows, num_rows in ((plan.scatter_out, pairs_out, n_out),
                                    (plan.scatter_in, pairs_in, n_in)):
            ref = sort_csr(rows, positions, num_rows, plan.total)
            assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])
            assert got[2] == ref[2]


def test_csr_with_a_row_repeated_in_a_segment_falls_back_to_the_sort():
    # not a conv rule-book (a row twice for one offset): the counting pass notices it
    segments = [(0, torch.tensor([0, 1, 2]), torch.tensor([3, 3, 1])),
                (1, torch.tensor([2, 0]), torch.tensor([1, 0]))]
    plan = spconv_cpu._BucketPlan(segments, 4, 4, torch.device('cpu'))
    pairs_out = torch.tensor([3, 3, 1, 1, 0])
    ref = sort_csr(pairs_out, plan._positions, 4, plan.total)
    assert torch.equal(plan.scatter_out[0], ref[0])
    assert torch.equal(plan.scatter_out[1], ref[1])
    # and the conv sums both products into row 3
    feats = torch.randn(4, 2, dtype=torch.float64)
    weight = torch.randn(3, 2, 1, 1, 2, dtype=torch.float64)  # K = 2 offsets, KRSC
    out = torch.zeros(4, 3, dtype=torch.float64)
    spconv_cpu._BucketPlan.scatter_add_(plan.scatter_out, _products(plan, feats, weight),
                                        out)
    expected = torch.zeros(4, 3, dtype=torch.float64)
    w = weight.reshape(3, 2, 2)
    for k, rows_in, rows_out in segments:
        for i, o in zip(rows_in.tolist(), rows_out.tolist()):
            expected[o] += feats[i] @ w[:, k].t()
    torch.testing.assert_close(out, expected)


def _products(plan, feats, weight):
    """(total, C_out) products of the padded pairs (padding rows are never summed)."""
    w = weight.reshape(weight.shape[0], -1, weight.shape[-1])
    rows = []
    for offsets, start, num, length in plan.buckets:
        for j, k in enumerate(offsets.tolist()):
            seg = plan.in_rows[start + j * length:start + (j + 1) * length]
            rows.append(feats[seg] @ w[:, k].t())
    return torch.cat(rows)


def test_wrapper_is_installed_and_removed_with_the_cpu_fixes():
    installed = spconv_ops.get_indice_pairs
    assert installed._graspcontrast_original is spconv_cpu._ORIGINALS['get_indice_pairs']
    with spconv_cpu.spconv_cpu_fixes(False):
        assert spconv_ops.get_indice_pairs is installed._graspcontrast_original
        assert not hasattr(spconv_ops.get_indice_pairs, '_graspcontrast_original')
    assert spconv_ops.get_indice_pairs._graspcontrast_original is \
        installed._graspcontrast_original


@pytest.mark.parametrize('kernel,stride,padding', [(2, 2, 0), (3, 2, 1)])
def test_inverse_plan_is_the_forward_plan_reversed(kernel, stride, padding):
    """The plan of an inverse conv, taken from its conv's plan, equals the plan built from
    the rule-book read backwards, field by field."""
    coords = surface_voxels(seed=20 + kernel)
    original = spconv_cpu._ORIGINALS['get_indice_pairs']
    out, pairs, counts = original(coords, 2, GRID, ConvAlgo.Native, [kernel] * 3,
                                  [stride] * 3, [padding] * 3, [1] * 3, [0] * 3, False,
                                  False)
    n_in, n_out = len(coords), len(out)
    cpu = torch.device('cpu')
    forward = spconv_cpu._bucket_plan(pairs, counts, n_in, n_out, subm=False,
                                      inverse=False, device=cpu)
    reversed_plan = spconv_cpu._bucket_plan(pairs, counts, n_out, n_in, subm=False,
                                            inverse=True, device=cpu)
    built = spconv_cpu._BucketPlan(
        spconv_cpu._rulebook_segments(pairs, counts, subm=False, inverse=True), n_out, n_in,
        cpu)
    assert reversed_plan is not built and torch.equal(reversed_plan.in_rows, forward.out_rows)
    for name in ('in_rows', 'out_rows', 'pad_positions', 'offset_order'):
        assert torch.equal(getattr(reversed_plan, name), getattr(built, name)), name
    assert reversed_plan.total == built.total
    assert [(o.tolist(), s, n, m) for o, s, n, m in reversed_plan.buckets] == \
        [(o.tolist(), s, n, m) for o, s, n, m in built.buckets]
    for name in ('scatter_out', 'scatter_in'):
        got, ref = getattr(reversed_plan, name), getattr(built, name)
        assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1]), name
        assert got[2] == ref[2]
    # and the inverse conv through it is the transposed conv of the rule-book
    feats = torch.randn(n_out, 3, dtype=torch.float64)
    weight = torch.randn(4, kernel, kernel, kernel, 3, dtype=torch.float64)
    got = spconv_cpu.rulebook_conv(feats, weight, pairs, counts, n_in, subm=False,
                                   inverse=True)
    w = weight.reshape(4, -1, 3)
    expected = torch.zeros(n_in, 4, dtype=torch.float64)
    for k, rows_in, rows_out in spconv_cpu._rulebook_segments(pairs, counts, subm=False,
                                                             inverse=True):
        expected.index_add_(0, rows_out.long(), feats[rows_in.long()] @ w[:, k].t())
    torch.testing.assert_close(got, expected)


# ---- submanifold rule-books from a dense lookup grid ----------------------------------

@pytest.fixture
def any_size(monkeypatch):
    """Let the dense generator take small test clouds too."""
    monkeypatch.setattr(spconv_rulebooks, 'DENSE_GRID_MIN_LOOKUPS', 0)


@pytest.mark.parametrize('kernel', [(3, 3, 3), (5, 5, 5), (3, 5, 1), (1, 1, 1)])
@pytest.mark.parametrize('batch_size', [1, 2])
def test_dense_rulebook_equals_spconvs(any_size, kernel, batch_size):
    coords = surface_voxels(seed=30 + sum(kernel), batch_size=batch_size)
    got = spconv_rulebooks.dense_subm_rulebook(coords, batch_size, GRID, kernel)
    assert got is not None
    pairs, counts = got
    _, ref_pairs, ref_counts = spconv_rulebook(coords, kernel, batch_size=batch_size)
    assert pairs.dtype == counts.dtype == torch.int32
    assert pairs.shape == ref_pairs.shape and torch.equal(counts, ref_counts)
    got_region, ref_region = read_region(pairs, counts), read_region(ref_pairs, ref_counts)
    assert sum(r.shape[1] for r in ref_region) > 0 or kernel == (1, 1, 1)
    assert all(torch.equal(a, b) for a, b in zip(got_region, ref_region))


def test_dense_rulebook_pairs_are_the_neighbours_by_hand(any_size):
    """Three voxels in a row along the last axis: offset (0, 0, +1) feeds voxel i from
    its neighbour at z + 1 (spconv's pairs: input at output + offset)."""
    coords = torch.tensor([[0, 4, 4, 2], [0, 4, 4, 4], [0, 4, 4, 3]], dtype=torch.int32)
    pairs, counts = spconv_rulebooks.dense_subm_rulebook(coords, 1, GRID, (3, 3, 3))
    plus_z, minus_z = 14, 12  # row-major offsets of (0, 0, +1) and (0, 0, -1)
    assert counts.tolist() == [0] * 12 + [2] + [0] * 14  # first half counted only
    # offset -z (first half): input j at p_out - z, listed by input row: 0 -> 2, 2 -> 1
    assert pairs[:, minus_z, :2].tolist() == [[0, 2], [2, 1]]
    assert pairs[:, plus_z, :2].tolist() == [[2, 1], [0, 2]]  # the mirror, swapped


def test_dense_rulebook_leaves_the_grid_empty_and_releases_it(any_size):
    coords = surface_voxels(seed=40)
    spconv_rulebooks.release_dense_grid()
    assert spconv_rulebooks.dense_subm_rulebook(coords, 2, GRID, (3, 3, 3)) is not None
    grid = spconv_rulebooks._DENSE_GRID.cells
    assert grid.numel() > 0 and bool((grid == -1).all())
    assert spconv_rulebooks.release_dense_grid() == grid.numel() * 4
    assert spconv_rulebooks._DENSE_GRID.cells.numel() == 0


def test_dense_rulebook_declines_what_spconv_should_decide(any_size, monkeypatch):
    coords = surface_voxels(seed=41)
    dense = spconv_rulebooks.dense_subm_rulebook
    twice = torch.cat([coords, coords[:1]])
    assert dense(twice, 2, GRID, (3, 3, 3)) is None                # a voxel listed twice
    assert dense(coords, 1, GRID, (3, 3, 3)) is None               # batch index 1 >= 1
    assert dense(coords, 2, [GRID[0], GRID[1], 4], (3, 3, 3)) is None  # outside the grid
    negative = coords.clone()
    negative[0, 1] = -1
    assert dense(negative, 2, GRID, (3, 3, 3)) is None
    assert dense(coords, 2, GRID, (2, 2, 2)) is None               # even kernel
    assert dense(coords[:0], 2, GRID, (3, 3, 3)) is None           # no voxels
    two_far_voxels = torch.tensor([[0, 0, 0, 0], [0, 13, 11, 9]], dtype=torch.int32)
    assert dense(two_far_voxels, 1, GRID, (3, 3, 3)) is None       # grid sparse for the work
    assert bool((spconv_rulebooks._DENSE_GRID.cells == -1).all())  # left empty each time
    monkeypatch.setattr(spconv_rulebooks, 'DENSE_GRID_MIN_LOOKUPS', 10**9)
    assert dense(coords, 2, GRID, (3, 3, 3)) is None               # too little work


def test_wrapper_generates_densely_and_falls_back_to_spconv(generations, monkeypatch):
    """The installed wrapper: a dense rule-book when the generator takes the call (and it
    is kept for slicing), spconv's otherwise; both equal spconv's."""
    monkeypatch.setattr(spconv_rulebooks, 'DENSE_GRID_MIN_LOOKUPS', 0)
    coords = surface_voxels(seed=42)
    spconv_calls = []
    original = spconv_cpu._ORIGINALS['get_indice_pairs']
    monkeypatch.setattr(spconv_ops, 'get_indice_pairs', spconv_rulebooks.derived_get_indice_pairs(
        lambda *a: spconv_calls.append(a[4]) or original(*a)))
    _, pairs, counts = wrapped_call(coords, (5, 5, 5))
    assert spconv_calls == []
    _, pairs3, counts3 = wrapped_call(coords.clone(), (3, 3, 3))  # sliced from the dense one
    assert spconv_calls == []
    monkeypatch.setattr(spconv_rulebooks, 'DENSE_GRID_MAX_CELLS_PER_LOOKUP', 0)
    _, pairs7, counts7 = wrapped_call(coords, (7, 7, 7))  # the grid is "too sparse" now
    assert spconv_calls == [[7, 7, 7]]
    _, ref_pairs, ref_counts = spconv_rulebook(coords, (7, 7, 7))
    assert torch.equal(counts7, ref_counts)
    assert all(torch.equal(a, b) for a, b in zip(read_region(pairs7, counts7),
                                                 read_region(ref_pairs, ref_counts)))
    for kernel, got_pairs, got_counts in (((5, 5, 5), pairs, counts),
                                          ((3, 3, 3), pairs3, counts3)):
        _, ref_pairs, ref_counts = spconv_rulebook(coords, kernel)
        assert torch.equal(got_counts, ref_counts)
        assert all(torch.equal(a, b) for a, b in zip(read_region(got_pairs, got_counts),
                                                     read_region(ref_pairs, ref_counts)))
