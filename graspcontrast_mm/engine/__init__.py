"""Runtime pieces for mmengine: checkpoint loading compatibility, configs stored in
checkpoints read as data, strict whole-model and pre-trained loading, resumable training
(random state, SIGTERM checkpoint, mid-epoch resume), hooks, and config text formatted
once per distinct text."""
from .checkpoint_compat import (CheckpointLoadError, install_checkpoint_loader,
                                load_checkpoint_file,
                                mmengine_checkpoint_globals)
from .checkpoint_config import (UnsafeConfigError, config_from_checkpoint,
                                config_text_from_checkpoint, parse_config_text)
from .config_text import (config_formatting_memoized, memoize_config_formatting,
                          restore_config_formatting)
from .hooks import ValidateBeforeTrainHook
from .model_loading import (LoadReport, NonFiniteWeightsError, copy_state_dict_checked,
                            find_non_finite, load_model_checkpoint)
from .resumable import (RandomStateHook, ResumableEpochBasedTrainLoop,
                        SignalCheckpointHook, capture_rng_state, prepare_resumable_training,
                        restore_rng_state)
from .pretrained_init import (CheckpointMismatchError, PretrainedStrictInit,
                              apply_key_mapping, compare_state_dicts, extract_state_dict,
                              load_pretrained_module, select_prefixed_state_dict)

install_checkpoint_loader()
memoize_config_formatting()

__all__ = [
    'CheckpointLoadError', 'install_checkpoint_loader', 'load_checkpoint_file',
    'mmengine_checkpoint_globals', 'ValidateBeforeTrainHook', 'CheckpointMismatchError',
    'PretrainedStrictInit', 'load_pretrained_module', 'extract_state_dict',
    'select_prefixed_state_dict', 'apply_key_mapping', 'compare_state_dicts',
    'UnsafeConfigError', 'parse_config_text', 'config_text_from_checkpoint',
    'config_from_checkpoint', 'NonFiniteWeightsError', 'LoadReport', 'find_non_finite',
    'copy_state_dict_checked', 'load_model_checkpoint', 'RandomStateHook',
    'SignalCheckpointHook', 'ResumableEpochBasedTrainLoop', 'prepare_resumable_training',
    'capture_rng_state', 'restore_rng_state', 'memoize_config_formatting',
    'restore_config_formatting', 'config_formatting_memoized'
]
