"""Runtime pieces for mmengine: checkpoint loading compatibility, hooks."""
from .checkpoint_compat import (CheckpointLoadError, install_checkpoint_loader,
                                load_checkpoint_file,
                                mmengine_checkpoint_globals)
from .hooks import ValidateBeforeTrainHook

install_checkpoint_loader()

__all__ = [
    'CheckpointLoadError', 'install_checkpoint_loader', 'load_checkpoint_file',
    'mmengine_checkpoint_globals', 'ValidateBeforeTrainHook'
]
