"""Torch versions of the GraspNet view / gripper-rotation conventions used by the GSNet heads.

The conventions are those of :mod:`graspcontrast_mm.structures.grasp` (and graspnetAPI):

* a *view* is a unit vector pointing from the grasp point towards the gripper; the
  approach direction of the gripper (its x axis) is ``-view``;
* the gripper rotation of approach ``a`` and in-plane angle ``theta`` has the columns
  ``x = a / |a|``, ``y = cos(theta) y0 + sin(theta) z0``, ``z = -sin(theta) y0 +
  cos(theta) z0`` with ``y0 = normalise([-a_y, a_x, 0])`` (``[0, 1, 0]`` for a vertical
  approach) and ``z0 = x cross y0`` (graspnetAPI ``batch_viewpoint_params_to_matrix``).

Rotations map gripper-frame vectors to the frame of the approach vectors (usually the
camera frame): ``R = T_cam_gripper[:3, :3]``.
"""
from typing import Optional, Union

import numpy as np
import torch
from torch import Tensor

from graspcontrast_mm.structures.grasp import (LABEL_DEPTHS, NUM_ANGLES, NUM_VIEWS,
                                               generate_views)

__all__ = ['template_views', 'approach_to_rotation', 'label_angles', 'label_depths']


def template_views(num_views: int = NUM_VIEWS,
                   *,
                   device: Optional[Union[str, torch.device]] = None,
                   dtype: torch.dtype = torch.float32) -> Tensor:
    """The Fibonacci-lattice approach views of GraspNet labels, in graspnetAPI's order.

    Args:
        num_views: Number of views ``V`` (300 for GraspNet labels).
        device: Device of the result.
        dtype: Floating dtype of the result.

    Returns:
        Tensor: ``(V, 3)`` unit view vectors (grasp point towards gripper; approach is
        ``-view``), identical in value to ``graspnetAPI.utils.utils.generate_views(V)``.
    """
    return torch.as_tensor(np.asarray(generate_views(int(num_views))), dtype=dtype,
                           device=device)


def approach_to_rotation(approach: Tensor, angle: Union[Tensor, float] = 0.0) -> Tensor:
    """Gripper rotations from approach directions and in-plane angles (batched, torch).

    Args:
        approach: ``(..., 3)`` approach directions (gripper x axes; need not be unit,
            must be non-zero).
        angle: ``(...)`` in-plane rotations about the approach, radians, or a scalar.

    Returns:
        Tensor: ``(..., 3, 3)`` rotations with the gripper axes as columns
        ``[x, y, z]``, dtype and device of ``approach``.

    Raises:
        ValueError: when ``approach`` does not end in 3 or holds a zero vector.
    """
    if approach.shape[-1] != 3:
        raise ValueError(f'approach must have shape (..., 3), got {tuple(approach.shape)}')
    norm = torch.linalg.vector_norm(approach, dim=-1, keepdim=True)
    if bool((norm == 0).any()):
        raise ValueError('approach directions must be non-zero')
    angle = torch.as_tensor(angle, dtype=approach.dtype, device=approach.device)
    angle = angle.expand(approach.shape[:-1])
    zeros = torch.zeros_like(approach[..., 0])
    base_y = torch.stack([-approach[..., 1], approach[..., 0], zeros], dim=-1)
    vertical = torch.linalg.vector_norm(base_y, dim=-1) == 0
    if bool(vertical.any()):
        base_y = base_y.clone()
        base_y[vertical] = torch.tensor([0.0, 1.0, 0.0], dtype=approach.dtype,
                                        device=approach.device)
    x_axis = approach / norm
    base_y = base_y / torch.linalg.vector_norm(base_y, dim=-1, keepdim=True)
    base_z = torch.cross(x_axis, base_y, dim=-1)
    cos, sin = torch.cos(angle)[..., None], torch.sin(angle)[..., None]
    y_axis = cos * base_y + sin * base_z
    z_axis = -sin * base_y + cos * base_z
    return torch.stack([x_axis, y_axis, z_axis], dim=-1)


def label_angles(num_angles: int = NUM_ANGLES, *, device=None,
                 dtype: torch.dtype = torch.float32) -> Tensor:
    """In-plane angles of the label grid, radians: ``k * pi / num_angles``, ``(A,)``."""
    return torch.arange(int(num_angles), device=device, dtype=dtype) * (np.pi / num_angles)


def label_depths(num_depths: int = len(LABEL_DEPTHS), *, device=None,
                 dtype: torch.dtype = torch.float32) -> Tensor:
    """Grasp depths of the label grid, metres: ``(j + 1) * 0.01``, ``(D,)``."""
    return (torch.arange(int(num_depths), device=device, dtype=dtype) + 1.0) * 0.01
