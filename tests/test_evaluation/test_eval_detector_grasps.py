"""The fast evaluator on a detector's own output: a GSNet trained for a few steps on the
generated scene predicts grasps for a frame, and every per-grasp score and the frame table
equal graspnetAPI's ``eval_grasp`` on the same grasps (exact)."""
import numpy as np
import pytest
import torch
from eval_scenes import SCENE
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope
from tiny_gsnet import tiny_gsnet_model_cfg

from graspcontrast_mm.evaluation.graspnet_eval import (evaluate_frame, get_objects,
                                                       load_frame_objects, table_in_camera)

pytest.importorskip('graspnetAPI')
CAMERA, FRAME = 'realsense', 0


def _pipelines(num_points=4096):
    load = [dict(type='LoadDepthImage'),
            dict(type='DepthToPoints', min_depth=0.1, max_depth=2.0, with_pixel_uv=True)]
    crop = dict(type='ObjectWorkspaceCrop', margin=0.02, mode='reference',
                object_pixels_without_depth='camera_centre')
    voxelize = dict(type='Voxelize', voxel_size=0.005, feat_mode='ones')
    train = load + [dict(type='LoadGraspLabels', graspness_source='auto',
                         num_grasp_points='reference', workspace_margin=0.02,
                         object_pixels_without_depth='camera_centre'),
                    crop, dict(type='PointSample', num_points=num_points), voxelize,
                    dict(type='PackGraspInputs', min_object_points=10,
                         graspness_threshold=0.1)]
    test = load + [dict(type='LoadPointSegmentation'), crop,
                   dict(type='PointSample', num_points=num_points, seed=0), voxelize,
                   dict(type='PackPointsInputs')]
    return train, test


def _model_and_datasets(root):
    from graspcontrast_mm.datasets import GraspNetDataset
    from graspcontrast_mm.registry import MODELS
    train_pipe, test_pipe = _pipelines()
    kw = dict(scene_ids=[SCENE], frame_ids=[FRAME], camera=CAMERA, mode='grasp')
    cfg = tiny_gsnet_model_cfg(num_seeds=256)
    cfg['train_cfg'] = dict(frame_consistent=True)
    model = MODELS.build(cfg)
    train = GraspNetDataset(root, pipeline=train_pipe, **kw)
    test = GraspNetDataset(root, pipeline=test_pipe, test_mode=True, **kw)
    return model, train, test


@pytest.fixture(scope='module')
def detector_grasps(eval_scene_root):
    with DefaultScope.overwrite_default_scope('graspcontrast_mm'):
        torch.manual_seed(0)
        np.random.seed(0)
        model, train, test = _model_and_datasets(eval_scene_root)
        wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=3e-3))
        model.train()
        for _ in range(200):  # fewer steps: every top grasp still collides
            sample = train[0]
            model.train_step(dict(inputs=[sample['inputs']],
                                  data_samples=[sample['data_samples']]), wrapper)
        model.eval()
        sample = test[0]
        with torch.no_grad():
            (out, ) = model.test_step(dict(inputs=[sample['inputs']],
                                           data_samples=[sample['data_samples']]))
    return out.pred_grasps


def test_detector_grasps_score_as_graspnetapi(eval_scene_root, detector_grasps):
    grasps = detector_grasps
    assert grasps.ndim == 2 and grasps.shape[1] == 17 and len(grasps) >= 10
    ids, poses = load_frame_objects(eval_scene_root, SCENE, CAMERA, FRAME)
    objects = get_objects(eval_scene_root, ids)
    table = table_in_camera(eval_scene_root, SCENE, CAMERA, FRAME)
    fast = evaluate_frame(grasps, objects, poses, table, backend='fast')
    ref = evaluate_frame(grasps, objects, poses, table, backend='graspnetapi')
    np.testing.assert_array_equal(fast['scores'], ref['scores'])
    np.testing.assert_array_equal(fast['grasps'], ref['grasps'])
    np.testing.assert_array_equal(fast['accuracy'], ref['accuracy'])
    # the detector's grasps are a mix: some collide or miss (-1 / 0), not all identical
    assert len(np.unique(fast['scores'])) >= 2, np.unique(fast['scores'], return_counts=True)


def test_gradient_is_the_same_on_every_call(eval_scene_root):
    """Identical backward passes give bit-identical gradients, so that training is
    reproducible: points read their voxel's feature and seeds may repeat, and both
    gathers sum repeated rows in backward (see graspcontrast_mm.ops.index_rows)."""
    with DefaultScope.overwrite_default_scope('graspcontrast_mm'):
        torch.manual_seed(0)
        np.random.seed(0)
        model, train, _ = _model_and_datasets(eval_scene_root)
        sample = train[0]
        model.train()
        data = model.data_preprocessor(dict(inputs=[sample['inputs']],
                                            data_samples=[sample['data_samples']]), True)
        grads = set()
        for _ in range(6):
            torch.manual_seed(1)  # the same sampled approach views every time
            model.zero_grad()
            losses = model(**data, mode='loss')
            sum(v for k, v in losses.items() if k.startswith('loss')).backward()
            grads.add(b''.join(p.grad.numpy().tobytes() for p in model.parameters()
                               if p.grad is not None))
    assert len(grads) == 1
