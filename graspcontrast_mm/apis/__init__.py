"""High-level APIs: the grasp Inferencer."""
from .grasp_inferencer import (DEFAULT_INFER_SETTINGS, GraspInferencer,
                               pipeline_settings_from_cfg, read_intrinsics, read_mask,
                               read_point_cloud, save_grasps_npy)

__all__ = [
    'GraspInferencer', 'DEFAULT_INFER_SETTINGS', 'pipeline_settings_from_cfg',
    'read_intrinsics', 'read_mask', 'read_point_cloud', 'save_grasps_npy'
]
