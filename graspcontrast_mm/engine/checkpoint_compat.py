"""Checkpoint loading that works with mmengine 0.10.x under torch >= 2.6.

What is wrong upstream
----------------------
torch 2.6 changed the default of ``torch.load`` to ``weights_only=True``. mmengine 0.10.7
still calls ``torch.load(filename, map_location=...)`` without the argument, and the
checkpoints it writes hold more than tensors: the message hub stores
``mmengine.logging.HistoryBuffer`` objects (whose ``statistics_methods`` dict pickles bound
methods through ``builtins.getattr``) and numpy arrays / scalars / dtypes. Loading such a
checkpoint, and therefore ``--resume``, fails with ``UnpicklingError: Weights only load
failed``.

What is done here
-----------------
:func:`load_checkpoint_file` keeps the safer ``weights_only=True`` unpickler and allow-lists
exactly the globals mmengine's own checkpoints need (:func:`mmengine_checkpoint_globals`).
:func:`install_checkpoint_loader` registers it as mmengine's loader for local paths (the
``''`` prefix of :class:`mmengine.runner.CheckpointLoader`), so ``load_from``, ``--resume``
and ``load_checkpoint`` all use it. It is installed when :mod:`graspcontrast_mm` is imported.

A truncated or corrupt file raises :class:`CheckpointLoadError` naming the file. As with any
pickle, load only checkpoints you trust: the allow-list includes ``getattr``, which mmengine's
HistoryBuffer needs.
"""
import os
import pickle
import zipfile
from typing import Any, List, Optional, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader

__all__ = [
    'CheckpointLoadError', 'mmengine_checkpoint_globals', 'load_checkpoint_file',
    'install_checkpoint_loader'
]


class CheckpointLoadError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupt or not a torch checkpoint."""


def mmengine_checkpoint_globals() -> List[Any]:
    """Globals, beyond tensors, that checkpoints written by mmengine contain.

    Returns:
        list: classes / functions to pass to ``torch.serialization.safe_globals``.
    """
    core = getattr(np, '_core', None) or np.core  # numpy 2 renamed np.core
    globals_ = [
        HistoryBuffer, getattr, np.ndarray, np.dtype,
        core.multiarray._reconstruct, core.multiarray.scalar
    ]
    dtypes_mod = getattr(np, 'dtypes', None)
    if dtypes_mod is not None:  # numpy >= 1.25 pickles dtypes by class
        globals_ += [
            getattr(dtypes_mod, name) for name in dir(dtypes_mod)
            if name.endswith('DType')
        ]
    return globals_


def load_checkpoint_file(filename: Union[str, os.PathLike],
                         map_location: Optional[Union[str, torch.device]] = 'cpu'
                         ) -> Any:
    """Load a local checkpoint written by ``torch.save`` / mmengine.

    Args:
        filename: path of the ``.pth`` file.
        map_location: as in :func:`torch.load`. Defaults to ``'cpu'``.

    Returns:
        The unpickled object (usually a dict with ``state_dict`` / ``meta``).

    Raises:
        CheckpointLoadError: the file is missing, empty, truncated or corrupt.
    """
    filename = os.fspath(filename)
    if not os.path.isfile(filename):
        raise CheckpointLoadError(f'checkpoint file not found: {filename}')
    if os.path.getsize(filename) == 0:
        raise CheckpointLoadError(f'checkpoint file is empty: {filename}')
    try:
        with torch.serialization.safe_globals(mmengine_checkpoint_globals()):
            return torch.load(
                filename, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile,
            pickle.UnpicklingError, ValueError) as err:
        raise CheckpointLoadError(
            f'cannot load checkpoint {filename}: the file is truncated, corrupt '
            f'or holds objects that are not allowed ({type(err).__name__}: '
            f'{str(err).splitlines()[0] if str(err) else ""})') from err


def _mmengine_local_loader(filename: str, map_location=None) -> Any:
    filename = os.path.expanduser(filename)
    return load_checkpoint_file(filename, map_location=map_location)


def install_checkpoint_loader() -> None:
    """Make mmengine load local checkpoints with :func:`load_checkpoint_file`.

    Idempotent. Affects ``Runner.load_checkpoint``, ``Runner.resume`` and
    ``mmengine.runner.load_checkpoint`` for local paths.
    """
    CheckpointLoader.register_scheme(
        prefixes='', loader=_mmengine_local_loader, force=True)
