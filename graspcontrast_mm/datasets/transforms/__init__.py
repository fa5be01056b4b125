"""Data transforms of graspcontrast_mm (registered in ``graspcontrast_mm.registry.TRANSFORMS``).

Frames, units and keys: ``docs/data_flow.md``.
"""
from ..graspnet_io import read_label_image, read_meta_poses
from .augmentation import RandomFlipRotate
from .caching import CachedTransforms
from .formatting import PackPointsInputs, PackViewPairInputs, pack_view_tensors
from .grasp_labels import (GRASPNESS_SOURCES, OBJECT_BOX_MODES, LoadGraspLabels,
                           LoadPointSegmentation, ObjectWorkspaceCrop, PackGraspInputs,
                           compute_frame_graspness, frame_workspace_mask,
                           graspness_at_pixels, reference_num_grasp_points)
from .loading import (LoadDepthImage, LoadDepthMask, LoadPointCloud, LoadPointColors,
                      read_color_image, read_depth_image, read_intrinsics, read_mask,
                      read_point_cloud)
from .points import (PER_POINT_KEYS, DepthToPoints, KeepScenePoints, PointSample,
                     Voxelize, WorkspaceCrop, select_points)
from .view_pair import (ApplyToViews, MatchViewPair, SampleKeyPoints,
                        view_points_world)

__all__ = [
    'LoadDepthImage', 'read_depth_image', 'DepthToPoints', 'WorkspaceCrop',
    'PointSample', 'RandomFlipRotate', 'Voxelize', 'PER_POINT_KEYS', 'select_points',
    'ApplyToViews', 'MatchViewPair', 'SampleKeyPoints', 'view_points_world',
    'PackViewPairInputs', 'PackPointsInputs', 'pack_view_tensors', 'LoadGraspLabels',
    'ObjectWorkspaceCrop', 'PackGraspInputs', 'GRASPNESS_SOURCES', 'read_meta_poses',
    'read_label_image', 'reference_num_grasp_points', 'compute_frame_graspness',
    'OBJECT_BOX_MODES', 'LoadPointSegmentation', 'frame_workspace_mask',
    'graspness_at_pixels', 'KeepScenePoints', 'LoadDepthMask', 'LoadPointColors',
    'LoadPointCloud', 'read_intrinsics', 'read_mask', 'read_color_image', 'read_point_cloud',
    'CachedTransforms'
]
