"""Frames, geometry and point-set structures shared by every part of graspcontrast_mm."""
from .frames import (AXIS_INDEX, check_intrinsics, depth_to_points, flip_matrix,
                     from_homogeneous, invert_transform, is_rigid_transform,
                     make_transform, points_to_pixels, rotation_matrix,
                     to_homogeneous, transform_points)
from .gripper_collision import (GripperCollisionResult, check_grasp_collisions,
                                gripper_collision_counts)
from .points import (VoxelGrid, farthest_point_sample, match_points,
                     nearest_neighbors, random_point_indices, voxelize)

__all__ = [
    'AXIS_INDEX', 'to_homogeneous', 'from_homogeneous', 'transform_points',
    'make_transform', 'invert_transform', 'is_rigid_transform',
    'rotation_matrix', 'flip_matrix', 'check_intrinsics', 'depth_to_points',
    'points_to_pixels', 'GripperCollisionResult', 'check_grasp_collisions',
    'gripper_collision_counts', 'farthest_point_sample', 'random_point_indices',
    'nearest_neighbors', 'match_points', 'VoxelGrid', 'voxelize'
]
