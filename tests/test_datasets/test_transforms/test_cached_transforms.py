"""CachedTransforms: deterministic transforms run once per distinct input, exactly the same
samples as without the cache."""
import copy

import numpy as np
import pytest
import torch
from config_diff import expand_cached
from mmengine.config import Config
from mmengine.registry import init_default_scope

from graspcontrast_mm.datasets.transforms import CachedTransforms
from graspcontrast_mm.registry import DATASETS


class Counting:
    """A deterministic transform that counts its calls and adds a 1000-float array."""

    def __init__(self):
        self.calls = 0

    def __call__(self, results):
        self.calls += 1
        results = dict(results)
        results['points'] = np.full((1000, ), float(results['frame_id']), np.float32)
        return results


def test_second_call_reuses_the_result_as_read_only_arrays_in_a_new_dict():
    inner = Counting()
    cache = CachedTransforms([inner])
    first = cache({'frame_id': 3, 'K': np.eye(3)})
    second = cache({'frame_id': 3, 'K': np.eye(3)})
    assert inner.calls == 1 and (cache.hits, cache.misses) == (1, 1)
    assert second is not first and second['points'] is first['points']
    assert not second['points'].flags.writeable and not second['K'].flags.writeable
    assert cache.cached_bytes == 4000 + 72
    second['points'] = np.zeros(2)  # replacing a key changes only this sample's dict
    assert cache({'frame_id': 3, 'K': np.eye(3)})['points'].shape == (1000, )
    with pytest.raises(ValueError, match='read-only'):
        first['points'][0] = 1.0  # an in-place write is an error, not a corrupted cache


def test_inputs_differing_in_any_value_are_computed_again():
    inner = Counting()
    cache = CachedTransforms([inner])
    cache({'frame_id': 1, 'K': np.eye(3)})
    other_array = np.eye(3)
    other_array[0, 2] = 1e-9
    cache({'frame_id': 1, 'K': other_array})
    cache({'frame_id': 1, 'K': np.eye(3, dtype=np.float32)})
    cache({'frame_id': 1, 'K': np.eye(3), 'path': 'a.png'})
    cache({'frame_id': 2, 'K': np.eye(3)})
    assert inner.calls == 5 and cache.hits == 0


def test_least_recently_used_results_are_evicted_beyond_max_bytes():
    inner = Counting()
    cache = CachedTransforms([inner], max_bytes=8000)  # two results of 4000 bytes
    for frame in (1, 2, 1, 3):  # 3 evicts 2 (1 was used more recently)
        cache({'frame_id': frame})
    assert inner.calls == 3 and cache.cached_bytes == 8000
    cache({'frame_id': 1})
    assert inner.calls == 3
    cache({'frame_id': 2})
    assert inner.calls == 4
    small = CachedTransforms([Counting()], max_bytes=100)  # a result larger: not kept
    small({'frame_id': 1})
    small({'frame_id': 1})
    assert small.misses == 2 and small.cached_bytes == 0


def test_a_dropped_sample_is_remembered():
    calls = []

    def drop(results):
        calls.append(1)
        return None

    cache = CachedTransforms([drop])
    assert cache({'frame_id': 1}) is None and cache({'frame_id': 1}) is None
    assert len(calls) == 1


@pytest.mark.parametrize('draw', [lambda: np.random.rand(), lambda: torch.rand(1),
                                  lambda: __import__('random').random()])
def test_a_transform_that_draws_random_numbers_is_an_error(draw):
    def noisy(results):
        draw()
        return results

    with pytest.raises(RuntimeError, match='drew random numbers'):
        CachedTransforms([noisy])({'frame_id': 1})


def test_inputs_the_key_cannot_hold_are_computed_every_time():
    inner = Counting()
    cache = CachedTransforms([inner])
    cache({'frame_id': 1, 'obj': object()})
    cache({'frame_id': 1, 'obj': object()})
    assert inner.calls == 2 and cache.cached_bytes == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match='at least one'):
        CachedTransforms([])
    with pytest.raises(ValueError, match='max_bytes'):
        CachedTransforms([Counting()], max_bytes=-1)
    with pytest.raises(TypeError, match='config dict or callable'):
        CachedTransforms([3])


def _samples(dataset_cfg, indices, epochs, seed):
    dataset = DATASETS.build(dataset_cfg)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return [dataset[i] for _ in range(epochs) for i in indices], dataset


def _caches(dataset):
    found = []
    for t in dataset.pipeline.transforms:
        if isinstance(t, CachedTransforms):
            found.append(t)
        found += [u for u in getattr(getattr(t, 'pipeline', None), 'transforms', [])
                  if isinstance(u, CachedTransforms)]
    return found


def _equal(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    if hasattr(a, 'to_dict'):  # data samples
        return _equal(a.to_dict(), b.to_dict())
    return a == b


@pytest.mark.parametrize('config', ['configs/pretrain_fne_tiny.py',
                                    'configs/gsnet_scratch_tiny.py'])
def test_tiny_training_samples_are_those_without_the_cache(config, labelled_graspnet_root):
    """The tiny configs cache their loading and cropping: over two epochs of the same
    random draws, every sample equals the one of the pipeline without the cache, and the
    second epoch reads nothing again."""
    init_default_scope('graspcontrast_mm')
    cfg = Config.fromfile(config).train_dataloader.dataset
    cfg.data_root = labelled_graspnet_root
    cached_types = [t['type'] for t in cfg.pipeline]
    if cached_types[0] == 'ApplyToViews':
        cached_types = [t['type'] for t in cfg.pipeline[0]['transforms']]
    assert cached_types[0] == 'CachedTransforms'  # the config uses it
    plain = copy.deepcopy(cfg)
    plain.pipeline = expand_cached(plain.pipeline)
    got, dataset = _samples(cfg, [0, 1], epochs=2, seed=7)
    ref, plain_dataset = _samples(plain, [0, 1], epochs=2, seed=7)
    assert all(_equal(a, b) for a, b in zip(got, ref))
    assert not _equal(got[0], got[1])  # different frames: the comparison can tell
    [cache] = _caches(dataset)
    assert _caches(plain_dataset) == []
    assert cache.hits >= cache.misses > 0  # the second epoch came from the cache


def test_packing_copies_read_only_arrays_instead_of_sharing_them():
    """A cached (read-only) array reaches torch as a copy: writing into the tensor leaves
    the cache intact (and torch does not warn about a non-writable array)."""
    import warnings

    from graspcontrast_mm.datasets.transforms.formatting import _tensor
    from graspcontrast_mm.structures.grasp_targets import _as_tensor
    array = np.arange(6, dtype=np.float32)
    array.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        for tensor in (_tensor(array), _tensor(array, torch.float32),
                       _as_tensor(array, torch.float32)):
            tensor[0] = 100.0
    assert array[0] == 0.0
    writable = np.arange(3, dtype=np.float32)
    _tensor(writable)[0] = 7.0  # a writable array is still shared (no copy)
    assert writable[0] == 7.0
