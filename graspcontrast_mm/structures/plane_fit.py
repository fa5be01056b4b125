"""Deterministic RANSAC plane fit (replaces Open3D's ``segment_plane``).

Open3D 0.20's ``PointCloud.segment_plane`` is not reproducible: with
``open3d.utility.random.seed`` set before every call, the same cloud gives one of several
planes from call to call (its parallel hypothesis loop draws from a shared generator), so
two runs of the same robot benchmark with the same seeds diverged after a capture whose
table plane came out differently. :func:`ransac_plane` draws every hypothesis from one
numpy generator up front and scores them in a fixed order: the same points and seed give
the same plane, in any process and with any number of threads.

Units are those of the points (metres everywhere in this package); the frame is the
points' frame.
"""
from typing import Optional, Tuple

import numpy as np

__all__ = ['ransac_plane']


def ransac_plane(points: np.ndarray, distance_threshold: float, num_iterations: int, *,
                 seed: int = 0, max_score_points: Optional[int] = 20000,
                 chunk: int = 32) -> Tuple[np.ndarray, np.ndarray]:
    """Dominant plane of a point set by RANSAC, refitted on its inliers.

    ``num_iterations`` hypotheses through three points each are drawn from
    ``numpy.random.default_rng(seed)`` (degenerate ones, with a repeated or collinear
    point, are skipped); each is scored by its inlier count (distance
    ``< distance_threshold``) on a fixed random subset of at most ``max_score_points``
    points (ties: the earlier hypothesis). The best one's inliers among all points are
    refitted by least squares (SVD), and the inliers of the refitted plane are returned.

    Args:
        points: (N, 3) points, N >= 3; rows with non-finite values are an error.
        distance_threshold: Inlier distance, same unit as the points, > 0.
        num_iterations: Hypotheses, >= 1.
        seed: Seed of the hypothesis draw.
        max_score_points: Points used to score hypotheses (None: all).
        chunk: Hypotheses scored at once (memory: chunk x scored points floats).

    Returns:
        tuple: ``plane`` float64 (4,) ``[a, b, c, d]`` with unit normal ``(a, b, c)``
        (sign as it comes: orient it yourself), distance ``n . p + d``; ``inliers``
        int64 indices into ``points`` of the refitted plane's inliers.

    Raises:
        ValueError: bad shape, non-finite points, fewer than 3 points, bad parameters, or
            no non-degenerate hypothesis (all drawn triples collinear).
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f'points must have shape (N, 3), got {pts.shape}')
    if len(pts) < 3:
        raise ValueError(f'a plane needs at least 3 points, got {len(pts)}')
    if not np.isfinite(pts).all():
        raise ValueError('points contain NaN or inf')
    if not distance_threshold > 0:
        raise ValueError(f'distance_threshold must be > 0, got {distance_threshold}')
    if int(num_iterations) < 1:
        raise ValueError(f'num_iterations must be >= 1, got {num_iterations}')
    rng = np.random.default_rng(int(seed))
    n = len(pts)
    # three indices per hypothesis; a repeated index gives a zero normal and is skipped
    tri = rng.integers(0, n, size=(int(num_iterations), 3))
    if max_score_points is not None and n > max_score_points:
        score_pts = pts[np.sort(rng.choice(n, int(max_score_points), replace=False))]
    else:
        score_pts = pts
    a, b, c = pts[tri[:, 0]], pts[tri[:, 1]], pts[tri[:, 2]]
    normals = np.cross(b - a, c - a)
    norms = np.linalg.norm(normals, axis=1)
    ok = norms > 1e-12 * max(1.0, float(np.abs(pts).max()) ** 2)
    if not ok.any():
        raise ValueError('no plane: every drawn point triple is collinear')
    normals = np.where(ok[:, None], normals / np.maximum(norms, 1e-300)[:, None], 0.0)
    offsets = -np.einsum('ij,ij->i', normals, a)
    counts = np.full(len(tri), -1, np.int64)
    for s in range(0, len(tri), chunk):
        dist = np.abs(score_pts @ normals[s:s + chunk].T + offsets[s:s + chunk])
        counts[s:s + chunk] = np.where(ok[s:s + chunk],
                                       (dist < distance_threshold).sum(0), -1)
    best = int(np.argmax(counts))  # first maximum: ties go to the earlier hypothesis
    inl = np.flatnonzero(np.abs(pts @ normals[best] + offsets[best]) < distance_threshold)
    if len(inl) >= 3:
        centre = pts[inl].mean(0)
        _, _, vt = np.linalg.svd(pts[inl] - centre, full_matrices=False)
        normal = vt[2]
        offset = -float(normal @ centre)
        refit = np.flatnonzero(np.abs(pts @ normal + offset) < distance_threshold)
        if len(refit) >= len(inl):  # keep the refit only when it does not lose support
            normal_out, offset_out, inl = normal, offset, refit
        else:
            normal_out, offset_out = normals[best], float(offsets[best])
    else:
        normal_out, offset_out = normals[best], float(offsets[best])
    return np.append(normal_out, offset_out), inl.astype(np.int64)
