"""Tests of the SparseUNet backbone (spconv, CPU)."""
import copy

import pytest
import torch
import torch.nn.functional as F

from graspcontrast_mm.models.backbones import SparseUNet
from graspcontrast_mm.registry import MODELS

SMALL = dict(in_channels=3, out_channels=6, planes=(4, 6, 8, 8, 8, 6, 6, 5),
             init_dim=4)


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def cloud(num, extent, seed, batch_idx=0):
    """Unique voxels of a bumpy surface; int32 (V, 4) [batch, x, y, z]."""
    gen = torch.Generator().manual_seed(seed)
    xy = torch.randint(0, extent, (num, 2), generator=gen)
    z = (3 + 2 * torch.sin(xy[:, :1] * 0.3) + torch.randint(0, 2, (num, 1), generator=gen))
    c = torch.unique(torch.cat([xy, z.long()], 1), dim=0)
    return torch.cat([torch.full((len(c), 1), batch_idx), c], 1).int()


def randomise_bn(model, seed=0):
    """Non-trivial BatchNorm statistics and affine parameters (for eval-mode tests)."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)
    return model


def small_model(seed=0):
    torch.manual_seed(seed)
    return randomise_bn(SparseUNet(**SMALL), seed).eval()


def expected_num_params(in_channels, out_channels, planes, init_dim=32, stem_kernel=5):
    """Parameter count of the MinkUNet14 plan (one BasicBlock per stage), by hand.

    conv k: ``k^3 * c_in * c_out`` (no bias); BatchNorm: 2 per channel; block(c_in, c_out):
    two 3x3x3 convs + 2 BN, plus a 1x1 shortcut + BN when ``c_in != c_out``; stride-2 and
    inverse convs are kernel 2; the final 1x1 has a bias.
    """
    def block(c_in, c_out):
        n = 27 * c_in * c_out + 27 * c_out * c_out + 4 * c_out
        return n + (c_in * c_out + 2 * c_out if c_in != c_out else 0)

    n = stem_kernel ** 3 * in_channels * init_dim + 2 * init_dim
    c, skips = init_dim, [init_dim]
    for i in range(4):
        n += 8 * c * c + 2 * c + block(c, planes[i])
        c = planes[i]
        skips.append(c)
    for i in range(4):
        p = planes[4 + i]
        n += 8 * c * p + 2 * p + block(p + skips[3 - i], p)
        c = p
    return n + c * out_channels + out_channels


def test_registered_default_plan_is_gsnets_minkunet14d():
    from graspcontrast_mm.models.backbones import MINKUNET14D_PLANES, MINKUNET14D_WIDE_PLANES
    assert MINKUNET14D_PLANES == (32, 64, 128, 256, 192, 192, 192, 192)
    model = MODELS.build(dict(type='SparseUNet'))
    assert isinstance(model, SparseUNet)
    assert model.in_channels == 3 and model.planes == MINKUNET14D_PLANES
    sd = model.state_dict()
    # GSNet's MinkUNet14D: stem k5 3 -> 32, decoder stage 5 eats 192 (up) + 128 (skip)
    assert sd['conv0p1s1.weight'].shape == (32, 5, 5, 5, 3)
    assert sd['conv1p1s2.weight'].shape == (32, 2, 2, 2, 32)
    assert sd['convtr4p16s2.weight'].shape == (192, 2, 2, 2, 256)
    assert sd['block5.0.conv1.weight'].shape == (192, 3, 3, 3, 192 + 128)
    assert sd['block8.0.conv1.weight'].shape == (192, 3, 3, 3, 192 + 32)
    assert sd['final.weight'].shape == (512, 192) and 'final.bias' in sd
    num = sum(p.numel() for p in model.parameters())
    assert num == expected_num_params(3, 512, MINKUNET14D_PLANES) == 14_646_816  # 14.6 M
    # the 384-wide decoder (MinkowskiEngine's own 14D) stays reachable by config
    wide = SparseUNet(planes=MINKUNET14D_WIDE_PLANES)
    assert sum(p.numel() for p in wide.parameters()) == \
        expected_num_params(3, 512, MINKUNET14D_WIDE_PLANES) == 43_505_184
    coords = torch.cat([cloud(150, 12, 0, 0), cloud(100, 10, 1, 1)])
    out = model.eval()(torch.ones(len(coords), 3), coords, 2)
    assert out.shape == (len(coords), 512) and out.dtype == torch.float32
    assert torch.isfinite(out).all()


def dense_reference(model, coords, feats, grid):
    """Independent dense float64 evaluation of an eval-mode SparseUNet on one cloud.

    Every sparse layer is a dense conv3d / conv_transpose3d whose output is masked to the
    active voxels of its level (a submanifold conv keeps its input voxels, a stride-2
    conv activates every coarse voxel with an active child, an inverse conv returns to
    the fine voxels).
    """
    m = copy.deepcopy(model).double()

    def w(conv):  # spconv KRSC -> (C_out, C_in, k, k, k)
        return conv.weight.permute(0, 4, 1, 2, 3)

    def bn(layer, x, mask):
        return F.batch_norm(x, layer.running_mean, layer.running_var, layer.weight,
                            layer.bias, False, 0.0, layer.eps) * mask

    def block(blocks, x, mask):
        for b in blocks:
            res = x if b.downsample is None else bn(
                b.downsample[1], F.conv3d(x, b.downsample[0].weight[..., None, None, None]),
                mask)
            y = torch.relu(bn(b.norm1, F.conv3d(x, w(b.conv1), padding=1), mask))
            x = torch.relu(bn(b.norm2, F.conv3d(y, w(b.conv2), padding=1), mask) + res)
        return x

    c = coords.long()
    mask = torch.zeros(1, 1, *grid, dtype=torch.float64)
    mask[0, 0, c[:, 1], c[:, 2], c[:, 3]] = 1
    x = torch.zeros(1, feats.shape[1], *grid, dtype=torch.float64)
    x[0, :, c[:, 1], c[:, 2], c[:, 3]] = feats.double().t()
    x = torch.relu(bn(m.bn0, F.conv3d(x, w(m.conv0p1s1), padding=2), mask))
    masks, skips = [mask], [x]
    for i in range(4):
        mask = F.max_pool3d(mask, 2)
        x = torch.relu(bn(getattr(m, f'bn{i + 1}'),
                          F.conv3d(x, w(getattr(m, f'conv{i + 1}p{2 ** i}s2')), stride=2),
                          mask))
        x = block(getattr(m, f'block{i + 1}'), x, mask)
        masks.append(mask)
        skips.append(x)
    for i in range(4):
        level, j = 4 - i, 4 + i
        up = getattr(m, f'convtr{j}p{2 ** level}s2')
        mask = masks[level - 1]
        x = F.conv_transpose3d(x, up.weight.permute(4, 0, 1, 2, 3), stride=2)
        x = torch.relu(bn(getattr(m, f'bntr{j}'), x, mask))
        x = block(getattr(m, f'block{j + 1}'), torch.cat([x, skips[level - 1]], 1), mask)
    x = F.conv3d(x, m.final.weight[..., None, None, None], m.final.bias)
    return x[0, :, c[:, 1], c[:, 2], c[:, 3]].t()


def test_matches_independent_dense_reference():
    model = small_model(1)
    coords = cloud(200, 14, seed=2)
    feats = torch.randn(len(coords), 3, generator=torch.Generator().manual_seed(3))
    grid = SparseUNet.spatial_shape(coords)
    assert grid == [16, 16, 16]
    with torch.no_grad():
        out = model(feats, coords, 1)
        ref = dense_reference(model, coords, feats, grid)
    torch.testing.assert_close(out.double(), ref, rtol=1e-4, atol=1e-5)


def test_rows_follow_input_order():
    model = small_model(4)
    coords = torch.cat([cloud(200, 16, 5, 0), cloud(150, 12, 6, 1)])
    feats = torch.randn(len(coords), 3, generator=torch.Generator().manual_seed(7))
    perm = torch.randperm(len(coords), generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        out = model(feats, coords, 2)
        out_perm = model(feats[perm], coords[perm], 2)
    torch.testing.assert_close(out_perm, out[perm], rtol=1e-5, atol=1e-5)


def test_translation_by_multiples_of_16_voxels_is_equivariant():
    model = small_model(9)
    coords = cloud(250, 16, seed=10)
    feats = torch.randn(len(coords), 3, generator=torch.Generator().manual_seed(11))
    shifted = coords.clone()
    shifted[:, 1:] += torch.tensor([16, 32, 48], dtype=torch.int32)
    by_one = coords.clone()
    by_one[:, 1:] += 1
    with torch.no_grad():
        out = model(feats, coords, 1)
        out_shifted = model(feats, shifted, 1)
        out_by_one = model(feats, by_one, 1)
    torch.testing.assert_close(out_shifted, out, rtol=1e-5, atol=1e-5)
    # the stride-2 grid is not invariant to a 1-voxel shift: the check above has power
    assert not torch.allclose(out_by_one, out, rtol=1e-3, atol=1e-3)


def test_clouds_in_a_batch_are_independent():
    model = small_model(12)
    a = cloud(200, 14, 13, 0)
    b = cloud(300, 30, 14, 0)
    gen = torch.Generator().manual_seed(15)
    fa, fb = torch.randn(len(a), 3, generator=gen), torch.randn(len(b), 3, generator=gen)
    b1, a1 = b.clone(), a.clone()
    b1[:, 0] = 1
    a1[:, 0] = 1
    with torch.no_grad():
        alone = model(fa, a, 1)
        first = model(torch.cat([fa, fb]), torch.cat([a, b1]), 2)[:len(a)]
        second = model(torch.cat([fb, fa]), torch.cat([b, a1]), 2)[len(b):]
    torch.testing.assert_close(first, alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(second, alone, rtol=1e-5, atol=1e-5)


def test_gradients_reach_every_parameter_on_cpu():
    torch.manual_seed(16)
    model = SparseUNet(**SMALL).train()
    coords = torch.cat([cloud(200, 16, 17, 0), cloud(150, 12, 18, 1)])
    feats = torch.randn(len(coords), 3, generator=torch.Generator().manual_seed(19))
    out = model(feats, coords, 2)
    out.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_deterministic_with_two_threads(two_threads):
    torch.manual_seed(20)
    model = SparseUNet(**dict(SMALL, planes=(16, 16, 16, 16, 16, 16, 16, 16))).train()
    coords = torch.cat([cloud(1200, 40, 21, 0), cloud(1200, 40, 22, 1)])
    feats = torch.randn(len(coords), 3, generator=torch.Generator().manual_seed(23))
    results = []
    for _ in range(3):
        model.zero_grad()
        out = model(feats, coords, 2)
        out.square().mean().backward()
        results.append((out.detach(), [p.grad.clone() for p in model.parameters()]))
    for out, grads in results[1:]:
        assert torch.equal(out, results[0][0])
        assert all(torch.equal(g, g0) for g, g0 in zip(grads, results[0][1]))


@pytest.mark.parametrize('case,match', [
    ('feats_shape', r'feats must be a \(V, 3\)'),
    ('feats_int', 'floating point'),
    ('coords_shape', r'coords must be a \(V, 4\)'),
    ('coords_float', 'integer voxel indices'),
    ('rows', 'rows'),
    ('empty', 'empty input'),
    ('nan', 'NaN'),
    ('negative', '>= 0'),
    ('batch_index', 'batch_size'),
    ('batch_size', 'positive int'),
    ('duplicate', 'duplicate'),
])
def test_clear_errors_on_bad_input(case, match):
    model = small_model(0)
    coords = cloud(50, 10, 24)
    feats = torch.ones(len(coords), 3)
    batch_size = 1
    if case == 'feats_shape':
        feats = torch.ones(len(coords), 4)
    elif case == 'feats_int':
        feats = torch.ones(len(coords), 3, dtype=torch.int64)
    elif case == 'coords_shape':
        coords = coords[:, 1:]
    elif case == 'coords_float':
        coords = coords.float()
    elif case == 'rows':
        feats = feats[:-1]
    elif case == 'empty':
        coords, feats = coords[:0], feats[:0]
    elif case == 'nan':
        feats[3, 1] = float('nan')
    elif case == 'negative':
        coords[5, 2] = -1
    elif case == 'batch_index':
        coords[0, 0] = 1
    elif case == 'batch_size':
        batch_size = 0
    elif case == 'duplicate':
        coords[1] = coords[0]
    with pytest.raises(ValueError, match=match):
        model(feats, coords, batch_size)


def test_output_at_rows_equals_the_rows_of_the_full_output():
    """``rows`` applies the final projection at those voxels only: the same values and
    the same parameter gradients as gathering the full output (repeats included)."""
    torch.manual_seed(25)
    model = SparseUNet(**SMALL).train()
    coords = torch.cat([cloud(300, 16, 26, 0), cloud(250, 14, 27, 1)])
    feats = torch.randn(len(coords), 3, generator=torch.Generator().manual_seed(28))
    rows = torch.tensor([0, 5, 5, len(coords) - 1, 301, 17, 0])
    weights = torch.randn(len(rows), SMALL['out_channels'])
    grads = []
    for at_rows in (False, True):
        model.zero_grad()
        out = model(feats, coords, 2, rows=rows) if at_rows else model(feats, coords, 2)[rows]
        (out * weights).sum().backward()
        grads.append((out.detach(), [p.grad.clone() for p in model.parameters()]))
    (full, g_full), (at, g_at) = grads
    assert at.shape == (len(rows), SMALL['out_channels'])
    torch.testing.assert_close(at, full, rtol=1e-6, atol=1e-6)
    for a, b in zip(g_at, g_full):  # float32 rounding of sums in another order
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * float(b.abs().max()))


@pytest.mark.parametrize('rows,match', [
    (torch.tensor([0.0, 1.0]), 'integer'),
    (torch.tensor([[0, 1]]), '1-D'),
    (torch.tensor([0, 42]), r'\[0, 42\)'),
    (torch.tensor([-1]), r'\[0, 42\)'),
])
def test_bad_rows_are_named(rows, match):
    model = small_model(0)
    coords = cloud(50, 10, 24)
    assert len(coords) == 42  # unique voxels of the 50 drawn
    with pytest.raises(ValueError, match=match):
        model(torch.ones(42, 3), coords, 1, rows=rows)
