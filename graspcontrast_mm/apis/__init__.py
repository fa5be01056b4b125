"""High-level APIs: the grasp Inferencer, its input pipelines and grasp selection."""
from .grasp_inferencer import (GraspInferencer, read_intrinsics, read_mask, read_point_cloud,
                               save_grasps_npy)
from .grasp_selection import (DEFAULT_COLLISION_CFG, DEFAULT_SUPPORT_PLANE_CFG,
                              fit_support_plane, select_grasps)
from .inference_inputs import DEFAULT_TEST_PIPELINE

__all__ = [
    'GraspInferencer', 'DEFAULT_TEST_PIPELINE', 'DEFAULT_COLLISION_CFG',
    'DEFAULT_SUPPORT_PLANE_CFG', 'fit_support_plane', 'select_grasps', 'read_intrinsics',
    'read_mask', 'read_point_cloud', 'save_grasps_npy'
]
