"""Grasp sources: depth image + intrinsics -> graspnetAPI grasp rows in the camera frame.

A grasp source is any object with::

    predict(depth_m: float32 (H, W) metres, K: (3, 3) pixels, mask: (H, W) bool | None)
        -> (N, 17) grasp rows in the CAMERA frame (graspnetAPI convention, metres)

(:class:`GraspSource`). Two are provided:

* :class:`InferencerGraspSource`: adapter around a learned detector, by default
  ``graspcontrast_mm.apis.GraspInferencer`` (built lazily from a config and / or a
  checkpoint), fed the metric depth, ``K`` and a workspace mask (the planner's workspace
  box intersected with the box around the objects on the table, as GSNet's test-time
  object crop), with the detector's collision filter and top-k; or any object with
  ``predict`` / ``__call__`` that returns a graspnetAPI ``GraspGroup``, an (N, 17) array
  or an mmengine-style ``{'predictions': [...]}`` dict.
* :class:`GeometricBaselineSource`: a model-free reference. It fits the table plane by
  RANSAC, segments the points above it into clusters (connected pixels without depth
  jumps), and proposes for each cluster a grasp straight down onto its highest part, closing
  across the smallest horizontal extent of that part.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from graspcontrast_mm.structures.frames import check_intrinsics, depth_to_points
from graspcontrast_mm.structures.plane_fit import ransac_plane
from graspcontrast_mm.structures.grasp import (GRASP_ARRAY_LEN, GRASP_MAX_WIDTH,
                                               make_grasp_array)

__all__ = [
    'ROBOT_COLLISION_CFG',
    'GraspSource', 'InvalidObservationError', 'sanitize_depth', 'as_grasp_array',
    'InferencerGraspSource', 'BaselineConfig', 'GeometricBaselineSource', 'fit_table_plane',
    'object_workspace_mask'
]


#: Collision filter of the robot's model source (``GraspInferencer``'s ``collision_cfg``):
#: graspnet-baseline's ``ModelFreeCollisionDetector`` rule as its demo runs it (scene
#: voxel 1 cm, 5 cm approach path, collision when the points inside the gripper exceed
#: 1% of its volume in voxels), which tolerates the stray points of a noisy sensor that the
#: zero-point rule rejects.
ROBOT_COLLISION_CFG: Dict[str, Any] = dict(iou_thresh=0.01, voxel_size=0.01,
                                           approach_dist=0.05)


class InvalidObservationError(ValueError):
    """A depth image (or its intrinsics) cannot be used for grasp detection."""


class GraspSource:
    """Interface of a grasp source (duck typing: any object with this ``predict`` works).

    Attributes:
        wants_workspace_mask: When True, :func:`~robot_integration.pipeline.perceive_and_plan`
            passes the pixels whose points lie inside the planner's workspace box as
            ``mask`` (False: no mask, the source sees the whole image).
    """

    wants_workspace_mask: bool = False

    def predict(self, depth_m: np.ndarray, K: np.ndarray,
                mask: Optional[np.ndarray] = None) -> np.ndarray:
        """Detect grasps.

        Args:
            depth_m: float32 (H, W) depth along the optical axis, metres; 0 = invalid.
            K: (3, 3) intrinsics, pixels.
            mask: optional (H, W) bool region of interest.

        Returns:
            np.ndarray: float32 (N, 17) graspnetAPI rows in the camera frame.
        """
        raise NotImplementedError


def sanitize_depth(depth_m, K=None, *, min_valid_ratio: float = 0.05,
                   max_depth: float = 10.0) -> Tuple[np.ndarray, float]:
    """Validate a metric depth image and zero its invalid pixels.

    Args:
        depth_m: (H, W) depth in metres. NaN, inf, negative values and values above
            ``max_depth`` are invalid and set to 0.
        K: optional (3, 3) intrinsics, validated too.
        min_valid_ratio: Smallest fraction of valid pixels.
        max_depth: Largest plausible depth, metres.

    Returns:
        tuple: float32 (H, W) clean depth (0 = invalid) and the valid fraction.

    Raises:
        InvalidObservationError: not a 2-D numeric image, empty, too few valid pixels, or
            invalid intrinsics.
    """
    if depth_m is None:
        raise InvalidObservationError('no depth image')
    try:
        depth = np.array(depth_m, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise InvalidObservationError(f'depth image is not numeric: {err}') from err
    if depth.ndim != 2 or depth.size == 0:
        raise InvalidObservationError(f'depth image must be a non-empty (H, W) array, got '
                                      f'shape {depth.shape}')
    if K is not None:
        try:
            check_intrinsics(K)
        except ValueError as err:
            raise InvalidObservationError(str(err)) from err
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(depth) & (depth > 0) & (depth <= max_depth)
    depth[~valid] = 0.0
    ratio = float(valid.mean())
    if ratio < min_valid_ratio:
        raise InvalidObservationError(
            f'only {100 * ratio:.1f}% of the depth pixels are valid (NaN / 0 / out of '
            f'range elsewhere); at least {100 * min_valid_ratio:.1f}% required')
    return depth, ratio


def as_grasp_array(result: Any) -> np.ndarray:
    """Convert the output of a grasp detector to float32 (N, 17) rows.

    Accepts a graspnetAPI ``GraspGroup`` (``grasp_group_array``), an (N, 17) array or tensor,
    ``None`` / empty (no grasp), a single-element list / tuple, or a dict with one of the
    keys ``predictions`` (mmengine inferencers; first element used), ``grasp_group``,
    ``grasp_group_array``, ``grasps``.

    Raises:
        TypeError: an output of another kind.
        ValueError: an array of the wrong shape.
    """
    if result is None:
        return np.zeros((0, GRASP_ARRAY_LEN), np.float32)
    if hasattr(result, 'grasp_group_array'):
        result = result.grasp_group_array
    elif isinstance(result, dict):
        for key in ('predictions', 'grasp_group', 'grasp_group_array', 'grasps'):
            if key in result:
                return as_grasp_array(result[key])
        raise TypeError(f'cannot find grasps in a dict with keys {sorted(result)}')
    elif isinstance(result, (list, tuple)):
        if len(result) == 0:
            return np.zeros((0, GRASP_ARRAY_LEN), np.float32)
        first = result[0]
        if hasattr(first, 'grasp_group_array') or isinstance(first, (dict, list, tuple)) \
                and len(result) == 1:
            return as_grasp_array(first)
    if hasattr(result, 'detach'):
        result = result.detach().cpu().numpy()
    try:
        arr = np.asarray(result, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise TypeError(f'cannot convert {type(result).__name__} to grasp rows') from err
    if arr.size == 0:
        return np.zeros((0, GRASP_ARRAY_LEN), np.float32)
    if arr.ndim == 1 and arr.shape[0] == GRASP_ARRAY_LEN:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != GRASP_ARRAY_LEN:
        raise ValueError(f'grasp rows must have shape (N, {GRASP_ARRAY_LEN}), got {arr.shape}')
    return arr


def _default_inputs(depth_m: np.ndarray, K: np.ndarray,
                    mask: Optional[np.ndarray]) -> Dict[str, Any]:
    """Input of ``GraspInferencer``: one depth dict (float metres, ``depth_scale`` 1)."""
    inputs: Dict[str, Any] = dict(depth=np.asarray(depth_m, np.float32),
                                  intrinsics=np.asarray(K, np.float64), depth_scale=1.0)
    if mask is not None:
        inputs['mask'] = np.asarray(mask, bool)
    return inputs


def object_workspace_mask(depth_m: np.ndarray, K: np.ndarray,
                          mask: Optional[np.ndarray] = None, *, margin: float = 0.02,
                          config: Optional['BaselineConfig'] = None
                          ) -> Optional[np.ndarray]:
    """Pixels inside the box around the objects on the table (plus a margin).

    The depth-image counterpart of the ``ObjectWorkspaceCrop`` of GSNet's test pipeline
    (which needs a label image): the table plane is fitted by RANSAC, the object points
    are the clusters above it (:meth:`GeometricBaselineSource.segment`), and the box is
    their extent along the two in-plane axes and from the table plane to their highest
    point, grown by ``margin`` on every side (so the table around the objects is kept).

    Args:
        depth_m: float32 (H, W) depth, metres (0 = invalid).
        K: (3, 3) intrinsics, pixels.
        mask: optional (H, W) bool region the objects are searched in (and the result is
            restricted to).
        margin: Growth of the box, metres.
        config: Segmentation parameters (default :class:`BaselineConfig`).

    Returns:
        np.ndarray or None: bool (H, W) mask, or None when no object is found.
    """
    seg = GeometricBaselineSource(config)
    n, d, labels, cloud, height = seg.segment(depth_m, K, mask)
    obj = labels > 0
    if not obj.any():
        return None
    e1 = np.cross(n, [1.0, 0.0, 0.0] if abs(n[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    basis = np.stack([e1, e2, n], axis=1).astype(np.float32)  # columns: table-frame axes
    coords = cloud @ basis  # (H, W, 3): in-plane coordinates and height (up to offset)
    coords[..., 2] = height
    lo = coords[obj].min(0) - margin
    hi = coords[obj].max(0) + margin
    lo[2] = -margin  # objects rest on the table: their box reaches down to it
    valid = np.asarray(depth_m) > 0
    out = valid & np.all((coords >= lo) & (coords <= hi), axis=-1)
    if mask is not None:
        out &= np.asarray(mask, bool)
    return out if out.any() else None


class InferencerGraspSource(GraspSource):
    """Grasp source backed by a learned detector (built on first use).

    With ``graspcontrast_mm.apis.GraspInferencer`` (the default, built from ``config`` and /
    or ``checkpoint``), one :meth:`predict` runs::

        infer(dict(depth=depth_m, intrinsics=K, depth_scale=1.0, mask=mask), seed=seed,
              top_k=top_k, score_thr=score_thr, collision_filter=collision_filter)

    on the float depth in metres, where ``mask`` is the caller's mask intersected with the
    object workspace (``workspace='objects'``, see :func:`object_workspace_mask`), and
    returns the ``GraspGroup`` rows (camera frame, sorted by score). No object on the table
    (or an empty result) gives an (0, 17) array, which the planner reports as a
    :class:`~robot_integration.planner.PlanningFailure` (``'no_candidates'``).

    Args:
        inferencer: A ready detector: an object with ``predict(depth_m, K, mask=None)``
            (used as is: no workspace crop and no selection arguments), or a callable in
            the style of ``GraspInferencer.__call__`` (``f(inputs, **kwargs)``, inputs built
            by ``build_inputs``). ``None``: build ``GraspInferencer(config, checkpoint,
            device=device, **inferencer_kwargs)`` at the first use.
        config: Model config path, or None to take the config embedded in ``checkpoint``
            (``meta['cfg']``, written by mmengine's runner).
        checkpoint: Checkpoint path.
        device: Torch device string.
        collision_filter: Let the detector drop grasps whose gripper collides with the
            observed cloud (``GraspInferencer``'s model-free check). The planner runs its own
            collision test in any case.
        top_k: Keep at most this many best-scored grasps (None: all).
        score_thr: Drop grasps scored below this (None: keep all).
        seed: Seed of the detector's point sampling (same image and seed -> same grasps).
        workspace: ``'objects'``: only the box around the objects above the table plane
            (plus ``object_margin``) is given to the detector, as in GSNet's test pipeline;
            ``'full'``: every valid pixel (inside ``mask``).
        object_margin: Margin of the object box, metres.
        use_workspace_mask: Ask :func:`~robot_integration.pipeline.perceive_and_plan` for
            the planner's workspace as a pixel mask (:attr:`wants_workspace_mask`).
        inferencer_kwargs: Extra keyword arguments of ``GraspInferencer`` (e.g.
            ``num_points``, ``collision_cfg``, ``test_cfg``).
        build_inputs: ``f(depth_m, K, mask) -> inputs`` for callable detectors; default a
            dict ``{'depth': (H, W) metres, 'intrinsics': (3, 3), 'depth_scale': 1.0,
            'mask': (H, W) bool (if any)}``.
        call_kwargs: Extra keyword arguments of every call (override the ones above).
        max_grasps: Keep at most this many best-scored rows after the call (None: all).
        strict: Load the checkpoint strictly (``GraspInferencer(strict=...)``, the loader of
            ``tools/test.py`` too): missing, unexpected or wrong-shape keys and NaN weights
            are an error at :meth:`build`.
        support_plane: Scene-aware inference (``GraspInferencer``'s ``support_plane``: the
            support plane is fitted on the whole image and grasps whose centre is on or
            below it are dropped). On by default for the robot; AP evaluation keeps it off.
        collision_cfg: ``GraspInferencer(collision_cfg=...)`` unless ``inferencer_kwargs``
            has one; default :data:`ROBOT_COLLISION_CFG` (the reference tolerance of
            graspnet-baseline's ``ModelFreeCollisionDetector``).

    Raises:
        ValueError: neither an inferencer nor a config / checkpoint, or a bad option.
    """

    def __init__(self, inferencer: Any = None, *, config: Optional[str] = None,
                 checkpoint: Optional[str] = None, device: str = 'cpu',
                 collision_filter: bool = True, top_k: Optional[int] = None,
                 score_thr: Optional[float] = None, seed: Optional[int] = 0,
                 workspace: str = 'objects', object_margin: float = 0.02,
                 use_workspace_mask: bool = True,
                 inferencer_kwargs: Optional[Dict[str, Any]] = None,
                 build_inputs: Optional[Callable] = None,
                 call_kwargs: Optional[Dict[str, Any]] = None,
                 max_grasps: Optional[int] = None,
                 strict: bool = True,
                 support_plane: bool = True,
                 collision_cfg: Optional[Dict[str, Any]] = None) -> None:
        if inferencer is None and config is None and checkpoint is None:
            raise ValueError('give a ready inferencer, or a model config and / or a '
                             'checkpoint (a checkpoint written by mmengine embeds its config)')
        if workspace not in ('objects', 'full'):
            raise ValueError(f"workspace must be 'objects' or 'full', got {workspace!r}")
        if top_k is not None and int(top_k) < 1:
            raise ValueError(f'top_k must be >= 1 or None, got {top_k}')
        if object_margin < 0:
            raise ValueError(f'object_margin must be >= 0, got {object_margin}')
        self._inferencer = inferencer
        self.config = config
        self.checkpoint = checkpoint
        self.device = device
        self.collision_filter = bool(collision_filter)
        self.top_k = None if top_k is None else int(top_k)
        self.score_thr = score_thr
        self.seed = seed
        self.workspace = workspace
        self.object_margin = float(object_margin)
        self.wants_workspace_mask = bool(use_workspace_mask)
        self.inferencer_kwargs = dict(inferencer_kwargs or {})
        self.build_inputs = build_inputs or _default_inputs
        self.call_kwargs = dict(call_kwargs or {})
        self.max_grasps = max_grasps
        self.strict = bool(strict)
        self.support_plane = bool(support_plane)
        self.inferencer_kwargs.setdefault('collision_cfg',
                                          dict(collision_cfg or ROBOT_COLLISION_CFG))
        #: Details of the last :meth:`predict` (workspace pixels, rows, summary).
        self.last_info: Dict[str, Any] = {}

    @property
    def inferencer(self) -> Any:
        """The wrapped detector, built from ``config`` / ``checkpoint`` on first access."""
        if self._inferencer is None:
            try:
                from graspcontrast_mm.apis import GraspInferencer
            except ImportError as err:
                raise ImportError(
                    'graspcontrast_mm.apis.GraspInferencer is not available; pass a ready '
                    f'inferencer instead ({err})') from err
            kwargs = dict(self.inferencer_kwargs)
            kwargs.setdefault('strict', self.strict)
            self._inferencer = GraspInferencer(self.config, self.checkpoint,
                                               device=self.device, **kwargs)
        return self._inferencer

    def build(self) -> 'InferencerGraspSource':
        """Build the detector now (so that a bad config or checkpoint fails early).

        Returns:
            InferencerGraspSource: ``self``.
        """
        _ = self.inferencer
        return self

    def call_arguments(self) -> Dict[str, Any]:
        """Keyword arguments of a callable detector's call."""
        kwargs: Dict[str, Any] = dict(seed=self.seed, top_k=self.top_k,
                                      collision_filter=self.collision_filter,
                                      support_plane=self.support_plane)
        if self.score_thr is not None:
            kwargs['score_thr'] = float(self.score_thr)
        kwargs.update(self.call_kwargs)
        return kwargs

    def predict(self, depth_m, K, mask=None) -> np.ndarray:
        """See :meth:`GraspSource.predict`.

        Raises:
            InvalidObservationError: unusable depth image or intrinsics.
            TypeError: the detector has neither ``predict`` nor ``__call__`` or returns
                something that is not a grasp list.
        """
        inf = self.inferencer
        self.last_info = {}
        if callable(getattr(inf, 'predict', None)) and not _is_mmengine_inferencer(inf):
            out = inf.predict(depth_m, K, mask=mask, **self.call_kwargs)
        elif callable(inf):
            depth, _ = sanitize_depth(depth_m, K, min_valid_ratio=0.0)
            K = np.asarray(K, np.float64)
            if mask is not None:
                mask = np.asarray(mask, bool)
                if mask.shape != depth.shape:
                    raise InvalidObservationError(
                        f'mask has shape {mask.shape} but the depth image has {depth.shape}')
            region = mask
            if self.workspace == 'objects':
                region = object_workspace_mask(depth, K, mask, margin=self.object_margin)
                if region is None:  # nothing above the table: no grasp
                    self.last_info = dict(workspace_pixels=0, num_grasps=0)
                    return np.zeros((0, GRASP_ARRAY_LEN), np.float32)
            elif region is not None and not region.any():
                self.last_info = dict(workspace_pixels=0, num_grasps=0)
                return np.zeros((0, GRASP_ARRAY_LEN), np.float32)
            out = inf(self.build_inputs(depth, K, region), **self.call_arguments())
            self.last_info['workspace_pixels'] = (int(region.sum()) if region is not None
                                                  else int((depth > 0).sum()))
            if isinstance(out, dict) and out.get('summaries'):
                self.last_info['summary'] = out['summaries'][0]
        else:
            raise TypeError(f'{type(inf).__name__} has neither predict() nor __call__()')
        rows = as_grasp_array(out)
        if not np.isfinite(rows).all():
            rows = rows[np.isfinite(rows).all(axis=1)]
        if self.max_grasps is not None and len(rows) > self.max_grasps:
            rows = rows[np.argsort(-rows[:, 0], kind='stable')[:self.max_grasps]]
        self.last_info['num_grasps'] = int(len(rows))
        return rows


def _is_mmengine_inferencer(obj: Any) -> bool:
    """Whether ``obj`` is an mmengine inferencer (its ``predict`` is not a grasp source's)."""
    try:
        from mmengine.infer import BaseInferencer
    except ImportError:
        return False
    return isinstance(obj, BaseInferencer)


def fit_table_plane(points: np.ndarray, *, iterations: int = 200, threshold: float = 0.004,
                    max_samples: int = 5000, seed: int = 0) -> Tuple[np.ndarray, float]:
    """Dominant plane of a camera-frame cloud: seeded RANSAC and a least-squares refit on
    its inliers (``graspcontrast_mm.structures.ransac_plane``, reproducible, unlike Open3D's
    ``segment_plane``).

    Args:
        points: (N, 3) camera-frame points, metres, at least 3 finite (non-finite rows
            are ignored).
        iterations: RANSAC hypotheses.
        threshold: Inlier distance, metres.
        max_samples: Points drawn for the hypotheses / scoring (deterministic subset).
        seed: Random seed (same input and seed -> same plane).

    Returns:
        tuple: unit normal ``n`` (3,) pointing towards the camera and offset ``d`` such that
        the signed height of a point above the plane is ``n @ p + d`` (metres).

    Raises:
        InvalidObservationError: fewer than 3 finite points or no plane found.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) < 3:
        raise InvalidObservationError('too few points to fit the table plane')
    rng = np.random.default_rng(seed)
    sub = points if len(points) <= max_samples else points[rng.choice(
        len(points), max_samples, replace=False)]
    try:
        plane, index = ransac_plane(sub, float(threshold), int(iterations), seed=int(seed))
    except ValueError as err:
        raise InvalidObservationError(f'no table plane found ({err})') from err
    if len(index) < 3:
        raise InvalidObservationError('no table plane found (degenerate cloud)')
    n, d = plane[:3], float(plane[3])
    if d < 0:  # camera (origin) on the positive side
        n, d = -n, -d
    return n, float(d)


@dataclasses.dataclass
class BaselineConfig:
    """Parameters of :class:`GeometricBaselineSource` (metres).

    Attributes:
        min_object_height: Points higher than this above the table plane are object points.
        max_object_height: Points higher than this are ignored (e.g. the robot).
        depth_jump: Depth difference between neighbouring pixels that separates clusters.
        min_cluster_pixels: Smaller clusters are ignored.
        top_band: Thickness of the top part of a cluster that the fingers enclose.
        grasp_depth: How far the finger tips go below the top of the object.
        tip_clearance: Smallest height of the finger tips above the table plane.
        max_width: Maximum jaw opening.
        second_axis: Also propose closing along the larger horizontal extent (half score).
        plane_seed: RANSAC seed.
    """
    min_object_height: float = 0.008
    max_object_height: float = 0.35
    depth_jump: float = 0.01
    min_cluster_pixels: int = 60
    top_band: float = 0.02
    grasp_depth: float = 0.02
    tip_clearance: float = 0.012
    max_width: float = GRASP_MAX_WIDTH
    second_axis: bool = True
    plane_seed: int = 0


class GeometricBaselineSource(GraspSource):
    """Model-free top-down grasps from a depth image (reference for learned sources).

    For every cluster of points above the table plane: the approach is the plane normal
    pointing into the table; the grasp point is the centre of the cluster's top part
    (points within ``top_band`` of its highest point) at the height of that point; the
    closing direction is the minor principal axis of the top part seen from above and the
    width its extent along that axis. Scores prefer narrow grasps and tall objects (which
    clutter obstructs least). Object ids (column 16) are cluster indices.

    Args:
        config: :class:`BaselineConfig`.
    """

    def __init__(self, config: Optional[BaselineConfig] = None) -> None:
        self.config = config or BaselineConfig()

    def segment(self, depth_m: np.ndarray, K: np.ndarray, mask: Optional[np.ndarray] = None):
        """Table plane and object clusters.

        Returns:
            tuple: ``(normal (3,), offset, labels int32 (H, W) with 0 = none, 1.. = cluster,
            points float32 (H, W, 3) camera frame, heights float32 (H, W))``.
        """
        from scipy import ndimage
        cfg = self.config
        depth, _ = sanitize_depth(depth_m, K, min_valid_ratio=0.0)
        pts, uv = depth_to_points(depth, K)
        if len(pts) < 3:
            raise InvalidObservationError('empty depth image')
        n, d = fit_table_plane(pts, seed=cfg.plane_seed)
        h_img, w_img = depth.shape
        cloud = np.zeros((h_img, w_img, 3), np.float32)
        cloud[uv[:, 1], uv[:, 0]] = pts
        height = np.zeros((h_img, w_img), np.float32)
        height[uv[:, 1], uv[:, 0]] = pts @ n + d
        obj = (depth > 0) & (height > cfg.min_object_height) & (height < cfg.max_object_height)
        if mask is not None:
            obj &= np.asarray(mask, bool)
        # Break clusters at depth jumps.
        jump = np.zeros_like(obj)
        dz_u = np.abs(np.diff(depth, axis=1)) > cfg.depth_jump
        dz_v = np.abs(np.diff(depth, axis=0)) > cfg.depth_jump
        jump[:, 1:] |= dz_u
        jump[:, :-1] |= dz_u
        jump[1:, :] |= dz_v
        jump[:-1, :] |= dz_v
        labels, num = ndimage.label(obj & ~jump)
        if num:
            sizes = np.bincount(labels.ravel(), minlength=num + 1)
            keep = np.nonzero(sizes >= cfg.min_cluster_pixels)[0]
            keep = keep[keep > 0]
            remap = np.zeros(num + 1, np.int32)
            remap[keep] = np.arange(1, len(keep) + 1)
            labels = remap[labels]
        return n, d, labels.astype(np.int32), cloud, height

    def predict(self, depth_m, K, mask=None) -> np.ndarray:
        """See :meth:`GraspSource.predict`; returns float32 (N, 17), camera frame."""
        cfg = self.config
        n, d, labels, cloud, height = self.segment(depth_m, K, mask)
        # In-plane basis (e1, e2) and the plane point closest to the camera.
        e1 = np.cross(n, [1.0, 0.0, 0.0] if abs(n[0]) < 0.9 else [0.0, 1.0, 0.0])
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(n, e1)
        p0 = -d * n
        approach = -n
        rows = []
        for k in range(1, int(labels.max()) + 1):
            sel = labels == k
            h = height[sel].astype(np.float64)
            p = cloud[sel].astype(np.float64)
            top = float(np.percentile(h, 99.5))
            upper = p[h >= top - cfg.top_band]
            if len(upper) < 5:
                continue
            xy = np.stack([upper @ e1, upper @ e2], axis=1)
            centre = xy.mean(0)
            cov = np.cov((xy - centre).T)
            evals, evecs = np.linalg.eigh(cov)  # ascending
            for axis_i, weight in ((0, 1.0), (1, 0.5)):
                if axis_i == 1 and not cfg.second_axis:
                    break
                ax2 = evecs[:, axis_i]
                other = evecs[:, 1 - axis_i]
                s_ax, s_ot = xy @ ax2, xy @ other
                width = float(s_ax.max() - s_ax.min())
                mid = 0.5 * (s_ax.max() + s_ax.min()) * ax2 + 0.5 * (
                    s_ot.max() + s_ot.min()) * other
                closing = ax2[0] * e1 + ax2[1] * e2
                closing /= np.linalg.norm(closing)
                t = p0 + mid[0] * e1 + mid[1] * e2 + top * n
                depth = float(np.clip(top - cfg.tip_clearance, 0.0, cfg.grasp_depth))
                score = weight * (0.5 * max(0.0, 1.0 - width / cfg.max_width) +
                                  0.5 * min(top / 0.1, 1.0))
                z_axis = np.cross(approach, closing)
                R = np.stack([approach, closing, z_axis], axis=1)
                rows.append((score, max(width, 0.005), depth, R, t, k - 1))
        if not rows:
            return np.zeros((0, GRASP_ARRAY_LEN), np.float32)
        s, w, dp, R, t, ids = zip(*rows)
        out = make_grasp_array(np.array(s), np.array(w), np.array(dp), np.stack(R),
                               np.stack(t), np.array(ids))
        return out[np.argsort(-out[:, 0], kind='stable')]
