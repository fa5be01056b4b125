"""Reuse the result of deterministic transforms across epochs.

Loading a depth image, turning it into points and cropping the workspace give the same
result for a frame every time, yet a pipeline repeats them in every epoch (for the tiny
pre-training, 45 of the 68 ms that a view pair costs). :class:`CachedTransforms` runs such
a prefix once per distinct input and keeps its result in memory (least recently used
results evicted beyond ``max_bytes``); the random transforms after it draw as before, so
a run draws exactly what it drew without the cache.

Rules that keep this exact:

- Only transforms without random draws may be cached: the first run of every input checks
  that numpy's, Python's and torch's global random states are unchanged, and a transform
  that drew is an error naming the wrapper's transforms.
- The cached arrays are made read-only and every call returns a new dict holding them: a
  later transform that replaced a key changes only its own dict, and one that wrote into a
  cached array in place fails loudly (numpy's "assignment destination is read-only")
  instead of corrupting the next epoch.
- The key is the whole input dict (strings, numbers, nested lists and dicts, and numpy
  arrays by dtype, shape and content). The files an input names are assumed not to change
  while the process runs.

Every data-loader worker process keeps its own cache (persistent workers keep it across
epochs).
"""
import hashlib
import random
from collections import OrderedDict
from typing import Any, Callable, List, Optional, Sequence, Union

import numpy as np
import torch
from mmcv.transforms import BaseTransform, Compose

from graspcontrast_mm.registry import TRANSFORMS

__all__ = ['CachedTransforms', 'compose_transforms']

_SCALARS = (str, int, float, bool, type(None), bytes)
_NONE = object()  # the cached result of a prefix that dropped the sample


class _Uncacheable(Exception):
    """An input value the cache key cannot represent."""


def _key(value: Any):
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return ('ndarray', data.dtype.str, data.shape,
                hashlib.blake2b(data.tobytes(), digest_size=16).digest())
    if isinstance(value, np.generic):
        return ('scalar', value.dtype.str, value.item())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_key(v) for v in value))
    if isinstance(value, dict):
        return ('dict', tuple(sorted((str(k), _key(v)) for k, v in value.items())))
    raise _Uncacheable(type(value).__name__)


def _freeze(value: Any):
    """Make the arrays of a result read-only (in place) and return their bytes."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
        return value.nbytes
    if isinstance(value, torch.Tensor):
        raise _Uncacheable('torch.Tensor')  # cannot be made read-only
    if isinstance(value, (list, tuple)):
        return sum(_freeze(v) for v in value)
    if isinstance(value, dict):
        return sum(_freeze(v) for v in value.values())
    return 0


def _random_states():
    numpy_state = np.random.get_state()
    return (numpy_state[1].tobytes(), numpy_state[2:], random.getstate(),
            torch.random.get_rng_state())


def _same_states(a, b) -> bool:
    return a[0] == b[0] and a[1] == b[1] and a[2] == b[2] and torch.equal(a[3], b[3])


def compose_transforms(transforms: Sequence[Union[dict, Callable]]) -> Compose:
    """A ``Compose`` of transform configs (built with the ``graspcontrast_mm`` TRANSFORMS
    registry, which falls back to mmdet3d / mmengine) or callables."""
    built: List[Callable] = []
    for t in transforms:
        if isinstance(t, dict):
            built.append(TRANSFORMS.build(t))
        elif callable(t):
            built.append(t)
        else:
            raise TypeError(f'a transform must be a config dict or callable, got {type(t)}')
    return Compose(built)


@TRANSFORMS.register_module()
class CachedTransforms(BaseTransform):
    """Run deterministic transforms once per distinct input and reuse the result (module
    docstring).

    Args:
        transforms: the transforms to cache (configs built with the ``graspcontrast_mm``
            TRANSFORMS registry, or callables); none of them may draw random numbers.
        max_bytes: most bytes of arrays kept (least recently used results evicted
            first); a single result larger than this is not kept. Defaults to 1 GiB.

    Example (a pre-training view pipeline)::

        dict(type='CachedTransforms', transforms=[
            dict(type='LoadDepthImage'),
            dict(type='DepthToPoints', min_depth=0.1, max_depth=2.0, with_pixel_uv=True),
            dict(type='ObjectWorkspaceCrop', margin=0.02)]),
        dict(type='PointSample', num_points=8192),   # random draws: not cached
    """

    def __init__(self, transforms: Sequence[Union[dict, Callable]],
                 max_bytes: int = 1 << 30) -> None:
        if not transforms:
            raise ValueError('CachedTransforms needs at least one transform')
        if not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f'max_bytes must be an integer >= 0, got {max_bytes!r}')
        self.pipeline = compose_transforms(transforms)
        self.max_bytes = max_bytes
        self._cache: 'OrderedDict[Any, tuple]' = OrderedDict()  # key -> (result, bytes)
        self.cached_bytes = 0
        self.hits = self.misses = 0

    def transform(self, results: dict) -> Optional[dict]:
        try:
            key = _key(results)
        except _Uncacheable:
            return self.pipeline(results)
        entry = self._cache.get(key)
        if entry is not None:
            self._cache.move_to_end(key)
            self.hits += 1
            return None if entry[0] is _NONE else dict(entry[0])
        self.misses += 1
        before = _random_states()
        out = self.pipeline(results)
        if not _same_states(before, _random_states()):
            raise RuntimeError(
                f'{self!r} drew random numbers: only transforms without random draws '
                'can be cached (put the random ones after CachedTransforms)')
        try:
            size = 0 if out is None else _freeze(out)
        except _Uncacheable:
            return out
        if size <= self.max_bytes:
            self._cache[key] = (_NONE if out is None else out, size)
            self.cached_bytes += size
            while self.cached_bytes > self.max_bytes:
                _, (_, evicted) = self._cache.popitem(last=False)
                self.cached_bytes -= evicted
        return None if out is None else dict(out)

    def __repr__(self) -> str:
        inner = ', '.join(repr(t) for t in self.pipeline.transforms)
        return (f'{self.__class__.__name__}(transforms=[{inner}], '
                f'max_bytes={self.max_bytes})')
