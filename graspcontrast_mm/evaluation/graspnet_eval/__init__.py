"""GraspNet-1Billion AP evaluation: graspnetAPI's numbers, computed an order of magnitude
faster (batched dexnet contacts and SDF look-ups), frames in parallel.

Entry points: :func:`evaluate_frame` (one frame's table, ``backend='fast'`` or
``'graspnetapi'``), :func:`eval_grasp` (graspnetAPI's ``eval_grasp`` signature-alike),
:func:`evaluate_dump` (a dump folder in graspnetAPI's layout), :func:`summarize_frames`.
See ``docs/evaluation.md``.
"""
from .eval_grasp import (MAX_EVALUATED, NMS_ROTATION, NMS_TRANSLATION, PER_OBJECT_TOP,
                         EvalObject, closest_point_indices, collision_masks,
                         dexnet_grasp_params, eval_grasp, transform_points)
from .force_closure import (FRICTION_LADDER, close_fingers, force_closure_scores,
                            friction_angles, score_from_angles)
from .frame_eval import (BACKENDS, FRICTION_COEFS, check_grasp_array, evaluate_frame,
                         evaluate_frame_task, frame_accuracy, single_thread_blas)
from .frames import (OBJECT_CACHE_SIZE, POSE_SOURCES, clear_caches, dump_path, get_object,
                     get_objects, load_frame_label_grasps, load_frame_objects,
                     save_grasps_atomic, scene_frame_ids, table_in_camera)
from .runner import (GRASPNET_TEST_SPLITS, dump_tasks, evaluate_dump, evaluate_tasks,
                     split_of_scene, summarize_frames)
from .sdf_grid import SdfGrid, check_numerics

__all__ = [
    'EvalObject', 'eval_grasp', 'collision_masks', 'dexnet_grasp_params', 'transform_points',
    'closest_point_indices', 'NMS_TRANSLATION', 'NMS_ROTATION', 'PER_OBJECT_TOP',
    'MAX_EVALUATED', 'FRICTION_LADDER', 'close_fingers', 'force_closure_scores',
    'friction_angles', 'score_from_angles', 'BACKENDS', 'FRICTION_COEFS',
    'check_grasp_array', 'evaluate_frame', 'evaluate_frame_task', 'frame_accuracy',
    'single_thread_blas', 'OBJECT_CACHE_SIZE', 'POSE_SOURCES', 'clear_caches', 'dump_path',
    'get_object', 'get_objects', 'load_frame_objects', 'load_frame_label_grasps',
    'save_grasps_atomic',
    'scene_frame_ids', 'table_in_camera', 'GRASPNET_TEST_SPLITS', 'dump_tasks',
    'evaluate_dump', 'evaluate_tasks', 'split_of_scene', 'summarize_frames', 'SdfGrid',
    'check_numerics'
]
