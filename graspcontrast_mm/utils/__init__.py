"""Small utilities shared by tools: module registration, config checks, launch set-up."""
from .config_checks import check_cfg_options
from .setup_env import register_all_modules, setup_cpu_distributed

__all__ = ['check_cfg_options', 'register_all_modules', 'setup_cpu_distributed']
