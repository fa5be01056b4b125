"""Grasp planner: frame chain, filters, failure reports, safety of the executor."""
import numpy as np
import pytest

from graspcontrast_mm.structures.frames import transform_points
from graspcontrast_mm.structures.grasp import approach_angle_to_matrix, make_grasp_array
from robot_integration.executor import Executor, Observation, UnsafeCommandError
from robot_integration.grasp_sources import InferencerGraspSource, as_grasp_array
from robot_integration.pipeline import perceive_and_plan
from robot_integration.planner import (GraspPlanner, GripperModel, PlannedGrasp,
                                       PlannerConfig, PlanningFailure, centre_offsets,
                                       jaw_contact, segment_objects)
from robot_integration.transforms import (camera_pose_looking_down, invert_transform,
                                          make_transform)

# Camera 0.6 m above the table (table top z = 0), looking straight down.
T_BASE_CAM = camera_pose_looking_down([0.5, 0.0, 0.6])
# The checks of what the jaws hold (grip depth, pad cover, held span) are off unless a test
# turns them on, so that each test sees the filters it is about.
CFG = dict(table_height=0.0, workspace_min=(0.2, -0.4, -0.05), workspace_max=(0.9, 0.4, 0.4),
           max_approach_angle_deg=45.0, min_grip_depth=0.0, deepen_shallow_grasps=False,
           min_pad_cover=0.0, held_span_weight=0.0, max_face_angle_deg=90.0)


def _grasp_cam(t_cam, approach_cam=(0, 0, 1), angle=0.0, width=0.04, depth=0.02,
               score=0.9):
    R = approach_angle_to_matrix(np.asarray([approach_cam], float), angle)
    return make_grasp_array([score], [width], [depth], R, np.asarray([t_cam], float))


def _planner(**kw):
    return GraspPlanner(PlannerConfig(**{**CFG, **kw}), T_base_cam=T_BASE_CAM)


def test_frame_chain_fixed_and_eye_in_hand():
    # Grasp point 0.5 m in front of the camera, 5 cm right / 2 cm up in the image, approach
    # along the optical axis (straight down), depth 2 cm.
    g = _grasp_cam([0.05, -0.02, 0.5])
    # image x = base -y, image y = base -x, optical axis = base -z, camera at (0.5, 0, 0.6)
    expected_point = np.array([0.5 + 0.02, -0.05, 0.6 - 0.5])
    expected_tcp = expected_point + [0, 0, -0.02]
    plan = _planner().plan(g)
    assert isinstance(plan, PlannedGrasp)
    np.testing.assert_allclose(plan.grasp_row_base[13:16], expected_point, atol=1e-6)
    np.testing.assert_allclose(plan.grasp[:3, 3], expected_tcp, atol=1e-6)
    np.testing.assert_allclose(plan.grasp[:3, 0], [0, 0, -1], atol=1e-6)
    assert plan.approach_angle_deg == pytest.approx(0.0, abs=1e-3)
    np.testing.assert_allclose(plan.pre_grasp[:3, 3], expected_tcp + [0, 0, 0.10], atol=1e-6)
    np.testing.assert_allclose(plan.lift[:3, 3], expected_tcp + [0, 0, 0.20], atol=1e-6)
    np.testing.assert_allclose(plan.lift[:3, :3], plan.grasp[:3, :3])
    # Same through an eye-in-hand calibration at an arbitrary end-effector pose.
    T_base_ee = make_transform(approach_angle_to_matrix(np.array([[0.3, -0.2, -1.0]]), 0.7)[0],
                               [0.4, 0.1, 0.7])
    T_ee_cam = invert_transform(T_base_ee) @ T_BASE_CAM
    planner = GraspPlanner(PlannerConfig(**CFG), T_ee_cam=T_ee_cam)
    plan2 = planner.plan(g, T_base_ee=T_base_ee)
    np.testing.assert_allclose(plan2.grasp, plan.grasp, atol=1e-6)
    # eye-in-hand without the capture pose: refused, no pose
    fail = planner.plan(g)
    assert isinstance(fail, PlanningFailure) and fail.reason == 'invalid_camera_pose'


def test_rejections_are_counted_per_filter():
    rows = np.concatenate([
        _grasp_cam([0.0, 0.0, 0.59]),  # tcp 1 cm below the table top -> below_table
        _grasp_cam([0.0, 0.7, 0.5]),  # 0.7 m towards base -x: outside the workspace
        _grasp_cam([0.0, 0.0, 0.5], approach_cam=(np.sin(1.2), 0, np.cos(1.2))),  # 69 deg
        _grasp_cam([0.0, 0.0, 0.5], width=0.15),  # too wide
        np.full((1, 17), np.nan, np.float32),  # invalid
    ])
    fail = _planner().plan(rows)
    assert isinstance(fail, PlanningFailure)
    assert fail.reason == 'all_rejected' and fail.num_candidates == 5
    assert not hasattr(fail, 'grasp') and not fail.ok
    for name in ('below_table', 'outside_workspace', 'approach_angle', 'too_wide',
                 'invalid_grasp'):
        assert fail.counts[name] == 1, (name, fail.counts)
    assert 'below_table=1' in str(fail)
    # the steep grasp passes when the limit allows it
    plan = _planner(max_approach_angle_deg=75.0).plan(rows)
    assert isinstance(plan, PlannedGrasp) and plan.index == 2
    assert plan.approach_angle_deg == pytest.approx(np.degrees(1.2), abs=1e-3)
    empty = _planner().plan(np.zeros((0, 17)))
    assert isinstance(empty, PlanningFailure) and empty.reason == 'no_candidates'


def test_collision_with_point_inside_gripper_box():
    planner = _planner(min_points_between_fingers=0, collision_max_points=0)
    g = _grasp_cam([0.0, 0.0, 0.5], width=0.04)  # closing along camera x = base -y
    plan = planner.plan(g)
    # a point inside the left finger (TCP frame: x = -2 cm, y = -open/2 - 5 mm)
    half_open = plan.open_width / 2
    p_tcp = np.array([-0.02, -half_open - 0.005, 0.0, 1.0])
    p_base = plan.grasp @ p_tcp
    p_cam = (invert_transform(T_BASE_CAM) @ p_base)[:3]
    fail = planner.plan(g, cloud_cam=p_cam[None])
    assert isinstance(fail, PlanningFailure) and fail.counts['collision'] == 1
    # a point between the fingers is no collision (and makes the grasp non-empty)
    mid = (invert_transform(T_BASE_CAM) @ plan.grasp @ np.array([-0.01, 0, 0, 1.0]))[:3]
    assert planner.plan(g, cloud_cam=mid[None]).ok
    fail = _planner(min_points_between_fingers=1).plan(g, cloud_cam=p_cam[None] + [0, 0, -1])
    assert fail.counts['empty'] == 1
    # a second, collision-free grasp (rotated 90 deg) is chosen instead
    g2 = np.concatenate([g, _grasp_cam([0.0, 0.0, 0.5], angle=np.pi / 2, score=0.5)])
    plan2 = planner.plan(g2, cloud_cam=p_cam[None])
    assert plan2.ok and plan2.index == 1


def test_camera_pose_sanity():
    g = _grasp_cam([0.0, 0.0, 0.5])
    bad = {
        'scaled': T_BASE_CAM @ np.diag([1.2, 1.2, 1.2, 1.0]),
        'below the table': camera_pose_looking_down([0.5, 0.0, -0.1]),
        'pointing up': make_transform(np.diag([1.0, -1.0, -1.0]) @ T_BASE_CAM[:3, :3],
                                      [0.5, 0.0, 0.6]),
    }
    for name, T in bad.items():
        if name == 'scaled':
            with pytest.raises(ValueError):
                GraspPlanner(PlannerConfig(**CFG), T_base_cam=T)
            planner = GraspPlanner(PlannerConfig(**CFG), T_ee_cam=np.eye(4))
            res = planner.plan(g, T_base_ee=T)
        else:
            res = GraspPlanner(PlannerConfig(**CFG), T_base_cam=T).plan(g)
        assert isinstance(res, PlanningFailure), name
        assert res.reason == 'invalid_camera_pose', name


def test_ranking_and_preferences():
    flat = _grasp_cam([0.0, 0.0, 0.5], score=0.5)
    tilted = _grasp_cam([0.0, 0.0, 0.5], approach_cam=(np.sin(0.5), 0, np.cos(0.5)),
                        score=0.6)
    rows = np.concatenate([flat, tilted])
    assert _planner().plan(rows).index == 1
    assert _planner(verticality_weight=1.0).plan(rows).index == 0
    plans, counts = _planner().plan_all(rows, max_results=5)
    assert [p.index for p in plans] == [1, 0] and sum(counts.values()) == 0


class _RecordingExecutor(Executor):

    def __init__(self):
        super().__init__()
        self.calls = []

    def _move_to(self, T, *, linear):
        self.calls.append(('move', T))
        return True

    def _open_gripper(self, width):
        self.calls.append(('open', width))

    def _close_gripper(self):
        return 0.0

    def _observe(self):
        raise NotImplementedError


def test_executor_refuses_unsafe_targets():
    ex = _RecordingExecutor()
    ok = make_transform(approach_angle_to_matrix(np.array([[0, 0, -1.0]]), 0)[0],
                        [0.5, 0, 0.1])
    ex.move_to(ok)
    low = ok.copy()
    low[2, 3] = 0.01  # finger tips 1 cm above the table top: allowed
    ex.move_to(low)
    for T in (ok @ np.diag([2.0, 1, 1, 1]), make_transform(ok[:3, :3], [0.5, 0, -0.01]),
              make_transform(ok[:3, :3], [3.0, 0, 0.1]), np.full((4, 4), np.nan)):
        with pytest.raises(UnsafeCommandError):
            ex.move_to(T)
    assert len(ex.calls) == 2
    with pytest.raises(UnsafeCommandError):
        ex.open_gripper(float('nan'))


class _FixedSource:

    def __init__(self, rows=None, error=None):
        self.rows, self.error, self.calls = rows, error, 0

    def predict(self, depth_m, K, mask=None):
        self.calls += 1
        if self.error:
            raise self.error
        return self.rows


def test_pipeline_bad_inputs_never_plan():
    K = np.array([[500.0, 0, 32], [0, 500.0, 24], [0, 0, 1]])
    planner = _planner(check_collision=False)
    good = np.full((48, 64), 0.6, np.float32)
    src = _FixedSource(_grasp_cam([0.0, 0.0, 0.5]))
    assert perceive_and_plan(Observation(good, K), src, planner).ok
    for depth in (np.full((48, 64), np.nan, np.float32), np.zeros((48, 64), np.float32),
                  np.zeros((0, 0), np.float32), np.ones(10, np.float32)):
        res = perceive_and_plan(Observation(depth, K), src, planner)
        assert not res.ok and res.result.reason == 'invalid_observation'
    res = perceive_and_plan(Observation(good, np.zeros((3, 3))), src, planner)
    assert res.result.reason == 'invalid_observation'
    res = perceive_and_plan(Observation(good, K), _FixedSource(error=RuntimeError('boom')),
                            planner)
    assert res.result.reason == 'source_error' and 'boom' in res.result.message
    bad_cam = GraspPlanner(PlannerConfig(**CFG),
                           T_base_cam=camera_pose_looking_down([0.5, 0, 0.02]))
    res = perceive_and_plan(Observation(good, K), src, bad_cam)
    assert res.result.reason == 'invalid_camera_pose'


def test_inferencer_adapter_is_lazy_and_converts_outputs():
    rows = _grasp_cam([0.0, 0.0, 0.5])

    class GraspGroupLike:
        grasp_group_array = rows

    class CallableInferencer:  # mmengine style: __call__(inputs) -> {'predictions': [...]}

        def __init__(self):
            self.inputs = None
            self.kwargs = None

        def __call__(self, inputs, **kwargs):
            self.inputs, self.kwargs = inputs, kwargs
            return {'predictions': [GraspGroupLike()], 'visualization': []}

    inf = CallableInferencer()
    src = InferencerGraspSource(inf, workspace='full', top_k=5)
    out = src.predict(np.ones((4, 4), np.float32), np.eye(3))
    np.testing.assert_array_equal(out, rows)
    assert inf.inputs['depth'].shape == (4, 4) and inf.inputs['depth_scale'] == 1.0
    np.testing.assert_array_equal(inf.inputs['intrinsics'], np.eye(3))
    assert 'mask' not in inf.inputs
    assert inf.kwargs == dict(seed=0, top_k=5, collision_filter=True, support_plane=True)
    lazy = InferencerGraspSource(config='missing.py', checkpoint='missing.pth')
    assert lazy._inferencer is None  # nothing built before the first prediction
    assert as_grasp_array(None).shape == (0, 17)
    assert as_grasp_array(rows[0]).shape == (1, 17)
    with pytest.raises(ValueError):
        as_grasp_array(np.zeros((2, 5)))
    with pytest.raises(ValueError):
        InferencerGraspSource()


def test_lowest_box_z_matches_corners():
    from robot_integration.planner import GripperModel, _lowest_box_z
    rng = np.random.default_rng(0)
    gripper, n = GripperModel(), 20
    T = np.tile(np.eye(4), (n, 1, 1))
    T[:, :3, :3] = approach_angle_to_matrix(rng.normal(size=(n, 3)), rng.uniform(0, 3, n))
    T[:, :3, 3] = rng.normal(size=(n, 3))
    opening = rng.uniform(0.0, 0.1, n)
    ref = [(gripper.corners(opening[i]) @ T[i, :3, :3].T + T[i, :3, 3])[:, 2].min()
           for i in range(n)]
    np.testing.assert_allclose(_lowest_box_z(gripper, T, opening), ref, atol=1e-12)


@pytest.mark.parametrize('bad', [
    dict(lift_height=0.0), dict(width_margin=-0.01), dict(pre_grasp_distance=float('nan')),
    dict(max_approach_angle_deg=-1.0), dict(max_camera_tilt_deg=200.0),
    dict(collision_max_points=-1), dict(max_collision_checks=0),
    dict(score_weight=float('inf')), dict(workspace_min=(0.9, -0.4, -0.05)),
    dict(workspace_max=(0.9, 0.4)), dict(centre_weight=-1.0),
    dict(segment_voxel_size=0.0)])
def test_planner_config_rejects_meaningless_settings(bad):
    with pytest.raises(ValueError, match='PlannerConfig: ' + next(iter(bad)).split('_')[0]):
        PlannerConfig(**{**CFG, **bad})


def test_jaws_centred_on_the_points_between_them():
    """center_jaws_on_points moves the grasp along its closing axis to the midpoint of the
    observed points between the jaws; off by default."""
    g = _grasp_cam([0.0, 0.0, 0.5], width=0.06)  # opening 0.08 m
    base = _planner(min_points_between_fingers=1).plan(g)
    y = base.grasp[:3, 1]
    # a 2 cm wide strip of points between the jaws, 2 cm off-centre along the closing axis
    tcp_pts = np.array([[-0.01, yy, zz, 1.0] for yy in np.linspace(0.01, 0.03, 5)
                        for zz in (-0.005, 0.0, 0.005)])
    cloud_cam = (invert_transform(T_BASE_CAM) @ (base.grasp @ tcp_pts.T)).T[:, :3]
    plain = _planner(min_points_between_fingers=1).plan(g, cloud_cam=cloud_cam)
    np.testing.assert_allclose(plain.grasp, base.grasp, atol=1e-9)
    centred = _planner(min_points_between_fingers=1, center_jaws_on_points=True).plan(
        g, cloud_cam=cloud_cam)
    offset = centred.grasp[:3, 3] - base.grasp[:3, 3]
    np.testing.assert_allclose(offset, 0.02 * y, atol=2e-3)  # voxelised cloud: 3 mm cells
    np.testing.assert_allclose(centred.grasp[:3, :3], base.grasp[:3, :3], atol=1e-9)
    np.testing.assert_allclose(centred.grasp_row_base[13:16] - base.grasp_row_base[13:16],
                               offset, atol=1e-6)
    np.testing.assert_allclose(centred.pre_grasp[:3, 3] - base.pre_grasp[:3, 3], offset,
                               atol=1e-9)


def _to_camera(points_base):
    """Base-frame points (metres) in the camera frame of ``T_BASE_CAM``."""
    return transform_points(invert_transform(T_BASE_CAM), points_base)


def _block_top(x0, x1, y0, y1, z, step=0.005):
    """Points of a horizontal rectangle (base frame, metres), ``step`` apart."""
    xs = np.arange(x0, x1 + 1e-9, step)
    ys = np.arange(y0, y1 + 1e-9, step)
    x, y = np.meshgrid(xs, ys, indexing='ij')
    return np.stack([x.ravel(), y.ravel(), np.full(x.size, float(z))], axis=1)


#: Planner settings of the jaw-contact tests: only the checks under test act on the dense
#: block tops (any number of points in the gripper boxes, no emptiness test, no
#: down-sampling).
_CONTACT_ONLY = dict(collision_max_points=10**6, min_points_between_fingers=0,
                     cloud_voxel_size=0)


def _plan_top_down(top_base, cam_xs, scores, **cfg):
    """Plans and rejection counts of top-down grasps (camera z 0.55 m, camera x offsets
    ``cam_xs``, metres; camera x = base -y) over the base-frame points ``top_base``,
    with :data:`_CONTACT_ONLY` and ``cfg``; up to two plans."""
    rows = np.concatenate([_grasp_cam([x, 0.0, 0.55], score=s)
                           for x, s in zip(cam_xs, scores)])
    return _planner(**{**_CONTACT_ONLY, **cfg}).plan_all(
        rows, cloud_cam=_to_camera(top_base), max_results=2)


def test_segment_objects_splits_separate_objects_and_drops_the_table():
    left = _block_top(0.40, 0.44, -0.02, 0.02, 0.05)
    right = _block_top(0.50, 0.56, 0.00, 0.03, 0.03)
    table = _block_top(0.30, 0.70, -0.10, 0.10, 0.002, step=0.02)
    pts, labels, centroids = segment_objects(np.concatenate([table, left, right]),
                                             table_height=0.0, min_height=0.008,
                                             voxel_size=0.006)
    assert len(pts) == len(left) + len(right) and len(centroids) == 2
    # labels follow the input order: the left block's points come first
    np.testing.assert_array_equal(labels, [0] * len(left) + [1] * len(right))
    np.testing.assert_allclose(centroids, [[0.42, 0.0], [0.53, 0.015]], atol=1e-12)
    # a sloped strip of points bridging the 6 cm gap joins them into one segment
    xs = np.linspace(0.44, 0.50, 31)
    bridge = np.c_[xs, np.zeros_like(xs), np.linspace(0.05, 0.03, 31)]
    pts, labels, centroids = segment_objects(np.concatenate([left, right, bridge]),
                                             table_height=0.0, min_height=0.008,
                                             voxel_size=0.006)
    assert len(centroids) == 1
    np.testing.assert_allclose(centroids[0], pts[:, :2].mean(axis=0), atol=1e-12)
    # nothing above the table: no segment, offsets undefined
    pts, labels, centroids = segment_objects(table, table_height=0.0, min_height=0.008,
                                             voxel_size=0.006)
    assert pts.shape == (0, 3) and centroids.shape == (0, 2)
    assert np.isnan(centre_offsets(np.zeros((2, 2)), np.zeros((2, 3)), pts, labels,
                                   centroids)).all()


@pytest.mark.parametrize('num', [300, 3000])
def test_segments_are_the_26_connected_components_of_the_occupied_voxels(num):
    """Against scipy's dense labelling of the same voxel lattice (same partition), and far
    points (a wall 2-4 m away) form segments of their own without moving the pile's."""
    from scipy import ndimage
    rng = np.random.default_rng(num)
    pile = np.c_[rng.uniform(0.4, 0.8, (num, 2)), rng.uniform(0.0, 0.1, num)]
    kw = dict(table_height=0.0, min_height=0.008, voxel_size=0.006)
    pts, labels, centroids = segment_objects(pile, **kw)
    cells = np.floor(pts / 0.006).astype(np.int64)
    cells -= cells.min(axis=0)
    dense = np.zeros(cells.max(axis=0) + 1, dtype=bool)
    dense[tuple(cells.T)] = True
    components, num_ref = ndimage.label(dense, structure=np.ones((3, 3, 3), dtype=bool))
    pairs = set(zip(labels.tolist(), components[tuple(cells.T)].tolist()))
    assert len(centroids) == num_ref == len(pairs)  # a one-to-one map of the labels
    wall = np.c_[rng.uniform(2.0, 4.0, (500, 2)), rng.uniform(0.0, 2.0, 500)]
    _, labels_w, centroids_w = segment_objects(np.concatenate([pile, wall]), **kw)
    np.testing.assert_allclose(centroids_w[np.unique(labels_w[:len(pts)])], centroids,
                               atol=1e-12)
    assert not set(labels_w[:len(pts)]) & set(labels_w[len(pts):])


def test_centre_offsets_use_the_segment_under_the_grasp_point():
    left = _block_top(0.40, 0.44, -0.02, 0.02, 0.05)   # centroid (0.42, 0)
    right = _block_top(0.50, 0.56, 0.00, 0.03, 0.03)   # centroid (0.53, 0.015)
    segments = segment_objects(np.concatenate([left, right]), table_height=0.0,
                               min_height=0.008, voxel_size=0.006)
    tcp_xy = np.array([[0.44, 0.0], [0.50, 0.015]])
    grasp_points = np.array([[0.44, 0.0, 0.06], [0.505, 0.015, 0.035]])
    np.testing.assert_allclose(centre_offsets(tcp_xy, grasp_points, *segments),
                               [0.02, 0.03], atol=1e-12)


def test_centre_weight_prefers_grasps_near_the_object_centre():
    """A 12 x 6 cm block top at z = 5 cm centred on (0.5, 0): a top-down grasp at its centre
    (score 0.5) and one 4.5 cm from it along x (score 0.6). The score alone picks the edge
    grasp; 10 per metre of horizontal offset from the segment centroid picks the centre."""
    top = _block_top(0.44, 0.56, -0.03, 0.03, 0.05)
    cloud_cam = _to_camera(top)
    # camera 0.6 m above the table looking down: camera z = 0.55 is base z = 0.05
    centre = _grasp_cam([0.0, 0.0, 0.55], score=0.5)
    t_edge = (invert_transform(T_BASE_CAM) @ [0.545, 0.0, 0.05, 1.0])[:3]
    edge = _grasp_cam(t_edge, score=0.6)
    rows = np.concatenate([centre, edge])
    kw = dict(collision_max_points=10**6, min_points_between_fingers=0)
    plans, _ = _planner(**kw).plan_all(rows, cloud_cam=cloud_cam, max_results=2)
    assert [p.index for p in plans] == [1, 0]
    np.testing.assert_allclose([p.centre_offset for p in plans], [0.045, 0.0], atol=1e-9)
    plans, _ = _planner(centre_weight=10.0, **kw).plan_all(rows, cloud_cam=cloud_cam,
                                                         max_results=2)
    assert [p.index for p in plans] == [0, 1]
    np.testing.assert_allclose([p.rank_value for p in plans], [0.5, 0.6 - 0.45], atol=1e-9)
    # without a cloud there is no segment: no offset, no effect on the ranking
    plan = _planner(centre_weight=10.0, **kw).plan(rows)
    assert plan.index == 1 and plan.centre_offset is None


def test_jaw_contact_counts_and_extents_of_the_points_between_the_jaws():
    """6 cm opening, 6 cm fingers, 2 cm pads: the closing region is -0.06 < x < 0,
    |y| <= 0.03, |z| < 0.01 (TCP frame)."""
    pts = np.array([[-0.01, -0.02, 0.004], [-0.03, 0.025, -0.006], [-0.005, 0.0, 0.0],
                    # outside: beyond a jaw, beside the pads, below the tips, at the palm
                    [-0.01, 0.04, 0.0], [-0.01, 0.0, 0.015], [0.01, 0.0, 0.0],
                    [-0.07, 0.0, 0.0]])
    out = jaw_contact(pts, GripperModel(finger_length=0.06, finger_height=0.02), 0.06)
    # face angle: pad strips [-10, -5), [0, 5) mm hold points (centres 7.5 mm and 2.5 mm,
    # 10 mm apart); the -y jaw's contacts are y = 0.025 and -0.02: 45 mm of recess
    expected = dict(points=3, x_lo=-0.03, x_hi=-0.005, y_lo=-0.02, y_hi=0.025,
                    z_lo=-0.006, z_hi=0.004, pad_cover=0.5,
                    face_angle_deg=np.degrees(np.arctan(4.5)))
    assert out.keys() == expected.keys()
    np.testing.assert_allclose([out[k] for k in expected], list(expected.values()),
                               atol=1e-12)
    empty = jaw_contact(pts[3:], GripperModel(), 0.06)
    assert empty['points'] == 0
    assert all(np.isnan(v) for k, v in empty.items() if k != 'points')


@pytest.mark.parametrize('shape, expected_deg', [
    # a face square to the closing axis 1.5 cm from the TCP
    ('square', 0.0),
    # a face at 45 degrees across the pads (a box closed along its diagonal)
    ('diagonal', 45.0),
    # a right-angled corner centred on the pads: y = 2 cm - |z|
    ('corner', np.degrees(np.arctan2(0.005, 0.015)))])
def test_jaw_contact_face_angle(shape, expected_deg):
    """Dense TCP-frame points of an object's top (x = -1 cm) between 6 cm jaws with 2 cm
    pads; the -y side is a face square to the closing axis, so the +y side decides."""
    y, z = np.meshgrid(np.arange(-0.015, 0.03, 0.0005), np.arange(-0.0099, 0.01, 0.0005))
    y, z = y.ravel(), z.ravel()
    edge = {'square': 0.015 + 0 * z, 'diagonal': 0.015 + z, 'corner': 0.02 - np.abs(z)}[shape]
    keep = y <= edge
    pts = np.stack([np.full(keep.sum(), -0.01), y[keep], z[keep]], axis=1)
    out = jaw_contact(pts, GripperModel(finger_height=0.02), 0.06)
    # strips of 5 mm: the outermost point of a strip lies up to one grid step inside it
    assert out['face_angle_deg'] == pytest.approx(expected_deg, abs=2.5)
    single_strip = pts[np.abs(pts[:, 2] - 0.001) < 0.001]
    assert np.isnan(jaw_contact(single_strip, GripperModel(), 0.06)['face_angle_deg'])


def test_plans_carry_the_jaw_contact_of_the_observed_cloud():
    """Top-down grasp 2 cm deep into a flat block top at z = 5 cm: the held points lie 2 cm
    above the finger tips (TCP x = -0.02); without a cloud there is no contact record."""
    top = _block_top(0.44, 0.56, -0.03, 0.03, 0.05, step=0.001)
    cloud_cam = _to_camera(top)
    row = _grasp_cam([0.0, 0.0, 0.55], depth=0.02)
    kw = _CONTACT_ONLY
    plan = _planner(**kw).plan(row, cloud_cam=cloud_cam)
    contact = plan.jaw_contact
    assert contact['points'] > 0
    np.testing.assert_allclose([contact['x_lo'], contact['x_hi']], [-0.02, -0.02],
                               atol=1e-6)
    # the block is wider than the pads and the 6 cm opening in both directions (1 mm
    # sampling: the pads' 2 cm less at most 1 mm on each side)
    assert contact['pad_cover'] >= 0.9 - 1e-9
    assert contact['y_lo'] < -0.025 and contact['y_hi'] > 0.025
    assert _planner(**kw).plan(row).jaw_contact is None


def test_min_grip_depth_rejects_grasps_whose_fingers_barely_reach_down():
    """Two top-down grasps on a flat block top at z = 5 cm: depth 1 cm (score 0.9, the
    finger tips 1 cm below the top) and depth 3 cm (score 0.5). With a 2 cm minimum the
    shallow one is counted as 'shallow' and the deep one planned."""
    top = _block_top(0.44, 0.56, -0.03, 0.03, 0.05, step=0.002)
    cloud_cam = _to_camera(top)
    rows = np.concatenate([_grasp_cam([0.0, 0.0, 0.55], depth=0.01, score=0.9),
                           _grasp_cam([0.0, 0.0, 0.55], depth=0.03, score=0.5)])
    kw = dict(collision_max_points=10**6, min_points_between_fingers=0)
    assert _planner(**kw).plan(rows, cloud_cam=cloud_cam).index == 0
    plans, counts = _planner(min_grip_depth=0.02, **kw).plan_all(rows, cloud_cam=cloud_cam)
    assert plans[0].index == 1 and counts['shallow'] == 1
    assert -plans[0].jaw_contact['x_lo'] == pytest.approx(0.03, abs=1e-6)
    fail = _planner(min_grip_depth=0.04, **kw).plan(rows, cloud_cam=cloud_cam)
    assert isinstance(fail, PlanningFailure) and fail.counts['shallow'] == 2
    with pytest.raises(ValueError, match='min_grip_depth'):
        PlannerConfig(min_grip_depth=-0.01)


def test_held_span_weight_prefers_the_narrower_hold():
    """Two block tops at z = 5 cm, each under a top-down grasp closing along base x (6 cm
    opening): 3 cm across under the score-0.5 grasp, 5.6 cm across under the score-0.6
    one. The score alone picks the wide one; 10 per metre of held span picks the narrow one
    (0.5 - 10 * 0.03 = 0.2 against 0.6 - 10 * 0.056 = 0.04)."""
    narrow = _block_top(0.485, 0.515, -0.03, 0.03, 0.05, step=0.001)
    wide = _block_top(0.472, 0.528, 0.17, 0.23, 0.05, step=0.001)
    top = np.concatenate([narrow, wide])
    # camera x = base -y: the second grasp point is base (0.5, 0.2, 0.05)
    plans, _ = _plan_top_down(top, [0.0, -0.2], [0.5, 0.6])
    assert [p.index for p in plans] == [1, 0]
    np.testing.assert_allclose([p.jaw_contact['y_hi'] - p.jaw_contact['y_lo']
                                for p in plans], [0.056, 0.03], atol=1e-9)
    plans, _ = _plan_top_down(top, [0.0, -0.2], [0.5, 0.6], held_span_weight=10.0)
    assert [p.index for p in plans] == [0, 1]
    np.testing.assert_allclose([p.rank_value for p in plans], [0.2, 0.04], atol=1e-6)


def test_deepen_shallow_grasps_moves_the_tcp_down_the_approach():
    """The shallow grasp of the test above (finger tips 1 cm below the block top at
    z = 5 cm) is moved 1 cm further down its approach to reach the 2 cm minimum; the same
    move on a block only 2 cm tall would put the finger tips into the table: rejected."""
    kw = dict(collision_max_points=10**6, min_points_between_fingers=0,
              min_grip_depth=0.02, deepen_shallow_grasps=True)
    for height, ok in ((0.05, True), (0.02, False)):
        top = _block_top(0.44, 0.56, -0.03, 0.03, height, step=0.002)
        cloud_cam = _to_camera(top)
        row = _grasp_cam([0.0, 0.0, 0.6 - height], depth=0.01, score=0.9)
        plan = _planner(**kw).plan(row, cloud_cam=cloud_cam)
        if not ok:
            assert isinstance(plan, PlanningFailure) and plan.counts['shallow'] == 1
            continue
        without = _planner(**{**kw, 'deepen_shallow_grasps': False}).plan(
            row, cloud_cam=cloud_cam)
        assert isinstance(without, PlanningFailure) and without.counts['shallow'] == 1
        np.testing.assert_allclose(plan.grasp[:3, 3], [0.5, 0.0, height - 0.02], atol=1e-6)
        assert plan.grasp_row_base[3] == pytest.approx(0.02, abs=1e-6)
        assert -plan.jaw_contact['x_lo'] == pytest.approx(0.02, abs=1e-6)
        # pre-grasp and lift follow the moved grasp
        np.testing.assert_allclose(plan.pre_grasp[:3, 3], [0.5, 0.0, height - 0.02 + 0.1],
                                   atol=1e-6)


def test_min_pad_cover_rejects_grasps_on_an_edge():
    """A top-down grasp centred on a block top (pads fully covered) and one whose pads
    (2 cm wide along base y) reach 5 mm past the block's y edge: held points span 1.5 cm of
    the 2 cm, a pad cover of 0.75 (0.70 sampled). A 0.85 minimum rejects the edge grasp as
    'edge'."""
    top = _block_top(0.44, 0.56, -0.03, 0.03, 0.05, step=0.001)
    # camera x = base -y: grasp point at base y = 0.025 (block edge at y = 0.03)
    plans, _ = _plan_top_down(top, [-0.025, 0.0], [0.9, 0.5])
    # 1 mm sampling: the pads' open faces at |z| = 1 cm exclude the rows on them, and the
    # block's edge row (y = 0.03 after the frame round trip) falls out too: 14 mm and 19 mm
    np.testing.assert_allclose([p.jaw_contact['pad_cover'] for p in plans], [0.70, 0.95],
                               atol=1e-6)
    plans, counts = _plan_top_down(top, [-0.025, 0.0], [0.9, 0.5], min_pad_cover=0.85)
    assert [p.index for p in plans] == [1] and counts['edge'] == 1
    with pytest.raises(ValueError, match='min_pad_cover'):
        PlannerConfig(min_pad_cover=1.5)


def test_max_face_angle_rejects_a_grasp_closing_on_faces_at_45_degrees():
    """A square block top turned 45 degrees (|dx| + |dy| <= 2.5 cm around (0.5, 0), z = 5
    cm) and two top-down grasps closing along base x, pads across base y: centred (its
    jaws meet the two corners, face angle about 18) and moved 1.25 cm along base y (the
    pads see one face at 45 degrees on each side). A 40 degree limit rejects the second."""
    g = np.arange(-0.025, 0.0251, 0.001)
    dx, dy = np.meshgrid(g, g)
    keep = np.abs(dx) + np.abs(dy) <= 0.025 + 1e-9
    top = np.stack([0.5 + dx[keep], dy[keep], np.full(keep.sum(), 0.05)], axis=1)
    # camera x = base -y
    plans, _ = _plan_top_down(top, [0.0, -0.0125], [0.5, 0.9])
    assert [p.index for p in plans] == [1, 0]
    # 45 degrees; the centred corner about 18 (22 at this 1 mm sampling: the middle strips'
    # contacts 6 mm out from the outer strips', 15 mm apart)
    offset, centred = [p.jaw_contact['face_angle_deg'] for p in plans]
    assert offset == pytest.approx(45.0, abs=3.0)
    assert centred == pytest.approx(np.degrees(np.arctan2(0.006, 0.015)), abs=1e-6)
    plans, counts = _plan_top_down(top, [0.0, -0.0125], [0.5, 0.9], max_face_angle_deg=40.0)
    assert [p.index for p in plans] == [0] and counts['face_angle'] == 1
    with pytest.raises(ValueError, match='max_face_angle_deg'):
        PlannerConfig(max_face_angle_deg=0.0)
