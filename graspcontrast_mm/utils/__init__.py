"""Small utilities shared by tools: module registration, config checks, launch set-up."""
from .cli import (add_common_args, add_wait_args, finite_float, float_in_range,
                  int_at_least, link_last_checkpoint, load_cli_config,
                  non_negative_float, positive_float, wait_for_paths)
from .config_checks import check_cfg_options
from .setup_env import register_all_modules, setup_cpu_distributed, shutdown_distributed

__all__ = ['add_common_args', 'load_cli_config', 'int_at_least', 'float_in_range',
           'positive_float', 'non_negative_float', 'finite_float', 'check_cfg_options',
           'add_wait_args', 'wait_for_paths', 'link_last_checkpoint',
           'register_all_modules', 'setup_cpu_distributed',
           'shutdown_distributed']
