"""Tests of the GSNet heads, cylinder crop, label processing, loss and decoding."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from graspnetAPI import GraspGroup
from graspnetAPI.utils.rotation import batch_viewpoint_params_to_matrix
from graspnetAPI.utils.utils import generate_views as api_generate_views

from graspcontrast_mm.models.heads import (DEFAULT_LOSS_WEIGHTS, ApproachViewHead,
                                           CylinderCropHead, GraspableHead, GSNetLoss,
                                           SWADHead, approach_to_rotation, cylinder_group,
                                           cylinder_query, decode_grasps,
                                           friction_to_score_target,
                                           grasp_labels_to_targets, pack_grasp_labels,
                                           postprocess_grasps, process_grasp_labels,
                                           process_view_labels,
                                           select_view_labels, template_views,
                                           view_reindex)
from graspcontrast_mm.registry import MODELS
from graspcontrast_mm.structures.grasp import decode_label_grasps



def _rot(axis, angle_deg):
    axis = np.asarray(axis, dtype=np.float64)
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    a = math.radians(angle_deg)
    return np.eye(3) + math.sin(a) * k + (1 - math.cos(a)) * k @ k


def _rx(angle):
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


# --------------------------------------------------------------------------- shapes
def test_head_output_shapes_small():
    torch.manual_seed(0)
    b, m, c, n = 2, 10, 8, 37
    obj, grs = GraspableHead(c)(torch.randn(n, c))
    assert obj.shape == (n, 2) and grs.shape == (n, )
    vs, res = ApproachViewHead(c, num_views=300)(torch.randn(b, c, m))
    assert vs.shape == (b, m, 300) and res.shape == (b, c, m)
    crop = CylinderCropHead(c, mlp_channels=(6, 5), num_samples=4)
    xyz = torch.rand(b, m, 3) * 0.05
    rot = approach_to_rotation(torch.randn(b, m, 3))
    out = crop(xyz, torch.randn(b, c, m), rot)
    assert out.shape == (b, 5, m)
    score, width = SWADHead(5, hidden_channels=7, num_angles=12, num_depths=4)(out)
    assert score.shape == (b, m, 12, 4) and width.shape == (b, m, 12, 4)


def test_head_defaults_are_reference_widths():
    heads = [MODELS.build(dict(type=t)) for t in
             ('GraspableHead', 'ApproachViewHead', 'CylinderCropHead', 'SWADHead')]
    graspable, approach, crop, swad = heads
    assert graspable.conv_graspable.weight.shape == (3, 512, 1)
    assert approach.conv1.weight.shape == (512, 512, 1)
    assert approach.conv2.weight.shape == (300, 512, 1)
    assert crop.mlps[0].weight.shape == (256, 515, 1, 1)
    assert crop.mlps[3].weight.shape == (256, 256, 1, 1)
    assert (crop.radius, crop.hmin, crop.hmax, crop.num_samples) == (0.05, -0.02, 0.04, 16)
    assert swad.conv_swad.weight.shape == (96, 256, 1)
    out = crop(torch.rand(1, 20, 3) * 0.05, torch.randn(1, 512, 20),
               approach_to_rotation(torch.randn(1, 20, 3)))
    score, width = swad(out)
    assert out.shape == (1, 256, 20) and score.shape == width.shape == (1, 20, 12, 4)


def test_head_input_errors():
    with pytest.raises(ValueError, match='point_feats'):
        GraspableHead(8)(torch.randn(5, 7))
    with pytest.raises(ValueError, match='seed_feats'):
        ApproachViewHead(8)(torch.randn(5, 8))
    with pytest.raises(ValueError, match='crop_feats'):
        SWADHead(8)(torch.randn(1, 9, 4))


def test_swad_channel_layout():
    """Channel ``(k * A + a) * D + d`` is score k=0 / width k=1 of angle a, depth d."""
    head = SWADHead(4, hidden_channels=4, num_angles=3, num_depths=2)
    with torch.no_grad():
        head.conv_swad.weight.zero_()
        head.conv_swad.bias.copy_(torch.arange(12, dtype=torch.float32))
    score, width = head(torch.randn(1, 4, 5))
    expect = torch.arange(12.).view(2, 3, 2)
    assert torch.equal(score[0, 3], expect[0]) and torch.equal(width[0, 1], expect[1])


def test_view_sampling():
    scores = torch.full((1, 3, 300), -2.0)
    scores[0, 0, 17] = 5.0  # one-hot after min-max normalisation
    scores[0, 2] = 1.0  # all equal: uniform, no error
    for _ in range(5):
        idx = ApproachViewHead.sample_views(scores)
        assert idx.shape == (1, 3) and idx[0, 0] == 17
        assert 0 <= int(idx[0, 2]) < 300
    assert ApproachViewHead.best_views(scores)[0, 0] == 17


# --------------------------------------------------------------------------- geometry
def test_views_and_rotations_match_graspnetapi():
    views = template_views(300)
    assert torch.allclose(views, torch.as_tensor(api_generate_views(300), dtype=torch.float32))
    rng = np.random.default_rng(0)
    approach = rng.normal(size=(50, 3))
    approach[0] = [0, 0, 1.5]  # vertical approach: special case y0 = [0, 1, 0]
    approach[1] = [0, 0, -1]
    angle = rng.uniform(0, np.pi, 50)
    ours = approach_to_rotation(torch.as_tensor(approach), torch.as_tensor(angle)).numpy()
    ref = batch_viewpoint_params_to_matrix(approach, angle)
    np.testing.assert_allclose(ours, ref, atol=1e-6)


# --------------------------------------------------------------------------- cylinder crop
def _naive_cylinder(points, centers, rots, radius, hmin, hmax, ns):
    out = np.zeros(centers.shape[:2] + (ns, ), dtype=np.int64)
    for b in range(points.shape[0]):
        for j in range(centers.shape[1]):
            found = []
            for k in range(points.shape[1]):
                q = rots[b, j].T @ (points[b, k] - centers[b, j])
                if q[1] ** 2 + q[2] ** 2 < radius ** 2 and hmin < q[0] < hmax:
                    found.append(k)
                if len(found) == ns:
                    break
            if not found:
                found = [int(np.argmin(((points[b] - centers[b, j]) ** 2).sum(1)))]
            out[b, j] = found + [found[0]] * (ns - len(found))
    return out


def test_cylinder_query_hand_made():
    pts = torch.tensor([[[-0.03, 0., 0.],   # behind hmin
                         [0.01, 0., 0.],    # inside
                         [0.05, 0., 0.],    # beyond hmax
                         [0.03, 0.035, 0.],  # inside (radial 0.035 < 0.05)
                         [0.0, 0.0, 0.06],  # outside radially
                         [-0.015, 0.0, -0.03]]])  # inside
    idx = cylinder_query(pts, torch.zeros(1, 1, 3), torch.eye(3).view(1, 1, 3, 3),
                         num_samples=5)
    assert idx.tolist() == [[[1, 3, 5, 1, 1]]]
    # the approach axis is the first rotation column: swap x and z
    rot = torch.tensor([[0., 0., 1.], [0., 1., 0.], [-1., 0., 0.]]).T.contiguous()
    assert torch.allclose(rot[:, 0], torch.tensor([0., 0., 1.]))
    idx = cylinder_query(pts, torch.zeros(1, 1, 3), rot.view(1, 1, 3, 3), num_samples=4)
    # now the cylinder axis is camera z: [0,0,0.06] is beyond hmax, [-.015,0,-.03] behind,
    # [0.05,0,0] is on the mantle (not inside), [-0.03,0,0] is inside
    assert idx.tolist() == [[[0, 1, 3, 0]]]
    # nothing inside: the nearest point, repeated
    far = torch.tensor([[[1., 0., 0.], [0.5, 0.5, 0.5]]])
    idx = cylinder_query(far, torch.zeros(1, 1, 3), torch.eye(3).view(1, 1, 3, 3),
                         num_samples=3)
    assert idx.tolist() == [[[1, 1, 1]]]


def test_cylinder_query_matches_naive_and_is_rotation_equivariant():
    g = torch.Generator().manual_seed(0)
    pts = torch.rand(2, 60, 3, generator=g) * 0.12
    centers = pts[:, :7].clone()
    centers[0, 2] += 0.5  # empty cylinders (nearest point) beside full ones, both clouds
    centers[1, 5] -= 0.4
    rots = approach_to_rotation(torch.randn(2, 7, 3, generator=g),
                                torch.rand(2, 7, generator=g) * 3)
    idx = cylinder_query(pts, centers, rots, num_samples=6, chunk_size=3)
    ref = _naive_cylinder(pts.numpy(), centers.numpy(), rots.numpy(), 0.05, -0.02, 0.04, 6)
    assert np.array_equal(idx.numpy(), ref)
    q = torch.as_tensor(_rot([1, -2, 0.5], 70), dtype=torch.float32)
    idx_rot = cylinder_query(pts @ q.T + 0.3, centers @ q.T + 0.3, q @ rots, num_samples=6)
    assert torch.equal(idx, idx_rot)


def test_cylinder_query_rejects_bad_chunk_size():
    pts = torch.zeros(1, 4, 3)
    with pytest.raises(ValueError, match='chunk_size'):
        cylinder_query(pts, pts[:, :2], torch.eye(3).expand(1, 2, 3, 3), chunk_size=0)
    with pytest.raises(ValueError, match='chunk_size'):
        CylinderCropHead(in_channels=4, chunk_size=0)


def test_cylinder_group_local_frame():
    pts = torch.tensor([[[0.1, 0.2, 0.3], [0.12, 0.2, 0.3], [0.1, 0.21, 0.29]]])
    feats = torch.arange(6, dtype=torch.float32).view(1, 2, 3)
    rot = torch.as_tensor(_rot([0, 0, 1], 90), dtype=torch.float32).view(1, 1, 3, 3)
    idx = torch.tensor([[[1, 2]]])
    out = cylinder_group(pts, pts[:, :1], rot, feats, idx, radius=0.05)
    assert out.shape == (1, 5, 1, 2)
    expect = (rot[0, 0].T @ (pts[0, [1, 2]] - pts[0, 0]).T).T / 0.05
    assert torch.allclose(out[0, :3, 0].T, expect, atol=1e-5)
    assert torch.equal(out[0, 3:, 0], feats[0][:, [1, 2]])


# --------------------------------------------------------------------------- labels
def test_crop_head_equals_its_mlp_on_the_grouped_channels():
    """The crop head projects point features before gathering them; forward and gradients
    equal the reference composition mlps(cylinder_group(...)) -> max over samples."""
    torch.manual_seed(3)
    head = CylinderCropHead(in_channels=12, mlp_channels=(10, 7), num_samples=6).double()
    head.train()
    pts = torch.rand(2, 60, 3, dtype=torch.float64) * 0.08
    rot = approach_to_rotation(torch.nn.functional.normalize(
        torch.randn(2 * 60, 3, dtype=torch.float64), dim=1)).view(2, 60, 3, 3)
    feats = torch.randn(2, 12, 60, dtype=torch.float64, requires_grad=True)
    out = head(pts, feats, rot)
    grads = torch.autograd.grad(out.square().sum(), [feats, head.mlps[0].weight])
    idx = cylinder_query(pts, pts, rot, radius=head.radius, hmin=head.hmin, hmax=head.hmax,
                         num_samples=head.num_samples)
    ref = head.mlps(cylinder_group(pts, pts, rot, feats, idx, radius=head.radius))
    ref = ref.max(dim=-1).values
    ref_grads = torch.autograd.grad(ref.square().sum(), [feats, head.mlps[0].weight])
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-12)


def test_graspable_head_is_the_reference_1x1_conv():
    torch.manual_seed(4)
    head = GraspableHead(in_channels=9).double()
    feats = torch.randn(50, 9, dtype=torch.float64)
    obj, grs = head(feats)
    ref = head.conv_graspable(feats.t().unsqueeze(0))[0].t()  # the reference's Conv1d
    torch.testing.assert_close(obj, ref[:, :2], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grs, ref[:, 2], rtol=1e-12, atol=1e-12)


def test_grasp_labels_to_targets():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(5, 3))
    offsets = rng.uniform(0, 0.1, size=(5, 300, 12, 4, 3))
    mu = rng.choice([-1.0, 0.2, 0.6, 1.2], size=(5, 300, 12, 4))
    coll = rng.random((5, 300, 12, 4)) < 0.3
    out = grasp_labels_to_targets(points, offsets, mu, coll)
    assert out['grasp_points'].dtype == np.float32
    np.testing.assert_allclose(out['grasp_widths'], offsets[..., 2].astype(np.float32))
    expect = np.where((mu > 0) & ~coll, mu, 0.0)
    np.testing.assert_allclose(out['grasp_scores'], expect.astype(np.float32))
    simple = grasp_labels_to_targets(points, offsets[..., 2], mu)
    np.testing.assert_allclose(simple['grasp_scores'], np.maximum(mu, 0).astype(np.float32))
    sub = grasp_labels_to_targets(points, offsets, mu, coll, num_points=3,
                                  rng=np.random.default_rng(1))
    keep = sub['point_indices']
    assert keep.shape == (3, ) and np.all(np.diff(keep) > 0)
    np.testing.assert_allclose(sub['grasp_scores'], expect[keep].astype(np.float32))
    # float32 inputs (the label files' dtype): outputs are new arrays, the inputs stay
    # as they were, and a NaN score counts as no grasp
    widths32 = offsets[..., 2].astype(np.float32)
    mu32 = mu.astype(np.float32)
    mu32[0, 0, 0, 0] = np.nan
    mu32_before, widths32_before = mu32.copy(), widths32.copy()
    out32 = grasp_labels_to_targets(points.astype(np.float32), widths32, mu32, coll)
    assert out32['grasp_scores'][0, 0, 0, 0] == 0
    expect32 = np.where((mu32 > 0) & ~coll, mu32, np.float32(0))
    np.testing.assert_array_equal(out32['grasp_scores'], expect32)
    np.testing.assert_array_equal(mu32, mu32_before, strict=True)  # NaN equal to NaN
    out32['grasp_scores'][:] = -5
    out32['grasp_widths'][:] = -5
    np.testing.assert_array_equal(mu32, mu32_before)
    np.testing.assert_array_equal(widths32, widths32_before)
    with pytest.raises(ValueError):
        grasp_labels_to_targets(points, offsets, mu[:4])
    with pytest.raises(ValueError):
        grasp_labels_to_targets(points, offsets, mu, coll[..., :2])


def _one_point_labels(rng, view, valid_mu=0.3):
    """(1, 300, 12, 4) labels valid only in ``view`` (a few angle/depth cells)."""
    mu = np.zeros((1, 300, 12, 4), dtype=np.float32)
    mu[0, view, [0, 3, 7], [1, 2, 0]] = [valid_mu, 0.8, 0.2]
    widths = rng.uniform(0.02, 0.08, size=mu.shape).astype(np.float32)
    return mu, widths


def test_process_labels_nearest_point_and_identity_pose():
    rng = np.random.default_rng(0)
    views = template_views(300)
    mu_a, w_a = _one_point_labels(rng, 10)
    mu_b, w_b = _one_point_labels(rng, 200)
    poses = torch.zeros(2, 3, 4)
    poses[:, :, :3] = torch.eye(3)
    poses[0, :, 3] = torch.tensor([0.0, 0.0, 0.5])
    poses[1, :, 3] = torch.tensor([0.2, 0.0, 0.5])
    gp = [torch.tensor([[0.01, 0.0, 0.0]]), torch.tensor([[-0.01, 0.0, 0.0]])]
    seeds = torch.tensor([[0.0, 0.0, 0.5], [0.19, 0.0, 0.5], [0.08, 0.0, 0.5]])
    lab = process_grasp_labels(seeds, poses, gp, [torch.from_numpy(mu_a), torch.from_numpy(mu_b)],
                               [torch.from_numpy(w_a), torch.from_numpy(w_b)], views)
    assert lab.object_index.tolist() == [0, 1, 0]
    assert torch.allclose(lab.points[1], torch.tensor([0.19, 0.0, 0.5]))
    assert torch.allclose(lab.distances, torch.tensor([0.01, 0.0, 0.07]), atol=1e-6)
    # identity rotation: no re-indexing; the seeds carry their point's labels
    assert torch.equal(lab.scores[0], torch.from_numpy(mu_a[0]))
    assert torch.equal(lab.scores[1], torch.from_numpy(mu_b[0]))
    assert torch.equal(lab.widths[2], torch.from_numpy(w_a[0]))
    # view graspness: 2 of 48 cells with 0 < mu <= 0.6 in the one labelled view -> 1 there
    assert lab.view_graspness.shape == (3, 300)
    assert float(lab.view_graspness[0, 10]) == pytest.approx(1.0, abs=1e-3)
    assert float(lab.view_graspness[0].sum()) == pytest.approx(1.0, abs=1e-3)
    assert int(lab.view_graspness[1].argmax()) == 200
    # a too-wide grasp is not a valid score target
    w_wide = w_a.copy()
    w_wide[0, 10, 0, 1] = 0.15
    lab2 = process_grasp_labels(seeds[:1], poses[:1], gp[:1], [torch.from_numpy(mu_a)],
                                [torch.from_numpy(w_wide)], views)
    assert float(lab2.scores[0, 10, 0, 1]) == 0.0 and float(lab2.scores[0, 10, 3, 2]) > 0


def test_process_labels_view_reindexing_under_rotation():
    rng = np.random.default_rng(1)
    views = template_views(300)
    view_obj = 37
    mu, widths = _one_point_labels(rng, view_obj)
    R = _rot([1.0, 2.0, 3.0], 40.0)
    pose = np.zeros((3, 4))
    pose[:, :3] = R
    pose[:, 3] = [0.05, -0.02, 0.6]
    gp_obj = np.array([[0.01, 0.02, -0.01]])
    seed = torch.as_tensor(gp_obj @ R.T + pose[:, 3], dtype=torch.float32) + 0.002
    lab = process_grasp_labels(seed, torch.as_tensor(pose[None], dtype=torch.float32),
                               [torch.as_tensor(gp_obj, dtype=torch.float32)],
                               [torch.from_numpy(mu)], [torch.from_numpy(widths)], views)
    v_obj_cam = R @ views[view_obj].numpy().astype(np.float64)
    j0 = int(np.argmin(np.linalg.norm(views.numpy() - v_obj_cam, axis=1)))
    reindex = view_reindex(torch.as_tensor(R, dtype=torch.float32), views)
    assert int(reindex[j0]) == view_obj
    labelled = sorted(set(torch.nonzero(lab.scores[0].flatten(1).amax(1) > 0).flatten().tolist()))
    assert j0 in labelled and all(int(reindex[j]) == view_obj for j in labelled)
    assert torch.equal(lab.scores[0, j0], torch.from_numpy(mu[0, view_obj]))
    assert torch.equal(lab.widths[0, j0], torch.from_numpy(widths[0, view_obj]))
    assert int(lab.view_graspness[0].argmax()) in labelled
    # the template view is within the lattice spacing of the rotated object view ...
    assert np.degrees(np.arccos(np.clip(views[j0].numpy() @ v_obj_cam, -1, 1))) < 12.0
    # ... and the label frame is exactly the rotated ground-truth frame of that object view
    rot_j0 = lab.view_rotations[0, j0].double().numpy()
    np.testing.assert_allclose(rot_j0[:, 0], -v_obj_cam, atol=1e-5)
    R_view = batch_viewpoint_params_to_matrix(-api_generate_views(300)[[view_obj]],
                                              np.zeros(1))[0]
    np.testing.assert_allclose(rot_j0, R @ R_view, atol=1e-5)
    # the (angle, depth) grasps of the selected view are graspnetAPI's camera-frame grasps
    T = np.eye(4)
    T[:3] = pose
    api_rows = decode_label_grasps(gp_obj, np.concatenate(
        [np.zeros(mu.shape + (2, )), widths[..., None]], -1), mu, T_frame_obj=T,
        fric_coef_thresh=1.0)
    rot_sel, mu_sel, w_sel = select_view_labels(lab, torch.tensor([j0]))
    assert torch.allclose(rot_sel[0].double(), torch.as_tensor(rot_j0))
    for a, d in zip(*np.nonzero(mu_sel[0].numpy())):
        angle = a * np.pi / 12
        ours = rot_j0 @ _rx(angle)
        api = batch_viewpoint_params_to_matrix(-api_generate_views(300)[[view_obj]],
                                               np.array([angle]))[0]
        np.testing.assert_allclose(ours, R @ api, atol=1e-5)
        match = np.isclose(api_rows[:, 1], w_sel[0, a, d].item())
        assert match.sum() == 1
        np.testing.assert_allclose(api_rows[match, 13:16][0],
                                   (gp_obj @ R.T + pose[:, 3])[0], atol=1e-6)


def test_process_labels_without_objects():
    views = template_views(300)
    with pytest.raises(ValueError, match='grid_shape'):
        process_grasp_labels(torch.zeros(4, 3), torch.zeros(0, 3, 4), [], [], [], views)
    empty_k = process_grasp_labels(torch.zeros(4, 3), torch.zeros(0, 3, 4), [], [], [], views,
                                   grid_shape=(12, 4))
    no_points = process_grasp_labels(torch.zeros(4, 3), torch.zeros(1, 3, 4),
                                     [torch.zeros(0, 3)], [torch.zeros(0, 300, 12, 4)],
                                     [torch.zeros(0, 300, 12, 4)], views)
    for lab in (empty_k, no_points):
        assert lab.scores.shape == (4, 300, 12, 4) and float(lab.scores.abs().sum()) == 0
        assert float(lab.view_graspness.abs().sum()) == 0
        assert torch.all(lab.object_index == -1) and torch.all(torch.isinf(lab.distances))
        assert torch.allclose(lab.view_rotations[0, :, :, 0], -views, atol=1e-6)


def test_view_labels_equal_full_labels_at_the_selected_views():
    """process_view_labels == select_view_labels(process_grasp_labels(...)) plus the same
    view graspness, on random multi-object labels with a mirrored pose (flip augmentation),
    repeated seeds, mixed label dtypes, too-wide grasps, and without objects."""
    rng = np.random.default_rng(7)
    views = template_views(300)
    poses, gp, mus, widths = [], [], [], []
    for k, (n, det) in enumerate([(40, 1), (25, -1), (0, 1), (60, 1)]):
        R = _rot(rng.normal(size=3), float(rng.uniform(0, 180)))
        if det < 0:
            R = R @ np.diag([-1.0, 1.0, 1.0])
        pose = np.concatenate([R, rng.uniform(-0.1, 0.1, (3, 1)) + [[0], [0], [0.6]]], 1)
        poses.append(pose)
        gp.append(torch.as_tensor(rng.uniform(-0.04, 0.04, (n, 3)), dtype=torch.float32))
        mu = rng.choice([0.0, 0.1, 0.4, 0.7, 1.0], size=(n, 300, 12, 4))
        mus.append(torch.as_tensor(mu, dtype=torch.float64 if k == 1 else torch.float32))
        widths.append(torch.as_tensor(rng.uniform(0.01, 0.12, (n, 300, 12, 4)),
                                      dtype=torch.float32))
    poses = torch.as_tensor(np.stack(poses), dtype=torch.float32)
    seeds = torch.as_tensor(rng.uniform(-0.12, 0.12, (64, 3)) + [0, 0, 0.6],
                            dtype=torch.float32)
    seeds = torch.cat([seeds, seeds[:16]])  # repeated seeds share a grasp point
    view_inds = torch.as_tensor(rng.integers(0, 300, len(seeds)))
    kw = dict(view_mu_thresh=0.6, max_width=0.1, grid_shape=(12, 4))
    cases = [(poses, gp, mus, widths),
             (torch.zeros(0, 3, 4), [], [], []),
             (poses[2:3], gp[2:3], mus[2:3], widths[2:3])]  # one object, no grasp point
    for case in cases:
        full = process_grasp_labels(seeds, *case, views, **kw)
        fast = process_view_labels(seeds, *case, views, view_inds, **kw)
        rot, mu, width = select_view_labels(full, view_inds)
        assert torch.allclose(fast.rotations, rot, atol=1e-6)
        assert torch.equal(fast.scores, mu) and torch.equal(fast.widths, width)
        assert torch.equal(fast.view_graspness, full.view_graspness)
        for name in ('points', 'distances', 'object_index'):
            assert torch.equal(getattr(fast, name), getattr(full, name)), name
    assert float(fast.scores.abs().sum()) == 0  # the last case has no labels
    assert float(process_view_labels(seeds, *cases[0], views, view_inds, **kw).scores.sum()) > 0
    with pytest.raises(ValueError, match='view_inds'):
        process_view_labels(seeds, *cases[0], views, view_inds[:3], **kw)


def test_pack_grasp_labels_validation():
    mu = np.zeros((2, 300, 12, 4), np.float32)
    labels = pack_grasp_labels(np.array([0, 1, 1]), np.array([0., .5, 1.]), np.eye(4)[None],
                               [np.zeros((2, 3))], [mu], [mu])
    assert labels.object_poses.shape == (1, 3, 4)
    assert labels.objectness_label.dtype == torch.long
    with pytest.raises(ValueError, match='objectness_label must be 0 or 1'):
        pack_grasp_labels(np.array([0, 2]), np.zeros(2), np.eye(4)[None], [np.zeros((2, 3))],
                          [mu], [mu])
    with pytest.raises(ValueError, match='one per object pose'):
        pack_grasp_labels(np.array([0, 1]), np.zeros(2), np.eye(4)[None], [], [], [])
    with pytest.raises(ValueError, match='do not agree'):
        pack_grasp_labels(np.array([0, 1]), np.zeros(2), np.eye(4)[None], [np.zeros((3, 3))],
                          [mu], [mu])


def test_friction_to_score_target():
    mu = torch.tensor([0.0, 0.2, 0.4, 1.2])
    out = friction_to_score_target(mu)
    expect = torch.tensor([0.0, 1.0, math.log(3.0) / math.log(6.0), 0.0])
    assert torch.allclose(out, expect)
    fixed = friction_to_score_target(torch.tensor([0.0, 0.1, 0.4]), mu_range=(0.2, 1.2))
    assert torch.allclose(fixed, torch.tensor([0.0, 1.0, math.log(3.0) / math.log(6.0)]))
    assert torch.equal(friction_to_score_target(torch.tensor([0.0, 0.5, 0.5])),
                       torch.tensor([0.0, 1.0, 1.0]))
    assert torch.equal(friction_to_score_target(torch.zeros(3)), torch.zeros(3))


# --------------------------------------------------------------------------- loss
def _loss_inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    score_t = torch.rand(2, 5, 12, 4, generator=g)
    score_t[score_t < 0.5] = 0
    return dict(objectness_logits=r(30, 2),
                objectness_label=(torch.rand(30, generator=g) > 0.5).long(),
                graspness_pred=r(30), graspness_label=torch.rand(30, generator=g),
                view_scores=r(2, 5, 300), view_targets=torch.rand(2, 5, 300, generator=g),
                score_pred=r(2, 5, 12, 4), score_targets=score_t,
                width_pred=r(2, 5, 12, 4) * 3,
                width_targets=torch.rand(2, 5, 12, 4, generator=g) * 0.1)


def _hand_terms(x):
    def sl1(a, b):
        d = (a - b).abs()
        return torch.where(d < 1, 0.5 * d ** 2, d - 0.5)
    logp = torch.log_softmax(x['objectness_logits'], 1)
    obj = -logp[torch.arange(30), x['objectness_label']].mean()
    m = x['objectness_label'].bool()
    grs = sl1(x['graspness_pred'], x['graspness_label'])[m].mean()
    view = sl1(x['view_scores'], x['view_targets']).mean()
    score = sl1(x['score_pred'], x['score_targets']).mean()
    wm = x['score_targets'] > 0
    width = sl1(x['width_pred'], 10 * x['width_targets'])[wm].mean()
    return dict(objectness=obj, graspness=grs, view=view, score=score, width=width)


@pytest.mark.parametrize('term', sorted(DEFAULT_LOSS_WEIGHTS))
def test_loss_single_weight(term):
    x = _loss_inputs()
    weights = {k: 0.0 for k in DEFAULT_LOSS_WEIGHTS}
    weights[term] = 3.5
    out = GSNetLoss(loss_weights=weights)(**x)
    total = sum(out.values())
    expect = 3.5 * _hand_terms(x)[term]
    assert torch.allclose(total, expect, rtol=1e-5)
    assert torch.allclose(out[f'loss_{term}'], expect, rtol=1e-5)


def test_loss_default_weights_and_empty_masks():
    x = _loss_inputs(1)
    out = MODELS.build(dict(type='GSNetLoss'))(**x)
    hand = _hand_terms(x)
    for k, w in dict(objectness=1, graspness=10, view=100, score=15, width=10).items():
        assert torch.allclose(out[f'loss_{k}'], w * hand[k], rtol=1e-5)
    x['objectness_label'] = torch.zeros(30, dtype=torch.long)
    x['score_targets'] = torch.zeros(2, 5, 12, 4)
    x['width_pred'].requires_grad_(True)
    out = GSNetLoss()(**x)
    assert float(out['loss_graspness']) == 0 and float(out['loss_width']) == 0
    assert out['loss_width'].requires_grad
    with pytest.raises(KeyError):
        GSNetLoss(loss_weights=dict(angle=1.0))
    with pytest.raises(ValueError, match='view'):
        GSNetLoss()(**dict(x, view_targets=torch.rand(2, 5, 299)))


# --------------------------------------------------------------------------- decoding
def test_decode_conventions_match_graspnetapi():
    views = template_views(300)
    m = 6
    seed_xyz = torch.rand(m, 3)
    view_inds = torch.tensor([0, 5, 37, 150, 299, 37])
    score = torch.full((m, 12, 4), -1.0)
    cells = [(0, 0), (3, 2), (11, 3), (6, 1), (1, 0), (7, 3)]
    for i, (a, d) in enumerate(cells):
        score[i, a, d] = 0.1 * (i + 1)
    width = torch.full((m, 12, 4), 0.5)
    width[1, 3, 2] = 2.0  # 0.2 m * 1.2 -> clamped to 0.1
    rows = decode_grasps(seed_xyz, view_inds, score, width, views).numpy()
    assert rows.shape == (m, 17) and np.isfinite(rows).all()
    rot = rows[:, 4:13].reshape(m, 3, 3).astype(np.float64)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-5)
    np.testing.assert_allclose(rot @ rot.transpose(0, 2, 1), np.tile(np.eye(3), (m, 1, 1)),
                               atol=1e-5)
    gg = GraspGroup(rows.copy())
    api_views = api_generate_views(300)
    for i, (a, d) in enumerate(cells):
        grasp = gg[i]
        assert grasp.score == pytest.approx(0.1 * (i + 1), abs=1e-6)
        assert grasp.depth == pytest.approx((d + 1) * 0.01, abs=1e-7)
        assert grasp.height == pytest.approx(0.02)
        assert grasp.object_id == -1
        np.testing.assert_allclose(grasp.translation, seed_xyz[i].numpy(), atol=1e-7)
        api_rot = batch_viewpoint_params_to_matrix(-api_views[[int(view_inds[i])]],
                                                   np.array([a * np.pi / 12]))[0]
        np.testing.assert_allclose(grasp.rotation_matrix, api_rot, atol=1e-6)
        # approach (gripper x) points from the gripper to the grasp point: -view
        np.testing.assert_allclose(grasp.rotation_matrix[:, 0],
                                   -api_views[int(view_inds[i])], atol=1e-6)
    assert gg[0].width == pytest.approx(0.06, abs=1e-7)
    assert gg[1].width == pytest.approx(0.1, abs=1e-7)
    np.testing.assert_allclose(gg.translations, seed_xyz.numpy(), atol=1e-7)


def test_postprocess_sorts_nms_topk_and_empty():
    views = template_views(300)
    g = torch.Generator().manual_seed(0)
    m = 40
    xyz = torch.rand(m, 3, generator=g) * 0.3
    xyz[1] = xyz[0] + 0.001  # near-duplicate of grasp 0 with the same rotation
    inds = torch.randint(0, 300, (m, ), generator=g)
    inds[1] = inds[0]
    score = torch.rand(m, 12, 4, generator=g)
    score[1] = score[0] - 0.01
    rows = decode_grasps(xyz, inds, score, torch.rand(m, 12, 4, generator=g), views).numpy()
    out = postprocess_grasps(rows)
    assert out.shape[1] == 17 and out.dtype == np.float32 and 0 < out.shape[0] < m
    assert np.all(np.diff(out[:, 0]) <= 0)
    assert not np.any(np.all(np.isclose(out[:, 13:16], rows[1, 13:16]), axis=1))
    top = postprocess_grasps(rows, nms=False, max_num=5)
    np.testing.assert_allclose(top[:, 0], np.sort(rows[:, 0])[::-1][:5])
    assert postprocess_grasps(np.zeros((0, 17))).shape == (0, 17)
    assert postprocess_grasps(rows, score_thr=10.0).shape == (0, 17)


def test_rotations_of_decoded_grasps_are_proper_for_all_views():
    views = template_views(300)
    n = 300 * 12
    view_inds = torch.arange(300).repeat_interleave(12)
    score = torch.zeros(n, 12, 4)
    score[torch.arange(n), torch.arange(n) % 12, 0] = 1.0
    rows = decode_grasps(torch.zeros(n, 3), view_inds, score, torch.zeros(n, 12, 4), views)
    rot = rows[:, 4:13].view(n, 3, 3).double()
    assert torch.allclose(torch.linalg.det(rot), torch.ones(n, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(rot @ rot.transpose(1, 2), torch.eye(3, dtype=torch.float64).expand(
        n, 3, 3), atol=1e-5)
    assert torch.allclose(F.normalize(rot[:, :, 0], dim=1), -views[view_inds].double(),
                          atol=1e-6)
