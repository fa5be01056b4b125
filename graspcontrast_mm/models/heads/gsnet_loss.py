"""GSNet training loss: objectness CE + graspness, view, score and width Smooth-L1 terms."""
from typing import Dict, Mapping, Optional

import torch.nn.functional as F
from torch import Tensor, nn

from graspcontrast_mm.registry import MODELS

__all__ = ['GSNetLoss', 'DEFAULT_LOSS_WEIGHTS']

#: Weights of the reference implementation.
DEFAULT_LOSS_WEIGHTS = dict(objectness=1.0, graspness=10.0, view=100.0, score=15.0,
                            width=10.0)


def _masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values[mask]``; 0 (still attached to the graph) when the mask is empty."""
    if bool(mask.any()):
        return values[mask].mean()
    return values.sum() * 0.0


@MODELS.register_module()
class GSNetLoss(nn.Module):
    """The five GSNet loss terms, each multiplied by its configured weight.

    - ``loss_objectness``: cross-entropy of the 2-class objectness logits over all points.
    - ``loss_graspness``: Smooth-L1 between predicted and target point graspness, mean over
      the object points (``objectness_label == 1``).
    - ``loss_view``: Smooth-L1 between predicted and target view graspness, mean over
      seeds x views.
    - ``loss_score``: Smooth-L1 between predicted score and score target, mean over seeds
      x angles x depths.
    - ``loss_width``: Smooth-L1 between predicted width and ``width_scale x`` target width
      (metres), mean over the grasps whose score target is > 0.

    A term with an empty mask is 0. The weights default to the reference (1, 10, 100,
    15, 10).

    Args:
        loss_weights: mapping with any of ``objectness``, ``graspness``, ``view``,
            ``score``, ``width`` (missing keys keep their default).
        width_scale: factor applied to the width target (10: widths in decimetres).
        beta: Smooth-L1 transition point.
    """

    def __init__(self, loss_weights: Optional[Mapping[str, float]] = None,
                 width_scale: float = 10.0, beta: float = 1.0) -> None:
        super().__init__()
        weights = dict(DEFAULT_LOSS_WEIGHTS)
        for key, value in dict(loss_weights or {}).items():
            if key not in weights:
                raise KeyError(f'unknown loss weight {key!r}; expected one of '
                               f'{sorted(weights)}')
            weights[key] = float(value)
        self.loss_weights = weights
        self.width_scale = float(width_scale)
        self.beta = float(beta)

    def forward(self, *, objectness_logits: Tensor, objectness_label: Tensor,
                graspness_pred: Tensor, graspness_label: Tensor, view_scores: Tensor,
                view_targets: Tensor, score_pred: Tensor, score_targets: Tensor,
                width_pred: Tensor, width_targets: Tensor) -> Dict[str, Tensor]:
        """Compute the weighted terms.

        Args:
            objectness_logits: ``(N, 2)`` over all points of the batch.
            objectness_label: int64 ``(N,)`` in {0, 1}.
            graspness_pred: ``(N,)``.
            graspness_label: ``(N,)`` in ``[0, 1]``.
            view_scores: ``(B, M, V)`` predicted view graspness.
            view_targets: ``(B, M, V)`` target view graspness.
            score_pred: ``(B, M, A, D)``.
            score_targets: ``(B, M, A, D)`` in ``[0, 1]``, 0 = no grasp.
            width_pred: ``(B, M, A, D)`` in ``width_scale x`` metres.
            width_targets: ``(B, M, A, D)`` metres.

        Returns:
            dict: ``loss_objectness``, ``loss_graspness``, ``loss_view``, ``loss_score``,
            ``loss_width`` (weighted scalars).
        """
        pairs = ((view_scores, view_targets, 'view'), (score_pred, score_targets, 'score'),
                 (width_pred, width_targets, 'width'),
                 (graspness_pred, graspness_label, 'graspness'))
        for pred, target, name in pairs:
            if pred.shape != target.shape:
                raise ValueError(f'{name}: prediction {tuple(pred.shape)} and target '
                                 f'{tuple(target.shape)} differ')
        if objectness_logits.dim() != 2 or objectness_logits.shape[1] != 2 \
                or objectness_label.shape != objectness_logits.shape[:1]:
            raise ValueError(f'objectness logits {tuple(objectness_logits.shape)} and '
                             f'labels {tuple(objectness_label.shape)} do not agree')
        w = self.loss_weights
        obj = F.cross_entropy(objectness_logits, objectness_label.long())
        grs = _masked_mean(
            F.smooth_l1_loss(graspness_pred, graspness_label.to(graspness_pred.dtype),
                             reduction='none', beta=self.beta),
            objectness_label.bool())
        view = F.smooth_l1_loss(view_scores, view_targets.to(view_scores.dtype),
                                beta=self.beta)
        score = F.smooth_l1_loss(score_pred, score_targets.to(score_pred.dtype),
                                 beta=self.beta)
        width = _masked_mean(
            F.smooth_l1_loss(width_pred, self.width_scale * width_targets.to(width_pred.dtype),
                             reduction='none', beta=self.beta),
            score_targets > 0)
        return dict(loss_objectness=w['objectness'] * obj, loss_graspness=w['graspness'] * grs,
                    loss_view=w['view'] * view, loss_score=w['score'] * score,
                    loss_width=w['width'] * width)
