"""Top-level synthetic GraspNet-1Billion scene generator.

:func:`generate_dataset` writes scenes in the official layout (see :mod:`.writer`) under an
output root. Each scene is a deterministic function of ``(settings, seed, scene_id)``:

1. objects are drawn from the object set of the scene's split (scenes 0-129: ``seen``,
   130-159: ``similar``, 160-189: ``novel``; see :mod:`.objects`) and settled on the table
   with pybullet (:mod:`.scene_layout`);
2. for every camera, a GraspNet-like trajectory of ``num_views`` poses is drawn
   (:mod:`.camera_trajectory`), and each view is ray cast (:mod:`.renderer`), corrupted by
   the sensor model (:mod:`.depth_noise`) and written.

Robustness: a scene is written into ``scenes/.tmp_scene_XXXX-<pid>`` and renamed to
``scenes/scene_XXXX`` only when complete (the rename is atomic), so a killed run never
leaves a scene that looks complete; a rerun removes stale temporary folders and skips
finished scenes. The generator settings are recorded in ``synthetic_manifest.json`` at the
root; a root holding a dataset made with different settings is refused.

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

from .camera_trajectory import (CAMERA_NAMES, TrajectoryConfig, camera_intrinsics,
                                make_trajectory)
from .depth_noise import NOISE_PRESETS, apply_depth_noise, quantize_depth_mm
from .objects import LIBRARY_VERSION, ObjectLibrary, object_ids_of_set
from .renderer import SceneRenderer
from .scene_layout import LayoutConfig, SceneLayout, settle_objects
from .writer import (GraspNetLayout, write_annotation_xml, write_meta_mat,
                     write_object_id_list, write_ply_mesh, write_png)

__all__ = [
    'SyntheticConfig', 'PRESETS', 'get_preset', 'generate_dataset', 'generate_scene',
    'GenerationResult', 'ManifestMismatchError', 'MANIFEST_NAME', 'SCENE_INFO_NAME',
    'is_scene_complete', 'object_set_for_scene', 'load_scene_info'
]

logger = logging.getLogger(__name__)

MANIFEST_NAME = 'synthetic_manifest.json'
SCENE_INFO_NAME = 'synthetic_scene.json'
_FORMAT_VERSION = 1
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


#: Named settings. ``tiny``: 4 scenes (0, 1, 2 train + 100 test_seen), 3-5 objects,
#: 16 views of 640x360, realsense only: seconds on a laptop CPU. ``default``: GraspNet-like
#: (256 views, 1280x720, 6-10 objects, scenes 0-189, both cameras).
PRESETS: Dict[str, dict] = {
    'tiny': dict(
        config=dict(num_views=16, image_size=(640, 360), cameras=('realsense', ),
                    num_objects=(3, 5),
                    object_pools={'seen': (0, 1, 4, 5, 7, 9, 11, 20, 21, 24),
                                  'similar': (170, 171, 172, 173, 174),
                                  'novel': (12, 13, 14, 15)}),
        scene_ids=(0, 1, 2, 100)),
    'default': dict(
        config=dict(num_views=256, image_size=(1280, 720), cameras=('realsense', 'kinect'),
                    num_objects=(6, 10),
                    object_pools={'seen': tuple(range(12)) + tuple(range(20, 48)),
                                  'similar': tuple(range(170, 190)),
                                  'novel': (12, 13, 14, 15, 16)}),
        scene_ids=tuple(range(190))),
}


def get_preset(name: str, **overrides) -> Tuple[SyntheticConfig, Tuple[int, ...]]:
    """Settings and scene ids of a preset, with field overrides.

    Args:
        name: ``'tiny'`` or ``'default'``.
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
    """
    root: str
    generated: List[int]
    skipped: List[int]
    seconds: float


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


def _check_manifest(root: str, cfg: SyntheticConfig) -> None:
    path = os.path.join(root, MANIFEST_NAME)
    settings = cfg.to_dict()
    record = {'generator': 'graspcontrast_mm.synthetic', 'format_version': _FORMAT_VERSION,
              'library_version': LIBRARY_VERSION, 'settings': settings}
    if os.path.exists(path):
        with open(path) as f:
            try:
                old = json.load(f)
            except json.JSONDecodeError as e:
                raise ManifestMismatchError(f'unreadable manifest {path}: {e}') from e
        if old != record:
            diff = sorted(k for k in set(settings) | set(old.get('settings', {}))
                          if settings.get(k) != old.get('settings', {}).get(k))
            for k in ('format_version', 'library_version'):
                if old.get(k) != record[k]:
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
    scenes_dir = layout.scenes_dir()
    if not os.path.isdir(scenes_dir):
        return
    for name in sorted(os.listdir(scenes_dir)):
        if name.startswith(_TMP_PREFIX):
            logger.warning('removing incomplete scene folder %s left by an interrupted run',
                           os.path.join(scenes_dir, name))
            shutil.rmtree(os.path.join(scenes_dir, name), ignore_errors=True)


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


def generate_scene(root: str, scene_id: int, cfg: SyntheticConfig, *,
                   library: Optional[ObjectLibrary] = None, progress: bool = False) -> str:
    """Generate one complete scene (atomically) under ``root``.

    Args:
        root: Dataset root.
        scene_id: Scene id (also selects the object set and the random stream).
        cfg: Generator settings.
        library: Object library (a fresh one if ``None``).
        progress: Show a progress bar over views.

    Returns:
        str: the final scene folder ``root/scenes/scene_XXXX``.
    """
    library = library or ObjectLibrary()
    layout_paths = GraspNetLayout(root)
    final_dir = layout_paths.scene_dir(scene_id)
    if os.path.exists(final_dir):
        raise FileExistsError(f'{final_dir} already exists')
    ss = np.random.SeedSequence([int(cfg.seed), int(scene_id)])
    layout_ss, *camera_ss = ss.spawn(1 + len(CAMERA_NAMES))
    layout_rng = np.random.default_rng(layout_ss)

    # 1. objects at rest (retry a few drops if too many objects roll away)
    obj_ids = _draw_objects(cfg, scene_id, layout_rng, library)
    models = [library.get(i) for i in obj_ids]
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

    tmp_dir = os.path.join(layout_paths.scenes_dir(),
                           f'{_TMP_PREFIX}{int(scene_id):04d}-{os.getpid()}')
    if os.path.exists(tmp_dir):
        shutil.rmtree(tmp_dir)
    os.makedirs(tmp_dir)
    try:
        write_object_id_list(os.path.join(tmp_dir, 'object_id_list.txt'), kept_ids)
        renderer = SceneRenderer(kept_models, poses_world)
        names = [m.name for m in kept_models]
        for camera in cfg.cameras:
            cam_rng = np.random.default_rng(camera_ss[CAMERA_NAMES.index(camera)])
            K = camera_intrinsics(camera, cfg.image_size)
            T_world_cams = make_trajectory(cfg.num_views, cam_rng, cfg.trajectory)
            T_world_cam0 = T_world_cams[0]
            camera_poses = np.linalg.inv(T_world_cam0)[None] @ T_world_cams
            cam_dir = os.path.join(tmp_dir, camera)
            os.makedirs(cam_dir)
            np.save(os.path.join(cam_dir, 'camK.npy'), K)
            np.save(os.path.join(cam_dir, 'camera_poses.npy'), camera_poses)
            np.save(os.path.join(cam_dir, 'cam0_wrt_table.npy'), T_world_cam0)
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
                poses_cam = np.linalg.inv(T_world_cam)[None] @ poses_world
                write_meta_mat(files['meta'], K, poses_cam, kept_ids)
                if cfg.write_annotations:
                    write_annotation_xml(files['annotation'], poses_cam, kept_ids, names)
        info = {
            'scene_id': int(scene_id),
            'seed': int(cfg.seed),
            'object_set': object_set_for_scene(scene_id),
            'obj_ids': [int(i) for i in kept_ids],
            'obj_names': names,
            'removed_obj_ids': [int(i) for i in layout.removed_ids],
            'poses_world': poses_world.tolist(),
            'frames': 'table frame (z up, table top z=0), metres; poses are T_world_obj',
        }
        # written last: its presence marks a complete scene
        with open(os.path.join(tmp_dir, SCENE_INFO_NAME), 'w') as f:
            json.dump(info, f, indent=1)
        os.rename(tmp_dir, final_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return final_dir


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
                     config: Optional[SyntheticConfig] = None,
                     progress: bool = True) -> GenerationResult:
    """Generate (or complete) a synthetic dataset in the GraspNet-1Billion layout.

    Args:
        out_root: Dataset root (created if needed).
        preset: ``'tiny'`` or ``'default'`` (see :data:`PRESETS`).
        scene_ids: Scenes to generate; default: the preset's.
        num_scenes: Use the first ``num_scenes`` of the preset's scene ids instead.
        num_views: Override the views per scene.
        cameras: ``'realsense'``, ``'kinect'``, ``'both'`` or a sequence of names.
        image_size: Override (width, height) in pixels.
        seed: Override the seed.
        noise: Override the use of the depth noise model.
        write_rgb: Override writing rgb images.
        config: Full settings; replaces the preset's (other overrides still apply).
        progress: Show tqdm progress bars over scenes and views.

    Returns:
        GenerationResult: generated and skipped scene ids.

    Raises:
        ManifestMismatchError: ``out_root`` holds a dataset made with other settings.
    """
    start = time.time()
    if isinstance(cameras, str):
        cameras = CAMERA_NAMES if cameras == 'both' else (cameras, )
    if cameras is not None:
        bad = [c for c in cameras if c not in CAMERA_NAMES]
        if bad:
            raise ValueError(f'unknown camera(s) {bad}; expected {CAMERA_NAMES} or "both"')
    overrides = dict(num_views=num_views, seed=seed, noise=noise, write_rgb=write_rgb,
                     image_size=tuple(image_size) if image_size is not None else None,
                     cameras=tuple(cameras) if cameras is not None else None)
    if config is not None:
        _, preset_ids = get_preset(preset)
        cfg = dataclasses.replace(config, **{k: v for k, v in overrides.items()
                                             if v is not None})
    else:
        cfg, preset_ids = get_preset(preset, **overrides)
    if cfg.num_views < 1:
        raise ValueError(f'num_views must be >= 1, got {cfg.num_views}')
    if scene_ids is None:
        scene_ids = preset_ids[:num_scenes] if num_scenes is not None else preset_ids
    scene_ids = [int(s) for s in scene_ids]
    if any(s < 0 or s > 9999 for s in scene_ids):
        raise ValueError(f'scene ids must be in 0..9999, got {scene_ids}')

    root = os.path.abspath(out_root)
    _check_manifest(root, cfg)
    layout = GraspNetLayout(root)
    os.makedirs(layout.scenes_dir(), exist_ok=True)
    _remove_stale_temporaries(layout)
    library = ObjectLibrary()
    generated, skipped = [], []
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
        generate_scene(root, scene_id, cfg, library=library, progress=progress)
        generated.append(scene_id)
    if skipped:
        logger.info('skipped %d complete scenes: %s', len(skipped), skipped)
    return GenerationResult(root, generated, skipped, time.time() - start)
