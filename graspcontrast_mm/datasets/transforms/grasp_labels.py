"""Grasp labels of one GraspNet frame for GSNet training (``GraspNetDataset(mode='grasp')``).

Pipeline (see ``docs/data_flow.md``)::

    LoadDepthImage -> DepthToPoints(with_pixel_uv=True) -> LoadGraspLabels
    -> ObjectWorkspaceCrop -> PointSample(20000) -> [RandomFlipRotate] -> Voxelize
    -> PackGraspInputs

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
import os.path as osp
from collections import OrderedDict
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log
from mmdet3d.structures import PointData

from graspcontrast_mm.registry import TRANSFORMS
from graspcontrast_mm.structures import invert_transform, transform_points
from graspcontrast_mm.structures.points import nearest_neighbors
from .formatting import PackPointsInputs
from .loading import read_single_channel_image
from .points import _view_name, select_points
from .view_pair import view_points_world

__all__ = [
    'GRASPNESS_SOURCES', 'read_meta_poses', 'read_label_image',
    'reference_num_grasp_points', 'compute_frame_graspness', 'LoadGraspLabels',
    'ObjectWorkspaceCrop', 'PackGraspInputs'
]

_WARNING = 30  # logging.WARNING
#: Where :class:`LoadGraspLabels` takes the point graspness from.
GRASPNESS_SOURCES = ('auto', 'file', 'compute')


def read_meta_poses(meta_path: str) -> Tuple[np.ndarray, np.ndarray]:
    """Object ids and poses of a frame from GraspNet's ``meta/NNNN.mat``.

    Args:
        meta_path: path of the ``.mat`` file (``poses`` (3, 4, n), ``cls_indexes`` (1, n)).

    Returns:
        tuple: ``object_ids`` int64 (n,) 0-based (``cls_indexes - 1``) and ``poses``
        float64 (n, 4, 4) ``T_cam_obj`` (camera frame of this frame, metres).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file lacks ``poses`` / ``cls_indexes`` or their shapes disagree.
    """
    if not osp.isfile(meta_path):
        raise FileNotFoundError(f'meta file not found: {meta_path}')
    import scipy.io
    meta = scipy.io.loadmat(meta_path, variable_names=['poses', 'cls_indexes'])
    if 'poses' not in meta or 'cls_indexes' not in meta:
        raise ValueError(f'{meta_path}: needs poses and cls_indexes')
    cls = np.asarray(meta['cls_indexes']).reshape(-1)
    poses = np.asarray(meta['poses'], np.float64)
    if poses.ndim == 2 and len(cls) == 1:
        poses = poses[:, :, None]
    if poses.shape[:2] != (3, 4) or poses.reshape(3, 4, -1).shape[2] != len(cls):
        raise ValueError(f'{meta_path}: poses {poses.shape} do not match '
                         f'{len(cls)} cls_indexes (expected (3, 4, n))')
    poses = poses.reshape(3, 4, -1)
    out = np.tile(np.eye(4), (len(cls), 1, 1))
    out[:, :3, :] = np.transpose(poses, (2, 0, 1))
    return np.rint(cls).astype(np.int64) - 1, out


def read_label_image(label_path: str) -> np.ndarray:
    """Read GraspNet's ``label/NNNN.png`` (uint8, ``obj_id + 1`` per pixel, 0 = none).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: undecodable or not single-channel.
    """
    return read_single_channel_image(label_path, 'label image')


def reference_num_grasp_points(num_points: int) -> int:
    """Grasp points kept per object by the GSNet reference: ``min(max(Np // 4, 300), Np)``."""
    return int(min(max(num_points // 4, 300), num_points))


class _LRUCache:
    """A small least-recently-used cache (one per transform instance, i.e. per worker)."""

    def __init__(self, size: int) -> None:
        self.size = max(0, int(size))
        self._data: 'OrderedDict[Any, Any]' = OrderedDict()

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        if key in self._data:
            self._data.move_to_end(key)
            return self._data[key]
        value = load()
        if self.size > 0:
            self._data[key] = value
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._data)


@TRANSFORMS.register_module()
class LoadGraspLabels(BaseTransform):
    """Load a frame's segmentation, object poses, grasp labels and point graspness.

    Run it right after ``DepthToPoints(with_pixel_uv=True)``: it indexes the label image
    (and a graspness map) with ``pixel_uv``, so it works on any subset of the pixels, but
    graspness computed from the labels is normalised over the points present (all of the
    frame's object pixels when it runs before cropping, as the graspness files are).

    Required keys: ``points`` (N, 3) (camera frame, or augmented with ``aug_mat``),
    ``pixel_uv`` int (N, 2) ``(u, v)``, ``meta_path``, ``label_path``, ``grasp_label_dir``,
    ``collision_label_path``, ``scene_object_ids`` (``object_id_list.txt`` order); optional
    ``graspness_path``, ``aug_mat``. ``GraspNetDataset(mode='grasp')`` provides them.

    Added keys: see the module docstring (``pts_instance_mask``, ``objectness_label``,
    ``graspness_label``, ``object_ids``, ``object_poses``, ``grasp_points``,
    ``grasp_widths``, ``grasp_scores``) and ``graspness_source`` (``'file'`` or
    ``'compute'``: where this frame's graspness came from).

    Grasp labels: the scores of ``grasp_label/XXX_labels.npz`` with the scene's collision
    array (``collision_labels.npz``, ``arr_i`` for the ``i``-th object of
    ``object_id_list.txt``) applied: a grasp counts when ``0 < mu`` and it does not collide
    (graspnetAPI ``loadGrasp`` and the GSNet reference read only the scene array;
    ``with_object_collision=True`` also ORs in the npz's own ``collision``).

    Graspness sources (``graspness_source``):

    - ``'file'``: ``graspness/scene_XXXX/{camera}/NNNN.npy``, a per-pixel (H, W) map (see
      ``docs/data_flow.md``), read at ``pixel_uv``; missing file -> ``FileNotFoundError``;
    - ``'compute'``: from the labels, with the rule of those files: a grasp point's
      graspness is the fraction of its 300 x 12 x 4 grasps with
      ``0 < mu <= graspness_fric_thresh`` (0.8) and no collision; an object point takes the
      value of the nearest grasp point of the same object (camera frame, ``T_cam_obj``);
      the values are divided by their maximum over the frame's object points; background 0;
    - ``'auto'`` (default): the file when it exists, else computed.

    Caches (per transform instance, i.e. per dataloader worker): the last
    ``label_cache_size`` objects' label arrays and the last ``collision_cache_size``
    scenes' collision arrays (real GraspNet scenes: up to a few hundred MB each).

    Raises:
        FileNotFoundError: a label file is missing (the message names the path).
        KeyError: ``pixel_uv`` / ``points`` missing (run ``DepthToPoints(with_pixel_uv=True)``).
        ValueError: inconsistent files (object not in ``object_id_list.txt``, collision
            and label shapes disagree, label image smaller than the depth image).

    Args:
        graspness_source: ``'auto'``, ``'file'`` or ``'compute'``.
        graspness_fric_thresh: largest friction coefficient counted in the graspness.
        num_grasp_points: grasp points kept per object: ``None`` all, an int a random
            subset of that many, ``'reference'`` the GSNet reference's
            ``min(max(Np // 4, 300), Np)`` (numpy's global RNG, seeded by mmengine).
        with_object_collision: also apply the npz's own ``collision`` array.
        label_cache_size: objects whose label arrays are kept in memory.
        collision_cache_size: scenes whose collision arrays are kept in memory.
    """

    def __init__(self,
                 graspness_source: str = 'auto',
                 graspness_fric_thresh: float = 0.8,
                 num_grasp_points: Optional[Union[int, str]] = None,
                 with_object_collision: bool = False,
                 label_cache_size: int = 32,
                 collision_cache_size: int = 2) -> None:
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
            if not osp.isfile(path):
                raise FileNotFoundError(f'grasp label file not found: {path}')
            with np.load(path) as f:
                missing = [k for k in ('points', 'offsets', 'scores') if k not in f.files]
                if missing:
                    raise ValueError(f'{path}: missing arrays {missing}')
                out = dict(points=f['points'].astype(np.float32),
                           widths=np.ascontiguousarray(f['offsets'][..., 2],
                                                       dtype=np.float32),
                           scores=f['scores'].astype(np.float32))
                if self.with_object_collision and 'collision' in f.files:
                    out['collision'] = f['collision'].astype(bool)
            return out

        return self._labels.get(path, load)

    def _scene_collisions(self, path: str) -> Dict[str, Any]:
        def load():
            if not osp.isfile(path):
                raise FileNotFoundError(f'collision label file not found: {path}')
            from graspcontrast_mm.synthetic.collision_labels import load_collision_labels
            return dict(arrays=load_collision_labels(path), graspness={})

        return self._collisions.get(path, load)

    def _grasp_point_graspness(self, entry: Dict[str, Any], index: int,
                               scores: np.ndarray, collision: np.ndarray) -> np.ndarray:
        cached = entry['graspness'].get(index)
        if cached is None:
            from graspcontrast_mm.synthetic.collision_labels import point_graspness
            cached = point_graspness(scores, collision, self.graspness_fric_thresh)
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
        seg = read_label_image(results['label_path'])
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
            gmap = np.load(path)
            if gmap.shape != tuple(shape):
                raise ValueError(f'graspness map {path} has shape {gmap.shape}, the label '
                                 f'image {tuple(shape)}')
            values = gmap[uv[:, 1], uv[:, 0]].astype(np.float32)
            values[seg_points == 0] = 0.0
            return np.clip(np.nan_to_num(values), 0.0, 1.0), 'file'
        return compute_frame_graspness(
            results['points'], seg_points, object_ids, poses, label_graspness,
            aug_mat=results.get('aug_mat')), 'compute'

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(graspness_source={self.graspness_source!r}, '
                f'graspness_fric_thresh={self.graspness_fric_thresh}, '
                f'num_grasp_points={self.num_grasp_points!r}, '
                f'with_object_collision={self.with_object_collision}, '
                f'label_cache_size={self.label_cache_size}, '
                f'collision_cache_size={self.collision_cache_size})')


def compute_frame_graspness(points: np.ndarray,
                            seg_points: np.ndarray,
                            object_ids: Sequence[int],
                            poses_cam_obj: np.ndarray,
                            label_graspness: Sequence[Tuple[np.ndarray, np.ndarray]],
                            aug_mat: Optional[np.ndarray] = None) -> np.ndarray:
    """Per-point graspness of a frame, the rule of the ``graspness/`` files.

    Args:
        points: (N, 3) points, camera frame (or augmented, see ``aug_mat``), metres.
        seg_points: int (N,) segmentation id per point (``obj_id + 1``, 0 = background).
        object_ids: K object ids, in the order of ``poses_cam_obj``.
        poses_cam_obj: (K, 4, 4) ``T_cam_obj``.
        label_graspness: K pairs ``(grasp_points (Np, 3) object frame, graspness (Np,))``.
        aug_mat: optional (4, 4) ``T_aug_cam`` of ``points`` (identity when None).

    Returns:
        np.ndarray: float32 (N,) in [0, 1]: an object point takes the graspness of the
        nearest grasp point of its own object; divided by the maximum over the object
        points (all zeros when that is 0); 0 on background points and on points of objects
        without labels.
    """
    points = np.asarray(points, np.float64)
    if aug_mat is not None and not np.allclose(aug_mat, np.eye(4)):
        points = transform_points(invert_transform(np.asarray(aug_mat, np.float64)), points)
    out = np.zeros(len(points), np.float64)
    for obj_id, T, (label_pts, g) in zip(object_ids, poses_cam_obj, label_graspness):
        mask = seg_points == int(obj_id) + 1
        if not mask.any() or len(label_pts) == 0:
            continue
        label_cam = transform_points(np.asarray(T, np.float64),
                                     np.asarray(label_pts, np.float64))
        _, idx = nearest_neighbors(points[mask], label_cam)
        out[mask] = np.asarray(g, np.float64)[idx]
    peak = out.max() if len(out) else 0.0
    if peak > 0:
        out /= peak
    return out.astype(np.float32)


@TRANSFORMS.register_module()
class ObjectWorkspaceCrop(BaseTransform):
    """Keep the points inside the objects' bounding box (plus a margin) in the table frame.

    GSNet's workspace: the axis-aligned box of the object points (``objectness_label == 1``)
    in the table / world frame (``cam2world @ inv(aug_mat) @ p``), grown by ``margin`` on
    every side (reference: 0.02 m); everything outside (far table, background) is dropped.
    Bounds are inclusive.

    Required keys: ``points``, ``objectness_label`` (or ``pts_instance_mask``),
    ``cam2world`` (4, 4) ``T_world_cam``; optional ``aug_mat``. Modified keys: ``points`` and
    every per-point array (``PER_POINT_KEYS`` and ``point_keys``). Added key:
    ``workspace_bounds`` float64 (2, 3) world frame, metres.

    A frame with fewer than ``min_object_points`` object points, or fewer than
    ``min_points`` points in the box, is skipped: a warning is logged and None returned
    (mmengine's dataset draws another sample).

    Args:
        margin: growth of the object box on every side, metres.
        min_object_points: smallest number of object points needed to define the box.
        min_points: smallest number of points left after cropping.
        point_keys: extra per-point keys to crop along with ``points``.
    """

    def __init__(self, margin: float = 0.02, min_object_points: int = 1,
                 min_points: int = 1, point_keys: Sequence[str] = ()) -> None:
        if margin < 0:
            raise ValueError(f'margin must be >= 0 (metres), got {margin}')
        self.margin = float(margin)
        self.min_object_points = max(1, int(min_object_points))
        self.min_points = int(min_points)
        self.point_keys = tuple(point_keys)

    def transform(self, results: dict) -> Optional[dict]:
        if 'cam2world' not in results:
            raise KeyError("ObjectWorkspaceCrop needs 'cam2world' (4x4 T_world_cam)")
        if results.get('objectness_label') is not None:
            is_object = np.asarray(results['objectness_label']) > 0
        elif results.get('pts_instance_mask') is not None:
            is_object = np.asarray(results['pts_instance_mask']) > 0
        else:
            raise KeyError("ObjectWorkspaceCrop needs 'objectness_label' or "
                           "'pts_instance_mask'; run LoadGraspLabels first")
        num_obj = int(np.count_nonzero(is_object))
        if num_obj < self.min_object_points:
            print_log(f'{num_obj} object points in {_view_name(results)} (need '
                      f'{self.min_object_points}); skipping the sample', logger='current',
                      level=_WARNING)
            return None
        world = view_points_world(results)
        lo = world[is_object].min(axis=0) - self.margin
        hi = world[is_object].max(axis=0) + self.margin
        inside = np.all((world >= lo) & (world <= hi), axis=1)
        if np.count_nonzero(inside) < self.min_points:
            print_log(f'{np.count_nonzero(inside)} points in the object workspace of '
                      f'{_view_name(results)} (need {self.min_points}); skipping the sample',
                      logger='current', level=_WARNING)
            return None
        results['workspace_bounds'] = np.stack([lo, hi])
        return select_points(results, inside, self.point_keys)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(margin={self.margin}, '
                f'min_object_points={self.min_object_points}, min_points={self.min_points}, '
                f'point_keys={self.point_keys})')


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
