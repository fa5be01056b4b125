"""Robot side of the bad-input matrix: one rotation tolerance for planner and executor,
numeric arguments checked before any work, a bad checkpoint stopped before the simulation,
a failing grasp source not reported as a grasping result."""
import numpy as np
import pytest

from graspcontrast_mm.structures.grasp import approach_angle_to_matrix, make_grasp_array
from robot_integration import pick_and_place
from tiny_gsnet import save_checkpoint, tiny_gsnet_model_cfg, tiny_pretrainer_model_cfg
from robot_integration.executor import SafetyLimits, check_pose_safe
from robot_integration.planner import (GraspPlanner, GripperModel, PlannedGrasp,
                                       PlannerConfig, PlanningFailure)
from robot_integration.protocol import AttemptRecord, LevelResult
from robot_integration.transforms import (ROTATION_ATOL, camera_pose_looking_down,
                                          rotation_errors)

T_BASE_CAM = camera_pose_looking_down([0.5, 0.0, 0.6])
CFG = dict(table_height=0.0, workspace_min=(0.2, -0.4, -0.05),
           workspace_max=(0.9, 0.4, 0.4), max_approach_angle_deg=45.0)


def _grasp_with_rotation_error(error: float) -> np.ndarray:
    R = approach_angle_to_matrix(np.asarray([[0.0, 0.0, 1.0]]), 0.3)
    row = make_grasp_array([0.9], [0.04], [0.02], R, np.asarray([[0.05, -0.02, 0.5]]))
    R_bad = R[0] @ np.diag([1.0 + error / 2, 1.0, 1.0])  # R R^T - I peaks at ~error
    row[0, 4:13] = R_bad.reshape(-1)
    return row


@pytest.mark.parametrize('factor, accepted', [(0.5, True), (5.0, False)])
def test_planner_and_executor_share_one_rotation_tolerance(factor, accepted):
    row = _grasp_with_rotation_error(factor * ROTATION_ATOL)
    ortho, _ = rotation_errors(row[0, 4:13].reshape(3, 3))
    assert (ortho <= ROTATION_ATOL) == accepted
    plan = GraspPlanner(PlannerConfig(**CFG), T_base_cam=T_BASE_CAM).plan(row)
    if not accepted:  # refused at planning: no attempt is wasted on the executor
        assert isinstance(plan, PlanningFailure) and plan.counts['invalid_grasp'] == 1
        return
    assert isinstance(plan, PlannedGrasp)
    limits = SafetyLimits(motion_min=(-1, -1, -0.1), motion_max=(2, 2, 2))
    for pose in (plan.pre_grasp, plan.grasp, plan.lift):  # the executor accepts them
        check_pose_safe(pose, limits, GripperModel(), opening=plan.open_width)


@pytest.mark.parametrize('bad', [
    ['--image-scale', '-1'], ['--image-scale', '0'], ['--seed', '-1'],
    ['--objects-per-level', '-2'], ['--max-attempts-per-object', '0'],
    ['--max-total-attempts', '0'], ['--attempt-timeout', '0'], ['--top-k', '0'],
    ['--num-threads', '0'], ['--object-ids', '-3'], ['--image-scale', 'nan'],
    ['--source', 'model'],  # without --checkpoint
])
def test_bad_arguments_are_argparse_errors(bad, capsys):
    args = list(bad)
    if bad[0] == '--objects-per-level':
        args = ['--levels', 'tiny'] + args
    with pytest.raises(SystemExit) as stop:
        pick_and_place.parse_args(args)
    assert stop.value.code == 2
    assert 'error:' in capsys.readouterr().err


class _NoSim:
    def __init__(self, *args, **kwargs):
        raise AssertionError('the simulation was started')


@pytest.fixture
def no_sim(monkeypatch):
    monkeypatch.setattr(pick_and_place, 'PyBulletPickPlaceSim', _NoSim)


def _save_checkpoint(path, model_cfg, cfg_text=None, nan_key=None):
    from graspcontrast_mm.registry import MODELS
    state = MODELS.build(model_cfg).state_dict()
    if nan_key:
        state[nan_key][:] = float('nan')
    return save_checkpoint(path, state, cfg_text)


def _tiny_gsnet_cfg():
    from mmengine.config import Config
    return Config(dict(model=tiny_gsnet_model_cfg()))


MODEL_ARGS = ['--source', 'model', '--levels', 'tiny', '--objects-per-level', '1',
              '--no-progress']


def test_pretraining_checkpoint_stops_before_the_simulation(tmp_path, no_sim, capsys):
    from mmengine.config import Config
    cfg = Config(dict(model=tiny_pretrainer_model_cfg()))
    ckpt = _save_checkpoint(tmp_path / 'pretrain.pth', cfg.model, cfg.pretty_text)
    with pytest.raises(SystemExit) as stop:
        pick_and_place.main(MODEL_ARGS + ['--checkpoint', ckpt])
    assert str(stop.value.code).startswith('error: cannot use the model')
    assert 'not a grasp detector' in str(stop.value.code)


def test_mismatched_checkpoint_with_config_stops_before_the_simulation(tmp_path, no_sim):
    cfg = _tiny_gsnet_cfg()
    cfg_path = str(tmp_path / 'gsnet.py')
    cfg.dump(cfg_path)
    other = _tiny_gsnet_cfg()
    other.model.swad_head.hidden_channels = 8  # other head widths
    ckpt = _save_checkpoint(tmp_path / 'other.pth', other.model)
    with pytest.raises(SystemExit) as stop:
        pick_and_place.main(MODEL_ARGS + ['--config', cfg_path, '--checkpoint', ckpt])
    assert 'shape mismatch' in str(stop.value.code) and 'swad_head' in str(stop.value.code)


def test_nan_checkpoint_and_stored_config_payload(tmp_path, no_sim):
    cfg = _tiny_gsnet_cfg()
    ckpt = _save_checkpoint(tmp_path / 'nan.pth', cfg.model, cfg.pretty_text,
                            nan_key='swad_head.conv_swad.weight')
    with pytest.raises(SystemExit) as stop:
        pick_and_place.main(MODEL_ARGS + ['--checkpoint', ckpt])
    assert 'NaN' in str(stop.value.code) and 'swad_head.conv_swad.weight' in str(
        stop.value.code)
    marker = tmp_path / 'MARKER'
    text = f"_x = __import__('os').system('touch {marker}')\n" + cfg.pretty_text
    ckpt = _save_checkpoint(tmp_path / 'evil.pth', cfg.model, text)
    with pytest.raises(SystemExit) as stop:
        pick_and_place.main(MODEL_ARGS + ['--checkpoint', ckpt])
    assert 'not plain data' in str(stop.value.code)
    assert not marker.exists()


def test_failing_grasp_source_is_not_a_grasping_result(monkeypatch, capsys):
    failure = PlanningFailure('source_error', 'RuntimeError: detector crashed').to_dict()
    res = LevelResult('tiny', 1)
    res.records.append(AttemptRecord('tiny', 0, 'no_grasp', False,
                                     planning_failure=failure, remaining=1))
    res.stop_reason = 'no_grasp'
    monkeypatch.setattr(pick_and_place, 'run_benchmark', lambda *a, **k: [res])
    with pytest.raises(SystemExit) as stop:
        pick_and_place.main(['--levels', 'tiny', '--objects-per-level', '1',
                             '--no-progress'])
    assert 'grasp source failed' in str(stop.value.code)
    assert 'detector crashed' in str(stop.value.code)
    assert 'SR' in capsys.readouterr().out  # the table is still printed
