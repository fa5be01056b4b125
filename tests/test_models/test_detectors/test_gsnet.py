"""Tests of the GSNet detector on tiny synthetic scenes (CPU, small backbone)."""
import math

import numpy as np
import pytest
import torch
from mmdet3d.structures import Det3DDataSample
from mmengine.optim import OptimWrapper

from graspcontrast_mm.models.detectors.gsnet import GSNet
from graspcontrast_mm.models.heads import pack_grasp_labels
from graspcontrast_mm.registry import MODELS
from graspcontrast_mm.structures.points import voxelize
from tiny_gsnet import tiny_gsnet_model_cfg

NUM_SEEDS = 32



def tiny_cfg(**overrides) -> dict:
    """The shared tiny GSNet with its default (gated) test settings."""
    overrides.setdefault('num_seeds', NUM_SEEDS)
    return tiny_gsnet_model_cfg(gated=True, **overrides)


def make_sample(seed: int = 0, with_labels: bool = True, box_height: float = 0.06):
    """A table plane (z = 0.5 m, camera looking down) with a box top 6 cm above it."""
    rng = np.random.default_rng(seed)
    step = 0.005
    g = np.arange(-0.08, 0.08, step)
    xx, yy = np.meshgrid(g, g, indexing='ij')
    table = np.stack([xx.ravel(), yy.ravel(), np.full(xx.size, 0.5)], 1)
    half = 0.03
    in_box = (np.abs(table[:, 0]) < half) & (np.abs(table[:, 1]) < half)
    top = table[in_box].copy()
    top[:, 2] = 0.5 - box_height
    pts = np.concatenate([table[~in_box], top]) + rng.normal(0, 3e-4, (len(table), 3))
    pts = pts.astype(np.float32)
    obj = np.concatenate([np.zeros((~in_box).sum()), np.ones(in_box.sum())]).astype(np.int64)
    vg = voxelize(pts, 0.005)
    inputs = dict(points=torch.from_numpy(pts), coords=torch.from_numpy(vg.coords),
                  feats=torch.ones(len(vg.coords), 1),
                  point2voxel=torch.from_numpy(vg.point2voxel))
    ds = Det3DDataSample(metainfo=dict(scene_id=0, frame_id=seed))
    if with_labels:
        pose = np.zeros((1, 3, 4), np.float32)
        pose[0, :, :3] = np.eye(3)
        pose[0, :, 3] = [0.0, 0.0, 0.5 - box_height / 2]
        gp = rng.uniform(-half, half, (30, 3)).astype(np.float32)
        gp[:, 2] = -box_height / 2
        mu = rng.choice([0.2, 0.4, 0.8, 1.2, 0.0], size=(30, 300, 12, 4)).astype(np.float32)
        widths = rng.uniform(0.02, 0.08, mu.shape).astype(np.float32)
        ds.gt_grasp_labels = pack_grasp_labels(obj, obj * 0.8, pose, [gp], [widths], [mu])
    return inputs, ds


def set_graspable_bias(model: GSNet, objectness: float, graspness: float) -> None:
    """Make every point (not) an object point with a fixed graspness."""
    with torch.no_grad():
        model.graspable_head.conv_graspable.weight.zero_()
        model.graspable_head.conv_graspable.bias.copy_(
            torch.tensor([-objectness, objectness, graspness]))


def preprocess(model, samples, training=False):
    data = dict(inputs=[s[0] for s in samples], data_samples=[s[1] for s in samples])
    return model.data_preprocessor(data, training)


@pytest.fixture(scope='module')
def samples():
    return [make_sample(0), make_sample(1, box_height=0.04)]


def test_build_and_head_widths():
    model = MODELS.build(tiny_cfg())
    assert isinstance(model, GSNet)
    assert model.graspable_head.in_channels == 16 and model.crop_head.in_channels == 16
    assert model.swad_head.in_channels == 16
    assert model.views.shape == (300, 3)
    with pytest.raises(ValueError, match='approach_head.in_channels'):
        MODELS.build(tiny_cfg(approach_head=dict(type='ApproachViewHead', in_channels=8)))
    with pytest.raises(ValueError, match='swad_head'):
        MODELS.build(tiny_cfg(swad_head=dict(type='SWADHead', in_channels=32)))


def test_tensor_mode_shapes(samples):
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg()).eval()
    data = preprocess(model, samples)
    with torch.no_grad():
        out = model(**data, mode='tensor')
    n = [s[0]['points'].shape[0] for s in samples]
    assert [t.shape for t in out['objectness_logits']] == [(n[0], 2), (n[1], 2)]
    assert [t.shape for t in out['graspness']] == [(n[0], ), (n[1], )]
    b, m = 2, NUM_SEEDS
    assert out['seed_inds'].shape == (b, m) and out['seed_xyz'].shape == (b, m, 3)
    assert out['view_scores'].shape == (b, m, 300) and out['view_inds'].shape == (b, m)
    assert out['rotations'].shape == (b, m, 3, 3)
    assert out['score_pred'].shape == out['width_pred'].shape == (b, m, 12, 4)
    for i in range(b):
        assert torch.equal(out['seed_xyz'][i], samples[i][0]['points'][out['seed_inds'][i]])


def test_seed_selection_rules():
    model = MODELS.build(tiny_cfg(num_seeds=8))
    g = torch.Generator().manual_seed(0)
    pts = torch.rand(50, 3, generator=g)
    logits = torch.zeros(50, 2)
    graspness = 0.2 + 0.8 * torch.rand(50, generator=g)
    logits[:, 1] = 1.0
    graspness[:20] = 0.05  # below the 0.1 threshold
    idx, n = model.select_seeds(pts, logits, graspness)
    assert n == 30 and idx.shape == (8, ) and len(set(idx.tolist())) == 8
    assert all(i >= 20 for i in idx.tolist())
    logits[:, 1] = -1.0
    logits[[3, 30, 41], 1] = 1.0  # point 3 fails the graspness test: 2 candidates, cycled
    idx, n = model.select_seeds(pts, logits, graspness)
    assert n == 2 and idx.tolist() == [30, 41] * 4
    logits[:, 1] = -1.0  # none: the highest graspness points
    idx, n = model.select_seeds(pts, logits, graspness)
    assert n == 0 and set(idx.tolist()) == set(torch.topk(graspness, 8).indices.tolist())


def test_predict_rows(samples):
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg()).eval()
    set_graspable_bias(model, 5.0, 1.0)
    data = preprocess(model, samples)
    with torch.no_grad():
        results = model(**data, mode='predict')
    assert len(results) == 2
    for (inputs, _), res in zip(samples, results):
        g = res.pred_grasps
        assert isinstance(g, np.ndarray) and g.dtype == np.float32
        assert g.ndim == 2 and g.shape[1] == 17 and 0 < g.shape[0] <= NUM_SEEDS
        assert np.isfinite(g).all()
        assert np.all(np.diff(g[:, 0]) <= 0)
        rot = g[:, 4:13].reshape(-1, 3, 3).astype(np.float64)
        np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-4)
        assert np.all((g[:, 1] >= 0) & (g[:, 1] <= 0.1)) and np.all(g[:, 2] == 0.02)
        depth_grid = np.array([0.01, 0.02, 0.03, 0.04])
        assert np.all(np.abs(g[:, 3:4] - depth_grid).min(axis=1) < 1e-6)
        assert np.all(g[:, 16] == -1)
        pts = inputs['points'].numpy()
        d = np.linalg.norm(pts[None] - g[:, None, 13:16], axis=-1).min(1)
        assert np.all(d < 1e-6)  # grasp points are seeds (cloud points)
    model.test_cfg.update(nms=False, max_num=5)
    with torch.no_grad():
        few = model(**preprocess(model, samples), mode='predict')
    assert few[0].pred_grasps.shape == (5, 17)


def test_predict_without_graspable_points_is_empty(samples):
    model = MODELS.build(tiny_cfg()).eval()
    set_graspable_bias(model, -5.0, 1.0)
    with torch.no_grad():
        results = model(**preprocess(model, samples[:1]), mode='predict')
    assert results[0].pred_grasps.shape == (0, 17)
    model.test_cfg['empty_if_no_graspable'] = False
    with torch.no_grad():
        results = model(**preprocess(model, samples[:1]), mode='predict')
    assert results[0].pred_grasps.shape[0] > 0


def test_predict_maps_back_to_camera_frame():
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg(test_cfg=dict(nms=False))).eval()
    set_graspable_bias(model, 5.0, 1.0)
    inputs, ds = make_sample(3, with_labels=False)
    c, s = math.cos(0.4), math.sin(0.4)
    aug = np.diag([-1.0, 1.0, 1.0, 1.0])  # flip x, then rotate about z
    aug = np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]) @ aug
    ds.set_metainfo(dict(aug_mat=aug))
    with torch.no_grad():
        cam = model(**preprocess(model, [(inputs, ds)]), mode='predict')[0].pred_grasps
        model.test_cfg['to_camera_frame'] = False
        raw = model(**preprocess(model, [(inputs, ds)]), mode='predict')[0].pred_grasps
    assert cam.shape == raw.shape and cam.shape[0] > 0
    inv = np.linalg.inv(aug)
    np.testing.assert_allclose(cam[:, 13:16], raw[:, 13:16] @ inv[:3, :3].T, atol=1e-6)
    r_cam = cam[:, 4:13].reshape(-1, 3, 3)
    r_raw = raw[:, 4:13].reshape(-1, 3, 3)
    np.testing.assert_allclose(np.linalg.det(r_cam), 1.0, atol=1e-4)
    np.testing.assert_allclose(r_cam[:, :, :2], inv[:3, :3] @ r_raw[:, :, :2], atol=1e-5)


def test_training_reduces_loss(samples):
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg()).train()
    wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=3e-3))
    data = dict(inputs=[s[0] for s in samples], data_samples=[s[1] for s in samples])
    totals = []
    for _ in range(20):
        log_vars = model.train_step(data, wrapper)
        assert set(log_vars) >= {'loss', 'loss_objectness', 'loss_graspness', 'loss_view',
                                 'loss_score', 'loss_width', 'graspable_count'}
        assert math.isfinite(float(log_vars['loss']))
        totals.append(float(log_vars['loss']))
    first, last = np.mean(totals[:3]), np.mean(totals[-3:])
    assert last < 0.7 * first, totals


def test_loss_without_labelled_objects():
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg()).train()
    inputs, ds = make_sample(4, with_labels=False)
    n = inputs['points'].shape[0]
    ds.gt_grasp_labels = dict(objectness_label=np.zeros(n, np.int64),
                              graspness_label=np.zeros(n, np.float32),
                              object_poses=np.zeros((0, 3, 4), np.float32),
                              grasp_points=[], grasp_widths=[], grasp_scores=[])
    losses = model(**preprocess(model, [(inputs, ds)], True), mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    assert float(losses['loss_width']) == 0.0


def test_label_and_input_errors(samples):
    model = MODELS.build(tiny_cfg()).train()
    inputs, ds = make_sample(5, with_labels=False)
    with pytest.raises(KeyError, match='gt_grasp_labels'):
        model(**preprocess(model, [(inputs, ds)], True), mode='loss')
    _, labelled = samples[0]
    bad = labelled.gt_grasp_labels.clone()
    bad.objectness_label = bad.objectness_label[:-3]
    ds.gt_grasp_labels = bad
    with pytest.raises(ValueError, match='one entry per point'):
        model(**preprocess(model, [(inputs, ds)], True), mode='loss')
    with pytest.raises(ValueError, match='mode'):
        model(**preprocess(model, samples[:1]), mode='train')
    with pytest.raises(KeyError, match='inputs lack'):
        model(inputs=dict(feats=torch.ones(3, 1)), mode='tensor')


def test_predict_test_time_collision_detection(samples):
    """test_cfg.collision_thresh: the reference's detector on data_sample.scene_points
    (else the input points), before NMS; -1 (default, the reference's published
    protocol) keeps every grasp."""
    from graspcontrast_mm.structures import reference_collision_iou
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg(test_cfg=dict(nms=False))).eval()
    assert model.test_cfg['collision_thresh'] == -1
    assert model.test_cfg['collision_voxel_size'] == 0.01
    assert model.test_cfg['collision_approach_dist'] == 0.05
    set_graspable_bias(model, 5.0, 1.0)
    inputs, ds = samples[0]

    def predict(scene=None):
        sample = ds.clone()
        if scene is not None:
            sample.scene_points = scene
        with torch.no_grad():
            return model(**preprocess(model, [(inputs, sample)]), mode='predict')[0]

    all_grasps = predict().pred_grasps
    table_and_box = inputs['points'].numpy()
    # a threshold between the grasps' collision IoUs with this dense plane + box
    iou = reference_collision_iou(all_grasps, table_and_box, voxel_size=0.01,
                                  approach_dist=0.05)
    thresh = float(np.median(iou))
    collides = iou > thresh
    assert 0 < collides.sum() < len(all_grasps)
    model.test_cfg['collision_thresh'] = thresh
    np.testing.assert_array_equal(predict(table_and_box).pred_grasps,
                                  all_grasps[~collides])
    # without scene_points the input points are the scene
    np.testing.assert_array_equal(predict().pred_grasps, all_grasps[~collides])
    # the scene_points are used: a scene far away collides with nothing
    np.testing.assert_array_equal(predict(table_and_box + 10.0).pred_grasps, all_grasps)
