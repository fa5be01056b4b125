"""Frames, geometry and point-set structures shared by every part of graspcontrast_mm."""
from .frames import (AXIS_INDEX, check_intrinsics, depth_to_points, flip_matrix,
                     from_homogeneous, invert_transform, is_rigid_transform,
                     make_transform, points_to_pixels, rotation_matrix,
                     to_homogeneous, transform_points)
from .grasp import (GRASP_ARRAY_LEN, GRASP_HEIGHT, GRASP_MAX_WIDTH,
                    GRIPPER_DEPTH_BASE, GRIPPER_FINGER_WIDTH, LABEL_ANGLES,
                    LABEL_DEPTHS, NUM_ANGLES, NUM_DEPTHS, NUM_VIEWS,
                    approach_angle_to_matrix, closing_centers, decode_label_grasps,
                    generate_views, grasp_array_from_poses, grasp_array_to_poses,
                    make_grasp_array, matrix_to_approach_angle, split_grasp_array,
                    transform_grasp_array, view_angle_to_matrix)
from .grasp_targets import (GRASP_LABEL_KEYS, check_grasp_labels,
                            grasp_labels_to_targets, pack_grasp_labels)
from .gripper_collision import (REFERENCE_FINGER_LENGTH, GripperCollisionResult,
                                check_grasp_collisions, gripper_collision_counts,
                                reference_collision_iou, reference_collision_mask)
from .plane_fit import ransac_plane
from .points import (VoxelGrid, farthest_point_sample, match_points,
                     nearest_neighbors, random_point_indices, voxelize)
from .workspace import (OBJECT_PIXELS_WITHOUT_DEPTH, organized_cloud, point_graspness,
                        reference_frame_graspness, reference_workspace_mask)

__all__ = [
    'AXIS_INDEX', 'to_homogeneous', 'from_homogeneous', 'transform_points',
    'make_transform', 'invert_transform', 'is_rigid_transform',
    'rotation_matrix', 'flip_matrix', 'check_intrinsics', 'depth_to_points', 'ransac_plane',
    'points_to_pixels', 'GripperCollisionResult', 'check_grasp_collisions',
    'gripper_collision_counts', 'farthest_point_sample', 'random_point_indices',
    'nearest_neighbors', 'match_points', 'VoxelGrid', 'voxelize',
    'GRASP_ARRAY_LEN', 'GRASP_HEIGHT', 'GRASP_MAX_WIDTH', 'GRIPPER_FINGER_WIDTH',
    'GRIPPER_DEPTH_BASE', 'NUM_VIEWS', 'NUM_ANGLES', 'NUM_DEPTHS', 'LABEL_ANGLES',
    'LABEL_DEPTHS', 'generate_views', 'approach_angle_to_matrix', 'view_angle_to_matrix',
    'matrix_to_approach_angle', 'make_grasp_array', 'split_grasp_array',
    'grasp_array_to_poses', 'grasp_array_from_poses', 'transform_grasp_array',
    'closing_centers', 'decode_label_grasps', 'GRASP_LABEL_KEYS',
    'grasp_labels_to_targets', 'pack_grasp_labels', 'check_grasp_labels',
    'OBJECT_PIXELS_WITHOUT_DEPTH', 'organized_cloud', 'reference_workspace_mask',
    'reference_frame_graspness', 'REFERENCE_FINGER_LENGTH', 'reference_collision_iou',
    'reference_collision_mask', 'point_graspness'
]
