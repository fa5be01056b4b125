"""Synthetic scenes in the GraspNet-1Billion layout.

Real object meshes are settled on a table with pybullet, rendered along a GraspNet-like
camera path with Open3D ray casting, corrupted by a depth sensor model and written in the
official file layout, so that every consumer of GraspNet-1Billion (including graspnetAPI)
reads them unchanged, together with the labels GraspNet-1Billion ships (grasp labels,
collision labels, dexnet models) and GSNet's per-frame graspness (:mod:`.labelled_scene`).
Entry point: :func:`generate_dataset` (CLI: ``tools/create_graspnet_scenes.py``).
"""
from .camera_trajectory import (CAMERA_INTRINSICS, CAMERA_NAMES, FULL_IMAGE_SIZE,
                                TrajectoryConfig, camera_intrinsics, look_at,
                                make_trajectory)
from .depth_noise import (NOISE_PRESETS, DepthNoiseConfig, apply_depth_noise,
                          quantize_depth_mm)
from .generator import (LABEL_PRESETS, MANIFEST_NAME, PRESETS, SCENE_INFO_NAME,
                        GenerationResult,
                        ManifestMismatchError, SyntheticConfig, generate_dataset,
                        generate_scene, get_preset, is_scene_complete, load_scene_info,
                        object_set_for_scene)
from .labelled_scene import (GRASPNESS_DIR, LabelConfig, SceneLabels,
                             compute_scene_labels, ensure_object_files, frame_graspness_map,
                             graspness_path, load_graspness_map, object_files_complete,
                             object_label_problem, save_graspness_map)
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
    'SceneRenderer', 'LayoutConfig', 'SceneLayout', 'settle_objects', 'GraspNetLayout',
    'LABEL_PRESETS', 'GRASPNESS_DIR', 'LabelConfig', 'SceneLabels', 'compute_scene_labels',
    'ensure_object_files', 'frame_graspness_map', 'graspness_path', 'load_graspness_map',
    'object_files_complete', 'object_label_problem', 'save_graspness_map'
]
