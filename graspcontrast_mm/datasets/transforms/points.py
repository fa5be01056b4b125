"""Per-view point-cloud transforms: back-projection, cropping, sampling, voxelization.

Every transform here keeps the invariant of ``docs/data_flow.md``:
``points == (aug_mat @ [p_cam, 1])[:, :3]``.

Per-point arrays. Cropping and sampling index every per-point array (first dimension N,
aligned with ``points``) together with ``points``: the keys in :data:`PER_POINT_KEYS` that
are present, plus any listed in a transform's ``point_keys`` argument.
"""
from typing import Iterable, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from graspcontrast_mm.registry import TRANSFORMS
from graspcontrast_mm.structures import (depth_to_points, invert_transform,
                                         random_point_indices, transform_points, voxelize)

__all__ = [
    'PER_POINT_KEYS', 'select_points', 'DepthToPoints', 'WorkspaceCrop', 'PointSample',
    'KeepScenePoints', 'Voxelize'
]

#: Keys of per-point arrays (first dimension aligned with ``points``) that cropping and
#: sampling keep in step with ``points``.
PER_POINT_KEYS: Tuple[str, ...] = (
    'points', 'pixel_uv', 'point_colors', 'pts_semantic_mask', 'pts_instance_mask',
    'objectness_label', 'graspness_label')

_WARNING = 30  # logging.WARNING


def select_points(results: dict, index: np.ndarray, extra_keys: Iterable[str] = ()) -> dict:
    """Index every per-point array of a view in place.

    Args:
        results: a view dict holding ``points`` (N, 3).
        index: int (M,) indices or bool (N,) mask into the points.
        extra_keys: more per-point keys besides :data:`PER_POINT_KEYS`.

    Returns:
        dict: ``results`` with all present per-point arrays indexed.

    Raises:
        ValueError: a per-point array whose length differs from ``len(points)``.
    """
    n = len(results['points'])
    for key in dict.fromkeys(tuple(PER_POINT_KEYS) + tuple(extra_keys)):
        if key not in results or results[key] is None:
            continue
        value = np.asarray(results[key])
        if len(value) != n:
            raise ValueError(f"per-point array '{key}' has {len(value)} rows but "
                             f"'points' has {n}")
        results[key] = value[index]
    return results


def _view_name(results: dict) -> str:
    return (f"scene {results.get('scene_id', '?')} frame {results.get('frame_id', '?')} "
            f"({results.get('depth_path', 'in-memory')})")


@TRANSFORMS.register_module()
class DepthToPoints(BaseTransform):
    """Back-project a metric depth image into a camera-frame point cloud.

    Required keys: ``depth`` (float (H, W) metres, 0 = invalid), ``cam_intrinsic`` (3, 3).
    Optional key: ``depth_mask`` ((H, W) bool, pixels to keep, e.g. a workspace mask).

    Added keys:
        - points (np.float32 (N, 3)): camera frame, metres, row-major pixel order.
        - aug_mat (np.float64 (4, 4)): identity (``T_aug_cam`` before any augmentation).
        - pixel_uv (np.int32 (N, 2)): ``(u, v)`` = (column, row), only with
          ``with_pixel_uv``.

    A view without any depth inside ``[min_depth, max_depth]`` is skipped (warning logged,
    None returned so that mmengine's dataset draws another sample).

    Args:
        min_depth: smallest kept depth, metres.
        max_depth: largest kept depth, metres.
        with_pixel_uv: also write ``pixel_uv``.
        keep_depth: keep the ``depth`` image in the results (drop it to save memory).
    """

    def __init__(self, min_depth: float = 0.1, max_depth: float = 2.0,
                 with_pixel_uv: bool = False, keep_depth: bool = True) -> None:
        if not 0 <= min_depth < max_depth:
            raise ValueError('need 0 <= min_depth < max_depth (metres), got '
                             f'min_depth={min_depth}, max_depth={max_depth}')
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.with_pixel_uv = with_pixel_uv
        self.keep_depth = keep_depth

    def transform(self, results: dict) -> Optional[dict]:
        if 'cam_intrinsic' not in results:
            raise KeyError("DepthToPoints needs 'cam_intrinsic' (3x3 K) in results")
        points, pixel_uv = depth_to_points(
            results['depth'], results['cam_intrinsic'], min_depth=self.min_depth,
            max_depth=self.max_depth, mask=results.get('depth_mask'))
        if len(points) == 0:
            print_log(f'no depth within [{self.min_depth}, {self.max_depth}] m in '
                      f'{_view_name(results)}; skipping the sample', logger='current',
                      level=_WARNING)
            return None
        results['points'] = points
        results['aug_mat'] = np.eye(4)
        if self.with_pixel_uv:
            results['pixel_uv'] = pixel_uv
        if not self.keep_depth:
            results.pop('depth', None)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(min_depth={self.min_depth}, '
                f'max_depth={self.max_depth}, with_pixel_uv={self.with_pixel_uv}, '
                f'keep_depth={self.keep_depth})')


@TRANSFORMS.register_module()
class WorkspaceCrop(BaseTransform):
    """Keep the points that lie inside an axis-aligned box of the world (table) frame.

    World coordinates are ``cam2world @ inv(aug_mat) @ p`` (paper eq. 1), so the crop may
    run before or after augmentation. The box is inclusive on both ends.

    Required keys: ``points`` (N, 3), ``cam2world`` (4, 4) ``T_world_cam``, and
    ``aug_mat`` (4, 4; identity when absent). Modified keys: ``points`` and every other
    per-point array (:data:`PER_POINT_KEYS`, ``point_keys``).

    A view with fewer than ``min_points`` points left is skipped: a warning is logged and
    None is returned, which makes mmengine's dataset draw another sample.

    Args:
        world_bounds: ``((xmin, ymin, zmin), (xmax, ymax, zmax))`` in metres, world frame
            (z up, origin on the table top).
        min_points: smallest accepted number of remaining points.
        point_keys: extra per-point keys to crop along with ``points``.
    """

    def __init__(self,
                 world_bounds: Sequence[Sequence[float]] = ((-0.3, -0.3, -0.02),
                                                            (0.3, 0.3, 0.3)),
                 min_points: int = 1, point_keys: Sequence[str] = ()) -> None:
        bounds = np.asarray(world_bounds, dtype=np.float64)
        if bounds.shape != (2, 3) or np.any(bounds[0] > bounds[1]):
            raise ValueError('world_bounds must be ((xmin, ymin, zmin), (xmax, ymax, zmax)) '
                             f'with min <= max, got {world_bounds}')
        self.world_bounds = bounds
        self.min_points = int(min_points)
        self.point_keys = tuple(point_keys)

    def transform(self, results: dict) -> Optional[dict]:
        if 'cam2world' not in results:
            raise KeyError("WorkspaceCrop needs 'cam2world' (4x4 T_world_cam) in results")
        aug_mat = results.get('aug_mat', np.eye(4))
        world_from_aug = np.asarray(results['cam2world'], np.float64) @ invert_transform(
            aug_mat)
        points_world = transform_points(world_from_aug,
                                        np.asarray(results['points'], np.float64))
        inside = np.all((points_world >= self.world_bounds[0])
                        & (points_world <= self.world_bounds[1]), axis=1)
        if np.count_nonzero(inside) < self.min_points:
            print_log(f'{np.count_nonzero(inside)} points inside the workspace '
                      f'{self.world_bounds.tolist()} for {_view_name(results)} '
                      f'(need {self.min_points}); skipping the sample', logger='current',
                      level=_WARNING)
            return None
        return select_points(results, inside, self.point_keys)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(world_bounds={self.world_bounds.tolist()}, '
                f'min_points={self.min_points}, point_keys={self.point_keys})')


@TRANSFORMS.register_module()
class PointSample(BaseTransform):
    """Randomly sample a fixed number of points (the GSNet rule).

    With N >= ``num_points``: a subset without replacement. With fewer points and
    ``replace_if_fewer``: all points once plus random repeats up to ``num_points``;
    otherwise all N points (shuffled). Uses numpy's global RNG (seeded by mmengine), or,
    with ``seed``, a generator of its own per frame, so that a frame gets the same points
    whatever the order, worker or run (deterministic evaluation).

    Required keys: ``points``; with ``seed`` also ``scene_id`` / ``frame_id`` when present
    (``sample_idx`` otherwise). Modified keys: ``points`` and every other per-point array.

    Args:
        num_points: number of points to keep.
        replace_if_fewer: pad by repetition when the view has fewer points.
        point_keys: extra per-point keys to sample along with ``points``.
        seed: None (global RNG) or a non-negative integer: the frame's points are drawn
            with ``np.random.default_rng(SeedSequence([seed, scene_id, frame_id]))``.
    """

    def __init__(self, num_points: int = 20000, replace_if_fewer: bool = True,
                 point_keys: Sequence[str] = (), seed: Optional[int] = None) -> None:
        if num_points <= 0:
            raise ValueError(f'num_points must be positive, got {num_points}')
        if seed is not None and (int(seed) != seed or seed < 0):
            raise ValueError(f'seed must be None or a non-negative integer, got {seed!r}')
        self.num_points = int(num_points)
        self.replace_if_fewer = replace_if_fewer
        self.point_keys = tuple(point_keys)
        self.seed = None if seed is None else int(seed)

    def _rng(self, results: dict) -> Optional[np.random.Generator]:
        if self.seed is None:
            return None
        key = [self.seed]
        for name in ('scene_id', 'frame_id'):
            if results.get(name) is not None:
                key.append(int(results[name]))
        if len(key) == 1 and results.get('sample_idx') is not None:
            key.append(int(results['sample_idx']))
        return np.random.default_rng(np.random.SeedSequence(key))

    def transform(self, results: dict) -> Optional[dict]:
        n = len(results['points'])
        if n == 0:
            print_log(f'no points to sample in {_view_name(results)}; skipping the sample',
                      logger='current', level=_WARNING)
            return None
        index = random_point_indices(n, self.num_points,
                                     pad_if_fewer=self.replace_if_fewer,
                                     rng=self._rng(results))
        return select_points(results, index, self.point_keys)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_points={self.num_points}, '
                f'replace_if_fewer={self.replace_if_fewer}, point_keys={self.point_keys}, '
                f'seed={self.seed})')


@TRANSFORMS.register_module()
class KeepScenePoints(BaseTransform):
    """Keep a copy of the current cloud as the scene for test-time collision detection.

    Place it after the workspace crop and before ``PointSample``: the GSNet reference
    checks its predicted grasps against the frame's whole workspace cloud, not the
    sampled points. ``PackPointsInputs`` puts the copy on the data sample
    (``data_sample.scene_points``), where ``GSNet`` reads it when
    ``test_cfg['collision_thresh'] > 0``.

    Required keys: ``points`` (N, 3); optional ``aug_mat``. Added key: ``scene_points``
    float32 (N, 3), **camera frame** (``inv(aug_mat)`` applied), metres.
    """

    def transform(self, results: dict) -> dict:
        points = np.asarray(results['points'])
        aug = results.get('aug_mat')
        if aug is not None and not np.allclose(aug, np.eye(4)):
            points = transform_points(invert_transform(aug), points)
        results['scene_points'] = np.array(points, dtype=np.float32)
        return results


@TRANSFORMS.register_module()
class Voxelize(BaseTransform):
    """Quantize the (augmented) points into a sparse voxel grid.

    ``coords = floor(points / voxel_size) - min`` (see
    :func:`graspcontrast_mm.structures.voxelize`); the shift is kept as ``voxel_origin``.

    Required keys: ``points`` (N, 3) metres (current, augmented camera frame).

    Added keys:
        - coords (np.int32 (V, 3)): voxel coordinates, >= 0.
        - feats (np.float32 (V, C)): ``'ones'``: C = 1 ones; ``'ones3'``: C = 3 ones
          (GSNet's input, ``np.ones_like(points)``: the reference backbone has 3 input
          channels); ``'xyz'``: C = 3 mean point of each voxel, metres; ``'ones_xyz'``:
          C = 4, ones and the mean point.
        - point2voxel (np.int64 (N,)): voxel index of every point.
        - voxel_points (np.float32 (V, 3)): mean point of each voxel, metres.
        - voxel_origin (np.float64 (3,)): metres, corner of voxel (0, 0, 0).
        - voxel_size (float): metres.

    Args:
        voxel_size: voxel edge, metres.
        feat_mode: ``'ones'``, ``'ones3'``, ``'xyz'`` or ``'ones_xyz'``.
    """

    #: Feature channels C of every ``feat_mode``.
    FEAT_CHANNELS = {'ones': 1, 'ones3': 3, 'xyz': 3, 'ones_xyz': 4}
    FEAT_MODES = tuple(FEAT_CHANNELS)

    def __init__(self, voxel_size: float = 0.005, feat_mode: str = 'ones') -> None:
        if not voxel_size > 0:
            raise ValueError(f'voxel_size must be positive (metres), got {voxel_size}')
        if feat_mode not in self.FEAT_MODES:
            raise ValueError(f'feat_mode must be one of {self.FEAT_MODES}, got {feat_mode!r}')
        self.voxel_size = float(voxel_size)
        self.feat_mode = feat_mode

    def transform(self, results: dict) -> dict:
        grid = voxelize(results['points'], self.voxel_size)
        ones = np.ones((len(grid.coords), 1), dtype=np.float32)
        if self.feat_mode == 'ones':
            feats = ones
        elif self.feat_mode == 'ones3':
            feats = np.ones((len(grid.coords), 3), dtype=np.float32)
        elif self.feat_mode == 'xyz':
            feats = grid.voxel_points.copy()
        else:
            feats = np.concatenate([ones, grid.voxel_points], axis=1)
        results['coords'] = grid.coords
        results['feats'] = feats
        results['point2voxel'] = grid.point2voxel
        results['voxel_points'] = grid.voxel_points
        results['voxel_origin'] = grid.voxel_origin
        results['voxel_size'] = self.voxel_size
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(voxel_size={self.voxel_size}, '
                f'feat_mode={self.feat_mode!r})')
