"""Batch packed view pairs (or single views) into one sparse-conv input.

Input layout (see ``docs/data_flow.md``, "Model inputs"): each sample packed by
``PackViewPairInputs`` is::

    {'views': [{'points': float32 (N, 3), 'coords': int32 (V, 3) >= 0,
                'feats': float32 (V, C), 'point2voxel': int64 (N,)},  # view 0
               {...}],                                               # view 1
     'matches': int64 (M, 2),             # point indices (view 0, view 1)
     'key_points_world': float32 (M, 3)}  # metres, world (table) frame

A single-view sample has the per-view keys at top level (no ``'views'``).
"""
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.model import BaseDataPreprocessor
from torch import Tensor

from graspcontrast_mm.registry import MODELS

__all__ = ['SparsePairDataPreprocessor']

_VIEW_KEYS = ('points', 'coords', 'feats', 'point2voxel')
_PAIR_KEYS = ('views', 'matches', 'key_points_world')


def _to_tensor(value: Any) -> Any:
    """Turn numpy arrays (possibly nested in lists / dicts) into tensors."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, Mapping):
        return {k: _to_tensor(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_tensor(v) for v in value)
    return value


def _uncollate(inputs: Any) -> List[dict]:
    """Per-sample list of input dicts.

    Accepts the list of per-sample dicts (the packer's ``inputs`` gathered by a list
    collate) as well as the transposed layout produced by mmengine's ``pseudo_collate``
    (a dict whose leaves are per-sample lists; ``'views'`` becomes a list over views of
    dicts of per-sample lists).
    """
    if isinstance(inputs, (list, tuple)):
        if len(inputs) == 0:
            raise ValueError('SparsePairDataPreprocessor got an empty batch')
        for b, sample in enumerate(inputs):
            if not isinstance(sample, Mapping):
                raise TypeError(f'inputs[{b}] must be a dict, got '
                                f'{type(sample).__name__}')
        return list(inputs)
    if not isinstance(inputs, Mapping):
        raise TypeError("data['inputs'] must be a list of per-sample dicts or a "
                        f'collated dict, got {type(inputs).__name__}')

    def batch_len(value: Any) -> Optional[int]:
        return len(value) if isinstance(value, (list, tuple)) else None

    if 'views' in inputs:
        views = inputs['views']
        if not isinstance(views, (list, tuple)) or not all(
                isinstance(v, Mapping) for v in views):
            raise TypeError("collated inputs['views'] must be a list of dicts")
        sizes = {batch_len(v) for view in views for v in view.values()}
        sizes |= {batch_len(v) for k, v in inputs.items() if k != 'views'}
    else:
        sizes = {batch_len(v) for v in inputs.values()}
    if None in sizes or len(sizes) != 1:
        raise ValueError('collated inputs must hold one per-sample list of equal '
                         'length under every key')
    size = sizes.pop()
    samples = []
    for b in range(size):
        sample = {k: v[b] for k, v in inputs.items() if k != 'views'}
        if 'views' in inputs:
            sample['views'] = [{k: v[b] for k, v in view.items()}
                               for view in inputs['views']]
        samples.append(sample)
    if not samples:
        raise ValueError('SparsePairDataPreprocessor got an empty batch')
    return samples


@MODELS.register_module()
class SparsePairDataPreprocessor(BaseDataPreprocessor):
    """Move packed samples to the device and batch them into ONE sparse tensor.

    Pair mode (samples with ``'views'``), ``B`` samples -> ``2B`` clouds; cloud
    ``view * B + b`` is view ``view`` of sample ``b`` (all view-0 clouds first). Output
    ``inputs``:

    - ``coords``: int32 (sumV, 4) ``[cloud_idx, x, y, z]`` voxel coordinates (>= 0),
      clouds stacked in cloud order (rows of cloud ``c`` are
      ``cloud_offsets[c]:cloud_offsets[c + 1]``).
    - ``feats``: float32 (sumV, C).
    - ``batch_size``: int, number of clouds (``2B``).
    - ``num_samples``: int, ``B``.
    - ``cloud_offsets``: int64 (2B + 1,) voxel-row offsets.
    - ``points``: list of 2B float32 (N_c, 3) point clouds (the view's current frame).
    - ``point2voxel``: list of 2B int64 (N_c,) GLOBAL voxel rows of every point.
    - ``match_rows``: list of B int64 (M_b, 2) GLOBAL voxel rows (view 0, view 1) of
      the key point matches: ``point2voxel[matches] + cloud offset``.
    - ``key_points_world``: list of B float32 (M_b, 3), metres, world frame.

    Single-view mode (samples without ``'views'``), ``B`` clouds with cloud index ``b``;
    the same keys except ``match_rows`` / ``key_points_world``. In both modes any
    other per-sample key is passed through as a list of length ``B``.

    Accepts ``data['inputs']`` as a list of per-sample dicts or as the output of
    mmengine's ``pseudo_collate`` (dict of per-sample lists). Numpy arrays are turned
    into tensors. Malformed samples raise ``KeyError`` / ``ValueError`` naming the
    sample, view and key.

    Args:
        non_blocking (bool): non-blocking host-to-device copies. Defaults to False.
    """

    def __init__(self, non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Batch one dataloader batch.

        Args:
            data (dict): ``{'inputs': ..., 'data_samples': list or None}``.
            training (bool): unused (no augmentation here).

        Returns:
            dict: ``{'inputs': dict (see class docstring), 'data_samples': list}``.
        """
        if not isinstance(data, Mapping) or 'inputs' not in data:
            raise KeyError("SparsePairDataPreprocessor expects a dict with key "
                           "'inputs'")
        samples = _uncollate(_to_tensor(data['inputs']))
        samples = self.cast_data(samples)
        data_samples = self.cast_data(data.get('data_samples', None))
        if data_samples is not None and len(data_samples) != len(samples):
            raise ValueError(f'got {len(samples)} inputs but {len(data_samples)} '
                             'data_samples')
        is_pair = ['views' in s for s in samples]
        if all(is_pair):
            inputs = self._batch_pairs(samples)
        elif not any(is_pair):
            inputs = self._batch_single(samples)
        else:
            raise ValueError('a batch mixes view pairs and single views')
        return {'inputs': inputs, 'data_samples': data_samples}

    # ------------------------------------------------------------------ checks
    @staticmethod
    def _check_view(view: Mapping, where: str) -> Tuple[int, int]:
        """Validate one view dict; returns (N points, V voxels)."""
        for key in _VIEW_KEYS:
            if key not in view:
                raise KeyError(f'{where}: missing key {key!r} (has '
                               f'{sorted(view.keys())})')
        for key in _VIEW_KEYS:
            if not isinstance(view[key], Tensor):
                raise TypeError(f'{where}: {key!r} must be a tensor or ndarray, got '
                                f'{type(view[key]).__name__}')
        points, coords = view['points'], view['coords']
        feats, p2v = view['feats'], view['point2voxel']
        if points.dim() != 2 or points.shape[1] != 3:
            raise ValueError(f"{where}: 'points' must be (N, 3), got "
                             f'{tuple(points.shape)}')
        if coords.dim() != 2 or coords.shape[1] != 3:
            raise ValueError(f"{where}: 'coords' must be (V, 3), got "
                             f'{tuple(coords.shape)}')
        num_pts, num_vox = points.shape[0], coords.shape[0]
        if num_pts == 0 or num_vox == 0:
            raise ValueError(f'{where}: empty cloud ({num_pts} points, {num_vox} '
                             'voxels)')
        if feats.dim() != 2 or feats.shape[0] != num_vox:
            raise ValueError(f"{where}: 'feats' must be (V, C) with V = {num_vox}, "
                             f'got {tuple(feats.shape)}')
        if p2v.dim() != 1 or p2v.shape[0] != num_pts:
            raise ValueError(f"{where}: 'point2voxel' must be (N,) with N = "
                             f'{num_pts}, got {tuple(p2v.shape)}')
        if coords.is_floating_point() or p2v.is_floating_point():
            raise TypeError(f"{where}: 'coords' and 'point2voxel' must be integer")
        if bool((coords < 0).any()):
            raise ValueError(f"{where}: 'coords' must be >= 0")
        if bool((p2v < 0).any()) or bool((p2v >= num_vox).any()):
            raise ValueError(f"{where}: 'point2voxel' out of range [0, {num_vox})")
        return num_pts, num_vox

    # ---------------------------------------------------------------- batching
    @staticmethod
    def _stack_clouds(views: Sequence[Mapping]) -> Dict[str, Any]:
        """Stack validated clouds in the given order (cloud index = position)."""
        coords, feats, point2voxel, offsets = [], [], [], [0]
        channels = {int(v['feats'].shape[1]) for v in views}
        if len(channels) != 1:
            raise ValueError(f'clouds have different feature widths {channels}')
        for idx, view in enumerate(views):
            c = view['coords'].to(torch.int32)
            batch_col = torch.full((c.shape[0], 1), idx, dtype=torch.int32,
                                   device=c.device)
            coords.append(torch.cat([batch_col, c], dim=1))
            feats.append(view['feats'].float())
            point2voxel.append(view['point2voxel'].long() + offsets[-1])
            offsets.append(offsets[-1] + c.shape[0])
        device = coords[0].device
        return {
            'coords': torch.cat(coords, dim=0),
            'feats': torch.cat(feats, dim=0),
            'batch_size': len(views),
            'cloud_offsets': torch.tensor(offsets, dtype=torch.long,
                                          device=device),
            'points': [v['points'].float() for v in views],
            'point2voxel': point2voxel,
        }

    def _batch_pairs(self, samples: List[dict]) -> Dict[str, Any]:
        num = len(samples)
        for b, sample in enumerate(samples):
            for key in _PAIR_KEYS:
                if key not in sample:
                    raise KeyError(f'sample {b}: missing key {key!r} (has '
                                   f'{sorted(sample.keys())})')
            if len(sample['views']) != 2:
                raise ValueError(f"sample {b}: 'views' must hold 2 views, got "
                                 f"{len(sample['views'])}")
        sizes = [[self._check_view(s['views'][v], f'sample {b}, view {v}')
                  for v in range(2)] for b, s in enumerate(samples)]
        clouds = [samples[b]['views'][v] for v in range(2) for b in range(num)]
        out = self._stack_clouds(clouds)
        offsets = out['cloud_offsets']
        match_rows, key_points = [], []
        for b, sample in enumerate(samples):
            matches, kp = sample['matches'], sample['key_points_world']
            if not isinstance(matches, Tensor) or matches.dim() != 2 or \
                    matches.shape[1] != 2:
                raise ValueError(f"sample {b}: 'matches' must be (M, 2), got "
                                 f'{tuple(getattr(matches, "shape", ()))}')
            if matches.is_floating_point():
                raise TypeError(f"sample {b}: 'matches' must be integer")
            if not isinstance(kp, Tensor) or tuple(kp.shape) != (
                    matches.shape[0], 3):
                raise ValueError(f"sample {b}: 'key_points_world' must be (M, 3) "
                                 f'with M = {matches.shape[0]}, got '
                                 f'{tuple(getattr(kp, "shape", ()))}')
            matches = matches.long()
            rows = []
            for v in range(2):
                num_pts = sizes[b][v][0]
                idx = matches[:, v]
                if bool((idx < 0).any()) or bool((idx >= num_pts).any()):
                    raise ValueError(f"sample {b}: 'matches[:, {v}]' out of range "
                                     f'[0, {num_pts}) of view {v} points')
                cloud = v * num + b
                rows.append(out['point2voxel'][cloud][idx])
            match_rows.append(torch.stack(rows, dim=1))
            key_points.append(kp.float())
        out['num_samples'] = num
        out['match_rows'] = match_rows
        out['key_points_world'] = key_points
        for key in samples[0]:
            if key not in _PAIR_KEYS:
                out.setdefault(key, [s.get(key) for s in samples])
        return out

    def _batch_single(self, samples: List[dict]) -> Dict[str, Any]:
        for b, sample in enumerate(samples):
            self._check_view(sample, f'sample {b}')
        out = self._stack_clouds(samples)
        out['num_samples'] = len(samples)
        for key in samples[0]:
            if key not in _VIEW_KEYS:
                out.setdefault(key, [s.get(key) for s in samples])
        return out
