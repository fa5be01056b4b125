"""Packing of view pairs and single views into model inputs + ``Det3DDataSample``."""
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet3d.structures import Det3DDataSample

from graspcontrast_mm.registry import TRANSFORMS

__all__ = ['VIEW_INPUT_DTYPES', 'PackViewPairInputs', 'PackPointsInputs', 'pack_view_tensors']

#: Per-view model inputs and their dtypes.
VIEW_INPUT_DTYPES: Dict[str, torch.dtype] = {
    'points': torch.float32,
    'coords': torch.int32,
    'feats': torch.float32,
    'point2voxel': torch.int64,
}


def _tensor(value, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """A tensor of ``value`` (in ``dtype``, else its own); a read-only array (e.g. held by
    CachedTransforms) is copied, so that nothing downstream can write into it through a
    shared tensor."""
    if isinstance(value, torch.Tensor):
        return value if dtype is None else value.to(dtype)
    array = np.ascontiguousarray(np.asarray(value))
    if not array.flags.writeable:
        return torch.tensor(array, dtype=dtype)
    tensor = torch.from_numpy(array)
    return tensor if dtype is None else tensor.to(dtype)


def pack_view_tensors(view: dict) -> Dict[str, torch.Tensor]:
    """Tensors of one voxelized view: ``points``, ``coords``, ``feats``, ``point2voxel``.

    Args:
        view: view dict after :class:`Voxelize`.

    Returns:
        dict: ``points`` float32 (N, 3) augmented camera frame, metres; ``coords`` int32
        (V, 3); ``feats`` float32 (V, C); ``point2voxel`` int64 (N,).

    Raises:
        KeyError: a key is missing (the view was not voxelized).
    """
    missing = [k for k in VIEW_INPUT_DTYPES if k not in view]
    if missing:
        raise KeyError(f'cannot pack a view without {missing}; run Voxelize first')
    return {k: _tensor(view[k], dtype) for k, dtype in VIEW_INPUT_DTYPES.items()}


def _to_meta(value):
    return value.tolist() if isinstance(value, np.generic) else value


@TRANSFORMS.register_module()
class PackViewPairInputs(BaseTransform):
    """Pack a matched view pair for the two-branch pre-training model.

    Required keys: ``views`` (two voxelized view dicts), ``matches`` (M, 2),
    ``match_points_world`` (M, 3).

    Returns:
        dict:
            - inputs (dict): ``views``: list of two dicts of tensors (see
              :func:`pack_view_tensors`); ``matches``: int64 (M, 2) point indices (view 0,
              view 1); ``key_points_world``: float32 (M, 3) world frame, metres.
            - data_samples (Det3DDataSample): metainfo with the ``meta_keys`` found at the
              top level (falling back to view 0 for ``scene_id`` and ``camera``), plus
              per-view lists ``frame_ids`` and, for each of ``view_meta_keys``, the key
              with an ``s`` appended (e.g. ``aug_mats``, ``cam2worlds``).

    Args:
        meta_keys: top-level keys copied to the metainfo.
        view_meta_keys: per-view keys gathered into lists (``frame_id`` -> ``frame_ids``).
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('scene_id', 'sample_idx', 'camera'),
                 view_meta_keys: Sequence[str] = ('frame_id', 'aug_mat', 'cam2world',
                                                  'depth_path')) -> None:
        self.meta_keys = tuple(meta_keys)
        self.view_meta_keys = tuple(view_meta_keys)

    def transform(self, results: dict) -> dict:
        views = results.get('views')
        if views is None or len(views) != 2:
            raise ValueError("PackViewPairInputs needs exactly two views under 'views'")
        for key in ('matches', 'match_points_world'):
            if key not in results:
                raise KeyError(f"PackViewPairInputs needs '{key}'; run MatchViewPair first")
        inputs = {
            'views': [pack_view_tensors(v) for v in views],
            'matches': _tensor(results['matches'], torch.int64).reshape(-1, 2),
            'key_points_world': _tensor(results['match_points_world'],
                                        torch.float32).reshape(-1, 3),
        }
        meta = {}
        for key in self.meta_keys:
            if key in results:
                meta[key] = _to_meta(results[key])
            elif key in views[0]:
                meta[key] = _to_meta(views[0][key])
        for key in self.view_meta_keys:
            if all(key in v for v in views):
                meta[key + 's'] = [_to_meta(v[key]) for v in views]
        data_sample = Det3DDataSample()
        data_sample.set_metainfo(meta)
        return {'inputs': inputs, 'data_samples': data_sample}

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(meta_keys={self.meta_keys}, '
                f'view_meta_keys={self.view_meta_keys})')


@TRANSFORMS.register_module()
class PackPointsInputs(BaseTransform):
    """Pack one voxelized view (fine-tuning, inference).

    Required keys: ``points``, ``coords``, ``feats``, ``point2voxel``.

    Returns:
        dict:
            - inputs (dict): the tensors of :func:`pack_view_tensors`, plus
              ``extra_input_keys`` converted with ``torch.as_tensor``.
            - data_samples (Det3DDataSample): metainfo with the ``meta_keys`` present
              (``aug_mat`` and ``cam2world`` map predictions back to the camera and world
              frames); ``scene_points`` float32 (M, 3) camera frame when the results
              hold it (:class:`KeepScenePoints`).

    Args:
        meta_keys: keys copied to the metainfo when present.
        extra_input_keys: further arrays to pass as inputs (e.g. per-point labels).
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('scene_id', 'frame_id', 'sample_idx', 'camera',
                                             'depth_path', 'cam_intrinsic', 'cam2world',
                                             'aug_mat', 'voxel_origin', 'voxel_size',
                                             'depth_shape'),
                 extra_input_keys: Sequence[str] = ()) -> None:
        self.meta_keys = tuple(meta_keys)
        self.extra_input_keys = tuple(extra_input_keys)

    def transform(self, results: dict) -> dict:
        inputs = pack_view_tensors(results)
        for key in self.extra_input_keys:
            if key not in results:
                raise KeyError(f"extra input '{key}' is not in the results")
            value = results[key]
            inputs[key] = _tensor(value)
        data_sample = Det3DDataSample()
        data_sample.set_metainfo(
            {k: _to_meta(results[k]) for k in self.meta_keys if k in results})
        if results.get('scene_points') is not None:
            data_sample.scene_points = np.asarray(results['scene_points'], np.float32)
        return {'inputs': inputs, 'data_samples': data_sample}

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(meta_keys={self.meta_keys}, '
                f'extra_input_keys={self.extra_input_keys})')
