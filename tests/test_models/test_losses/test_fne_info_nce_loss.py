"""Tests of FNEInfoNCELoss against hand-computed values and reference formulas."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from graspcontrast_mm.models.losses import (FNEInfoNCELoss, fne_false_negative_mask,
                                            fne_info_nce)
from graspcontrast_mm.registry import MODELS

E = math.e

# Hand example (tau = 1, no normalisation): logits = f0 @ f1^T =
#   [[1, 0, 1],
#    [0, 1, 1],
#    [0, 0, 0]]
F0 = [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
F1 = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
# p0 and p1 are 1 cm apart, p2 is 1 m away.
P = [[0.0, 0.0, 0.0], [0.01, 0.0, 0.0], [1.0, 0.0, 0.0]]


def _t(x, grad=False):
    return torch.tensor(x, dtype=torch.float32, requires_grad=grad)


def _reference_loss(f0, f1, pts, tau, radius, normalize=True):
    """Eq. 5 written as explicit loops in float64 numpy."""
    f0 = np.asarray(f0, np.float64)
    f1 = np.asarray(f1, np.float64)
    pts = np.asarray(pts, np.float64)
    if normalize:
        f0 = f0 / np.linalg.norm(f0, axis=1, keepdims=True)
        f1 = f1 / np.linalg.norm(f1, axis=1, keepdims=True)
    rows = []
    for i in range(len(f0)):
        pos = np.exp(f0[i] @ f1[i] / tau)
        den = pos
        for k in range(len(f0)):
            if k != i and np.linalg.norm(pts[i] - pts[k]) >= radius:
                den += np.exp(f0[i] @ f1[k] / tau)
        rows.append(-np.log(pos / den))
    return np.mean(rows)


def test_hand_values_plain_infonce():
    loss = FNEInfoNCELoss(temperature=1.0, use_fne=False, normalize=False)
    expected = (2 * (math.log(2 * E + 1) - 1) + math.log(3)) / 3
    out = loss(_t(F0), _t(F1), _t(P))
    assert out.item() == pytest.approx(expected, rel=1e-6)
    # ... which is torch's cross entropy of f0 @ f1^T with target i.
    ce = F.cross_entropy(_t(F0) @ _t(F1).t(), torch.arange(3))
    assert out.item() == pytest.approx(ce.item(), rel=1e-6)


def test_hand_values_fne():
    # gamma_D = 2 cm: rows 0 and 1 lose each other as negatives, row 2 keeps both.
    loss = FNEInfoNCELoss(temperature=1.0, fne_radius=0.02, normalize=False)
    expected = (math.log(2 * E) - 1 + math.log(2 * E) - 1 + math.log(3)) / 3
    assert expected == pytest.approx((2 * math.log(2) + math.log(3)) / 3)
    assert loss(_t(F0), _t(F1), _t(P)).item() == pytest.approx(expected, rel=1e-6)
    per_row = FNEInfoNCELoss(temperature=1.0, fne_radius=0.02, normalize=False,
                             reduction='none')(_t(F0), _t(F1), _t(P))
    np.testing.assert_allclose(per_row.numpy(),
                               [math.log(2), math.log(2), math.log(3)], rtol=1e-6)
    # gamma_D = 5 mm is below the 1 cm spacing: nothing is removed.
    loss_small = FNEInfoNCELoss(temperature=1.0, fne_radius=0.005, normalize=False)
    plain = (2 * (math.log(2 * E + 1) - 1) + math.log(3)) / 3
    assert loss_small(_t(F0), _t(F1), _t(P)).item() == pytest.approx(plain, rel=1e-6)


def test_false_negative_mask_hand_values():
    pts = torch.tensor([[0.0, 0, 0], [0.0, 0.019, 0], [0.0, 0.0, 0.021],
                        [0.5, 0.5, 0.5], [0.5, 0.5, 0.51]])
    mask = fne_false_negative_mask(pts, 0.02)
    expected = torch.zeros(5, 5, dtype=torch.bool)
    expected[0, 1] = expected[1, 0] = True  # 1.9 cm < 2 cm; 2.1 cm and 2.8 cm are not
    expected[3, 4] = expected[4, 3] = True
    assert torch.equal(mask, expected)
    assert not fne_false_negative_mask(pts, 0.0).any()
    # large world offsets do not change the result (translation invariant)
    assert torch.equal(fne_false_negative_mask(pts + 100.0, 0.02), expected)
    # agrees with a float64 brute force on random points
    g = torch.Generator().manual_seed(0)
    rnd = torch.rand(300, 3, generator=g, dtype=torch.float64) * 0.2
    ref = torch.cdist(rnd, rnd) < 0.02
    ref.fill_diagonal_(False)
    assert torch.equal(fne_false_negative_mask(rnd, 0.02), ref)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_plain_equals_cross_entropy_random(seed):
    g = torch.Generator().manual_seed(seed)
    f0 = torch.randn(17, 8, generator=g)
    f1 = torch.randn(17, 8, generator=g)
    pts = torch.rand(17, 3, generator=g)
    out = FNEInfoNCELoss(use_fne=False)(f0, f1, pts)
    logits = F.normalize(f0, dim=1) @ F.normalize(f1, dim=1).t() / 0.07
    ref = F.cross_entropy(logits, torch.arange(17))
    assert out.item() == pytest.approx(ref.item(), rel=1e-5)
    assert out.item() == pytest.approx(
        _reference_loss(f0, f1, pts, 0.07, 0.0), rel=1e-5)
    # gamma_D = 0 with FNE on is plain InfoNCE too.
    zero = FNEInfoNCELoss(fne_radius=0.0, use_fne=True)(f0, f1, pts)
    assert zero.item() == pytest.approx(ref.item(), rel=1e-6)
    # Without key points FNE-off still works.
    assert FNEInfoNCELoss(use_fne=False)(f0, f1).item() == pytest.approx(
        ref.item(), rel=1e-6)


@pytest.mark.parametrize('seed', [0, 1])
def test_fne_matches_loop_reference(seed):
    g = torch.Generator().manual_seed(seed)
    f0 = torch.randn(40, 6, generator=g)
    f1 = torch.randn(40, 6, generator=g)
    pts = torch.rand(40, 3, generator=g) * 0.1  # 10 cm cube: many close pairs
    out = FNEInfoNCELoss(fne_radius=0.03)(f0, f1, pts)
    ref = _reference_loss(f0, f1, pts, 0.07, 0.03)
    assert out.item() == pytest.approx(ref, rel=1e-5)
    plain = _reference_loss(f0, f1, pts, 0.07, 0.0)
    assert abs(ref - plain) > 1e-3  # the mask really changes the value


def test_masked_negative_has_zero_gradient():
    # Row 0's loss reaches f1_1 only as a negative, and (0, 1) is masked by FNE.
    for normalize in (False, True):
        f1 = _t(F1, grad=True)
        per_row = FNEInfoNCELoss(temperature=1.0, fne_radius=0.02,
                                 normalize=normalize,
                                 reduction='none')(_t(F0), f1, _t(P))
        per_row[0].backward()
        assert torch.equal(f1.grad[1], torch.zeros(2))
        # the unmasked negative f1_2 does get a gradient (f1_0 too, unless the
        # normalisation removes it: f1_0 is parallel to f0_0)
        assert f1.grad[2].abs().sum() > 0
        if not normalize:
            assert f1.grad[0].abs().sum() > 0
        # Control: without FNE the same negative gets a gradient.
        f1 = _t(F1, grad=True)
        FNEInfoNCELoss(temperature=1.0, use_fne=False, normalize=normalize,
                       reduction='none')(_t(F0), f1, _t(P))[0].backward()
        assert f1.grad[1].abs().sum() > 0


def test_masked_feature_zero_gradient_in_total_loss():
    # Key points on a line, 1.5 cm apart, gamma_D = 2 cm: point 1 is within gamma_D
    # of both others, points 0 and 2 (3 cm apart) are not. So row 1 is all-masked
    # (loss 0, no gradient) and column 1 is masked in rows 0 and 2: f1_1 (and f0_1)
    # get exactly zero gradient from the TOTAL loss, while rows 0 and 2 still
    # contrast with each other.
    pts = _t([[0.0, 0.0, 0.0], [0.015, 0.0, 0.0], [0.03, 0.0, 0.0]])
    g = torch.Generator().manual_seed(3)
    f0 = torch.randn(3, 5, generator=g).requires_grad_()
    f1 = torch.randn(3, 5, generator=g).requires_grad_()
    loss = FNEInfoNCELoss(fne_radius=0.02, reduction='none')
    rows = loss(f0, f1, pts)
    assert rows[1].item() == 0.0
    assert rows[0].item() > 0 and rows[2].item() > 0
    rows.mean().backward()
    assert torch.equal(f1.grad[1], torch.zeros(5))
    assert torch.equal(f0.grad[1], torch.zeros(5))
    assert f1.grad[0].abs().sum() > 0 and f1.grad[2].abs().sum() > 0
    # Rows 0 and 2 equal a two-point plain InfoNCE on points {0, 2}.
    sub = FNEInfoNCELoss(use_fne=False, reduction='none')(
        f0[[0, 2]].detach(), f1[[0, 2]].detach())
    torch.testing.assert_close(rows[[0, 2]].detach(), sub)
    # Control: without FNE f1_1 does receive a gradient.
    f1.grad = None
    FNEInfoNCELoss(use_fne=False)(f0, f1, pts).backward()
    assert f1.grad[1].abs().sum() > 0


def test_all_masked_row_zero_loss_finite_grads():
    f0 = _t(F0, grad=True)
    f1 = _t(F1, grad=True)
    pts = _t([[0.0, 0.0, 0.0], [0.001, 0.0, 0.0], [0.0, 0.001, 0.0]])
    out = FNEInfoNCELoss(fne_radius=0.02, normalize=False)(f0, f1, pts)
    assert out.item() == 0.0
    out.backward()
    assert torch.equal(f0.grad, torch.zeros(3, 2))
    assert torch.equal(f1.grad, torch.zeros(3, 2))


def test_single_key_point():
    f0 = torch.randn(1, 4, requires_grad=True)
    f1 = torch.randn(1, 4, requires_grad=True)
    for loss in (FNEInfoNCELoss(), FNEInfoNCELoss(use_fne=False),
                 FNEInfoNCELoss(symmetric=True)):
        out = loss(f0, f1, torch.zeros(1, 3))
        assert out.item() == 0.0
        f0.grad = f1.grad = None
        out.backward()
        assert torch.equal(f0.grad, torch.zeros(1, 4))
        assert torch.equal(f1.grad, torch.zeros(1, 4))


def test_large_logits_stay_finite():
    g = torch.Generator().manual_seed(0)
    f0 = (torch.randn(32, 8, generator=g) * 1e3).requires_grad_()
    f1 = (torch.randn(32, 8, generator=g) * 1e3).requires_grad_()
    pts = torch.rand(32, 3, generator=g) * 0.05
    for normalize in (True, False):
        for use_fne in (True, False):
            f0.grad = f1.grad = None
            out = FNEInfoNCELoss(temperature=1e-6, normalize=normalize,
                                 use_fne=use_fne)(f0, f1, pts)
            assert torch.isfinite(out)
            out.backward()
            assert torch.isfinite(f0.grad).all() and torch.isfinite(f1.grad).all()
    # Identical features with a tiny temperature: every positive wins by a
    # margin of 1 / tau, the loss is ~0 and finite.
    f = F.normalize(torch.eye(4), dim=1)
    out = FNEInfoNCELoss(temperature=1e-8, use_fne=False)(f, f)
    assert out.item() == pytest.approx(0.0, abs=1e-6)


def test_symmetric_and_weight_and_registry():
    g = torch.Generator().manual_seed(5)
    f0 = torch.randn(9, 4, generator=g)
    f1 = torch.randn(9, 4, generator=g)
    logits = F.normalize(f0, dim=1) @ F.normalize(f1, dim=1).t() / 0.1
    target = torch.arange(9)
    ref = 0.5 * (F.cross_entropy(logits, target) +
                 F.cross_entropy(logits.t(), target))
    sym = MODELS.build(dict(type='FNEInfoNCELoss', temperature=0.1,
                            use_fne=False, symmetric=True, loss_weight=2.0))
    assert sym(f0, f1).item() == pytest.approx(2.0 * ref.item(), rel=1e-6)
    summed = FNEInfoNCELoss(temperature=0.1, use_fne=False, reduction='sum')
    assert summed(f0, f1).item() == pytest.approx(
        9 * F.cross_entropy(logits, target).item(), rel=1e-5)
    # functional form, one direction
    rows = fne_info_nce(f0, f1, temperature=0.1)
    assert rows.shape == (9,)


def test_half_precision_inputs_give_float32():
    f0 = torch.randn(5, 4).half()
    f1 = torch.randn(5, 4).half()
    out = FNEInfoNCELoss()(f0, f1, torch.rand(5, 3))
    assert out.dtype == torch.float32 and torch.isfinite(out)


def test_bad_arguments():
    with pytest.raises(ValueError):
        FNEInfoNCELoss(temperature=0)
    with pytest.raises(ValueError):
        FNEInfoNCELoss(fne_radius=-1)
    with pytest.raises(ValueError):
        FNEInfoNCELoss(reduction='max')
    loss = FNEInfoNCELoss()
    with pytest.raises(ValueError):
        loss(torch.zeros(3, 2), torch.zeros(4, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError):
        loss(torch.zeros(0, 2), torch.zeros(0, 2), torch.zeros(0, 3))
    with pytest.raises(ValueError):
        loss(torch.ones(3, 2), torch.ones(3, 2), torch.zeros(2, 3))
    with pytest.raises(ValueError, match='key_points_world'):
        loss(torch.ones(3, 2), torch.ones(3, 2))


def test_fused_row_loss_gradient_is_the_textbook_gradient():
    """The hand-written backward of the masked row loss against finite differences
    (float64) and against autograd's masked_fill + logsumexp composition (float32)."""
    from graspcontrast_mm.models.losses.fne_info_nce_loss import _RowInfoNCE
    g = torch.Generator().manual_seed(5)
    q = torch.randn(7, 4, dtype=torch.float64, generator=g, requires_grad=True)
    k = torch.randn(7, 4, dtype=torch.float64, generator=g, requires_grad=True)
    mask = torch.rand(7, 7, generator=g) < 0.3
    mask.fill_diagonal_(False)
    mask[2] = True  # a row whose negatives are all removed
    mask[2, 2] = False
    mask = torch.nonzero(mask, as_tuple=True)
    weights = torch.rand(7, dtype=torch.float64, generator=g)
    for m in (mask, None):
        def total(a, b):
            return (_RowInfoNCE.apply(a, b, m) * weights).sum()

        grad_q, grad_k = torch.autograd.grad(total(q, k), (q, k))
        # central differences along random directions (one backward per graph: the
        # backward consumes the logits buffer)
        for _ in range(3):
            dq = torch.randn(q.shape, dtype=torch.float64, generator=g)
            dk = torch.randn(k.shape, dtype=torch.float64, generator=g)
            eps = 1e-6
            with torch.no_grad():
                numeric = (total(q + eps * dq, k + eps * dk)
                           - total(q - eps * dq, k - eps * dk)) / (2 * eps)
            analytic = (grad_q * dq).sum() + (grad_k * dk).sum()
            assert float(analytic) == pytest.approx(float(numeric), rel=1e-6, abs=1e-9)

    f0 = torch.randn(64, 16, generator=g, requires_grad=True)
    f1 = torch.randn(64, 16, generator=g, requires_grad=True)
    pts = torch.rand(64, 3, generator=g) * 0.1
    weights = torch.rand(64, generator=g)
    fused = fne_info_nce(f0, f1, pts, temperature=0.07, fne_radius=0.03)
    grads = torch.autograd.grad((fused * weights).sum(), (f0, f1))
    a, b = F.normalize(f0, dim=1), F.normalize(f1, dim=1)
    logits = (a @ b.t() / 0.07).masked_fill(fne_false_negative_mask(pts, 0.03),
                                           float('-inf'))
    reference = torch.logsumexp(logits, dim=1) - logits.diagonal()
    ref_grads = torch.autograd.grad((reference * weights).sum(), (f0, f1))
    torch.testing.assert_close(fused, reference, rtol=1e-5, atol=1e-5)
    for x, y in zip(grads, ref_grads):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5)


def test_second_backward_through_the_loss_is_a_clear_error():
    f0 = torch.randn(5, 3, requires_grad=True)
    loss = FNEInfoNCELoss(fne_radius=0.0)(f0, torch.randn(5, 3))
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match='already back-propagated'):
        loss.backward()


def test_false_negative_mask_equals_all_pairs_distances():
    """The k-d tree search finds exactly the pairs that all M^2 distances find."""
    g = torch.Generator().manual_seed(6)
    pts = torch.rand(3000, 3, generator=g) * torch.tensor([0.4, 0.3, 0.05]) + 0.7
    mask = fne_false_negative_mask(pts, 0.02)
    dist = torch.cdist(pts.double()[None], pts.double()[None])[0]
    brute = dist < 0.02
    brute.fill_diagonal_(False)
    assert torch.equal(mask, brute)
    assert 3000 < int(mask.sum()) < 3000 * 100  # some, not all, pairs are close


def test_non_finite_key_points_are_a_clear_error():
    pts = torch.rand(6, 3)
    pts[4, 1] = float('nan')
    with pytest.raises(ValueError, match=r'1 NaN or infinite row\(s\) \(first: \[4\]\)'):
        FNEInfoNCELoss(fne_radius=0.02)(torch.randn(6, 8), torch.randn(6, 8), pts)
    # without FNE the positions are not read
    assert torch.isfinite(FNEInfoNCELoss(use_fne=False)(torch.randn(6, 8),
                                                        torch.randn(6, 8), pts))
