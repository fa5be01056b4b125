"""Runtime pieces for mmengine: checkpoint loading compatibility, strict pre-trained
initialisation (``PretrainedStrict``), hooks."""
from .checkpoint_compat import (CheckpointLoadError, install_checkpoint_loader,
                                load_checkpoint_file,
                                mmengine_checkpoint_globals)
from .hooks import ValidateBeforeTrainHook
from .pretrained_init import (CheckpointMismatchError, PretrainedStrictInit,
                              apply_key_mapping, compare_state_dicts, extract_state_dict,
                              load_pretrained_module, select_prefixed_state_dict)

install_checkpoint_loader()

__all__ = [
    'CheckpointLoadError', 'install_checkpoint_loader', 'load_checkpoint_file',
    'mmengine_checkpoint_globals', 'ValidateBeforeTrainHook', 'CheckpointMismatchError',
    'PretrainedStrictInit', 'load_pretrained_module', 'extract_state_dict',
    'select_prefixed_state_dict', 'apply_key_mapping', 'compare_state_dicts'
]
