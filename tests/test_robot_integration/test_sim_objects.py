"""Benchmark objects: VHACD parts keep concavities and are cached; the oracle's top-down
antipodal grasps on shapes with known answers."""
import time

import numpy as np
import pytest

pytest.importorskip('pybullet')
trimesh = pytest.importorskip('trimesh')

from robot_integration.sim_objects import (TopDownConfig, load_benchmark_object,  # noqa: E402
                                           topdown_grasps)


def _box(extents, z0=0.0):
    box = trimesh.creation.box(extents=extents)
    return [np.asarray(box.vertices) + [0.6, -0.1, extents[2] / 2 + z0]]


def test_topdown_grasps_on_a_box_hand_computed():
    rows = topdown_grasps(_box((0.04, 0.06, 0.05)))
    assert len(rows) > 0 and np.all(np.diff(rows[:, 0]) <= 1e-6)
    R = rows[:, 4:13].reshape(-1, 3, 3)
    np.testing.assert_allclose(R[:, :, 0], np.tile([0, 0, -1], (len(rows), 1)), atol=1e-6)
    closing = np.abs(R[:, :2, 1])
    # only closings across a face pair need little friction (mu <= 0.35 means within
    # atan(0.35) = 19 degrees of a face normal): their width is the box size along it
    along_x = closing[:, 0] > np.cos(np.radians(20))
    along_y = closing[:, 1] > np.cos(np.radians(20))
    assert np.all(along_x | along_y)
    cos_x = closing[along_x, 0]
    np.testing.assert_allclose(rows[along_x, 1], 0.04 / cos_x, atol=1e-4)
    assert np.all(rows[:, 1] <= 0.08 + 1e-6)
    # finger tips (translation - depth) at top - depth for the configured depths
    tips = rows[:, 15] - rows[:, 3]
    expected = 0.05 - np.asarray(TopDownConfig().depths)
    assert np.all(np.abs(tips[:, None] - expected[None]).min(axis=1) < 1e-5)
    # jaws centred on the box: the grasp centre is on its axis along the closing direction
    np.testing.assert_allclose(rows[along_x, 13], 0.6, atol=1e-4)
    # a box wider than the gripper in both directions has no grasp
    assert len(topdown_grasps(_box((0.1, 0.1, 0.05)))) == 0


def test_vhacd_parts_keep_the_torus_hole_and_are_cached(tmp_path):
    t0 = time.perf_counter()
    obj = load_benchmark_object(15, root=str(tmp_path))  # torus
    first = time.perf_counter() - t0
    assert obj.name == 'torus' and obj.scale == 1.0 and len(obj.parts) >= 4
    assert sorted(p.name for p in tmp_path.iterdir())[0].startswith('parts_015_')
    t0 = time.perf_counter()
    again = load_benchmark_object(15, root=str(tmp_path))
    assert time.perf_counter() - t0 < first  # read back, not recomputed
    for a, b in zip(obj.parts, again.parts):
        np.testing.assert_allclose(a, b, atol=1e-6)
    from scipy.spatial import ConvexHull
    verts = obj.vertices
    axis = int(np.argmin(np.ptp(verts, axis=0)))  # the torus axis: its thin direction
    centre = 0.5 * (verts.min(0) + verts.max(0))

    def inside(point, pts):
        eq = ConvexHull(pts).equations
        return bool(np.all(eq[:, :3] @ point + eq[:, 3] <= 1e-9))

    assert inside(centre, verts)  # a single convex hull fills the hole
    assert not any(inside(centre, p) for p in obj.parts)  # the decomposition keeps it
    # lying flat, the oracle grasps the ring (one finger in the hole): width ~ the tube
    R = np.eye(3)
    if axis != 2:
        R = np.eye(3)[[(axis + 1) % 3, (axis + 2) % 3, axis]]
    low = ((verts - centre) @ R.T)[:, 2].min()
    parts = [(p - centre) @ R.T - [0.0, 0.0, low] for p in obj.parts]
    rows = topdown_grasps(parts)
    w = np.concatenate(parts)
    tube = np.ptp(w[:, 2])
    ring = rows[rows[:, 1] < 0.06]
    assert len(ring) > 0 and np.all(ring[:, 1] > 0.5 * tube)
    r = np.linalg.norm(ring[:, 13:15], axis=1)  # grasp centres on the ring, not the hole
    outer = 0.5 * np.ptp(w[:, 0])
    assert np.all((r > outer - 1.5 * tube) & (r < outer))
