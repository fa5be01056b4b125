"""The training pieces of a config for benchmarks (model, data loader, optimiser)."""
import argparse
from typing import Sequence

__all__ = ['build_training_parts']


def build_training_parts(config: str, cfg_options: Sequence[str] = ()):
    """Build ``(cfg, model, train_loader, optim_wrapper)`` of a training config.

    Args:
        config: path of an mm config.
        cfg_options: ``KEY=VALUE`` overrides, as ``tools/train.py --cfg-options`` reads
            them.

    Returns:
        The merged config, the model in train mode, the training data loader and the
        optimiser wrapper.
    """
    import graspcontrast_mm  # noqa: F401  (CPU runtime defaults before torch loads)
    from mmengine.config import Config, DictAction
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    from graspcontrast_mm.registry import MODELS

    cfg = Config.fromfile(config)
    if cfg_options:
        options = argparse.Namespace()
        DictAction(option_strings=[], dest='o')(None, options, list(cfg_options))
        cfg.merge_from_dict(options.o)
    init_default_scope(cfg.get('default_scope', 'graspcontrast_mm'))
    model = MODELS.build(cfg.model).train()
    loader = Runner.build_dataloader(cfg.train_dataloader)
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    return cfg, model, loader, optim
