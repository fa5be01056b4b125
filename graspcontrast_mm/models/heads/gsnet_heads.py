"""Point-wise heads of GSNet: graspable (objectness + graspness), approach view, SWAD.

Layouts follow the GSNet reference (1x1 ``Conv1d`` layers on channel-first features), so a
reference checkpoint maps onto these modules key by key (``conv_graspable``, ``conv1``,
``conv2``, ``conv_swad``). Default widths are the reference ones (512-d seed features,
300 views, 256-d crop features, 12 angles x 4 depths); every width is an argument.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from graspcontrast_mm.registry import MODELS
from graspcontrast_mm.structures.grasp import NUM_ANGLES, NUM_DEPTHS, NUM_VIEWS

__all__ = ['GraspableHead', 'ApproachViewHead', 'SWADHead']


def _check_channel_first(x: Tensor, channels: int, name: str) -> None:
    if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[1] != channels:
        raise ValueError(f'{name} must be a (B, {channels}, M) tensor, got '
                         f'{tuple(getattr(x, "shape", ())) or type(x).__name__}')


@MODELS.register_module()
class GraspableHead(BaseModule):
    """Per-point objectness (2 logits) and graspness (1 value) from a 1x1 conv.

    Args:
        in_channels: Point feature channels ``C`` (512 in GSNet).
        init_cfg: mmengine initialisation config.
    """

    def __init__(self, in_channels: int = 512, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = int(in_channels)
        self.conv_graspable = nn.Conv1d(self.in_channels, 3, 1)

    def forward(self, point_feats: Tensor) -> Tuple[Tensor, Tensor]:
        """Score every point.

        Args:
            point_feats: ``(N, C)`` per-point features (any number of points, e.g. all
                points of a batch concatenated).

        Returns:
            tuple:
                - objectness_logits: ``(N, 2)`` logits (class 1 = object point).
                - graspness: ``(N,)`` predicted point graspness (unbounded regression of
                  a target in ``[0, 1]``).
        """
        if not isinstance(point_feats, Tensor) or point_feats.dim() != 2 \
                or point_feats.shape[1] != self.in_channels:
            raise ValueError(f'point_feats must be (N, {self.in_channels}), got '
                             f'{tuple(getattr(point_feats, "shape", ()))}')
        # the reference's 1x1 Conv1d, applied to the row-major (N, C) features as a linear
        # map: a channel-first copy of every point's features cost more than the product
        out = F.linear(point_feats, self.conv_graspable.weight[:, :, 0],
                       self.conv_graspable.bias)  # (N, 3)
        return out[:, :2], out[:, 2]


@MODELS.register_module()
class ApproachViewHead(BaseModule):
    """Per-seed scores of the ``V`` approach views, plus a residual feature.

    ``res = relu(conv1(f))``; ``view_scores = conv2(res)``. GSNet adds ``res`` to the seed
    features before the cylinder crop (done by the detector).

    Args:
        in_channels: Seed feature channels ``C`` (512); ``conv1`` keeps ``C`` channels so
            that the residual can be added.
        num_views: Number of approach views ``V`` (300, graspnetAPI's lattice).
        init_cfg: mmengine initialisation config.
    """

    def __init__(self, in_channels: int = 512, num_views: int = NUM_VIEWS,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = int(in_channels)
        self.num_views = int(num_views)
        self.conv1 = nn.Conv1d(self.in_channels, self.in_channels, 1)
        self.conv2 = nn.Conv1d(self.in_channels, self.num_views, 1)

    def forward(self, seed_feats: Tensor) -> Tuple[Tensor, Tensor]:
        """Score the views of every seed.

        Args:
            seed_feats: ``(B, C, M)`` seed features.

        Returns:
            tuple:
                - view_scores: ``(B, M, V)`` predicted view graspness.
                - residual: ``(B, C, M)`` features to add to ``seed_feats``.
        """
        _check_channel_first(seed_feats, self.in_channels, 'seed_feats')
        res = F.relu(self.conv1(seed_feats))
        return self.conv2(res).transpose(1, 2).contiguous(), res

    @staticmethod
    def sample_views(view_scores: Tensor,
                     generator: Optional[torch.Generator] = None) -> Tensor:
        """Draw one view per seed with probability proportional to its min-max score.

        The scores of each seed are min-max normalised to ``[0, 1]`` (detached); a seed
        whose scores are all equal draws uniformly (GSNet training rule).

        Args:
            view_scores: ``(B, M, V)`` view scores.
            generator: optional torch RNG.

        Returns:
            Tensor: int64 ``(B, M)`` view indices.
        """
        s = view_scores.detach().float()
        lo = s.min(dim=-1, keepdim=True).values
        hi = s.max(dim=-1, keepdim=True).values
        probs = (s - lo) / (hi - lo + 1e-8)
        flat = probs.reshape(-1, probs.shape[-1])
        dead = ~(flat.sum(dim=-1) > 0) | ~torch.isfinite(flat).all(dim=-1)
        if bool(dead.any()):
            flat = flat.clone()
            flat[dead] = 1.0
        idx = torch.multinomial(flat, 1, generator=generator)
        return idx.view(view_scores.shape[:-1])

    @staticmethod
    def best_views(view_scores: Tensor) -> Tensor:
        """Index of the highest-scoring view of every seed, int64 ``(B, M)``."""
        return view_scores.argmax(dim=-1)


@MODELS.register_module()
class SWADHead(BaseModule):
    """Score and width of the ``A x D`` (angle x depth) grasps of every seed.

    ``conv_swad(relu(conv1(f)))`` gives ``2 * A * D`` channels read as ``(2, A, D)``:
    channel block 0 is the grasp score, block 1 the width (in the width loss scale, i.e.
    metres x 10 by default).

    Args:
        in_channels: Cropped feature channels (256, the last crop MLP width).
        hidden_channels: Width of ``conv1`` (256).
        num_angles: In-plane angles ``A`` (12, ``k * pi / 12``).
        num_depths: Depths ``D`` (4, ``0.01 .. 0.04`` m).
        init_cfg: mmengine initialisation config.
    """

    def __init__(self, in_channels: int = 256, hidden_channels: int = 256,
                 num_angles: int = NUM_ANGLES, num_depths: int = NUM_DEPTHS,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = int(in_channels)
        self.num_angles = int(num_angles)
        self.num_depths = int(num_depths)
        self.conv1 = nn.Conv1d(self.in_channels, int(hidden_channels), 1)
        self.conv_swad = nn.Conv1d(int(hidden_channels),
                                   2 * self.num_angles * self.num_depths, 1)

    def forward(self, crop_feats: Tensor) -> Tuple[Tensor, Tensor]:
        """Predict the grasp grid of every seed.

        Args:
            crop_feats: ``(B, C, M)`` cropped seed features.

        Returns:
            tuple:
                - score: ``(B, M, A, D)`` grasp scores.
                - width: ``(B, M, A, D)`` widths in loss scale (``10 x`` metres).
        """
        _check_channel_first(crop_feats, self.in_channels, 'crop_feats')
        b, _, m = crop_feats.shape
        out = self.conv_swad(F.relu(self.conv1(crop_feats)))
        out = out.view(b, 2, self.num_angles, self.num_depths, m).permute(0, 1, 4, 2, 3)
        return out[:, 0], out[:, 1]
