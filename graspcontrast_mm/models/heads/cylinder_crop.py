"""Cylinder crop-and-group of GSNet in pure torch (CPU and GPU, no compiled ops).

For every seed ``c`` with gripper rotation ``R`` (columns = gripper axes in the camera
frame), a point ``p`` is inside the seed's cylinder when its gripper-frame coordinates
``q = R^T (p - c)`` satisfy ``q_y^2 + q_z^2 < radius^2`` and ``hmin < q_x < hmax`` (the
cylinder axis is the approach direction, gripper x). Up to ``num_samples`` points are
taken in increasing point index (as the reference CUDA kernel does); a seed with fewer
points repeats its first one. The grouped coordinates are ``q / radius`` (gripper frame,
normalised) and are concatenated in front of the grouped features.
"""
from typing import Optional, Sequence

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from graspcontrast_mm.registry import MODELS

__all__ = ['cylinder_query', 'cylinder_group', 'CylinderCropHead']


def _check_query_inputs(points: Tensor, centers: Tensor, rotations: Tensor) -> None:
    if points.dim() != 3 or points.shape[-1] != 3:
        raise ValueError(f'points must be (B, N, 3), got {tuple(points.shape)}')
    if centers.dim() != 3 or centers.shape[-1] != 3 or centers.shape[0] != points.shape[0]:
        raise ValueError(f'centers must be (B, M, 3) with B = {points.shape[0]}, got '
                         f'{tuple(centers.shape)}')
    if tuple(rotations.shape) != (*centers.shape[:2], 3, 3):
        raise ValueError(f'rotations must be {(*centers.shape[:2], 3, 3)}, got '
                         f'{tuple(rotations.shape)}')
    if points.shape[1] == 0:
        raise ValueError('cannot query an empty point set')


@torch.no_grad()
def cylinder_query(points: Tensor,
                   centers: Tensor,
                   rotations: Tensor,
                   *,
                   radius: float = 0.05,
                   hmin: float = -0.02,
                   hmax: float = 0.04,
                   num_samples: int = 16,
                   chunk_size: int = 256) -> Tensor:
    """Indices of the points inside the gripper-aligned cylinder of every centre.

    Args:
        points: ``(B, N, 3)`` candidate points, metres, camera frame.
        centers: ``(B, M, 3)`` cylinder centres (seeds), metres, camera frame.
        rotations: ``(B, M, 3, 3)`` gripper rotations ``T_cam_gripper[:3, :3]``; the
            cylinder axis is the first column (approach).
        radius: Cylinder radius, metres (0.05).
        hmin: Lower bound along the approach, metres (-0.02, behind the centre).
        hmax: Upper bound along the approach, metres (0.04, in front of the centre).
        num_samples: Points per cylinder ``S`` (16).
        chunk_size: Centres processed at once (memory ``B * chunk * N * 3`` floats).

    Returns:
        Tensor: int64 ``(B, M, S)`` indices into ``points``: the first ``S`` points inside
        (ascending index), padded with the first one; a cylinder holding no point gets
        the point nearest to its centre ``S`` times.
    """
    _check_query_inputs(points, centers, rotations)
    if num_samples < 1:
        raise ValueError(f'num_samples must be >= 1, got {num_samples}')
    if int(chunk_size) < 1:
        raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
    chunk_size = int(chunk_size)
    b, n, _ = points.shape
    m = centers.shape[1]
    out = torch.empty((b, m, num_samples), dtype=torch.long, device=points.device)
    if m == 0:
        return out
    arange = torch.arange(n, device=points.device)
    k = min(num_samples, n)
    for start in range(0, m, chunk_size):
        stop = min(start + chunk_size, m)
        diff = points[:, None, :, :] - centers[:, start:stop, None, :]  # (B, m, N, 3)
        local = torch.einsum('bmnk,bmkj->bmnj', diff, rotations[:, start:stop])
        inside = (local[..., 1] ** 2 + local[..., 2] ** 2 < radius ** 2) \
            & (local[..., 0] > hmin) & (local[..., 0] < hmax)
        key = torch.where(inside, arange, n)
        first_k = torch.topk(key, k, dim=-1, largest=False, sorted=True).values
        if k < num_samples:
            first_k = torch.cat([first_k, first_k.new_full(
                (*first_k.shape[:-1], num_samples - k), n)], dim=-1)
        first = first_k[..., 0].clone()  # (B, m)
        empty = first >= n
        if bool(empty.any()):  # an empty cylinder takes the point nearest to its centre
            bi, mi = empty.nonzero(as_tuple=True)
            first[bi, mi] = (diff[bi, mi] ** 2).sum(-1).argmin(dim=-1)
        out[:, start:stop] = torch.where(first_k < n, first_k, first[..., None])
    return out


def cylinder_group(points: Tensor,
                   centers: Tensor,
                   rotations: Tensor,
                   features: Tensor,
                   idx: Tensor,
                   *,
                   radius: float = 0.05) -> Tensor:
    """Gather normalised gripper-frame coordinates and features of grouped points.

    Args:
        points: ``(B, N, 3)`` points, metres, camera frame.
        centers: ``(B, M, 3)`` cylinder centres, camera frame.
        rotations: ``(B, M, 3, 3)`` gripper rotations (columns = gripper axes).
        features: ``(B, C, N)`` point features (channel first).
        idx: int64 ``(B, M, S)`` from :func:`cylinder_query`.
        radius: Normaliser of the coordinates, metres.

    Returns:
        Tensor: ``(B, 3 + C, M, S)``: ``R^T (p - c) / radius`` then the features.
    """
    b, m, s = idx.shape
    if features.dim() != 3 or features.shape[0] != b or features.shape[2] != points.shape[1]:
        raise ValueError(f'features must be (B, C, N) = ({b}, C, {points.shape[1]}), got '
                         f'{tuple(features.shape)}')
    local = _local_coordinates(points, centers, rotations, idx, radius)
    return torch.cat([local.permute(0, 3, 1, 2), _gather_columns(features, idx)], dim=1)


def _local_coordinates(points: Tensor, centers: Tensor, rotations: Tensor, idx: Tensor,
                       radius: float) -> Tensor:
    """``(B, M, S, 3)`` gripper-frame coordinates ``R^T (p - c) / radius`` of the grouped
    points (arguments of :func:`cylinder_group`)."""
    b, m, s = idx.shape
    flat = idx.reshape(b, m * s)
    grouped_xyz = torch.gather(points, 1, flat[..., None].expand(-1, -1, 3)).view(b, m, s, 3)
    return torch.matmul((grouped_xyz - centers[:, :, None, :]) / radius, rotations)


def _gather_columns(features: Tensor, idx: Tensor) -> Tensor:
    """``(B, C, M, S)`` columns ``idx`` (B, M, S) of channel-first ``features`` (B, C, N)."""
    b, m, s = idx.shape
    c = features.shape[1]
    flat = idx.reshape(b, 1, m * s).expand(-1, c, -1)
    return torch.gather(features, 2, flat).view(b, c, m, s)


@MODELS.register_module()
class CylinderCropHead(BaseModule):
    """GSNet ``CloudCrop``: cylinder grouping + shared MLP + max-pool per seed.

    As in the reference, the cylinder of every seed gathers among the SEEDS of its cloud
    (the ``M`` farthest-point-sampled graspable points), unless other ``points`` /
    ``point_feats`` are passed.

    Args:
        in_channels: Seed feature channels ``C`` (512); the first MLP layer takes
            ``3 + C`` (515).
        mlp_channels: Output widths of the shared MLP layers (1x1 ``Conv2d`` without bias
            + ``BatchNorm2d`` + ReLU each), default ``(256, 256)``.
        radius: Cylinder radius, metres (0.05).
        hmin: Cylinder start along the approach, metres (-0.02).
        hmax: Cylinder end along the approach, metres (0.04).
        num_samples: Points per cylinder (16).
        chunk_size: Seeds per query chunk (memory bound, no effect on results).
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 in_channels: int = 512,
                 mlp_channels: Sequence[int] = (256, 256),
                 radius: float = 0.05,
                 hmin: float = -0.02,
                 hmax: float = 0.04,
                 num_samples: int = 16,
                 chunk_size: int = 256,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not radius > 0 or not hmax > hmin:
            raise ValueError(f'need radius > 0 and hmax > hmin, got radius={radius}, '
                             f'hmin={hmin}, hmax={hmax}')
        if len(mlp_channels) == 0:
            raise ValueError('mlp_channels needs at least one layer')
        if int(num_samples) < 1 or int(chunk_size) < 1:
            raise ValueError(f'need num_samples >= 1 and chunk_size >= 1, got '
                             f'num_samples={num_samples}, chunk_size={chunk_size}')
        self.in_channels = int(in_channels)
        self.out_channels = int(mlp_channels[-1])
        self.radius, self.hmin, self.hmax = float(radius), float(hmin), float(hmax)
        self.num_samples = int(num_samples)
        self.chunk_size = int(chunk_size)
        layers = []
        c = 3 + self.in_channels
        for width in mlp_channels:
            layers += [nn.Conv2d(c, int(width), 1, bias=False), nn.BatchNorm2d(int(width)),
                       nn.ReLU(inplace=True)]
            c = int(width)
        self.mlps = nn.Sequential(*layers)

    def forward(self,
                seed_xyz: Tensor,
                seed_feats: Tensor,
                rotations: Tensor,
                points: Optional[Tensor] = None,
                point_feats: Optional[Tensor] = None) -> Tensor:
        """Crop, encode and pool.

        Args:
            seed_xyz: ``(B, M, 3)`` seed positions, metres, camera frame.
            seed_feats: ``(B, C, M)`` seed features.
            rotations: ``(B, M, 3, 3)`` gripper rotations of the seeds' approach views.
            points: optional ``(B, N, 3)`` points to group from (default: the seeds).
            point_feats: ``(B, C, N)`` features of ``points`` (required with ``points``).

        Returns:
            Tensor: ``(B, mlp_channels[-1], M)`` per-seed crop features.
        """
        if points is None:
            points, point_feats = seed_xyz, seed_feats
        elif point_feats is None:
            raise ValueError('point_feats are required when points are given')
        if point_feats.dim() != 3 or point_feats.shape[1] != self.in_channels:
            raise ValueError(f'features must be (B, {self.in_channels}, N), got '
                             f'{tuple(point_feats.shape)}')
        idx = cylinder_query(points.detach(), seed_xyz.detach(), rotations.detach(),
                             radius=self.radius, hmin=self.hmin, hmax=self.hmax,
                             num_samples=self.num_samples, chunk_size=self.chunk_size)
        # The first layer, a 1x1 conv of cylinder_group's (3 + C) channels, is linear, so its
        # feature part commutes with the gather: project each point's C features once and
        # gather the projections, instead of gathering C features per (seed, sample).
        # Same function as self.mlps(cylinder_group(...)); about 16x fewer FLOPs there.
        weight = self.mlps[0].weight[:, :, 0, 0]  # (W1, 3 + C)
        projected = torch.matmul(weight[:, 3:], point_feats)  # (B, W1, N)
        local = _local_coordinates(points, seed_xyz, rotations, idx, self.radius)
        first = _gather_columns(projected, idx) + torch.einsum(
            'oc,bmsc->boms', weight[:, :3], local)
        return self.mlps[1:](first).max(dim=-1).values
