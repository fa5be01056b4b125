"""Tests of FeatureMatchMetric with constructed features."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope
from mmengine.structures import BaseDataElement

from graspcontrast_mm.evaluation import FeatureMatchMetric, feature_match_stats
from graspcontrast_mm.registry import METRICS

S = 1 / math.sqrt(2)
# p0 and p1 are 1 cm apart; p2 and p3 are far from everything.
PTS = torch.tensor([[0.0, 0, 0], [0.01, 0, 0], [1.0, 0, 0], [2.0, 0, 0]])
F0 = torch.eye(4)
# Feature NN of the view-0 rows: 0 -> 1 (1 cm away: hit, not exact), 1 -> 1 (exact),
# 2 -> 3 (1 m away: miss), 3 -> 3 (exact).
F1 = torch.tensor([[0.0, 0, 0, -1], [S, S, 0, 0], [0, 0, -1, 0], [0, 0, S, S]])


def _pred(f0, f1, pts):
    return BaseDataElement(key_feats0=f0, key_feats1=f1, key_points_world=pts)


def test_hand_computed_pair():
    stats = feature_match_stats(F0, F1, PTS, hit_radius=0.02)
    assert stats['hit_ratio'] == pytest.approx(3 / 4)
    assert stats['top1_accuracy'] == pytest.approx(2 / 4)
    assert stats['num_points'] == 4
    # within 2 cm: p0 {p0, p1}, p1 {p0, p1}, p2 {p2}, p3 {p3} -> (2 + 2 + 1 + 1) / 16
    assert stats['chance_hit_ratio'] == pytest.approx(6 / 16)
    # radius 5 mm: the 1 cm neighbour no longer counts
    assert feature_match_stats(F0, F1, PTS, 0.005)['hit_ratio'] == pytest.approx(0.5)
    # radius 0 reduces to top-1 (distinct points)
    assert feature_match_stats(F0, F1, PTS, 0.0)['hit_ratio'] == pytest.approx(0.5)


def test_metric_aggregation_hand_values():
    metric = METRICS.build(dict(type='FeatureMatchMetric', hit_radius=0.02))
    # pair B: every NN is a far point -> hit ratio 0
    # f1_j = e_pi(j): the NN of row i is the j with pi(j) = i: 0->2, 1->3, 2->0, 3->1
    f1_bad = F0[[2, 3, 0, 1]]
    stats_bad = feature_match_stats(F0, f1_bad, PTS, 0.02)
    assert stats_bad['hit_ratio'] == 0.0
    # predictions as data elements (model output) and as dicts (evaluator output)
    metric.process({}, [_pred(F0, F1, PTS), _pred(F0, f1_bad, PTS).to_dict()])
    res = metric.evaluate(2)
    assert res['feature_match/feature_match_recall'] == pytest.approx(0.5)
    assert res['feature_match/hit_ratio'] == pytest.approx(3 / 8)
    assert res['feature_match/top1_accuracy'] == pytest.approx(2 / 8)
    assert res['feature_match/num_pairs'] == 2


def test_recall_threshold_is_strict():
    # hit ratio exactly 0.25 -> counted only when threshold < 0.25
    pts = torch.tensor([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]])
    f1 = torch.eye(4)[[0, 2, 3, 1]]  # only row 0 maps to itself
    assert feature_match_stats(torch.eye(4), f1, pts, 0.02)['hit_ratio'] == 0.25
    for thr, expected in ((0.2, 1.0), (0.25, 0.0)):
        metric = FeatureMatchMetric(inlier_ratio_threshold=thr)
        metric.process({}, [_pred(torch.eye(4), f1, pts)])
        assert metric.evaluate(1)['feature_match/feature_match_recall'] == expected


def test_perfect_features_score_one():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(64, 16, generator=g)
    pts = torch.rand(64, 3, generator=g)
    stats = feature_match_stats(f, f * 3.0, pts, 0.02)  # scale does not matter
    assert stats['hit_ratio'] == 1.0 and stats['top1_accuracy'] == 1.0


def test_random_features_hit_ratio_matches_chance():
    g = torch.Generator().manual_seed(1)
    num, radius = 150, 0.02
    pts = torch.rand(num, 3, generator=g) * 0.08  # 8 cm cube: many neighbours
    within = (torch.cdist(pts.double(), pts.double()) <= radius).double()
    chance = within.sum(1).mean().item() / num  # includes the point itself
    assert 0.05 < chance < 0.3
    hits = [feature_match_stats(torch.randn(num, 8, generator=g),
                                torch.randn(num, 8, generator=g), pts,
                                radius)['hit_ratio'] for _ in range(60)]
    # 60 x 150 nearly independent draws: standard error ~ 0.004
    assert np.mean(hits) == pytest.approx(chance, abs=0.02)
    reported = feature_match_stats(torch.randn(num, 8, generator=g),
                                   torch.randn(num, 8, generator=g), pts, radius)
    assert reported['chance_hit_ratio'] == pytest.approx(chance, rel=1e-9)
    top1 = feature_match_stats(torch.randn(num, 8, generator=g),
                               torch.randn(num, 8, generator=g), pts, radius)
    assert top1['top1_accuracy'] < 0.1


def test_with_mmengine_evaluator():
    # as in a config with default_scope = 'graspcontrast_mm'
    with DefaultScope.overwrite_default_scope('graspcontrast_mm'):
        evaluator = Evaluator(dict(type='FeatureMatchMetric'))
    evaluator.process([_pred(F0, F1, PTS)], data_batch={})
    res = evaluator.evaluate(1)
    assert res['feature_match/hit_ratio'] == pytest.approx(0.75)


def test_errors():
    metric = FeatureMatchMetric()
    with pytest.raises(KeyError, match='key_feats1'):
        metric.process({}, [dict(key_feats0=F0, key_points_world=PTS)])
    with pytest.raises(KeyError, match='key_feats0'):
        metric.process({}, [BaseDataElement(key_points_world=PTS)])
    with pytest.raises(ValueError):
        feature_match_stats(F0, F1[:3], PTS, 0.02)
    with pytest.raises(ValueError):
        feature_match_stats(F0, F1, PTS[:3], 0.02)
    with pytest.raises(ValueError):
        feature_match_stats(F0[:0], F1[:0], PTS[:0], 0.02)
    with pytest.raises(ValueError):
        FeatureMatchMetric(hit_radius=-0.1)
    with pytest.raises(ValueError):
        FeatureMatchMetric(hit_radius=float('nan'))
    with pytest.raises(ValueError):
        FeatureMatchMetric(inlier_ratio_threshold=1.5)
    bad = F0.clone()
    bad[0, 0] = float('nan')
    with pytest.raises(ValueError, match='feats0 has non-finite'):
        feature_match_stats(bad, F1, PTS, 0.02)
    bad_pts = PTS.clone().double()
    bad_pts[1, 2] = float('inf')
    with pytest.raises(ValueError, match='key_points_world has non-finite'):
        feature_match_stats(F0, F1, bad_pts, 0.02)
    with pytest.raises(ValueError):
        metric.compute_metrics([])
    # normalised features are not required
    assert feature_match_stats(F0 * 7, F.normalize(F1) * 0.1, PTS,
                               0.02)['hit_ratio'] == pytest.approx(0.75)
