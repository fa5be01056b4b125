"""Registration and launch set-up used by tools/train.py and tools/test.py."""
import os

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.registry import DefaultScope

__all__ = ['register_all_modules', 'setup_cpu_distributed', 'shutdown_distributed']


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
    """Make ``--launcher pytorch`` work on a machine without GPUs.

    mmengine 0.10.7 assumes CUDA for distributed runs: its ``init_dist`` calls
    ``torch.cuda.set_device`` and it wraps the model in DDP with ``device_ids=[rank]``.
    Without CUDA this function (a no-op when CUDA is available or the launcher is
    ``'none'``):

    - switches ``env_cfg.dist_cfg.backend`` from ``nccl`` to ``gloo``;
    - for the ``pytorch`` launcher (torchrun), initialises the gloo process group itself
      from torchrun's environment, so mmengine skips its CUDA-only initialisation;
    - sets ``model_wrapper_cfg`` to CPU DDP (``device_ids=None``) unless the config has one.

    Raises:
        RuntimeError: for the ``slurm`` / ``mpi`` launchers without CUDA (not supported).
    """
    if torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none':
        return
    if launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {launcher} needs CUDA; on CPU use torchrun with '
            '--launcher pytorch')
    if not dist.is_initialized():
        missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
                   if k not in os.environ]
        if missing:
            raise RuntimeError(
                '--launcher pytorch expects to be started by torchrun (missing '
                f'environment variables: {", ".join(missing)})')
        dist.init_process_group(backend=dist_cfg['backend'])
    if cfg.get('model_wrapper_cfg', None) is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))


def shutdown_distributed() -> bool:
    """Destroy the default process group, if one was initialised (a no-op otherwise).

    The tools call it when their run ends, so that gloo's (or NCCL's) threads are
    stopped in order instead of being torn down while the interpreter exits, where a
    process could abort ("terminate called without an active exception") after its
    work was done.

    Returns:
        True when a process group was destroyed.
    """
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
        return True
    return False
