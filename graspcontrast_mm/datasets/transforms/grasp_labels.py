"""Grasp labels of one GraspNet frame for GSNet training (``GraspNetDataset(mode='grasp')``).

Pipeline (see ``docs/data_flow.md``)::

    LoadDepthImage -> DepthToPoints(with_pixel_uv=True) -> LoadGraspLabels
    -> ObjectWorkspaceCrop -> PointSample(20000) -> [RandomFlipRotate] -> Voxelize
    -> PackGraspInputs

Unlabelled frames (pre-training, testing) get only the segmentation
(:class:`LoadPointSegmentation`) before :class:`ObjectWorkspaceCrop`.

Frames and units: points, poses and grasp points in metres; ``points`` in the (augmented)
camera frame, object poses ``T_cam_obj`` from ``meta/NNNN.mat`` (camera frame of the frame),
grasp points in each object's frame.

Per-point labels written by :class:`LoadGraspLabels` (aligned with ``points``, listed in
:data:`~graspcontrast_mm.datasets.transforms.PER_POINT_KEYS`, so cropping and sampling keep
them in step):

- ``pts_instance_mask`` int64 (N,): the label image value of the point's pixel,
  ``obj_id + 1``, 0 = table / background (segmentation ids);
- ``objectness_label`` int64 (N,): 1 where ``pts_instance_mask > 0``, else 0;
- ``graspness_label`` float32 (N,) in [0, 1]: GSNet's point graspness (0 on background).

Per-object labels (one entry per object of ``meta/NNNN.mat``, in its order):
``object_ids`` int64 (K,), ``object_poses`` float64 (K, 4, 4) ``T_cam_obj``,
``grasp_points`` K float32 (Np_k, 3) object frame, ``grasp_widths`` K float32
(Np_k, 300, 12, 4) metres, ``grasp_scores`` K float32 (Np_k, 300, 12, 4): the friction
coefficient ``mu`` of a valid grasp without scene collision, 0 otherwise (the contract of
:func:`graspcontrast_mm.models.heads.gsnet_labels.grasp_labels_to_targets`).
"""
import hashlib
import os
import os.path as osp
import threading
import weakref
from collections import OrderedDict
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log
from mmdet3d.structures import PointData

from graspcontrast_mm.registry import TRANSFORMS
from graspcontrast_mm.structures import (OBJECT_PIXELS_WITHOUT_DEPTH, point_graspness,
                                         reference_frame_graspness, reference_workspace_mask)
from ..graspnet_io import (read_collision_labels, read_graspness_file, read_grasp_labels,
                           read_label_image, read_meta_poses)
from .formatting import PackPointsInputs
from .loading import read_depth_image
from .points import _view_name, select_points
from .view_pair import view_points_world

__all__ = [
    'GRASPNESS_SOURCES', 'OBJECT_BOX_MODES', 'reference_num_grasp_points', 'compute_frame_graspness', 'frame_workspace_mask',
    'WORKSPACE_MASK_MEMO_ENV_VAR', 'clear_workspace_mask_memo',
    'graspness_at_pixels', 'LoadPointSegmentation', 'LoadGraspLabels',
    'ObjectWorkspaceCrop', 'PackGraspInputs'
]

_WARNING = 30  # logging.WARNING
#: Where :class:`LoadGraspLabels` takes the point graspness from.
GRASPNESS_SOURCES = ('auto', 'file', 'compute')
#: How :class:`ObjectWorkspaceCrop` builds the object box.
OBJECT_BOX_MODES = ('reference', 'points')


def _label_image(results: dict) -> np.ndarray:
    """The frame's label image: ``results['label_image']`` or read from ``label_path``."""
    seg = results.get('label_image')
    if seg is None:
        if results.get('label_path') is None:
            raise KeyError("needs 'label_image' or 'label_path' (the label PNG)")
        seg = read_label_image(results['label_path'])
        results['label_image'] = seg
    return np.asarray(seg)


def _depth_image(results: dict) -> np.ndarray:
    """The frame's depth in metres: ``results['depth']`` or read from ``depth_path``."""
    depth = results.get('depth')
    if depth is None:
        if results.get('depth_path') is None:
            raise KeyError("needs the depth image: keep 'depth' (DepthToPoints("
                           "keep_depth=True)) or give 'depth_path'")
        raw = read_depth_image(results['depth_path'])
        depth = raw.astype(np.float64) / float(results.get('depth_scale', 1000.0))
    return np.asarray(depth)


class _LRUCache:
    """A least-recently-used cache, bounded by its number of entries and, optionally, by
    the bytes of its values (``nbytes(value)``); a value larger than the byte budget is
    not kept. Thread-safe; the value is computed outside the lock. One per transform
    instance or module, i.e. per process (each data worker has its own).
    """

    def __init__(self, size: Optional[int], max_bytes: Optional[int] = None,
                 nbytes: Optional[Callable[[Any], int]] = None) -> None:
        self.size = None if size is None else max(0, int(size))
        self.max_bytes = None if max_bytes is None else max(0, int(max_bytes))
        if self.max_bytes is not None and nbytes is None:
            raise ValueError('a byte budget needs nbytes(value)')
        self._nbytes = nbytes
        self.nbytes = 0
        self._data: 'OrderedDict[Any, Any]' = OrderedDict()
        self._lock = threading.Lock()
        _ALL_LRU_CACHES.add(self)

    @property
    def enabled(self) -> bool:
        return self.size != 0 and self.max_bytes != 0

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = load()
        if not self.enabled:
            return value
        size = self._nbytes(value) if self._nbytes is not None else 0
        if self.max_bytes is not None and size > self.max_bytes:
            return value
        with self._lock:
            if key not in self._data:
                self._data[key] = value
                self.nbytes += size
            while self._data and ((self.size is not None and len(self._data) > self.size)
                                  or (self.max_bytes is not None
                                      and self.nbytes > self.max_bytes)):
                _, old = self._data.popitem(last=False)
                if self._nbytes is not None:
                    self.nbytes -= self._nbytes(old)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.nbytes = 0

    def _new_lock_after_fork(self) -> None:
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:  # copies and pickles (spawned workers) get a new lock
        state = dict(self.__dict__)
        del state['_lock']
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        _ALL_LRU_CACHES.add(self)

    def __len__(self) -> int:
        return len(self._data)


_ALL_LRU_CACHES: 'weakref.WeakSet[_LRUCache]' = weakref.WeakSet()


def _new_cache_locks_after_fork() -> None:
    # a data worker forked while another thread of the parent held a cache's lock would
    # otherwise inherit it locked
    for cache in list(_ALL_LRU_CACHES):
        cache._new_lock_after_fork()


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(after_in_child=_new_cache_locks_after_fork)


#: Megabytes of object-workspace masks a process keeps between samples (default 256;
#: ``0`` turns the memo off). See :func:`frame_workspace_mask`.
WORKSPACE_MASK_MEMO_ENV_VAR = 'GRASPCONTRAST_WORKSPACE_MASK_MEMO_MB'


def _memo_budget_from_env() -> int:
    raw = os.environ.get(WORKSPACE_MASK_MEMO_ENV_VAR, '256').strip()
    try:
        megabytes = float(raw)
    except ValueError:
        raise ValueError(f'{WORKSPACE_MASK_MEMO_ENV_VAR} must be a number of megabytes, '
                         f'got {raw!r}') from None
    if not megabytes >= 0:
        raise ValueError(f'{WORKSPACE_MASK_MEMO_ENV_VAR} must be >= 0, got {raw!r}')
    return int(megabytes * 2 ** 20)


def _mask_and_box_nbytes(value: Tuple[np.ndarray, Optional[np.ndarray]]) -> int:
    mask, bounds = value
    return mask.nbytes + (0 if bounds is None else bounds.nbytes)


#: (bool (H, W) mask, float64 (2, 3) box or None) per frame, see frame_workspace_mask
_WORKSPACE_MASK_MEMO = _LRUCache(None, max_bytes=_memo_budget_from_env(),
                                 nbytes=_mask_and_box_nbytes)


def clear_workspace_mask_memo() -> None:
    """Forget every object-workspace mask kept by :func:`frame_workspace_mask`."""
    _WORKSPACE_MASK_MEMO.clear()


def _image_identity(results: dict, array_key: str, path_key: str):
    """What an image input of the workspace mask is: a digest of the array in
    ``results[array_key]``, or the file ``results[path_key]`` (path, size, modification
    time, inode) when the array is absent and will be read from it. None: unknown."""
    array = results.get(array_key)
    if array is not None:
        a = np.ascontiguousarray(array)
        digest = hashlib.blake2b(memoryview(a.reshape(-1).view(np.uint8)),
                                 digest_size=16).digest()
        return 'array', a.shape, a.dtype.str, digest
    path = results.get(path_key)
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None  # the reader raises the error that names the file
    return 'file', osp.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino


def _workspace_mask_memo_key(results: dict, margin: float, mode: str):
    depth = _image_identity(results, 'depth', 'depth_path')
    seg = _image_identity(results, 'label_image', 'label_path')
    if depth is None or seg is None:
        return None
    K = np.asarray(results['cam_intrinsic'], dtype=np.float64)
    T = np.asarray(results['cam2world'], dtype=np.float64)
    return (depth, seg, K.shape, K.tobytes(), T.shape, T.tobytes(),
            float(results.get('depth_scale', 1000.0)), float(margin), str(mode))


def frame_workspace_mask(results: dict, margin: float = 0.02,
                         object_pixels_without_depth: str = 'camera_centre'
                         ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """GSNet's object workspace of a frame (:func:`reference_workspace_mask`), cached.

    Reads the full depth (``depth``, metres, or ``depth_path``) and label images
    (``label_image`` or ``label_path``), ``cam_intrinsic``, ``cam2world`` and
    ``depth_scale`` (raw units per metre, 1000 when absent) of a view dict. The result is
    kept in ``results['workspace_mask']`` / ``results['workspace_mask_bounds']`` together
    with the arguments (``results['workspace_mask_cfg']``), so that later transforms with
    the same arguments reuse it.

    The mask depends only on the frame, not on the sample's random draws, and every epoch
    of a training run asks for it again (about 8-10 ms for a 640 x 360 frame, a tenth of a
    fine-tuning sample's loading). The process therefore keeps recent masks (least
    recently used first out, at most ``GRASPCONTRAST_WORKSPACE_MASK_MEMO_MB`` megabytes,
    default 256, ``0`` = off). An entry is found again only for the same inputs: the depth
    and label arrays of ``results`` by a 128-bit digest of their bytes, or, when they
    are not in ``results`` and would be read, the files by path, size, modification time
    and inode; plus the intrinsics, the camera pose, the depth scale and both arguments.
    The arrays returned are read-only.

    Returns:
        tuple: bool (H, W) mask of the kept pixels, and the float64 (2, 3) box in the
        table frame, metres (None without object pixels).
    """
    key = (float(margin), str(object_pixels_without_depth))
    if results.get('workspace_mask_cfg') == key and 'workspace_mask' in results:
        return results['workspace_mask'], results.get('workspace_mask_bounds')
    for name in ('cam_intrinsic', 'cam2world'):
        if name not in results:
            raise KeyError(f"the object workspace needs '{name}'")

    def compute() -> Tuple[np.ndarray, Optional[np.ndarray]]:
        seg = _label_image(results)
        depth = _depth_image(results)
        if seg.shape != depth.shape:
            raise ValueError(f'label image {seg.shape} and depth image {depth.shape} '
                             f'differ in shape ({_view_name(results)})')
        mask, bounds = reference_workspace_mask(
            depth, seg, results['cam_intrinsic'], results['cam2world'], margin=margin,
            depth_scale=float(results.get('depth_scale', 1000.0)),
            object_pixels_without_depth=object_pixels_without_depth, return_bounds=True)
        mask.setflags(write=False)
        if bounds is not None:
            bounds.setflags(write=False)
        return mask, bounds

    memo_key = None
    if _WORKSPACE_MASK_MEMO.enabled:
        memo_key = _workspace_mask_memo_key(results, margin, object_pixels_without_depth)
    mask, bounds = compute() if memo_key is None else _WORKSPACE_MASK_MEMO.get(memo_key,
                                                                                compute)
    results['workspace_mask'] = mask
    results['workspace_mask_bounds'] = bounds
    results['workspace_mask_cfg'] = key
    return mask, bounds


def graspness_at_pixels(values: np.ndarray, uv: np.ndarray, shape: Tuple[int, int],
                        workspace_mask: Optional[np.ndarray] = None,
                        path: str = 'graspness file') -> np.ndarray:
    """Point graspness from a graspness file in either layout.

    - package layout: an (H, W) map aligned with the depth image, read at ``uv``;
    - reference layout (GSNet's ``generate_graspness.py``): ``(N_masked, 1)`` (or
      ``(N_masked,)``), one value per pixel of the reference's workspace mask in
      row-major order; the values are put back at those pixels (``workspace_mask``,
      see :func:`frame_workspace_mask`) and read at ``uv``. Pixels outside the mask get 0.

    Args:
        values: the array loaded from the file.
        uv: int (N, 2) ``(u, v)`` pixels of the points.
        shape: ``(H, W)`` of the depth / label images.
        workspace_mask: bool (H, W) reference workspace mask (needed for the reference
            layout).
        path: file name used in error messages.

    Returns:
        np.ndarray: float32 (N,) raw file values (NaN / inf replaced by 0).

    Raises:
        ValueError: the array fits neither layout, or a reference-layout file has a
            different number of values than the mask has pixels.
    """
    values = np.asarray(values)
    shape = tuple(int(v) for v in shape)
    if values.shape == shape:
        gmap = values
    elif values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1):
        if workspace_mask is None:
            raise ValueError(f'{path}: a reference-layout graspness file needs the '
                             'workspace mask')
        mask = np.asarray(workspace_mask, dtype=bool)
        if mask.shape != shape:
            raise ValueError(f'{path}: workspace mask {mask.shape} is not {shape}')
        n_mask = int(np.count_nonzero(mask))
        if values.shape[0] != n_mask:
            raise ValueError(
                f'{path} holds {values.shape[0]} values (reference layout, one per '
                f'workspace pixel) but the workspace mask of this frame has {n_mask} '
                'pixels; the file was written for another workspace (margin, camera '
                'poses or label image)')
        gmap = np.zeros(shape, dtype=np.float64)
        gmap[mask] = values.reshape(-1)
    else:
        raise ValueError(f'{path} has shape {values.shape}: expected an (H, W) = {shape} '
                         'map or the reference layout (N_masked, 1)')
    out = np.asarray(gmap[uv[:, 1], uv[:, 0]], dtype=np.float32)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


def reference_num_grasp_points(num_points: int) -> int:
    """Grasp points kept per object by the GSNet reference: ``min(max(Np // 4, 300), Np)``."""
    return int(min(max(num_points // 4, 300), num_points))


@TRANSFORMS.register_module()
class LoadPointSegmentation(BaseTransform):
    """Per-point segmentation from GraspNet's label image (no grasp labels needed).

    For unlabelled frames (pre-training view pairs, testing) that are cropped to the
    objects' workspace (:class:`ObjectWorkspaceCrop`): GraspNet-1Billion has a label image
    for every frame.

    Required keys: ``pixel_uv`` int (N, 2) (``DepthToPoints(with_pixel_uv=True)``),
    ``label_path``. Added keys: ``pts_instance_mask`` int64 (N,) (``obj_id + 1``, 0 =
    background), ``objectness_label`` int64 (N,) {0, 1}, ``label_image`` (H, W) (kept for
    :class:`ObjectWorkspaceCrop`).

    Args:
        allow_missing: a missing label image adds nothing (instead of raising), so that
            :class:`ObjectWorkspaceCrop` falls back to its table box
            (``fallback_world_bounds``) on data without segmentation.

    Raises:
        FileNotFoundError: the label image is missing and ``allow_missing`` is False.
        ValueError: the label image does not cover the points' pixels.
    """

    def __init__(self, allow_missing: bool = False) -> None:
        self.allow_missing = bool(allow_missing)

    def transform(self, results: dict) -> dict:
        if results.get('pixel_uv') is None:
            raise KeyError("LoadPointSegmentation needs 'pixel_uv'; run "
                           'DepthToPoints(with_pixel_uv=True) first')
        path = results.get('label_path')
        if results.get('label_image') is None and (path is None or not osp.isfile(path)):
            if self.allow_missing:
                return results
            raise FileNotFoundError(f'label image not found: {path}')
        seg = _label_image(results)
        uv = np.asarray(results['pixel_uv'], dtype=np.int64).reshape(-1, 2)
        if len(uv) and (uv[:, 0].max() >= seg.shape[1] or uv[:, 1].max() >= seg.shape[0]
                        or uv.min() < 0):
            raise ValueError(f'label image {path} ({seg.shape}) does not cover the depth '
                             'pixels')
        seg_points = seg[uv[:, 1], uv[:, 0]].astype(np.int64)
        results['pts_instance_mask'] = seg_points
        results['objectness_label'] = (seg_points > 0).astype(np.int64)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(allow_missing={self.allow_missing})'


@TRANSFORMS.register_module()
class LoadGraspLabels(BaseTransform):
    """Load a frame's segmentation, object poses, grasp labels and point graspness.

    Run it after ``DepthToPoints(with_pixel_uv=True)``: it indexes the label image (and a
    graspness file) with ``pixel_uv``, so it works on any subset of the pixels; graspness
    is always defined on the whole frame (GSNet's workspace of the full depth and label
    images), so it does not depend on earlier cropping or sampling.

    Required keys: ``points`` (N, 3) (camera frame, or augmented with ``aug_mat``),
    ``pixel_uv`` int (N, 2) ``(u, v)``, ``meta_path``, ``label_path``, ``grasp_label_dir``,
    ``collision_label_path``, ``scene_object_ids`` (``object_id_list.txt`` order),
    ``cam_intrinsic``, ``cam2world``, the depth image (``depth`` metres, kept by
    ``DepthToPoints``, or ``depth_path``); optional ``graspness_path``, ``aug_mat``,
    ``depth_scale``. ``GraspNetDataset(mode='grasp')`` provides them.

    Added keys: see the module docstring (``pts_instance_mask``, ``objectness_label``,
    ``graspness_label``, ``object_ids``, ``object_poses``, ``grasp_points``,
    ``grasp_widths``, ``grasp_scores``), ``graspness_source`` (``'file'`` or
    ``'compute'``: where this frame's graspness came from), ``label_image`` and the
    workspace mask of :func:`frame_workspace_mask` (``workspace_mask``, reused by
    ``ObjectWorkspaceCrop(mode='reference')`` with the same margin).

    Grasp labels: the scores of ``grasp_label/XXX_labels.npz`` with the scene's collision
    array (``collision_labels.npz``, ``arr_i`` for the ``i``-th object of
    ``object_id_list.txt``) applied: a grasp counts when ``0 < mu`` and it does not collide
    (graspnetAPI ``loadGrasp`` and the GSNet reference read only the scene array;
    ``with_object_collision=True`` also ORs in the npz's own ``collision``).

    Point graspness (GSNet's rule, the reference's ``generate_graspness.py``): a grasp
    point's graspness is the fraction of its 300 x 12 x 4 grasps with
    ``0 < mu <= graspness_fric_thresh`` (0.8) and no collision; every pixel of the frame's
    object workspace (:func:`frame_workspace_mask`: objects' box in the table frame grown
    by ``workspace_margin``, background included) takes the value of its nearest grasp
    point over all objects (camera frame, ``T_cam_obj``), and the values are min-max
    normalised over all those pixels. The label keeps them on object points and is 0 on
    background points (GSNet's graspness loss only reads object points).

    Graspness sources (``graspness_source``):

    - ``'file'``: ``graspness/scene_XXXX/{camera}/NNNN.npy`` in either layout (see
      :func:`graspness_at_pixels`): the package's per-pixel (H, W) map, or the
      reference's ``(N_masked, 1)`` array aligned with its workspace mask (rebuilt here
      with ``workspace_margin`` and ``object_pixels_without_depth``); missing file ->
      ``FileNotFoundError``;
    - ``'compute'``: from the grasp and collision labels with the rule above;
    - ``'auto'`` (default): the file when it exists, else computed.

    Caches (per transform instance, i.e. per dataloader worker): the last
    ``label_cache_size`` objects' label arrays and the last ``collision_cache_size``
    scenes' collision arrays (real GraspNet scenes: up to a few hundred MB each).

    Raises:
        FileNotFoundError: a label file is missing (the message names the path).
        KeyError: ``pixel_uv`` / ``points`` missing (run ``DepthToPoints(with_pixel_uv=True)``).
        ValueError: inconsistent files (object not in ``object_id_list.txt``, collision
            and label shapes disagree, label image smaller than the depth image, a
            graspness file of another shape or workspace).

    Args:
        graspness_source: ``'auto'``, ``'file'`` or ``'compute'``.
        graspness_fric_thresh: largest friction coefficient counted in the graspness.
        num_grasp_points: grasp points kept per object: ``None`` all, an int a random
            subset of that many, ``'reference'`` the GSNet reference's
            ``min(max(Np // 4, 300), Np)`` (numpy's global RNG, seeded by mmengine).
        with_object_collision: also apply the npz's own ``collision`` array.
        label_cache_size: objects whose label arrays are kept in memory.
        collision_cache_size: scenes whose collision arrays are kept in memory.
        workspace_margin: growth of the objects' box of the graspness workspace, metres
            (reference: 0.02).
        object_pixels_without_depth: ``'camera_centre'`` (reference) or ``'ignore'``; see
            :func:`~graspcontrast_mm.structures.reference_workspace_mask`.
    """

    def __init__(self,
                 graspness_source: str = 'auto',
                 graspness_fric_thresh: float = 0.8,
                 num_grasp_points: Optional[Union[int, str]] = None,
                 with_object_collision: bool = False,
                 label_cache_size: int = 32,
                 collision_cache_size: int = 2,
                 workspace_margin: float = 0.02,
                 object_pixels_without_depth: str = 'camera_centre') -> None:
        if graspness_source not in GRASPNESS_SOURCES:
            raise ValueError(f'graspness_source must be one of {GRASPNESS_SOURCES}, '
                             f'got {graspness_source!r}')
        if not (num_grasp_points is None or num_grasp_points == 'reference' or
                (isinstance(num_grasp_points, int) and num_grasp_points > 0)):
            raise ValueError("num_grasp_points must be None, 'reference' or a positive "
                             f'int, got {num_grasp_points!r}')
        if not graspness_fric_thresh > 0:
            raise ValueError('graspness_fric_thresh must be positive, got '
                             f'{graspness_fric_thresh}')
        if workspace_margin < 0:
            raise ValueError(f'workspace_margin must be >= 0 (metres), got {workspace_margin}')
        if object_pixels_without_depth not in OBJECT_PIXELS_WITHOUT_DEPTH:
            raise ValueError('object_pixels_without_depth must be one of '
                             f'{OBJECT_PIXELS_WITHOUT_DEPTH}, got {object_pixels_without_depth!r}')
        self.workspace_margin = float(workspace_margin)
        self.object_pixels_without_depth = object_pixels_without_depth
        self.graspness_source = graspness_source
        self.graspness_fric_thresh = float(graspness_fric_thresh)
        self.num_grasp_points = num_grasp_points
        self.with_object_collision = bool(with_object_collision)
        self.label_cache_size = int(label_cache_size)
        self.collision_cache_size = int(collision_cache_size)
        self._labels = _LRUCache(label_cache_size)
        self._collisions = _LRUCache(collision_cache_size)

    # ------------------------------------------------------------------ file access
    def _object_labels(self, path: str) -> Dict[str, np.ndarray]:
        def load():
            arrays = read_grasp_labels(
                path, collision='optional' if self.with_object_collision else 'skip')
            out = dict(points=arrays['points'],
                       widths=np.ascontiguousarray(arrays['offsets'][..., 2]),
                       scores=arrays['scores'])
            if 'collision' in arrays:
                out['collision'] = arrays['collision']
            return out

        return self._labels.get(path, load)

    def _scene_collisions(self, path: str) -> Dict[str, Any]:
        def load():
            return dict(arrays=read_collision_labels(path), graspness={})

        return self._collisions.get(path, load)

    def _grasp_point_graspness(self, entry: Dict[str, Any], index: int,
                               scores: np.ndarray, collision: np.ndarray) -> np.ndarray:
        cached = entry['graspness'].get(index)
        if cached is None:
            cached = point_graspness(scores, collision, self.graspness_fric_thresh,
                                     dtype=np.float64)
            entry['graspness'][index] = cached
        return cached

    # ------------------------------------------------------------------ transform
    def transform(self, results: dict) -> dict:
        from graspcontrast_mm.structures.grasp_targets import grasp_labels_to_targets
        for key in ('points', 'pixel_uv'):
            if results.get(key) is None:
                raise KeyError(f"LoadGraspLabels needs '{key}'; run "
                               'DepthToPoints(with_pixel_uv=True) first')
        for key in ('meta_path', 'label_path', 'grasp_label_dir', 'collision_label_path',
                    'scene_object_ids'):
            if key not in results:
                raise KeyError(f"LoadGraspLabels needs '{key}' (GraspNetDataset "
                               "mode='grasp' provides it)")
        uv = np.asarray(results['pixel_uv'], dtype=np.int64).reshape(-1, 2)
        if len(uv) != len(results['points']):
            raise ValueError(f"pixel_uv has {len(uv)} rows but points {len(results['points'])}")
        seg = _label_image(results)
        if len(uv) and (uv[:, 0].max() >= seg.shape[1] or uv[:, 1].max() >= seg.shape[0]
                        or uv.min() < 0):
            raise ValueError(f"label image {results['label_path']} ({seg.shape}) does not "
                             'cover the depth pixels')
        seg_points = seg[uv[:, 1], uv[:, 0]].astype(np.int64)
        object_ids, poses = read_meta_poses(results['meta_path'])

        scene_ids = [int(i) for i in results['scene_object_ids']]
        coll_entry = self._scene_collisions(results['collision_label_path'])
        if len(coll_entry['arrays']) != len(scene_ids):
            raise ValueError(f"{results['collision_label_path']}: "
                             f"{len(coll_entry['arrays'])} collision arrays for "
                             f'{len(scene_ids)} objects in object_id_list.txt')
        num_keep = self.num_grasp_points
        grasp_points, grasp_widths, grasp_scores, label_graspness = [], [], [], []
        for obj_id in object_ids:
            if int(obj_id) not in scene_ids:
                raise ValueError(f"object {obj_id} of {results['meta_path']} is not in the "
                                 f"scene's object_id_list.txt {scene_ids}")
            index = scene_ids.index(int(obj_id))
            path = osp.join(results['grasp_label_dir'], f'{int(obj_id):03d}_labels.npz')
            label = self._object_labels(path)
            collision = coll_entry['arrays'][index]
            if collision.shape != label['scores'].shape:
                raise ValueError(f'object {obj_id}: collision array {collision.shape} of '
                                 f"{results['collision_label_path']} does not match the "
                                 f"scores {label['scores'].shape} of {path}")
            if 'collision' in label:
                collision = collision | label['collision']
            n = len(label['points'])
            keep = reference_num_grasp_points(n) if num_keep == 'reference' else num_keep
            targets = grasp_labels_to_targets(label['points'], label['widths'],
                                              label['scores'], collision, num_points=keep)
            grasp_points.append(targets['grasp_points'])
            grasp_widths.append(targets['grasp_widths'])
            grasp_scores.append(targets['grasp_scores'])
            label_graspness.append((label['points'], self._grasp_point_graspness(
                coll_entry, index if 'collision' not in label else (index, 'own'),
                label['scores'], collision)))

        graspness, source = self._graspness(results, uv, seg.shape, seg_points, object_ids,
                                            poses, label_graspness)
        results['pts_instance_mask'] = seg_points
        results['objectness_label'] = (seg_points > 0).astype(np.int64)
        results['graspness_label'] = graspness
        results['graspness_source'] = source
        results['object_ids'] = object_ids
        results['object_poses'] = poses
        results['grasp_points'] = grasp_points
        results['grasp_widths'] = grasp_widths
        results['grasp_scores'] = grasp_scores
        return results

    def _graspness(self, results, uv, shape, seg_points, object_ids, poses,
                   label_graspness) -> Tuple[np.ndarray, str]:
        path = results.get('graspness_path')
        use_file = self.graspness_source == 'file' or (
            self.graspness_source == 'auto' and path is not None and osp.isfile(path))
        if use_file:
            if path is None or not osp.isfile(path):
                raise FileNotFoundError(f'graspness file not found: {path} '
                                        "(graspness_source='file')")
            values = read_graspness_file(path)
            mask = None
            if values.shape != tuple(shape):  # reference layout: needs its workspace
                mask, _ = frame_workspace_mask(results, self.workspace_margin,
                                               self.object_pixels_without_depth)
            values = graspness_at_pixels(values, uv, shape, mask, path)
            source = 'file'
        else:
            mask, _ = frame_workspace_mask(results, self.workspace_margin,
                                           self.object_pixels_without_depth)
            gmap = compute_frame_graspness(
                _depth_image(results), _label_image(results), results['cam_intrinsic'],
                results['cam2world'], poses, label_graspness, workspace_mask=mask,
                depth_scale=float(results.get('depth_scale', 1000.0)))
            values = gmap[uv[:, 1], uv[:, 0]].astype(np.float32)
            source = 'compute'
        values[seg_points == 0] = 0.0
        return np.clip(values, 0.0, 1.0), source

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(graspness_source={self.graspness_source!r}, '
                f'graspness_fric_thresh={self.graspness_fric_thresh}, '
                f'num_grasp_points={self.num_grasp_points!r}, '
                f'with_object_collision={self.with_object_collision}, '
                f'label_cache_size={self.label_cache_size}, '
                f'collision_cache_size={self.collision_cache_size}, '
                f'workspace_margin={self.workspace_margin}, '
                f'object_pixels_without_depth={self.object_pixels_without_depth!r})')


def compute_frame_graspness(depth_m: np.ndarray,
                            seg: np.ndarray,
                            K: np.ndarray,
                            cam2world: np.ndarray,
                            poses_cam_obj: np.ndarray,
                            label_graspness: Sequence[Tuple[np.ndarray, np.ndarray]],
                            *,
                            margin: float = 0.02,
                            depth_scale: Optional[float] = 1000.0,
                            object_pixels_without_depth: str = 'camera_centre',
                            workspace_mask: Optional[np.ndarray] = None) -> np.ndarray:
    """GSNet's point graspness of a whole frame, as a per-pixel map.

    The reference rule (``generate_graspness.py``, see
    :func:`~graspcontrast_mm.structures.reference_frame_graspness`): every pixel of the
    object workspace (background included) takes the graspness of its nearest grasp point
    over all objects; min-max normalised over those pixels.

    Args:
        depth_m: (H, W) depth, metres, 0 = no measurement.
        seg: (H, W) label image, ``obj_id + 1`` per pixel, 0 = background.
        K: (3, 3) intrinsics, pixels.
        cam2world: (4, 4) ``T_world_cam`` (table frame).
        poses_cam_obj: (K, 4, 4) ``T_cam_obj`` of the objects.
        label_graspness: K pairs ``(grasp_points (Np, 3) object frame, graspness (Np,))``.
        margin: workspace margin, metres.
        depth_scale: raw depth units per metre of the depth file (bit-exact workspace).
        object_pixels_without_depth: see
            :func:`~graspcontrast_mm.structures.reference_workspace_mask`.
        workspace_mask: a precomputed workspace mask (:func:`frame_workspace_mask`).

    Returns:
        np.ndarray: float64 (H, W) in [0, 1]; 0 outside the workspace. Row-major
        ``map[workspace_mask]`` is the content of the reference's graspness file.
    """
    gmap, _ = reference_frame_graspness(
        depth_m, seg, K, cam2world, list(poses_cam_obj), [p for p, _ in label_graspness],
        [g for _, g in label_graspness], margin=margin, depth_scale=depth_scale,
        object_pixels_without_depth=object_pixels_without_depth,
        workspace_mask=workspace_mask)
    return gmap


@TRANSFORMS.register_module()
class ObjectWorkspaceCrop(BaseTransform):
    """Keep the points inside the objects' bounding box (plus a margin) in the table frame.

    GSNet's workspace (the reference's ``get_workspace_mask``): the axis-aligned box of the
    object pixels in the table / world frame, grown by ``margin`` on every side
    (reference: 0.02 m); everything outside (far table, background) is dropped. Two ways
    to build the box (``mode``):

    - ``'reference'``: from the full label and depth images of the frame, bit for bit as
      the reference (:func:`frame_workspace_mask`): every object pixel counts, one
      without depth as the camera centre (``object_pixels_without_depth='camera_centre'``,
      which stretches the box to the camera) or not at all (``'ignore'``); strict bounds;
      a point is kept when its pixel (``pixel_uv``) is in the mask. Needs ``pixel_uv``,
      the depth image (``depth`` or ``depth_path``), the label image (``label_image`` or
      ``label_path``), ``cam_intrinsic`` and ``depth_scale``.
    - ``'points'``: the box of the object points present (``objectness_label == 1``,
      ``cam2world @ inv(aug_mat) @ p``); bounds inclusive. Works on any point cloud with
      a per-point segmentation (e.g. the Inferencer's depth-only object crop).

    Without any segmentation (no ``objectness_label`` / ``pts_instance_mask``, e.g.
    ``LoadPointSegmentation(allow_missing=True)`` on data without label images) the
    points are cropped to ``fallback_world_bounds``, a fixed box of the table frame
    (inclusive), when it is given; otherwise a ``KeyError`` is raised.

    Required keys: ``points``, ``objectness_label`` (or ``pts_instance_mask``),
    ``cam2world`` (4, 4) ``T_world_cam``; optional ``aug_mat``. Modified keys: ``points`` and
    every per-point array (``PER_POINT_KEYS`` and ``point_keys``). Added key:
    ``workspace_bounds`` float64 (2, 3) table frame, metres.

    A frame with fewer than ``min_object_points`` object points, or fewer than
    ``min_points`` points in the box, is skipped: a warning is logged and None returned
    (mmengine's dataset draws another sample).

    Args:
        margin: growth of the object box on every side, metres.
        min_object_points: smallest number of object points needed to define the box.
        min_points: smallest number of points left after cropping.
        point_keys: extra per-point keys to crop along with ``points``.
        mode: ``'reference'`` or ``'points'`` (see above).
        object_pixels_without_depth: ``'camera_centre'`` (reference) or ``'ignore'``;
            ``mode='reference'`` only.
        fallback_world_bounds: ``((xmin, ymin, zmin), (xmax, ymax, zmax))`` table frame,
            metres, used for views without segmentation; None: segmentation required.
    """

    def __init__(self, margin: float = 0.02, min_object_points: int = 1,
                 min_points: int = 1, point_keys: Sequence[str] = (),
                 mode: str = 'points',
                 object_pixels_without_depth: str = 'camera_centre',
                 fallback_world_bounds: Optional[Sequence[Sequence[float]]] = None) -> None:
        if margin < 0:
            raise ValueError(f'margin must be >= 0 (metres), got {margin}')
        if mode not in OBJECT_BOX_MODES:
            raise ValueError(f'mode must be one of {OBJECT_BOX_MODES}, got {mode!r}')
        if object_pixels_without_depth not in OBJECT_PIXELS_WITHOUT_DEPTH:
            raise ValueError('object_pixels_without_depth must be one of '
                             f'{OBJECT_PIXELS_WITHOUT_DEPTH}, got {object_pixels_without_depth!r}')
        self.margin = float(margin)
        self.min_object_points = max(1, int(min_object_points))
        self.min_points = int(min_points)
        self.point_keys = tuple(point_keys)
        self.mode = mode
        self.object_pixels_without_depth = object_pixels_without_depth
        self.fallback_world_bounds = None
        if fallback_world_bounds is not None:
            bounds = np.asarray(fallback_world_bounds, dtype=np.float64)
            if bounds.shape != (2, 3) or np.any(bounds[0] > bounds[1]):
                raise ValueError('fallback_world_bounds must be ((xmin, ymin, zmin), '
                                 f'(xmax, ymax, zmax)) with min <= max, got '
                                 f'{fallback_world_bounds}')
            self.fallback_world_bounds = bounds
        self._warned_fallback = False

    def _crop(self, results: dict, inside: np.ndarray, what: str) -> Optional[dict]:
        if np.count_nonzero(inside) < self.min_points:
            print_log(f'{np.count_nonzero(inside)} points in the {what} of '
                      f'{_view_name(results)} (need {self.min_points}); skipping the sample',
                      logger='current', level=_WARNING)
            return None
        return select_points(results, inside, self.point_keys)

    def transform(self, results: dict) -> Optional[dict]:
        if 'cam2world' not in results:
            raise KeyError("ObjectWorkspaceCrop needs 'cam2world' (4x4 T_world_cam)")
        if results.get('objectness_label') is not None:
            is_object = np.asarray(results['objectness_label']) > 0
        elif results.get('pts_instance_mask') is not None:
            is_object = np.asarray(results['pts_instance_mask']) > 0
        elif self.fallback_world_bounds is not None:
            if not self._warned_fallback:
                print_log(f'ObjectWorkspaceCrop: {_view_name(results)} has no segmentation; '
                          'cropping to the table box '
                          f'{self.fallback_world_bounds.tolist()} (reported once)',
                          logger='current', level=_WARNING)
                self._warned_fallback = True
            world = view_points_world(results)
            lo, hi = self.fallback_world_bounds
            results['workspace_bounds'] = self.fallback_world_bounds.copy()
            return self._crop(results, np.all((world >= lo) & (world <= hi), axis=1),
                              'table box')
        else:
            raise KeyError("ObjectWorkspaceCrop needs 'objectness_label' or "
                           "'pts_instance_mask'; run LoadPointSegmentation or "
                           'LoadGraspLabels first')
        num_obj = int(np.count_nonzero(is_object))
        if num_obj < self.min_object_points:
            print_log(f'{num_obj} object points in {_view_name(results)} (need '
                      f'{self.min_object_points}); skipping the sample', logger='current',
                      level=_WARNING)
            return None
        if self.mode == 'reference':
            if results.get('pixel_uv') is None:
                raise KeyError("ObjectWorkspaceCrop(mode='reference') needs 'pixel_uv'; run "
                               'DepthToPoints(with_pixel_uv=True) first')
            mask, bounds = frame_workspace_mask(results, self.margin,
                                                self.object_pixels_without_depth)
            uv = np.asarray(results['pixel_uv'], dtype=np.int64).reshape(-1, 2)
            inside = mask[uv[:, 1], uv[:, 0]]
        else:
            world = view_points_world(results)
            lo = world[is_object].min(axis=0) - self.margin
            hi = world[is_object].max(axis=0) + self.margin
            inside = np.all((world >= lo) & (world <= hi), axis=1)
            bounds = np.stack([lo, hi])
        # a copy: the memo of frame_workspace_mask keeps its box read-only
        results['workspace_bounds'] = None if bounds is None else np.array(bounds)
        return self._crop(results, inside, 'object workspace')

    def __repr__(self) -> str:
        fallback = (None if self.fallback_world_bounds is None
                    else self.fallback_world_bounds.tolist())
        return (f'{self.__class__.__name__}(margin={self.margin}, '
                f'min_object_points={self.min_object_points}, min_points={self.min_points}, '
                f'point_keys={self.point_keys}, mode={self.mode!r}, '
                f'object_pixels_without_depth={self.object_pixels_without_depth!r}, '
                f'fallback_world_bounds={fallback})')


@TRANSFORMS.register_module()
class PackGraspInputs(PackPointsInputs):
    """Pack a labelled, voxelized view for GSNet training (``gt_grasp_labels``).

    Inputs and metainfo as :class:`PackPointsInputs` (plus ``object_ids``, the kept
    objects). The data sample gets

    - ``gt_grasp_labels`` (:class:`mmengine.structures.BaseDataElement`, built with
      :func:`graspcontrast_mm.models.heads.gsnet_labels.pack_grasp_labels`):
      ``objectness_label`` int64 (N,), ``graspness_label`` float32 (N,),
      ``object_poses`` float32 (K, 3, 4) = ``(aug_mat @ T_cam_obj)[:3]`` (the frame of the
      packed ``points``), ``grasp_points`` K x (Np_k, 3) object frame, ``grasp_widths``
      K x (Np_k, 300, 12, 4) metres, ``grasp_scores`` K x (Np_k, 300, 12, 4) (``mu``, 0 =
      no grasp);
    - ``gt_pts_seg`` (:class:`PointData`): ``pts_instance_mask`` int64 (N,) segmentation ids
      (``obj_id + 1``, 0 = background).

    Objects with fewer than ``min_object_points`` of the packed points are left out (the
    GSNet reference: 50). A frame is skipped (warning, None: mmengine's dataset draws
    another sample) when fewer than ``min_graspable_points`` points are graspable
    (``objectness_label == 1`` and ``graspness_label > graspness_threshold``) or no object
    is left.

    Args:
        meta_keys: keys copied to the metainfo when present.
        extra_input_keys: further arrays to pass as inputs.
        min_object_points: smallest number of packed points of a kept object.
        graspness_threshold: graspness above which an object point is graspable (GSNet: 0.1).
        min_graspable_points: smallest number of graspable points of a used frame.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('scene_id', 'frame_id', 'sample_idx', 'camera',
                                             'depth_path', 'cam_intrinsic', 'cam2world',
                                             'aug_mat', 'voxel_origin', 'voxel_size',
                                             'depth_shape'),
                 extra_input_keys: Sequence[str] = (),
                 min_object_points: int = 50,
                 graspness_threshold: float = 0.1,
                 min_graspable_points: int = 1) -> None:
        super().__init__(meta_keys=meta_keys, extra_input_keys=extra_input_keys)
        self.min_object_points = int(min_object_points)
        self.graspness_threshold = float(graspness_threshold)
        self.min_graspable_points = int(min_graspable_points)

    def transform(self, results: dict) -> Optional[dict]:
        import torch
        from graspcontrast_mm.structures.grasp_targets import pack_grasp_labels
        missing = [k for k in ('objectness_label', 'graspness_label', 'pts_instance_mask',
                               'object_ids', 'object_poses', 'grasp_points',
                               'grasp_widths', 'grasp_scores') if k not in results]
        if missing:
            raise KeyError(f'PackGraspInputs needs {missing}; run LoadGraspLabels first')
        objectness = np.asarray(results['objectness_label'], np.int64)
        graspness = np.asarray(results['graspness_label'], np.float32)
        seg = np.asarray(results['pts_instance_mask'], np.int64)
        num_graspable = int(np.count_nonzero((objectness == 1) &
                                             (graspness > self.graspness_threshold)))
        ids = np.asarray(results['object_ids'], np.int64)
        counts = np.array([np.count_nonzero(seg == i + 1) for i in ids], np.int64)
        kept = np.flatnonzero(counts >= self.min_object_points)
        if num_graspable < self.min_graspable_points or len(kept) == 0:
            print_log(f'{_view_name(results)}: {num_graspable} graspable points (need '
                      f'{self.min_graspable_points}), {len(kept)} objects with >= '
                      f'{self.min_object_points} points; skipping the sample',
                      logger='current', level=_WARNING)
            return None
        aug = np.asarray(results.get('aug_mat', np.eye(4)), np.float64)
        poses = aug[None] @ np.asarray(results['object_poses'], np.float64)[kept]
        packed = super().transform(results)
        sample = packed['data_samples']
        sample.gt_grasp_labels = pack_grasp_labels(
            objectness, graspness, poses[:, :3, :].astype(np.float32),
            [results['grasp_points'][i] for i in kept],
            [results['grasp_widths'][i] for i in kept],
            [results['grasp_scores'][i] for i in kept])
        sample.gt_pts_seg = PointData(pts_instance_mask=torch.from_numpy(seg))
        sample.set_metainfo({'object_ids': [int(i) for i in ids[kept]]})
        return packed

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(meta_keys={self.meta_keys}, '
                f'extra_input_keys={self.extra_input_keys}, '
                f'min_object_points={self.min_object_points}, '
                f'graspness_threshold={self.graspness_threshold}, '
                f'min_graspable_points={self.min_graspable_points})')
