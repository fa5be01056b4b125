"""Tests of graspcontrast_mm.ops.spconv_cpu against independent dense references.

The references are ``torch.nn.functional.conv3d`` / ``conv_transpose3d`` on a densified
grid in float64. Without the fix (``GRASPCONTRAST_SPCONV_CPU_FIX=0``) the gradient tests
fail (spconv has no CPU backward), the eval-mode test with a bias fails (spconv's CPU
forward rejects a bias at inference) and the repeated-call test fails (spconv's CPU
scatter returns wrong rows with 2 threads).
"""
import pytest
import spconv.pytorch as spconv
import torch
import torch.nn.functional as F
from spconv_helpers import rulebook_read_region

from graspcontrast_mm.ops import (RULEBOOK_ALGORITHMS, apply_spconv_cpu_fixes,
                                  get_rulebook_algorithm, remove_spconv_cpu_fixes,
                                  rulebook_conv, set_rulebook_algorithm, spconv_cpu_fixes,
                                  spconv_cpu_fixes_enabled)
from graspcontrast_mm.ops import spconv_cpu

GRID = (12, 10, 8)  # even, so that stride-2 convs map the grid exactly onto half of it


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture(params=RULEBOOK_ALGORITHMS)
def algorithm(request):
    """Run a test once per CPU algorithm (bucketed, per_offset)."""
    before = set_rulebook_algorithm(request.param)
    yield request.param
    set_rulebook_algorithm(before)


def random_voxels(num, grid, seed, batch_size=1):
    """Unique random voxels; returns int32 (V, 4) [batch, x, y, z]."""
    gen = torch.Generator().manual_seed(seed)
    cells = []
    for b in range(batch_size):
        flat = torch.randperm(grid[0] * grid[1] * grid[2], generator=gen)[:num]
        x = flat // (grid[1] * grid[2])
        y = (flat // grid[2]) % grid[1]
        z = flat % grid[2]
        cells.append(torch.stack([torch.full_like(x, b), x, y, z], 1))
    return torch.cat(cells).int()


def densify(coords, feats, grid, batch_size=1):
    """(V, C) sparse features -> (B, C, X, Y, Z) dense grid, zeros elsewhere."""
    c = coords.long()
    dense = feats.new_zeros((batch_size, *grid, feats.shape[1]))
    dense = dense.index_put((c[:, 0], c[:, 1], c[:, 2], c[:, 3]), feats)
    return dense.permute(0, 4, 1, 2, 3)


def sample(dense, coords):
    """(B, C, X, Y, Z) dense grid -> (V, C) rows at the given voxels."""
    c = coords.long()
    return dense.permute(0, 2, 3, 4, 1)[c[:, 0], c[:, 1], c[:, 2], c[:, 3]]


def torch_weight(sparse_weight):
    """spconv KRSC weight (C_out, kx, ky, kz, C_in) -> conv3d weight (C_out, C_in, k...)."""
    return sparse_weight.permute(0, 4, 1, 2, 3)


def run_sparse(layer, coords, feats, grid, target):
    """Forward + backward of loss = sum(out * target) through an spconv layer."""
    feats = feats.clone().requires_grad_(True)
    x = spconv.SparseConvTensor(feats, coords, list(grid), 1)
    out = layer(x)
    (out.features * target(out.indices)).sum().backward()
    return out, feats.grad, layer.weight.grad


@pytest.mark.parametrize('kernel', [3, 5])
@pytest.mark.parametrize('training', [True, False])
def test_subm_conv_matches_dense_forward_and_backward(kernel, training, algorithm):
    coords = random_voxels(300, GRID, seed=kernel)
    feats = torch.randn(len(coords), 4, dtype=torch.float64)
    layer = spconv.SubMConv3d(4, 5, kernel, bias=True, indice_key='s').double()
    layer.train(training)
    gen = torch.Generator().manual_seed(1)
    target_dense = torch.randn((1, 5, *GRID), generator=gen, dtype=torch.float64)
    out, g_feat, g_w = run_sparse(layer, coords, feats, GRID,
                                  lambda ind: sample(target_dense, ind))

    w = layer.weight.detach().clone().requires_grad_(True)
    dense_in = densify(coords, feats, GRID).requires_grad_(True)
    dense_out = F.conv3d(dense_in, torch_weight(w), layer.bias.detach(),
                         padding=kernel // 2)
    ref = sample(dense_out, coords)
    (ref * sample(target_dense, coords)).sum().backward()

    assert torch.equal(out.indices, coords)
    torch.testing.assert_close(out.features, ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(g_w, w.grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(g_feat, sample(dense_in.grad, coords),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize('kernel,stride,padding', [(2, 2, 0), (3, 2, 1)])
def test_strided_conv_matches_dense_forward_and_backward(kernel, stride, padding,
                                                         algorithm):
    coords = random_voxels(250, GRID, seed=3, batch_size=2)
    feats = torch.randn(len(coords), 3, dtype=torch.float64)
    layer = spconv.SparseConv3d(3, 6, kernel, stride=stride, padding=padding,
                                bias=False, indice_key='d').double()
    out_grid = [(g + 2 * padding - kernel) // stride + 1 for g in GRID]
    gen = torch.Generator().manual_seed(2)
    target_dense = torch.randn((2, 6, *out_grid), generator=gen, dtype=torch.float64)
    feats_req = feats.clone().requires_grad_(True)
    x = spconv.SparseConvTensor(feats_req, coords, list(GRID), 2)
    out = layer(x)
    (out.features * sample(target_dense, out.indices)).sum().backward()

    w = layer.weight.detach().clone().requires_grad_(True)
    dense_in = densify(coords, feats, GRID, 2).requires_grad_(True)
    dense_out = F.conv3d(dense_in, torch_weight(w), stride=stride, padding=padding)
    # the active outputs are exactly the dense outputs whose receptive field holds a voxel
    occupied = F.conv3d(densify(coords, torch.ones(len(coords), 1, dtype=torch.float64),
                                GRID, 2), torch.ones(1, 1, kernel, kernel, kernel,
                                                     dtype=torch.float64),
                        stride=stride, padding=padding)[:, 0] > 0
    expected = torch.nonzero(occupied).int()
    got = out.indices[torch.argsort(_key(out.indices, out_grid))]
    assert torch.equal(got, expected)
    ref = sample(dense_out, out.indices)
    (ref * sample(target_dense, out.indices)).sum().backward()
    torch.testing.assert_close(out.features, ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(layer.weight.grad, w.grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(feats_req.grad, sample(dense_in.grad, coords),
                               rtol=1e-10, atol=1e-10)


def _key(ind, grid):
    ind = ind.long()
    return ((ind[:, 0] * grid[0] + ind[:, 1]) * grid[1] + ind[:, 2]) * grid[2] + ind[:, 3]


def test_inverse_conv_matches_dense_transposed_conv(algorithm):
    coords = random_voxels(300, GRID, seed=4)
    feats = torch.randn(len(coords), 3, dtype=torch.float64)
    down = spconv.SparseConv3d(3, 4, 2, stride=2, bias=False, indice_key='d2').double()
    up = spconv.SparseInverseConv3d(4, 5, 2, bias=False, indice_key='d2').double()
    x = spconv.SparseConvTensor(feats, coords, list(GRID), 1)
    coarse = down(x)
    coarse_feats = torch.randn(coarse.features.shape, dtype=torch.float64,
                               generator=torch.Generator().manual_seed(5))
    coarse_req = coarse_feats.clone().requires_grad_(True)
    fine = up(coarse.replace_feature(coarse_req))
    gen = torch.Generator().manual_seed(6)
    target_dense = torch.randn((1, 5, *GRID), generator=gen, dtype=torch.float64)
    (fine.features * sample(target_dense, fine.indices)).sum().backward()

    w = up.weight.detach().clone().requires_grad_(True)  # (C_out, 2, 2, 2, C_in)
    coarse_grid = [g // 2 for g in GRID]
    dense_in = densify(coarse.indices, coarse_feats, coarse_grid).requires_grad_(True)
    dense_out = F.conv_transpose3d(dense_in, w.permute(4, 0, 1, 2, 3), stride=2)
    ref = sample(dense_out, coords)
    (ref * sample(target_dense, coords)).sum().backward()

    assert torch.equal(fine.indices, coords)  # back on the fine voxels, same row order
    torch.testing.assert_close(fine.features, ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(up.weight.grad, w.grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(coarse_req.grad, sample(dense_in.grad, coarse.indices),
                               rtol=1e-10, atol=1e-10)


def test_repeated_calls_are_bit_identical_and_right_with_two_threads(two_threads,
                                                                    algorithm):
    # a thin slab: ~2000 voxels with many neighbours each
    grid = (48, 48, 4)
    coords = random_voxels(2000, grid, seed=7)
    gen = torch.Generator().manual_seed(8)
    feats = torch.randn(len(coords), 32, generator=gen)
    layer = spconv.SubMConv3d(32, 32, 3, bias=False, indice_key='s')
    with torch.no_grad():
        dense_ref = sample(F.conv3d(densify(coords, feats.double(), grid),
                                    torch_weight(layer.weight.double()), padding=1),
                           coords)
        first = None
        num_wrong = num_differing = 0
        for _ in range(200):
            out = layer(spconv.SparseConvTensor(feats, coords, list(grid), 1)).features
            if first is None:
                first = out
            num_differing += int(not torch.equal(out, first))
            num_wrong += int(not torch.allclose(out.double(), dense_ref, rtol=1e-4,
                                                atol=1e-4))
    assert num_wrong == 0, f'{num_wrong} of 200 calls differ from the dense reference'
    assert num_differing == 0, f'{num_differing} of 199 repeated calls differed'


def test_backward_is_deterministic_with_two_threads(two_threads, algorithm):
    grid = (32, 32, 4)
    coords = random_voxels(1500, grid, seed=9)
    feats = torch.randn(len(coords), 16, generator=torch.Generator().manual_seed(10))
    layer = spconv.SubMConv3d(16, 16, 3, bias=False, indice_key='s')
    grads = []
    for _ in range(10):
        layer.weight.grad = None
        f = feats.clone().requires_grad_(True)
        out = layer(spconv.SparseConvTensor(f, coords, list(grid), 1)).features
        out.square().sum().backward()
        grads.append((layer.weight.grad.clone(), f.grad.clone()))
    for g_w, g_f in grads[1:]:
        assert torch.equal(g_w, grads[0][0]) and torch.equal(g_f, grads[0][1])


def test_rulebook_conv_validates_shapes():
    coords = random_voxels(20, GRID, seed=11)
    layer = spconv.SubMConv3d(4, 4, 3, bias=False)
    from spconv.core import ConvAlgo
    from spconv.pytorch import ops
    _, pairs, num = ops.get_indice_pairs(coords, 1, list(GRID), ConvAlgo.Native,
                                         [3] * 3, [1] * 3, [1] * 3, [1] * 3, [0] * 3,
                                         True, False)
    with pytest.raises(ValueError, match='do not match'):
        rulebook_conv(torch.randn(20, 3), layer.weight, pairs, num, 20, subm=True)
    with pytest.raises(ValueError, match='num_out'):
        rulebook_conv(torch.randn(20, 4), layer.weight, pairs, num, 19, subm=True)


def test_switch_is_idempotent_and_restorable():
    import spconv.pytorch.functional as spconv_functional
    assert spconv_cpu_fixes_enabled()  # applied on import of graspcontrast_mm.ops
    patched = spconv_functional.indice_subm_conv
    assert apply_spconv_cpu_fixes() and spconv_functional.indice_subm_conv is patched
    with spconv_cpu_fixes(False):
        assert not spconv_cpu_fixes_enabled()
        assert spconv_functional.indice_subm_conv is patched._graspcontrast_original
        assert remove_spconv_cpu_fixes() is False  # idempotent too
    assert spconv_cpu_fixes_enabled()
    assert spconv_functional.indice_subm_conv is not patched._graspcontrast_original
    from spconv.pytorch import ops as spconv_ops
    assert spconv_ops.TorchAllocator is spconv_cpu._rulebook_allocator_class()


@pytest.mark.parametrize('kernel,stride,subm,transposed', [
    (3, 1, True, False), (5, 1, True, False), (2, 2, False, False), (3, 2, False, False),
    (2, 2, False, True)])
def test_unfilled_rulebook_buffer_gives_spconvs_rulebook(monkeypatch, kernel, stride, subm,
                                                         transposed):
    """The rule-book's pair buffer is allocated without its -1 fill (no torch.full on
    CPU), and spconv's generation writes every column that is read whatever the buffer
    held: the same rule-book as spconv's own allocator, also from a buffer of garbage."""
    import spconv.pytorch.cppcore as cppcore
    from spconv.pytorch import ops as spconv_ops
    from spconv.pytorch.core import ConvAlgo
    coords = random_voxels(300, GRID, seed=kernel + 10 * stride, batch_size=2)
    pad = [kernel // 2 if stride == 1 or kernel == 3 else 0] * 3

    def rulebook():
        out, pairs, counts = spconv_ops.get_indice_pairs(
            coords, 2, list(GRID), ConvAlgo.Native, [kernel] * 3, [stride] * 3, pad,
            [1] * 3, [0] * 3, subm, transposed)
        return out.clone(), counts.clone(), [
            r.clone() for r in rulebook_read_region(pairs, counts, subm)]

    assert issubclass(spconv_ops.TorchAllocator, cppcore.TorchAllocator)
    fills = []
    real_full = torch.full
    monkeypatch.setattr(torch, 'full', lambda *a, **k: fills.append(a) or real_full(*a, **k))
    ours = rulebook()
    assert sum(r.shape[1] for r in ours[2]) > 0  # a rule-book with pairs to compare
    assert fills == []
    with spconv_cpu_fixes(False):
        assert spconv_ops.TorchAllocator is cppcore.TorchAllocator
        reference = rulebook()
        assert len(fills) == 1  # spconv's own allocator fills the buffer with -1
        # spconv's allocator with the buffer filled with something else than -1
        original_full_int = cppcore.TorchAllocator.full_int

        def garbage_full_int(self, name, shape, value, *args, **kwargs):
            return original_full_int(self, name, shape, 12345, *args, **kwargs)

        monkeypatch.setattr(cppcore.TorchAllocator, 'full_int', garbage_full_int)
        garbage = rulebook()
    for other in (reference, garbage):
        assert torch.equal(ours[0], other[0]) and torch.equal(ours[1], other[1])
        assert all(torch.equal(a, b) for a, b in zip(ours[2], other[2]))


def test_bucket_split_is_optimal_against_brute_force():
    import itertools
    counts = [9, 9, 8, 5, 5, 4, 2, 1]
    total = sum(counts)

    def padded(groups):
        return sum((hi - lo) * counts[lo] for lo, hi in groups)

    for max_groups in (1, 2, 3, 4):
        groups = spconv_cpu._split_sorted_counts(counts, max_groups)
        # contiguous cover of all offsets
        assert groups[0][0] == 0 and groups[-1][1] == len(counts)
        assert all(a[1] == b[0] for a, b in zip(groups, groups[1:]))
        assert len(groups) <= max_groups
        best = min(padded(list(zip((0,) + cuts, cuts + (len(counts),))))
                   for k in range(max_groups)
                   for cuts in itertools.combinations(range(1, len(counts)), k))
        assert padded(groups) == best
    # one group pads everything to the largest count; enough groups pad nothing
    assert padded(spconv_cpu._split_sorted_counts(counts, 1)) == 9 * len(counts)
    assert padded(spconv_cpu._split_sorted_counts(counts, 8)) == total
    assert spconv_cpu._split_sorted_counts([], 4) == []


def test_bucket_plan_is_shared_by_convs_with_one_rulebook():
    before = set_rulebook_algorithm('bucketed')
    try:
        coords = random_voxels(200, GRID, seed=12)
        # more input channels than the im2col path takes (it needs no plan)
        net = spconv.SparseSequential(
            spconv.SubMConv3d(6, 5, 3, bias=False, indice_key='k'),
            spconv.SubMConv3d(5, 5, 3, bias=False, indice_key='k'))
        x = spconv.SparseConvTensor(torch.randn(len(coords), 6), coords, list(GRID), 1)
        spconv_cpu._PLAN_CACHE.clear()
        out = net(x)
        pairs = out.indice_dict['k'].indice_pairs
        entry = spconv_cpu._PLAN_CACHE[id(pairs)]
        assert entry[0]() is pairs and len(entry[1]) == 1  # one plan for both convs
        plan = next(iter(entry[1].values()))
        # every pair of the rule-book appears exactly once in the padded layout
        segments = spconv_cpu._rulebook_segments(
            pairs, out.indice_dict['k'].indice_pair_num, subm=True, inverse=False)
        expected = sorted((int(i), int(o)) for _, rows_in, rows_out in segments
                          for i, o in zip(rows_in, rows_out))
        valid = torch.ones(plan.total, dtype=torch.bool)
        valid[plan.pad_positions] = False
        laid_out = sorted(zip(plan.in_rows[valid].tolist(), plan.out_rows[valid].tolist()))
        assert laid_out == expected
        assert plan.total <= 1.5 * len(expected)
        # padding reads row 0 and is left out of both scatters
        assert bool((plan.in_rows[~valid] == 0).all() and (plan.out_rows[~valid] == 0).all())
        assert len(plan.scatter_out[1]) == len(plan.scatter_in[1]) == len(expected)
    finally:
        set_rulebook_algorithm(before)


def test_algorithm_choice_is_validated():
    assert get_rulebook_algorithm() in RULEBOOK_ALGORITHMS
    with pytest.raises(ValueError, match='unknown rule-book algorithm'):
        set_rulebook_algorithm('fast')
    coords = random_voxels(20, GRID, seed=13)
    layer = spconv.SubMConv3d(4, 4, 3, bias=False)
    from spconv.core import ConvAlgo
    from spconv.pytorch import ops
    _, pairs, num = ops.get_indice_pairs(coords, 1, list(GRID), ConvAlgo.Native,
                                         [3] * 3, [1] * 3, [1] * 3, [1] * 3, [0] * 3,
                                         True, False)
    with pytest.raises(ValueError, match='unknown rule-book algorithm'):
        rulebook_conv(torch.randn(20, 4), layer.weight, pairs, num, 20, subm=True,
                      algorithm='dense')


def test_isolated_voxels_have_only_the_centre_term(algorithm):
    # voxels far apart: the rule-book has no pairs besides the implicit centre
    coords = torch.tensor([[0, 0, 0, 0], [0, 5, 5, 5], [0, 10, 0, 6]]).int()
    feats = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    layer = spconv.SubMConv3d(2, 3, 3, bias=False).double()
    out = layer(spconv.SparseConvTensor(feats, coords, list(GRID), 1)).features
    centre = layer.weight[:, 1, 1, 1, :]
    torch.testing.assert_close(out, feats @ centre.t())
    out.sum().backward()
    torch.testing.assert_close(feats.grad, torch.ones(3, 3, dtype=torch.float64) @ centre)


@pytest.fixture
def bfloat16_gemms():
    before = spconv_cpu.set_rulebook_gemm_dtype('bfloat16')
    yield
    spconv_cpu.set_rulebook_gemm_dtype(before)


def _subm_and_dense_reference(feats, weight, coords, target_dense):
    """Forward + backward of sum(out * target) through a 3x3x3 SubM conv (spconv, the
    feats' dtype) and through float64 conv3d on the same values."""
    layer = spconv.SubMConv3d(feats.shape[1], weight.shape[0], 3, bias=False)
    layer.weight.data = weight.clone()
    out, g_feat, g_w = run_sparse(layer, coords, feats, GRID,
                                  lambda ind: sample(target_dense.to(feats.dtype), ind))
    w64 = weight.double().requires_grad_(True)
    dense_in = densify(coords, feats.double(), GRID).requires_grad_(True)
    ref = sample(F.conv3d(dense_in, torch_weight(w64), padding=1), coords)
    (ref * sample(target_dense, coords)).sum().backward()
    return (out.features, g_feat, g_w), (ref.detach(), sample(dense_in.grad, coords),
                                         w64.grad)


def test_bfloat16_gemms_match_the_dense_conv_to_bfloat16_precision(bfloat16_gemms):
    """float32 features, GEMMs in bfloat16: float32 results within bfloat16 rounding of
    the float64 dense conv (relative error ~2^-8), not equal to the float32 GEMMs."""
    coords = random_voxels(400, GRID, seed=21)
    gen = torch.Generator().manual_seed(5)
    feats = torch.randn(len(coords), 16, generator=gen)
    weight = torch.randn(24, 3, 3, 3, 16, generator=gen) * 0.1
    target_dense = torch.randn((1, 24, *GRID), generator=gen, dtype=torch.float64)
    got, ref = _subm_and_dense_reference(feats, weight, coords, target_dense)
    for g, r in zip(got, ref):
        assert g.dtype == torch.float32
        scale = r.abs().max().item()
        err = (g.double() - r).abs().max().item() / scale
        assert 1e-5 < err < 2e-2, err  # bfloat16 error, far above float32's
    spconv_cpu.set_rulebook_gemm_dtype('float32')
    got32, _ = _subm_and_dense_reference(feats, weight, coords, target_dense)
    for g, r in zip(got32, ref):
        assert (g.double() - r).abs().max().item() / r.abs().max().item() < 1e-5


def test_bfloat16_gemms_leave_float64_exact(bfloat16_gemms):
    coords = random_voxels(200, GRID, seed=22)
    feats = torch.randn(len(coords), 4, dtype=torch.float64)
    weight = torch.randn(5, 3, 3, 3, 4, dtype=torch.float64)
    target_dense = torch.randn((1, 5, *GRID), dtype=torch.float64)
    got, ref = _subm_and_dense_reference(feats, weight, coords, target_dense)
    for g, r in zip(got, ref):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-10)


def test_gemm_dtype_choice_is_validated(monkeypatch):
    assert spconv_cpu.get_rulebook_gemm_dtype() in spconv_cpu.GEMM_DTYPES
    with pytest.raises(ValueError, match='unknown GEMM dtype'):
        spconv_cpu.set_rulebook_gemm_dtype('float16')
    monkeypatch.setenv(spconv_cpu.GEMM_DTYPE_ENV_VAR, 'half')
    with pytest.raises(ValueError, match='GRASPCONTRAST_SPCONV_CPU_GEMM_DTYPE'):
        spconv_cpu._gemm_dtype_from_env()
    monkeypatch.setenv(spconv_cpu.GEMM_DTYPE_ENV_VAR, 'BFloat16 ')
    assert spconv_cpu._gemm_dtype_from_env() == 'bfloat16'


def test_reused_scratch_buffers_give_the_same_result(monkeypatch):
    """The bucketed conv's per-thread scratch buffers: kept after a call, released on
    request, and the results (forward and gradients) equal those of fresh buffers."""
    before = set_rulebook_algorithm('bucketed')
    try:
        coords = random_voxels(300, GRID, seed=21)
        torch.manual_seed(22)
        net = spconv.SparseSequential(spconv.SubMConv3d(3, 8, 3, bias=False, indice_key='k'),
                                      spconv.SparseConv3d(8, 6, 2, stride=2, bias=False))
        feats = torch.randn(len(coords), 3)

        def run():
            x = feats.clone().requires_grad_(True)
            net.zero_grad()
            out = net(spconv.SparseConvTensor(x, coords, list(GRID), 1)).features
            out.square().sum().backward()
            return out.detach(), x.grad, [p.grad.clone() for p in net.parameters()]

        spconv_cpu.release_rulebook_workspace()
        first = run()
        held = spconv_cpu.rulebook_workspace_bytes()
        assert held > 0
        again = run()  # into the buffers the first call left
        assert spconv_cpu.rulebook_workspace_bytes() == held  # reused, not grown
        monkeypatch.setattr(spconv_cpu, '_WORKSPACE_ENABLED', False)
        assert spconv_cpu.release_rulebook_workspace() == held
        fresh = run()
        assert spconv_cpu.rulebook_workspace_bytes() == 0
        for result in (again, fresh):
            assert torch.equal(result[0], first[0]) and torch.equal(result[1], first[1])
            assert all(torch.equal(a, b) for a, b in zip(result[2], first[2]))
    finally:
        set_rulebook_algorithm(before)


@pytest.mark.parametrize('c_in,kernel', [(1, 3), (3, 5), (4, (3, 5, 3))])
def test_few_channel_subm_convs_take_the_im2col_path_and_match_the_dense_conv(
        c_in, kernel, monkeypatch):
    """Submanifold convs with at most IM2COL_MAX_IN_CHANNELS inputs run as one
    neighbourhood gather and one GEMM (no padding plan): forward, weight and input
    gradients against float64 conv3d, and equal (to rounding) to the bucketed plan path."""
    before = set_rulebook_algorithm('bucketed')
    calls = []
    apply = spconv_cpu._Im2colSubmConvFunction.apply
    monkeypatch.setattr(spconv_cpu._Im2colSubmConvFunction, 'apply',
                        lambda *a: calls.append(a[2].shape) or apply(*a))
    try:
        coords = random_voxels(500, GRID, seed=31 + c_in)
        gen = torch.Generator().manual_seed(c_in)
        feats = torch.randn(len(coords), c_in, generator=gen, dtype=torch.float64)
        layer = spconv.SubMConv3d(c_in, 6, kernel, bias=False, indice_key='s').double()
        target_dense = torch.randn((1, 6, *GRID), generator=gen, dtype=torch.float64)
        spconv_cpu._PLAN_CACHE.clear()
        out, g_feat, g_w = run_sparse(layer, coords, feats, GRID,
                                      lambda ind: sample(target_dense, ind))
        kv = layer.weight[0, ..., 0].numel()
        assert calls == [(len(coords), kv)]  # the im2col path, with the full table
        assert all(key[0] == 'neighbours' for _, entry in spconv_cpu._PLAN_CACHE.values()
                   for key in entry)  # and no bucket plan

        w = layer.weight.detach().clone().requires_grad_(True)
        dense_in = densify(coords, feats, GRID).requires_grad_(True)
        pad = tuple(k // 2 for k in layer.kernel_size)
        ref = sample(F.conv3d(dense_in, torch_weight(w), padding=pad), coords)
        (ref * sample(target_dense, coords)).sum().backward()
        torch.testing.assert_close(out.features, ref, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(g_w, w.grad, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(g_feat, sample(dense_in.grad, coords),
                                   rtol=1e-10, atol=1e-10)

        monkeypatch.setattr(spconv_cpu, 'IM2COL_MAX_IN_CHANNELS', 0)  # the plan path
        layer.zero_grad()
        planned = run_sparse(layer, coords, feats, GRID, lambda ind: sample(target_dense, ind))
        assert len(calls) == 1
        for a, b in zip((out.features, g_feat, g_w), (planned[0].features, *planned[1:])):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    finally:
        set_rulebook_algorithm(before)


def test_neighbour_table_by_hand():
    """Entry (i, k): the voxel at p_i + d_k (row-major offsets), the zero row (V) where
    there is none, i itself at the centre."""
    coords = torch.tensor([[0, 2, 2, 2], [0, 2, 2, 3], [0, 3, 2, 2]], dtype=torch.int32)
    layer = spconv.SubMConv3d(1, 1, 3, bias=False, indice_key='s')
    out = layer(spconv.SparseConvTensor(torch.ones(3, 1), coords, list(GRID), 1))
    rulebook = out.indice_dict['s']
    spconv_cpu._PLAN_CACHE.clear()
    table = spconv_cpu._subm_neighbours(rulebook.indice_pairs, rulebook.indice_pair_num, 3,
                                        torch.device('cpu'))
    expected = torch.full((3, 27), 3, dtype=torch.int32)
    expected[:, 13] = torch.arange(3, dtype=torch.int32)
    expected[0, 14] = 1   # (0, 0, +1)
    expected[1, 12] = 0   # (0, 0, -1)
    expected[0, 22] = 2   # (+1, 0, 0)
    expected[2, 4] = 0    # (-1, 0, 0)
    expected[2, 5] = 1    # (-1, 0, +1)
    expected[1, 21] = 2   # (+1, 0, -1)
    assert torch.equal(table, expected)


def test_kept_forward_gather_gives_the_same_gradients(monkeypatch):
    """A conv whose gather fits KEEP_GATHER_MAX_BYTES keeps it for the weight gradient;
    the result is bit-identical to gathering again in backward, and it is freed there."""
    before = set_rulebook_algorithm('bucketed')
    try:
        coords = random_voxels(400, GRID, seed=41)
        torch.manual_seed(42)
        net = spconv.SparseSequential(
            spconv.SubMConv3d(6, 8, 3, bias=False, indice_key='k'),
            spconv.SparseConv3d(8, 8, 2, stride=2, bias=False),
            spconv.SubMConv3d(8, 8, 3, bias=False))
        feats = torch.randn(len(coords), 6)

        def run():
            x = feats.clone().requires_grad_(True)
            net.zero_grad()
            out = net(spconv.SparseConvTensor(x, coords, list(GRID), 1)).features
            kept = out.grad_fn.gathered  # the last conv's backward node
            out.square().sum().backward(retain_graph=True)
            assert out.grad_fn.gathered is None  # used up in backward
            return kept, out.detach(), x.grad, [p.grad.clone() for p in net.parameters()]

        kept, *with_keep = run()
        assert kept is not None and kept.shape[1] == 8
        monkeypatch.setattr(spconv_cpu, 'KEEP_GATHER_MAX_BYTES', 0)
        kept_none, *without = run()
        assert kept_none is None
        for a, b in zip(with_keep[:2] + with_keep[2], without[:2] + without[2]):
            assert torch.equal(a, b)
    finally:
        set_rulebook_algorithm(before)
