"""Two-branch contrastive pre-trainer of GraspContrast (shared-weight sparse UNet)."""
import inspect
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor

from graspcontrast_mm.ops import index_rows
from graspcontrast_mm.registry import MODELS

__all__ = ['GraspContrastPretrainer']


def _build(cfg: Union[dict, nn.Module, None]) -> Optional[nn.Module]:
    if cfg is None or isinstance(cfg, nn.Module):
        return cfg
    return MODELS.build(cfg)


@MODELS.register_module()
class GraspContrastPretrainer(BaseModel):
    """Self-supervised pre-training on pairs of depth views of one scene.

    The SAME backbone (shared weights) runs on the view-0 and view-1 clouds of all
    ``B`` samples in one batched call (``2B`` clouds built by
    :class:`SparsePairDataPreprocessor`). The per-voxel features are gathered at the
    key point matches (``match_rows``; a backbone whose ``forward`` takes ``rows``, such
    as :class:`SparseUNet`, computes its output at those rows only), passed through the optional projection head, and
    fed with the key points' world positions to the loss (default
    :class:`FNEInfoNCELoss`). The loss is computed per sample (negatives only come from
    the same scene) and averaged over the samples.

    Modes of :meth:`forward`:

    - ``'loss'``: ``dict(loss_contrast=Tensor scalar, num_key_points=Tensor scalar)``
      (the mean number of key points per sample is logged, not optimised).
    - ``'predict'``: the data samples, each with ``key_feats0`` / ``key_feats1``
      (M, C) L2-normalised backbone features of the key points (before the projection
      head: the features that are transferred downstream) and ``key_points_world``
      (M, 3) metres, for :class:`FeatureMatchMetric`.
    - ``'tensor'``: the raw backbone features (sumV, C_out), rows as ``inputs['coords']``.

    Args:
        backbone (dict | nn.Module): sparse backbone with
            ``forward(feats (V, C_in), coords int32 (V, 4), batch_size) -> (V, C)``;
            optionally a keyword ``rows`` (R,) that returns only those rows ``(R, C)``
            (used for the loss and 'predict' when present).
        loss (dict | nn.Module): contrastive loss
            ``forward(feats0 (M, C), feats1 (M, C), key_points_world (M, 3)) -> scalar``.
            Defaults to ``dict(type='FNEInfoNCELoss')``.
        projection_head (dict | nn.Module, optional): per-point module applied to the
            gathered key point features before the loss. Defaults to None (paper).
        data_preprocessor (dict | nn.Module, optional): defaults to
            ``dict(type='SparsePairDataPreprocessor')``.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    def __init__(self,
                 backbone: Union[dict, nn.Module],
                 loss: Union[dict, nn.Module, None] = None,
                 projection_head: Union[dict, nn.Module, None] = None,
                 data_preprocessor: Union[dict, nn.Module, None] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='SparsePairDataPreprocessor')
        # Built here with this package's registry so the type resolves without a
        # default scope.
        super().__init__(data_preprocessor=_build(data_preprocessor),
                         init_cfg=init_cfg)
        if backbone is None:
            raise ValueError('GraspContrastPretrainer needs a backbone')
        self.backbone = _build(backbone)
        self.loss_module = _build(
            loss if loss is not None else dict(type='FNEInfoNCELoss'))
        self.projection_head = _build(projection_head)

    # ----------------------------------------------------------------- helpers
    def extract_feat(self, inputs: dict) -> Tensor:
        """Run the shared backbone on all clouds of the batch in one call.

        Args:
            inputs (dict): output ``inputs`` of :class:`SparsePairDataPreprocessor`.

        Returns:
            Tensor: (sumV, C) per-voxel features, rows as ``inputs['coords']``.
        """
        self._check_feat_inputs(inputs)
        feats = self.backbone(inputs['feats'], inputs['coords'],
                              int(inputs['batch_size']))
        if feats.dim() != 2 or feats.shape[0] != inputs['feats'].shape[0]:
            raise RuntimeError('backbone must return one feature row per input '
                               f'voxel: got {tuple(feats.shape)} for '
                               f"{inputs['feats'].shape[0]} voxels")
        return feats

    @staticmethod
    def _check_feat_inputs(inputs: dict) -> None:
        for key in ('feats', 'coords', 'batch_size'):
            if key not in inputs:
                raise KeyError(f'inputs lack {key!r}; was the data preprocessed by '
                               'SparsePairDataPreprocessor?')

    @staticmethod
    def _scene_tag(data_samples: Optional[Sequence], b: int) -> str:
        if data_samples is None or b >= len(data_samples):
            return f'sample {b}'
        meta = getattr(data_samples[b], 'metainfo', None)
        if meta is None and isinstance(data_samples[b], dict):
            meta = data_samples[b]
        meta = meta or {}
        parts = [f'{k}={meta[k]}' for k in ('scene_id', 'frame_ids', 'sample_idx')
                 if k in meta]
        return f"sample {b} ({', '.join(parts)})" if parts else f'sample {b}'

    def _backbone_takes_rows(self) -> bool:
        try:
            params = inspect.signature(self.backbone.forward).parameters
        except (TypeError, ValueError):
            return False
        return 'rows' in params

    def _gather_pairs(self, inputs: dict,
                      data_samples: Optional[Sequence]) -> List[tuple]:
        """Per-sample (f0 (M, C), f1 (M, C), key_points_world (M, 3)).

        The rows of all samples and both views are gathered in one call (one gradient
        buffer in backward); a backbone that takes ``rows`` computes its output there
        only, any other one is run on all voxels and gathered.
        """
        if 'match_rows' not in inputs:
            raise KeyError("inputs lack 'match_rows': 'loss' / 'predict' need view "
                           "pairs (samples with 'views')")
        for b, rows in enumerate(inputs['match_rows']):
            if rows.shape[0] == 0:
                raise ValueError(
                    f'{self._scene_tag(data_samples, b)} has no key point matches '
                    '(M = 0); the pair transforms should have dropped this pair')
        # sample b's view-0 rows, then its view-1 rows, sample after sample
        rows = torch.cat([r.t().reshape(-1) for r in inputs['match_rows']]).long()
        if self._backbone_takes_rows():
            self._check_feat_inputs(inputs)
            key_feats = self.backbone(inputs['feats'], inputs['coords'],
                                      int(inputs['batch_size']), rows=rows)
            if key_feats.dim() != 2 or key_feats.shape[0] != rows.shape[0]:
                raise RuntimeError('backbone must return one feature row per requested '
                                   f'row: got {tuple(key_feats.shape)} for '
                                   f'{rows.shape[0]} rows')
        else:
            key_feats = index_rows(self.extract_feat(inputs), rows)
        # split (not slicing): its backward joins the parts' gradients in one buffer
        sizes = [m for r in inputs['match_rows'] for m in (r.shape[0], r.shape[0])]
        parts = key_feats.split(sizes)
        return [(parts[2 * b], parts[2 * b + 1], kp)
                for b, kp in enumerate(inputs['key_points_world'])]

    # ----------------------------------------------------------------- forward
    def forward(self,
                inputs: dict,
                data_samples: Optional[List[BaseDataElement]] = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], list, Tensor]:
        """Dispatch on ``mode`` ('loss', 'predict' or 'tensor'); see class doc."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_feat(inputs)
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    def loss(self, inputs: dict,
             data_samples: Optional[List[BaseDataElement]] = None
             ) -> Dict[str, Tensor]:
        """Contrastive loss averaged over the samples of the batch.

        Raises:
            ValueError: a sample has no key points.
            FloatingPointError: the loss of some sample is not finite (names them).
        """
        per_sample = []
        num_points = []
        for f0, f1, kp in self._gather_pairs(inputs, data_samples):
            if self.projection_head is not None:
                f0, f1 = self.projection_head(f0), self.projection_head(f1)
            per_sample.append(self.loss_module(f0, f1, kp))
            num_points.append(f0.shape[0])
        losses = torch.stack([loss.reshape(()) for loss in per_sample])
        finite = torch.isfinite(losses)
        if not bool(finite.all()):
            bad = [self._scene_tag(data_samples, b)
                   for b in torch.nonzero(~finite).flatten().tolist()]
            raise FloatingPointError(
                f'non-finite contrastive loss {losses.detach().cpu().tolist()} for '
                f"{'; '.join(bad)}; check the backbone features (NaN/Inf) and the "
                'input points of these scenes')
        return dict(
            loss_contrast=losses.mean(),
            num_key_points=torch.tensor(
                sum(num_points) / len(num_points), device=losses.device))

    def predict(self, inputs: dict,
                data_samples: Optional[List[BaseDataElement]] = None) -> list:
        """Key point features of both views, for feature-matching evaluation.

        Returns:
            list: one data sample per pair with ``key_feats0``, ``key_feats1``
            (M, C) L2-normalised and ``key_points_world`` (M, 3) metres.
        """
        pairs = self._gather_pairs(inputs, data_samples)
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in pairs]
        if len(data_samples) != len(pairs):
            raise ValueError(f'{len(pairs)} pairs but {len(data_samples)} data '
                             'samples')
        for sample, (f0, f1, kp) in zip(data_samples, pairs):
            sample.key_feats0 = F.normalize(f0.detach().float(), dim=1)
            sample.key_feats1 = F.normalize(f1.detach().float(), dim=1)
            sample.key_points_world = kp.detach()
        return list(data_samples)
