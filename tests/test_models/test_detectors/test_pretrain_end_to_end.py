"""End to end: a few pre-training steps on CPU improve feature matching.

Two fake views of one table-top scene are related by a known rigid transform (30 degrees
about z plus a translation); matches are known. The pre-trainer with a small SparseUNet is
trained for 30 steps with an mmengine OptimWrapper on two such pairs; the loss must fall
and the feature-match hit ratio of these pairs (model in eval mode) must rise well above
its random-initialisation value. This checks that the whole chain (batching, shared
backbone, gathering at the matches, FNE-InfoNCE, backward through the sparse convs,
prediction, metric) optimises the intended objective; 30 steps on one scene are too few
to test generalisation to other pairs.
"""
import math

import torch
from mmengine.evaluator import Evaluator
from mmengine.optim import OptimWrapper

from graspcontrast_mm.registry import METRICS, MODELS
from pretrain_fakes import backbone_cfg, make_batch, make_pair_sample, make_scene

NUM_STEPS = 30


def _evaluate(model, batch):
    evaluator = Evaluator(
        METRICS.build(dict(type='FeatureMatchMetric', hit_radius=0.02)))
    model.eval()
    with torch.no_grad():
        preds = model.test_step(batch)
    model.train()
    for p in preds:
        assert torch.isfinite(p.key_feats0).all() and torch.isfinite(
            p.key_feats1).all()
    evaluator.process(preds, batch)
    return evaluator.evaluate(len(preds))


def test_pretraining_improves_feature_matching():
    torch.manual_seed(0)
    world = make_scene(0)
    train = make_batch([make_pair_sample(world, s, num_key_points=64,
                                         angle=math.radians(30), scene_id=0)
                        for s in (0, 1)])
    cfg = backbone_cfg()
    model = MODELS.build(dict(type='GraspContrastPretrainer', backbone=cfg,
                              loss=dict(type='FNEInfoNCELoss', fne_radius=0.02)))
    optim = OptimWrapper(torch.optim.Adam(model.parameters(), lr=3e-3))

    before = _evaluate(model, train)
    losses = []
    for _ in range(NUM_STEPS):
        log = model.train_step(train, optim)
        assert torch.isfinite(log['loss'])
        losses.append(log['loss'].item())
    after = _evaluate(model, train)

    assert all(torch.isfinite(p).all() for p in model.parameters())
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < 0.6 * first, losses
    hit0 = before['feature_match/hit_ratio']
    hit1 = after['feature_match/hit_ratio']
    assert hit1 > hit0 + 0.2 and hit1 > 0.3, (before, after)
    assert after['feature_match/top1_accuracy'] > before[
        'feature_match/top1_accuracy']
    assert after['feature_match/feature_match_recall'] == 1.0
