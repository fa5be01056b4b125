"""PointContrast's hardest-contrastive loss over point correspondences.

Xie et al., "PointContrast: Unsupervised Pre-training for 3D Point Cloud Understanding"
(ECCV 2020), hardest-contrastive variant (after the FCGF metric-learning loss of Choy et
al., ICCV 2019). For ``M`` corresponding key points with features ``f0_i`` (view 0),
``f1_i`` (view 1) and world positions ``p_i`` (metres), with ``d(a, b) = ||a - b||_2``::

    L_pos = 1/M sum_i [d(f0_i, f1_i) - m_pos]_+^2
    h0_i  = min_{k in C_i} d(f0_i, f1_k)      (hardest negative of anchor f0_i in view 1)
    h1_i  = min_{k in C_i} d(f1_i, f0_k)      (hardest negative of anchor f1_i in view 0)
    C_i   = {k != i : ||p_i - p_k|| > r_neg}  (candidates far enough in space)
    L_neg = 1/2 (mean_i [m_neg - h0_i]_+^2 + mean_i [m_neg - h1_i]_+^2)
            (means over the anchors i whose C_i is not empty)
    L     = L_pos + w_neg * L_neg

with ``m_pos = 0.1`` and ``m_neg = 1.4`` (the paper's margins, for unit-norm features whose
distances lie in [0, 2]). Anchors without any candidate do not enter the negative mean. The
positive of an anchor is never its own negative; ``r_neg`` also keeps points that are
nearly the same surface point (within the matching tolerance) out of the negatives.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from graspcontrast_mm.registry import MODELS

__all__ = ['HardestContrastiveLoss', 'hardest_contrastive_terms', 'negative_candidate_mask']


def negative_candidate_mask(key_points_world: Tensor, radius: float) -> Tensor:
    """Which key points may serve as negatives of which anchors.

    Args:
        key_points_world: (M, 3) positions, world frame, metres.
        radius: ``r_neg`` in metres; ``radius <= 0`` keeps every other point.

    Returns:
        Tensor: bool (M, M); ``mask[i, k]`` is True iff ``k != i`` and
        ``||p_i - p_k|| > radius``.
    """
    num = key_points_world.shape[0]
    with torch.no_grad():
        if radius > 0:
            pts = key_points_world.detach().float()
            pts = pts - pts.mean(dim=0, keepdim=True)
            dist = torch.cdist(pts[None], pts[None],
                               compute_mode='donot_use_mm_for_euclid_dist')[0]
            mask = dist > float(radius)
        else:
            mask = torch.ones(num, num, dtype=torch.bool, device=key_points_world.device)
        mask.fill_diagonal_(False)
    return mask


def _pairwise_distance(a: Tensor, b: Tensor) -> Tensor:
    """Euclidean distances (N, K) through one matrix product (no (N, K, C) tensor).

    Squared distances ``|a|^2 + |b|^2 - 2 a.b`` are clamped at 1e-12 before the square
    root, so the gradient stays finite where two features coincide.
    """
    sq = a.pow(2).sum(1)[:, None] + b.pow(2).sum(1)[None, :] - 2.0 * (a @ b.t())
    return sq.clamp_min(1e-12).sqrt()


def _hardest_negative_loss(dist: Tensor, mask: Tensor, margin: float) -> Tensor:
    """Mean of ``[margin - min_k dist[i, k]]_+^2`` over rows with a candidate."""
    has = mask.any(dim=1)
    if not bool(has.any()):
        return dist.sum() * 0.0  # keeps the graph (and the device / dtype)
    masked = dist.masked_fill(~mask, float('inf'))
    hardest = masked.min(dim=1).values[has]
    return F.relu(margin - hardest).pow(2).mean()


def hardest_contrastive_terms(feats0: Tensor,
                              feats1: Tensor,
                              key_points_world: Tensor,
                              *,
                              pos_margin: float = 0.1,
                              neg_margin: float = 1.4,
                              neg_radius: float = 0.01,
                              normalize: bool = True) -> Tuple[Tensor, Tensor]:
    """Positive and negative terms of the hardest-contrastive loss (module docstring).

    Args:
        feats0: (M, C) features of the key points in view 0.
        feats1: (M, C) features of the same key points in view 1 (row ``i`` matches row
            ``i`` of ``feats0``).
        key_points_world: (M, 3) world positions, metres.
        pos_margin: ``m_pos``.
        neg_margin: ``m_neg``.
        neg_radius: ``r_neg``, metres.
        normalize: L2-normalise the features first (the margins assume unit norm).

    Returns:
        tuple: scalar ``L_pos`` and scalar ``L_neg``.

    Raises:
        ValueError: shapes disagree or ``M = 0``.
    """
    if feats0.dim() != 2 or feats0.shape != feats1.shape:
        raise ValueError(f'feats0 and feats1 must both be (M, C), got '
                         f'{tuple(feats0.shape)} and {tuple(feats1.shape)}')
    if key_points_world.shape != (feats0.shape[0], 3):
        raise ValueError(f'key_points_world must be ({feats0.shape[0]}, 3), got '
                         f'{tuple(key_points_world.shape)}')
    if feats0.shape[0] == 0:
        raise ValueError('the hardest-contrastive loss needs at least one key point')
    if normalize:
        feats0 = F.normalize(feats0, dim=1)
        feats1 = F.normalize(feats1, dim=1)
    pos_dist = (feats0 - feats1).pow(2).sum(dim=1).clamp_min(1e-12).sqrt()
    loss_pos = F.relu(pos_dist - pos_margin).pow(2).mean()
    mask = negative_candidate_mask(key_points_world, neg_radius)
    dist01 = _pairwise_distance(feats0, feats1)  # [i, k] = d(f0_i, f1_k)
    loss_neg0 = _hardest_negative_loss(dist01, mask, neg_margin)
    loss_neg1 = _hardest_negative_loss(dist01.t(), mask.t(), neg_margin)
    return loss_pos, 0.5 * (loss_neg0 + loss_neg1)


@MODELS.register_module()
class HardestContrastiveLoss(nn.Module):
    """PointContrast hardest-contrastive loss, a drop-in for ``FNEInfoNCELoss``.

    Called by ``GraspContrastPretrainer`` per sample as
    ``loss(feats0 (M, C), feats1 (M, C), key_points_world (M, 3)) -> scalar``.

    Args:
        pos_margin: ``m_pos`` (paper: 0.1).
        neg_margin: ``m_neg`` (paper: 1.4).
        neg_radius: ``r_neg``, metres: key points closer than this to an anchor are not
            its negatives (default 1 cm: two 5 mm voxels, above the 7.5 mm matching
            tolerance).
        neg_weight: ``w_neg``.
        num_pos: use a random subset of at most this many correspondences per sample
            (PointContrast samples a fixed number of pairs); None uses all ``M``.
        normalize: L2-normalise the features before measuring distances.
        loss_weight: factor of the returned loss.
    """

    def __init__(self,
                 pos_margin: float = 0.1,
                 neg_margin: float = 1.4,
                 neg_radius: float = 0.01,
                 neg_weight: float = 1.0,
                 num_pos: Optional[int] = None,
                 normalize: bool = True,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if not 0 <= pos_margin < neg_margin:
            raise ValueError(f'need 0 <= pos_margin < neg_margin, got {pos_margin}, '
                             f'{neg_margin}')
        if num_pos is not None and int(num_pos) < 1:
            raise ValueError(f'num_pos must be None or >= 1, got {num_pos}')
        self.pos_margin = float(pos_margin)
        self.neg_margin = float(neg_margin)
        self.neg_radius = float(neg_radius)
        self.neg_weight = float(neg_weight)
        self.num_pos = None if num_pos is None else int(num_pos)
        self.normalize = bool(normalize)
        self.loss_weight = float(loss_weight)

    def forward(self, feats0: Tensor, feats1: Tensor, key_points_world: Tensor) -> Tensor:
        """Weighted loss of one sample.

        Args:
            feats0: (M, C) view-0 key point features.
            feats1: (M, C) view-1 key point features.
            key_points_world: (M, 3) world positions, metres.

        Returns:
            Tensor: scalar.
        """
        if self.num_pos is not None and feats0.shape[0] > self.num_pos:
            keep = torch.randperm(feats0.shape[0], device=feats0.device)[:self.num_pos]
            feats0, feats1, key_points_world = (feats0[keep], feats1[keep],
                                                key_points_world[keep])
        loss_pos, loss_neg = hardest_contrastive_terms(
            feats0, feats1, key_points_world, pos_margin=self.pos_margin,
            neg_margin=self.neg_margin, neg_radius=self.neg_radius,
            normalize=self.normalize)
        return self.loss_weight * (loss_pos + self.neg_weight * loss_neg)

    def extra_repr(self) -> str:
        return (f'pos_margin={self.pos_margin}, neg_margin={self.neg_margin}, '
                f'neg_radius={self.neg_radius}, neg_weight={self.neg_weight}, '
                f'num_pos={self.num_pos}, normalize={self.normalize}, '
                f'loss_weight={self.loss_weight}')
