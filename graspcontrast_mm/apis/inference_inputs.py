"""Inputs of the grasp Inferencer: what kind each input is, and the config's test
pipeline with its loading steps swapped for that kind.

The test pipeline (``test_dataloader.dataset.pipeline``, as ``tools/test.py`` runs it) is
the single description of the preprocessing. For every input kind the Inferencer keeps
every transform of it except the loading steps:

- ``'graspnet'`` (a dataset frame on disk): the pipeline as it is, started from
  ``GraspNetDataset.get_data_info``; grasp labels are not read (``LoadGraspLabels`` ->
  ``LoadPointSegmentation``, ``PackGraspInputs`` -> ``PackPointsInputs``) and the colour
  image is looked up (``LoadPointColors``).
- ``'depth'`` (an image + intrinsics): ``LoadDepthImage`` reads the in-memory image and is
  followed by ``LoadDepthMask``; ``LoadPointColors`` follows ``DepthToPoints``. Steps that
  need a dataset frame's annotations (:data:`FRAME_ONLY`: segmentation, camera pose) are
  left out: such an input's workspace is its mask.
- ``'points'`` (a camera-frame cloud): ``LoadPointCloud`` (the depth range of
  ``DepthToPoints``) replaces ``LoadDepthImage`` and ``DepthToPoints``; no frame-only steps.

In every kind ``LoadDepthImage`` raises instead of skipping, ``DepthToPoints`` keeps the
pixel of each point, a ``KeepScenePoints`` (the workspace cloud before sampling, for the
collision filter and the picture) is added before ``PointSample`` when the config has none,
and back-projected points farther than ``max_distance`` are an error (wrong intrinsics or
units). A config without a test pipeline gets :data:`DEFAULT_TEST_PIPELINE`; a pipeline
without one of the steps the model needs (:data:`REQUIRED_STEPS`) gets that step's default.
"""
import copy
import os
import os.path as osp
from contextlib import contextmanager
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import Compose

from graspcontrast_mm.datasets.transforms import Voxelize, read_depth_image, read_intrinsics
from graspcontrast_mm.datasets.transforms.loading import as_numpy

__all__ = ['DEFAULT_TEST_PIPELINE', 'REQUIRED_STEPS', 'FRAME_ONLY', 'find_test_pipeline',
           'complete_pipeline', 'kind_pipeline', 'normalize_input', 'load_input',
           'run_pipeline']

#: Preprocessing of a config without a test pipeline (GSNet's reference test protocol;
#: ``Voxelize.feat_mode`` follows the backbone's input channels).
DEFAULT_TEST_PIPELINE: List[dict] = [
    dict(type='LoadDepthImage'),
    dict(type='DepthToPoints', min_depth=0.1, max_depth=2.0, with_pixel_uv=True),
    dict(type='LoadPointSegmentation'),
    dict(type='ObjectWorkspaceCrop', margin=0.02),
    dict(type='KeepScenePoints'),
    dict(type='PointSample', num_points=20000),
    dict(type='Voxelize', voxel_size=0.005),
    dict(type='PackPointsInputs'),
]
#: Steps a model input needs, in order; a pipeline lacking one gets its default.
REQUIRED_STEPS: Tuple[str, ...] = ('LoadDepthImage', 'DepthToPoints', 'PointSample',
                                   'Voxelize', 'Pack')
#: Steps that need a dataset frame's annotations: only run on GraspNet frames.
FRAME_ONLY: Tuple[str, ...] = ('LoadGraspLabels', 'LoadPointSegmentation',
                               'ObjectWorkspaceCrop', 'WorkspaceCrop')
_CLOUD_EXTS = ('.ply', '.pcd', '.xyz', '.xyzn', '.xyzrgb', '.pts')
_DEPTH_EXTS = ('.png', '.tif', '.tiff', '.exr', '.pgm')
_FEAT_MODES = {channels: mode for mode, channels in reversed(Voxelize.FEAT_CHANNELS.items())}


def type_name(t: Any) -> str:
    """Class name of a transform config or transform (without a scope prefix)."""
    if not isinstance(t, Mapping):
        return type(t).__name__
    name = t.get('type', '')
    name = name if isinstance(name, str) else getattr(name, '__name__', str(name))
    return name.split('.')[-1]


def _step(name: str) -> str:
    return 'Pack' if name.startswith('Pack') else name


def find_test_pipeline(cfg: Optional[Mapping]) -> Tuple[Optional[list], str]:
    """The first of ``test_dataloader.dataset.pipeline``, ``val_dataloader.dataset.pipeline``
    (through dataset wrappers) and ``test_pipeline``; ``(None, reason)`` when none."""
    for key in ('test_dataloader', 'val_dataloader'):
        loader = (cfg or {}).get(key) or {}
        ds = loader.get('dataset') or {} if isinstance(loader, Mapping) else {}
        while isinstance(ds, Mapping) and 'dataset' in ds and 'pipeline' not in ds:
            ds = ds['dataset']
        if isinstance(ds, Mapping) and ds.get('pipeline'):
            return copy.deepcopy(list(ds['pipeline'])), f'{key}.dataset.pipeline'
    if (cfg or {}).get('test_pipeline'):
        return copy.deepcopy(list(cfg['test_pipeline'])), 'test_pipeline'
    return None, 'the default test pipeline (none in the config)'


def complete_pipeline(pipeline: Optional[list], backbone_channels: Optional[int],
                      source: str) -> Tuple[list, str]:
    """The test pipeline with the defaults of the :data:`REQUIRED_STEPS` it lacks."""
    default = copy.deepcopy(DEFAULT_TEST_PIPELINE)
    for t in default:
        if t['type'] == 'Voxelize':
            t['feat_mode'] = _FEAT_MODES.get(backbone_channels, 'ones')
    if pipeline is None:
        return default, source
    out, added = list(pipeline), []
    for i, name in enumerate(REQUIRED_STEPS):
        if any(_step(type_name(t)) == name for t in out):
            continue
        cfg = next(t for t in default if _step(t['type']) == name)
        earlier = [j for j, t in enumerate(out) if _step(type_name(t)) in REQUIRED_STEPS[:i]]
        out.insert(earlier[-1] + 1 if earlier else 0, cfg)
        added.append(cfg['type'])
    if _step(type_name(out[-1])) != 'Pack':
        raise ValueError(f'the test pipeline ({source}) must end with its packing step, got '
                         f'{type_name(out[-1])}')
    return out, source + (f' + default {", ".join(added)}' if added else '')


class _CheckDistance:
    """Points farther than ``max_distance`` from the camera: wrong intrinsics or units."""

    def __init__(self, max_distance: float, kind: str) -> None:
        self.max_distance, self.kind = float(max_distance), kind

    def __call__(self, results: dict) -> dict:
        pts = np.asarray(results['points']).reshape(-1, 3)
        far = (float(np.sqrt(np.einsum('ij,ij->i', pts, pts, dtype=np.float64).max()))
               if len(pts) else 0.0)
        if far <= self.max_distance:
            return results
        if self.kind == 'points':
            raise ValueError(f'implausible point cloud: points reach {far:.1f} m from the '
                             f'camera (more than {self.max_distance:g} m); give camera-frame '
                             'points in metres (millimetres / 1000)')
        K = np.asarray(results['cam_intrinsic'], np.float64)
        h, w = results['depth_shape'][:2]
        raise ValueError(
            f'implausible intrinsics: the back-projected points reach {far:.1f} m from the '
            f'camera (more than {self.max_distance:g} m) with fx={K[0, 0]:g}, '
            f'fy={K[1, 1]:g}, cx={K[0, 2]:g}, cy={K[1, 2]:g} px on a {w}x{h} depth image. K '
            f'must be in pixels of this image: a camera with a 60-90 degree field of view '
            f'has fx of about {0.55 * w:.0f}-{0.87 * w:.0f} px at width {w} (scale K with '
            'the image size)')


def _keep_scene_colors(results: dict) -> dict:
    """The colours of the scene cloud kept by ``KeepScenePoints`` (for the picture)."""
    if results.get('point_colors') is not None:
        results['scene_colors'] = np.asarray(results['point_colors'], np.uint8).copy()
    return results


def kind_pipeline(pipeline: Sequence[dict], kind: str, max_distance: float) -> Compose:
    """The test pipeline with the loading steps of input ``kind`` (see the module doc)."""
    out: List[Any] = []
    has_scene = any(type_name(t) == 'KeepScenePoints' for t in pipeline)
    for t in copy.deepcopy(list(pipeline)):
        name = type_name(t)
        if kind != 'graspnet' and name in FRAME_ONLY:
            continue
        if name == 'LoadDepthImage':
            if kind != 'points':
                out += [dict(t, on_invalid='raise'), dict(type='LoadDepthMask')]
        elif name == 'DepthToPoints':
            if kind == 'points':
                out.append(dict(type='LoadPointCloud', min_depth=t.get('min_depth', 0.1),
                                max_depth=t.get('max_depth', 2.0)))
            else:
                out += [dict(t, with_pixel_uv=True), dict(type='LoadPointColors')]
            out.append(_CheckDistance(max_distance, kind))
        elif name == 'LoadGraspLabels':
            out.append(dict(type='LoadPointSegmentation'))
        elif name == 'PackGraspInputs':
            out.append(dict(type='PackPointsInputs',
                            **{k: t[k] for k in ('meta_keys', 'extra_input_keys') if k in t}))
        elif name == 'PointSample' and not has_scene:
            out += [dict(type='KeepScenePoints'), _keep_scene_colors, t]
            has_scene = True
        elif name == 'KeepScenePoints':
            out += [t, _keep_scene_colors]
        else:
            out.append(t)
    return Compose(out)


# ----------------------------------------------------------------------------- inputs
def normalize_input(item: Any, index: int, defaults: dict) -> Tuple[str, dict, dict, str]:
    """One input -> ``(kind, results, description, name)``.

    ``results`` is the first dict of the kind's pipeline: ``depth_raw`` / ``depth_scale``
    / ``cam_intrinsic`` (/ ``depth_mask``, ``color``) for a depth image, ``points_raw`` or
    ``points_path`` (/ ``point_colors_raw``, ``cam_intrinsic``) for a cloud, and the
    dataset's data info for a GraspNet frame. ``defaults``: the call's ``intrinsics``,
    ``depth_scale`` and ``mask``.
    """
    where = f'input {index}'
    if isinstance(item, (str, os.PathLike)):
        path = os.fspath(item)
        if not osp.exists(path):
            raise FileNotFoundError(f'{where}: file not found: {path}')
        ext = osp.splitext(path)[1].lower()
        stem = osp.splitext(osp.basename(path))[0]
        if ext in _CLOUD_EXTS:
            item = dict(points=path, name=stem)
        elif ext == '.npy':
            arr = np.load(path)
            is_cloud = arr.ndim == 2 and arr.shape[1] in (3, 6)
            item = {'points' if is_cloud else 'depth': arr, 'name': stem, 'source': path}
        elif ext in _DEPTH_EXTS:
            item = dict(depth=path, name=stem)
        else:
            raise ValueError(f'{where}: cannot tell the kind of {path} (depth images: '
                             f'{_DEPTH_EXTS} or .npy; point clouds: {_CLOUD_EXTS} or .npy)')
    elif isinstance(item, np.ndarray) or hasattr(item, 'detach'):
        arr = as_numpy(item)
        if arr.ndim != 2:
            raise ValueError(f'{where}: an array input must be a depth image (H, W) or a '
                             f'point cloud (N, 3), got shape {arr.shape}')
        item = {'points' if arr.shape[1] in (3, 6) else 'depth': arr}
    if not isinstance(item, Mapping):
        raise TypeError(f'{where}: unsupported input type {type(item).__name__}; give a '
                        'depth image, a point cloud, a GraspNet frame dict or a path')
    loaders: Dict[str, Callable] = dict(data_root=_graspnet_input, depth=_depth_input,
                                        points=_points_input)
    kind = next((k for k in loaders if k in item), None)
    if kind is None:
        raise KeyError(f"{where}: a dict input needs 'depth', 'points' or 'data_root' "
                       f'(GraspNet frame), got keys {sorted(item)}')
    try:
        results, desc, name = loaders[kind](dict(item), defaults)
    except (ValueError, FileNotFoundError, KeyError) as err:
        if type(err) not in (ValueError, FileNotFoundError, KeyError):
            raise
        raise _with_where(err, where) from None
    return desc['kind'], results, desc, item.get('name') or name or f'input_{index:04d}'


def _depth_input(item: dict, defaults: dict) -> Tuple[dict, dict, Optional[str]]:
    K = item.get('intrinsics', item.get('K', defaults.get('intrinsics')))
    if K is None:
        raise ValueError('a depth image needs camera intrinsics K (3x3 or fx, fy, cx, cy): '
                         'pass intrinsics=...')
    K = read_intrinsics(K)
    depth = item['depth']
    desc: Dict[str, Any] = dict(kind='depth')
    if isinstance(depth, (str, os.PathLike)):
        desc['depth_path'] = os.fspath(depth)
        raw = read_depth_image(desc['depth_path'])
    else:
        raw = as_numpy(depth)
        if raw.ndim != 2:
            raise ValueError(f'a depth image must have shape (H, W), got {raw.shape}')
        if item.get('source'):
            desc['depth_path'] = item['source']
    if not (np.issubdtype(raw.dtype, np.number) or raw.dtype == bool):
        raise ValueError(f'depth must be numeric, got dtype {raw.dtype}')
    scale = item.get('depth_scale')
    scale = defaults.get('depth_scale') if scale is None else scale
    scale = float((1.0 if np.issubdtype(raw.dtype, np.floating) else 1000.0)
                  if scale is None else scale)
    if not scale > 0:
        raise ValueError(f'depth_scale must be positive, got {scale}')
    desc.update(shape=list(raw.shape), dtype=str(raw.dtype), depth_scale=scale)
    mask = item.get('mask')
    mask = defaults.get('mask') if mask is None else mask
    results = dict(depth_raw=raw, depth_scale=scale, cam_intrinsic=K, depth_mask=mask,
                   color=item.get('color'))
    if mask is not None:
        desc['mask'] = (os.fspath(mask) if isinstance(mask, (str, os.PathLike)) else 'array')
    return results, desc, None


def _points_input(item: dict, defaults: dict) -> Tuple[dict, dict, Optional[str]]:
    points = item['points']
    desc: Dict[str, Any] = dict(kind='points')
    src = item.get('source') or points
    if isinstance(src, (str, os.PathLike)):
        desc['path'] = os.fspath(src)
    key = 'points_path' if isinstance(points, (str, os.PathLike)) else 'points_raw'
    results = {key: points, 'point_colors_raw': item.get('colors')}
    K = item.get('intrinsics', item.get('K'))
    if K is not None:
        results['cam_intrinsic'] = read_intrinsics(K)
    return results, desc, None


def _graspnet_input(item: dict, defaults: dict) -> Tuple[dict, dict, str]:
    from graspcontrast_mm.datasets import GraspNetDataset
    missing = [k for k in ('data_root', 'scene_id', 'frame_id') if k not in item]
    if missing:
        raise KeyError(f'a GraspNet frame needs {missing} (keys data_root, scene_id, '
                       'camera, frame_id)')
    root, camera = os.fspath(item['data_root']), item.get('camera', 'realsense')
    scene, frame = int(item['scene_id']), int(item['frame_id'])
    if not osp.isdir(root):
        raise FileNotFoundError(f'GraspNet data_root not found: {root}')
    ds = GraspNetDataset(data_root=root, camera=camera, scene_ids=[scene],
                         frame_ids=[frame], mode='single', skip_missing_scenes=False,
                         pipeline=[], serialize_data=False)
    results = ds.get_data_info(0)
    desc = dict(kind='graspnet', data_root=root, scene_id=scene, camera=camera,
                frame_id=frame, depth_path=results['depth_path'])
    return results, desc, f'scene_{scene:04d}_{camera}_{frame:04d}'


def load_input(pipeline: Compose, kind: str, results: dict, desc: dict, where: str,
               seed: Optional[int]) -> Tuple[dict, dict]:
    """Run an input through its kind's pipeline (:func:`run_pipeline`), completing its
    description ``desc`` (mask pixels, input points, workspace) on the way.

    Returns:
        tuple: the results before the packing step, and the packed dict (its data sample
        holds ``scene_points`` and, when known, ``scene_colors``).
    """
    transforms = pipeline.transforms
    results = run_pipeline(transforms[:-1], results, where, seed)
    if isinstance(results.get('depth_mask'), np.ndarray):
        desc['mask_pixels'] = int(results['depth_mask'].sum())
    if kind == 'points':
        desc['num_points'] = results['num_input_points']
    elif kind == 'graspnet':
        desc['workspace'] = ', '.join(_workspace(t, results) for t in transforms
                                      if type_name(t) in ('ObjectWorkspaceCrop',
                                                          'WorkspaceCrop')) or 'none'
    packed = transforms[-1](results)
    if results.get('scene_colors') is not None:
        packed['data_samples'].scene_colors = results['scene_colors']
    return results, packed


def _workspace(t: Any, results: dict) -> str:
    """What a workspace crop kept."""
    if type_name(t) == 'WorkspaceCrop':
        return f'world box {t.world_bounds.tolist()}'
    if results.get('objectness_label') is None and results.get('pts_instance_mask') is None:
        return f'table box {np.asarray(results["workspace_bounds"]).tolist()}'
    return f'objects + {t.margin} m (label image)'


def _with_where(err: Exception, where: str) -> Exception:
    """An error of the same type whose message starts with ``where``."""
    text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    return type(err)(f'{where}: {text}')


@contextmanager
def _seeded_numpy(seed: Optional[int]):
    """Run with numpy's global RNG seeded, restoring its state afterwards."""
    if seed is None:
        yield
        return
    state = np.random.get_state()
    np.random.seed(int(seed) % (2**32))
    try:
        yield
    finally:
        np.random.set_state(state)


def run_pipeline(transforms: Sequence[Callable], results: dict, where: str,
                 seed: Optional[int] = None) -> dict:
    """Run ``transforms`` in turn with numpy's global RNG seeded by ``seed`` (None: as it
    is; restored afterwards). A transform that drops the input (returns None) or rejects
    it (ValueError / FileNotFoundError) is an error naming ``where`` and why."""
    with _seeded_numpy(seed):
        return _run(transforms, results, where)


def _run(transforms: Sequence[Callable], results: dict, where: str) -> dict:
    for t in transforms:
        try:
            out = t(results)
        except (ValueError, FileNotFoundError) as err:
            if type(err) not in (ValueError, FileNotFoundError):
                raise
            raise _with_where(err, where) from None
        if out is None:
            raise ValueError(f'{where}: {_dropped(t, results)}')
        results = out
    return results


def _dropped(t: Any, results: dict) -> str:
    """Why transform ``t`` dropped ``results``."""
    name = type_name(t)
    if name == 'DepthToPoints':
        depth, hint = np.asarray(results['depth']), ''
        valid = depth[depth > 0]
        if valid.size:
            med = float(np.median(valid))
            hint = f'; the median valid depth is {med:.3f} m'
            if med > 10 * t.max_depth:
                hint += ' (millimetres given as metres? check depth_scale)'
        mask = results.get('depth_mask')
        masked = '' if mask is None else \
            f' inside the workspace mask ({int(np.sum(mask))} pixels)'
        return (f'no depth within [{t.min_depth}, {t.max_depth}] m{masked}: empty point '
                f'cloud{hint}')
    if name == 'ObjectWorkspaceCrop':
        return (f"no points in the object workspace of {results.get('label_path')} "
                '(ObjectWorkspaceCrop): empty object workspace')
    if name == 'WorkspaceCrop':
        return f'no point inside the world workspace {t.world_bounds.tolist()}'
    if name == 'PointSample':
        return 'empty point cloud after cropping'
    return f'{name} dropped the input (see the log)'
