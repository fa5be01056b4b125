"""Point-set operations on numpy arrays: sampling, nearest-neighbour matching, voxelization.

All coordinates are metres in whatever frame the caller passes; the functions are frame
agnostic but the two sets given to a matching function must share one frame.
"""
from typing import NamedTuple, Optional, Tuple

import numpy as np
from scipy.spatial import cKDTree

__all__ = [
    'farthest_point_sample', 'random_point_indices', 'nearest_neighbors',
    'match_points', 'VoxelGrid', 'voxelize'
]


def _as_points(points: np.ndarray, name: str = 'points') -> np.ndarray:
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f'{name} must have shape (N, 3), got {points.shape}')
    return points


def farthest_point_sample(points: np.ndarray, num_samples: int, *,
                          start_index: int = 0) -> np.ndarray:
    """Indices of a farthest point sample (Open3D ``farthest_point_down_sample``).

    Deterministic: the first sample is ``points[start_index]``; every next sample is the
    point farthest (Euclidean) from those chosen so far. When ``num_samples >= N`` all
    indices ``0..N-1`` are returned in order.

    Args:
        points: (N, 3) points, metres.
        num_samples: number M of samples (> 0).
        start_index: index of the first sample, ``0 <= start_index < N``.

    Returns:
        np.ndarray: int64 (min(M, N),) distinct indices into ``points``, sorted ascending
        (Open3D keeps the input order; the set equals that of the greedy FPS loop).
    """
    import open3d as o3d

    points = _as_points(points)
    n = points.shape[0]
    if num_samples <= 0:
        raise ValueError(f'num_samples must be positive, got {num_samples}')
    if num_samples >= n:
        return np.arange(n, dtype=np.int64)
    if not 0 <= start_index < n:
        raise ValueError(f'start_index must be in [0, {n}), got {start_index}')
    cloud = o3d.geometry.PointCloud(
        o3d.utility.Vector3dVector(points.astype(np.float64, copy=False)))
    # Open3D returns points, not indices: carry the index through the (float64) colour
    # channel, which is exact for integers below 2**53 and copied by the sampler.
    tag = np.zeros((n, 3), dtype=np.float64)
    tag[:, 0] = np.arange(n)
    cloud.colors = o3d.utility.Vector3dVector(tag)
    sampled = cloud.farthest_point_down_sample(int(num_samples), start_index=int(start_index))
    return np.rint(np.asarray(sampled.colors)[:, 0]).astype(np.int64)


def random_point_indices(num_points_in: int, num_samples: int, *,
                         pad_if_fewer: bool = True,
                         rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """Indices of a random subset of a point set (the GSNet sampling rule).

    With ``N >= M`` this draws ``M`` indices without replacement. With ``N < M`` and
    ``pad_if_fewer`` it keeps every point once and pads with ``M - N`` indices drawn with
    replacement, so the output always has ``M`` entries; without ``pad_if_fewer`` it returns
    a permutation of all ``N`` indices.

    Args:
        num_points_in: N, the size of the input set (> 0).
        num_samples: M (> 0).
        pad_if_fewer: pad by repetition when N < M.
        rng: a numpy Generator; None uses numpy's global RNG (``np.random``), which
            mmengine seeds per worker.

    Returns:
        np.ndarray: int64 indices, shape (M,) or (N,) (see above).
    """
    if num_points_in <= 0:
        raise ValueError(f'cannot sample from an empty point set (N={num_points_in})')
    if num_samples <= 0:
        raise ValueError(f'num_samples must be positive, got {num_samples}')
    choice = np.random.choice if rng is None else rng.choice
    if num_points_in >= num_samples:
        idx = choice(num_points_in, num_samples, replace=False)
    elif pad_if_fewer:
        extra = choice(num_points_in, num_samples - num_points_in, replace=True)
        idx = np.concatenate([np.arange(num_points_in), extra])
    else:
        idx = choice(num_points_in, num_points_in, replace=False)
    return np.asarray(idx, dtype=np.int64)


def nearest_neighbors(query: np.ndarray, reference: np.ndarray, *,
                      max_distance: float = np.inf,
                      tree: Optional[cKDTree] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Nearest neighbour in ``reference`` of every query point (scipy cKDTree).

    Args:
        query: (N, 3) points, metres.
        reference: (R, 3) points in the same frame.
        max_distance: only neighbours with distance <= this (metres) are reported.
        tree: optional prebuilt ``cKDTree(reference)``.

    Returns:
        tuple:
            - distances: float64 (N,), ``inf`` where no neighbour is within range.
            - indices: int64 (N,) indices into ``reference``, -1 where none is in range.
    """
    query = _as_points(query, 'query')
    reference = _as_points(reference, 'reference')
    n = query.shape[0]
    if n == 0 or reference.shape[0] == 0:
        return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    if tree is None:
        tree = cKDTree(reference)
    # cKDTree's bound is strict (<); widen by one ulp-ish margin to make it inclusive.
    bound = np.inf if not np.isfinite(max_distance) else np.nextafter(max_distance, np.inf)
    dist, idx = tree.query(query, k=1, distance_upper_bound=bound)
    idx = np.asarray(idx, dtype=np.int64)
    miss = ~np.isfinite(dist)
    idx[miss] = -1
    return dist, idx


def match_points(points_a: np.ndarray, points_b: np.ndarray, radius: float, *,
                 mutual: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Correspondences between two point sets given in one frame (paper eq. 2).

    Every point ``i`` of ``a`` is paired with its nearest neighbour ``j`` in ``b`` when
    ``||a_i - b_j|| <= radius``. With ``mutual`` the pair is kept only when ``i`` is also
    the nearest neighbour of ``b_j`` in ``a``, which makes the matching one-to-one.

    Args:
        points_a: (Na, 3) points, metres.
        points_b: (Nb, 3) points, same frame.
        radius: matching distance epsilon, metres (> 0).
        mutual: keep mutual nearest neighbours only.

    Returns:
        tuple:
            - matches: int64 (K, 2) rows ``(i, j)`` sorted by ``i``.
            - distances: float64 (K,) metres.
    """
    if not radius > 0:
        raise ValueError(f'match radius must be positive, got {radius}')
    points_a = _as_points(points_a, 'points_a')
    points_b = _as_points(points_b, 'points_b')
    dist_ab, idx_ab = nearest_neighbors(points_a, points_b, max_distance=radius)
    keep = idx_ab >= 0
    if mutual and keep.any():
        _, idx_ba = nearest_neighbors(points_b, points_a, max_distance=radius)
        rows = np.nonzero(keep)[0]
        keep[rows] = idx_ba[idx_ab[rows]] == rows
    rows = np.nonzero(keep)[0]
    matches = np.stack([rows, idx_ab[rows]], axis=1).astype(np.int64).reshape(-1, 2)
    return matches, dist_ab[rows]


class VoxelGrid(NamedTuple):
    """Result of :func:`voxelize`.

    Attributes:
        coords: int32 (V, 3) integer voxel coordinates, every column's minimum is 0.
        point2voxel: int64 (N,) voxel index of every input point (``coords[point2voxel]``
            is the voxel of each point).
        voxel_points: float32 (V, 3) mean of the points of each voxel, metres.
        voxel_origin: float64 (3,) metres, corner of voxel (0, 0, 0) in the input frame:
            voxel ``c`` covers ``[voxel_origin + c * s, voxel_origin + (c + 1) * s)``.
        num_points: int64 (V,) number of points per voxel.
    """
    coords: np.ndarray
    point2voxel: np.ndarray
    voxel_points: np.ndarray
    voxel_origin: np.ndarray
    num_points: np.ndarray


#: Largest dense grid (cells) :func:`_unique_keys` counts in, as a multiple of the points.
_DENSE_CELLS_PER_POINT = 8


def _unique_keys(keys: np.ndarray, num_cells: int):
    """``np.unique(keys, return_inverse=True, return_counts=True)`` for keys in
    ``[0, num_cells)``, as int64 arrays.

    When the grid is small enough (at most :data:`_DENSE_CELLS_PER_POINT` cells per key,
    or 2**22 cells) the keys are counted in a dense array instead of sorted: the same
    three arrays (sorted unique keys), several times faster for a depth camera's
    10^5-10^6 points.
    """
    if num_cells <= max(_DENSE_CELLS_PER_POINT * keys.shape[0], 1 << 22):
        per_cell = np.bincount(keys, minlength=num_cells)
        unique_keys = np.flatnonzero(per_cell)
        rank = np.zeros(num_cells, dtype=np.int64)
        rank[unique_keys] = np.arange(unique_keys.shape[0])
        return unique_keys, rank[keys], per_cell[unique_keys].astype(np.int64)
    unique_keys, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return unique_keys, inverse.reshape(-1).astype(np.int64), counts.astype(np.int64)


def voxelize(points: np.ndarray, voxel_size: float) -> VoxelGrid:
    """Quantize points into a sparse voxel grid.

    ``grid = floor(points / voxel_size)`` (a fixed lattice anchored at the frame origin,
    so two points in the same cell always share a voxel), then shifted by its per-axis
    minimum so that coordinates start at 0: ``coords = grid - grid.min(0)``; the shift is
    reported as ``voxel_origin = grid.min(0) * voxel_size``. Voxels are ordered
    lexicographically by ``(x, y, z)`` coordinates (deterministic).

    Args:
        points: (N, 3) points, metres, N > 0.
        voxel_size: edge length, metres (> 0).

    Returns:
        VoxelGrid
    """
    points = _as_points(points)
    if not voxel_size > 0:
        raise ValueError(f'voxel_size must be positive, got {voxel_size}')
    if points.shape[0] == 0:
        raise ValueError('cannot voxelize an empty point set')
    if not np.all(np.isfinite(points)):
        raise ValueError('cannot voxelize points with NaN or inf coordinates')
    pts64 = points.astype(np.float64)
    grid = np.floor(pts64 / voxel_size).astype(np.int64)
    # column by column: numpy reduces an (N, 3) array along axis 0 several times slower
    grid_min = np.array([grid[:, k].min() for k in range(3)])
    grid -= grid_min
    dims = np.array([grid[:, k].max() for k in range(3)]) + 1
    keys = np.ravel_multi_index(grid.T, dims)  # lexicographic in (x, y, z)
    unique_keys, point2voxel, counts = _unique_keys(keys, int(np.prod(dims)))
    coords = np.stack(np.unravel_index(unique_keys, dims), axis=1).astype(np.int32)
    # per-voxel sums in point order (what np.add.at computes, several times faster)
    sums = np.stack([np.bincount(point2voxel, weights=pts64[:, k],
                                 minlength=unique_keys.shape[0]) for k in range(3)], axis=1)
    voxel_points = (sums / counts[:, None]).astype(np.float32)
    return VoxelGrid(coords=coords, point2voxel=point2voxel, voxel_points=voxel_points,
                     voxel_origin=grid_min.astype(np.float64) * voxel_size,
                     num_points=counts.astype(np.int64))
