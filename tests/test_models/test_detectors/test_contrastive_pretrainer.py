"""Unit tests of GraspContrastPretrainer (indexing, modes, errors)."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope

from graspcontrast_mm.models import (FNEInfoNCELoss, GraspContrastPretrainer,
                                     SparsePairDataPreprocessor)
from graspcontrast_mm.registry import MODELS
from pretrain_fakes import (ECHO_BACKBONE, LINEAR_HEAD, EchoBackbone, backbone_cfg,
                            make_batch, make_pair_sample, make_scene)


@pytest.fixture(scope='module')
def batch():
    world = make_scene(0)
    return make_batch([make_pair_sample(world, 0, num_key_points=32, scene_id=11),
                       make_pair_sample(world, 1, num_key_points=24, scene_id=12)])


def _echo_batch():
    """Two pairs whose voxel features are random 4-vectors (known exactly)."""
    g = torch.Generator().manual_seed(0)
    samples = []
    for b, (n0, n1, m) in enumerate([(6, 5, 4), (3, 7, 3)]):
        views = []
        for n in (n0, n1):
            views.append(dict(points=torch.rand(n, 3, generator=g),
                              coords=torch.stack([torch.arange(n)] * 3, 1).int(),
                              feats=torch.randn(n, 4, generator=g),
                              point2voxel=torch.arange(n)))
        matches = torch.stack([torch.randperm(n0, generator=g)[:m],
                               torch.randperm(n1, generator=g)[:m]], 1)
        samples.append(dict(views=views, matches=matches,
                            key_points_world=torch.rand(m, 3, generator=g)))
    return dict(inputs=samples, data_samples=None)


def test_build_defaults():
    model = MODELS.build(dict(type='GraspContrastPretrainer',
                              backbone=dict(type=ECHO_BACKBONE)))
    assert isinstance(model.data_preprocessor, SparsePairDataPreprocessor)
    assert isinstance(model.loss_module, FNEInfoNCELoss)
    assert model.loss_module.temperature == 0.07
    assert model.projection_head is None
    # builds from a config under the package's default scope too
    with DefaultScope.overwrite_default_scope('graspcontrast_mm'):
        cfg = dict(type='GraspContrastPretrainer', backbone=backbone_cfg(),
                   loss=dict(type='FNEInfoNCELoss', use_fne=False))
        model = MODELS.build(cfg)
    assert model.loss_module.use_fne is False


def test_loss_gathers_the_matched_voxels():
    # EchoBackbone returns the input features: the loss must equal the loss of
    # the features of the matched voxels, computed here from the raw samples.
    data = _echo_batch()
    backbone = EchoBackbone()
    loss_cfg = dict(type='FNEInfoNCELoss', fne_radius=0.3)
    model = GraspContrastPretrainer(backbone=backbone, loss=loss_cfg)
    out = model(**model.data_preprocessor(data, True), mode='loss')
    assert backbone.calls == [4]  # ONE call on all 2B clouds (shared weights)
    ref_loss = MODELS.build(loss_cfg)
    expected = []
    for s in data['inputs']:
        f = [s['views'][v]['feats'][s['views'][v]['point2voxel'][s['matches'][:, v]]]
             for v in range(2)]
        expected.append(ref_loss(f[0], f[1], s['key_points_world']))
    torch.testing.assert_close(out['loss_contrast'], torch.stack(expected).mean())
    assert out['num_key_points'].item() == pytest.approx(3.5)


def test_predict_and_tensor_modes():
    data = _echo_batch()
    model = GraspContrastPretrainer(backbone=EchoBackbone())
    prep = model.data_preprocessor(data, False)
    preds = model(**prep, mode='predict')
    assert len(preds) == 2
    for s, p in zip(data['inputs'], preds):
        f0 = s['views'][0]['feats'][s['matches'][:, 0]]
        torch.testing.assert_close(p.key_feats0, F.normalize(f0, dim=1))
        assert p.key_feats1.shape == p.key_feats0.shape
        torch.testing.assert_close(p.key_feats1.norm(dim=1),
                                   torch.ones(len(f0)))
        assert torch.equal(p.key_points_world, s['key_points_world'])
    feats = model(**prep, mode='tensor')
    assert feats.shape == (6 + 3 + 5 + 7, 4)
    with pytest.raises(ValueError, match='mode'):
        model(**prep, mode='bogus')


def test_projection_head_used_for_loss_only():
    data = _echo_batch()
    head = torch.nn.Linear(4, 3)
    model = GraspContrastPretrainer(backbone=EchoBackbone(), projection_head=head)
    prep = model.data_preprocessor(data, True)
    loss = model(**prep, mode='loss')['loss_contrast']
    loss.backward()
    assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0
    preds = model(**prep, mode='predict')
    assert preds[0].key_feats0.shape[1] == 4  # backbone features, not head output
    # a registered head type builds from config
    model = GraspContrastPretrainer(
        backbone=EchoBackbone(),
        projection_head=dict(type=LINEAR_HEAD, in_features=4,
                             out_features=3))
    assert isinstance(model.projection_head, torch.nn.Linear)


def test_real_backbone_batch_and_train_step(batch):
    cfg = backbone_cfg()
    torch.manual_seed(0)
    model = GraspContrastPretrainer(backbone=cfg)
    optim = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    before = [p.detach().clone() for p in model.backbone.parameters()]
    log = model.train_step(batch, optim)
    assert set(log) >= {'loss', 'loss_contrast', 'num_key_points'}
    assert torch.isfinite(log['loss'])
    assert log['num_key_points'].item() == pytest.approx(28.0)
    changed = [not torch.equal(a, b) for a, b in
               zip(before, model.backbone.parameters())]
    assert sum(changed) > len(changed) // 2
    model.eval()
    preds = model.test_step(batch)
    assert preds[0].key_feats0.shape == (32, 16)
    assert preds[1].key_feats1.shape == (24, 16)
    assert preds[0].metainfo['scene_id'] == 11


def test_empty_matches_raise_with_scene_id(batch):
    model = GraspContrastPretrainer(backbone=EchoBackbone())
    inputs = [dict(s) for s in batch['inputs']]
    inputs[1]['matches'] = torch.zeros(0, 2, dtype=torch.long)
    inputs[1]['key_points_world'] = torch.zeros(0, 3)
    data = dict(inputs=inputs, data_samples=batch['data_samples'])
    prep = model.data_preprocessor(data, True)
    with pytest.raises(ValueError, match='scene_id=12'):
        model(**prep, mode='loss')
    with pytest.raises(ValueError, match='M = 0'):
        model(**prep, mode='predict')


class _NaNBackbone(EchoBackbone):

    def forward(self, feats, coords, batch_size):
        out = super().forward(feats, coords, batch_size).clone()
        out[coords[:, 0] == 1] = float('nan')  # cloud 1 = view 0 of sample 1
        return out


def test_non_finite_loss_raises_with_scene_ids(batch):
    model = GraspContrastPretrainer(backbone=_NaNBackbone())
    prep = model.data_preprocessor(batch, True)
    with pytest.raises(FloatingPointError, match='scene_id=12') as err:
        model(**prep, mode='loss')
    assert 'scene_id=11' not in str(err.value)


def test_single_view_tensor_mode():
    cfg = backbone_cfg()
    model = GraspContrastPretrainer(backbone=cfg)
    world = make_scene(2)
    views = make_pair_sample(world, 0)['inputs']['views']
    prep = model.data_preprocessor(dict(inputs=views), False)
    model.eval()
    feats = model(**prep, mode='tensor')
    assert feats.shape == (prep['inputs']['coords'].shape[0], 16)
    with pytest.raises(KeyError, match='match_rows'):
        model(**prep, mode='loss')


def test_gradient_is_the_same_on_every_call():
    """Two identical backward passes give bit-identical gradients (key points that share
    a voxel read the same row: the gather sums repeated rows in backward)."""
    world = make_scene(0, voxel_size=0.01)
    batch = make_batch([make_pair_sample(world, 0, num_key_points=512, voxel_size=0.02)])
    torch.manual_seed(0)
    model = GraspContrastPretrainer(backbone=backbone_cfg(out_channels=128))
    data = model.data_preprocessor(batch, True)
    grads = set()
    for _ in range(6):
        model.zero_grad()
        model(**data, mode='loss')['loss_contrast'].backward()
        grads.add(b''.join(p.grad.numpy().tobytes() for p in model.parameters()
                           if p.grad is not None))
    assert len(grads) == 1


class _AllVoxelsBackbone(torch.nn.Module):
    """The same SparseUNet behind a forward without ``rows``: the pre-trainer then runs it
    on every voxel and gathers the key points itself."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, feats, coords, batch_size):
        return self.unet(feats, coords, batch_size)


def test_key_point_rows_path_equals_gathering_all_voxels(batch):
    torch.manual_seed(3)
    model = GraspContrastPretrainer(backbone=backbone_cfg())
    assert model._backbone_takes_rows()
    reference = GraspContrastPretrainer(backbone=_AllVoxelsBackbone(model.backbone))
    assert not reference._backbone_takes_rows()
    data = model.data_preprocessor(batch, True)
    results = []
    for m in (model, reference):
        m.zero_grad()
        loss = m(**data, mode='loss')['loss_contrast']
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in model.backbone.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=1e-6, atol=1e-6)
    for a, b in zip(results[0][1], results[1][1]):  # float32 sums in another order
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * float(b.abs().max()))
    model.eval()
    for p, q in zip(model(**data, mode='predict'), reference(**data, mode='predict')):
        torch.testing.assert_close(p.key_feats0, q.key_feats0)
        torch.testing.assert_close(p.key_feats1, q.key_feats1)
