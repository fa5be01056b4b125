"""Datasets (GraspNet-1Billion layout) and data transforms of graspcontrast_mm."""
from .graspnet_dataset import (GRASPNET_CAMERAS, GRASPNET_SPLITS, GraspNetDataset,
                               parse_label_fraction, select_label_frames,
                               split_scene_ids)
from .transforms import *  # noqa: F401,F403

__all__ = [
    'GraspNetDataset', 'GRASPNET_SPLITS', 'GRASPNET_CAMERAS', 'split_scene_ids',
    'select_label_frames', 'parse_label_fraction'
]
