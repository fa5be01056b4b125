"""Small utilities shared by tools: module registration, config checks, launch set-up."""
from .cli import add_common_args, load_cli_config
from .config_checks import check_cfg_options
from .setup_env import register_all_modules, setup_cpu_distributed

__all__ = ['add_common_args', 'load_cli_config', 'check_cfg_options', 'register_all_modules', 'setup_cpu_distributed']
