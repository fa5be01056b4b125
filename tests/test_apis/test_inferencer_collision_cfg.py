"""The Inferencer runs the model's test-time collision detection (model test_cfg
``collision_thresh``, the GSNet reference's detector) against the input's workspace cloud."""
import numpy as np
import pytest
import torch
from mmengine.config import Config
from tiny_gsnet import tiny_gsnet_model_cfg

from graspcontrast_mm.apis import GraspInferencer
from graspcontrast_mm.registry import MODELS
from graspcontrast_mm.structures import reference_collision_iou

K = np.array([[150.0, 0.0, 80.0], [0.0, 150.0, 60.0], [0.0, 0.0, 1.0]])


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    root = tmp_path_factory.mktemp('gsnet_tiny_collision')
    cfg = Config(dict(model=tiny_gsnet_model_cfg(num_seeds=48)))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    with torch.no_grad():  # every point graspable: grasps all over the scene
        model.graspable_head.conv_graspable.weight.zero_()
        model.graspable_head.conv_graspable.bias.copy_(torch.tensor([-5.0, 5.0, 1.0]))
    cfg_path = str(root / 'gsnet_tiny.py')
    cfg.dump(cfg_path)
    path = str(root / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict()), path)
    return cfg_path, path


def _depth():
    """uint16 mm (120, 160): a table at 0.6 m with a 6 cm box in the middle."""
    depth = np.full((120, 160), 600, np.uint16)
    depth[40:80, 55:105] = 540
    return depth


def _run(cfg_path, weights, **test_cfg):
    infer = GraspInferencer(cfg_path, weights, num_points=2000, test_cfg=test_cfg)
    assert infer.model.test_cfg['collision_thresh'] == test_cfg.get('collision_thresh', -1)
    out = infer(dict(depth=_depth(), intrinsics=K, depth_scale=1000.0), seed=0,
                collision_filter=False, return_datasamples=True)
    return out['predictions'][0]


def test_model_collision_detection_through_the_inferencer(ckpt):
    cfg_path, weights = ckpt
    off = _run(cfg_path, weights)  # the reference's published protocol: no detection
    grasps = off.pred_grasps
    assert len(grasps) > 4
    scene = np.asarray(off.scene_points)  # the input's whole cloud, camera frame
    assert len(scene) > 2000
    iou = reference_collision_iou(grasps, scene, voxel_size=0.01, approach_dist=0.05)
    thresh = float(np.median(iou))
    assert 0 < np.count_nonzero(iou > thresh) < len(grasps)
    on = _run(cfg_path, weights, collision_thresh=thresh)
    # the model drops exactly the colliding grasps (before NMS, which keeps the rest)
    kept = on.pred_grasps
    assert 0 < len(kept) < len(grasps)
    assert np.all(reference_collision_iou(kept, scene, voxel_size=0.01) <= thresh)
    survivors = grasps[iou <= thresh]
    assert {tuple(r) for r in kept[:, 13:16].round(6)} <= \
        {tuple(r) for r in survivors[:, 13:16].round(6)}
