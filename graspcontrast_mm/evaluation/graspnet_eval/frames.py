"""What the evaluator reads per frame and per scene, loaded once and reused.

* object models (:class:`~.eval_grasp.EvalObject`: 8 mm model points, dexnet model, SDF
  prepared for vectorised look-ups), cached per ``(data root, object id)`` in every process
  (LRU, :data:`OBJECT_CACHE_SIZE` objects: GraspNet's dexnet pickles are 3-50 MB each);
* ``camera_poses.npy`` / ``cam0_wrt_table.npy`` of a scene (cached per scene) and the table
  points in the camera frame of a frame;
* the frame's object ids and poses ``T_cam_obj`` from ``annotations/NNNN.xml``
  (graspnetAPI's source) or ``meta/NNNN.mat``;
* graspnetAPI's dump layout ``dump_dir/scene_XXXX/{camera}/NNNN.npy``.
"""
from __future__ import annotations

import os
import os.path as osp
from collections import OrderedDict
from typing import List, Sequence, Tuple

import numpy as np

from ...datasets.graspnet_io import (GraspNetLayout, read_annotation_poses, read_camera_poses,
                                     read_collision_labels, read_grasp_labels,
                                     read_meta_poses, read_object_id_list)
from ...structures.grasp import decode_label_grasps
from ..dexnet_io import load_dexnet_object, load_model_points, table_points
from .eval_grasp import EvalObject, transform_points

__all__ = [
    'POSE_SOURCES', 'OBJECT_CACHE_SIZE', 'dump_path', 'save_grasps_atomic', 'get_object',
    'get_objects', 'load_frame_objects', 'load_frame_label_grasps', 'table_in_camera',
    'scene_frame_ids', 'clear_caches'
]

POSE_SOURCES = ('annotations', 'meta')
#: Objects kept per process.
OBJECT_CACHE_SIZE = 32
_OBJECTS: 'OrderedDict[Tuple[str, int], EvalObject]' = OrderedDict()
_SCENE_POSES: 'OrderedDict[Tuple[str, int, str], Tuple[np.ndarray, np.ndarray]]' = \
    OrderedDict()


def clear_caches() -> None:
    """Forget every cached object model and scene pose file (of this process)."""
    _OBJECTS.clear()
    _SCENE_POSES.clear()


def dump_path(dump_dir: str, scene_id: int, camera: str, frame_id: int) -> str:
    """graspnetAPI's dump layout: ``dump_dir/scene_XXXX/{camera}/NNNN.npy``."""
    return osp.join(dump_dir, GraspNetLayout.scene_name(scene_id), camera,
                    f'{int(frame_id):04d}.npy')


def save_grasps_atomic(path: str, grasps: np.ndarray) -> None:
    """Write a (N, 17) grasp array with ``np.save`` through a temporary file + rename."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp-{os.getpid()}.npy'
    try:
        np.save(tmp, grasps)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def get_object(root: str, obj_id: int) -> EvalObject:
    """The cached :class:`EvalObject` of an object of a dataset root."""
    key = (osp.abspath(root), int(obj_id))
    if key in _OBJECTS:
        _OBJECTS.move_to_end(key)
        return _OBJECTS[key]
    obj = EvalObject(load_model_points(root, obj_id), load_dexnet_object(root, obj_id),
                     obj_id=obj_id)
    _OBJECTS[key] = obj
    while len(_OBJECTS) > OBJECT_CACHE_SIZE:
        _OBJECTS.popitem(last=False)
    return obj


def get_objects(root: str, obj_ids: Sequence[int]) -> List[EvalObject]:
    """:func:`get_object` for several ids (order kept)."""
    return [get_object(root, i) for i in obj_ids]


def load_frame_objects(root: str, scene_id: int, camera: str, frame_id: int,
                       pose_source: str = 'annotations') -> Tuple[List[int], List[np.ndarray]]:
    """Object ids and poses ``T_cam_obj`` of a frame, as graspnetAPI's evaluator reads them.

    Args:
        root: dataset root.
        scene_id, camera, frame_id: the frame.
        pose_source: ``'annotations'`` (``annotations/NNNN.xml``, graspnetAPI's
            ``get_model_poses``: float32, 4 decimals) or ``'meta'`` (``meta/NNNN.mat``,
            float64).

    Returns:
        tuple: object ids (list of int) and poses (list of (4, 4), camera frame, metres).

    Raises:
        FileNotFoundError: the pose file is missing.
    """
    files = GraspNetLayout.camera_files(GraspNetLayout(root).scene_dir(scene_id), camera,
                                        frame_id)
    if pose_source == 'annotations':
        return read_annotation_poses(files['annotation'])
    if pose_source == 'meta':
        ids, poses = read_meta_poses(files['meta'])
        return [int(i) for i in ids], list(poses)
    raise ValueError(f'pose_source must be one of {POSE_SOURCES}, got {pose_source!r}')


def load_frame_label_grasps(root: str, scene_id: int, camera: str, frame_id: int,
                            fric_coef_thresh: float = 0.4, pose_source: str = 'meta'
                            ) -> Tuple[np.ndarray, np.ndarray]:
    """The ground-truth grasps of a frame in its camera frame, by graspnetAPI's
    ``loadGrasp`` rule: every label grasp of the frame's objects that is collision-free and
    needs a friction coefficient in ``(0, fric_coef_thresh]``.

    Args:
        root: dataset root (labels: ``grasp_label/``, ``collision_label/``).
        scene_id, camera, frame_id: the frame.
        fric_coef_thresh: largest friction coefficient kept.
        pose_source: see :func:`load_frame_objects`.

    Returns:
        tuple: (K, 17) float32 grasp rows (camera frame, metres) and the (n, 4, 4) object
        poses ``T_cam_obj``.
    """
    layout = GraspNetLayout(root)
    ids, poses = load_frame_objects(root, scene_id, camera, frame_id, pose_source)
    scene_objects = read_object_id_list(layout.object_id_list(scene_id))
    collisions = read_collision_labels(layout.collision_label(scene_id))
    unknown = sorted(set(int(i) for i in ids) - set(scene_objects))
    if unknown:
        raise ValueError(f'scene {scene_id} frame {frame_id} ({camera}): objects {unknown} '
                         f'are not in {layout.object_id_list(scene_id)}')
    rows = []
    for obj_id, pose in zip(ids, poses):
        lab = read_grasp_labels(layout.grasp_label(obj_id), collision='skip')
        rows.append(decode_label_grasps(lab['points'], lab['offsets'], lab['scores'],
                                        collisions[scene_objects.index(obj_id)], pose,
                                        object_id=obj_id, fric_coef_thresh=fric_coef_thresh))
    return np.concatenate(rows), np.asarray(poses, np.float64).reshape(-1, 4, 4)


def _scene_poses(root: str, scene_id: int, camera: str) -> Tuple[np.ndarray, np.ndarray]:
    key = (osp.abspath(root), int(scene_id), camera)
    if key in _SCENE_POSES:
        return _SCENE_POSES[key]
    value = read_camera_poses(GraspNetLayout(root).camera_dir(scene_id, camera))
    _SCENE_POSES[key] = value
    while len(_SCENE_POSES) > 8:
        _SCENE_POSES.popitem(last=False)
    return value


def table_in_camera(root: str, scene_id: int, camera: str, frame_id: int) -> np.ndarray:
    """graspnetAPI's table points in the camera frame of a frame (metres): the table grid
    through ``inv(cam0_wrt_table @ camera_poses[frame])``."""
    camera_poses, align_mat = _scene_poses(root, scene_id, camera)
    if not 0 <= int(frame_id) < len(camera_poses):
        raise IndexError(f'frame {frame_id} is not in camera_poses.npy of scene {scene_id} '
                         f'({len(camera_poses)} frames)')
    camera_pose = camera_poses[int(frame_id)]
    return transform_points(table_points(), np.linalg.inv(np.matmul(align_mat, camera_pose)))


def scene_frame_ids(root: str, scene_id: int, camera: str) -> List[int]:
    """Frame ids of a scene: ``range(len(camera_poses.npy))`` (256 in GraspNet-1Billion)."""
    camera_poses, _ = _scene_poses(root, scene_id, camera)
    return list(range(len(camera_poses)))
