import numpy as np
import pytest
from scipy.spatial import cKDTree

from graspcontrast_mm.structures import (farthest_point_sample, match_points,
                                         nearest_neighbors, random_point_indices,
                                         voxelize)


def clustered_cloud(rng):
    big = rng.normal(scale=0.02, size=(5000, 3))
    small = [c + rng.normal(scale=0.002, size=(10, 3))
             for c in ([0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5], [-0.5, 0, 0], [0, -0.5, 0])]
    return np.concatenate([big] + small)


def coverage_radius(points, sample_idx):
    return cKDTree(points[sample_idx]).query(points)[0].max()


def test_fps_distinct_deterministic_and_covering():
    rng = np.random.default_rng(0)
    points = clustered_cloud(rng)
    idx = farthest_point_sample(points, 32)
    assert idx.dtype == np.int64 and idx.shape == (32,)
    assert len(np.unique(idx)) == 32
    assert 0 in idx
    np.testing.assert_array_equal(idx, farthest_point_sample(points, 32))
    assert 7 in farthest_point_sample(points, 32, start_index=7)
    # FPS reaches every far cluster; a random subset of the same size misses some
    fps_radius = coverage_radius(points, idx)
    rand_radius = coverage_radius(points, rng.choice(len(points), 32, replace=False))
    assert fps_radius < 0.1 < rand_radius
    # same set as the greedy definition of FPS
    np.testing.assert_array_equal(idx, np.sort(greedy_fps(points, 32)))


def greedy_fps(points, m):
    chosen = [0]
    dist = np.linalg.norm(points - points[0], axis=1)
    for _ in range(m - 1):
        j = int(np.argmax(dist))
        chosen.append(j)
        dist = np.minimum(dist, np.linalg.norm(points - points[j], axis=1))
    return np.array(chosen)


def test_fps_fewer_points_than_samples():
    points = np.random.default_rng(1).normal(size=(5, 3))
    np.testing.assert_array_equal(farthest_point_sample(points, 10), np.arange(5))
    with pytest.raises(ValueError):
        farthest_point_sample(points, 0)


def test_random_point_indices_rules():
    np.random.seed(0)
    idx = random_point_indices(100, 30)
    assert idx.shape == (30,) and len(np.unique(idx)) == 30
    idx = random_point_indices(10, 25)
    assert idx.shape == (25,)
    np.testing.assert_array_equal(np.sort(np.unique(idx)), np.arange(10))
    idx = random_point_indices(10, 25, pad_if_fewer=False)
    np.testing.assert_array_equal(np.sort(idx), np.arange(10))
    with pytest.raises(ValueError, match='empty'):
        random_point_indices(0, 5)


def test_nearest_neighbors_radius_is_inclusive():
    ref = np.array([[0., 0., 0.], [1., 0., 0.]])
    query = np.array([[0.25, 0., 0.], [0.5, 0.5, 0.], [1., 0.1, 0.]])
    dist, idx = nearest_neighbors(query, ref, max_distance=0.25)
    np.testing.assert_array_equal(idx, [0, -1, 1])
    assert np.isinf(dist[1])
    np.testing.assert_allclose(dist[[0, 2]], [0.25, 0.1])


def test_match_points_mutual():
    a = np.array([[0., 0., 0.], [0.004, 0., 0.], [1., 1., 1.]])
    b = np.array([[0.005, 0., 0.], [3., 3., 3.]])
    m_all, _ = match_points(a, b, 0.0075, mutual=False)
    np.testing.assert_array_equal(m_all, [[0, 0], [1, 0]])
    m_mut, d = match_points(a, b, 0.0075, mutual=True)
    np.testing.assert_array_equal(m_mut, [[1, 0]])
    np.testing.assert_allclose(d, [0.001])
    empty, _ = match_points(a, b + 10, 0.0075)
    assert empty.shape == (0, 2) and empty.dtype == np.int64


def test_voxelize_hand_computed():
    points = np.array([[0.001, 0.001, 0.001],
                       [0.004, 0.0049, 0.002],
                       [0.006, 0.001, 0.001],
                       [-0.001, 0.0, 0.0]])
    grid = voxelize(points, 0.005)
    # floor(p / 5 mm) = (0,0,0), (0,0,0), (1,0,0), (-1,0,0); shifted by (-1, 0, 0)
    np.testing.assert_array_equal(grid.coords, [[0, 0, 0], [1, 0, 0], [2, 0, 0]])
    np.testing.assert_array_equal(grid.point2voxel, [1, 1, 2, 0])
    np.testing.assert_allclose(grid.voxel_origin, [-0.005, 0., 0.])
    np.testing.assert_array_equal(grid.num_points, [1, 2, 1])
    np.testing.assert_allclose(grid.voxel_points[1], points[:2].mean(0), rtol=1e-6)
    assert grid.coords.dtype == np.int32 and grid.point2voxel.dtype == np.int64


def test_voxel_means_are_the_sequential_sums_bit_for_bit():
    """The voxel means equal the float64 sums accumulated in point order (np.add.at),
    bit for bit, so that every pipeline reproduces its earlier voxel points."""
    rng = np.random.default_rng(7)
    points = rng.normal(0.0, 0.1, size=(20000, 3)).astype(np.float32)
    grid = voxelize(points, 0.005)
    sums = np.zeros((len(grid.coords), 3))
    np.add.at(sums, grid.point2voxel, points.astype(np.float64))
    expected = (sums / grid.num_points[:, None]).astype(np.float32)
    assert np.array_equal(grid.voxel_points, expected)


def test_voxelize_invariants_random():
    rng = np.random.default_rng(3)
    points = rng.uniform(-0.2, 0.3, size=(3000, 3)).astype(np.float32)
    s = 0.02
    grid = voxelize(points, s)
    assert grid.coords.min() == 0 and np.all(grid.coords.min(0) == 0)
    assert len(np.unique(grid.coords, axis=0)) == len(grid.coords)
    # every point lies inside its voxel's cell
    lo = grid.voxel_origin + grid.coords[grid.point2voxel] * s
    assert np.all(points >= lo - 1e-6) and np.all(points < lo + s + 1e-6)
    # same floor cell <=> same voxel
    cell = np.floor(points.astype(np.float64) / s).astype(np.int64)
    _, inverse = np.unique(cell, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    pairs = np.unique(np.stack([inverse, grid.point2voxel], 1), axis=0)
    assert len(pairs) == len(grid.coords) == inverse.max() + 1
    with pytest.raises(ValueError, match='empty'):
        voxelize(np.zeros((0, 3)), s)


@pytest.mark.parametrize('spread', [0.3, 1000.0])  # dense counting / sorting path
def test_voxelize_dense_and_sorted_paths_equal_np_unique(spread):
    from graspcontrast_mm.structures.points import _unique_keys
    rng = np.random.default_rng(8)
    points = rng.uniform(0, spread, size=(5000, 3))
    points[::7] = points[0]  # many points in one voxel
    grid = voxelize(points, 0.01)
    cell = np.floor(points / 0.01).astype(np.int64)
    cell -= cell.min(0)
    dims = cell.max(0) + 1
    keys = np.ravel_multi_index(cell.T, dims)
    unique, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    got = _unique_keys(keys, int(np.prod(dims)))
    for a, b in zip(got, (unique, inverse.reshape(-1), counts)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(grid.point2voxel, inverse.reshape(-1))
    np.testing.assert_array_equal(grid.num_points, counts)
    np.testing.assert_array_equal(grid.coords, np.stack(np.unravel_index(unique, dims), 1))
