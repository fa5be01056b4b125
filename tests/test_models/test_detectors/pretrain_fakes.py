"""Fake packed view pairs and a small backbone config for the pre-trainer tests."""
import math
from typing import List

import numpy as np
import torch
import torch.nn as nn
from mmdet3d.structures import Det3DDataSample

from mmengine.registry import Registry

from graspcontrast_mm.registry import MODELS

__all__ = ['make_scene', 'make_pair_sample', 'make_batch', 'backbone_cfg',
           'EchoBackbone', 'TEST_MODELS', 'ECHO_BACKBONE', 'LINEAR_HEAD']

#: Test-only modules, in a child of the package's ``MODELS`` (built from configs with the
#: scope prefix, e.g. ``type=ECHO_BACKBONE``), so the package's registry stays clean.
TEST_MODELS = Registry('test-only model', parent=MODELS, scope='graspcontrast_mm_tests')
ECHO_BACKBONE = 'graspcontrast_mm_tests.EchoBackbone'
LINEAR_HEAD = 'graspcontrast_mm_tests.LinearHead'


class EchoBackbone(nn.Module):
    """Returns the input features times a learnable scalar (for index checks)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.calls: List[int] = []

    def forward(self, feats, coords, batch_size):
        self.calls.append(int(batch_size))
        return feats * self.scale


TEST_MODELS.register_module('EchoBackbone', module=EchoBackbone)
TEST_MODELS.register_module('LinearHead', module=nn.Linear)


def backbone_cfg(out_channels: int = 16) -> dict:
    """Config of a small real SparseUNet (features = ones, one input channel)."""
    return dict(type='SparseUNet', in_channels=1, out_channels=out_channels,
                planes=(8, 8, 16, 16, 16, 16, 8, 8), init_dim=8)


def make_scene(seed: int, voxel_size: float = 0.01) -> np.ndarray:
    """World points (metres) of a table top (z = 0) with three boxes on it.

    About one point per voxel face cell so that a view has ~1000 voxels.
    """
    rng = np.random.default_rng(seed)
    step = voxel_size * 0.9
    g = np.arange(0.0, 0.24, step)
    xx, yy = np.meshgrid(g, g, indexing='ij')
    parts = [np.stack([xx.ravel(), yy.ravel(), np.zeros(xx.size)], 1)]
    for _ in range(3):
        size = rng.uniform(0.03, 0.07, 3)
        lo = np.append(rng.uniform(0.0, 0.24 - size[:2]), 0.0)
        # the five visible faces of the box, sampled on a grid
        for axis in range(3):
            for side in ((0, 1) if axis < 2 else (1, )):
                u, v = [a for a in range(3) if a != axis]
                gu = np.arange(0.0, size[u], step)
                gv = np.arange(0.0, size[v], step)
                uu, vv = np.meshgrid(gu, gv, indexing='ij')
                face = np.zeros((uu.size, 3))
                face[:, u] = uu.ravel()
                face[:, v] = vv.ravel()
                face[:, axis] = side * size[axis]
                parts.append(lo + face)
    pts = np.concatenate(parts, 0)
    pts += rng.normal(0.0, 0.0005, pts.shape)
    return pts.astype(np.float32)


def _rot_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _voxelize(points: np.ndarray, voxel_size: float):
    grid = np.floor((points - points.min(0)) / voxel_size).astype(np.int64)
    coords, point2voxel = np.unique(grid, axis=0, return_inverse=True)
    return coords.astype(np.int32), point2voxel.reshape(-1)


def make_pair_sample(world: np.ndarray, seed: int, num_key_points: int = 64,
                     angle: float = math.radians(30), voxel_size: float = 0.01,
                     keep: float = 0.9, scene_id: int = 0) -> dict:
    """A packed view pair of one scene, in the layout of ``PackViewPairInputs``.

    View ``v`` holds a random ``keep`` fraction of the world points, moved by the
    rigid transform ``T_v`` (view 0: identity; view 1: rotation ``angle`` about z and a
    translation), so ``p_world = T_v^-1 p_view``. Matches are the key points seen by
    both views, ``key_points_world`` their world positions.
    """
    rng = np.random.default_rng(seed)
    transforms = [(np.eye(3), np.zeros(3)),
                  (_rot_z(angle), np.array([0.05, -0.02, 0.01]))]
    views, index_maps = [], []
    for rot, trans in transforms:
        idx = np.sort(rng.choice(len(world), int(keep * len(world)), replace=False))
        pts = world[idx] @ rot.T + trans
        coords, p2v = _voxelize(pts, voxel_size)
        views.append(dict(points=torch.from_numpy(pts.astype(np.float32)),
                          coords=torch.from_numpy(coords),
                          feats=torch.ones(len(coords), 1),
                          point2voxel=torch.from_numpy(p2v)))
        lookup = np.full(len(world), -1)
        lookup[idx] = np.arange(len(idx))
        index_maps.append(lookup)
    common = np.nonzero((index_maps[0] >= 0) & (index_maps[1] >= 0))[0]
    key = np.sort(rng.choice(common, min(num_key_points, len(common)),
                             replace=False))
    matches = np.stack([index_maps[0][key], index_maps[1][key]], 1)
    inputs = dict(views=views, matches=torch.from_numpy(matches),
                  key_points_world=torch.from_numpy(world[key]))
    sample = Det3DDataSample()
    sample.set_metainfo(dict(scene_id=scene_id, frame_ids=[0, 1],
                             sample_idx=seed))
    return dict(inputs=inputs, data_samples=sample)


def make_batch(samples: List[dict]) -> dict:
    """List-collated batch (``inputs`` and ``data_samples`` as lists)."""
    return dict(inputs=[s['inputs'] for s in samples],
                data_samples=[s['data_samples'] for s in samples])
