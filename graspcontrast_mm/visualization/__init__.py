"""Grasp pictures (offscreen, no display needed)."""
from .grasp_visualizer import (VIEWS, GraspVisualizer, gripper_box_mesh, render_grasps,
                               save_grasp_picture, score_colors, view_camera, write_image)

__all__ = [
    'VIEWS', 'GraspVisualizer', 'gripper_box_mesh', 'render_grasps', 'save_grasp_picture',
    'score_colors', 'view_camera', 'write_image'
]
