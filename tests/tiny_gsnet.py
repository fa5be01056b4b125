"""A tiny GSNet for fast CPU tests (random weights, seconds per call)."""


def tiny_gsnet_model_cfg(num_seeds: int = 32) -> dict:
    """GSNet config dict: SparseUNet of widths 8-16 (16-d output), narrow heads, and no
    graspness gate at test time, so that even an untrained model returns grasps."""
    return dict(type='GSNet',
                backbone=dict(type='SparseUNet', in_channels=1, out_channels=16,
                              planes=(8, 8, 16, 16, 16, 16, 8, 8), init_dim=8),
                crop_head=dict(type='CylinderCropHead', mlp_channels=(16, 16)),
                swad_head=dict(type='SWADHead', hidden_channels=16),
                num_seeds=num_seeds, test_cfg=dict(empty_if_no_graspable=False))
