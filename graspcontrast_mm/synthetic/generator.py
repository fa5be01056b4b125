"""Top-level synthetic GraspNet-1Billion scene generator.

:func:`generate_dataset` writes scenes in the official layout (see :mod:`.writer`) under an
output root. Each scene is a deterministic function of ``(settings, seed, scene_id)``:

1. objects are drawn from the object set of the scene's split (scenes 0-129: ``seen``,
   130-159: ``similar``, 160-189: ``novel``; see :mod:`.objects`) and settled on the table
   with pybullet (:mod:`.scene_layout`);
2. with ``with_labels`` (default), the label files of every object used (once per dataset)
   and the scene's collision labels are computed (:mod:`.labelled_scene`);
3. for every camera, a GraspNet-like trajectory of ``num_views`` poses is drawn
   (:mod:`.camera_trajectory`), and each view is ray cast (:mod:`.renderer`), corrupted by
   the sensor model (:mod:`.depth_noise`) and written, with its graspness map.

Objects that cannot be used (the mesh fails to load, is broken or open, or is too big for
the gripper) are left out of a scene with a logged reason and listed under
``skipped_objects`` in ``synthetic_scene.json``; objects that roll off the table are removed
(``removed_obj_ids``).

Robustness: a scene is written into ``scenes/.tmp_scene_XXXX-<pid>`` and renamed to
``scenes/scene_XXXX`` only when complete (the rename is atomic), so a killed run never
leaves a scene that looks complete. Its files outside the scene folder are written first:
the graspness maps go to ``graspness/.tmp_scene_XXXX-<pid>`` (renamed when complete), then
``collision_label/scene_XXXX/collision_labels.npz`` (atomic), and only then is the scene
folder renamed with its completion record ``synthetic_scene.json``. Object label files are
atomic and skipped when present. A rerun removes stale temporary files and the outputs of
incomplete scenes, and skips finished scenes and objects. The generator settings (label
settings included) are recorded in ``synthetic_manifest.json`` at the root; a root holding a
dataset made with different settings is refused.

Besides the official files, each scene gets ``synthetic_scene.json`` (object ids, names,
resting poses ``T_world_obj`` in the table frame, removed objects, seed) for label writers.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..structures.frames import invert_transform
from .camera_trajectory import (CAMERA_NAMES, TrajectoryConfig, camera_intrinsics,
                                make_trajectory)
from .depth_noise import NOISE_PRESETS, apply_depth_noise, quantize_depth_mm
from .labelled_scene import (GRASPNESS_DIR, LabelConfig, compute_scene_labels,
                             ensure_object_files, frame_graspness_map, graspness_path,
                             object_label_problem, save_graspness_map)
from .objects import LIBRARY_VERSION, ObjectLibrary, object_ids_of_set
from .renderer import SceneRenderer
from .scene_layout import LayoutConfig, SceneLayout, settle_objects
from .writer import (GraspNetLayout, write_annotation_xml, write_camera_files,
                     write_meta_mat, write_object_id_list, write_ply_mesh, write_png)

__all__ = [
    'SyntheticConfig', 'PRESETS', 'get_preset', 'generate_dataset', 'generate_scene',
    'GenerationResult', 'ManifestMismatchError', 'MANIFEST_NAME', 'SCENE_INFO_NAME',
    'is_scene_complete', 'object_set_for_scene', 'load_scene_info', 'LABEL_PRESETS',
    'preset_unlabelled_scene_ids'
]

logger = logging.getLogger(__name__)

MANIFEST_NAME = 'synthetic_manifest.json'
SCENE_INFO_NAME = 'synthetic_scene.json'
_FORMAT_VERSION = 2
_TMP_PREFIX = '.tmp_scene_'


class ManifestMismatchError(RuntimeError):
    """The output root holds a dataset generated with different settings."""


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Generator settings (everything that changes the bytes of a scene, except scene ids).

    Attributes:
        num_views: Frames per scene and camera (GraspNet: 256).
        image_size: (width, height) in pixels; intrinsics are scaled from 1280x720.
        cameras: Cameras to render (``'realsense'``, ``'kinect'``).
        num_objects: (min, max) objects dropped per scene (inclusive).
        object_pools: Object ids available to each object set (``'seen'``, ``'similar'``,
            ``'novel'``); ``None`` for a set = all library ids of that set.
        noise: Apply the depth sensor model; ``False`` = exact depth quantised to 1 mm.
        write_rgb: Also write shaded ``rgb/NNNN.png`` images.
        write_annotations: Also write graspnetAPI's ``annotations/NNNN.xml``.
        seed: Global seed; scene ``s`` uses ``SeedSequence([seed, s])``.
        trajectory: Camera path parameters.
        layout: Drop-and-settle parameters.
        ply_max_edge: Max edge length (metres) of ``models/XXX/nontextured.ply``.
        with_labels: Also write grasp labels, dexnet models, collision labels and
            graspness maps (see :mod:`.labelled_scene`).
        labels: Label density and evaluator-model settings.
    """
    num_views: int = 256
    image_size: Tuple[int, int] = (1280, 720)
    cameras: Tuple[str, ...] = ('realsense', )
    num_objects: Tuple[int, int] = (6, 10)
    object_pools: Dict[str, Optional[Tuple[int, ...]]] = dataclasses.field(
        default_factory=lambda: {'seen': None, 'similar': None, 'novel': None})
    noise: bool = True
    write_rgb: bool = True
    write_annotations: bool = True
    seed: int = 0
    trajectory: TrajectoryConfig = TrajectoryConfig()
    layout: LayoutConfig = LayoutConfig()
    ply_max_edge: float = 0.0025
    with_labels: bool = True
    labels: LabelConfig = LabelConfig()

    def to_dict(self) -> dict:
        """JSON-serialisable settings (as recorded in the manifest)."""
        d = dataclasses.asdict(self)
        d['image_size'] = list(self.image_size)
        d['cameras'] = list(self.cameras)
        d['num_objects'] = list(self.num_objects)
        d['object_pools'] = {
            k: (list(v) if v is not None else None) for k, v in self.object_pools.items()
        }
        return json.loads(json.dumps(d))


#: Label settings of the presets: ``coarse`` (64 grasp points per object at 1 cm, SDF of
#: 50 cells: ~1.5 s per object, ~1.2 MB label file, 3-8 MB pickle) and GraspNet-like
#: ``dense`` (up to 512 points at 5 mm, SDF of 100 cells).
LABEL_PRESETS: Dict[str, LabelConfig] = {
    'coarse': LabelConfig(point_spacing=0.01, max_points=64, sdf_grid_dim=50),
    'dense': LabelConfig(),
}

_TINY_POOLS = {'seen': (0, 1, 4, 5, 7, 9, 11, 20, 21, 24),
               'similar': (170, 171, 172, 173, 174),
               'novel': (12, 13, 14, 15)}

#: Named settings (with labels, except the scenes a preset lists under
#: ``unlabelled_scene_ids``: those get depth, camera poses and segmentation only).
#: ``tiny``: 4 scenes (0, 1, 2 train + 100 test_seen),
#: 3-5 objects, 16 views of 640x360, realsense only, coarse labels: a minute or two on a
#: laptop CPU. ``tiny_benchmark``: the same objects and label density, one or more scenes in
#: every split (0, 1, 2 train; 100 test_seen; 130 test_similar; 160 test_novel) for AP per
#: split. ``default``: GraspNet-like (256 views, 1280x720, 6-10 objects, scenes 0-189,
#: both cameras, dense labels). ``study`` / ``study_micro``: the label-efficiency study;
#: ``robot``: training data of the robot's detector (see the entries).
PRESETS: Dict[str, dict] = {
    'tiny': dict(
        config=dict(num_views=16, image_size=(640, 360), cameras=('realsense', ),
                    num_objects=(3, 5), object_pools=_TINY_POOLS,
                    labels=LABEL_PRESETS['coarse']),
        scene_ids=(0, 1, 2, 100)),
    'tiny_benchmark': dict(
        config=dict(num_views=16, image_size=(640, 360), cameras=('realsense', ),
                    num_objects=(3, 5), object_pools=_TINY_POOLS,
                    labels=LABEL_PRESETS['coarse']),
        scene_ids=(0, 1, 2, 100, 130, 160)),
    # The label-efficiency study (docs/study.md): labelled train scenes 0-7 of the seen
    # objects, an unlabelled pre-training pool (depth, camera poses and segmentation only:
    # scenes 8-47 for pre-training, 99 held out for the label-free validation), and two
    # test scenes per split; 64 views of 640x360 (label fractions 1/64, 4/64, 64/64 are
    # the analogues of 1/256, 16/256, 256/256).
    'study': dict(
        config=dict(num_views=64, image_size=(640, 360), cameras=('realsense', ),
                    num_objects=(3, 5), object_pools=_TINY_POOLS,
                    labels=LABEL_PRESETS['coarse']),
        scene_ids=tuple(range(48)) + (99, 100, 101, 130, 131, 160, 161),
        unlabelled_scene_ids=tuple(range(8, 48)) + (99, )),
    # The study's pipeline in a minute: one scene per role (labelled train 0, unlabelled
    # pool 1 and 99, test 100 / 130 / 160), 4 views of 320x180, the two primitives.
    'study_micro': dict(
        config=dict(num_views=4, image_size=(320, 180), cameras=('realsense', ),
                    num_objects=(2, 2), noise=False, write_rgb=False,
                    object_pools={'seen': (0, 4), 'similar': (0, 4), 'novel': (0, 4)},
                    labels=LABEL_PRESETS['coarse']),
        scene_ids=(0, 1, 99, 100, 130, 160),
        unlabelled_scene_ids=(1, 99)),
    # Training data of the robot's detector (configs/robot/): 48 labelled scenes of 3-6
    # objects from the 40 seen objects of 'default' (12 primitives, random_urdfs 000-027),
    # the study's views, image size and label density. No test scene: the detector is
    # tested on the study's test scenes and in the pick-and-place benchmark, whose objects
    # (the novel set) no training scene uses.
    'robot': dict(
        config=dict(num_views=64, image_size=(640, 360), cameras=('realsense', ),
                    num_objects=(3, 6),
                    object_pools={'seen': tuple(range(12)) + tuple(range(20, 48)),
                                  'similar': _TINY_POOLS['similar'],
                                  'novel': _TINY_POOLS['novel']},
                    labels=LABEL_PRESETS['coarse']),
        scene_ids=tuple(range(48))),
    'default': dict(
        config=dict(num_views=256, image_size=(1280, 720), cameras=('realsense', 'kinect'),
                    num_objects=(6, 10),
                    object_pools={'seen': tuple(range(12)) + tuple(range(20, 48)),
                                  'similar': tuple(range(170, 190)),
                                  'novel': (12, 13, 14, 15, 16)},
                    labels=LABEL_PRESETS['dense']),
        scene_ids=tuple(range(190))),
}


def get_preset(name: str, **overrides) -> Tuple[SyntheticConfig, Tuple[int, ...]]:
    """Settings and scene ids of a preset, with field overrides.

    Args:
        name: ``'tiny'``, ``'tiny_benchmark'`` or ``'default'``.
        **overrides: :class:`SyntheticConfig` fields to replace.

    Returns:
        tuple: (:class:`SyntheticConfig`, default scene ids).
    """
    if name not in PRESETS:
        raise ValueError(f'unknown preset {name!r}; expected one of {sorted(PRESETS)}')
    kwargs = dict(PRESETS[name]['config'])
    unknown = set(overrides) - {f.name for f in dataclasses.fields(SyntheticConfig)}
    if unknown:
        raise TypeError(f'unknown SyntheticConfig fields: {sorted(unknown)}')
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    return SyntheticConfig(**kwargs), tuple(PRESETS[name]['scene_ids'])


def preset_unlabelled_scene_ids(name: str) -> Tuple[int, ...]:
    """Scene ids a preset generates without labels (depth, poses, segmentation only)."""
    if name not in PRESETS:
        raise ValueError(f'unknown preset {name!r}; expected one of {sorted(PRESETS)}')
    return tuple(int(i) for i in PRESETS[name].get('unlabelled_scene_ids', ()))


def object_set_for_scene(scene_id: int) -> str:
    """Object set used by a scene id (GraspNet splits: 130-159 similar, 160-189 novel)."""
    if 130 <= scene_id <= 159:
        return 'similar'
    if 160 <= scene_id <= 189:
        return 'novel'
    return 'seen'


@dataclasses.dataclass
class GenerationResult:
    """What :func:`generate_dataset` did.

    Attributes:
        root: Output root (absolute).
        generated: Scene ids generated by this call.
        skipped: Scene ids already complete (left untouched).
        seconds: Wall time.
        timings: Seconds per stage summed over the generated scenes (``'objects'``,
            ``'object_labels'``, ``'collision'``, ``'render'``, ``'graspness'``) and
            ``'num_labelled_objects'`` (objects whose label files were written).
    """
    root: str
    generated: List[int]
    skipped: List[int]
    seconds: float
    timings: Dict[str, float] = dataclasses.field(default_factory=dict)


def is_scene_complete(root: str, scene_id: int) -> bool:
    """Whether ``scenes/scene_XXXX`` of a generated dataset is complete."""
    scene_dir = GraspNetLayout(root).scene_dir(scene_id)
    return os.path.isfile(os.path.join(scene_dir, SCENE_INFO_NAME))


def load_scene_info(root: str, scene_id: int) -> dict:
    """Read ``synthetic_scene.json`` (object ids, names, ``poses_world`` as float64 (n, 4, 4)
    ``T_world_obj`` in the table frame, metres)."""
    path = os.path.join(GraspNetLayout(root).scene_dir(scene_id), SCENE_INFO_NAME)
    with open(path) as f:
        info = json.load(f)
    info['poses_world'] = np.asarray(info['poses_world'], np.float64).reshape(-1, 4, 4)
    return info


def _check_manifest(root: str, cfg: SyntheticConfig,
                    unlabelled_scene_ids: Sequence[int] = ()) -> None:
    path = os.path.join(root, MANIFEST_NAME)
    settings = cfg.to_dict()
    record = {'generator': 'graspcontrast_mm.synthetic', 'format_version': _FORMAT_VERSION,
              'library_version': LIBRARY_VERSION, 'settings': settings}
    if unlabelled_scene_ids:
        record['unlabelled_scene_ids'] = sorted(int(i) for i in unlabelled_scene_ids)
    if os.path.exists(path):
        with open(path) as f:
            try:
                old = json.load(f)
            except json.JSONDecodeError as e:
                raise ManifestMismatchError(f'unreadable manifest {path}: {e}') from e
        if old != record:
            diff = sorted(k for k in set(settings) | set(old.get('settings', {}))
                          if settings.get(k) != old.get('settings', {}).get(k))
            for k in ('format_version', 'library_version', 'unlabelled_scene_ids'):
                if old.get(k) != record.get(k):
                    diff.append(k)
            raise ManifestMismatchError(
                f'{root} already holds a synthetic dataset generated with different '
                f'settings (differing: {", ".join(diff) or "generator"}; see {path}). '
                'Use another output root or delete the existing dataset.')
        return
    scenes_dir = GraspNetLayout(root).scenes_dir()
    if os.path.isdir(scenes_dir) and any(
            n.startswith('scene_') for n in os.listdir(scenes_dir)):
        raise ManifestMismatchError(
            f'{root} already holds scenes but no {MANIFEST_NAME}: it is not a dataset of '
            'this generator; use another output root.')
    os.makedirs(root, exist_ok=True)
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(record, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def _remove_stale_temporaries(layout: GraspNetLayout) -> None:
    """Remove temporary scene folders and half-written files of interrupted runs."""
    for folder in (layout.scenes_dir(), os.path.join(layout.root, GRASPNESS_DIR)):
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if name.startswith(_TMP_PREFIX):
                logger.warning('removing incomplete folder %s left by an interrupted run',
                               os.path.join(folder, name))
                shutil.rmtree(os.path.join(folder, name), ignore_errors=True)
    # atomic writers leave ``<file>.tmp-<pid>`` only when killed
    for folder in ('grasp_label', 'dex_models', 'models', 'collision_label'):
        top = os.path.join(layout.root, folder)
        if not os.path.isdir(top):
            continue
        for dirpath, _, filenames in os.walk(top):
            for name in filenames:
                if '.tmp-' in name:
                    logger.warning('removing half-written file %s',
                                   os.path.join(dirpath, name))
                    os.remove(os.path.join(dirpath, name))


def _draw_objects(cfg: SyntheticConfig, scene_id: int, rng: np.random.Generator,
                  library: ObjectLibrary) -> List[int]:
    obj_set = object_set_for_scene(scene_id)
    pool = cfg.object_pools.get(obj_set)
    pool = tuple(pool) if pool is not None else object_ids_of_set(obj_set)
    if not pool:
        raise ValueError(f'object pool of set {obj_set!r} (scene {scene_id}) is empty')
    lo, hi = cfg.num_objects
    n = int(rng.integers(lo, hi + 1))
    n = min(n, len(pool))
    return sorted(int(i) for i in rng.choice(np.asarray(pool), size=n, replace=False))


def _usable_models(obj_ids: Sequence[int], library: ObjectLibrary,
                   scene_id: int) -> Tuple[list, Dict[int, str]]:
    """Models of the drawn ids that can be used, and the reasons of the others."""
    models, skipped = [], {}
    for obj_id in obj_ids:
        try:
            model = library.get(obj_id)
            problem = object_label_problem(model)
        except Exception as exc:  # a library mesh that fails to load or to process
            model, problem = None, f'mesh could not be loaded: {type(exc).__name__}: {exc}'
        if problem is None:
            models.append(model)
        else:
            skipped[int(obj_id)] = problem
            logger.warning('scene %d: object %d left out: %s', scene_id, obj_id, problem)
    return models, skipped


def _remove_stale_scene_outputs(layout: GraspNetLayout, scene_id: int) -> None:
    """Remove label outputs of a scene that never completed (interrupted run)."""
    name = layout.scene_name(scene_id)
    stale = [os.path.join(layout.root, GRASPNESS_DIR, name),
             os.path.dirname(layout.collision_label(scene_id))]
    for path in stale:
        if os.path.exists(path):
            logger.warning('removing %s of incomplete scene %d', path, scene_id)
            shutil.rmtree(path, ignore_errors=True)


def generate_scene(root: str, scene_id: int, cfg: SyntheticConfig, *,
                   library: Optional[ObjectLibrary] = None, progress: bool = False,
                   timings: Optional[Dict[str, float]] = None) -> str:
    """Generate one complete scene (atomically) under ``root``.

    Args:
        root: Dataset root.
        scene_id: Scene id (also selects the object set and the random stream).
        cfg: Generator settings.
        library: Object library (a fresh one if ``None``).
        progress: Show a progress bar over views.
        timings: Optional dict that receives seconds spent per stage (``'objects'``,
            ``'object_labels'``, ``'collision'``, ``'render'``, ``'graspness'``), added to
            existing values, and ``'num_labelled_objects'`` (objects whose label files this
            call wrote).

    Returns:
        str: the final scene folder ``root/scenes/scene_XXXX``.

    Raises:
        FileExistsError: the scene folder exists.
        RuntimeError: no usable object stayed on the table.
    """
    library = library or ObjectLibrary()
    timings = timings if timings is not None else {}

    def _tick(key: str, since: float) -> float:
        now = time.perf_counter()
        timings[key] = timings.get(key, 0.0) + now - since
        return now

    layout_paths = GraspNetLayout(root)
    final_dir = layout_paths.scene_dir(scene_id)
    if os.path.exists(final_dir):
        raise FileExistsError(f'{final_dir} already exists')
    _remove_stale_scene_outputs(layout_paths, scene_id)
    t = time.perf_counter()
    ss = np.random.SeedSequence([int(cfg.seed), int(scene_id)])
    layout_ss, *camera_ss = ss.spawn(1 + len(CAMERA_NAMES))
    layout_rng = np.random.default_rng(layout_ss)

    # 1. objects at rest (retry a few drops if too many objects roll away)
    obj_ids = _draw_objects(cfg, scene_id, layout_rng, library)
    models, skipped_objects = _usable_models(obj_ids, library, scene_id)
    if not models:
        raise RuntimeError(f'scene {scene_id}: none of the drawn objects {obj_ids} can be '
                           f'used ({skipped_objects})')
    order = layout_rng.permutation(len(models))
    layout: Optional[SceneLayout] = None
    for _ in range(3):
        layout = settle_objects([models[i] for i in order], layout_rng, cfg.layout)
        if len(layout.obj_ids) >= max(1, (len(models) + 1) // 2):
            break
        logger.info('scene %d: only %d of %d objects stayed on the table; dropping again',
                    scene_id, len(layout.obj_ids), len(models))
    assert layout is not None
    if not layout.obj_ids:
        raise RuntimeError(f'scene {scene_id}: no object stayed in the workspace')
    if layout.removed_ids:
        logger.info('scene %d: removed objects %s (left the workspace)', scene_id,
                    layout.removed_ids)
    # scene order = ascending object id, as GraspNet's object_id_list.txt
    srt = np.argsort(layout.obj_ids, kind='stable')
    kept_ids = [layout.obj_ids[i] for i in srt]
    poses_world = layout.poses[srt]
    kept_models = [library.get(i) for i in kept_ids]

    # 2. models shared by scenes (atomic per file, before the scene is marked complete)
    for model in kept_models:
        ply = layout_paths.model_ply(model.obj_id)
        if not os.path.exists(ply):
            v, f = model.dense_mesh(cfg.ply_max_edge)
            write_ply_mesh(ply, v, f)
    t = _tick('objects', t)
    scene_labels = None
    if cfg.with_labels:
        for model in kept_models:
            if ensure_object_files(layout_paths, model, cfg.labels):
                timings['num_labelled_objects'] = timings.get('num_labelled_objects', 0) + 1
        t = _tick('object_labels', t)
        scene_labels = compute_scene_labels(layout_paths, kept_models, poses_world,
                                            cfg.labels)
        t = _tick('collision', t)

    tmp_name = f'{_TMP_PREFIX}{int(scene_id):04d}-{os.getpid()}'
    tmp_dir = os.path.join(layout_paths.scenes_dir(), tmp_name)
    tmp_graspness = os.path.join(layout_paths.root, GRASPNESS_DIR, tmp_name)
    for path in (tmp_dir, tmp_graspness):
        if os.path.exists(path):
            shutil.rmtree(path)
    os.makedirs(tmp_dir)
    try:
        write_object_id_list(os.path.join(tmp_dir, 'object_id_list.txt'), kept_ids)
        renderer = SceneRenderer(kept_models, poses_world)
        names = [m.name for m in kept_models]
        world_poses_of_camera = {}
        for camera in cfg.cameras:
            cam_rng = np.random.default_rng(camera_ss[CAMERA_NAMES.index(camera)])
            K = camera_intrinsics(camera, cfg.image_size)
            T_world_cams = make_trajectory(cfg.num_views, cam_rng, cfg.trajectory)
            world_poses_of_camera[camera] = T_world_cams
            T_world_cam0 = T_world_cams[0]
            camera_poses = invert_transform(T_world_cam0)[None] @ T_world_cams
            cam_dir = os.path.join(tmp_dir, camera)
            os.makedirs(cam_dir)
            write_camera_files(cam_dir, K, camera_poses, T_world_cam0)
            noise_cfg = NOISE_PRESETS[camera]
            view_iter = range(cfg.num_views)
            if progress:
                from tqdm import tqdm
                view_iter = tqdm(view_iter, desc=f'scene {scene_id:04d} {camera}',
                                 leave=False, unit='view')
            for frame_id in view_iter:
                T_world_cam = T_world_cams[frame_id]
                out = renderer.render(T_world_cam, K, cfg.image_size,
                                      with_shading=cfg.write_rgb)
                if cfg.noise:
                    frame_rng = np.random.default_rng(
                        np.random.SeedSequence([int(cfg.seed), int(scene_id),
                                                CAMERA_NAMES.index(camera), frame_id]))
                    depth_mm = apply_depth_noise(out.depth, out.cos_incidence, frame_rng,
                                                 noise_cfg)
                else:
                    depth_mm = quantize_depth_mm(out.depth)
                files = GraspNetLayout.camera_files(tmp_dir, camera, frame_id)
                write_png(files['depth'], depth_mm)
                write_png(files['label'], out.label)
                if cfg.write_rgb:
                    write_png(files['rgb'], out.shading)
                poses_cam = invert_transform(T_world_cam)[None] @ poses_world
                write_meta_mat(files['meta'], K, poses_cam, kept_ids)
                if cfg.write_annotations:
                    write_annotation_xml(files['annotation'], poses_cam, kept_ids, names)
                t = _tick('render', t)
                if scene_labels is not None:
                    # T_world_cam as GraspNetDataset computes it from the written files
                    graspness = frame_graspness_map(
                        depth_mm.astype(np.float64) / 1000.0, out.label, K, poses_cam,
                        scene_labels, T_world_cam0 @ camera_poses[frame_id],
                        depth_scale=1000.0)
                    save_graspness_map(
                        graspness_path(layout_paths.root, tmp_name, camera, frame_id),
                        graspness)
                    t = _tick('graspness', t)
        if {'realsense', 'kinect'} <= set(world_poses_of_camera):
            # GraspNet's rs_wrt_kn.npy: pose of the realsense camera of frame i w.r.t.
            # the kinect camera of frame i, (num_views, 4, 4): p_kn = T @ p_rs
            rs_wrt_kn = np.linalg.inv(world_poses_of_camera['kinect']) @ \
                world_poses_of_camera['realsense']
            np.save(os.path.join(tmp_dir, 'rs_wrt_kn.npy'), rs_wrt_kn)
        info = {
            'scene_id': int(scene_id),
            'seed': int(cfg.seed),
            'object_set': object_set_for_scene(scene_id),
            'obj_ids': [int(i) for i in kept_ids],
            'obj_names': names,
            'removed_obj_ids': [int(i) for i in layout.removed_ids],
            'skipped_objects': {str(k): v for k, v in sorted(skipped_objects.items())},
            'poses_world': poses_world.tolist(),
            'frames': 'table frame (z up, table top z=0), metres; poses are T_world_obj',
            'with_labels': bool(cfg.with_labels),
        }
        if scene_labels is not None:
            # label outputs outside the scene folder, before the completion record
            os.rename(tmp_graspness,
                      os.path.join(layout_paths.root, GRASPNESS_DIR,
                                   layout_paths.scene_name(scene_id)))
            scene_labels.save_collisions(layout_paths.collision_label(scene_id))
        # written last: its presence marks a complete scene
        with open(os.path.join(tmp_dir, SCENE_INFO_NAME), 'w') as f:
            json.dump(info, f, indent=1)
        os.rename(tmp_dir, final_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        shutil.rmtree(tmp_graspness, ignore_errors=True)
        _remove_stale_scene_outputs(layout_paths, scene_id)
        raise
    return final_dir


#: Smallest image width / height, pixels.
MIN_IMAGE_SIZE = 16


def generate_dataset(out_root: str,
                     preset: str = 'tiny',
                     *,
                     scene_ids: Optional[Sequence[int]] = None,
                     num_scenes: Optional[int] = None,
                     num_views: Optional[int] = None,
                     cameras: Optional[Union[str, Sequence[str]]] = None,
                     image_size: Optional[Tuple[int, int]] = None,
                     seed: Optional[int] = None,
                     noise: Optional[bool] = None,
                     write_rgb: Optional[bool] = None,
                     with_labels: Optional[bool] = None,
                     config: Optional[SyntheticConfig] = None,
                     unlabelled_scene_ids: Optional[Sequence[int]] = None,
                     progress: bool = True) -> GenerationResult:
    """Generate (or complete) a synthetic dataset in the GraspNet-1Billion layout.

    Args:
        out_root: Dataset root (created if needed).
        preset: a name of :data:`PRESETS` (``'tiny'``, ``'tiny_benchmark'``, ``'study'``,
            ``'study_micro'``, ``'default'``).
        scene_ids: Scenes to generate; default: the preset's.
        num_scenes: Use the first ``num_scenes`` of the preset's scene ids instead.
        num_views: Override the views per scene.
        cameras: ``'realsense'``, ``'kinect'``, ``'both'`` or a sequence of names.
        image_size: Override (width, height) in pixels.
        seed: Override the seed.
        noise: Override the use of the depth noise model.
        write_rgb: Override writing rgb images.
        with_labels: Override writing labels (grasp, collision, graspness, dexnet models).
        config: Full settings; replaces the preset's (other overrides still apply).
        unlabelled_scene_ids: Scenes written without labels (depth, camera poses and
            segmentation only) even when ``with_labels``; default: the preset's
            (:func:`preset_unlabelled_scene_ids`). Recorded in the manifest.
        progress: Show tqdm progress bars over scenes and views.

    Returns:
        GenerationResult: generated and skipped scene ids, time per stage.

    Raises:
        ManifestMismatchError: ``out_root`` holds a dataset made with other settings.
        ValueError: a bad setting (checked before anything is written).
    """
    start = time.time()
    if isinstance(cameras, str):
        cameras = CAMERA_NAMES if cameras == 'both' else (cameras, )
    if cameras is not None:
        bad = [c for c in cameras if c not in CAMERA_NAMES]
        if bad:
            raise ValueError(f'unknown camera(s) {bad}; expected {CAMERA_NAMES} or "both"')
    overrides = dict(num_views=num_views, seed=seed, noise=noise, write_rgb=write_rgb,
                     with_labels=with_labels,
                     image_size=tuple(image_size) if image_size is not None else None,
                     cameras=tuple(cameras) if cameras is not None else None)
    if config is not None:
        _, preset_ids = get_preset(preset)
        cfg = dataclasses.replace(config, **{k: v for k, v in overrides.items()
                                             if v is not None})
    else:
        cfg, preset_ids = get_preset(preset, **overrides)
    # every setting is checked before the manifest is written (a manifest of bad settings
    # would block later runs)
    if cfg.num_views < 1:
        raise ValueError(f'num_views must be >= 1, got {cfg.num_views}')
    size = tuple(cfg.image_size)
    if len(size) != 2 or any(int(v) != v or v < MIN_IMAGE_SIZE for v in size):
        raise ValueError(f'image_size must be two integers (width, height) >= '
                         f'{MIN_IMAGE_SIZE} pixels, got {cfg.image_size}')
    if int(cfg.seed) != cfg.seed or cfg.seed < 0:
        raise ValueError(f'seed must be a non-negative integer, got {cfg.seed}')
    if num_scenes is not None and (int(num_scenes) != num_scenes or num_scenes < 1):
        raise ValueError(f'num_scenes must be >= 1, got {num_scenes}')
    if scene_ids is None:
        scene_ids = preset_ids[:num_scenes] if num_scenes is not None else preset_ids
    scene_ids = [int(s) for s in scene_ids]
    if not scene_ids:
        raise ValueError('no scene to generate (empty scene_ids)')
    if any(s < 0 or s > 9999 for s in scene_ids):
        raise ValueError(f'scene ids must be in 0..9999, got {scene_ids}')

    if unlabelled_scene_ids is None:
        unlabelled_scene_ids = preset_unlabelled_scene_ids(preset)
    unlabelled = {int(i) for i in unlabelled_scene_ids}
    unlabelled_cfg = dataclasses.replace(cfg, with_labels=False)
    root = os.path.abspath(out_root)
    _check_manifest(root, cfg, sorted(unlabelled) if cfg.with_labels else ())
    layout = GraspNetLayout(root)
    os.makedirs(layout.scenes_dir(), exist_ok=True)
    _remove_stale_temporaries(layout)
    library = ObjectLibrary()
    generated, skipped = [], []
    timings: Dict[str, float] = {}
    scene_iter = scene_ids
    if progress:
        from tqdm import tqdm
        scene_iter = tqdm(scene_ids, desc='scenes', unit='scene')
    for scene_id in scene_iter:
        if is_scene_complete(root, scene_id):
            skipped.append(scene_id)
            continue
        if os.path.exists(layout.scene_dir(scene_id)):
            raise FileExistsError(
                f'{layout.scene_dir(scene_id)} exists but has no {SCENE_INFO_NAME} '
                'completion record; delete it to regenerate the scene')
        generate_scene(root, scene_id, unlabelled_cfg if scene_id in unlabelled else cfg,
                       library=library, progress=progress, timings=timings)
        generated.append(scene_id)
    if skipped:
        logger.info('skipped %d complete scenes: %s', len(skipped), skipped)
    return GenerationResult(root, generated, skipped, time.time() - start, timings)
