"""Exact depth, label and shading rendering of a table scene with Open3D ray casting.

Frames: world = table frame (z up, table top at z = 0); camera = OpenCV. Pixel ``(u, v)``
(column, row) is the ray through ``((u - cx) / fx, (v - cy) / fy, 1)`` in the camera frame,
the same convention as depth back-projection, so ``depth[v, u] * K^-1 [u, v, 1]`` is the hit
point in the camera frame exactly (before noise and quantisation).
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Sequence, Tuple

import numpy as np

from .objects import ObjectModel

__all__ = ['RenderOutput', 'SceneRenderer', 'TABLE_HALF_EXTENT', 'TABLE_THICKNESS']

#: Half side of the rendered table top (metres) and its thickness (metres).
TABLE_HALF_EXTENT = 0.6
TABLE_THICKNESS = 0.05


@dataclasses.dataclass
class RenderOutput:
    """One rendered view.

    Attributes:
        depth: float32 (H, W) z-depth in the camera frame, metres; 0 where no surface is hit.
        label: uint8 (H, W) ``obj_id + 1`` of the visible object, 0 for table / background.
        cos_incidence: float32 (H, W) |cos| of the angle between the ray and the surface
            normal (1 = frontal, 0 = grazing); 0 where nothing is hit.
        shading: uint8 (H, W, 3) Lambert-shaded colour image (BGR) for the optional rgb,
            or None.
    """
    depth: np.ndarray
    label: np.ndarray
    cos_incidence: np.ndarray
    shading: np.ndarray


def _object_colour(obj_id: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence([777, obj_id]))
    return rng.uniform(60, 240, size=3)


class SceneRenderer:
    """Ray-casting renderer of the table plus posed objects.

    Args:
        models: Library objects in the scene.
        poses: float64 (n_obj, 4, 4) ``T_world_obj`` of each object.
    """

    def __init__(self, models: Sequence[ObjectModel], poses: np.ndarray) -> None:
        import open3d as o3d
        self._o3d = o3d
        self._ray_cache: dict = {}
        self._scene = o3d.t.geometry.RaycastingScene()
        # geometry id -> (label value, colour)
        self._geom_label: Dict[int, int] = {}
        self._geom_colour: Dict[int, np.ndarray] = {}
        h, t = TABLE_HALF_EXTENT, TABLE_THICKNESS
        table_v = np.array([[x, y, z] for x in (-h, h) for y in (-h, h) for z in (-t, 0.0)],
                           np.float32)
        table_f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                            [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]],
                           np.uint32)
        gid = self._scene.add_triangles(o3d.core.Tensor(table_v), o3d.core.Tensor(table_f))
        self._geom_label[gid] = 0
        self._geom_colour[gid] = np.array([150.0, 170.0, 185.0])
        for model, pose in zip(models, poses):
            v = model.vertices @ pose[:3, :3].T + pose[:3, 3]
            gid = self._scene.add_triangles(
                o3d.core.Tensor(v.astype(np.float32)),
                o3d.core.Tensor(np.asarray(model.faces, np.uint32)))
            self._geom_label[gid] = model.obj_id + 1
            self._geom_colour[gid] = _object_colour(model.obj_id)
        max_gid = max(self._geom_label) + 1
        self._label_lut = np.zeros(max_gid + 1, np.uint8)
        self._colour_lut = np.zeros((max_gid + 1, 3), np.float32)
        for g, lab in self._geom_label.items():
            self._label_lut[g] = lab
            self._colour_lut[g] = self._geom_colour[g]

    def _pixel_rays(self, K: np.ndarray, image_size: Tuple[int, int]):
        key = (K.tobytes(), tuple(image_size))
        cached = self._ray_cache.get(key)
        if cached is None:
            width, height = image_size
            u, v = np.meshgrid(np.arange(width, dtype=np.float64),
                               np.arange(height, dtype=np.float64))
            dirs = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1],
                             np.ones_like(u)], -1).reshape(-1, 3)
            inv_norm = 1.0 / np.linalg.norm(dirs, axis=1)
            cached = (dirs, inv_norm.astype(np.float32))
            self._ray_cache = {key: cached}
        return cached

    def render(self, T_world_cam: np.ndarray, K: np.ndarray,
               image_size: Tuple[int, int], with_shading: bool = True) -> RenderOutput:
        """Render one view.

        Args:
            T_world_cam: float64 (4, 4) camera pose in the table frame.
            K: float64 (3, 3) intrinsics in pixels.
            image_size: (width, height) in pixels.
            with_shading: Also compute the shaded colour image (else ``shading`` is None).

        Returns:
            RenderOutput: depth (metres), label, incidence and shading of the view.
        """
        width, height = image_size
        dirs_cam, inv_norm = self._pixel_rays(np.asarray(K, np.float64), image_size)
        R, t = T_world_cam[:3, :3], T_world_cam[:3, 3]
        rays = np.empty((len(dirs_cam), 6), np.float32)
        rays[:, :3] = t
        rays[:, 3:] = dirs_cam @ R.T
        ans = self._scene.cast_rays(self._o3d.core.Tensor.from_numpy(rays), nthreads=0)
        t_hit = ans['t_hit'].numpy()  # parametric: hit = origin + t_hit * dir
        hit = np.isfinite(t_hit)
        # dir has a unit z component in the camera frame, so t_hit is the z-depth.
        depth = np.where(hit, t_hit, np.float32(0.0))
        gids = ans['geometry_ids'].numpy().astype(np.int64)
        gids[~hit] = len(self._label_lut) - 1
        label = self._label_lut[gids]
        normals = ans['primitive_normals'].numpy()
        cos = np.abs(np.einsum('ij,ij->i', rays[:, 3:], normals)) * inv_norm
        cos[~hit] = 0.0
        shading = None
        if with_shading:
            light = (0.25 + 0.75 * cos).astype(np.float32)
            shading = np.clip(self._colour_lut[gids] * light[:, None], 0, 255)
            shading[~hit] = 0
            shading = shading.astype(np.uint8).reshape(height, width, 3)
        return RenderOutput(
            depth=depth.reshape(height, width),
            label=label.reshape(height, width),
            cos_incidence=cos.astype(np.float32).reshape(height, width),
            shading=shading)
