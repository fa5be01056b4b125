"""The model-backed grasp source with a tiny random-weight GSNet (CPU, seconds).

A random-weight model grasps nothing on purpose; these tests check the plumbing: metric
depth + intrinsics + workspace mask in, camera-frame (N, 17) rows out, the planner's
failure path on an empty result, and a deterministic simulated run through the CLI.
"""
import json

import numpy as np
import pytest

torch = pytest.importorskip('torch')
pytest.importorskip('graspnetAPI')

from mmengine.config import Config
from tiny_gsnet import save_checkpoint, tiny_gsnet_model_cfg  # noqa: E402

from graspcontrast_mm.registry import MODELS  # noqa: E402
from graspcontrast_mm.structures.frames import depth_to_points  # noqa: E402
from robot_integration.executor import Observation  # noqa: E402
from robot_integration.grasp_sources import (InferencerGraspSource,  # noqa: E402
                                             object_workspace_mask)
from robot_integration.pipeline import perceive_and_plan, workspace_mask  # noqa: E402
from robot_integration.planner import GraspPlanner, PlannerConfig  # noqa: E402
from robot_integration.transforms import make_transform  # noqa: E402

NUM_POINTS = 2048
K = np.array([[150.0, 0.0, 80.0], [0.0, 150.0, 60.0], [0.0, 0.0, 1.0]])


def tiny_cfg() -> Config:
    """A tiny GSNet that returns grasps even untrained (no graspness gate)."""
    return Config(dict(
        model=tiny_gsnet_model_cfg(),
        test_dataloader=dict(dataset=dict(type='GraspNetDataset', data_root='unused',
                                          pipeline=[
                                              dict(type='LoadDepthImage'),
                                              dict(type='DepthToPoints', min_depth=0.1,
                                                   max_depth=2.0, with_pixel_uv=True),
                                              dict(type='PointSample',
                                                   num_points=NUM_POINTS),
                                              dict(type='Voxelize', voxel_size=0.005),
                                              dict(type='PackPointsInputs'),
                                          ]))))


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    """Config file and a checkpoint that embeds it (as mmengine's runner writes)."""
    root = tmp_path_factory.mktemp('gsnet_tiny_robot')
    cfg = tiny_cfg()
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    # Random features and scores, but every grasp approaches along the template view
    # closest to the optical axis and opens 6 cm, so that the planner can accept some and
    # the simulated run executes attempts.
    with torch.no_grad():
        views = model.approach_head.conv2
        down = int(torch.argmin(model.views[:, 2]))  # approach = -view = camera +z
        views.weight.zero_()
        views.bias.zero_()
        views.bias[down] = 1.0
        swad = model.swad_head.conv_swad
        half = swad.out_channels // 2  # channel block 1 = width (10 x metres)
        swad.weight[half:] = 0.0
        swad.bias[half:] = 0.5
    cfg_path = str(root / 'gsnet_tiny.py')
    cfg.dump(cfg_path)
    path = str(root / 'gsnet_tiny.pth')
    save_checkpoint(path, model.state_dict(), cfg.pretty_text)
    return dict(cfg=cfg_path, ckpt=path)


@pytest.fixture(scope='module')
def source(ckpt):
    """A source built from the checkpoint alone, without collision filter and support
    plane (random weights would lose every grasp to them, leaving nothing to check)."""
    return InferencerGraspSource(checkpoint=ckpt['ckpt'], collision_filter=False,
                                 support_plane=False).build()


def box_scene() -> np.ndarray:
    """float32 metres (120, 160): a table at 0.6 m with a 6 cm tall box in the middle."""
    depth = np.full((120, 160), 0.6, np.float32)
    depth[45:75, 60:100] = 0.54
    depth[:2] = 0.0  # invalid rows
    return depth


def test_object_workspace_mask_covers_the_box_and_its_margin():
    depth = box_scene()
    mask = object_workspace_mask(depth, K, margin=0.02)
    assert mask is not None and mask[45:75, 60:100].all()
    # the box spans u = 60..99 (x = -0.072..0.068 m at 0.54 m; its border pixels, at the
    # depth jump, are not object points); 2 cm beyond it on the table at 0.6 m the mask
    # keeps u = 58..101 and nothing farther out
    assert not mask[2:10, :10].any() and not mask[-10:, -10:].any()
    assert mask[45:75, 58:60].all() and not mask[45:75, :55].any()
    assert mask[45:75, 100:102].all() and not mask[45:75, 105:].any()
    assert not mask[:2].any()  # invalid pixels never selected
    assert object_workspace_mask(np.full((120, 160), 0.6, np.float32), K) is None


def test_predict_on_box_returns_camera_frame_rows_inside_the_cloud(source):
    depth = box_scene()
    rows = source.predict(depth, K)
    np.testing.assert_allclose(rows[:, 1], 0.06, atol=1e-6)  # the fixed width: 0.5 / 10 x 1.2
    assert np.all(rows[:, 10] > 0.99)  # approach (first rotation column) along camera +z
    assert rows.dtype == np.float32 and rows.ndim == 2 and rows.shape[1] == 17
    assert len(rows) > 0 and np.isfinite(rows).all()
    assert np.all(np.diff(rows[:, 0]) <= 1e-6)  # sorted by score
    rot = rows[:, 4:13].reshape(-1, 3, 3)
    np.testing.assert_allclose(rot @ rot.transpose(0, 2, 1),
                               np.broadcast_to(np.eye(3), rot.shape), atol=1e-4)
    # translations in the camera frame, inside the box crop's cloud (not mm, not base)
    cloud, uv = depth_to_points(depth, K)
    crop = cloud[object_workspace_mask(depth, K)[uv[:, 1], uv[:, 0]]]
    assert 0 < len(crop) < len(cloud)
    lo, hi = crop.min(0) - 0.01, crop.max(0) + 0.01
    assert np.all((rows[:, 13:16] >= lo) & (rows[:, 13:16] <= hi))
    info = source.last_info
    assert 0 < info['workspace_pixels'] < int((depth > 0).sum())
    assert info['summary']['num_sampled_points'] == NUM_POINTS
    assert info['summary']['collision_filter'] is False
    # deterministic for the seed
    np.testing.assert_array_equal(source.predict(depth, K), rows)


def test_top_k_mask_and_collision_filter_are_passed(ckpt, source):
    depth = box_scene()
    full = source.predict(depth, K)
    top = InferencerGraspSource(source.inferencer, top_k=2, collision_filter=False,
                                support_plane=False)
    np.testing.assert_allclose(top.predict(depth, K), full[:2], atol=1e-6)
    # a caller mask restricts the input further
    mask = np.zeros(depth.shape, bool)
    mask[40:80, 55:80] = True
    source.predict(depth, K, mask=mask)
    assert source.last_info['workspace_pixels'] == int(
        (mask & object_workspace_mask(depth, K)).sum())
    filt = InferencerGraspSource(source.inferencer, support_plane=False)  # filter on
    kept = filt.predict(depth, K)
    assert filt.last_info['summary']['collision_filter'] is True
    assert len(kept) + filt.last_info['summary']['num_collisions'] == len(full)
    # the whole image instead of the object box
    whole = InferencerGraspSource(source.inferencer, workspace='full', collision_filter=False,
                                  support_plane=False)
    whole.predict(depth, K)
    assert whole.last_info['workspace_pixels'] == int((depth > 0).sum())
    with pytest.raises(ValueError, match='workspace'):
        InferencerGraspSource(source.inferencer, workspace='table')
    with pytest.raises(ValueError, match='config'):
        InferencerGraspSource()


def test_scene_aware_source_drops_grasps_on_the_table(source):
    depth = box_scene()
    full = source.predict(depth, K)
    aware = InferencerGraspSource(source.inferencer, collision_filter=False)  # default on
    kept = aware.predict(depth, K)
    summary = aware.last_info['summary']
    # the table at 0.6 m seen straight down: plane n = (0, 0, -1), d = 0.6
    np.testing.assert_allclose(summary['support_plane'], [0, 0, -1, 0.6], atol=2e-3)
    height = 0.6 - full[:, 15]
    assert (height <= 0.005).any()  # this untrained model predicts grasps on the table
    np.testing.assert_allclose(kept, full[height > 0.005], atol=1e-6)
    assert summary['num_below_support_plane'] == int((height <= 0.005).sum())
    assert summary['num_graspable'] is not None and summary['num_graspable'] >= 0


def test_empty_table_is_a_planning_failure(source):
    empty = np.full((120, 160), 0.6, np.float32)
    assert source.predict(empty, K).shape == (0, 17)
    T_base_cam = make_transform(np.diag([1.0, -1.0, -1.0]), (0.5, 0.0, 0.6))
    planner = GraspPlanner(PlannerConfig(table_height=0.0, workspace_min=(0.0, -0.5, -0.05),
                                         workspace_max=(1.0, 0.5, 0.4)),
                           T_base_cam=T_base_cam)
    res = perceive_and_plan(Observation(empty, K), source, planner)
    assert not res.ok and res.result.reason == 'no_candidates' and res.num_grasps == 0
    # with a box, the workspace mask reaches the source and rows reach the planner
    res = perceive_and_plan(Observation(box_scene(), K), source, planner)
    assert res.num_grasps > 0 and res.result.num_candidates == res.num_grasps


def test_workspace_mask_in_base_frame():
    depth = box_scene()
    T_base_cam = make_transform(np.diag([1.0, -1.0, -1.0]), (0.5, 0.0, 0.6))
    m = workspace_mask(depth, K, T_base_cam, (0.5, -1.0, -0.1), (1.0, 1.0, 1.0))
    # base x = 0.5 + camera x: the right half of the image (u >= cx)
    assert m[2:, 81:].all() and not m[:, :80].any() and not m[:2].any()
    top = workspace_mask(depth, K, T_base_cam, (-1, -1, 0.03), (2, 2, 1))
    assert top.sum() == 30 * 40  # only the box top is 3 cm above the table


def test_bad_checkpoint_fails_at_build(tmp_path):
    src = InferencerGraspSource(checkpoint=str(tmp_path / 'missing.pth'))
    assert src._inferencer is None
    with pytest.raises(Exception, match='not found'):
        src.build()


def test_simulated_run_with_model_source(ckpt, tmp_path, capsys):
    pytest.importorskip('pybullet')
    from robot_integration.pick_and_place import main
    args = ['--source', 'model', '--config', ckpt['cfg'], '--checkpoint', ckpt['ckpt'],
            '--no-collision-filter', '--levels', 'tiny', '--objects-per-level', '2',
            '--object-ids', '14', '15', '--max-attempts-per-object', '1',
            '--max-total-attempts', '2', '--image-scale', '0.25', '--seed', '2',
            '--no-progress', '--scenes', '1']
    a = main(args + ['--out', str(tmp_path / 'a')])
    assert 'SR' in capsys.readouterr().out
    res = a[0]
    assert res.num_objects == 2 and 1 <= res.attempts <= 2  # the scene of seed 2 gives one
    assert 0.0 <= res.success_rate <= 1.0 and 0.0 <= res.completion_rate <= 1.0
    recs = [json.loads(line) for line in (tmp_path / 'a' / 'records.jsonl').read_text()
            .splitlines()]
    assert len(recs) == len(res.records) >= 1
    assert recs[0]['num_grasps'] > 0  # the model was queried and answered
    assert all(r['outcome'] in ('success', 'failure', 'no_grasp') for r in recs)
    # the funnel of every capture: the model's stages, then the planner
    f = recs[0]['funnel']
    assert f['raw_predictions'] >= f['after_nms'] >= f['returned'] == recs[0]['num_grasps']
    assert f['collision_rejected'] == 0  # --no-collision-filter
    assert f['returned'] + f['below_support_plane'] == f['after_nms']
    assert f['planner_candidates'] == f['returned']
    summary = json.loads((tmp_path / 'a' / 'summary.json').read_text())
    assert summary['args']['source'] == 'model'
    assert 0.0 <= summary['levels'][0]['success_rate'] <= 1.0
    assert 0.0 <= summary['levels'][0]['completion_rate'] <= 1.0
    b = main(args + ['--out', str(tmp_path / 'b')])
    assert [r.to_dict(with_timings=False) for r in res.records] == \
        [r.to_dict(with_timings=False) for r in b[0].records]
