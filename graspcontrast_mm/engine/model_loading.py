"""Loading a whole model from a checkpoint, strictly, the same way everywhere.

``tools/test.py``, :class:`~graspcontrast_mm.apis.GraspInferencer` (and through it
``tools/infer.py`` and the robot's model grasp source) load weights with
:func:`load_model_checkpoint`, so a file gives the same model in all of them:

1. :func:`~.checkpoint_compat.load_checkpoint_file` (restricted unpickler, clear error for a
   missing / truncated / corrupt file);
2. :func:`~.pretrained_init.extract_state_dict` (mmengine ``state_dict`` / plain
   ``model_state_dict`` / bare tensor dict; a DDP ``module.`` prefix is removed);
3. every parameter and buffer of the model must be present with the same shape and every
   checkpoint tensor must belong to the model; otherwise :class:`CheckpointMismatchError`
   names the missing, unexpected and wrong-shape keys;
4. floating-point tensors must be finite; otherwise :class:`NonFiniteWeightsError` names
   them (a diverged training run gives a model that silently predicts nothing);
5. the tensors are copied into the model as they are.

Step 5 does not go through ``nn.Module.load_state_dict``: once ``mmdet3d.models`` is
imported, its spconv override of ``_load_from_state_dict`` permutes every sparse-conv kernel
of a state dict that carries no version-2 metadata (a dict rebuilt with ``dict(...)``, or
saved by other tools, has no ``_metadata`` at all). Every checkpoint this package writes
holds spconv 2.x kernels (see :mod:`graspcontrast_mm.ops.spconv_checkpoint_version`), and the
shapes were checked in step 3 against the model's own layout, so the values are copied
unchanged whether or not ``mmdet3d.models`` was imported, with or without ``_metadata``.

``strict=False`` (the ``--non-strict-load`` flags of the tools) loads the keys that match
by name and shape, logs a warning naming the rest, and leaves those parameters as they are.
"""
import dataclasses
import re
from typing import Any, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from .checkpoint_compat import load_checkpoint_file
from .pretrained_init import (CheckpointMismatchError, compare_state_dicts,
                              extract_state_dict, format_key_list)

__all__ = ['NonFiniteWeightsError', 'LoadReport', 'find_non_finite',
           'copy_state_dict_checked', 'load_model_checkpoint']


class NonFiniteWeightsError(ValueError):
    """A checkpoint holds NaN or infinite weights.

    Attributes:
        keys: ``(key, number of non-finite values, number of values)`` per bad tensor.
    """

    def __init__(self, message: str, keys: Sequence[Tuple[str, int, int]] = ()) -> None:
        super().__init__(message)
        self.keys = list(keys)


@dataclasses.dataclass
class LoadReport:
    """What :func:`copy_state_dict_checked` did.

    Attributes:
        loaded: module keys whose values were copied.
        missing: module keys absent from the checkpoint (left as they were).
        unexpected: checkpoint keys the module does not have (ignored).
        mismatched: ``(key, checkpoint shape, module shape)`` (left as they were).
        non_finite: ``(key, non-finite count, size)`` of checkpoint tensors with NaN / inf.
    """
    loaded: List[str]
    missing: List[str]
    unexpected: List[str]
    mismatched: List[Tuple[str, tuple, tuple]]
    non_finite: List[Tuple[str, int, int]]

    @property
    def complete(self) -> bool:
        """Every key matched and every value is finite."""
        return not (self.missing or self.unexpected or self.mismatched or self.non_finite)


def find_non_finite(state_dict: Mapping[str, torch.Tensor]) -> List[Tuple[str, int, int]]:
    """Floating-point tensors holding NaN or inf.

    Returns:
        list: ``(key, number of non-finite values, number of values)``, sorted by key.
    """
    bad = []
    for key in sorted(state_dict):
        value = state_dict[key]
        if torch.is_tensor(value) and (value.is_floating_point() or value.is_complex()):
            n = int((~torch.isfinite(value)).sum())
            if n:
                bad.append((key, n, int(value.numel())))
    return bad


def _mismatch_parts(missing, unexpected, mismatched) -> List[str]:
    parts = []
    if missing:
        parts.append(f'{len(missing)} missing key(s) {format_key_list(missing)}')
    if unexpected:
        parts.append(f'{len(unexpected)} unexpected key(s) {format_key_list(unexpected)}')
    if mismatched:
        shapes = [f'{k}: checkpoint {tuple(a)} vs model {tuple(b)}' for k, a, b in mismatched]
        parts.append(f'{len(mismatched)} shape mismatch(es) {format_key_list(shapes)}')
    return parts


def _non_finite_text(non_finite) -> str:
    items = [f'{k} ({n} of {size})' for k, n, size in non_finite]
    return (f'{len(non_finite)} tensor(s) hold NaN or inf values {format_key_list(items)}'
            ' (did the training run diverge?)')


def copy_state_dict_checked(module: nn.Module, state: Mapping[str, torch.Tensor], *,
                            source: str, strict: bool = True,
                            ignore_missing: Sequence[str] = (),
                            hint: str = '') -> LoadReport:
    """Check ``state`` against ``module`` and copy its tensors in (see the module doc).

    Args:
        module: the module to fill.
        state: key -> tensor, keys relative to ``module``.
        source: what the tensors came from, for messages (e.g. ``'checkpoint X'``).
        strict: raise on any missing / unexpected / wrong-shape key or non-finite value
            (True), or load what fits and log a warning naming the rest (False).
        ignore_missing: regular expressions of module keys allowed to be absent.
        hint: sentence appended to a mismatch error.

    Returns:
        LoadReport: what was loaded and what did not fit.

    Raises:
        CheckpointMismatchError: ``strict`` and a key is missing, unexpected or of another
            shape (the message names them).
        NonFiniteWeightsError: ``strict`` and a floating-point tensor has NaN / inf values.
    """
    expected = module.state_dict()
    missing, unexpected, mismatched = compare_state_dicts(expected, state)
    ignore = [re.compile(p) for p in ignore_missing]
    missing = [k for k in missing if not any(p.search(k) for p in ignore)]
    bad_shape = {k for k, _, _ in mismatched}
    usable = [k for k in state if k in expected and k not in bad_shape]
    non_finite = find_non_finite({k: state[k] for k in usable})
    parts = _mismatch_parts(missing, unexpected, mismatched)
    if strict and parts:
        raise CheckpointMismatchError(
            f'{source} does not fit {type(module).__name__}: ' + '; '.join(parts) + '.'
            + (f' {hint}' if hint else ''),
            missing=missing, unexpected=unexpected, mismatched=mismatched)
    if strict and non_finite:
        raise NonFiniteWeightsError(f'{source}: {_non_finite_text(non_finite)}',
                                    keys=non_finite)
    if parts or non_finite:
        from mmengine.logging import print_log
        text = '; '.join(parts + ([_non_finite_text(non_finite)] if non_finite else []))
        print_log(f'non-strict loading of {source} into {type(module).__name__}: {text}. '
                  'The parameters not loaded keep their current (e.g. random) values',
                  logger='current', level=30)
    targets = module.state_dict(keep_vars=True)
    with torch.no_grad():
        for key in sorted(usable):
            targets[key].copy_(state[key].to(device=targets[key].device))
    return LoadReport(loaded=sorted(usable), missing=missing, unexpected=unexpected,
                      mismatched=mismatched, non_finite=non_finite)


def load_model_checkpoint(model: nn.Module, checkpoint: Union[str, Any], *,
                          strict: bool = True, source: Optional[str] = None,
                          map_location: Optional[Union[str, torch.device]] = 'cpu') -> Any:
    """Load every weight of ``model`` from a checkpoint (see the module docstring).

    Args:
        model: the model (unwrapped: not a DDP wrapper).
        checkpoint: a checkpoint path, or the object :func:`load_checkpoint_file` returned.
        strict: see :func:`copy_state_dict_checked`.
        source: name of the checkpoint in messages (default: the path).
        map_location: as in :func:`torch.load` (paths only).

    Returns:
        The loaded checkpoint object (for its ``meta``).

    Raises:
        CheckpointLoadError: missing / empty / truncated / corrupt file, or no state dict.
        CheckpointMismatchError: ``strict`` and the keys or shapes do not fit the model.
        NonFiniteWeightsError: ``strict`` and a weight is NaN or inf.
    """
    if isinstance(checkpoint, (str, bytes)) or hasattr(checkpoint, '__fspath__'):
        import os
        path = os.fspath(checkpoint)
        source = source or f'checkpoint {path}'
        checkpoint = load_checkpoint_file(path, map_location=map_location)
    source = source or 'checkpoint'
    state = extract_state_dict(checkpoint, source)
    copy_state_dict_checked(
        model, state, source=source, strict=strict,
        hint='Is it a checkpoint of this config\'s model (e.g. not a pre-training '
        'checkpoint for a detector config, and the same backbone / head widths)? '
        'Non-strict loading is available as an explicit option (--non-strict-load).')
    return checkpoint
