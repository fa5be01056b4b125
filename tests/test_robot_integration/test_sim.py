"""Short simulated pick-and-place run (pybullet DIRECT, VHACD objects) with the geometric
baseline."""
import numpy as np
import pytest

pytest.importorskip('pybullet')

from robot_integration.grasp_sources import GeometricBaselineSource  # noqa: E402
from robot_integration.pick_and_place import main, sim_planner_config  # noqa: E402
from robot_integration.planner import GraspPlanner  # noqa: E402
from robot_integration.protocol import ProtocolConfig, run_level  # noqa: E402
from robot_integration.sim import (FAILURE_REASONS, PyBulletPickPlaceSim,  # noqa: E402
                                   SimConfig)

# Fast-loading novel objects (duck, bunny, torus).
OBJECTS = (12, 14, 15)


def _run(seed=1, n=3):
    cfg = SimConfig(seed=seed, object_ids=OBJECTS)
    with PyBulletPickPlaceSim(cfg) as sim:
        planner = GraspPlanner(sim_planner_config(cfg), sim.gripper, T_ee_cam=sim.T_tcp_cam)
        return run_level(sim, GeometricBaselineSource(), planner, level='test',
                         num_objects=n, seed=seed, config=ProtocolConfig())


def test_rendered_depth_and_camera_chain():
    with PyBulletPickPlaceSim(SimConfig(image_scale=0.25)) as sim:
        obs = sim.observe()
        assert obs.depth_m.shape == (180, 320) and obs.depth_m.dtype == np.float32
        # empty table seen straight down from 0.6 m
        np.testing.assert_allclose(np.median(obs.depth_m), 0.6, atol=1e-3)
        T = obs.T_base_ee @ sim.T_tcp_cam
        np.testing.assert_allclose(T, obs.T_base_cam)
        np.testing.assert_allclose(T[:3, 3], sim.config.camera_position, atol=1e-9)
        np.testing.assert_allclose(T[:3, 2], [0, 0, -1], atol=1e-9)


def test_short_run_metrics_and_determinism():
    a = _run()
    assert 0.0 <= a.success_rate <= 1.0 and 0.0 <= a.completion_rate <= 1.0
    assert a.successes >= 1 and a.cleared >= 1
    assert a.attempts <= 3 * a.num_objects
    recs_a = [r.to_dict(with_timings=False) for r in a.records]
    assert all(r['outcome'] in ('success', 'failure', 'no_grasp') for r in recs_a)
    assert all(r['failure_reason'] in FAILURE_REASONS for r in recs_a
               if r['outcome'] == 'failure')
    b = _run()
    assert recs_a == [r.to_dict(with_timings=False) for r in b.records]
    assert (a.success_rate, a.completion_rate) == (b.success_rate, b.completion_rate)


def test_cli_writes_records(tmp_path, capsys):
    results = main(['--levels', 'tiny', '--objects-per-level', '1', '--object-ids', '14',
                    '--seed', '0', '--out', str(tmp_path), '--no-progress', '--timing',
                    '--scenes', '1'])
    out = capsys.readouterr().out
    assert 'SR' in out and 'CR' in out and 'perception' in out
    assert (tmp_path / 'records.jsonl').exists() and (tmp_path / 'summary.json').exists()
    assert len(results) == 1 and results[0].num_objects == 1
