"""mmengine Inferencer of 6-DoF grasps: depth image / point cloud / GraspNet frame in,
graspnetAPI ``GraspGroup`` (camera frame, metres) out, plus a picture.

Example::

    from graspcontrast_mm.apis import GraspInferencer
    infer = GraspInferencer('configs/gsnet.py', 'work_dirs/gsnet/epoch_10.pth')
    out = infer(dict(depth='depth.png', intrinsics=K, depth_scale=1000.0,
                     mask='workspace_mask.png'), top_k=50, out_dir='outputs')
    gg = out['predictions'][0]        # graspnetAPI GraspGroup, camera frame, metres

Frames and units (see ``docs/data_flow.md``): every point and grasp is in the camera frame
of its input (OpenCV: x right, y down, z forward), in metres; ``K`` is in pixels; a depth
image holds ``depth_m * depth_scale`` (uint16 millimetres: ``depth_scale = 1000``).
"""
import copy
import json
import math
import os
import os.path as osp
import tempfile
import time
import warnings
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config, ConfigDict
from mmengine.infer import BaseInferencer
from mmengine.logging import print_log
from mmengine.registry import DefaultScope

from graspcontrast_mm.datasets.transforms import (DepthToPoints, LoadDepthImage,
                                                  ObjectWorkspaceCrop, PackPointsInputs,
                                                  PointSample, Voxelize, WorkspaceCrop,
                                                  read_depth_image, read_label_image)
from graspcontrast_mm.engine.checkpoint_compat import load_checkpoint_file
from graspcontrast_mm.engine.checkpoint_config import config_from_checkpoint
from graspcontrast_mm.engine.model_loading import load_model_checkpoint
from graspcontrast_mm.registry import INFERENCERS, MODELS, SCOPE
from graspcontrast_mm.structures import check_grasp_collisions, check_intrinsics
from graspcontrast_mm.structures.gripper_collision import reference_collision_iou
from graspcontrast_mm.structures.grasp import GRASP_ARRAY_LEN
from graspcontrast_mm.visualization import render_grasps, write_image

__all__ = [
    'GraspInferencer', 'DEFAULT_INFER_SETTINGS', 'pipeline_settings_from_cfg',
    'read_intrinsics', 'read_point_cloud', 'read_mask', 'save_grasps_npy'
]

#: Preprocessing used when the config has no test pipeline (GSNet reference values).
DEFAULT_INFER_SETTINGS: Dict[str, Any] = dict(
    load=dict(invalid_value=None, min_valid_ratio=0.0),
    depth_range=(0.1, 2.0),
    num_points=20000,
    replace_if_fewer=True,
    voxel_size=0.005,
    feat_mode='ones',
    object_crop_margin=0.02,
    world_bounds=None,
)
_FEAT_CHANNELS = dict(Voxelize.FEAT_CHANNELS)  # feat_mode -> channels
_DEFAULT_SETTINGS_SOURCE = 'built-in defaults (no test pipeline in the config)'
_DEPTH_EXTS = ('.png', '.tif', '.tiff', '.exr', '.pgm')
_CLOUD_EXTS = ('.ply', '.pcd', '.xyz', '.xyzn', '.xyzrgb', '.pts')
_GRASPNET_KEYS = ('data_root', 'scene_id', 'camera', 'frame_id')
_DEPTH_KEYS = ('depth', 'intrinsics', 'K', 'depth_scale', 'mask', 'color', 'name')
_POINT_KEYS = ('points', 'colors', 'name', 'intrinsics', 'K')


# ----------------------------------------------------------------------------- readers
def read_intrinsics(value: Any) -> np.ndarray:
    """Pinhole intrinsics from a matrix, ``(fx, fy, cx, cy)`` or a file.

    Args:
        value: (3, 3) array-like; 4 numbers ``fx, fy, cx, cy`` (pixels); or a path to a
            ``.npy`` / ``.txt`` (3x3 or 4 numbers), ``.json`` (``K`` / ``intrinsics`` /
            ``intrinsic_matrix`` as 3x3, or keys ``fx fy cx cy``) or ``.mat``
            (``intrinsic_matrix``, GraspNet ``meta``) file.

    Returns:
        np.ndarray: float64 (3, 3) ``K``.

    Raises:
        FileNotFoundError: missing file.
        ValueError: anything that is not a valid pinhole matrix.
    """
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if not osp.isfile(path):
            raise FileNotFoundError(f'intrinsics file not found: {path}')
        ext = osp.splitext(path)[1].lower()
        if ext == '.npy':
            value = np.load(path)
        elif ext == '.json':
            with open(path) as f:
                data = json.load(f)
            for key in ('K', 'intrinsics', 'intrinsic_matrix', 'camera_matrix'):
                if key in data:
                    value = data[key]
                    break
            else:
                if all(k in data for k in ('fx', 'fy', 'cx', 'cy')):
                    value = [data[k] for k in ('fx', 'fy', 'cx', 'cy')]
                else:
                    raise ValueError(f'{path}: no K / intrinsics / intrinsic_matrix or '
                                     'fx, fy, cx, cy entries')
        elif ext == '.mat':
            import scipy.io
            meta = scipy.io.loadmat(path)
            if 'intrinsic_matrix' not in meta:
                raise ValueError(f'{path}: no intrinsic_matrix entry')
            value = meta['intrinsic_matrix']
        else:
            value = np.loadtxt(path)
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 4 and arr.ndim <= 1:
        fx, fy, cx, cy = arr.tolist()
        arr = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
    try:
        return check_intrinsics(arr)
    except ValueError as err:
        raise ValueError(f'invalid intrinsics ({err}); give a 3x3 K or fx, fy, cx, cy in '
                         'pixels') from None


def read_mask(value: Any, shape: Tuple[int, int]) -> np.ndarray:
    """A workspace mask as bool (H, W).

    Args:
        value: bool / numeric (H, W) array (non-zero = keep) or an image / ``.npy`` path.
        shape: ``(H, W)`` of the depth image.

    Returns:
        np.ndarray: bool (H, W).
    """
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if not osp.isfile(path):
            raise FileNotFoundError(f'workspace mask not found: {path}')
        if path.endswith('.npy'):
            value = np.load(path)
        else:
            import cv2
            value = cv2.imread(path, cv2.IMREAD_UNCHANGED)
            if value is None:
                raise ValueError(f'cannot decode workspace mask {path}')
            if value.ndim == 3:
                value = value.max(axis=2)
    mask = np.asarray(value)
    if mask.shape != tuple(shape):
        raise ValueError(f'workspace mask has shape {mask.shape} but the depth image has '
                         f'{tuple(shape)}')
    mask = mask.astype(bool)
    if not mask.any():
        raise ValueError('workspace mask is empty (no pixel selected)')
    return mask


def read_point_cloud(value: Any) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """A camera-frame point cloud (metres) with optional colours.

    Args:
        value: (N, 3) array (or (N, 6) xyz + rgb), or a ``.npy`` / ``.ply`` / ``.pcd`` /
            ``.xyz`` file.

    Returns:
        tuple: float64 (N, 3) points and uint8 (N, 3) colours or None.
    """
    colors = None
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        if not osp.isfile(path):
            raise FileNotFoundError(f'point cloud file not found: {path}')
        if path.endswith('.npy'):
            value = np.load(path)
        else:
            import open3d as o3d
            cloud = o3d.io.read_point_cloud(path)
            value = np.asarray(cloud.points)
            if value.shape[0] == 0:
                raise ValueError(f'point cloud file {path} holds no points (or could not be '
                                 'read)')
            if cloud.has_colors():
                colors = np.rint(np.asarray(cloud.colors) * 255).astype(np.uint8)
    arr = np.asarray(value)
    if arr.ndim == 2 and arr.shape[1] == 6:
        colors = arr[:, 3:]
        if np.issubdtype(colors.dtype, np.floating) and colors.max(initial=0) <= 1.0:
            colors = colors * 255.0
        colors = np.clip(colors, 0, 255).astype(np.uint8)
        arr = arr[:, :3]
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f'a point cloud must have shape (N, 3) (camera frame, metres), got '
                         f'{arr.shape}')
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f'point cloud must be numeric, got dtype {arr.dtype}')
    return arr.astype(np.float64), colors


def save_grasps_npy(path: str, grasps: np.ndarray) -> str:
    """Save (K, 17) grasp rows as ``.npy`` atomically (``GraspGroup(path)`` reloads it).

    Args:
        path: output file.
        grasps: (K, 17) rows.

    Returns:
        str: the path.
    """
    grasps = np.asarray(grasps).reshape(-1, GRASP_ARRAY_LEN)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp_', suffix='.npy', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            np.save(f, grasps)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _write_json(path: str, data: dict) -> None:
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp_', suffix='.json', dir=folder)
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


# ----------------------------------------------------------------------------- settings
def _iter_transforms(pipeline: Any) -> Iterator[Mapping]:
    for t in pipeline or ():
        if not isinstance(t, Mapping):
            continue
        yield t
        if 'transforms' in t:  # e.g. ApplyToViews
            yield from _iter_transforms(t['transforms'])


def _type_name(t: Mapping) -> str:
    name = t.get('type', '')
    name = name if isinstance(name, str) else getattr(name, '__name__', str(name))
    return name.split('.')[-1]


def pipeline_settings_from_cfg(cfg: Optional[Mapping]) -> Tuple[Dict[str, Any], str]:
    """Preprocessing settings taken from a config's test pipeline.

    The first pipeline found among ``test_dataloader.dataset.pipeline``,
    ``val_dataloader.dataset.pipeline`` and ``test_pipeline`` is read; its
    ``LoadDepthImage``, ``DepthToPoints``, ``PointSample``, ``Voxelize``,
    ``ObjectWorkspaceCrop`` and ``WorkspaceCrop`` arguments override
    :data:`DEFAULT_INFER_SETTINGS`. Label loading, augmentation and packing transforms are
    not used at inference (there are no labels; the packing is always
    ``PackPointsInputs``).

    Args:
        cfg: a config (or None).

    Returns:
        tuple: the settings dict and a description of its source.
    """
    settings = copy.deepcopy(DEFAULT_INFER_SETTINGS)
    pipeline, source = None, _DEFAULT_SETTINGS_SOURCE
    if cfg:
        for key in ('test_dataloader', 'val_dataloader'):
            dl = cfg.get(key) or {}
            ds = dl.get('dataset') or {} if isinstance(dl, Mapping) else {}
            while isinstance(ds, Mapping) and 'dataset' in ds and 'pipeline' not in ds:
                ds = ds['dataset']  # dataset wrappers
            if isinstance(ds, Mapping) and ds.get('pipeline'):
                pipeline, source = ds['pipeline'], f'{key}.dataset.pipeline'
                break
        if pipeline is None and cfg.get('test_pipeline'):
            pipeline, source = cfg['test_pipeline'], 'test_pipeline'
    for t in _iter_transforms(pipeline):
        name = _type_name(t)
        if name == 'LoadDepthImage':
            for k in ('invalid_value', 'min_valid_ratio'):
                if k in t:
                    settings['load'][k] = t[k]
            if 'depth_scale' in t:
                settings['load']['depth_scale'] = t['depth_scale']
        elif name == 'DepthToPoints':
            lo, hi = settings['depth_range']
            settings['depth_range'] = (float(t.get('min_depth', lo)),
                                       float(t.get('max_depth', hi)))
        elif name == 'PointSample':
            settings['num_points'] = int(t.get('num_points', settings['num_points']))
            settings['replace_if_fewer'] = bool(t.get('replace_if_fewer', True))
        elif name == 'Voxelize':
            settings['voxel_size'] = float(t.get('voxel_size', settings['voxel_size']))
            settings['feat_mode'] = t.get('feat_mode', settings['feat_mode'])
        elif name == 'ObjectWorkspaceCrop':
            settings['object_crop_margin'] = float(t.get('margin', 0.02))
        elif name == 'WorkspaceCrop':
            settings['world_bounds'] = t.get('world_bounds')
    return settings, source


def _is_grasp_detector(model: torch.nn.Module) -> bool:
    """Whether ``model`` predicts grasp rows (GSNet or a model that says so with a
    ``predicts_grasps = True`` attribute)."""
    from graspcontrast_mm.models.detectors import GSNet
    return isinstance(model, GSNet) or bool(getattr(model, 'predicts_grasps', False))


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


# ----------------------------------------------------------------------------- inferencer
@INFERENCERS.register_module(name=['GraspInferencer', 'gsnet'])
class GraspInferencer(BaseInferencer):
    """6-DoF grasp detection on depth images, point clouds and GraspNet frames.

    Model: ``model`` is a config (path, :class:`Config` or dict with a ``model`` key) and
    ``weights`` a checkpoint; or ``model=None`` with a checkpoint that embeds its config
    (mmengine's runner stores it as ``meta['cfg']``; it is parsed as data by
    :func:`~graspcontrast_mm.engine.parse_config_text`, never executed, and a stored config
    that is not plain data is refused). The model must predict ``pred_grasps`` (GSNet).

    Preprocessing (per input; the values of the config's test pipeline, see
    :func:`pipeline_settings_from_cfg`): load depth (:class:`LoadDepthImage`) ->
    back-project with ``K`` (:class:`DepthToPoints`, depth range and workspace mask) ->
    workspace crop (GraspNet frames: :class:`ObjectWorkspaceCrop` from the label image,
    or :class:`WorkspaceCrop` when the config has one) -> :class:`PointSample` (20000
    points, numpy RNG seeded by ``seed``) -> :class:`Voxelize` (5 mm) ->
    :class:`PackPointsInputs`. Point clouds skip the first two steps but keep the same
    depth range (``min_depth <= z <= max_depth``); a cloud made by back-projecting a depth
    image therefore gives exactly the same model input as the image.

    Inputs (one or a list):

    - depth: an (H, W) array (float: metres unless ``depth_scale`` says otherwise;
      integer: ``depth_scale`` units per metre, default 1000 = millimetres), or a
      ``.png`` / ``.tif`` / ``.npy`` file; or ``dict(depth=..., intrinsics=K,
      depth_scale=..., mask=..., color=...)``. ``K`` (3x3 or fx, fy, cx, cy) and the
      optional workspace mask (bool (H, W) or image file) come from the dict or from the
      call's ``intrinsics`` / ``mask`` arguments.
    - point cloud: an (N, 3) array (camera frame, metres), a ``.npy`` / ``.ply`` /
      ``.pcd`` file, or ``dict(points=..., colors=...)``.
    - GraspNet frame: ``dict(data_root, scene_id, camera, frame_id)`` (official layout).

    Output of ``__call__``: ``{'predictions': [GraspGroup, ...], 'visualization':
    [uint8 (H, W, 3), ...] or None, 'summaries': [dict, ...]}``; one ``GraspGroup`` per
    input with (K, 17) rows in the input's camera frame, metres, sorted by score, after
    NMS (the model's ``test_cfg``), the optional collision filter, ``score_thr`` and
    ``top_k``. With ``return_datasamples=True`` the predictions are the data samples
    (``pred_grasps``, ``scene_points``, metainfo with timings).

    Args:
        model: config path / object, or None (config from the checkpoint).
        weights: checkpoint path (None: random weights, with a warning).
        device: torch device (default ``'cpu'``).
        scope: registry scope (default ``'graspcontrast_mm'``).
        show_progress: show a progress bar.
        num_points: override the number of sampled points.
        voxel_size: override the voxel size, metres.
        depth_range: override ``(min_depth, max_depth)``, metres.
        test_cfg: entries merged into the model's ``test_cfg`` (e.g. ``nms``,
            ``empty_if_no_graspable``, or ``collision_thresh=0.01`` for the GSNet
            reference's test-time collision detection, run by the model against the
            input's workspace cloud ``scene_points``; -1 = off, the default).
        collision_cfg: defaults of the Inferencer's own collision filter (a point-count
            test for robot use, applied after the model; :func:`check_grasp_collisions`
            arguments: ``voxel_size`` 0.01, ``approach_dist`` 0.05, ``collision_thresh``
            0, ``empty_thresh`` 0). ``iou_thresh`` (default None) switches to the
            tolerance of graspnetAPI / graspnet-baseline's ``ModelFreeCollisionDetector``:
            a grasp collides when the scene points (voxel down-sampled at ``voxel_size``)
            inside its fingers, palm and ``approach_dist`` approach path exceed
            ``iou_thresh`` times the gripper volume in voxels
            (:func:`~graspcontrast_mm.structures.gripper_collision.reference_collision_iou`;
            the reference demo: ``iou_thresh=0.01``, ``voxel_size=0.01``,
            ``approach_dist=0.05``, i.e. about one point allowed for a 5 cm wide grasp).
        support_plane_cfg: settings of the scene-aware option (the ``support_plane``
            call argument): Open3D ``segment_plane`` ``distance_threshold`` (0.005 m) and
            ``num_iterations`` (200), and ``min_height`` (0.005 m): grasps whose centre is
            not higher than this above the plane are dropped.
        strict: load the checkpoint strictly (default): a missing, unexpected or
            wrong-shape key, or a NaN / inf weight, is an error naming them
            (:func:`~graspcontrast_mm.engine.load_model_checkpoint`, the loader of
            ``tools/test.py`` too). ``False`` loads what fits and warns about the rest.

    Raises (at construction): ``CheckpointLoadError`` (unreadable file),
    ``UnsafeConfigError`` (``model=None`` and the checkpoint's stored config is missing or
    not plain data: stored configs are parsed, never executed), ``CheckpointMismatchError``
    / ``NonFiniteWeightsError`` (strict loading), ``TypeError`` (not a grasp detector, e.g.
    a pre-training checkpoint). Depth whose back-projection reaches farther than
    :attr:`max_workspace_distance` (implausible intrinsics) is a ``ValueError``.
    """

    #: Clock of the stage timings (wall time); ``time.process_time`` gives CPU time.
    clock = staticmethod(time.perf_counter)
    #: Farthest plausible input point from the camera, metres: back-projected depth (or a
    #: cloud) beyond it means wrong intrinsics (or units) and is an error.
    max_workspace_distance: float = 10.0

    preprocess_kwargs: set = {'intrinsics', 'depth_scale', 'mask', 'seed', 'support_plane'}
    forward_kwargs: set = {'top_k', 'score_thr', 'collision_filter'}
    visualize_kwargs: set = {'return_vis', 'img_out_dir', 'view', 'image_size',
                             'max_grasps_drawn'}
    postprocess_kwargs: set = {'pred_out_dir', 'print_result'}

    def __init__(self,
                 model: Union[str, Config, ConfigDict, dict, None] = None,
                 weights: Optional[str] = None,
                 device: Optional[str] = 'cpu',
                 scope: Optional[str] = SCOPE,
                 show_progress: bool = False,
                 *,
                 num_points: Optional[int] = None,
                 voxel_size: Optional[float] = None,
                 depth_range: Optional[Tuple[float, float]] = None,
                 test_cfg: Optional[dict] = None,
                 collision_cfg: Optional[dict] = None,
                 strict: bool = True,
                 support_plane_cfg: Optional[dict] = None) -> None:
        self._strict = bool(strict)
        self._overrides = dict(num_points=num_points, voxel_size=voxel_size,
                               depth_range=depth_range)
        self._test_cfg_overrides = dict(test_cfg or {})
        self.collision_cfg = dict(voxel_size=0.01, approach_dist=0.05, collision_thresh=0,
                                  empty_thresh=0, iou_thresh=None)
        unknown = set(collision_cfg or {}) - set(self.collision_cfg)
        if unknown:
            raise ValueError(f'unknown collision_cfg keys {sorted(unknown)}; expected '
                             f'{sorted(self.collision_cfg)}')
        self.collision_cfg.update(collision_cfg or {})
        self.support_plane_cfg = dict(distance_threshold=0.005, num_iterations=200,
                                      min_height=0.005)
        unknown = set(support_plane_cfg or {}) - set(self.support_plane_cfg)
        if unknown:
            raise ValueError(f'unknown support_plane_cfg keys {sorted(unknown)}; expected '
                             f'{sorted(self.support_plane_cfg)}')
        self.support_plane_cfg.update(support_plane_cfg or {})
        self._num_graspable: Optional[int] = None
        self._weights = weights
        self._timer: Dict[str, float] = {}
        self._num_inputs = 0
        import graspnetAPI  # noqa: F401  (imported here, not during the first call)
        if isinstance(model, (str, os.PathLike)) and not osp.isfile(os.fspath(model)):
            raise FileNotFoundError(f'config file not found: {model}')
        with DefaultScope.overwrite_default_scope(scope or SCOPE):
            super().__init__(model=os.fspath(model) if isinstance(model, os.PathLike)
                             else model, weights=weights, device=device or 'cpu',
                             scope=scope or SCOPE, show_progress=show_progress)

    # ------------------------------------------------------------------ model
    def _init_model(self, cfg: Union[Config, ConfigDict], weights: Optional[str],
                    device: str = 'cpu') -> torch.nn.Module:
        checkpoint = None
        if weights is not None:
            checkpoint = load_checkpoint_file(weights, map_location='cpu')
        if not cfg:
            if checkpoint is None:
                raise ValueError('GraspInferencer needs a config, or a checkpoint that '
                                 'embeds its config')
            # parsed as data, never executed (a checkpoint is untrusted input)
            stored = config_from_checkpoint(checkpoint, f'checkpoint {weights}')
            cfg.update(stored._cfg_dict)
        if 'model' not in cfg:
            raise KeyError('the config has no `model` entry')
        model_cfg = copy.deepcopy(cfg.model)
        model_cfg.pop('pretrained', None)
        model_cfg.pop('init_cfg', None)  # the checkpoint provides every weight
        if isinstance(model_cfg.get('backbone'), Mapping):
            model_cfg['backbone'].pop('init_cfg', None)
        with DefaultScope.overwrite_default_scope(SCOPE):
            model = MODELS.build(model_cfg)
        if not _is_grasp_detector(model):
            raise TypeError(
                f'the model of {"the checkpoint" if weights else "the config"} is a '
                f'{type(model).__name__}, not a grasp detector (GSNet): '
                'a pre-training checkpoint cannot predict grasps; use a fine-tuned GSNet '
                'checkpoint (and its config)')
        if self._test_cfg_overrides:
            if not isinstance(getattr(model, 'test_cfg', None), dict):
                raise ValueError('test_cfg overrides given but the model has no test_cfg')
            unknown = set(self._test_cfg_overrides) - set(model.test_cfg)
            if unknown:
                raise ValueError(f'unknown test_cfg keys {sorted(unknown)}; the model has '
                                 f'{sorted(model.test_cfg)}')
            model.test_cfg.update(self._test_cfg_overrides)
        model.cfg = cfg
        if checkpoint is not None:
            # the loader of tools/test.py and the robot's model source: strict keys,
            # shapes and finite values unless strict=False
            load_model_checkpoint(model, checkpoint, strict=self._strict,
                                  source=f'checkpoint {weights}')
        else:
            warnings.warn('GraspInferencer: no checkpoint given, the model has random '
                          'weights')
        model.to(device)
        model.eval()
        backbone = getattr(model, 'backbone', None)
        if isinstance(backbone, torch.nn.Module):
            backbone.register_forward_pre_hook(self._backbone_start)
            backbone.register_forward_hook(self._backbone_end)
        head = getattr(model, 'graspable_head', None)
        if isinstance(head, torch.nn.Module) and hasattr(model, 'graspness_threshold'):
            head.register_forward_hook(self._graspable_end)
        return model

    def _backbone_start(self, module, args) -> None:
        self._timer['backbone_start'] = self.clock()

    def _backbone_end(self, module, args, output) -> None:
        self._timer['backbone'] = self.clock() - self._timer.pop(
            'backbone_start', self.clock())

    def _graspable_end(self, module, args, output) -> None:
        """Points passing GSNet's graspness gate (objectness and graspness > threshold)
        in the last model call (all samples of the batch together)."""
        try:
            obj, graspness = output[0], output[1]
            mask = (obj.argmax(dim=1) == 1) & (graspness.reshape(-1) >
                                                 float(self.model.graspness_threshold))
            self._num_graspable = int(mask.sum())
        except (TypeError, IndexError, AttributeError, RuntimeError):
            self._num_graspable = None

    def _init_visualizer(self, cfg) -> None:
        return None  # pictures use the function API of graspcontrast_mm.visualization

    def _init_collate(self, cfg) -> Any:
        return lambda batch: dict(inputs=[b['inputs'] for b in batch],
                                  data_samples=[b['data_samples'] for b in batch])

    # ------------------------------------------------------------------ pipeline
    def _init_pipeline(self, cfg) -> Any:
        settings, source = pipeline_settings_from_cfg(cfg)
        if self._overrides['num_points'] is not None:
            settings['num_points'] = int(self._overrides['num_points'])
        if self._overrides['voxel_size'] is not None:
            settings['voxel_size'] = float(self._overrides['voxel_size'])
        if self._overrides['depth_range'] is not None:
            settings['depth_range'] = tuple(float(v) for v in self._overrides['depth_range'])
        backbone_in = getattr(getattr(self.model, 'backbone', None), 'in_channels', None)
        if source == _DEFAULT_SETTINGS_SOURCE and backbone_in == 3:
            settings['feat_mode'] = 'ones3'  # GSNet's input: 3 channels of ones
        channels = _FEAT_CHANNELS.get(settings['feat_mode'])
        if channels is not None and backbone_in is not None and channels != backbone_in:
            raise ValueError(f"Voxelize(feat_mode={settings['feat_mode']!r}) gives {channels} "
                             f'feature channels but the backbone expects {backbone_in}')
        self.settings = settings
        self.settings_source = source
        lo, hi = settings['depth_range']
        load_kw = dict(settings['load'])
        self._load = LoadDepthImage(depth_scale=float(load_kw.pop('depth_scale', 1000.0)),
                                    on_invalid='raise', **load_kw)
        self._to_points = DepthToPoints(min_depth=lo, max_depth=hi, with_pixel_uv=True,
                                        keep_depth=False)
        self._object_crop = ObjectWorkspaceCrop(margin=settings['object_crop_margin'])
        self._world_crop = (WorkspaceCrop(world_bounds=settings['world_bounds'])
                            if settings['world_bounds'] is not None else None)
        self._sample = PointSample(num_points=settings['num_points'],
                                   replace_if_fewer=settings['replace_if_fewer'])
        self._voxelize = Voxelize(voxel_size=settings['voxel_size'],
                                  feat_mode=settings['feat_mode'])
        self._pack = PackPointsInputs()
        return self._run_pipeline

    def preprocess(self, inputs: list, batch_size: int = 1, intrinsics: Any = None,
                   depth_scale: Optional[float] = None, mask: Any = None,
                   seed: Optional[int] = 0, support_plane: bool = False,
                   **kwargs) -> Iterator[dict]:
        """Normalise, load and pack the inputs; yields batches for :meth:`forward`.

        Args:
            inputs: list of inputs (see the class docstring).
            batch_size: frames per model call.
            intrinsics: default ``K`` of depth inputs (3x3, fx fy cx cy, or a file).
            depth_scale: default depth units per metre of depth inputs.
            mask: default workspace mask of depth inputs.
            seed: seed of the point sampling of every input (None: numpy's global RNG).
            support_plane: scene-aware inference for depth inputs: fit the support plane
                (Open3D ``segment_plane`` on the whole depth image, mask ignored, see
                ``support_plane_cfg``) and drop the grasps whose centre lies on or below
                it (counted as ``num_below_support_plane``). Off by default: AP
                evaluation must see the detector's own output. Other inputs ignore it.
        """
        defaults = dict(intrinsics=intrinsics, depth_scale=depth_scale, mask=mask,
                        seed=seed, support_plane=bool(support_plane))
        start = self._num_inputs
        self._num_inputs += len(inputs)
        items = (self._normalize(item, start + i, defaults) for i, item in enumerate(inputs))
        for chunk in self._get_chunk_data(map(self.pipeline, items), batch_size):
            yield self.collate_fn(chunk)

    def _normalize(self, item: Any, index: int, defaults: dict) -> dict:
        """One input -> a dict with ``kind`` in {'depth', 'points', 'graspnet'}."""
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
                if arr.ndim == 2 and arr.shape[1] in (3, 6):
                    item = dict(points=arr, name=stem, source=path)
                else:
                    item = dict(depth=arr, name=stem, source=path)
            elif ext in _DEPTH_EXTS:
                item = dict(depth=path, name=stem)
            else:
                raise ValueError(f'{where}: cannot tell the kind of {path} (depth images: '
                                 f'{_DEPTH_EXTS} or .npy; point clouds: {_CLOUD_EXTS} or '
                                 '.npy)')
        elif isinstance(item, (np.ndarray, torch.Tensor)):
            arr = item.detach().cpu().numpy() if isinstance(item, torch.Tensor) else item
            if arr.ndim == 2 and arr.shape[1] in (3, 6):
                item = dict(points=arr)
            elif arr.ndim == 2:
                item = dict(depth=arr)
            else:
                raise ValueError(f'{where}: an array input must be a depth image (H, W) or a '
                                 f'point cloud (N, 3), got shape {arr.shape}')
        if not isinstance(item, Mapping):
            raise TypeError(f'{where}: unsupported input type {type(item).__name__}; give a '
                            'depth image, a point cloud, a GraspNet frame dict or a path')
        item = dict(item)
        item['index'] = index
        item.setdefault('seed', defaults['seed'])
        item.setdefault('support_plane', defaults.get('support_plane', False))
        if 'data_root' in item:
            missing = [k for k in ('data_root', 'scene_id', 'frame_id') if k not in item]
            if missing:
                raise KeyError(f'{where}: a GraspNet frame needs {missing} (keys '
                               f'{_GRASPNET_KEYS})')
            item['kind'] = 'graspnet'
            item.setdefault('camera', 'realsense')
            item.setdefault('name', f"scene_{int(item['scene_id']):04d}_{item['camera']}_"
                                    f"{int(item['frame_id']):04d}")
        elif 'depth' in item:
            item['kind'] = 'depth'
            K = item.get('intrinsics', item.get('K', defaults['intrinsics']))
            if K is None:
                raise ValueError(f'{where}: a depth image needs camera intrinsics K (3x3 or '
                                 'fx, fy, cx, cy): pass intrinsics=...')
            try:
                item['K'] = read_intrinsics(K)
            except ValueError as err:
                raise ValueError(f'{where}: {err}') from None
            if item.get('depth_scale') is None:
                item['depth_scale'] = defaults['depth_scale']
            if item.get('mask') is None:
                item['mask'] = defaults['mask']
        elif 'points' in item:
            item['kind'] = 'points'
            K = item.get('intrinsics', item.get('K'))
            item['K'] = None if K is None else read_intrinsics(K)
        else:
            raise KeyError(f"{where}: a dict input needs 'depth', 'points' or 'data_root' "
                           f'(GraspNet frame), got keys {sorted(item)}')
        item.setdefault('name', None)
        return item

    # per-kind loaders: each returns a view dict with camera-frame `points`
    def _load_depth(self, item: dict, where: str) -> Tuple[dict, dict]:
        depth = item['depth']
        desc: Dict[str, Any] = dict(kind='depth')
        if isinstance(depth, (str, os.PathLike)):
            path = os.fspath(depth)
            if not osp.isfile(path):
                raise FileNotFoundError(f'{where}: depth image not found: {path}')
            raw = read_depth_image(path)
            desc['depth_path'] = path
            item.setdefault('name', osp.splitext(osp.basename(path))[0])
        else:
            raw = np.asarray(depth.detach().cpu().numpy() if isinstance(depth, torch.Tensor)
                             else depth)
            if raw.ndim != 2:
                raise ValueError(f'{where}: a depth image must have shape (H, W), got '
                                 f'{raw.shape}')
            if item.get('source'):
                desc['depth_path'] = item['source']
        if not (np.issubdtype(raw.dtype, np.number) or raw.dtype == bool):
            raise ValueError(f'{where}: depth must be numeric, got dtype {raw.dtype}')
        scale = item.get('depth_scale')
        if scale is None:
            scale = 1.0 if np.issubdtype(raw.dtype, np.floating) else 1000.0
        scale = float(scale)
        if not scale > 0:
            raise ValueError(f'{where}: depth_scale must be positive, got {scale}')
        desc.update(shape=list(raw.shape), dtype=str(raw.dtype), depth_scale=scale)
        results = dict(depth_raw=raw, depth_scale=scale, cam_intrinsic=item['K'])
        if item.get('mask') is not None:
            results['depth_mask'] = read_mask(item['mask'], raw.shape)
            desc['mask'] = (os.fspath(item['mask']) if isinstance(
                item['mask'], (str, os.PathLike)) else 'array')
            desc['mask_pixels'] = int(results['depth_mask'].sum())
        try:
            results = self._load(results)
        except ValueError as err:
            raise ValueError(f'{where}: {err}') from None
        results = self._back_project(results, where)
        if item.get('color') is not None:
            results['point_colors'] = self._colors_at(item['color'], raw.shape,
                                                      results['pixel_uv'], where)
        return results, desc

    def _back_project(self, results: dict, where: str) -> dict:
        depth = results['depth']
        out = self._to_points(results)
        if out is None:
            valid = depth[depth > 0]
            hint = ''
            if valid.size:
                med = float(np.median(valid))
                hint = f'; the median valid depth is {med:.3f} m'
                if med > 10 * self._to_points.max_depth:
                    hint += ' (millimetres given as metres? check depth_scale)'
            mask = results.get('depth_mask')
            masked = '' if mask is None else f' inside the workspace mask ({int(mask.sum())} ' \
                                             'pixels)'
            raise ValueError(f'{where}: no depth within [{self._to_points.min_depth}, '
                             f'{self._to_points.max_depth}] m{masked}: empty point cloud'
                             f'{hint}')
        far = self._farthest(out['points'])
        if far > self.max_workspace_distance:
            K = np.asarray(results['cam_intrinsic'], np.float64)
            h, w = depth.shape[:2]
            raise ValueError(
                f'{where}: implausible intrinsics: the back-projected points reach '
                f'{far:.1f} m from the camera (more than {self.max_workspace_distance:g} m) '
                f'with fx={K[0, 0]:g}, fy={K[1, 1]:g}, cx={K[0, 2]:g}, cy={K[1, 2]:g} px '
                f'on a {w}x{h} depth image. K must be in pixels of this image: a camera '
                f'with a 60-90 degree field of view has fx of about {0.55 * w:.0f}-'
                f'{0.87 * w:.0f} px at width {w} (scale K with the image size)')
        return out

    @staticmethod
    def _farthest(points: np.ndarray) -> float:
        """Largest distance of a point from the camera, metres."""
        pts = np.asarray(points, np.float64).reshape(-1, 3)
        return float(np.sqrt((pts * pts).sum(axis=1)).max()) if len(pts) else 0.0

    @staticmethod
    def _colors_at(color: Any, shape: Tuple[int, int], uv: np.ndarray,
                   where: str) -> np.ndarray:
        if isinstance(color, (str, os.PathLike)):
            import cv2
            path = os.fspath(color)
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is None:
                raise FileNotFoundError(f'{where}: colour image not found or unreadable: '
                                        f'{path}')
            color = img[:, :, ::-1]
        color = np.asarray(color)
        if color.ndim == 3 and color.shape[2] == 1:
            color = color[:, :, 0]
        if color.ndim == 2:  # grayscale: the same value in R, G and B
            color = np.repeat(color[:, :, None], 3, axis=2)
        if color.ndim != 3 or color.shape[2] not in (3, 4):
            raise ValueError(f'{where}: a colour image must have shape (H, W, 3) (or be '
                             f'grayscale (H, W)), got {color.shape}')
        if color.shape[:2] != tuple(shape):
            raise ValueError(f'{where}: colour image size {color.shape[:2]} (H, W) does not '
                             f'match the depth image {tuple(shape)}')
        if np.issubdtype(color.dtype, np.floating):
            color = np.clip(color * (255.0 if color.max(initial=0) <= 1 else 1.0), 0, 255)
        return color[uv[:, 1], uv[:, 0], :3].astype(np.uint8)

    def _load_points(self, item: dict, where: str) -> Tuple[dict, dict]:
        try:
            pts, colors = read_point_cloud(item['points'])
        except ValueError as err:
            raise ValueError(f'{where}: {err}') from None
        if item.get('colors') is not None:
            colors = np.asarray(item['colors'])
            if colors.shape != pts.shape:
                raise ValueError(f'{where}: colors {colors.shape} do not match points '
                                 f'{pts.shape}')
        desc: Dict[str, Any] = dict(kind='points', num_points=int(pts.shape[0]))
        src = item.get('source') or item['points']
        if isinstance(src, (str, os.PathLike)):
            desc['path'] = os.fspath(src)
        if pts.shape[0] == 0:
            raise ValueError(f'{where}: the point cloud is empty')
        lo, hi = self._to_points.min_depth, self._to_points.max_depth
        keep = np.isfinite(pts).all(axis=1) & (pts[:, 2] > 0) & (pts[:, 2] >= lo) & (
            pts[:, 2] <= hi)
        if not keep.any():
            finite = pts[np.isfinite(pts).all(axis=1)]
            hint = (f'; the median z is {float(np.median(finite[:, 2])):.3f} m' if len(finite)
                    else '; every point is NaN / inf')
            raise ValueError(f'{where}: no point with z within [{lo}, {hi}] m (camera frame, '
                             f'metres): empty point cloud{hint}')
        far = self._farthest(pts[keep])
        if far > self.max_workspace_distance:
            raise ValueError(f'{where}: implausible point cloud: points reach {far:.1f} m '
                             f'from the camera (more than {self.max_workspace_distance:g} m); '
                             'give camera-frame points in metres (millimetres / 1000)')
        results = dict(points=pts[keep].astype(np.float32), aug_mat=np.eye(4))
        if colors is not None:
            colors = np.asarray(colors)
            if np.issubdtype(colors.dtype, np.floating):
                colors = np.clip(colors * (255.0 if colors.max(initial=0) <= 1 else 1.0),
                                 0, 255)
            results['point_colors'] = colors[keep].astype(np.uint8)
        if item.get('K') is not None:
            results['cam_intrinsic'] = item['K']
        return results, desc

    def _load_graspnet(self, item: dict, where: str) -> Tuple[dict, dict]:
        from graspcontrast_mm.datasets import GraspNetDataset
        root = os.fspath(item['data_root'])
        if not osp.isdir(root):
            raise FileNotFoundError(f'{where}: GraspNet data_root not found: {root}')
        ds = GraspNetDataset(data_root=root, camera=item['camera'],
                             scene_ids=[int(item['scene_id'])],
                             frame_ids=[int(item['frame_id'])], mode='single',
                             skip_missing_scenes=False, pipeline=[], serialize_data=False)
        results = ds.get_data_info(0)
        desc = dict(kind='graspnet', data_root=root, scene_id=int(item['scene_id']),
                    camera=item['camera'], frame_id=int(item['frame_id']),
                    depth_path=results['depth_path'])
        try:
            results = self._load(results)
        except ValueError as err:
            raise ValueError(f'{where}: {err}') from None
        shape = results['depth'].shape
        results = self._back_project(results, where)
        workspace = 'none'
        if osp.isfile(results['label_path']):
            seg = read_label_image(results['label_path'])
            if seg.shape != tuple(shape):
                raise ValueError(f"{where}: label image {results['label_path']} has shape "
                                 f'{seg.shape}, depth {tuple(shape)}')
            uv = results['pixel_uv']
            results['pts_instance_mask'] = seg[uv[:, 1], uv[:, 0]].astype(np.int64)
            out = self._object_crop(results)
            if out is None:
                raise ValueError(f"{where}: no object points in {results['label_path']}: "
                                 'empty object workspace')
            results = out
            workspace = f'objects + {self._object_crop.margin} m (label image)'
        elif self._world_crop is not None:
            out = self._world_crop(results)
            if out is None:
                raise ValueError(f'{where}: no point inside the world workspace '
                                 f'{self._world_crop.world_bounds.tolist()}')
            results = out
            workspace = f'world box {self._world_crop.world_bounds.tolist()}'
        desc['workspace'] = workspace
        if osp.isfile(results['rgb_path']):
            results['point_colors'] = self._colors_at(results['rgb_path'], shape,
                                                      results['pixel_uv'], where)
        return results, desc

    def _run_pipeline(self, item: dict) -> dict:
        """The inference pipeline of one normalised input."""
        where = f"input {item['index']}"
        t0 = self.clock()
        kind = item['kind']
        if kind == 'depth':
            results, desc = self._load_depth(item, where)
        elif kind == 'points':
            results, desc = self._load_points(item, where)
        else:
            results, desc = self._load_graspnet(item, where)
        scene_points = np.asarray(results['points'], np.float32).copy()
        scene_colors = results.get('point_colors')
        with _seeded_numpy(item.get('seed')):
            results = self._sample(results)
        if results is None:
            raise ValueError(f'{where}: empty point cloud after cropping')
        results = self._voxelize(results)
        packed = self._pack(results)
        ds = packed['data_samples']
        name = item.get('name') or f"input_{item['index']:04d}"
        ds.scene_points = scene_points
        if scene_colors is not None:
            ds.scene_colors = np.asarray(scene_colors, np.uint8)
        K = results.get('cam_intrinsic')
        if kind == 'depth' and item.get('support_plane'):
            ds.set_metainfo(dict(support_plane=self._fit_support_plane(item)))
        ds.set_metainfo(dict(
            input_index=int(item['index']), input_name=str(name), input_desc=desc,
            num_scene_points=int(scene_points.shape[0]),
            num_sampled_points=int(len(results['points'])),
            num_voxels=int(len(results['coords'])),
            intrinsics=None if K is None else np.asarray(K, np.float64).tolist(),
            timings={'preprocess': self.clock() - t0}))
        return packed

    def _fit_support_plane(self, item: dict) -> Optional[list]:
        """Support plane ``[a, b, c, d]`` of a depth input (camera frame, unit normal
        towards the camera: a point's height above the plane is ``n . p + d``), fitted by
        Open3D ``segment_plane`` on every valid pixel (every second row and column; the
        workspace mask is ignored so that the table around the objects is seen); None
        when the image has fewer than 100 valid pixels."""
        import open3d as o3d
        from graspcontrast_mm.structures.frames import depth_to_points
        depth = item['depth']
        if isinstance(depth, (str, os.PathLike)):
            depth = read_depth_image(os.fspath(depth))
        raw = np.asarray(depth.detach().cpu().numpy() if isinstance(depth, torch.Tensor)
                         else depth)
        scale = item.get('depth_scale')
        if scale is None:
            scale = 1.0 if np.issubdtype(raw.dtype, np.floating) else 1000.0
        metres = raw.astype(np.float64) / float(scale)
        lo, hi = self._to_points.min_depth, self._to_points.max_depth
        metres = np.where(np.isfinite(metres) & (metres >= lo) & (metres <= hi), metres, 0.0)
        K = np.asarray(item['K'], np.float64).copy()
        K[:2] /= 2.0  # intrinsics of the [::2, ::2] image (pixel i -> 2 i)
        pts, _ = depth_to_points(metres[::2, ::2], K)
        if len(pts) < 100:
            return None
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(
            np.ascontiguousarray(pts, np.float64)))
        cfg = self.support_plane_cfg
        o3d.utility.random.seed(0)  # deterministic RANSAC
        plane, _ = cloud.segment_plane(float(cfg['distance_threshold']), 3,
                                       int(cfg['num_iterations']))
        plane = np.asarray(plane, np.float64)
        plane /= max(np.linalg.norm(plane[:3]), 1e-12)
        if plane[3] < 0:  # the camera (origin) above the plane
            plane = -plane
        return [float(v) for v in plane]

    # ------------------------------------------------------------------ forward
    @torch.no_grad()
    def forward(self, inputs: dict, top_k: Optional[int] = None,
                score_thr: Optional[float] = None,
                collision_filter: bool = True, **kwargs) -> list:
        """Model forward, then NMS, collision filter, score threshold and top-k.

        Args:
            inputs: a collated batch from :meth:`preprocess`.
            top_k: keep the best ``top_k`` grasps per input (None: all).
            score_thr: drop grasps with a lower score (None: keep all).
            collision_filter: drop grasps whose gripper model collides with the scene
                (:func:`check_grasp_collisions` with ``collision_cfg``).

        Returns:
            list: data samples with ``pred_grasps`` float32 (K, 17), camera frame.
        """
        from graspcontrast_mm.models.heads.gsnet_decode import postprocess_grasps
        if top_k is not None and int(top_k) < 1:
            raise ValueError(f'top_k must be >= 1 or None, got {top_k}')
        test_cfg = getattr(self.model, 'test_cfg', None)
        split_nms = isinstance(test_cfg, dict) and 'nms' in test_cfg
        saved = dict(test_cfg) if split_nms else None
        if split_nms:  # NMS / threshold / max_num run below, timed apart from the model
            test_cfg.update(nms=False, score_thr=None, max_num=None)
        self._timer.pop('backbone', None)
        self._num_graspable = None
        t0 = self.clock()
        try:
            preds = self.model.test_step(inputs)
        finally:
            if split_nms:
                test_cfg.clear()
                test_cfg.update(saved)
        t_model = self.clock() - t0
        t_backbone = self._timer.pop('backbone', float('nan'))
        n = max(len(preds), 1)
        for ds in preds:
            if not hasattr(ds, 'pred_grasps'):
                raise TypeError(f'{type(self.model).__name__} returned no pred_grasps; the '
                                'config must describe a grasp detector (GSNet)')
            t1 = self.clock()
            grasps = np.asarray(ds.pred_grasps, np.float32).reshape(-1, GRASP_ARRAY_LEN)
            grasps = grasps[np.isfinite(grasps).all(axis=1)]
            num_model = grasps.shape[0]
            if split_nms:
                grasps = postprocess_grasps(
                    grasps, nms=saved['nms'], translation_thresh=saved['nms_translation_thresh'],
                    rotation_thresh=math.radians(saved['nms_rotation_thresh_deg']),
                    score_thr=saved['score_thr'], max_num=saved['max_num'])
            t2 = self.clock()
            num_nms = grasps.shape[0]
            num_coll = 0
            if collision_filter and grasps.shape[0]:
                bad = self._collisions(grasps, ds.scene_points)
                num_coll = int(bad.sum())
                grasps = grasps[~bad]
            t3 = self.clock()
            plane = ds.metainfo.get('support_plane')
            num_below = None
            if plane is not None:
                normal, offset = np.asarray(plane[:3], np.float64), float(plane[3])
                below = grasps[:, 13:16].astype(np.float64) @ normal + offset <= float(
                    self.support_plane_cfg['min_height'])
                num_below = int(below.sum())
                grasps = grasps[~below]
            if score_thr is not None:
                grasps = grasps[grasps[:, 0] >= float(score_thr)]
            order = np.argsort(-grasps[:, 0], kind='stable')
            grasps = grasps[order]
            if top_k is not None:
                grasps = grasps[:int(top_k)]
            ds.pred_grasps = np.ascontiguousarray(grasps, dtype=np.float32)
            timings = dict(ds.metainfo.get('timings', {}))
            timings.update(model=t_model / n, backbone=t_backbone / n,
                           heads=(t_model - t_backbone) / n, nms=t2 - t1,
                           collision_filter=t3 - t2,
                           postprocess=self.clock() - t1)
            ds.set_metainfo(dict(num_graspable=(self._num_graspable if len(preds) == 1
                                                else None),
                                 num_below_support_plane=num_below))
            ds.set_metainfo(dict(timings=timings, num_grasps_model=int(num_model),
                                 num_grasps_nms=int(num_nms), num_collisions=num_coll,
                                 collision_filter=bool(collision_filter),
                                 top_k=top_k, score_thr=score_thr))
            if grasps.shape[0] == 0:
                below = ('' if num_below is None else
                         f', {num_below} on or below the support plane')
                print_log(f"GraspInferencer: no grasp left for {ds.metainfo['input_name']} "
                          f'({num_model} from the model, {num_nms} after NMS, {num_coll} '
                          f'in collision{below})', logger='current', level=30)
        return preds

    def _collisions(self, grasps: np.ndarray, scene_points: np.ndarray) -> np.ndarray:
        """bool (K,) grasps rejected by the collision filter (``collision_cfg``)."""
        cfg = dict(self.collision_cfg)
        iou_thresh = cfg.pop('iou_thresh', None)
        if iou_thresh is None:
            res = check_grasp_collisions(grasps, scene_points, **cfg)
            return res.collision | res.empty
        iou = reference_collision_iou(grasps, scene_points, voxel_size=float(cfg['voxel_size']),
                                      approach_dist=float(cfg['approach_dist']))
        bad = iou > float(iou_thresh)
        if cfg['empty_thresh'] > 0:
            bad |= check_grasp_collisions(grasps, scene_points, **cfg).empty
        return bad

    # ------------------------------------------------------------------ outputs
    def visualize(self, inputs: list, preds: list, return_vis: bool = False,
                  img_out_dir: str = '', view: str = 'camera',
                  image_size: Optional[Tuple[int, int]] = None,
                  max_grasps_drawn: Optional[int] = 50, **kwargs) -> Optional[list]:
        """Pictures of the grasps (blue = low score, red = high).

        Args:
            inputs: the original inputs (unused; the data samples hold the scene).
            preds: data samples from :meth:`forward`.
            return_vis: return the pictures.
            img_out_dir: write ``img_out_dir/NAME.png`` when given.
            view: ``'camera'`` (the sensor's viewpoint; needs ``K``, else a virtual camera
                at the sensor) or ``'oblique'``.
            image_size: ``(W, H)``; default: the depth image's size for the camera view.
            max_grasps_drawn: draw the best this many grasps.

        Returns:
            list or None: uint8 (H, W, 3) RGB pictures when ``return_vis``.
        """
        if not return_vis and not img_out_dir:
            return None
        out = []
        for ds in preds:
            t0 = self.clock()
            meta = ds.metainfo
            K = meta.get('intrinsics')
            K_size = None
            if K is not None and meta.get('depth_shape') is not None:
                h, w = meta['depth_shape'][:2]
                K_size = (int(w), int(h))
            size = image_size
            if size is None and K is not None and view == 'camera' and K_size is not None:
                scale = min(1.0, 960.0 / max(K_size))
                size = (int(round(K_size[0] * scale)), int(round(K_size[1] * scale)))
            image = render_grasps(ds.scene_points, getattr(ds, 'scene_colors', None),
                                  ds.pred_grasps, K=K, image_size=size, view=view,
                                  K_image_size=K_size, max_grasps=max_grasps_drawn)
            files = {}
            if img_out_dir:
                path = osp.join(img_out_dir, f"{meta['input_name']}.png")
                write_image(path, image)
                files['picture'] = path
            timings = dict(meta.get('timings', {}))
            timings['picture'] = self.clock() - t0
            ds.set_metainfo(dict(timings=timings,
                                 files={**meta.get('files', {}), **files}))
            out.append(image)
        return out if return_vis else None

    def postprocess(self, preds: list, visualization: Optional[list] = None,
                    return_datasample: bool = False, pred_out_dir: str = '',
                    print_result: bool = False, **kwargs) -> dict:
        """GraspGroups, summaries and files.

        Args:
            preds: data samples from :meth:`forward`.
            visualization: pictures from :meth:`visualize`.
            return_datasample: return the data samples instead of GraspGroups.
            pred_out_dir: write ``NAME.npy`` (grasp rows, atomic) and ``NAME.json``
                (summary) there when given.
            print_result: print the best grasps of every input.

        Returns:
            dict: ``predictions``, ``visualization``, ``summaries``.
        """
        from graspnetAPI import GraspGroup
        groups, summaries = [], []
        for ds in preds:
            meta = ds.metainfo
            grasps = np.asarray(ds.pred_grasps, np.float32).reshape(-1, GRASP_ARRAY_LEN)
            files = dict(meta.get('files', {}))
            name = meta['input_name']
            if pred_out_dir:
                files['grasps'] = save_grasps_npy(osp.join(pred_out_dir, f'{name}.npy'),
                                                  grasps)
                files['summary'] = osp.join(pred_out_dir, f'{name}.json')
            summary = self._summary(ds, grasps, files)
            if pred_out_dir:
                _write_json(files['summary'], summary)
            if print_result:
                print(self.format_grasps(grasps, title=f'{name}: {grasps.shape[0]} grasps'))
            groups.append(GraspGroup(grasps.astype(np.float64)))
            summaries.append(summary)
        return dict(predictions=list(preds) if return_datasample else groups,
                    visualization=visualization, summaries=summaries)

    def _summary(self, ds, grasps: np.ndarray, files: dict) -> dict:
        meta = ds.metainfo
        top = grasps[:10]
        return dict(
            input=meta.get('input_desc', {}), name=meta['input_name'],
            frame='camera', units='metres',
            num_grasps=int(grasps.shape[0]),
            top_scores=[round(float(s), 6) for s in top[:, 0]],
            top_grasps=[dict(score=float(g[0]), width=float(g[1]), depth=float(g[3]),
                             translation=[float(v) for v in g[13:16]],
                             approach=[float(g[4]), float(g[7]), float(g[10])])
                        for g in top[:5]],
            num_scene_points=meta.get('num_scene_points'),
            num_sampled_points=meta.get('num_sampled_points'),
            num_voxels=meta.get('num_voxels'),
            num_grasps_model=meta.get('num_grasps_model'),
            num_grasps_nms=meta.get('num_grasps_nms'),
            num_collisions=meta.get('num_collisions'),
            num_graspable=meta.get('num_graspable'),
            num_below_support_plane=meta.get('num_below_support_plane'),
            support_plane=meta.get('support_plane'),
            collision_filter=meta.get('collision_filter'),
            top_k=meta.get('top_k'), score_thr=meta.get('score_thr'),
            timings_s={k: round(float(v), 6) for k, v in meta.get('timings', {}).items()},
            preprocessing=dict(source=self.settings_source,
                               num_points=self.settings['num_points'],
                               voxel_size=self.settings['voxel_size'],
                               depth_range=list(self.settings['depth_range'])),
            checkpoint=self._weights, files=files)

    @staticmethod
    def format_grasps(grasps: np.ndarray, title: str = '', max_rows: int = 10) -> str:
        """A text table of the best grasps (score, width, depth, translation, approach)."""
        grasps = np.asarray(grasps).reshape(-1, GRASP_ARRAY_LEN)
        lines = [title] if title else []
        lines.append(f"{'#':>3} {'score':>7} {'width':>6} {'depth':>6} "
                     f"{'x':>7} {'y':>7} {'z':>7}   approach (camera frame)")
        for i, g in enumerate(grasps[:max_rows]):
            lines.append(f'{i:>3} {g[0]:7.3f} {g[1]:6.3f} {g[3]:6.3f} {g[13]:7.3f} '
                         f'{g[14]:7.3f} {g[15]:7.3f}   ({g[4]:+.2f}, {g[7]:+.2f}, '
                         f'{g[10]:+.2f})')
        return '\n'.join(lines)

    # ------------------------------------------------------------------ call
    def __call__(self, inputs: Any, return_datasamples: bool = False, batch_size: int = 1,
                 out_dir: str = '', **kwargs) -> dict:
        """Detect grasps.

        Args:
            inputs: one input or a list (see the class docstring).
            return_datasamples: return data samples instead of GraspGroups.
            batch_size: frames per model call.
            out_dir: when given, write ``out_dir/preds/NAME.npy`` (grasp rows),
                ``out_dir/preds/NAME.json`` (summary: counts, top scores, timings, input)
                and ``out_dir/vis/NAME.png`` (picture).
            **kwargs: ``intrinsics``, ``depth_scale``, ``mask``, ``seed`` (inputs);
                ``top_k``, ``score_thr``, ``collision_filter`` (grasp selection);
                ``return_vis``, ``view``, ``image_size``, ``max_grasps_drawn``
                (pictures); ``print_result``.

        Returns:
            dict: ``predictions`` (list of ``GraspGroup``), ``visualization``,
            ``summaries``.
        """
        if out_dir:
            kwargs.setdefault('img_out_dir', osp.join(out_dir, 'vis'))
            kwargs.setdefault('pred_out_dir', osp.join(out_dir, 'preds'))
        if isinstance(inputs, (list, tuple)) and len(inputs) == 0:
            raise ValueError('GraspInferencer got an empty list of inputs')
        return super().__call__(inputs, return_datasamples=return_datasamples,
                                batch_size=batch_size, **kwargs)

    def _inputs_to_list(self, inputs: Any) -> list:
        if isinstance(inputs, (list, tuple)):
            return list(inputs)
        return [inputs]
