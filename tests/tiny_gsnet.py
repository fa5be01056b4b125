"""Tiny models for fast CPU tests (random weights, seconds per call): one definition of
the test backbone, GSNet and pre-trainer that the test modules share."""

#: SparseUNet widths of the test models (16-d output)
TINY_PLANES = (8, 8, 16, 16, 16, 16, 8, 8)


def tiny_backbone_cfg(planes=TINY_PLANES, **kwargs) -> dict:
    """SparseUNet config dict: 1 input channel, 16-d output, ``init_dim`` 8."""
    return dict(type='SparseUNet', in_channels=1, out_channels=16, planes=planes,
                init_dim=8, **kwargs)


def tiny_gsnet_model_cfg(num_seeds: int = 32, gated: bool = False, **overrides) -> dict:
    """GSNet config dict on :func:`tiny_backbone_cfg` with narrow heads.

    Args:
        num_seeds: Seed points per cloud.
        gated: Keep the graspness gate at test time (the model's default). Off by
            default, so that even an untrained model returns grasps.
        **overrides: Replace top-level keys of the config.
    """
    cfg = dict(type='GSNet', backbone=tiny_backbone_cfg(),
               crop_head=dict(type='CylinderCropHead', mlp_channels=(16, 16)),
               swad_head=dict(type='SWADHead', hidden_channels=16), num_seeds=num_seeds)
    if not gated:
        cfg['test_cfg'] = dict(empty_if_no_graspable=False)
    cfg.update(overrides)
    return cfg


def tiny_pretrainer_model_cfg() -> dict:
    """GraspContrastPretrainer config dict on :func:`tiny_backbone_cfg`."""
    return dict(type='GraspContrastPretrainer', backbone=tiny_backbone_cfg())


def save_checkpoint(path, state_dict, cfg_text=None) -> str:
    """Write ``{'state_dict': ..., 'meta': {'cfg': cfg_text}}`` (meta only with a config
    text), the layout of the runner's checkpoints; returns the path."""
    import torch
    ckpt = dict(state_dict=state_dict)
    if cfg_text is not None:
        ckpt['meta'] = dict(cfg=cfg_text)
    torch.save(ckpt, str(path))
    return str(path)
