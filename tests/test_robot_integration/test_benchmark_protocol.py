"""Benchmark physics and protocol: motion ramp, settle detection, workspace exits, the
in-bin success test, pre-grasp contacts, stopping rules, repeat filter, undefined SR,
confidence intervals and funnel counts. Small scenes (one object, convex hulls), a few
seconds each."""
import json

import numpy as np
import pytest

pytest.importorskip('pybullet')

from graspcontrast_mm.structures.grasp import make_grasp_array  # noqa: E402
from robot_integration import pick_and_place  # noqa: E402
from robot_integration.calibration_sources import (OracleGraspSource,  # noqa: E402
                                                   RandomGraspSource)
from robot_integration.pick_and_place import sim_planner_config  # noqa: E402
from robot_integration.pipeline import workspace_mask  # noqa: E402
from robot_integration.planner import GraspPlanner, PlannedGrasp  # noqa: E402
from robot_integration.protocol import (LevelResult, ProtocolConfig,  # noqa: E402
                                        RepeatFilter, format_results_table, run_level)
from robot_integration.sim import (PyBulletPickPlaceSim, SimConfig,  # noqa: E402
                                   trapezoid_profile)
from robot_integration.stats import aggregate_level, wilson_interval  # noqa: E402
from robot_integration.transforms import (invert_transform, make_transform,  # noqa: E402
                                          translation_matrix)

CUBE = 0  # cube_50mm: a convex hull is exact, loads instantly


def _cube_scene(sim, n=1, seed=0):
    """Reset with ``n`` cubes, the first one moved axis-aligned to the pile centre."""
    sim.reset_scene(n, seed=seed)
    body = sim.remaining()[0]
    _place(sim, body, (0.6, -0.1, 0.025))
    return body


def _sim(**kw):
    kw.setdefault('object_ids', (CUBE,))
    kw.setdefault('shapes', 'hull')
    kw.setdefault('image_scale', 0.25)
    return PyBulletPickPlaceSim(SimConfig(**kw))


#: planner settings that let grasps with nothing between the jaws through (empty closes)
EMPTY_GRASPS_OK = dict(min_points_between_fingers=0, min_grip_depth=0.0, min_pad_cover=0.0,
                       max_face_angle_deg=90.0)


def _planner(sim, **kw):
    return GraspPlanner(sim_planner_config(sim.config, **kw), sim.gripper,
                        T_ee_cam=sim.T_tcp_cam)


def _place(sim, body, xyz, quat=(0, 0, 0, 1)):
    sim._p.resetBasePositionAndOrientation(body, list(xyz), list(quat),
                                           physicsClientId=sim.client)
    sim._p.resetBaseVelocity(body, [0, 0, 0], [0, 0, 0], physicsClientId=sim.client)


# ----------------------------------------------------------------------------- motion
def test_trapezoid_profile_hand_computed():
    # 0.2 m at 0.1 m/s with 0.5 m/s^2: ramps of 0.2 s / 0.01 m, cruise 1.8 s, 2.2 s total
    s = trapezoid_profile(0.2, 0.1, 0.5, 0.01)
    assert len(s) == 220 and s[-1] == 0.2
    np.testing.assert_allclose(s[9], 0.5 * 0.5 * 0.1 ** 2)  # t = 0.1 s, accelerating
    np.testing.assert_allclose(s[19], 0.01)  # end of the ramp
    np.testing.assert_allclose(s[119], 0.01 + 0.1 * 1.0)  # t = 1.2 s, cruising
    v = np.diff(np.concatenate([[0.0], s])) / 0.01
    assert v.max() <= 0.1 + 1e-9 and v[0] <= 0.5 * 0.01 + 1e-9  # starts from rest
    assert np.all(np.abs(np.diff(v)) <= 0.5 * 0.01 + 1e-9)  # never faster than the ramp
    # too short to reach the cruise speed: a triangle, peak sqrt(a d)
    tri = trapezoid_profile(0.004, 0.1, 0.5, 0.001)
    vt = np.diff(np.concatenate([[0.0], tri])) / 0.001
    assert tri[-1] == 0.004 and vt.max() <= np.sqrt(0.5 * 0.004) + 1e-6
    assert len(trapezoid_profile(0.0, 0.1, 0.5, 0.01)) == 1


# ----------------------------------------------------------------------------- statistics
def test_wilson_interval_hand_computed():
    lo, hi = wilson_interval(8, 10)
    # p = 0.8, z = 1.96: centre (0.8 + z^2/20) / (1 + z^2/10), half-width as below
    z = 1.959963984540054
    centre = (0.8 + z * z / 20) / (1 + z * z / 10)
    half = z * np.sqrt(0.8 * 0.2 / 10 + z * z / 400) / (1 + z * z / 10)
    np.testing.assert_allclose([lo, hi], [centre - half, centre + half])
    np.testing.assert_allclose([lo, hi], [0.4902, 0.9433], atol=1e-4)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0
    assert wilson_interval(0, 0) == (None, None)
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_sr_is_undefined_without_attempts():
    res = LevelResult('low', 3)
    assert res.success_rate is None and res.completion_rate == 0.0
    assert res.summary()['success_rate'] is None
    assert 'n/a' in format_results_table([res])
    agg = aggregate_level([res, LevelResult('low', 3)])
    assert agg['success_rate'] is None and agg['success_rate_ci95'] == [None, None]
    assert agg['completion_rate'] == 0.0 and agg['objects'] == 6 and agg['attempts'] == 0


# ----------------------------------------------------------------------------- scene state
def test_settle_detection_and_workspace_exit():
    with _sim() as sim:
        sim.reset_scene(1, seed=0)
        (body,) = sim.remaining()
        ok, lin, ang = sim.resting()
        assert ok and lin < sim.config.settle_speed  # reset waits until it rests
        # dropped from 10 cm: moving at once, resting within the time-out
        _place(sim, body, (0.6, -0.1, 0.12))
        sim._p.changeDynamics(body, -1, activationState=sim._p.ACTIVATION_STATE_WAKE_UP,
                              physicsClientId=sim.client)
        sim._step(10)
        assert not sim.resting()[0]
        short = sim.settle(timeout=0.02)
        assert not short['resting'] and short['steps'] <= 5
        info = sim.settle()
        assert info['resting'] and 0 < info['steps'] and info['max_speed'] < 0.01
        assert 0.02 < sim.object_position(body)[2] < 0.03  # on the table (5 cm cube)
        # pushed outside the workspace box: taken out with a logged reason
        _place(sim, body, (0.6 + sim.config.workspace_half_size + 0.05, -0.1, 0.025))
        out = sim.settle_scene(phase='capture')
        assert sim.remaining() == [] and sim.objects[body]['state'] == 'left_workspace'
        (event,) = out['left_workspace']
        assert event['event'] == 'left_workspace' and event['obj_id'] == CUBE
        assert 'workspace' in event['reason'] and event in sim.events


def test_scene_does_not_depend_on_what_ran_before():
    def state(sim):
        return np.concatenate([sim.object_position(b) for b in sim.remaining()])

    with _sim(object_ids=(CUBE, 9)) as sim:  # cubes and spheres
        sim.reset_scene(3, seed=4)
        first = state(sim)
    with _sim(object_ids=(CUBE, 9)) as sim:
        sim.reset_scene(2, seed=8)
        body = sim.remaining()[0]
        sim.execute_pick(_top_grasp(sim, body), target=body)
        sim.reset_scene(3, seed=4)
        np.testing.assert_array_equal(state(sim), first)


def test_in_bin_footprint_test():
    with _sim(object_ids=(CUBE, CUBE)) as sim:
        sim.reset_scene(2, seed=0)
        a, b = sim.remaining()
        bx, by = sim.config.bin_center
        _place(sim, a, (bx, by, 0.025))
        _place(sim, b, (bx, by, 0.075))  # stacked: 5-10 cm high, still in the bin
        sim._step(60)
        assert sim.in_bin(a) and sim.in_bin(b)
        assert sim.object_position(b)[2] > 0.07
        # on the bin wall: centre just inside, a corner (turned 45 degrees: 3.5 cm from the
        # centre) more than bin_overhang beyond the outer wall
        c = sim.config
        assert c.bin_wall_thickness + c.bin_overhang < 0.025 * np.sqrt(2) - 0.001
        edge = by + c.bin_half_size - 0.001
        q45 = (0.0, 0.0, np.sin(np.pi / 8), np.cos(np.pi / 8))
        _place(sim, b, (bx, edge, c.bin_wall_height + 0.03), q45)
        assert not sim.in_bin(b)
        _place(sim, b, (bx, edge - 0.01, c.bin_wall_height + 0.03), q45)
        assert sim.in_bin(b)  # 1 cm further in: within the overhang allowance
        _place(sim, b, (0.6, -0.1, 0.025))  # on the table
        assert not sim.in_bin(b)


def _top_grasp(sim, body, *, offset=(0.0, 0.0), width=0.05, pre=0.10):
    """A straight-down PlannedGrasp (closing along base y) on an axis-aligned cube, finger
    tips 3 cm below its top."""
    pos = sim.object_position(body)
    R = np.stack([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], axis=1)
    T = make_transform(R, (pos[0] + offset[0], pos[1] + offset[1], pos[2] - 0.005))
    lift = T.copy()
    lift[2, 3] += 0.2
    row = np.zeros(17, np.float32)
    row[13:16] = T[:3, 3]
    return PlannedGrasp(index=0, score=1.0, rank_value=1.0, width=width,
                        open_width=width + 0.02, approach_angle_deg=0.0,
                        pre_grasp=T @ translation_matrix((-pre, 0.0, 0.0)), grasp=T,
                        lift=lift, grasp_row_base=row)


def test_scene_seed_depends_on_the_level_name_not_on_the_levels_run(monkeypatch):
    """`--levels high` sees the same scenes as the high level of a full run."""
    assert [pick_and_place.level_seed_index(n) for n in ('low', 'medium', 'high')] == \
        [0, 1, 2]
    other = pick_and_place.level_seed_index('tiny')
    assert 3 <= other <= 92 and other == pick_and_place.level_seed_index('tiny')
    seen = []

    def fake_run_level(sim, source, planner, *, level, seed, scene, **kw):
        seen.append((level, scene, seed))
        return LevelResult(level, 0, scene=scene, seed=seed)

    monkeypatch.setattr(pick_and_place, 'run_level', fake_run_level)
    cfg = SimConfig(object_ids=(CUBE, ), shapes='hull', image_scale=0.25)
    pick_and_place.run_benchmark(None, {'high': 1}, seed=3, sim_config=cfg, scenes=2)
    pick_and_place.run_benchmark(None, {'low': 1, 'high': 1}, seed=3, sim_config=cfg,
                                 scenes=1)
    assert seen == [('high', 0, 302000), ('high', 1, 302001), ('low', 0, 300000),
                    ('high', 0, 302000)]


def test_graspability_ceiling_uses_the_noise_free_depth():
    """The ceiling is measured on the exact depth of the capture: a blob of false depth
    right above the cube (what sensor noise can add) does not change it."""
    from robot_integration.calibration_sources import oracle_graspable
    from robot_integration.executor import Observation
    with _sim(depth_noise='realsense') as sim:
        _cube_scene(sim)
        planner = _planner(sim)
        obs = sim.observe()
        exact = sim.last_exact_depth
        assert exact is not None and not np.array_equal(exact, obs.depth_m)  # noise is on
        base = oracle_graspable(sim, planner, obs)
        assert base['objects'] == 1 and base['graspable'] == 1
        # a slab 4 cm above the cube top, over the middle of the image, would block every
        # top-down approach if the observed depth were used
        blocked = obs.depth_m.copy()
        h, w = blocked.shape
        cube_z = float(np.median(exact[h // 2 - 2:h // 2 + 2, w // 2 - 2:w // 2 + 2]))
        blocked[h // 4:3 * h // 4, w // 4:3 * w // 4] = cube_z - 0.04
        fake = Observation(depth_m=blocked, K=obs.K, T_base_ee=obs.T_base_ee,
                           T_base_cam=obs.T_base_cam, stamp=obs.stamp)
        assert oracle_graspable(sim, planner, fake)['graspable'] == 1
        sim.last_exact_depth = None  # a backend without ground truth: the observed depth
        assert oracle_graspable(sim, planner, fake)['graspable'] == 0


def test_successful_pick_ends_in_the_bin():
    with _sim() as sim:
        body = _cube_scene(sim)
        out = sim.execute_pick(_top_grasp(sim, body), target=body)
        assert out['success'] and out['failure_reason'] is None
        assert out['held'] == [body] and out['lifted'] and not out['wrong_object']
        assert out['new_in_bin'] == [body] and sim.objects[body]['state'] == 'bin'
        assert 0.04 < out['opening_after_close'] < 0.06  # the 5 cm cube between the jaws


def test_pre_grasp_contact_and_empty_close_are_failed_attempts():
    with _sim() as sim:
        body = _cube_scene(sim)
        before = sim.object_position(body)
        # pre-grasp 1 cm above the grasp with the jaws 4 cm apart: fingers inside the cube
        out = sim.execute_pick(_top_grasp(sim, body, pre=0.01, width=0.02), target=body)
        assert not out['success'] and out['failure_reason'] == 'collision_at_approach'
        assert out['held'] == [] and sim.objects[body]['state'] == 'table'
        assert np.linalg.norm(sim.object_position(body) - before) < 0.005  # not pushed
        # closing 8 cm beside the cube: nothing between the fingers
        out = sim.execute_pick(_top_grasp(sim, body, offset=(0.08, 0.0)), target=body)
        assert out['failure_reason'] == 'empty_close' and out['opening_after_close'] < 0.002


class _FixedSource:
    """Returns the given camera-frame rows, one list per call (then the last again)."""

    def __init__(self, calls):
        self.calls = list(calls)
        self.n = 0
        self.last_info = {}

    def predict(self, depth, K, mask=None):
        rows = self.calls[min(self.n, len(self.calls) - 1)]
        self.n += 1
        self.last_info = dict(summary=dict(num_graspable=7, num_grasps_model=5,
                                           num_grasps_nms=len(rows), num_grasps=len(rows)))
        return rows


def _rows_beside(sim, body, k):
    """Camera-frame rows of straight-down grasps 6 + 2 k cm beside the object."""
    rows = []
    for i in k:
        g = _top_grasp(sim, body, offset=(0.06 + 0.02 * i, 0.0))
        row = make_grasp_array([1.0 - 0.01 * i], [0.03], [0.0], g.grasp[None, :3, :3],
                               g.grasp[None, :3, 3])
        rows.append(row)
    from graspcontrast_mm.structures.grasp import transform_grasp_array
    T_cam_base = invert_transform(sim.camera_pose())
    return [transform_grasp_array(r, T_cam_base) for r in rows]


@pytest.mark.parametrize('consecutive, per_object, expected', [(2, 3, 2), (5, 3, 3)])
def test_object_stopping_rules(consecutive, per_object, expected, tmp_path):
    with _sim() as sim:
        sim.reset_scene(1, seed=0)  # run_level resets to this very scene
        body = sim.remaining()[0]
        src = _FixedSource(_rows_beside(sim, body, range(5)))
        planner = _planner(sim, **EMPTY_GRASPS_OK)
        cfg = ProtocolConfig(max_consecutive_failures=consecutive,
                             max_attempts_per_object=per_object, max_total_attempts=10,
                             failure_pictures=str(tmp_path / 'pics'))
        res = run_level(sim, src, planner, level='t', num_objects=1, seed=0, config=cfg)
    assert res.attempts == expected and res.successes == 0 and res.cleared == 0
    assert all(r.failure_reason == 'empty_close' for r in res.records)
    # the first grasp's TCP was placed 6 cm beside the cube's centre along base x
    dx, dy, _ = res.records[0].tcp_offset_from_com
    assert dx == pytest.approx(0.06, abs=2e-3) and dy == pytest.approx(0.0, abs=2e-3)
    # ... so its jaws held none of the observed points (the record says so)
    assert res.records[0].grasp['jaw_contact']['points'] == 0
    assert res.records[0].grasp['jaw_contact']['pad_cover'] is None
    assert res.stop_reason == 'table_empty'
    assert [e['event'] for e in res.records[-1].events] == ['abandoned']
    assert res.success_rate == 0.0 and res.completion_rate == 0.0
    import cv2  # a picture of every failed attempt
    for rec in res.records:
        img = cv2.imread(rec.picture)
        assert img is not None and img.shape == (360, 480, 3) and img.std() > 0


def test_repeated_failed_grasp_is_not_retried_and_scene_stops_without_grasps():
    with _sim() as sim:
        sim.reset_scene(1, seed=0)
        body = sim.remaining()[0]
        same = _rows_beside(sim, body, [0])[0]
        src = _FixedSource([same])  # a deterministic source: the same failing grasp
        planner = _planner(sim, **EMPTY_GRASPS_OK)
        res = run_level(sim, src, planner, level='t', num_objects=1, seed=0,
                        config=ProtocolConfig(max_consecutive_failures=5))
    # one attempt, then its repeat is removed: two empty captures end the scene
    assert [r.outcome for r in res.records] == ['failure', 'no_grasp', 'no_grasp']
    assert res.stop_reason == 'no_grasp' and res.attempts == 1
    assert res.records[1].funnel['repeat_of_failure'] == 1
    assert res.records[1].funnel['planner_candidates'] == 0


def test_repeat_filter_axes_and_distance():
    T = make_transform(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]]).T,
                       (0.6, -0.1, 0.05))
    f = RepeatFilter(None, distance=0.01, angle_deg=20.0)
    f.T_base_cam = np.eye(4)
    f.failed = [T]
    flip = T.copy()
    flip[:3, 1:3] *= -1  # the same jaws turned by 180 degrees about the approach
    moved = T.copy()
    moved[0, 3] += 0.02
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    turned = T.copy()
    turned[:3, :3] = T[:3, :3] @ np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    poses = np.stack([T, flip, moved, turned])
    rows = make_grasp_array(np.ones(4), np.full(4, 0.03), np.zeros(4), poses[:, :3, :3],
                            poses[:, :3, 3])
    np.testing.assert_array_equal(f.repeats(rows), [True, True, False, False])


def test_funnel_counts_add_up():
    with _sim(object_ids=(CUBE, CUBE)) as sim:
        sim.reset_scene(2, seed=1)
        oracle = OracleGraspSource(sim)
        planner = _planner(sim)
        res = run_level(sim, oracle, planner, level='t', num_objects=2, seed=1,
                        config=ProtocolConfig(max_total_attempts=1))
        rec = res.records[0]
        f = rec.funnel
        assert f['source_rows'] == f['planner_candidates'] + f['repeat_of_failure']
        assert f['planner_candidates'] == rec.num_grasps > 0
        # every candidate is rejected once, not checked, or the planned one
        assert sum(f['planner_rejected'].values()) + f['planned'] == f['planner_candidates']
        assert f['objects_with_grasps'] == 2
        # the model stages of a source that reports them
        sim.reset_scene(1, seed=1)
        body = sim.remaining()[0]
        src = _FixedSource([np.concatenate(_rows_beside(sim, body, [0, 1]))])
        res = run_level(sim, src, _planner(sim, **EMPTY_GRASPS_OK), level='t',
                        num_objects=1, seed=1, config=ProtocolConfig(max_total_attempts=1))
        f = res.records[0].funnel
        assert f['graspness_gate'] == 7 and f['raw_predictions'] == 5
        assert f['after_nms'] == 2 and f['returned'] == 2 and f['source_rows'] == 2


def test_random_source_is_deterministic_and_on_objects():
    with _sim(object_ids=(CUBE,)) as sim:
        sim.reset_scene(1, seed=0)
        obs = sim.observe()
        cfg = _planner(sim).config  # the workspace box keeps the bin walls out
        mask = workspace_mask(obs.depth_m, obs.K, sim.camera_pose(), cfg.workspace_min,
                              cfg.workspace_max)
        src = RandomGraspSource(num_grasps=50, seed=3)
        assert src.wants_workspace_mask
        a = src.predict(obs.depth_m, obs.K, mask=mask)
        np.testing.assert_array_equal(a, src.predict(obs.depth_m, obs.K, mask=mask))
        assert a.shape == (50, 17) and np.all(np.diff(a[:, 0]) <= 0)
        # grasp points are observed cube points: within its half diagonal (3.5 cm, any
        # yaw) of its centre seen from above, higher than 8 mm
        T = sim.camera_pose()
        pts = a[:, 13:16] @ T[:3, :3].T + T[:3, 3]
        centre = sim.object_position(sim.remaining()[0])
        assert np.all(np.linalg.norm(pts[:, :2] - centre[:2], axis=1) < 0.0355 + 0.003)
        assert np.all(pts[:, 2] > 0.008)
        approach = a[:, 4:13].reshape(-1, 3, 3)[:, :, 0] @ T[:3, :3].T
        assert np.all(np.degrees(np.arccos(-approach[:, 2])) <= 30.5)


def test_cli_summary_and_bad_arguments(tmp_path, capsys):
    out = tmp_path / 'o'
    pick_and_place.main(['--source', 'oracle', '--levels', 'tiny', '--objects-per-level',
                         '1', '--object-ids', str(CUBE), '--shapes', 'hull', '--scenes',
                         '2', '--image-scale', '0.25', '--no-progress', '--out', str(out)])
    text = capsys.readouterr().out
    assert 'SR %' in text and '95% CI' in text and 'ceil' in text
    summary = json.loads((out / 'summary.json').read_text())
    lvl = summary['sources']['oracle']['levels'][0]
    assert lvl['scenes'] == 2 and lvl['objects'] == 2 and summary['levels'] == [lvl]
    assert len(lvl['success_rate_ci95']) == 2 and lvl['graspable_at_start'] is not None
    assert summary['sources']['oracle']['partial'] is False
    recs = [json.loads(line) for line in (out / 'records.jsonl').read_text().splitlines()]
    assert recs and all(r['source'] == 'oracle' for r in recs)
    # planner settings reach the planner: no grasp has a million points between its jaws
    no_grasp = tmp_path / 'no_grasp'
    pick_and_place.main(['--source', 'oracle', '--levels', 'tiny', '--objects-per-level',
                         '1', '--object-ids', str(CUBE), '--shapes', 'hull', '--scenes',
                         '1', '--image-scale', '0.25', '--no-progress', '--no-ceiling',
                         '--planner', 'min_points_between_fingers=1000000', '--out',
                         str(no_grasp)])
    capsys.readouterr()
    lvl = json.loads((no_grasp / 'summary.json').read_text())['levels'][0]
    assert lvl['attempts'] == 0 and lvl['success_rate'] is None
    # the random source's candidate budget reaches it
    assert pick_and_place.build_source('random', random_grasps=7).num_grasps == 7
    assert pick_and_place.parse_args(['--random-grasps', '30']).random_grasps == 30
    assert pick_and_place.parse_planner_overrides(
        ['verticality_weight=0.5', 'collision_max_points=4', 'check_collision=false']) == \
        dict(verticality_weight=0.5, collision_max_points=4, check_collision=False)
    # the calibration preset turns the jaw-contact checks off; --planner items win over it
    preset = pick_and_place.parse_args(['--planner-preset', 'no_jaw_checks',
                                        '--planner', 'min_pad_cover=0.5']).planner
    assert preset == dict(min_grip_depth=0.0, min_pad_cover=0.5, held_span_weight=0.0,
                          max_face_angle_deg=90.0)
    assert pick_and_place.parse_args([]).planner == {}
    for bad in (['--scenes', '0'], ['--levels', 'huge'], ['--failure-pictures'],
                ['--planner-preset', 'bare'],
                ['--planner', 'max_approach_angel_deg=30'],
                ['--planner', 'max_approach_angle_deg=steep'],
                ['--planner', 'workspace_min=0'], ['--planner', 'width_margin=inf'],
                ['--planner', 'lift_height=-0.2'], ['--planner', 'max_collision_checks=0'],
                ['--random-grasps', '0']):
        with pytest.raises(SystemExit) as stop:
            pick_and_place.parse_args(bad)
        assert stop.value.code == 2
        assert 'error:' in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        pick_and_place.main(['--source', 'model', '--checkpoint',
                             str(tmp_path / 'missing.pth'), '--no-progress'])
    msg = str(stop.value.code)
    assert msg.startswith('error:') and '\n' not in msg
