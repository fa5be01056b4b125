"""Decode GSNet head outputs into graspnetAPI 17-float grasp rows, and post-process them.

A row is ``[score, width, height, depth, R (9, row-major), t (3), object_id]`` with
``R = T_cam_gripper[:3, :3]`` (columns: approach x, closing y, z) and ``t`` the grasp point
(the seed), camera frame, metres; see :mod:`graspcontrast_mm.structures.grasp`.
"""
import math
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from graspcontrast_mm.structures.grasp import (GRASP_ARRAY_LEN, GRASP_HEIGHT,
                                               GRASP_MAX_WIDTH)
from .grasp_geometry import approach_to_rotation, label_angles, label_depths

__all__ = ['decode_grasps', 'postprocess_grasps', 'empty_grasps']


def empty_grasps() -> np.ndarray:
    """An empty float32 ``(0, 17)`` grasp array."""
    return np.zeros((0, GRASP_ARRAY_LEN), dtype=np.float32)


@torch.no_grad()
def decode_grasps(seed_xyz: Tensor,
                  view_inds: Tensor,
                  score_pred: Tensor,
                  width_pred: Tensor,
                  views: Tensor,
                  *,
                  width_scale: float = 10.0,
                  width_factor: float = 1.2,
                  max_width: float = GRASP_MAX_WIDTH,
                  height: float = GRASP_HEIGHT,
                  object_id: float = -1.0) -> Tensor:
    """One grasp per seed: the best (angle, depth) cell of its selected view.

    ``k = argmax score[a, d]``; angle ``= a * pi / A``; depth ``= (d + 1) * 0.01`` m;
    width ``= clamp(width_factor * width_pred[a, d] / width_scale, 0, max_width)`` m;
    rotation ``= approach_to_rotation(-views[view], angle)``; translation = the seed.

    Args:
        seed_xyz: ``(M, 3)`` seeds, camera frame, metres.
        view_inds: int64 ``(M,)`` selected view per seed.
        score_pred: ``(M, A, D)`` predicted scores.
        width_pred: ``(M, A, D)`` predicted widths (``width_scale x`` metres).
        views: ``(V, 3)`` template views.
        width_scale: scale of the width regression (10).
        width_factor: widening factor applied at decoding (1.2, reference).
        max_width: largest jaw opening, metres (0.1).
        height: finger height written in column 2, metres (0.02).
        object_id: value of column 16 (-1: unknown object).

    Returns:
        Tensor: float32 ``(M, 17)`` grasp rows, camera frame.
    """
    m, a, d = score_pred.shape
    if width_pred.shape != score_pred.shape or seed_xyz.shape != (m, 3) \
            or view_inds.shape != (m, ):
        raise ValueError(f'inconsistent shapes: seed_xyz {tuple(seed_xyz.shape)}, '
                         f'view_inds {tuple(view_inds.shape)}, score {tuple(score_pred.shape)}'
                         f', width {tuple(width_pred.shape)}')
    dev = seed_xyz.device
    flat = score_pred.reshape(m, a * d).float()
    score, k = flat.max(dim=1)
    angle = label_angles(a, device=dev)[k // d]
    depth = label_depths(d, device=dev)[k % d]
    width = width_pred.reshape(m, a * d).float().gather(1, k[:, None])[:, 0]
    width = (width_factor * width / width_scale).clamp(0.0, max_width)
    rot = approach_to_rotation(-views.float()[view_inds], angle)
    ones = torch.ones_like(score)
    return torch.cat([score[:, None], width[:, None], height * ones[:, None], depth[:, None],
                      rot.reshape(m, 9), seed_xyz.float(), object_id * ones[:, None]], dim=1)


def postprocess_grasps(grasps: np.ndarray,
                       *,
                       nms: bool = True,
                       translation_thresh: float = 0.03,
                       rotation_thresh: float = math.radians(30.0),
                       score_thr: Optional[float] = None,
                       max_num: Optional[int] = None) -> np.ndarray:
    """Optional score threshold, graspnetAPI NMS (``GraspGroup.nms``), sort, top-k.

    Args:
        grasps: ``(N, 17)`` rows.
        nms: apply ``GraspGroup.nms(translation_thresh, rotation_thresh)``.
        translation_thresh: NMS translation threshold, metres (0.03).
        rotation_thresh: NMS rotation threshold, radians (30 degrees).
        score_thr: drop rows with a lower score (None: keep all).
        max_num: keep at most this many rows (None: all).

    Returns:
        np.ndarray: float32 ``(K, 17)`` rows sorted by score, descending (``(0, 17)`` when
        nothing is left).
    """
    grasps = np.asarray(grasps, dtype=np.float32).reshape(-1, GRASP_ARRAY_LEN)
    if score_thr is not None:
        grasps = grasps[grasps[:, 0] >= score_thr]
    if grasps.shape[0] == 0:
        return empty_grasps()
    if nms:
        from graspnetAPI import GraspGroup
        grasps = np.asarray(GraspGroup(grasps.copy()).nms(translation_thresh,
                                                          rotation_thresh).grasp_group_array,
                            dtype=np.float32).reshape(-1, GRASP_ARRAY_LEN)
    grasps = grasps[np.argsort(-grasps[:, 0], kind='stable')]
    if max_num is not None:
        grasps = grasps[:int(max_num)]
    return np.ascontiguousarray(grasps, dtype=np.float32)
