"""InfoNCE over point correspondences with False-Negative Elimination (FNE).

GraspContrast (Wang, Zhu, Ang), eq. 5. For ``M`` corresponding key points with features
``f0_i`` (view 0) and ``f1_i`` (view 1) and world positions ``p_i``::

    s_ik = f0_i . f1_k / tau
    L = -1/M sum_i log( exp(s_ii) / ( exp(s_ii) + sum_{k in N_i} exp(s_ik) ) )
    N_i = {k != i : ||p_i - p_k|| >= gamma_D}

With FNE off (or ``gamma_D = 0``) the inner condition disappears and ``L`` is exactly
PointInfoNCE (eq. 3), i.e. the cross entropy of the logits ``f0 @ f1^T / tau`` with target
``i`` for row ``i``.
"""
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from graspcontrast_mm.registry import MODELS

__all__ = ['FNEInfoNCELoss', 'fne_info_nce', 'fne_false_negative_mask',
           'fne_false_negative_pairs']


def fne_false_negative_pairs(key_points_world: Tensor,
                             radius: float) -> Tuple[Tensor, Tensor]:
    """Index pairs ``(i, k)``, ``i != k``, of key points closer than ``radius`` (metres).

    Args:
        key_points_world (Tensor): (M, 3) key point positions, world frame, metres.
        radius (float): gamma_D in metres. ``radius <= 0`` gives no pairs.

    Returns:
        Two int64 tensors ``(rows, cols)`` of equal length listing every close pair in
        both orders (the relation is symmetric). Distances are float32 norms of the
        differences of the centred points.

    Raises:
        ValueError: a key point is NaN or infinite (which neighbours it has is
            undefined).
    """
    device = key_points_world.device
    num = key_points_world.shape[0]
    if radius <= 0 or num < 2:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return empty, empty
    finite = torch.isfinite(key_points_world.detach()).all(dim=1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten()
        raise ValueError(f'key_points_world has {len(bad)} NaN or infinite row(s) '
                         f'(first: {bad[:5].tolist()}); the false-negative radius needs '
                         'finite key point positions (metres)')
    with torch.no_grad():
        pts = key_points_world.detach().float()
        pts = pts - pts.mean(dim=0, keepdim=True)  # small magnitudes: exact diffs
        if device.type != 'cpu':
            # direct (not matrix-product) distances, exact to float32 rounding
            dist = torch.cdist(pts[None], pts[None],
                               compute_mode='donot_use_mm_for_euclid_dist')[0]
            close = dist < float(radius)
            close.fill_diagonal_(False)
            rows, cols = torch.nonzero(close, as_tuple=True)
            return rows, cols
        # CPU: a k-d tree finds the few close pairs (about ten per key point on a
        # table-top scene) without the M^2 distances; candidates within a slightly
        # larger radius are kept by the float32 test
        from scipy.spatial import cKDTree
        pairs = cKDTree(pts.numpy().astype(np.float64)).query_pairs(
            float(radius) * (1 + 1e-6), output_type='ndarray')
        i, k = torch.from_numpy(pairs[:, 0]), torch.from_numpy(pairs[:, 1])
        close = (pts[i] - pts[k]).norm(dim=1) < float(radius)
        i, k = i[close], k[close]
        return torch.cat([i, k]), torch.cat([k, i])


def fne_false_negative_mask(key_points_world: Tensor, radius: float) -> Tensor:
    """Pairs of distinct key points that lie closer than ``radius`` (metres), as a mask.

    Args:
        key_points_world (Tensor): (M, 3) key point positions, world frame, metres.
        radius (float): gamma_D in metres. ``radius <= 0`` masks nothing.

    Returns:
        Tensor: bool (M, M); ``mask[i, k]`` is True iff ``k != i`` and
        ``||p_i - p_k|| < radius``. The diagonal is always False.
    """
    num = key_points_world.shape[0]
    mask = torch.zeros(num, num, dtype=torch.bool, device=key_points_world.device)
    rows, cols = fne_false_negative_pairs(key_points_world, radius)
    mask[rows, cols] = True
    return mask


def fne_info_nce(feats0: Tensor,
                 feats1: Tensor,
                 key_points_world: Optional[Tensor] = None,
                 *,
                 temperature: float = 0.07,
                 fne_radius: float = 0.0,
                 normalize: bool = True) -> Tensor:
    """Per-row FNE-InfoNCE loss in one direction (view 0 queries, view 1 keys).

    Args:
        feats0 (Tensor): (M, C) features of the key points in view 0.
        feats1 (Tensor): (M, C) features of the same key points in view 1
            (row ``i`` is the positive partner of ``feats0[i]``).
        key_points_world (Tensor, optional): (M, 3) world positions in metres.
            Needed only when ``fne_radius > 0``.
        temperature (float): tau > 0.
        fne_radius (float): gamma_D in metres; 0 disables FNE.
        normalize (bool): L2-normalise the features first (cosine similarity).

    Returns:
        Tensor: (M,) float32 loss of every row. A row whose negatives are all removed
        has only its positive left in the denominator: its loss is exactly 0 and its
        gradient exactly 0.
    """
    f0 = feats0.float()
    f1 = feats1.float()
    if normalize:
        f0 = F.normalize(f0, p=2, dim=1)
        f1 = F.normalize(f1, p=2, dim=1)
    masked = None
    if fne_radius > 0:
        if key_points_world is None:
            raise ValueError('fne_radius > 0 needs key_points_world')
        masked = fne_false_negative_pairs(key_points_world, fne_radius)
    # 1/tau scales the (M, C) queries instead of the (M, M) logits: the same logits up
    # to float32 rounding, one pass over M * C values instead of M^2
    return _RowInfoNCE.apply(f0 / temperature, f1, masked)


class _RowInfoNCE(torch.autograd.Function):
    """``loss_i = logsumexp_k(s_ik) - s_ii`` over ``s = q @ k^T`` without the masked
    entries ``(rows, cols)`` (index pairs or None), with one ``(M, M)`` buffer for
    forward and backward.

    Masked entries are set to ``-inf``: ``exp(-inf) = 0`` removes them from the
    denominator and gives them zero gradient. The diagonal is never masked, so every row
    keeps one finite entry and ``logsumexp`` is finite. Backward is the textbook gradient
    ``dL/ds = g_i (softmax_ik - [k == i])``, computed in place in the logits buffer
    (autograd's composition of ``masked_fill`` and ``logsumexp`` would allocate and fill
    four more ``(M, M)`` tensors: 64 MB each at M = 4096); the buffer is therefore
    consumed by the first backward.
    """

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor,
                masked: Optional[Tuple[Tensor, Tensor]]) -> Tensor:
        logits = q @ k.t()
        if masked is not None:
            logits.index_put_(masked, logits.new_tensor(float('-inf')))
        lse = torch.logsumexp(logits, dim=1)
        loss = lse - logits.diagonal()
        ctx.save_for_backward(q, k)
        ctx.logits, ctx.lse = logits, lse
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_loss: Tensor):
        if ctx.logits is None:
            raise RuntimeError('the FNE-InfoNCE loss was already back-propagated once; '
                               'its (M, M) buffer is consumed by backward (compute the '
                               'loss again instead of retain_graph=True)')
        q, k = ctx.saved_tensors
        grad_s, ctx.logits = ctx.logits, None
        grad_s.sub_(ctx.lse[:, None]).exp_().mul_(grad_loss[:, None])  # g_i softmax_ik
        grad_s.diagonal().sub_(grad_loss)
        grad_q = grad_s @ k if ctx.needs_input_grad[0] else None
        grad_k = grad_s.t() @ q if ctx.needs_input_grad[1] else None
        return grad_q, grad_k, None


@MODELS.register_module()
class FNEInfoNCELoss(nn.Module):
    """InfoNCE with False-Negative Elimination (GraspContrast eq. 5).

    Row ``i`` uses ``(f0_i, f1_i)`` as its positive and ``f1_k`` (``k != i``) as
    negatives; FNE removes from the denominator every negative ``k`` whose world position
    lies closer than ``fne_radius`` (gamma_D) to ``p_i``. With ``use_fne=False`` (or
    ``fne_radius=0``) this is exactly PointInfoNCE (eq. 3): the cross entropy of the
    logits ``f0 @ f1^T / temperature`` with target ``i`` for row ``i``.

    Default direction: as in the paper, one direction only (view 0 features query the
    view 1 features). ``symmetric=True`` averages that with the reverse direction (view 1
    queries view 0, with the same false-negative mask, which is symmetric).

    Choice of ``fne_radius`` (the paper gives no value): 0.02 m. Points closer than about
    two centimetres lie on the same local surface patch at the scale a parallel-jaw
    grasp reads: it is the GraspNet gripper height (0.02 m) and the middle of the
    approach-depth range (0.01-0.04 m) that GSNet's grasp head uses, and four 5 mm voxels,
    i.e. inside one receptive field of the first backbone stages. Such neighbours share
    local geometry and are likely false negatives; pushing them apart would teach the
    backbone to tell apart points that the downstream grasp head should treat alike. With
    FPS key points on a table-top scene (M in the low thousands over a few tenths of a
    square metre of visible surface, i.e. about 1 cm spacing) this removes on the order of
    ten negatives per row, a small fraction of the M - 1 negatives.

    Row reduction: a row whose negatives are all removed (e.g. ``M = 1``, or a key point
    whose every other key point lies within ``fne_radius``) keeps only its positive in the
    denominator, so its loss is ``-log(e^s / e^s) = 0`` exactly, with exactly zero gradient;
    ``reduction='mean'`` still divides by all ``M`` rows.

    Numerics: logits are computed in float32 from (optionally) L2-normalised features,
    masked entries are set to ``-inf`` before ``logsumexp`` (which is stable for any
    temperature); the diagonal is never masked, so the result is never NaN. Memory is
    O(M^2) over the key points only.

    Args:
        temperature (float): tau of eq. 3/5. Defaults to 0.07 (paper).
        fne_radius (float): gamma_D in metres. Defaults to 0.02 (see above).
        use_fne (bool): apply False-Negative Elimination. Defaults to True.
        loss_weight (float): multiplier of the returned loss. Defaults to 1.0.
        normalize (bool): L2-normalise features (cosine logits). Defaults to True.
        symmetric (bool): average both directions. Defaults to False (paper).
        reduction (str): 'mean' (default), 'sum' or 'none' over the M rows.
    """

    def __init__(self,
                 temperature: float = 0.07,
                 fne_radius: float = 0.02,
                 use_fne: bool = True,
                 loss_weight: float = 1.0,
                 normalize: bool = True,
                 symmetric: bool = False,
                 reduction: str = 'mean') -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f'temperature must be > 0, got {temperature}')
        if fne_radius < 0:
            raise ValueError(f'fne_radius must be >= 0 metres, got {fne_radius}')
        if reduction not in ('mean', 'sum', 'none'):
            raise ValueError(
                f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.temperature = float(temperature)
        self.fne_radius = float(fne_radius)
        self.use_fne = bool(use_fne)
        self.loss_weight = float(loss_weight)
        self.normalize = bool(normalize)
        self.symmetric = bool(symmetric)
        self.reduction = reduction

    @property
    def effective_radius(self) -> float:
        """float: gamma_D in metres actually applied (0 when FNE is off)."""
        return self.fne_radius if self.use_fne else 0.0

    def forward(self,
                feats0: Tensor,
                feats1: Tensor,
                key_points_world: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            feats0 (Tensor): (M, C) key point features of view 0.
            feats1 (Tensor): (M, C) key point features of view 1; row ``i``
                corresponds to row ``i`` of ``feats0``.
            key_points_world (Tensor, optional): (M, 3) key point positions in the
                world (table) frame, metres. Required when FNE is active.

        Returns:
            Tensor: scalar loss (or (M,) with ``reduction='none'``), float32, times
            ``loss_weight``.
        """
        if feats0.dim() != 2 or feats0.shape != feats1.shape:
            raise ValueError('feats0 and feats1 must both be (M, C), got '
                             f'{tuple(feats0.shape)} and {tuple(feats1.shape)}')
        num = feats0.shape[0]
        if num == 0:
            raise ValueError('FNEInfoNCELoss needs at least one key point (M = 0)')
        if key_points_world is not None and tuple(
                key_points_world.shape) != (num, 3):
            raise ValueError('key_points_world must be (M, 3) with M = '
                             f'{num}, got {tuple(key_points_world.shape)}')
        radius = self.effective_radius
        kwargs = dict(temperature=self.temperature, fne_radius=radius,
                      normalize=self.normalize)
        loss = fne_info_nce(feats0, feats1, key_points_world, **kwargs)
        if self.symmetric:
            loss_rev = fne_info_nce(feats1, feats0, key_points_world, **kwargs)
            loss = 0.5 * (loss + loss_rev)
        if self.reduction == 'mean':
            loss = loss.mean()
        elif self.reduction == 'sum':
            loss = loss.sum()
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return (f'temperature={self.temperature}, fne_radius={self.fne_radius}, '
                f'use_fne={self.use_fne}, loss_weight={self.loss_weight}, '
                f'normalize={self.normalize}, symmetric={self.symmetric}, '
                f'reduction={self.reduction!r}')
