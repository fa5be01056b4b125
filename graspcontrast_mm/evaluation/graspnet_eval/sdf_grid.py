"""Vectorised signed-distance look-ups on a dexnet ``Sdf3D``, bit for bit.

graspnetAPI's force-closure test spends almost all of its time in ``Sdf3D.__getitem__``,
one interpolated look-up per Python call. :class:`SdfGrid` answers the same question for
many points at once and returns the *same floating-point numbers*: every arithmetic step of
dexnet's look-up is repeated in the same order on arrays, so no tolerance is needed
anywhere downstream. The rules it reproduces (grid coordinates, cell units):

* in bounds (``0 <= c < dims`` on every axis): ``c`` is clamped to ``[0, dims - 1]``,
  the 8 corners of its cell are visited in dexnet's fixed order (corners past the last
  cell read 0), and ``sd = sum_i w_i * v_i`` accumulated left to right with
  ``w_i = prod_k (1 - |p_ik - c_k|)``;
* out of bounds: the nearest (in grid units, first index on ties) of the ~1000 surface
  cells stored in the model (``surface_for_signed_val``) is found and
  ``sd = |T(s) - T(c)| + sdf[s]``, ``T`` the grid -> object transform applied to float32
  copies of the coordinates (as ``Sdf3D.transform_pt_grid_to_obj`` does);
* grid <-> object transforms: points are cast to float32 first, then ``scale * x +
  translation`` (dexnet's models have an identity rotation; other rotations are refused,
  see :attr:`SdfGrid.exact`).

Floating-point sums of three terms are evaluated left to right, as numpy's ``norm`` /
``dot`` of 3-vectors do on the BLAS builds checked by :func:`check_numerics`.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

__all__ = ['SdfGrid', 'check_numerics', 'row_norm']

# corner i of a cell takes the upper index along an axis when i is listed here
# (dexnet's Sdf3D.max_coords_x / _y / _z)
_UPPER = (np.isin(np.arange(8), (1, 4, 6, 7)), np.isin(np.arange(8), (2, 4, 5, 7)),
          np.isin(np.arange(8), (3, 5, 6, 7)))


def row_norm(v: np.ndarray) -> np.ndarray:
    """Euclidean norm of the rows of a (..., 3) array, summed left to right."""
    return np.sqrt((v[..., 0] * v[..., 0] + v[..., 1] * v[..., 1]) + v[..., 2] * v[..., 2])


def _row_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1]) + a[..., 2] * b[..., 2]


_NUMERICS_OK: Optional[bool] = None


def check_numerics(num: int = 256, seed: int = 0) -> bool:
    """Whether this numpy / BLAS build sums 3-vectors as :func:`row_norm` assumes.

    Compares :func:`row_norm` and a left-to-right dot product with ``np.linalg.norm`` and
    ``ndarray.dot`` (the calls dexnet makes per point) on random vectors. Cached.
    """
    global _NUMERICS_OK
    if _NUMERICS_OK is None:
        rng = np.random.default_rng(seed)
        a = rng.normal(size=(num, 3)) * rng.uniform(1e-4, 1e2, (num, 1))
        b = rng.normal(size=(num, 3))
        ok = all(np.linalg.norm(a[i]) == row_norm(a[i]) and
                 np.linalg.norm(a[i].reshape(3, 1)) == row_norm(a[i]) and
                 a[i].dot(b[i]) == _row_dot(a[i], b[i]) for i in range(num))
        _NUMERICS_OK = bool(ok and np.array_equal(np.linalg.norm(a, axis=-1), row_norm(a)))
    return _NUMERICS_OK


def _affine_parts(transform: Any):
    """(scale (3,), translation (3,)) of an autolab_core transform whose matrix is diagonal
    in its 3x3 block, else None."""
    m = np.asarray(transform.matrix, np.float64)
    block = m[:3, :3]
    if np.count_nonzero(block - np.diag(np.diag(block))) or \
            not np.array_equal(m[3], [0.0, 0.0, 0.0, 1.0]):
        return None
    return np.diag(block).copy(), m[:3, 3].copy()


class SdfGrid:
    """A dexnet ``Sdf3D`` prepared for vectorised look-ups.

    Args:
        sdf: the ``sdf`` of a dexnet ``GraspableObject3D`` (read only; not modified).

    Attributes:
        exact (bool): whether the look-ups reproduce dexnet bit for bit (identity SDF
            rotation and a numpy build that passes :func:`check_numerics`). Callers fall
            back to dexnet itself when it is False.
        surface_thresh (float): ``|sd|`` below which a point is on the surface, metres.
        scale_to_grid (float): object metres -> grid cells (``T_world_grid_.scale``).
    """

    def __init__(self, sdf: Any) -> None:
        self.data = np.asarray(sdf.data_)
        self.dims = np.asarray(sdf.dims_, dtype=np.int64)
        self.surface_thresh = sdf.surface_thresh_
        self.samples = np.asarray(sdf.surface_for_signed_val)
        self.scale_to_grid = sdf.T_world_grid_.scale
        to_grid = _affine_parts(sdf.T_world_grid_)
        to_obj = _affine_parts(sdf.T_grid_world_)
        rot_ok = all(np.array_equal(np.asarray(t.rotation), np.eye(3))
                     for t in (sdf.T_world_grid_, sdf.T_grid_world_))
        self.exact = bool(to_grid is not None and to_obj is not None and rot_ok and
                          self.data.ndim == 3 and self.samples.ndim == 2 and
                          len(self.samples) > 0 and check_numerics())
        if to_grid is not None and to_obj is not None:
            (self._g_scale, self._g_shift), (self._o_scale, self._o_shift) = to_grid, to_obj
        self._tree = None
        self._sample_values = None
        if self.exact:
            from scipy.spatial import cKDTree
            s = self.samples
            # the sample is drawn with replacement: the tree holds each cell once, mapped to
            # its first index (the one np.argmin returns among identical distances)
            _, first = np.unique(s, axis=0, return_index=True)
            self._unique_first = np.sort(first)
            self._tree = cKDTree(s[self._unique_first].astype(np.float64))
            self._sample_values = self.data[s[:, 0], s[:, 1], s[:, 2]]
            self._samples_obj = self.to_obj(s)

    # ----------------------------------------------------------------- transforms
    def to_grid(self, points: np.ndarray) -> np.ndarray:
        """Object-frame points (..., 3) (metres) -> grid coordinates, as
        ``Sdf3D.transform_pt_obj_to_grid`` (float32 input)."""
        x = np.asarray(points).astype(np.float32).astype(np.float64)
        return self._g_scale * x + self._g_shift

    def to_obj(self, coords: np.ndarray) -> np.ndarray:
        """Grid coordinates (..., 3) -> object-frame points, as
        ``Sdf3D.transform_pt_grid_to_obj`` (float32 input)."""
        x = np.asarray(coords).astype(np.float32).astype(np.float64)
        return self._o_scale * x + self._o_shift

    @staticmethod
    def direction_to_obj(vectors: np.ndarray) -> np.ndarray:
        """Grid-frame directions -> object frame (identity rotation; float32 input)."""
        return np.asarray(vectors).astype(np.float32).astype(np.float64)

    # ----------------------------------------------------------------- look-ups
    def values(self, coords: np.ndarray) -> np.ndarray:
        """Signed distances (metres) at grid coordinates, as ``Sdf3D.__getitem__``.

        Args:
            coords: (N, 3) float64 grid coordinates (finite).

        Returns:
            np.ndarray: (N,) float64.
        """
        coords = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
        out = np.empty(len(coords), dtype=np.float64)
        outside = (coords < 0).any(axis=1) | (coords >= self.dims).any(axis=1)
        inside = ~outside
        if inside.any():
            out[inside] = self._interpolate(coords[inside])
        if outside.any():
            out[outside] = self._outside(coords[outside])
        return out

    def on_surface(self, values: np.ndarray) -> np.ndarray:
        """``|sd| < surface_thresh`` (dexnet's ``Sdf3D.on_surface``)."""
        return np.abs(values) < self.surface_thresh

    def _interpolate(self, c: np.ndarray) -> np.ndarray:
        top = (self.dims - 1).astype(np.float64)
        cb = np.where(c > top, top, c)          # min(c, dims - 1)
        cb = np.where(cb > 0, cb, 0.0)          # max(0, .)
        lo = np.floor(cb)
        corners_lo = lo.astype(np.int64)
        corners_hi = (lo + 1).astype(np.int64)
        data, dims = self.data, self.dims
        sd = np.zeros(len(c), dtype=np.float64)
        for i in range(8):
            p = np.stack([corners_hi[:, k] if _UPPER[k][i] else corners_lo[:, k]
                          for k in range(3)], axis=1)
            valid = (p < dims).all(axis=1)      # p >= 0 always holds here
            pc = np.where(valid[:, None], p, 0)
            v = np.where(valid, data[pc[:, 0], pc[:, 1], pc[:, 2]], 0.0)
            a = -np.abs(p - cb) + 1
            w = (a[:, 0] * a[:, 1]) * a[:, 2]
            sd = sd + w * v
        return sd

    def _nearest_sample(self, c: np.ndarray) -> np.ndarray:
        """Index of the nearest surface sample of every row (numpy argmin semantics)."""
        first = self._unique_first
        if len(first) == 1:
            return np.full(len(c), first[0], dtype=np.int64)
        _, idx = self._tree.query(c, k=2)
        idx = first[idx]
        best = idx[:, 0].copy()
        # exact distances of the two candidates; near ties are settled by a full scan
        d0 = row_norm(self.samples[idx[:, 0]] - c)
        d1 = row_norm(self.samples[idx[:, 1]] - c)
        unsure = np.abs(d1 - d0) <= 1e-9 * np.maximum(1.0, d0)
        for r in np.flatnonzero(unsure):
            best[r] = int(np.argmin(row_norm(self.samples - c[r])))
        return best

    def _outside(self, c: np.ndarray) -> np.ndarray:
        j = self._nearest_sample(c)
        diff = self._samples_obj[j] - self.to_obj(c)
        return row_norm(diff) + self._sample_values[j]
