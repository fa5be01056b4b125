"""projects/PointContrast: hardest-contrastive loss and its pre-training config."""
import math
import os.path as osp
import sys

import pytest
from config_diff import config_diff
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
if ROOT not in sys.path:  # as `PYTHONPATH=$(pwd)` for tools/train.py
    sys.path.insert(0, ROOT)

from projects.PointContrast.pointcontrast import (HardestContrastiveLoss,  # noqa: E402
                                                  hardest_contrastive_terms,
                                                  negative_candidate_mask)

PROJECT_CFG = osp.join(ROOT, 'projects', 'PointContrast', 'configs',
                       'pretrain_pointcontrast_hardest.py')

# Three key points; 0 and 1 are 1 cm apart (not negatives of each other at r = 5 cm).
F0 = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
F1 = torch.tensor([[0.0, 0.5], [1.0, 0.0], [0.5, 0.5]])
P = torch.tensor([[0.0, 0.0, 0.0], [0.01, 0.0, 0.0], [1.0, 0.0, 0.0]])


def test_hand_computed_tiny_case():
    loss_pos, loss_neg = hardest_contrastive_terms(
        F0, F1, P, pos_margin=0.1, neg_margin=1.4, neg_radius=0.05, normalize=False)
    # positives: d = 0.5, 0, sqrt(2.5)
    pos = ((0.5 - 0.1) ** 2 + 0.0 + (math.sqrt(2.5) - 0.1) ** 2) / 3
    # view-0 anchors: 0 -> {f1_2}: sqrt(.5); 1 -> {f1_2}: sqrt(.5);
    # 2 -> {f1_0, f1_1}: min(1.5, sqrt(5)) = 1.5 (beyond the margin)
    hinge = (1.4 - math.sqrt(0.5)) ** 2
    neg0 = (hinge + hinge + 0.0) / 3
    # view-1 anchors: 0 -> {f0_2}: 1.5; 1 -> {f0_2}: sqrt(5); 2 -> {f0_0, f0_1}: sqrt(.5)
    neg1 = (0.0 + 0.0 + hinge) / 3
    assert loss_pos.item() == pytest.approx(pos, rel=1e-6)
    assert loss_neg.item() == pytest.approx((neg0 + neg1) / 2, rel=1e-6)
    module = HardestContrastiveLoss(neg_radius=0.05, normalize=False, neg_weight=2.0,
                                    loss_weight=0.5)
    assert module(F0, F1, P).item() == pytest.approx(0.5 * (pos + 2.0 * (neg0 + neg1) / 2),
                                                     rel=1e-6)


def test_radius_decides_the_candidates():
    # without a radius the 1 cm neighbours become negatives: f1_0's hardest negative is
    # f0_1 (d = sqrt(1.25)) instead of f0_2 (1.5), f1_1's is f0_0 (d = 1) instead of f0_2
    _, neg_r0 = hardest_contrastive_terms(F0, F1, P, neg_radius=0.0, normalize=False)
    h = {0: math.sqrt(0.5), 1: math.sqrt(0.5), 2: 1.5}        # view-0 anchors, k != i
    g = {0: math.sqrt(1.25), 1: 1.0, 2: math.sqrt(0.5)}       # view-1 anchors, k != i
    expected = 0.5 * (sum(max(1.4 - v, 0) ** 2 for v in h.values()) / 3 +
                      sum(max(1.4 - v, 0) ** 2 for v in g.values()) / 3)
    assert neg_r0.item() == pytest.approx(expected, rel=1e-6)
    mask = negative_candidate_mask(P, 0.05)
    assert mask.tolist() == [[False, False, True], [False, False, True],
                             [True, True, False]]


def test_anchors_without_candidates_and_gradients():
    feats = torch.randn(4, 8, requires_grad=True)
    close = torch.zeros(4, 3)  # every point within the radius: no negatives at all
    loss_pos, loss_neg = hardest_contrastive_terms(feats, feats, close, neg_radius=0.05)
    assert loss_neg.item() == 0.0 and loss_pos.item() == 0.0
    (loss_pos + loss_neg).backward()
    assert torch.isfinite(feats.grad).all()  # identical features: finite gradients
    # normalised features: the loss only depends on directions
    a, b = torch.randn(5, 4), torch.randn(5, 4)
    p = torch.rand(5, 3)
    loss = HardestContrastiveLoss()
    assert loss(a, b, p).item() == pytest.approx(loss(3 * a, 0.5 * b, p).item(), rel=1e-5)


def test_num_pos_subsamples_and_validation():
    torch.manual_seed(0)
    a, b, p = torch.randn(50, 4), torch.randn(50, 4), torch.rand(50, 3)
    full = HardestContrastiveLoss()(a, b, p)
    sub = HardestContrastiveLoss(num_pos=10)(a, b, p)
    assert torch.isfinite(sub) and sub.item() != pytest.approx(full.item())
    with pytest.raises(ValueError, match='pos_margin'):
        HardestContrastiveLoss(pos_margin=1.5, neg_margin=1.4)
    with pytest.raises(ValueError, match='key_points_world'):
        hardest_contrastive_terms(a, b, p[:3])
    with pytest.raises(ValueError, match='at least one'):
        hardest_contrastive_terms(a[:0], b[:0], p[:0])




def test_config_swaps_only_the_loss_and_builds():
    cfg = Config.fromfile(PROJECT_CFG)
    base = Config.fromfile(osp.join(ROOT, 'configs', 'pretrain_fne.py'))
    changed = config_diff(base, cfg)
    assert changed, 'the project config must change the loss'
    assert all(k.startswith(('model.loss.', 'custom_imports.')) for k in changed), changed
    assert 'projects.PointContrast.pointcontrast' in cfg.custom_imports.imports
    assert cfg.model.loss.pos_margin == pytest.approx(0.1)
    assert cfg.model.loss.neg_margin == pytest.approx(1.4)
    assert 'use_fne' not in cfg.model.loss  # the FNE options are gone (_delete_)

    from mmengine.utils import import_modules_from_strings
    import_modules_from_strings(**cfg.custom_imports)
    from graspcontrast_mm.registry import MODELS
    cfg.model.backbone.update(planes=(8, 8, 16, 16, 16, 16, 8, 8), init_dim=8,
                              out_channels=16)
    with DefaultScope.overwrite_default_scope('graspcontrast_mm'):
        model = MODELS.build(cfg.model)
    assert isinstance(model.loss_module, HardestContrastiveLoss)
    assert model.loss_module.neg_margin == pytest.approx(1.4)
    # the pre-trainer calls it per sample with the FNE-InfoNCE interface
    out = model.loss_module(torch.randn(6, 16), torch.randn(6, 16), torch.rand(6, 3))
    assert out.dim() == 0 and torch.isfinite(out)
