"""Grasp training targets of a frame, dataset side (numpy): graspnetAPI label arrays ->
``grasp_points`` / ``grasp_widths`` / ``grasp_scores`` and the data-sample element that
GSNet's label processing (:mod:`graspcontrast_mm.models.heads.gsnet_labels`) consumes.

:func:`grasp_labels_to_targets` turns graspnetAPI's ``grasp_label/XXX_labels.npz`` arrays
(``points`` (Np, 3) object frame, ``offsets`` (Np, V, A, D, 3) = angle / depth / width,
``scores`` (Np, V, A, D) = minimum friction coefficient ``mu``, ``-1`` = no antipodal grasp)
and the scene's collision mask into ``grasp_points`` / ``grasp_widths`` (metres) /
``grasp_scores``, where the score is the friction coefficient ``mu`` of a valid grasp and
``0`` for an invalid or colliding one (the GSNet reference dataset's rule; graspnetAPI's
``loadGrasp`` instead reports ``1.1 - mu`` for evaluation, which ranks the same).
:func:`pack_grasp_labels` puts a frame's labels on a data sample.
"""
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.structures import BaseDataElement
from torch import Tensor


__all__ = [
    'GRASP_LABEL_KEYS', 'grasp_labels_to_targets', 'pack_grasp_labels',
    'check_grasp_labels'
]

ArrayLike = Union[np.ndarray, Tensor]

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
    # fancy indexing copies already: convert only when the dtype differs (a second copy
    # of the (Np', 300, 12, 4) arrays was a third of this function's time)
    out_scores = scores[keep].astype(np.float32, copy=False)
    invalid = np.logical_not(out_scores > 0)  # NaN scores are invalid too
    if collision is not None:
        np.logical_or(invalid, collision[keep], out=invalid)
    np.copyto(out_scores, np.float32(0.0), where=invalid)
    return dict(grasp_points=points[keep].astype(np.float32, copy=False),
                grasp_widths=widths[keep].astype(np.float32, copy=False),
                grasp_scores=out_scores, point_indices=keep)


def _as_tensor(value: Any, dtype: torch.dtype, device=None) -> Tensor:
    if isinstance(value, Tensor):
        return value.to(device=device if device is not None else value.device, dtype=dtype)
    array = np.asarray(value)
    if not array.flags.writeable:  # e.g. held by a data cache: never share it with torch
        return torch.tensor(array, dtype=dtype, device=device)
    return torch.as_tensor(array, dtype=dtype, device=device)


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
