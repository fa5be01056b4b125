"""Grasp training labels of GSNet: from graspnetAPI label arrays to per-seed targets.

Two stages.

1. Dataset side (numpy, once per object and frame): :func:`grasp_labels_to_targets` turns
   graspnetAPI's ``grasp_label/XXX_labels.npz`` arrays (``points`` (Np, 3) object frame,
   ``offsets`` (Np, V, A, D, 3) = angle / depth / width, ``scores`` (Np, V, A, D) = minimum
   friction coefficient ``mu``, ``-1`` = no antipodal grasp) and the scene's collision
   mask into ``grasp_points`` / ``grasp_widths`` (metres) / ``grasp_scores``, where the
   score is the friction coefficient ``mu`` of a valid grasp and ``0`` for an invalid or
   colliding one (the GSNet reference dataset's rule; graspnetAPI's ``loadGrasp`` instead
   reports ``1.1 - mu`` for evaluation, which ranks the same). :func:`pack_grasp_labels`
   puts a frame's labels on a data sample.

2. Model side (torch, per batch): :func:`process_grasp_labels` assigns to every seed the
   labels of the nearest ground-truth grasp point (after mapping each object's points into
   the camera frame with its pose ``T_cam_obj``) and re-indexes the object's 300 views so
   that camera-frame view ``j`` carries the labels of the object view whose rotated
   direction is nearest to template view ``j``. :func:`select_view_labels` slices the
   labels of one view per seed, and :func:`friction_to_score_target` maps ``mu`` to the
   score regression target ``log(u_max / mu) / log(u_max / u_min)`` (low friction needed =
   good grasp = target near 1).
"""
from typing import Any, Dict, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.structures import BaseDataElement
from scipy.spatial import cKDTree
from torch import Tensor

from graspcontrast_mm.structures.grasp import GRASP_MAX_WIDTH
from .grasp_geometry import approach_to_rotation

__all__ = [
    'GRASP_LABEL_KEYS', 'grasp_labels_to_targets', 'pack_grasp_labels',
    'check_grasp_labels', 'SeedGraspLabels', 'view_reindex', 'process_grasp_labels',
    'select_view_labels', 'friction_to_score_target'
]

#: Fields of a frame's grasp labels (``data_sample.gt_grasp_labels``).
GRASP_LABEL_KEYS = ('objectness_label', 'graspness_label', 'object_poses', 'grasp_points',
                    'grasp_widths', 'grasp_scores')

ArrayLike = Union[np.ndarray, Tensor]


def grasp_labels_to_targets(points: np.ndarray,
                            offsets_or_widths: np.ndarray,
                            scores: np.ndarray,
                            collision: Optional[np.ndarray] = None,
                            *,
                            num_points: Optional[int] = None,
                            rng: Optional[np.random.Generator] = None
                            ) -> Dict[str, np.ndarray]:
    """Turn one object's graspnetAPI label arrays (+ collision mask) into GSNet targets.

    Args:
        points: ``(Np, 3)`` grasp points, object frame, metres (npz ``points``).
        offsets_or_widths: ``(Np, V, A, D, 3)`` npz ``offsets`` (angle rad, depth m,
            width m) or ``(Np, V, A, D)`` widths in metres (the reference's simplified
            labels).
        scores: ``(Np, V, A, D)`` npz ``scores``: minimum friction coefficient ``mu`` of
            each grasp, ``<= 0`` (``-1``) when there is no antipodal grasp.
        collision: optional bool ``(Np, V, A, D)`` from ``collision_labels.npz`` of the
            scene (``arr_i`` for the scene's ``i``-th object), True = the gripper collides.
        num_points: optionally keep a random subset of this many grasp points (the
            reference keeps ``min(max(Np // 4, 300), Np)``); None keeps all.
        rng: numpy Generator for the subset (default: numpy's global RNG).

    Returns:
        dict: ``grasp_points`` float32 ``(Np', 3)``; ``grasp_widths`` float32
        ``(Np', V, A, D)`` metres; ``grasp_scores`` float32 ``(Np', V, A, D)``: ``mu`` for a
        valid, collision-free grasp and ``0`` otherwise; ``point_indices`` int64 ``(Np',)``
        rows kept.

    Raises:
        ValueError: on inconsistent shapes.
    """
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f'points must be (Np, 3), got {points.shape}')
    arr = np.asarray(offsets_or_widths)
    if arr.ndim == 5 and arr.shape[-1] == 3:
        widths = arr[..., 2]
    elif arr.ndim == 4:
        widths = arr
    else:
        raise ValueError('offsets_or_widths must be (Np, V, A, D, 3) offsets or '
                         f'(Np, V, A, D) widths, got {arr.shape}')
    scores = np.asarray(scores)
    if widths.shape[0] != points.shape[0] or scores.shape != widths.shape:
        raise ValueError(f'points {points.shape}, widths {widths.shape} and scores '
                         f'{scores.shape} do not agree')
    if collision is not None:
        collision = np.asarray(collision, dtype=bool)
        if collision.shape != scores.shape:
            raise ValueError(f'collision must be {scores.shape}, got {collision.shape}')
    n = points.shape[0]
    keep = np.arange(n, dtype=np.int64)
    if num_points is not None and 0 < int(num_points) < n:
        choice = np.random.choice if rng is None else rng.choice
        keep = np.sort(np.asarray(choice(n, int(num_points), replace=False), np.int64))
    out_scores = scores[keep].astype(np.float32, copy=True)
    invalid = ~(out_scores > 0)
    if collision is not None:
        invalid |= collision[keep]
    out_scores[invalid] = 0.0
    return dict(grasp_points=points[keep].astype(np.float32),
                grasp_widths=widths[keep].astype(np.float32),
                grasp_scores=out_scores, point_indices=keep)


def _as_tensor(value: Any, dtype: torch.dtype, device=None) -> Tensor:
    if isinstance(value, Tensor):
        return value.to(device=device if device is not None else value.device, dtype=dtype)
    return torch.as_tensor(np.asarray(value), dtype=dtype, device=device)


def check_grasp_labels(labels: Union[Mapping, BaseDataElement],
                       num_points: Optional[int] = None,
                       *,
                       device=None,
                       where: str = 'grasp labels') -> Dict[str, Any]:
    """Validate a frame's grasp labels and convert them to tensors.

    Args:
        labels: mapping or data element with the fields of :data:`GRASP_LABEL_KEYS`.
        num_points: expected number of points ``N`` of the frame (per-point labels).
        device: device of the returned tensors.
        where: prefix of error messages (e.g. the sample).

    Returns:
        dict: ``objectness_label`` int64 ``(N,)``, ``graspness_label`` float32 ``(N,)``,
        ``object_poses`` float32 ``(K, 3, 4)``, and lists of ``K`` float32 tensors
        ``grasp_points`` ``(Np_k, 3)``, ``grasp_widths`` / ``grasp_scores``
        ``(Np_k, V, A, D)``.

    Raises:
        KeyError: a field is missing.
        ValueError: a shape or value is wrong.
    """
    get = labels.get if isinstance(labels, Mapping) else (
        lambda k, d=None: getattr(labels, k, d))
    missing = [k for k in GRASP_LABEL_KEYS if get(k) is None]
    if missing:
        raise KeyError(f'{where}: missing {missing}')
    obj = _as_tensor(get('objectness_label'), torch.long, device).reshape(-1)
    grs = _as_tensor(get('graspness_label'), torch.float32, device).reshape(-1)
    if num_points is not None and (obj.numel() != num_points or grs.numel() != num_points):
        raise ValueError(f'{where}: objectness_label ({obj.numel()}) and graspness_label '
                         f'({grs.numel()}) need one entry per point ({num_points})')
    if bool(((obj != 0) & (obj != 1)).any()):
        raise ValueError(f'{where}: objectness_label must be 0 or 1')
    poses = _as_tensor(get('object_poses'), torch.float32, device)
    if poses.numel() == 0:
        poses = poses.reshape(0, 3, 4)
    if poses.dim() == 3 and poses.shape[1:] == (4, 4):
        poses = poses[:, :3, :]
    if poses.dim() != 3 or poses.shape[1:] != (3, 4):
        raise ValueError(f'{where}: object_poses must be (K, 3, 4) T_cam_obj, got '
                         f'{tuple(poses.shape)}')
    k = poses.shape[0]
    out = dict(objectness_label=obj, graspness_label=grs, object_poses=poses)
    for key, shape in (('grasp_points', 2), ('grasp_widths', 4), ('grasp_scores', 4)):
        seq = get(key)
        if isinstance(seq, (np.ndarray, Tensor)) and k == 0 and len(seq) == 0:
            seq = []
        if not isinstance(seq, (list, tuple)) or len(seq) != k:
            raise ValueError(f'{where}: {key} must be a list of {k} arrays (one per '
                             f'object pose), got {type(seq).__name__} of length '
                             f'{len(seq) if hasattr(seq, "__len__") else "?"}')
        out[key] = [_as_tensor(a, torch.float32, device) for a in seq]
        for i, a in enumerate(out[key]):
            if a.dim() != shape:
                raise ValueError(f'{where}: {key}[{i}] must have {shape} dims, got '
                                 f'{tuple(a.shape)}')
    for i in range(k):
        p, w, s = out['grasp_points'][i], out['grasp_widths'][i], out['grasp_scores'][i]
        if p.shape[1] != 3 or w.shape != s.shape or w.shape[0] != p.shape[0]:
            raise ValueError(f'{where}: object {i}: grasp_points {tuple(p.shape)}, '
                             f'grasp_widths {tuple(w.shape)}, grasp_scores '
                             f'{tuple(s.shape)} do not agree')
    return out


def pack_grasp_labels(objectness_label: ArrayLike,
                      graspness_label: ArrayLike,
                      object_poses: ArrayLike,
                      grasp_points: Sequence[ArrayLike],
                      grasp_widths: Sequence[ArrayLike],
                      grasp_scores: Sequence[ArrayLike]) -> BaseDataElement:
    """Build the ``gt_grasp_labels`` element of a data sample (validated, as tensors).

    Set it with ``data_sample.gt_grasp_labels = pack_grasp_labels(...)``.

    Args:
        objectness_label: ``(N,)`` {0, 1} per point of the packed ``points``.
        graspness_label: ``(N,)`` point graspness in ``[0, 1]``.
        object_poses: ``(K, 3, 4)`` (or ``(K, 4, 4)``) ``T_cam_obj`` of the labelled
            objects, in the frame of the packed ``points`` (i.e. after augmentation:
            ``aug_mat @ T_cam_obj``).
        grasp_points: ``K`` arrays ``(Np_k, 3)``, object frame, metres.
        grasp_widths: ``K`` arrays ``(Np_k, V, A, D)``, metres.
        grasp_scores: ``K`` arrays ``(Np_k, V, A, D)``: ``mu``, 0 = no grasp
            (:func:`grasp_labels_to_targets`).

    Returns:
        BaseDataElement: with the six fields as tensors.
    """
    labels = check_grasp_labels(dict(objectness_label=objectness_label,
                                     graspness_label=graspness_label,
                                     object_poses=object_poses, grasp_points=grasp_points,
                                     grasp_widths=grasp_widths, grasp_scores=grasp_scores))
    return BaseDataElement(**labels)


class SeedGraspLabels(NamedTuple):
    """Labels of ``M`` seeds (camera frame) from :func:`process_grasp_labels`.

    Attributes:
        points: ``(M, 3)`` matched ground-truth grasp points, camera frame, metres.
        distances: ``(M,)`` seed-to-matched-point distances, metres (``inf``: no labels).
        object_index: int64 ``(M,)`` index of the matched object pose (-1: no labels).
        scores: ``(M, V, A, D)`` friction ``mu`` per camera view, 0 where invalid,
            colliding or wider than ``max_width``.
        widths: ``(M, V, A, D)`` widths, metres.
        view_graspness: ``(M, V)`` view graspness target in ``[0, 1]``.
        view_rotations: ``(M, V, 3, 3)`` gripper rotation (angle 0) of the object view
            assigned to each camera view, camera frame (``R_obj @ R_view``).
    """
    points: Tensor
    distances: Tensor
    object_index: Tensor
    scores: Tensor
    widths: Tensor
    view_graspness: Tensor
    view_rotations: Tensor


def view_reindex(rotation: Tensor, views: Tensor) -> Tensor:
    """Object view assigned to every camera-frame template view under an object rotation.

    Camera view ``j`` (direction ``views[j]``) takes the object view ``i`` whose direction
    in the camera frame ``rotation @ views[i]`` is nearest to ``views[j]``.

    Args:
        rotation: ``(3, 3)`` object rotation ``T_cam_obj[:3, :3]`` (a reflection is
            allowed, e.g. after a flip augmentation).
        views: ``(V, 3)`` template views.

    Returns:
        Tensor: int64 ``(V,)`` object view index for every camera view.
    """
    rotated = views @ rotation.t()  # (V, 3): object views in the camera frame
    return torch.cdist(views, rotated).argmin(dim=1)


def process_grasp_labels(seed_xyz: Tensor,
                         object_poses: Tensor,
                         grasp_points: Sequence[Tensor],
                         grasp_scores: Sequence[Tensor],
                         grasp_widths: Sequence[Tensor],
                         views: Tensor,
                         *,
                         view_mu_thresh: float = 0.6,
                         max_width: float = GRASP_MAX_WIDTH,
                         grid_shape: Optional[Tuple[int, int]] = None) -> SeedGraspLabels:
    """Per-seed grasp labels from the labelled objects of one frame.

    Every object's grasp points are mapped to the camera frame (``T_cam_obj``), every seed
    takes the labels of its nearest grasp point over all objects (no distance limit, as
    in the reference), and the views of that object are re-indexed with
    :func:`view_reindex`. The view graspness of view ``j`` is the fraction of its
    ``A x D`` grasps with ``0 < mu <= view_mu_thresh`` (before the width mask), min-max
    normalised over the views of each seed (``+1e-5`` in the denominator).

    A frame without labelled objects (``K = 0`` or no grasp point) gives all-zero
    scores / widths / view graspness, the template view rotations, ``distances = inf``
    and ``object_index = -1``.

    Args:
        seed_xyz: ``(M, 3)`` seeds, camera frame, metres.
        object_poses: ``(K, 3, 4)`` ``T_cam_obj``.
        grasp_points: ``K`` tensors ``(Np_k, 3)``, object frame, metres.
        grasp_scores: ``K`` tensors ``(Np_k, V, A, D)`` friction ``mu`` (0 = no grasp).
        grasp_widths: ``K`` tensors ``(Np_k, V, A, D)`` widths, metres.
        views: ``(V, 3)`` template views (graspnetAPI order).
        view_mu_thresh: largest ``mu`` counted as a good grasp for view graspness (0.6).
        max_width: widths above this (metres) are not valid score targets (0.1).
        grid_shape: ``(A, D)`` of the label grid; needed only when there is no label
            array to read it from (``K = 0``).

    Returns:
        SeedGraspLabels

    Raises:
        ValueError: the labels' view count differs from ``views``, or ``K = 0`` without
            ``grid_shape``.
    """
    device, dtype = seed_xyz.device, torch.float32
    seed_xyz = seed_xyz.detach().to(dtype)
    m = seed_xyz.shape[0]
    num_views = views.shape[0]
    template_rot = approach_to_rotation(-views.to(dtype))  # (V, 3, 3)
    objs = [i for i in range(object_poses.shape[0]) if grasp_points[i].shape[0] > 0]
    if grasp_scores and grasp_scores[0].dim() == 4:
        a_d = tuple(grasp_scores[0].shape[2:])
    else:
        a_d = None if grid_shape is None else tuple(int(v) for v in grid_shape)
    if not objs:
        if a_d is None:
            raise ValueError('no labelled object: pass grid_shape=(A, D) to size the '
                             'all-zero labels')
        zeros = torch.zeros((m, num_views, *a_d), dtype=dtype, device=device)
        return SeedGraspLabels(
            points=seed_xyz.clone(), distances=torch.full((m, ), float('inf'), device=device),
            object_index=torch.full((m, ), -1, dtype=torch.long, device=device),
            scores=zeros, widths=zeros.clone(),
            view_graspness=torch.zeros((m, num_views), dtype=dtype, device=device),
            view_rotations=template_rot.expand(m, -1, -1, -1).clone())
    for i in objs:
        if grasp_scores[i].shape[1] != num_views:
            raise ValueError(f'object {i}: labels have {grasp_scores[i].shape[1]} views, '
                             f'the model {num_views}')
    # merge the camera-frame grasp points of all objects
    pts_cam, owner, local = [], [], []
    for i in objs:
        pose = object_poses[i].to(dtype)
        pts_cam.append(grasp_points[i].to(dtype) @ pose[:, :3].t() + pose[:, 3])
        n_i = grasp_points[i].shape[0]
        owner.append(torch.full((n_i, ), i, dtype=torch.long, device=device))
        local.append(torch.arange(n_i, device=device))
    pts_cam_all = torch.cat(pts_cam)
    owner_all, local_all = torch.cat(owner), torch.cat(local)
    tree = cKDTree(pts_cam_all.cpu().numpy().astype(np.float64))
    dist, nn_idx = tree.query(seed_xyz.cpu().numpy().astype(np.float64), k=1)
    nn_idx = torch.as_tensor(nn_idx, dtype=torch.long, device=device)
    seed_obj = owner_all[nn_idx]
    seed_local = local_all[nn_idx]

    scores = torch.zeros((m, num_views, *a_d), dtype=dtype, device=device)
    widths = torch.zeros_like(scores)
    view_rot = torch.empty((m, num_views, 3, 3), dtype=dtype, device=device)
    for i in objs:
        sel = torch.nonzero(seed_obj == i).flatten()
        if sel.numel() == 0:
            continue
        rot = object_poses[i][:, :3].to(dtype)
        reindex = view_reindex(rot, views.to(dtype))  # camera view j <- object view
        rows = seed_local[sel]
        scores[sel] = grasp_scores[i].to(dtype)[rows][:, reindex]
        widths[sel] = grasp_widths[i].to(dtype)[rows][:, reindex]
        view_rot[sel] = (rot @ template_rot)[reindex].unsqueeze(0)
    good = (scores > 0) & (scores <= view_mu_thresh)
    vg = good.flatten(2).float().mean(dim=-1)  # (M, V): count / (A * D)
    lo = vg.min(dim=-1, keepdim=True).values
    hi = vg.max(dim=-1, keepdim=True).values
    vg = (vg - lo) / (hi - lo + 1e-5)
    valid = (scores > 0) & (widths <= max_width)
    scores = torch.where(valid, scores, torch.zeros_like(scores))
    return SeedGraspLabels(points=pts_cam_all[nn_idx],
                           distances=torch.as_tensor(dist, dtype=dtype, device=device),
                           object_index=seed_obj, scores=scores, widths=widths,
                           view_graspness=vg, view_rotations=view_rot)


def select_view_labels(labels: SeedGraspLabels,
                       view_inds: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """Slice the labels of one camera view per seed.

    Args:
        labels: labels of ``M`` seeds.
        view_inds: int64 ``(M,)`` camera view per seed.

    Returns:
        tuple: ``rotations (M, 3, 3)`` (gripper frame of the assigned object view, used
        to crop in training), ``mu (M, A, D)`` and ``widths (M, A, D)`` (metres).
    """
    rows = torch.arange(view_inds.shape[0], device=view_inds.device)
    return (labels.view_rotations[rows, view_inds], labels.scores[rows, view_inds],
            labels.widths[rows, view_inds])


def friction_to_score_target(mu: Tensor,
                             mu_range: Optional[Tuple[float, float]] = None) -> Tensor:
    """Score regression target from friction coefficients (GSNet rule).

    ``target = log(u_max / mu) / log(u_max / u_min)`` for ``mu > 0`` and 0 elsewhere, where
    ``u_min`` / ``u_max`` are the smallest / largest positive ``mu`` of the tensor (the
    reference: over the whole batch of selected views) or ``mu_range`` when given (then
    clamped to ``[0, 1]``). When all positive ``mu`` are equal the target is 1 for them.

    Args:
        mu: friction coefficients of any shape, 0 = no grasp.
        mu_range: optional fixed ``(u_min, u_max)``.

    Returns:
        Tensor: targets, same shape, in ``[0, 1]``.
    """
    pos = mu > 0
    out = torch.zeros_like(mu)
    if not bool(pos.any()):
        return out
    if mu_range is None:
        u_max, u_min = mu[pos].max(), mu[pos].min()
    else:
        u_min, u_max = (torch.tensor(float(v), dtype=mu.dtype, device=mu.device)
                        for v in mu_range)
        if not 0 < float(u_min) < float(u_max):
            raise ValueError(f'mu_range must satisfy 0 < u_min < u_max, got {mu_range}')
    if float(u_max) <= float(u_min):
        out[pos] = 1.0
        return out
    val = torch.log(u_max / mu[pos]) / torch.log(u_max / u_min)
    out[pos] = val.clamp(0.0, 1.0)
    return out

