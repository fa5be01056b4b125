"""Labels of generated scenes: object label files, scene collision labels, graspness maps.

The generator (:mod:`.generator`) calls these functions when it runs with
``with_labels=True``. What is written under a dataset root (see ``docs/data_flow.md``):

* once per object (shared by every scene, written atomically, skipped when present, so an
  interrupted run resumes): ``grasp_label/XXX_labels.npz`` (:mod:`.grasp_labels`),
  ``dex_models/XXX.pkl`` and optionally ``models/XXX/textured.obj`` / ``textured.sdf``
  (:mod:`.dexnet_models`);
* once per scene: ``collision_label/scene_XXXX/collision_labels.npz``, one bool array per
  object in ``object_id_list.txt`` order, including the object's own collision (graspnetAPI's
  ``GraspNet.loadGrasp`` masks grasps with this array only, never with the per-object
  ``collision`` array, so it must hold every reason a grasp is infeasible);
* once per frame: ``graspness/scene_XXXX/{camera}/NNNN.npy``, a float16 (H, W) map aligned
  with ``depth/NNNN.png`` (:func:`frame_graspness_map`, the GSNet reference's rule).

Objects that cannot be labelled (a broken or open mesh, or one too big for the gripper) are
reported by :func:`object_label_problem`; the generator leaves them out of the scenes and
logs the reason.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..datasets.graspnet_io import (read_graspness_file, save_npz_deterministic,
                                    write_collision_labels, write_grasp_labels,
                                    write_graspness_map)
from ..structures.grasp import GRASP_MAX_WIDTH
from ..structures.workspace import point_graspness, reference_frame_graspness
from .collision_labels import compute_scene_collision_labels
from .grasp_labels import (GraspLabelConfig, GraspLabels, check_graspable_mesh,
                           compute_grasp_labels, load_grasp_labels)

__all__ = [
    'LabelConfig', 'GRASPNESS_DIR', 'graspness_path', 'save_npz_deterministic',
    'object_label_problem',
    'object_files_complete', 'ensure_object_files', 'SceneLabels', 'compute_scene_labels',
    'frame_graspness_map', 'save_graspness_map', 'load_graspness_map'
]

logger = logging.getLogger(__name__)

#: Folder (under the dataset root) of the per-frame graspness maps.
GRASPNESS_DIR = 'graspness'


@dataclasses.dataclass(frozen=True)
class LabelConfig:
    """Label density and evaluator-model settings of a generated dataset (lengths in metres).

    Attributes:
        point_spacing: Spacing of the grasp points on an object surface.
        max_points: Upper bound on grasp points per object (farthest point sampling beyond
            it); ``None``: no bound. A label file grows by ~0.2 MB per point before
            compression (300 views x 12 angles x 4 depths per point).
        collision_spacing: Spacing of the surface samples used as obstacles (self, other
            objects) in collision checks.
        sdf_grid_dim: Cells of the dexnet SDF along an object's largest extent (pickle size
            grows with its cube: ~3-8 MB at 50, 13-46 MB at 100).
        write_textured: Also write ``models/XXX/textured.obj`` + ``textured.sdf``.
        graspness_fric_thresh: Largest friction coefficient counted as a good grasp in the
            graspness label (GSNet: 0.8).
        seed: Seed of the surface sampling and of the SDF noise.
    """
    point_spacing: float = 0.005
    max_points: Optional[int] = 512
    collision_spacing: float = 0.004
    sdf_grid_dim: int = 100
    write_textured: bool = False
    graspness_fric_thresh: float = 0.8
    seed: int = 0

    def __post_init__(self):
        if not self.point_spacing > 0 or not self.collision_spacing > 0:
            raise ValueError('point_spacing and collision_spacing must be positive')
        if self.max_points is not None and self.max_points < 1:
            raise ValueError(f'max_points must be >= 1 or None, got {self.max_points}')
        if self.sdf_grid_dim < 8:
            raise ValueError(f'sdf_grid_dim must be >= 8, got {self.sdf_grid_dim}')
        if not 0 < self.graspness_fric_thresh:
            raise ValueError('graspness_fric_thresh must be positive')

    def grasp_label_config(self) -> GraspLabelConfig:
        """The :class:`GraspLabelConfig` of the per-object labels."""
        return GraspLabelConfig(point_spacing=self.point_spacing,
                                max_points=self.max_points,
                                collision_spacing=self.collision_spacing, seed=self.seed)


def graspness_path(root: str, scene_dir_name: str, camera: str, frame_id: int) -> str:
    """``root/graspness/scene_XXXX/{camera}/NNNN.npy`` (``scene_dir_name`` may be a
    temporary folder name)."""
    return os.path.join(root, GRASPNESS_DIR, scene_dir_name, camera,
                        f'{int(frame_id):04d}.npy')


def object_label_problem(model, max_width: float = GRASP_MAX_WIDTH) -> Optional[str]:
    """Why an object cannot be labelled, or ``None`` when it can.

    Args:
        model: Object mesh (``ObjectModel`` or any input of
            :func:`~graspcontrast_mm.synthetic.grasp_labels.as_trimesh`), metres.
        max_width: Gripper opening, metres.

    Returns:
        str or None: the reason (broken / open mesh, no volume, too big for the gripper).
    """
    name = getattr(model, 'name', 'object')
    try:
        check_graspable_mesh(model, str(name), max_width)
    except ValueError as exc:
        return str(exc)
    return None


def _object_paths(layout, obj_id: int) -> Dict[str, str]:
    model_dir = layout.model_dir(obj_id)
    return {
        'label': layout.grasp_label(obj_id),
        'pkl': layout.dex_model(obj_id),
        'obj': os.path.join(model_dir, 'textured.obj'),
        'sdf': os.path.join(model_dir, 'textured.sdf'),
    }


def object_files_complete(layout, obj_id: int, cfg: LabelConfig) -> bool:
    """Whether the label files of one object exist under a :class:`GraspNetLayout`."""
    paths = _object_paths(layout, obj_id)
    kinds = ('label', 'pkl', 'obj', 'sdf') if cfg.write_textured else ('label', 'pkl')
    return all(os.path.isfile(paths[k]) for k in kinds)


def ensure_object_files(layout, model, cfg: LabelConfig) -> Dict[str, float]:
    """Write the missing label files of one object (grasp labels, dexnet model).

    Each file is written atomically and skipped when it exists, so the function is cheap
    on a second call and an interrupted run resumes where it stopped.

    Args:
        layout: :class:`~graspcontrast_mm.synthetic.writer.GraspNetLayout` of the root.
        model: :class:`~graspcontrast_mm.synthetic.objects.ObjectModel` (object frame,
            metres).
        cfg: Label settings.

    Returns:
        dict: seconds spent per written kind (``'label'``, ``'dex'``); empty if nothing
        was written.

    Raises:
        ValueError: the object cannot be labelled (see :func:`object_label_problem`).
    """
    from .dexnet_models import export_dexnet_files
    paths = _object_paths(layout, model.obj_id)
    name = f'{model.obj_id:03d} ({model.name})'
    timings: Dict[str, float] = {}
    if not os.path.isfile(paths['label']):
        t0 = time.perf_counter()
        labels = compute_grasp_labels(model, cfg.grasp_label_config(), name=name)
        write_grasp_labels(paths['label'], labels.points, labels.offsets, labels.collision,
                           labels.scores)
        timings['label'] = time.perf_counter() - t0
    need_textured = cfg.write_textured and not (os.path.isfile(paths['obj'])
                                                and os.path.isfile(paths['sdf']))
    if not os.path.isfile(paths['pkl']) or need_textured:
        t0 = time.perf_counter()
        export_dexnet_files(layout.root, model.obj_id, model, name=name, write_ply=False,
                            write_textured=cfg.write_textured, grid_dim=cfg.sdf_grid_dim,
                            seed=cfg.seed)
        timings['dex'] = time.perf_counter() - t0
    return timings


@dataclasses.dataclass
class SceneLabels:
    """Labels of one scene, in ``object_id_list`` order.

    Attributes:
        obj_ids: Object ids.
        grasp_points: n float64 (Np_i, 3) grasp points, object frames, metres.
        collisions: n bool (Np_i, 300, 12, 4) scene collision (table, other objects, self).
        point_graspness: n float32 (Np_i,) fraction of each grasp point's label grasps with
            ``0 < mu <= graspness_fric_thresh`` and no scene collision.
    """
    obj_ids: List[int]
    grasp_points: List[np.ndarray]
    collisions: List[np.ndarray]
    point_graspness: List[np.ndarray]

    def save_collisions(self, path: str) -> None:
        """Write ``collision_labels.npz`` (``arr_0 ..``, bool) atomically."""
        write_collision_labels(path, self.collisions)


def compute_scene_labels(layout, models: Sequence, poses_world: np.ndarray,
                         cfg: LabelConfig) -> SceneLabels:
    """Collision labels and grasp-point graspness of a scene.

    Args:
        layout: :class:`~graspcontrast_mm.synthetic.writer.GraspNetLayout` holding the
            objects' ``grasp_label`` files (see :func:`ensure_object_files`).
        models: n object models in ``object_id_list`` order.
        poses_world: float64 (n, 4, 4) ``T_world_obj`` (table frame, z up, table top z = 0).
        cfg: Label settings.

    Returns:
        SceneLabels: the labels.
    """
    labels: List[GraspLabels] = [load_grasp_labels(layout.grasp_label(m.obj_id))
                                 for m in models]
    collisions = compute_scene_collision_labels(
        list(models), list(poses_world), labels, include_self=True, table_height=0.0,
        collision_spacing=cfg.collision_spacing, seed=cfg.seed,
        names=[f'{m.obj_id:03d}' for m in models])
    graspness = [point_graspness(lab.scores, coll, cfg.graspness_fric_thresh)
                 for lab, coll in zip(labels, collisions)]
    return SceneLabels(obj_ids=[int(m.obj_id) for m in models],
                       grasp_points=[lab.points.astype(np.float64) for lab in labels],
                       collisions=collisions, point_graspness=graspness)


def frame_graspness_map(depth_m: np.ndarray, label: np.ndarray, K: np.ndarray,
                        poses_cam: np.ndarray, scene_labels: SceneLabels,
                        cam2world: np.ndarray, *, depth_scale: Optional[float] = 1000.0,
                        margin: float = 0.02) -> np.ndarray:
    """GSNet point graspness of every pixel of a frame (the GSNet reference's rule).

    The frame's object workspace (the objects' box in the table frame grown by ``margin``,
    background included, as GSNet's ``get_workspace_mask``) is back-projected; every
    pixel takes the graspness of its nearest grasp point over all objects (grasp points
    mapped to the camera frame with ``poses_cam``), min-max normalised over the workspace
    (:func:`graspcontrast_mm.structures.reference_frame_graspness`). Pixels outside the
    workspace and without depth are 0. Row-major ``map[workspace]`` is what the
    reference's ``generate_graspness.py`` writes as an ``(N_masked, 1)`` array.

    Args:
        depth_m: (H, W) depth, metres, 0 = no measurement.
        label: (H, W) uint8 ``obj_id + 1`` per pixel, 0 = table / background.
        K: (3, 3) intrinsics, pixels.
        poses_cam: float64 (n, 4, 4) ``T_cam_obj`` in ``scene_labels.obj_ids`` order.
        scene_labels: Labels of the scene.
        cam2world: (4, 4) ``T_world_cam`` of the frame (``cam0_wrt_table @
            camera_poses[frame]``, as the dataset computes it).
        depth_scale: raw depth units per metre of the written depth PNG (1000: mm).
        margin: workspace margin, metres (reference: 0.02).

    Returns:
        np.ndarray: float16 (H, W) graspness in [0, 1].
    """
    depth_m = np.asarray(depth_m, dtype=np.float64)
    label = np.asarray(label)
    if depth_m.ndim != 2 or label.shape != depth_m.shape:
        raise ValueError(f'depth {depth_m.shape} and label {label.shape} must be the same '
                         '(H, W)')
    if len(poses_cam) != len(scene_labels.obj_ids):
        raise ValueError(f'{len(poses_cam)} poses for {len(scene_labels.obj_ids)} objects')
    gmap, _ = reference_frame_graspness(
        depth_m, label, K, cam2world, list(poses_cam), list(scene_labels.grasp_points),
        list(scene_labels.point_graspness), margin=margin, depth_scale=depth_scale)
    return gmap.astype(np.float16)


def save_graspness_map(path: str, graspness: np.ndarray) -> None:
    """Write a float16 (H, W) graspness map
    (:func:`graspcontrast_mm.datasets.graspnet_io.write_graspness_map`)."""
    write_graspness_map(path, graspness)


def load_graspness_map(path: str) -> np.ndarray:
    """Read ``graspness/scene_XXXX/{camera}/NNNN.npy``: float16 (H, W) in [0, 1]
    (:func:`graspcontrast_mm.datasets.graspnet_io.read_graspness_file`)."""
    return read_graspness_file(path)
