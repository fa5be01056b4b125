"""Strict initialisation of a sub-module from part of a checkpoint (e.g. a pre-trained backbone).

mmengine's ``dict(type='Pretrained', checkpoint=..., prefix='backbone.')`` strips the prefix
but loads with ``strict=False``: keys that are missing, unexpected or of the wrong shape are
only logged, so a fine-tuning run silently starts from random weights when the checkpoint
belongs to another model or to a backbone with other widths. :class:`PretrainedStrictInit`
(registered as ``'PretrainedStrict'`` in ``WEIGHT_INITIALIZERS``) loads the same way and
raises :class:`CheckpointMismatchError`, naming the keys, unless every parameter and buffer
of the module is matched one-to-one with a tensor of the same shape.

Typical use, the GSNet backbone from a GraspContrast pre-training checkpoint::

    model = dict(
        type='GSNet',
        backbone=dict(
            type='SparseUNet', ...,
            init_cfg=dict(type='PretrainedStrict',
                          checkpoint='work_dirs/pretrain_fne/epoch_50.pth',
                          prefix='backbone.')))

mmengine's runner calls ``model.init_weights()`` at the start of ``train()`` (not for
``test()``, where ``load_from`` provides every weight), so the checkpoint is only read when
training starts. The initializer only touches the module it is attached to; every other
module keeps its own initialisation. Set it on the backbone's ``init_cfg`` (mmengine applies
initializers other than its own ``'Pretrained'`` before the module's children run their
``init_weights``; a backbone whose children have no ``init_weights``, as ``SparseUNet``, is
not affected by that order).
"""
import re
from collections import OrderedDict
from typing import (Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union)

import torch
import torch.nn as nn

from graspcontrast_mm.registry import WEIGHT_INITIALIZERS
from .checkpoint_compat import CheckpointLoadError, load_checkpoint_file

__all__ = [
    'CheckpointMismatchError', 'PretrainedStrictInit', 'extract_state_dict',
    'select_prefixed_state_dict', 'apply_key_mapping', 'compare_state_dicts',
    'load_pretrained_module', 'format_key_list'
]

KeyMapping = Union[Mapping[str, str], Sequence[Tuple[str, str]], None]

#: How many key names an error message lists per category.
_MAX_LISTED = 12


class CheckpointMismatchError(ValueError):
    """The tensors of a checkpoint do not fit a module (missing / unexpected / shapes).

    Attributes:
        missing: module keys that the checkpoint lacks.
        unexpected: checkpoint keys that the module does not have.
        mismatched: ``(key, checkpoint shape, module shape)`` of keys whose shapes differ.
    """

    def __init__(self, message: str, missing: Sequence[str] = (),
                 unexpected: Sequence[str] = (),
                 mismatched: Sequence[Tuple[str, tuple, tuple]] = ()) -> None:
        super().__init__(message)
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.mismatched = list(mismatched)


def extract_state_dict(checkpoint: object, source: str = 'checkpoint') -> 'OrderedDict':
    """The tensor dict of a loaded checkpoint.

    Accepts mmengine / mmdet checkpoints (``{'state_dict': ..., 'meta': ...}``), the
    ``model_state_dict`` / ``model`` layouts of plain training scripts, and a bare state
    dict. A ``module.`` prefix common to every key (a checkpoint saved from a
    ``DistributedDataParallel`` wrapper) is removed.

    Args:
        checkpoint: the object returned by :func:`load_checkpoint_file`.
        source: name of the checkpoint for error messages.

    Returns:
        OrderedDict: key -> tensor.

    Raises:
        CheckpointLoadError: no tensor dict is found.
    """
    state = checkpoint
    if isinstance(checkpoint, Mapping):
        for key in ('state_dict', 'model_state_dict', 'model'):
            if isinstance(checkpoint.get(key), Mapping):
                state = checkpoint[key]
                break
    if not isinstance(state, Mapping) or not state or not all(
            isinstance(v, torch.Tensor) for v in state.values()):
        top = sorted(checkpoint)[:_MAX_LISTED] if isinstance(checkpoint, Mapping) else []
        raise CheckpointLoadError(
            f'{source} holds no state dict of tensors (looked for "state_dict", '
            f'"model_state_dict", "model" or a bare tensor dict; top-level keys: {top})')
    out = OrderedDict(state.items())
    if all(k.startswith('module.') for k in out):
        out = OrderedDict((k[len('module.'):], v) for k, v in out.items())
    return out


def _top_prefixes(keys: Iterable[str]) -> List[str]:
    return sorted({k.split('.', 1)[0] + '.' for k in keys})


def select_prefixed_state_dict(state_dict: Mapping[str, torch.Tensor], prefix: str,
                               source: str = 'checkpoint') -> 'OrderedDict':
    """The entries whose key starts with ``prefix``, with the prefix removed.

    Args:
        state_dict: key -> tensor.
        prefix: e.g. ``'backbone.'``; ``''`` keeps every entry.
        source: name of the checkpoint for error messages.

    Returns:
        OrderedDict: stripped key -> tensor.

    Raises:
        CheckpointMismatchError: no key starts with ``prefix`` (the message lists the
            checkpoint's top-level prefixes).
    """
    if not prefix:
        return OrderedDict(state_dict.items())
    out = OrderedDict((k[len(prefix):], v) for k, v in state_dict.items()
                      if k.startswith(prefix))
    if not out:
        raise CheckpointMismatchError(
            f'{source}: no key starts with the prefix {prefix!r}; the checkpoint holds '
            f'{_top_prefixes(state_dict)} (is it a checkpoint of the right model, e.g. '
            'a GraspContrastPretrainer with its backbone under "backbone."?)')
    return out


def _mapping_pairs(key_mapping: KeyMapping) -> List[Tuple['re.Pattern', str]]:
    if key_mapping is None:
        return []
    pairs = list(key_mapping.items()) if isinstance(key_mapping, Mapping) \
        else [tuple(p) for p in key_mapping]
    out = []
    for pair in pairs:
        if len(pair) != 2 or not all(isinstance(s, str) for s in pair):
            raise TypeError('key_mapping must map regex patterns to replacement strings '
                            f'(a dict or (pattern, replacement) pairs), got {pair!r}')
        try:
            out.append((re.compile(pair[0]), pair[1]))
        except re.error as err:
            raise ValueError(f'key_mapping pattern {pair[0]!r} is not a valid regular '
                             f'expression: {err}') from err
    return out


def apply_key_mapping(state_dict: Mapping[str, torch.Tensor],
                      key_mapping: KeyMapping) -> 'OrderedDict':
    """Rename keys with regular-expression substitutions, applied in order.

    Args:
        state_dict: key -> tensor (prefix already removed).
        key_mapping: ``{pattern: replacement}`` or ``[(pattern, replacement), ...]``;
            every pair is applied with :func:`re.sub` to every key, in order. An empty
            replacement result drops the entry (e.g. ``{'^proj\\..*': ''}`` drops a
            projection head).

    Returns:
        OrderedDict: renamed key -> tensor.

    Raises:
        ValueError: two keys are renamed to the same key.
    """
    pairs = _mapping_pairs(key_mapping)
    if not pairs:
        return OrderedDict(state_dict.items())
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    origin: Dict[str, str] = {}
    for key, value in state_dict.items():
        new = key
        for pattern, repl in pairs:
            new = pattern.sub(repl, new)
        if not new:
            continue
        if new in out:
            raise ValueError(f'key_mapping renames both {origin[new]!r} and {key!r} to '
                             f'{new!r}')
        out[new] = value
        origin[new] = key
    return out


def compare_state_dicts(expected: Mapping[str, torch.Tensor],
                        given: Mapping[str, torch.Tensor]
                        ) -> Tuple[List[str], List[str], List[Tuple[str, tuple, tuple]]]:
    """Keys of ``expected`` missing from ``given``, extra keys, and shape mismatches.

    Args:
        expected: the module's state dict.
        given: the checkpoint tensors.

    Returns:
        tuple: ``missing`` (sorted), ``unexpected`` (sorted) and ``mismatched`` as
        ``(key, given shape, expected shape)`` (sorted by key).
    """
    missing = sorted(k for k in expected if k not in given)
    unexpected = sorted(k for k in given if k not in expected)
    mismatched = sorted((k, tuple(given[k].shape), tuple(expected[k].shape))
                        for k in expected if k in given
                        and tuple(given[k].shape) != tuple(expected[k].shape))
    return missing, unexpected, mismatched


def format_key_list(items: Sequence) -> str:
    """``[a, b, ...]`` with at most a dozen items shown and a count of the rest."""
    shown = ', '.join(str(i) for i in items[:_MAX_LISTED])
    more = f', ... ({len(items) - _MAX_LISTED} more)' if len(items) > _MAX_LISTED else ''
    return f'[{shown}{more}]'


def load_pretrained_module(module: nn.Module,
                           checkpoint: str,
                           prefix: str = 'backbone.',
                           key_mapping: KeyMapping = None,
                           ignore_missing: Sequence[str] = (),
                           map_location: Optional[Union[str, torch.device]] = 'cpu'
                           ) -> List[str]:
    """Load ``module``'s tensors from the ``prefix`` part of a checkpoint, strictly.

    Steps: :func:`load_checkpoint_file` -> :func:`extract_state_dict` ->
    :func:`select_prefixed_state_dict` -> :func:`apply_key_mapping` -> every parameter and
    buffer of ``module`` must be present with the same shape, and every selected checkpoint
    tensor must belong to the module -> the values are copied into the module's parameters
    and buffers as they are (dtypes cast to the module's; no layout conversion hooks).

    Args:
        module: the module to initialise (e.g. a ``SparseUNet``).
        checkpoint: path of the checkpoint file.
        prefix: key prefix of the module inside the checkpoint (``'backbone.'`` for a
            ``GraspContrastPretrainer`` or ``GSNet`` checkpoint; ``''`` for a bare backbone
            state dict).
        key_mapping: renaming applied after the prefix is removed (see
            :func:`apply_key_mapping`).
        ignore_missing: regular expressions of module keys that may be absent from the
            checkpoint (they keep their current values), e.g. ``[r'^final\\.']`` to
            fine-tune a new output layer.
        map_location: as in :func:`torch.load`.

    Returns:
        list: the module keys that were loaded.

    Raises:
        CheckpointLoadError: the file is missing, truncated or corrupt, or holds no state
            dict.
        CheckpointMismatchError: a key is missing, unexpected or of another shape (the
            message names them), or no key starts with ``prefix``.
        NonFiniteWeightsError: a selected tensor holds NaN or inf values.
    """
    source = f'checkpoint {checkpoint}'
    loaded = load_checkpoint_file(checkpoint, map_location=map_location)
    state = extract_state_dict(loaded, source)
    state = select_prefixed_state_dict(state, prefix, source)
    state = apply_key_mapping(state, key_mapping)

    # Checked and copied as every whole-model load is (strict; no layout conversion hooks,
    # see graspcontrast_mm.engine.model_loading).
    from .model_loading import copy_state_dict_checked
    report = copy_state_dict_checked(
        module, state, source=f'{source} (prefix {prefix!r})', strict=True,
        ignore_missing=ignore_missing,
        hint='Is it a checkpoint of this model with the same backbone settings (planes, '
        'init_dim, in/out channels)?')
    return report.loaded


@WEIGHT_INITIALIZERS.register_module(name='PretrainedStrict')
class PretrainedStrictInit:
    """Weight initializer: :func:`load_pretrained_module` from ``init_cfg``.

    ``init_cfg=dict(type='PretrainedStrict', checkpoint=PATH, prefix='backbone.',
    key_mapping=None, ignore_missing=(), map_location='cpu')``. Unlike mmengine's
    ``'Pretrained'``, any missing, unexpected or shape-mismatched key raises
    :class:`CheckpointMismatchError` naming the keys, and a bad file raises
    :class:`CheckpointLoadError`.

    Args:
        checkpoint: path of the checkpoint file (e.g. a GraspContrast pre-training
            ``epoch_N.pth``).
        prefix: key prefix of the module in the checkpoint.
        key_mapping: regex renaming after the prefix is removed.
        ignore_missing: regexes of module keys allowed to be absent.
        map_location: as in :func:`torch.load`.
    """

    def __init__(self, checkpoint: str, prefix: str = 'backbone.',
                 key_mapping: KeyMapping = None, ignore_missing: Sequence[str] = (),
                 map_location: Optional[str] = 'cpu') -> None:
        if not isinstance(checkpoint, str) or not checkpoint:
            raise ValueError(f'PretrainedStrict needs a checkpoint path, got {checkpoint!r}')
        self.checkpoint = checkpoint
        self.prefix = prefix or ''
        self.key_mapping = key_mapping
        self.ignore_missing = tuple(ignore_missing)
        self.map_location = map_location
        _mapping_pairs(key_mapping)  # validate early (at build time)
        # set by mmengine's ``initialize``; unused (the whole module is always loaded)
        self.wholemodule = False

    def __call__(self, module: nn.Module) -> None:
        from mmengine.logging import print_log
        from mmengine.model.weight_init import update_init_info
        keys = load_pretrained_module(module, self.checkpoint, prefix=self.prefix,
                                      key_mapping=self.key_mapping,
                                      ignore_missing=self.ignore_missing,
                                      map_location=self.map_location)
        print_log(f'loaded {len(keys)} tensors of {type(module).__name__} from '
                  f'{self.checkpoint} (prefix {self.prefix!r}, strict)', logger='current')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def _get_init_info(self) -> str:
        return (f'{self.__class__.__name__}: load {self.prefix!r} from '
                f'{self.checkpoint} (strict)')
