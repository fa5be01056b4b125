"""Inferencer options of the robot's model source: the graspness-gate count, the
reference collision tolerance (``collision_cfg['iou_thresh']``) and the scene-aware
support-plane filter, each checked against an independent computation."""
import numpy as np
import pytest
import torch
from mmengine.config import Config
from tiny_gsnet import tiny_gsnet_model_cfg

from graspcontrast_mm.apis import GraspInferencer
from graspcontrast_mm.registry import MODELS
from graspcontrast_mm.structures import reference_collision_iou

K = np.array([[150.0, 0.0, 80.0], [0.0, 150.0, 60.0], [0.0, 0.0, 1.0]])


def _ckpt(root, bias):
    cfg = Config(dict(model=tiny_gsnet_model_cfg(num_seeds=48)))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    with torch.no_grad():  # objectness / graspness fixed by the bias
        model.graspable_head.conv_graspable.weight.zero_()
        model.graspable_head.conv_graspable.bias.copy_(torch.tensor(bias))
    cfg_path = str(root / 'gsnet_tiny.py')
    cfg.dump(cfg_path)
    path = str(root / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    return cfg_path, path


@pytest.fixture(scope='module')
def everywhere(tmp_path_factory):
    """Every point is an object point with graspness 1: grasps all over the scene."""
    return _ckpt(tmp_path_factory.mktemp('aware_all'), [-5.0, 5.0, 1.0])


def _depth():
    """uint16 mm (120, 160): a table at 0.6 m with a 6 cm box in the middle."""
    depth = np.full((120, 160), 600, np.uint16)
    depth[40:80, 55:105] = 540
    return depth


def _infer(ckpt, collision_filter=False, support_plane=False, **kwargs):
    infer = GraspInferencer(*ckpt, num_points=2000, **kwargs)
    out = infer(dict(depth=_depth(), intrinsics=K, depth_scale=1000.0), seed=0,
                collision_filter=collision_filter, support_plane=support_plane,
                return_datasamples=True)
    return out['predictions'][0], out['summaries'][0]


def test_graspness_gate_count(tmp_path, everywhere):
    ds, summary = _infer(everywhere)
    assert summary['num_graspable'] == summary['num_sampled_points'] == 2000
    # graspness 0.05 < the 0.1 gate: no point passes, and no grasp comes out
    nothing = _ckpt(tmp_path, [-5.0, 5.0, 0.05])
    ds, summary = _infer(nothing, test_cfg=dict(empty_if_no_graspable=True))
    assert summary['num_graspable'] == 0 and summary['num_grasps'] == 0


def test_support_plane_drops_grasps_on_or_below_the_table(everywhere):
    off, s_off = _infer(everywhere)
    on, s_on = _infer(everywhere, support_plane=True)
    assert s_off['support_plane'] is None and s_off['num_below_support_plane'] is None
    plane = np.asarray(s_on['support_plane'])
    np.testing.assert_allclose(plane, [0.0, 0.0, -1.0, 0.6], atol=2e-3)
    height = off.pred_grasps[:, 13:16] @ plane[:3] + plane[3]
    keep = height > 0.005
    assert keep.any() and (~keep).any()  # grasps on the box top and on the table
    np.testing.assert_allclose(on.pred_grasps, off.pred_grasps[keep], atol=1e-6)
    assert s_on['num_below_support_plane'] == int((~keep).sum())
    with pytest.raises(ValueError, match='support_plane_cfg'):
        GraspInferencer(*everywhere, support_plane_cfg=dict(threshold=0.01))


def test_reference_collision_tolerance(everywhere):
    off, _ = _infer(everywhere)
    rows, scene = off.pred_grasps, np.asarray(off.scene_points)
    iou = reference_collision_iou(rows, scene, voxel_size=0.01, approach_dist=0.05)
    ref, s_ref = _infer(everywhere, collision_filter=True,
                        collision_cfg=dict(iou_thresh=0.01, voxel_size=0.01,
                                           approach_dist=0.05))
    np.testing.assert_allclose(ref.pred_grasps, rows[iou <= 0.01], atol=1e-6)
    assert s_ref['num_collisions'] == int((iou > 0.01).sum())
    # the zero-point rule (default) rejects every grasp the reference rejects, and more
    # where a single point touches the gripper
    zero, s_zero = _infer(everywhere, collision_filter=True)
    assert s_zero['num_collisions'] >= s_ref['num_collisions']
    kept = {tuple(np.round(r, 5)) for r in ref.pred_grasps}
    assert all(tuple(np.round(r, 5)) in kept for r in zero.pred_grasps)
