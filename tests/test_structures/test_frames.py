import numpy as np
import pytest

from graspcontrast_mm.structures import (check_intrinsics, depth_to_points, flip_matrix,
                                         from_homogeneous, invert_transform,
                                         is_rigid_transform, make_transform,
                                         points_to_pixels, rotation_matrix,
                                         to_homogeneous, transform_points)

K = np.array([[500., 0., 32.], [0., 400., 24.], [0., 0., 1.]])


def random_rigid(rng):
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    R = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                  [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                  [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    return make_transform(R, rng.normal(size=3))


def test_homogeneous_round_trip():
    p = np.array([[1., 2., 3.], [-1., 0., 0.5]])
    h = to_homogeneous(p)
    assert h.shape == (2, 4) and np.all(h[:, 3] == 1)
    np.testing.assert_allclose(from_homogeneous(2 * h), p)


def test_transform_points_matches_matrix_product():
    rng = np.random.default_rng(0)
    T = random_rigid(rng)
    p = rng.normal(size=(7, 3))
    expected = (T @ to_homogeneous(p).T).T[:, :3]
    np.testing.assert_allclose(transform_points(T, p), expected, atol=1e-12)
    assert transform_points(T, p.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match='4x4'):
        transform_points(np.eye(3), p)


def test_invert_transform():
    rng = np.random.default_rng(1)
    T = random_rigid(rng)
    np.testing.assert_allclose(invert_transform(T) @ T, np.eye(4), atol=1e-12)
    F = flip_matrix('x') @ T  # a reflection is inverted exactly too
    np.testing.assert_allclose(invert_transform(F) @ F, np.eye(4), atol=1e-12)
    S = np.diag([2., 1., 1., 1.])  # non-orthogonal falls back to a general inverse
    np.testing.assert_allclose(invert_transform(S) @ S, np.eye(4), atol=1e-12)


def test_rotation_and_flip_matrices():
    Rz = rotation_matrix('z', np.pi / 2)
    np.testing.assert_allclose(Rz[:3, :3] @ [1., 0., 0.], [0., 1., 0.], atol=1e-12)
    Rx = rotation_matrix('x', np.pi / 2)
    np.testing.assert_allclose(Rx[:3, :3] @ [0., 1., 0.], [0., 0., 1.], atol=1e-12)
    Ry = rotation_matrix('y', np.pi / 2)
    np.testing.assert_allclose(Ry[:3, :3] @ [0., 0., 1.], [1., 0., 0.], atol=1e-12)
    assert is_rigid_transform(Rz)
    F = flip_matrix('x')
    np.testing.assert_allclose(transform_points(F, [[1., 2., 3.]]), [[-1., 2., 3.]])
    assert np.isclose(np.linalg.det(F[:3, :3]), -1.)
    assert not is_rigid_transform(F)
    assert is_rigid_transform(F, allow_reflection=True)
    with pytest.raises(ValueError, match='axis'):
        rotation_matrix('w', 0.1)


def test_check_intrinsics_errors():
    with pytest.raises(ValueError, match=r'\(3, 4\)'):
        check_intrinsics(np.zeros((3, 4)))
    bad = K.copy()
    bad[0, 0] = 0.
    with pytest.raises(ValueError, match='focal'):
        check_intrinsics(bad)
    bad = K.copy()
    bad[1, 1] = -400.
    with pytest.raises(ValueError, match='focal'):
        check_intrinsics(bad)


def test_fronto_parallel_plane_back_projection():
    depth = np.full((48, 64), 0.8, dtype=np.float32)
    points, uv = depth_to_points(depth, K)
    assert points.shape == (48 * 64, 3) and points.dtype == np.float32
    np.testing.assert_allclose(points[:, 2], 0.8)
    # hand-computed corners: x = (u - cx) z / fx, y = (v - cy) z / fy
    first = points[(uv[:, 0] == 0) & (uv[:, 1] == 0)][0]
    np.testing.assert_allclose(first, [-32 * 0.8 / 500, -24 * 0.8 / 400, 0.8], rtol=1e-6)
    last = points[(uv[:, 0] == 63) & (uv[:, 1] == 47)][0]
    np.testing.assert_allclose(last, [31 * 0.8 / 500, 23 * 0.8 / 400, 0.8], rtol=1e-6)
    # the principal point back-projects onto the optical axis
    centre = points[(uv[:, 0] == 32) & (uv[:, 1] == 24)][0]
    np.testing.assert_allclose(centre, [0., 0., 0.8], atol=1e-7)


def test_tilted_plane_back_projection_lies_on_plane():
    # plane n . p = d seen by the camera: z(u, v) = d / (n . K^-1 [u, v, 1])
    n = np.array([0.2, -0.3, 1.])
    n /= np.linalg.norm(n)
    d = 0.7
    u, v = np.meshgrid(np.arange(64), np.arange(48))
    rays = np.stack([u, v, np.ones_like(u)], -1).reshape(-1, 3) @ np.linalg.inv(K).T
    depth = (d / (rays @ n)).reshape(48, 64)
    points, _ = depth_to_points(depth, K)
    np.testing.assert_allclose(points.astype(np.float64) @ n, d, atol=1e-6)


def test_depth_range_and_invalid_pixels():
    depth = np.full((4, 5), 1.0, dtype=np.float32)
    depth[0, 0] = 0.
    depth[0, 1] = np.nan
    depth[0, 2] = 0.05  # below min_depth
    depth[0, 3] = 3.0  # above max_depth
    depth[0, 4] = -1.
    points, uv = depth_to_points(depth, K, min_depth=0.1, max_depth=2.0)
    assert len(points) == 20 - 5
    assert not np.any(uv[:, 1] == 0)
    mask = np.zeros((4, 5), bool)
    mask[2, 2] = True
    points, uv = depth_to_points(depth, K, mask=mask)
    np.testing.assert_array_equal(uv, [[2, 2]])


def test_projection_inverts_back_projection():
    rng = np.random.default_rng(2)
    depth = rng.uniform(0.3, 1.5, size=(48, 64)).astype(np.float32)
    points, uv = depth_to_points(depth, K)
    np.testing.assert_allclose(points_to_pixels(points, K), uv, atol=1e-3)
    # points behind the camera have no pixel
    assert np.all(np.isnan(points_to_pixels(np.array([[0., 0., -1.]]), K)))
