"""Sparse-convolution UNet backbone (MinkUNet14D layout) on spconv.

The network follows the MinkUNet14D plan used by GSNet (BasicBlock residual blocks, one per
stage, a kernel-5 stem, four stride-2 downsamplings, four stride-2 upsamplings each
concatenated with the encoder feature map of the same resolution, and a 1x1 projection)
and is built from spconv layers: submanifold convs for the blocks (their output voxels are
their input voxels), strided sparse convs for the downsamplings and inverse convs (which
return exactly to the voxels of the matching downsampling's input) for the upsamplings. So
the output has one row per input voxel, in the input order.

Module names follow MinkowskiEngine's ``MinkUNet`` (``conv0p1s1``, ``block1`` ...,
``convtr4p16s2`` ..., ``final``) so that GSNet checkpoints can be mapped key by key
(MinkowskiEngine stores a conv weight as ``(K, C_in, C_out)``, spconv as
``(C_out, kx, ky, kz, C_in)``).

On CPU the spconv layers run through :mod:`graspcontrast_mm.ops` (correct with several
threads, differentiable); on CUDA spconv's kernels are used unchanged.
"""
import math
from typing import List, Optional, Sequence, Union

import spconv.pytorch as spconv
import torch
from mmengine.model import BaseModule
from spconv.pytorch.conv import SparseConvolution
from torch import Tensor, nn

import graspcontrast_mm.ops  # noqa: F401  (routes spconv's CPU convs to the fixed path)
from graspcontrast_mm.ops import index_rows
from graspcontrast_mm.registry import MODELS

__all__ = ['SparseUNet', 'SparseBasicBlock', 'MINKUNET14D_PLANES',
           'MINKUNET14D_WIDE_PLANES']

_NUM_STAGES = 4  # stride-2 downsamplings; spatial shapes are padded to 2 ** 4

#: Stage widths of GSNet's backbone (``MinkUNet14D`` of the reference implementation,
#: models/backbone_resunet14.py): 14.6 M parameters with 3 input and 512 output channels.
MINKUNET14D_PLANES = (32, 64, 128, 256, 192, 192, 192, 192)
#: The 384-wide decoder of MinkowskiEngine's own ``MinkUNet14D`` (the reference's unused
#: ``MinkUNet14Dori``): 43.5 M parameters; reachable with ``planes=MINKUNET14D_WIDE_PLANES``.
MINKUNET14D_WIDE_PLANES = (32, 64, 128, 256, 384, 384, 384, 384)


class SparseBasicBlock(nn.Module):
    """Residual block: (SubM 3x3x3 -> BN -> ReLU -> SubM 3x3x3 -> BN) + shortcut -> ReLU.

    The shortcut is the identity, or a per-voxel linear map (a 1x1 conv) + BN when the
    channel count changes.

    Args:
        in_channels: input feature channels.
        channels: output feature channels.
        indice_key: spconv rule-book key shared by the submanifold convs of one resolution.
        bn_momentum: momentum of the BatchNorm running statistics.
    """

    def __init__(self, in_channels: int, channels: int, indice_key: str,
                 bn_momentum: float = 0.1):
        super().__init__()
        self.conv1 = spconv.SubMConv3d(in_channels, channels, 3, bias=False,
                                       indice_key=indice_key)
        self.norm1 = nn.BatchNorm1d(channels, momentum=bn_momentum)
        self.conv2 = spconv.SubMConv3d(channels, channels, 3, bias=False,
                                       indice_key=indice_key)
        self.norm2 = nn.BatchNorm1d(channels, momentum=bn_momentum)
        self.downsample = None
        if in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Linear(in_channels, channels, bias=False),
                nn.BatchNorm1d(channels, momentum=bn_momentum))

    def forward(self, x: spconv.SparseConvTensor) -> spconv.SparseConvTensor:
        """Apply the block; voxels and row order are kept.

        Args:
            x: sparse tensor with ``(V, in_channels)`` features.

        Returns:
            Sparse tensor with ``(V, channels)`` features on the same voxels.
        """
        residual = x.features if self.downsample is None else self.downsample(x.features)
        out = self.conv1(x)
        out = out.replace_feature(torch.relu(self.norm1(out.features)))
        out = self.conv2(out)
        return out.replace_feature(torch.relu(self.norm2(out.features) + residual))


@MODELS.register_module()
class SparseUNet(BaseModule):
    """Sparse UNet backbone (MinkUNet14D plan, as in GSNet) on spconv.

    Encoder: stem SubM conv (kernel 5, ``init_dim``) -> 4 x [stride-2 sparse conv
    (kernel 2) -> BN -> ReLU -> ``layers[i]`` BasicBlocks with ``planes[i]`` channels].
    Decoder: 4 x [inverse conv (kernel 2, back to the voxels of the matching encoder
    level) -> BN -> ReLU -> concat with the encoder features of that level ->
    ``layers[4 + i]`` BasicBlocks with ``planes[4 + i]`` channels]. Head: 1x1 conv (with
    bias) to ``out_channels``.

    1x1 convs (the head, block shortcuts) are ``nn.Linear`` on the voxel features: the
    same operation, with the usual ``(C_out, C_in)`` weight. (spconv's own 1x1 shortcut
    reads its ``(C_out, 1, 1, 1, C_in)`` weight as a row-major ``(C_in, C_out)`` matrix,
    unlike its other convs, which would complicate checkpoint conversion.)

    The default plan is GSNet's (:data:`MINKUNET14D_PLANES`, 3 input channels of ones,
    512 outputs): module names and parameter shapes then match the reference backbone key
    by key (up to the weight layout, see the module docstring).

    Args:
        in_channels: input feature channels per voxel (GSNet: 3, features = ones; see
            ``Voxelize(feat_mode='ones3')``).
        out_channels: output feature channels per voxel.
        planes: channels of the 8 stages (4 encoder, 4 decoder); default
            :data:`MINKUNET14D_PLANES`.
        layers: BasicBlocks in each of the 8 stages.
        init_dim: channels of the stem conv.
        stem_kernel_size: kernel size of the stem SubM conv.
        bn_momentum: momentum of the BatchNorm running statistics.
        init_cfg: mmengine initialisation config (e.g. ``dict(type='Pretrained', ...)``).
    """

    def __init__(self,
                 in_channels: int = 3,
                 out_channels: int = 512,
                 *,
                 planes: Sequence[int] = MINKUNET14D_PLANES,
                 layers: Sequence[int] = (1, 1, 1, 1, 1, 1, 1, 1),
                 init_dim: int = 32,
                 stem_kernel_size: int = 5,
                 bn_momentum: float = 0.1,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(init_cfg=init_cfg)
        if len(planes) != 2 * _NUM_STAGES or len(layers) != 2 * _NUM_STAGES:
            raise ValueError(f'planes and layers need {2 * _NUM_STAGES} entries, got '
                             f'{len(planes)} and {len(layers)}')
        if min(layers) < 1:
            raise ValueError(f'every stage needs at least one block, got layers={layers}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.planes = tuple(planes)
        self.layers = tuple(layers)

        def bn(c):
            return nn.BatchNorm1d(c, momentum=bn_momentum)

        def stage(c_in, c_out, n, key):
            blocks = [SparseBasicBlock(c_in, c_out, key, bn_momentum)]
            blocks += [SparseBasicBlock(c_out, c_out, key, bn_momentum)
                       for _ in range(n - 1)]
            return nn.Sequential(*blocks)

        # level l has tensor stride 2 ** l; 'subm{l}' / 'down{l}' are spconv rule-book keys
        self.conv0p1s1 = spconv.SubMConv3d(in_channels, init_dim, stem_kernel_size,
                                           bias=False, indice_key='stem')
        self.bn0 = bn(init_dim)
        skip_channels = [init_dim]
        c = init_dim
        for i in range(_NUM_STAGES):
            setattr(self, f'conv{i + 1}p{2 ** i}s2',
                    spconv.SparseConv3d(c, c, 2, stride=2, bias=False,
                                        indice_key=f'down{i + 1}'))
            setattr(self, f'bn{i + 1}', bn(c))
            setattr(self, f'block{i + 1}', stage(c, planes[i], layers[i], f'subm{i + 1}'))
            c = planes[i]
            skip_channels.append(c)
        for i in range(_NUM_STAGES):
            level = _NUM_STAGES - i  # 4, 3, 2, 1: inverse of down{level}
            j = _NUM_STAGES + i
            setattr(self, f'convtr{j}p{2 ** level}s2',
                    spconv.SparseInverseConv3d(c, planes[j], 2, bias=False,
                                               indice_key=f'down{level}'))
            setattr(self, f'bntr{j}', bn(planes[j]))
            setattr(self, f'block{j + 1}',
                    stage(planes[j] + skip_channels[level - 1], planes[j], layers[j],
                          f'subm{level - 1}'))
            c = planes[j]
        self.final = nn.Linear(c, out_channels, bias=True)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """Kaiming-normal (fan-out, ReLU) conv weights, unit BN scale, zero biases."""
        for m in self.modules():
            if isinstance(m, SparseConvolution):
                fan_out = m.out_channels * math.prod(m.kernel_size)
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / m.out_features))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm1d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @staticmethod
    def spatial_shape(coords: Tensor) -> List[int]:
        """Grid size ``[X, Y, Z]`` (voxels) holding ``coords``, padded to a multiple of 16.

        Args:
            coords: int ``(V, 4)`` rows ``[batch_idx, x, y, z]``.

        Returns:
            Per-axis size ``max + 1`` rounded up to a multiple of ``2 ** 4``, so that the
            four stride-2 downsamplings halve the grid exactly.
        """
        step = 2 ** _NUM_STAGES
        top = coords[:, 1:].max(dim=0).values.long() + 1
        return (((top + step - 1) // step) * step).tolist()

    def _check_inputs(self, feats: Tensor, coords: Tensor, batch_size: int) -> None:
        if not isinstance(feats, Tensor) or feats.dim() != 2 \
                or feats.shape[1] != self.in_channels:
            raise ValueError(f'feats must be a (V, {self.in_channels}) tensor, got '
                             f'{getattr(feats, "shape", type(feats))}')
        if not feats.is_floating_point():
            raise ValueError(f'feats must be floating point, got {feats.dtype}')
        if not isinstance(coords, Tensor) or coords.dim() != 2 or coords.shape[1] != 4:
            raise ValueError('coords must be a (V, 4) tensor [batch_idx, x, y, z], got '
                             f'{getattr(coords, "shape", type(coords))}')
        if coords.is_floating_point() or coords.is_complex() or coords.dtype == torch.bool:
            raise ValueError(f'coords must be integer voxel indices, got {coords.dtype}')
        if coords.shape[0] != feats.shape[0]:
            raise ValueError(f'feats has {feats.shape[0]} rows but coords has '
                             f'{coords.shape[0]}')
        if feats.shape[0] == 0:
            raise ValueError('empty input: SparseUNet needs at least one voxel')
        if (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                or batch_size < 1):
            raise ValueError(f'batch_size must be a positive int, got {batch_size!r}')
        if not bool(torch.isfinite(feats).all()):
            raise ValueError('feats contain NaN or infinite values')
        if bool((coords < 0).any()):
            raise ValueError('coords must be >= 0 (batch index and voxel indices)')
        if int(coords[:, 0].max()) >= batch_size:
            raise ValueError(f'batch index {int(coords[:, 0].max())} >= batch_size '
                             f'{batch_size}')
        c = coords.long()
        top = c.max(dim=0).values + 1
        key = ((c[:, 0] * top[1] + c[:, 1]) * top[2] + c[:, 2]) * top[3] + c[:, 3]
        if torch.unique(key).numel() != key.numel():
            raise ValueError('coords contain duplicate voxels; merge the points of a '
                             'voxel first')

    def forward(self, feats: Tensor, coords: Tensor, batch_size: int,
                rows: Optional[Tensor] = None) -> Tensor:
        """Per-voxel features of a batch of voxelised clouds.

        Args:
            feats: float32 ``(V, in_channels)`` input features, one row per voxel.
            coords: int ``(V, 4)`` rows ``[batch_idx, x, y, z]``: cloud index in
                ``[0, batch_size)`` and voxel indices ``>= 0`` (unique per cloud).
            batch_size: number of clouds ``B``.
            rows: optional 1-D integer ``(R,)`` voxel rows (repeats allowed) at which
                the output is wanted. The final 1x1 projection is then applied to those
                rows only: the same values as ``forward(...)[rows]`` (the projection is
                per voxel), without the ``(V, out_channels)`` map and its gradient (the
                contrastive pre-training reads a few thousand key points of ~10^5
                voxels).

        Returns:
            ``(V, out_channels)`` features, row ``i`` for the voxel ``coords[i]``; with
            ``rows``, ``(R, out_channels)``, row ``j`` for the voxel ``coords[rows[j]]``.

        Raises:
            ValueError: on wrong shapes or dtypes, empty input, negative or duplicate
                coordinates, a batch index out of range, non-finite features, or rows
                outside ``[0, V)``.
        """
        self._check_inputs(feats, coords, batch_size)
        if rows is not None:
            if (not isinstance(rows, Tensor) or rows.dim() != 1
                    or rows.is_floating_point() or rows.dtype == torch.bool):
                raise ValueError('rows must be a 1-D integer tensor of voxel rows, got '
                                 f'{getattr(rows, "dtype", type(rows))} '
                                 f'{tuple(getattr(rows, "shape", ()))}')
            if rows.numel() and (int(rows.min()) < 0 or int(rows.max()) >= feats.shape[0]):
                raise ValueError(f'rows must lie in [0, {feats.shape[0]}), got '
                                 f'[{int(rows.min())}, {int(rows.max())}]')
        x = spconv.SparseConvTensor(feats, coords.int().contiguous(),
                                    self.spatial_shape(coords), batch_size)

        def conv_bn_relu(conv, bn, t):
            t = conv(t)
            return t.replace_feature(torch.relu(bn(t.features)))

        out = conv_bn_relu(self.conv0p1s1, self.bn0, x)
        skips = [out]
        for i in range(_NUM_STAGES):
            out = conv_bn_relu(getattr(self, f'conv{i + 1}p{2 ** i}s2'),
                               getattr(self, f'bn{i + 1}'), out)
            out = getattr(self, f'block{i + 1}')(out)
            skips.append(out)
        for i in range(_NUM_STAGES):
            level = _NUM_STAGES - i
            j = _NUM_STAGES + i
            out = conv_bn_relu(getattr(self, f'convtr{j}p{2 ** level}s2'),
                               getattr(self, f'bntr{j}'), out)
            out = out.replace_feature(
                torch.cat([out.features, skips[level - 1].features], dim=1))
            out = getattr(self, f'block{j + 1}')(out)
        if rows is not None:
            return self.final(index_rows(out.features, rows))
        return self.final(out.features)
