"""The Inferencer runs the config's test pipeline: a transform added to it is applied to
every input kind, a partial pipeline is completed with the defaults of the missing steps,
and the model's NMS runs once, inside the model."""
import numpy as np
import pytest
import torch
from mmcv.transforms import BaseTransform
from mmengine.config import Config
from tiny_gsnet import save_checkpoint, tiny_gsnet_model_cfg

from graspcontrast_mm.apis import GraspInferencer
from graspcontrast_mm.registry import MODELS
from graspcontrast_mm.structures import depth_to_points

K = np.array([[150.0, 0.0, 80.0], [0.0, 150.0, 60.0], [0.0, 0.0, 1.0]])


class KeepPointsNearerThan(BaseTransform):
    """Keep the points with z below ``max_z`` (a transform no built-in step matches; a
    user's own, given to the config as a class, not registered in the package)."""

    def __init__(self, max_z: float) -> None:
        self.max_z = float(max_z)

    def transform(self, results: dict) -> dict:
        keep = np.asarray(results['points'])[:, 2] < self.max_z
        for key in ('points', 'pixel_uv', 'point_colors'):
            if results.get(key) is not None:
                results[key] = np.asarray(results[key])[keep]
        return results


def _pipeline(extra=()):
    return [dict(type='LoadDepthImage'),
            dict(type='DepthToPoints', min_depth=0.1, max_depth=1.5),
            *extra,
            dict(type='PointSample', num_points=1000),
            dict(type='Voxelize', voxel_size=0.005),
            dict(type='PackPointsInputs')]


def _inferencer(tmp_path, pipeline, **kwargs):
    """The config object and a checkpoint of its (seeded, random) weights."""
    cfg = Config(dict(model=tiny_gsnet_model_cfg(),
                      test_dataloader=dict(dataset=dict(type='GraspNetDataset',
                                                        pipeline=pipeline))))
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / 'tiny.pth', MODELS.build(cfg.model).state_dict())
    return GraspInferencer(cfg, path, **kwargs)


def _depth():
    """uint16 mm (120, 160): a table at 0.6 m with a 6 cm box top (40 x 50 px) at 0.54 m."""
    depth = np.full((120, 160), 600, np.uint16)
    depth[40:80, 55:105] = 540
    return depth


def test_a_transform_added_to_the_test_pipeline_is_applied(tmp_path):
    plain = _inferencer(tmp_path, _pipeline())
    cropped = _inferencer(tmp_path, _pipeline([dict(type=KeepPointsNearerThan,
                                                    max_z=0.57)]))
    depth = _depth()
    cloud, _ = depth_to_points(depth / 1000.0, K, min_depth=0.1, max_depth=1.5)
    base = plain(dict(depth=depth, intrinsics=K), collision_filter=False,
                 return_datasamples=True)['predictions'][0]
    assert base.metainfo['num_scene_points'] == 120 * 160
    for item in (dict(depth=depth, intrinsics=K), cloud):
        ds = cropped(item, collision_filter=False,
                     return_datasamples=True)['predictions'][0]
        # only the box top is left: 40 x 50 pixels, all at 0.54 m
        assert ds.metainfo['num_scene_points'] == 40 * 50
        np.testing.assert_allclose(ds.scene_points[:, 2], 0.54, atol=1e-6)
        assert len(ds.pred_grasps) > 0
        assert np.all(np.abs(ds.pred_grasps[:, 15] - 0.54) < 1e-5)  # grasps at the seeds


def test_partial_pipeline_gets_the_default_steps(tmp_path):
    infer = _inferencer(tmp_path, [dict(type='PointSample', num_points=700)],
                        voxel_size=0.01)
    assert infer.settings['num_points'] == 700 and infer.settings['voxel_size'] == 0.01
    assert infer.settings['depth_range'] == (0.1, 2.0)
    assert infer.settings_source == ('test_dataloader.dataset.pipeline + default '
                                     'LoadDepthImage, DepthToPoints, Voxelize, '
                                     'PackPointsInputs')
    ds = infer(dict(depth=_depth(), intrinsics=K), collision_filter=False,
               return_datasamples=True)['predictions'][0]
    assert ds.metainfo['num_sampled_points'] == 700
    with pytest.raises(ValueError, match='must end with its packing step'):
        _inferencer(tmp_path, _pipeline() + [dict(type=KeepPointsNearerThan, max_z=1.0)])


def test_model_nms_runs_once_inside_the_model(tmp_path):
    """The counts come from the model's NMS; its test_cfg is never changed."""
    infer = _inferencer(tmp_path, _pipeline(), test_cfg=dict(max_num=5))
    before = dict(infer.model.test_cfg)
    out = infer(dict(depth=_depth(), intrinsics=K), collision_filter=False,
                return_datasamples=True)
    ds, summary = out['predictions'][0], out['summaries'][0]
    assert infer.model.test_cfg == before
    assert summary['num_grasps_nms'] == len(ds.pred_grasps) == 5  # max_num of the model
    assert summary['num_grasps_model'] == ds.metainfo['num_grasps_before_nms'] > 5
    assert summary['num_graspable'] == ds.metainfo['num_graspable']


def test_pictures_come_from_the_configs_grasp_visualizer(tmp_path):
    """The Inferencer draws with the config's ``visualizer`` (default_runtime: a
    GraspVisualizer), and refuses a visualizer that cannot draw grasps."""
    from graspcontrast_mm.visualization import GraspVisualizer, render_grasps
    inf = _inferencer(tmp_path, _pipeline())
    assert isinstance(inf.visualizer, GraspVisualizer)
    out = inf(dict(depth=_depth(), K=K, name='box'), return_vis=True,
              img_out_dir=str(tmp_path / 'vis'), return_datasamples=True)
    (picture, ) = out['visualization']
    ds = out['predictions'][0]
    expected = render_grasps(ds.scene_points, None, ds.pred_grasps, K=K,
                             image_size=(160, 120), view='camera', K_image_size=(160, 120),
                             max_grasps=50)
    np.testing.assert_array_equal(picture, expected)
    assert (tmp_path / 'vis' / 'box.png').is_file()
    cfg = Config(dict(model=tiny_gsnet_model_cfg(), visualizer=dict(type='Visualizer'),
                      test_dataloader=dict(dataset=dict(type='GraspNetDataset',
                                                        pipeline=_pipeline()))))
    path = str(tmp_path / 'other_vis.pth')
    save_checkpoint(path, MODELS.build(cfg.model).state_dict(), cfg.pretty_text)
    with pytest.raises(TypeError, match='GraspVisualizer'):
        GraspInferencer(None, path)
