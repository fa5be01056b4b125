"""Registration and launch set-up used by tools/train.py and tools/test.py."""
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

__all__ = ['register_all_modules', 'setup_cpu_distributed']


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every graspcontrast_mm component (and mmdet3d's) into the registries.

    Args:
        init_default_scope: also make ``graspcontrast_mm`` the current default scope.
    """
    # mmdet3d's own register_all_modules() also imports mmdet3d.evaluation, which needs
    # the nuScenes / Lyft SDKs; import the parts whose components configs may use.
    import mmdet3d.datasets  # noqa: F401
    import mmdet3d.engine  # noqa: F401
    import mmdet3d.models  # noqa: F401
    import mmdet3d.structures  # noqa: F401
    import mmdet3d.visualization  # noqa: F401
    import graspcontrast_mm  # noqa: F401  (importing registers everything)
    if init_default_scope:
        if not DefaultScope.check_instance_created('graspcontrast_mm'):
            DefaultScope.get_instance('graspcontrast_mm',
                                      scope_name='graspcontrast_mm')


def setup_cpu_distributed(cfg: Config) -> None:
    """Use the ``gloo`` backend for distributed runs when no GPU is present.

    NCCL needs CUDA; on a CPU machine ``torchrun ... --launcher pytorch`` then works with
    the same config.
    """
    if torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
