"""Grasp training labels of GSNet: from graspnetAPI label arrays to per-seed targets.

Two stages.

1. Dataset side (numpy, once per object and frame; in
   :mod:`graspcontrast_mm.structures.grasp_targets`, re-exported here):
   :func:`grasp_labels_to_targets` turns
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
import math
from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor

from graspcontrast_mm.structures.grasp import GRASP_MAX_WIDTH
# dataset-side label packing lives in structures (datasets must not import models);
# re-exported here for the model side
from graspcontrast_mm.structures.grasp_targets import (  # noqa: F401
    GRASP_LABEL_KEYS, check_grasp_labels, grasp_labels_to_targets, pack_grasp_labels)
from .grasp_geometry import approach_to_rotation

__all__ = [
    'GRASP_LABEL_KEYS', 'grasp_labels_to_targets', 'pack_grasp_labels',
    'check_grasp_labels', 'SeedGraspLabels', 'SeedViewLabels', 'view_reindex',
    'process_grasp_labels', 'process_view_labels', 'select_view_labels',
    'friction_to_score_target', 'inplane_offset', 'labels_to_template_frame'
]

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


class SeedViewLabels(NamedTuple):
    """Labels of ``M`` seeds at one camera view each, from :func:`process_view_labels`:
    ``select_view_labels(process_grasp_labels(...), view_inds)`` without the ``(M, V, A, D)``
    grids of every view.

    Attributes:
        points, distances, object_index, view_graspness: as :class:`SeedGraspLabels`.
        rotations: ``(M, 3, 3)`` gripper rotation (angle 0) of the object view assigned to
            each seed's camera view, camera frame.
        scores: ``(M, A, D)`` friction ``mu`` at that view, 0 where invalid, colliding or
            wider than ``max_width``.
        widths: ``(M, A, D)`` widths at that view, metres.
    """
    points: Tensor
    distances: Tensor
    object_index: Tensor
    rotations: Tensor
    scores: Tensor
    widths: Tensor
    view_graspness: Tensor


class _SeedMatch(NamedTuple):
    """Nearest labelled grasp point of every seed (shared by both label functions)."""
    objs: list  # indices of the objects with grasp points
    points: Tensor  # (M, 3) matched grasp points, camera frame, metres
    distances: Tensor  # (M,) seed to matched grasp point, metres
    object_index: Tensor  # (M,) matched object
    inv: Tensor  # (M,) seed -> distinct matched grasp point u
    uniq_obj: Tensor  # (U,) object of u
    uniq_local: Tensor  # (U,) row of u in its object's label arrays
    reindex: dict  # object -> (V,) object view of every camera view
    rotations: dict  # object -> (3, 3) R_obj


def _label_grid(grasp_scores: Sequence[Tensor],
                grid_shape: Optional[Tuple[int, int]]) -> Optional[Tuple[int, int]]:
    if grasp_scores and grasp_scores[0].dim() == 4:
        return tuple(grasp_scores[0].shape[2:])
    return None if grid_shape is None else tuple(int(v) for v in grid_shape)


def _match_seeds(seed_xyz: Tensor, object_poses: Tensor, grasp_points: Sequence[Tensor],
                 grasp_scores: Sequence[Tensor], views: Tensor) -> Optional[_SeedMatch]:
    """Every seed takes its nearest grasp point over all objects (no distance limit, as in
    the reference); None when no object has grasp points."""
    device, dtype = seed_xyz.device, seed_xyz.dtype
    objs = [i for i in range(object_poses.shape[0]) if grasp_points[i].shape[0] > 0]
    if not objs:
        return None
    for i in objs:
        if grasp_scores[i].shape[1] != views.shape[0]:
            raise ValueError(f'object {i}: labels have {grasp_scores[i].shape[1]} views, '
                             f'the model {views.shape[0]}')
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
    # Seeds repeat (fewer candidates than seeds are cycled) and neighbours share grasp
    # points: per-point work is done once per distinct grasp point and expanded at the end.
    uniq, inv = torch.unique(nn_idx, return_inverse=True)
    rotations = {i: object_poses[i][:, :3].to(dtype) for i in objs}
    reindex = {i: view_reindex(rotations[i], views.to(dtype)) for i in objs}
    return _SeedMatch(objs, pts_cam_all[nn_idx],
                      torch.as_tensor(dist, dtype=dtype, device=device), owner_all[nn_idx],
                      inv, owner_all[uniq], local_all[uniq], reindex, rotations)


def _view_graspness(match: _SeedMatch, grasp_scores: Sequence[Tensor], num_views: int,
                    view_mu_thresh: float) -> Tensor:
    """``(U, V)`` view graspness of the distinct grasp points: the share of a view's
    ``A x D`` grasps with ``0 < mu <= view_mu_thresh``, min-max normalised over views."""
    vg = torch.empty((match.uniq_obj.shape[0], num_views), dtype=torch.float32,
                     device=match.uniq_obj.device)
    for i in match.objs:
        sel = torch.nonzero(match.uniq_obj == i).flatten()
        if sel.numel() == 0:
            continue
        rows = grasp_scores[i][match.uniq_local[sel]].float()  # (n, V, A, D), object views
        good = (rows > 0) & (rows <= view_mu_thresh)
        vg[sel] = good.flatten(2).float().mean(dim=-1)[:, match.reindex[i]]
    lo = vg.min(dim=-1, keepdim=True).values
    hi = vg.max(dim=-1, keepdim=True).values
    return (vg - lo) / (hi - lo + 1e-5)


def _prepare_labels(seed_xyz: Tensor, object_poses: Tensor, grasp_points: Sequence[Tensor],
                    grasp_scores: Sequence[Tensor], views: Tensor,
                    grid_shape: Optional[Tuple[int, int]]):
    """Shared start of both label functions: float32 seeds, template rotations, the
    ``(A, D)`` grid and the seed match (None without labelled objects, then ``grid_shape``
    is required)."""
    seed_xyz = seed_xyz.detach().to(torch.float32)
    template_rot = approach_to_rotation(-views.to(torch.float32))  # (V, 3, 3)
    a_d = _label_grid(grasp_scores, grid_shape)
    match = _match_seeds(seed_xyz, object_poses, grasp_points, grasp_scores, views)
    if match is None and a_d is None:
        raise ValueError('no labelled object: pass grid_shape=(A, D) to size the '
                         'all-zero labels')
    return seed_xyz, template_rot, a_d, match


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
    """Per-seed grasp labels at every camera view, from the labelled objects of one frame.

    Every object's grasp points are mapped to the camera frame (``T_cam_obj``), every seed
    takes the labels of its nearest grasp point over all objects (no distance limit, as
    in the reference), and the views of that object are re-indexed with
    :func:`view_reindex`. The view graspness of view ``j`` is the fraction of its
    ``A x D`` grasps with ``0 < mu <= view_mu_thresh`` (before the width mask), min-max
    normalised over the views of each seed (``+1e-5`` in the denominator). Training needs
    one view per seed: :func:`process_view_labels` gives the same labels at that view
    without the ``(M, V, A, D)`` grids.

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
    seed_xyz, template_rot, a_d, match = _prepare_labels(
        seed_xyz, object_poses, grasp_points, grasp_scores, views, grid_shape)
    m, num_views = seed_xyz.shape[0], views.shape[0]
    if match is None:
        zeros = torch.zeros((m, num_views, *a_d), dtype=dtype, device=device)
        return SeedGraspLabels(
            points=seed_xyz.clone(), distances=torch.full((m, ), float('inf'), device=device),
            object_index=torch.full((m, ), -1, dtype=torch.long, device=device),
            scores=zeros, widths=zeros.clone(),
            view_graspness=torch.zeros((m, num_views), dtype=dtype, device=device),
            view_rotations=template_rot.expand(m, -1, -1, -1).clone())
    u = match.uniq_obj.shape[0]
    scores = torch.empty((u, num_views, *a_d), dtype=dtype, device=device)
    widths = torch.empty_like(scores)
    view_rot = torch.empty((u, num_views, 3, 3), dtype=dtype, device=device)
    for i in match.objs:
        sel = torch.nonzero(match.uniq_obj == i).flatten()
        if sel.numel() == 0:
            continue
        reindex = match.reindex[i]  # camera view j <- object view
        rows = match.uniq_local[sel].unsqueeze(1)
        cols = reindex.to(device).unsqueeze(0)
        scores[sel] = grasp_scores[i][rows, cols].to(dtype)
        widths[sel] = grasp_widths[i][rows, cols].to(dtype)
        view_rot[sel] = (match.rotations[i] @ template_rot)[reindex].unsqueeze(0)
    vg = _view_graspness(match, grasp_scores, num_views, view_mu_thresh)
    scores.masked_fill_(~((scores > 0) & (widths <= max_width)), 0.0)
    inv = match.inv
    return SeedGraspLabels(points=match.points, distances=match.distances,
                           object_index=match.object_index, scores=scores[inv],
                           widths=widths[inv], view_graspness=vg[inv],
                           view_rotations=view_rot[inv])


def process_view_labels(seed_xyz: Tensor,
                        object_poses: Tensor,
                        grasp_points: Sequence[Tensor],
                        grasp_scores: Sequence[Tensor],
                        grasp_widths: Sequence[Tensor],
                        views: Tensor,
                        view_inds: Tensor,
                        *,
                        view_mu_thresh: float = 0.6,
                        max_width: float = GRASP_MAX_WIDTH,
                        grid_shape: Optional[Tuple[int, int]] = None) -> SeedViewLabels:
    """Per-seed grasp labels at one camera view per seed (what training uses).

    The same values as ``select_view_labels(process_grasp_labels(...), view_inds)`` (and
    the same view graspness over all views), but only the selected view's ``(A, D)``
    grids are gathered: the ``(M, V, A, D)`` score and width grids of every view are never
    built. Arguments as :func:`process_grasp_labels`, plus ``view_inds``: int64 ``(M,)``
    camera view per seed.
    """
    device, dtype = seed_xyz.device, torch.float32
    m, num_views = seed_xyz.shape[0], views.shape[0]
    if view_inds.shape != (m, ):
        raise ValueError(f'view_inds must have shape ({m},), got {tuple(view_inds.shape)}')
    view_inds = view_inds.to(device=device, dtype=torch.long)
    seed_xyz, template_rot, a_d, match = _prepare_labels(
        seed_xyz, object_poses, grasp_points, grasp_scores, views, grid_shape)
    if match is None:
        zeros = torch.zeros((m, *a_d), dtype=dtype, device=device)
        return SeedViewLabels(
            points=seed_xyz.clone(), distances=torch.full((m, ), float('inf'), device=device),
            object_index=torch.full((m, ), -1, dtype=torch.long, device=device),
            rotations=template_rot[view_inds].clone(), scores=zeros, widths=zeros.clone(),
            view_graspness=torch.zeros((m, num_views), dtype=dtype, device=device))
    scores = torch.empty((m, *a_d), dtype=dtype, device=device)
    widths = torch.empty_like(scores)
    rotations = torch.empty((m, 3, 3), dtype=dtype, device=device)
    seed_obj = match.uniq_obj[match.inv]
    seed_rows = match.uniq_local[match.inv]
    for i in match.objs:
        sel = torch.nonzero(seed_obj == i).flatten()
        if sel.numel() == 0:
            continue
        obj_views = match.reindex[i].to(device)[view_inds[sel]]
        scores[sel] = grasp_scores[i][seed_rows[sel], obj_views].to(dtype)
        widths[sel] = grasp_widths[i][seed_rows[sel], obj_views].to(dtype)
        rotations[sel] = match.rotations[i] @ template_rot[obj_views]
    vg = _view_graspness(match, grasp_scores, num_views, view_mu_thresh)
    scores.masked_fill_(~((scores > 0) & (widths <= max_width)), 0.0)
    return SeedViewLabels(points=match.points, distances=match.distances,
                          object_index=match.object_index, rotations=rotations,
                          scores=scores, widths=widths, view_graspness=vg[match.inv])


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


def inplane_offset(label_rotations: Tensor,
                   template_rotations: Tensor) -> Tuple[Tensor, Tensor]:
    """In-plane angle of a label frame measured in a template frame, and its handedness.

    Both frames are gripper rotations (columns: approach x, closing y, z) with nearly the
    same approach. A grasp at in-plane angle ``a`` of the label frame has the closing axis
    ``cos(a) y_L + sin(a) z_L``; with ``y_L = cos(d) y_T + sin(d) z_T`` (``d`` measured
    about the template approach ``x_T``) and ``z_L = e (-sin(d) y_T + cos(d) z_T)``, the
    same grasp has the template angle ``d + e * a`` (``e = -1`` for a mirrored label
    frame, e.g. after a flip augmentation).

    Args:
        label_rotations: ``(..., 3, 3)`` label frames (``R_obj @ R_view``).
        template_rotations: ``(..., 3, 3)`` template frames (``approach_to_rotation(-v)``).

    Returns:
        tuple: ``d`` ``(...)`` radians in ``(-pi, pi]`` and ``e`` ``(...)`` (+1 or -1).
    """
    y_l = label_rotations[..., :, 1]
    y_t, z_t = template_rotations[..., :, 1], template_rotations[..., :, 2]
    delta = torch.atan2((y_l * z_t).sum(-1), (y_l * y_t).sum(-1))
    sign = torch.where(torch.linalg.det(label_rotations) < 0, -1.0, 1.0).to(delta.dtype)
    return delta, sign


def labels_to_template_frame(label_rotations: Tensor, template_rotations: Tensor,
                             *grids: Tensor) -> Tuple[Tensor, ...]:
    """Re-express ``(M, A, D)`` per-angle label grids in the template view's frame.

    The ``A`` in-plane angles ``k * pi / A`` of a label grid are measured in the label
    frame; the decoder (and the test-time crop) use the template frame of the selected
    view. With the in-plane offset ``d`` and handedness ``e`` of :func:`inplane_offset`,
    label angle ``k`` is template angle ``s + e * k`` (mod ``A``; angles are taken
    modulo pi, the gripper being symmetric) with ``s = round(d / (pi / A))``: the grid is
    rolled (mirrored for ``e = -1``) along its angle axis. The rounding leaves at most
    ``pi / (2A)`` (7.5 degrees for ``A = 12``) of in-plane error.

    Args:
        label_rotations: ``(M, 3, 3)`` label frames (:func:`select_view_labels`).
        template_rotations: ``(M, 3, 3)`` template frames of the same views.
        *grids: ``(M, A, D)`` tensors (friction ``mu``, widths, ...).

    Returns:
        tuple: the re-indexed grids (same shapes), then int64 ``(M,)`` shifts ``s``.
    """
    if not grids:
        raise ValueError('labels_to_template_frame needs at least one (M, A, D) grid')
    m, a = grids[0].shape[:2]
    delta, sign = inplane_offset(label_rotations.double(), template_rotations.double())
    shift = torch.round(delta / (math.pi / a)).long() % a
    j = torch.arange(a, device=shift.device)
    # template angle j <- label angle k with j = s + e k  =>  k = e (j - s) (mod A)
    src = (sign.long()[:, None] * (j[None, :] - shift[:, None])) % a  # (M, A)
    out = []
    for g in grids:
        if g.shape[:2] != (m, a):
            raise ValueError(f'grids must share (M, A) = {(m, a)}, got {tuple(g.shape)}')
        idx = src.to(g.device).view(m, a, *([1] * (g.dim() - 2))).expand_as(g)
        out.append(torch.gather(g, 1, idx))
    return (*out, shift)


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

