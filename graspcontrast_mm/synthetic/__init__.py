"""Synthetic scenes in the GraspNet-1Billion layout.

Real object meshes are settled on a table with pybullet, rendered along a GraspNet-like
camera path with Open3D ray casting, corrupted by a depth sensor model and written in the
official file layout, so that every consumer of GraspNet-1Billion (including graspnetAPI)
reads them unchanged. Entry point: :func:`generate_dataset` (CLI:
``tools/create_graspnet_scenes.py``).
"""
from .camera_trajectory import (CAMERA_INTRINSICS, CAMERA_NAMES, FULL_IMAGE_SIZE,
                                TrajectoryConfig, camera_intrinsics, look_at,
                                make_trajectory)
from .depth_noise import (NOISE_PRESETS, DepthNoiseConfig, apply_depth_noise,
                          quantize_depth_mm)
from .generator import (MANIFEST_NAME, PRESETS, SCENE_INFO_NAME, GenerationResult,
                        ManifestMismatchError, SyntheticConfig, generate_dataset,
                        generate_scene, get_preset, is_scene_complete, load_scene_info,
                        object_set_for_scene)
from .objects import (LIBRARY_VERSION, MAX_OBJECT_ID, OBJECT_SETS, ObjectLibrary,
                      ObjectModel, object_ids_of_set, object_set_of)
from .renderer import RenderOutput, SceneRenderer
from .scene_layout import LayoutConfig, SceneLayout, settle_objects
from .writer import GraspNetLayout

__all__ = [
    'CAMERA_INTRINSICS', 'CAMERA_NAMES', 'FULL_IMAGE_SIZE', 'TrajectoryConfig',
    'camera_intrinsics', 'look_at', 'make_trajectory', 'NOISE_PRESETS', 'DepthNoiseConfig',
    'apply_depth_noise', 'quantize_depth_mm', 'MANIFEST_NAME', 'PRESETS', 'SCENE_INFO_NAME',
    'GenerationResult', 'ManifestMismatchError', 'SyntheticConfig', 'generate_dataset',
    'generate_scene', 'get_preset', 'is_scene_complete', 'load_scene_info',
    'object_set_for_scene', 'LIBRARY_VERSION', 'MAX_OBJECT_ID', 'OBJECT_SETS',
    'ObjectLibrary', 'ObjectModel', 'object_ids_of_set', 'object_set_of', 'RenderOutput',
    'SceneRenderer', 'LayoutConfig', 'SceneLayout', 'settle_objects', 'GraspNetLayout'
]
