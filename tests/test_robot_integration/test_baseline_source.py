"""Geometric baseline grasp source on a ray-cast depth image of one box."""
import numpy as np
import pytest

from graspcontrast_mm.structures.grasp import transform_grasp_array
from robot_integration.grasp_sources import (GeometricBaselineSource,
                                             InvalidObservationError, fit_table_plane)
from robot_integration.planner import GraspPlanner, PlannerConfig
from robot_integration.transforms import camera_pose_looking_down

K = np.array([[463.6, 0.0, 325.7], [0.0, 463.7, 174.8], [0.0, 0.0, 1.0]])  # D435 / 2
SIZE = (360, 640)


def render_box(T_base_cam, center_xy, extents, yaw):
    """Exact depth (metres) of a box on the table top z = 0, ray cast per pixel: top face
    and table (the vertical faces are seen edge-on from above and left out)."""
    v, u = np.mgrid[0:SIZE[0], 0:SIZE[1]].astype(np.float64)
    rays_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)],
                        -1)
    rays = rays_cam @ T_base_cam[:3, :3].T
    c = T_base_cam[:3, 3]
    s_table = (0.0 - c[2]) / rays[..., 2]
    s_top = (extents[2] - c[2]) / rays[..., 2]
    hit = c + s_top[..., None] * rays
    d = hit[..., :2] - np.asarray(center_xy)
    ca, sa = np.cos(yaw), np.sin(yaw)
    local = np.stack([d[..., 0] * ca + d[..., 1] * sa, -d[..., 0] * sa + d[..., 1] * ca], -1)
    on_top = np.all(np.abs(local) <= np.asarray(extents[:2]) / 2, axis=-1)
    return np.where(on_top, s_top, s_table).astype(np.float32)  # ray z = 1: s is z-depth


def test_table_plane_fit():
    pts = np.random.default_rng(0).uniform(-0.3, 0.3, (2000, 3))
    pts[:, 2] = 0.6 + 0.1 * pts[:, 0]
    n, d = fit_table_plane(pts)
    assert n[2] < 0  # towards the camera at the origin
    np.testing.assert_allclose(pts @ n + d, 0.0, atol=1e-9)


def test_table_plane_fit_with_clutter_is_seeded():
    rng = np.random.default_rng(1)
    table = rng.uniform(-0.3, 0.3, (3000, 3))
    table[:, 2] = 0.7                               # plane z = 0.7: n = (0, 0, -1), d = 0.7
    clutter = rng.uniform(-0.1, 0.1, (1000, 3)) + [0.0, 0.0, 0.55]  # 5 cm above at least
    pts = np.concatenate([table, clutter, [[np.nan, 0.0, 0.5]]])
    n, d = fit_table_plane(pts, seed=3)
    np.testing.assert_allclose(n, [0.0, 0.0, -1.0], atol=1e-9)
    assert d == pytest.approx(0.7, abs=1e-9)
    n2, d2 = fit_table_plane(pts, seed=3)
    np.testing.assert_array_equal(n, n2)
    assert d == d2
    with pytest.raises(InvalidObservationError, match='too few'):
        fit_table_plane(np.array([[0.0, 0.0, 1.0], [np.nan, 0.0, 1.0], [1.0, 0.0, 1.0]]))


def test_baseline_grasps_box_across_short_side():
    T_base_cam = camera_pose_looking_down([0.5, 0.0, 0.6])
    center, extents, yaw = (0.52, -0.03), (0.12, 0.05, 0.06), np.radians(30)
    depth = render_box(T_base_cam, center, extents, yaw)
    src = GeometricBaselineSource()
    grasps = src.predict(depth, K)
    assert grasps.shape[1] == 17 and len(grasps) >= 1
    np.testing.assert_array_equal(grasps, src.predict(depth, K))  # deterministic
    best = transform_grasp_array(grasps[:1], T_base_cam)[0]
    R = best[4:13].reshape(3, 3)
    np.testing.assert_allclose(R[:, 0], [0, 0, -1], atol=0.02)  # straight down
    short_axis = np.array([-np.sin(yaw), np.cos(yaw), 0.0])
    assert abs(R[:, 1] @ short_axis) > np.cos(np.radians(5))  # closes across the short side
    assert abs(best[1] - extents[1]) < 0.006  # width = short side
    np.testing.assert_allclose(best[13:15], center, atol=0.006)
    assert abs(best[15] - extents[2]) < 0.004  # grasp point on the top face
    # The planner accepts it against the observed cloud of the same image.
    from graspcontrast_mm.structures.frames import depth_to_points
    cloud, _ = depth_to_points(depth, K)
    planner = GraspPlanner(PlannerConfig(workspace_min=(0.2, -0.4, -0.05),
                                         workspace_max=(0.9, 0.4, 0.4)),
                           T_base_cam=T_base_cam)
    plan = planner.plan(grasps, cloud_cam=cloud)
    assert plan.ok and plan.index == 0
    assert plan.grasp[2, 3] > 0.02  # finger tips above the table


def test_baseline_empty_table_gives_no_grasp():
    T_base_cam = camera_pose_looking_down([0.5, 0.0, 0.6])
    depth = render_box(T_base_cam, (5.0, 5.0), (0.05, 0.05, 0.05), 0.0)
    assert GeometricBaselineSource().predict(depth, K).shape == (0, 17)
