"""The in-plane angle frame of GSNet's score / width targets.

Training labels are indexed by in-plane angles of the *label* frame (object rotation x
object view), while the decoder (and the test-time crop) use the *template* view's frame.
These tests check :func:`labels_to_template_frame` on hand-made frames, the detector's
``train_cfg.frame_consistent`` option, and that oracle head outputs (the package's own
training targets) decoded by the decoder score a high graspnetAPI AP on a generated frame.
"""
import math
import sys
import os.path as osp

import numpy as np
import pytest
import torch

from graspcontrast_mm.models.heads import (approach_to_rotation, decode_grasps,
                                           friction_to_score_target, inplane_offset,
                                           label_angles, labels_to_template_frame,
                                           postprocess_grasps, process_grasp_labels,
                                           select_view_labels, template_views)
from graspcontrast_mm.registry import MODELS

sys.path.insert(0, osp.join(osp.dirname(__file__), '..', 'test_detectors'))
from test_gsnet import make_sample, preprocess, tiny_cfg  # noqa: E402


def _about_x(rot: torch.Tensor, angle_rad: float) -> torch.Tensor:
    """``rot`` turned by ``angle`` about its own x axis (columns x, y, z)."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    x, y, z = rot[:, 0], rot[:, 1], rot[:, 2]
    return torch.stack([x, c * y + s * z, -s * y + c * z], dim=1)


def _closing_axis(rot: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    return torch.cos(angle)[..., None] * rot[..., :, 1] + \
        torch.sin(angle)[..., None] * rot[..., :, 2]


def test_hand_made_offset_and_roll():
    tmpl = approach_to_rotation(torch.tensor([[0.3, -0.2, 0.9]], dtype=torch.float64))[0]
    label = _about_x(tmpl, math.radians(45.0))  # label frame = template + 45 deg
    delta, sign = inplane_offset(label[None], tmpl[None])
    assert math.isclose(float(delta[0]), math.radians(45.0), abs_tol=1e-9)
    assert float(sign[0]) == 1.0
    grid = torch.arange(12.0).view(1, 12, 1).repeat(1, 1, 4)  # value = label angle index
    out, shift = labels_to_template_frame(label[None], tmpl[None], grid)
    # 45 deg = 3 steps of 15 deg: template angle j carries label angle j - 3
    assert int(shift[0]) == 3
    assert out[0, :, 0].tolist() == [9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert torch.equal(out[..., 0], out[..., 3])  # depths untouched
    # -100 deg rounds to -105 = 75 deg (mod 180): shift 5
    label = _about_x(tmpl, math.radians(-100.0))
    out, shift = labels_to_template_frame(label[None], tmpl[None], grid)
    assert int(shift[0]) == 5 and out[0, 5, 0] == 0
    # mirrored label frame (z negated): template angle = 3 - k
    label = _about_x(tmpl, math.radians(45.0)) * torch.tensor([1.0, 1.0, -1.0],
                                                              dtype=torch.float64)
    _, sign = inplane_offset(label[None], tmpl[None])
    assert float(sign[0]) == -1.0
    out, shift = labels_to_template_frame(label[None], tmpl[None], grid)
    assert out[0, :, 0].tolist() == [3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 5, 4]


@pytest.mark.parametrize('mirrored', [False, True])
def test_same_grasp_in_both_frames(mirrored):
    """Every label-frame grasp and its re-indexed template-frame grasp close along the
    same axis up to the 7.5 degree rounding (up to sign: the gripper is symmetric)."""
    gen = torch.Generator().manual_seed(0)
    m, a = 200, 12
    tmpl = approach_to_rotation(torch.randn(m, 3, generator=gen, dtype=torch.float64))
    offsets = torch.rand(m, generator=gen, dtype=torch.float64) * 2 * math.pi - math.pi
    label = torch.stack([_about_x(tmpl[i], float(offsets[i])) for i in range(m)])
    if mirrored:
        label = label * torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64)
    # one-hot grids: the label grasp of angle k per seed
    k = torch.randint(0, a, (m, ), generator=gen)
    grid = torch.zeros(m, a, 1, dtype=torch.float64)
    grid[torch.arange(m), k, 0] = 1.0
    out, _ = labels_to_template_frame(label, tmpl, grid)
    j = out[..., 0].argmax(dim=1)
    assert torch.all(out.sum(dim=(1, 2)) == 1)
    angles = label_angles(a, dtype=torch.float64)
    y_label = _closing_axis(label, angles[k])
    y_tmpl = _closing_axis(tmpl, angles[j])
    cos = (y_label * y_tmpl).sum(-1).abs()
    assert float(cos.min()) >= math.cos(math.radians(7.5)) - 1e-9
    # without the re-indexing most grasps would close along another axis
    cos_raw = (y_label * _closing_axis(tmpl, angles[k])).sum(-1).abs()
    assert float((cos_raw < math.cos(math.radians(7.5))).float().mean()) > 0.5


def test_detector_frame_consistent_option():
    """Same views and labels: the option crops in the template frame and its targets are
    the reference's targets re-indexed by :func:`labels_to_template_frame`."""
    samples = [make_sample(0), make_sample(1, box_height=0.04)]
    # turn the labelled box by 50 degrees about the camera x axis (a turn about the
    # camera z axis would leave the template frames' in-plane reference unchanged)
    for _, ds in samples:
        lab = ds.gt_grasp_labels
        c, s = math.cos(math.radians(50.0)), math.sin(math.radians(50.0))
        poses = lab.object_poses.clone()
        poses[:, :, :3] = torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
        lab.object_poses = poses
    outs = {}
    for flag in (False, True):
        torch.manual_seed(0)
        model = MODELS.build(tiny_cfg(train_cfg=dict(frame_consistent=flag,
                                                      sample_views=False))).train()
        assert model.train_cfg['frame_consistent'] is flag
        data = preprocess(model, samples, training=True)
        feats = model.extract_point_feats(data['inputs'])
        outs[flag] = model.forward_heads(data['inputs'], feats, data['data_samples'],
                                         training=True)
    ref, new = outs[False], outs[True]
    assert torch.equal(ref['view_inds'], new['view_inds'])
    views = template_views()
    tmpl = approach_to_rotation(-views[new['view_inds']])
    assert torch.allclose(new['rotations'], tmpl)
    assert not torch.allclose(ref['rotations'], tmpl, atol=1e-3)
    for b in range(2):
        exp_s, exp_w, _ = labels_to_template_frame(ref['rotations'][b], tmpl[b],
                                                   ref['score_targets'][b],
                                                   ref['width_targets'][b])
        assert torch.allclose(new['score_targets'][b], exp_s)
        assert torch.allclose(new['width_targets'][b], exp_w)
    assert not torch.allclose(new['score_targets'], ref['score_targets'])


# ----------------------------------------------------------------------- oracle AP
def _oracle_frame(root, scene_id=0, frame_id=0):
    from graspcontrast_mm.datasets import GraspNetDataset
    from graspcontrast_mm.structures.points import farthest_point_sample
    pipeline = [
        dict(type='LoadDepthImage'),
        dict(type='DepthToPoints', min_depth=0.1, max_depth=2.0, with_pixel_uv=True),
        dict(type='LoadGraspLabels', graspness_source='auto', num_grasp_points=None),
        dict(type='ObjectWorkspaceCrop', margin=0.02, mode='reference',
             object_pixels_without_depth='camera_centre'),
        dict(type='PointSample', num_points=15000, seed=0),
        dict(type='Voxelize', voxel_size=0.005, feat_mode='ones3'),
        dict(type='PackGraspInputs', min_object_points=50, graspness_threshold=0.1),
    ]
    ds = GraspNetDataset(root, mode='grasp', scene_ids=[scene_id], frame_ids=[frame_id],
                         pipeline=pipeline)
    sample = ds[0]
    lab = sample['data_samples'].gt_grasp_labels
    points = sample['inputs']['points'].float()
    cand = torch.nonzero((lab.objectness_label == 1) & (lab.graspness_label > 0.1)).flatten()
    sel = farthest_point_sample(points[cand].double().numpy(), min(1024, len(cand)))
    seeds = points[cand[torch.as_tensor(sel)]]
    views = template_views()
    seed_labels = process_grasp_labels(seeds, lab.object_poses, lab.grasp_points,
                                       lab.grasp_scores, lab.grasp_widths, views)
    # the oracle approach head: the view of highest view graspness
    view_inds = seed_labels.view_graspness.argmax(dim=1)
    label_rot, mu, width = select_view_labels(seed_labels, view_inds)
    return seeds, views, view_inds, label_rot, mu, width


def _frame_ap(root, grasps, scene_id=0, frame_id=0):
    from graspcontrast_mm.evaluation.graspnet_eval import evaluate_frame
    from graspcontrast_mm.evaluation.graspnet_eval.frames import (get_objects,
                                                                  load_frame_objects,
                                                                  table_in_camera)
    ids, poses = load_frame_objects(root, scene_id, 'realsense', frame_id)
    result = evaluate_frame(postprocess_grasps(grasps.numpy()), get_objects(root, ids),
                            poses, table_in_camera(root, scene_id, 'realsense', frame_id))
    return 100.0 * float(result['accuracy'].mean())


def test_oracle_outputs_decode_to_high_ap(labelled_graspnet_root):
    """Targets in the template frame, decoded by ``decode_grasps``: high AP. The same
    targets left in the label frame lose most of it (the two frames differ by tens of
    degrees in-plane), which is what the frame-consistent option fixes."""
    root = labelled_graspnet_root
    seeds, views, view_inds, label_rot, mu, width = _oracle_frame(root)
    tmpl = approach_to_rotation(-views[view_inds])
    mu_t, width_t, _ = labels_to_template_frame(label_rot, tmpl, mu, width)
    consistent = decode_grasps(seeds, view_inds, friction_to_score_target(mu_t),
                               width_t * 10.0, views)
    ap_consistent = _frame_ap(root, consistent)
    assert ap_consistent >= 50.0, ap_consistent
    # the same targets without re-indexing (the reference's training frame, decoded
    # as at test time)
    mismatched = decode_grasps(seeds, view_inds, friction_to_score_target(mu),
                               width * 10.0, views)
    ap_mismatched = _frame_ap(root, mismatched)
    assert ap_mismatched < 0.5 * ap_consistent, (ap_mismatched, ap_consistent)
    delta, _ = inplane_offset(label_rot, tmpl)
    assert float(np.median(np.degrees(delta.abs().numpy()))) > 15.0
