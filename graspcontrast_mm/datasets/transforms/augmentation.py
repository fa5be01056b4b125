"""Random geometric augmentation of one view, recorded as a 4x4 matrix."""
from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from graspcontrast_mm.registry import TRANSFORMS
from graspcontrast_mm.structures import (flip_matrix, invert_transform, rotation_matrix,
                                         transform_points)

__all__ = ['RandomFlipRotate', 'AUGMENTATION_FRAMES']

#: Frames whose axes :class:`RandomFlipRotate` flips and rotates about.
AUGMENTATION_FRAMES = ('camera', 'world')


@TRANSFORMS.register_module()
class RandomFlipRotate(BaseTransform):
    """Random flip over a coordinate plane, then a random rotation about an axis.

    With probability ``flip_prob`` the coordinate ``flip_axis`` is negated (a flip over
    the plane normal to it), then the view is rotated by an angle drawn uniformly from
    ``rot_range_deg`` about the coordinate axis ``axis``. ``frame`` says whose axes:

    - ``'camera'``: the current (possibly already augmented) camera frame, about its
      origin (the camera centre): ``A = R @ F``. The defaults (flip x, rotate about x by
      U(-30, 30) degrees) are the GSNet reference's ``augment_data`` (its comments say
      "YZ plane" and "Z-axis", its matrices negate and rotate about camera x).
    - ``'world'``: the table / world frame (z up = table normal, origin on the table),
      about its origin: the paper's wording read literally ("flip along the global YZ
      plane", "rotation along the upper Z-axis" = ``flip_axis='x', axis='z'``). With
      ``W = R @ F`` in the world frame and ``M = cam2world @ inv(aug_mat)`` (current points
      -> world), ``A = inv(M) @ W @ M``: the scene moved by ``W`` in the table frame, seen
      from the same camera (``A`` has a translation).

    Either way

    * ``points <- A @ points``
    * ``aug_mat <- A @ aug_mat`` (so ``points == aug_mat @ p_cam`` still holds, and
      ``cam2world @ inv(aug_mat) @ points`` are still the unaugmented world coordinates,
      paper eq. 1).

    ``A[:3, :3]`` is orthogonal with det +1 (no flip) or -1 (flip).

    Uses numpy's global RNG (seeded by mmengine), so in ``ApplyToViews`` every view gets
    its own draw.

    Required keys: ``points`` (N, 3); ``aug_mat`` (identity when absent); ``cam2world``
    (4, 4) ``T_world_cam`` with ``frame='world'``. Modified keys: ``points``, ``aug_mat``.

    Args:
        flip_prob: probability of the flip.
        rot_range_deg: ``(low, high)`` rotation angle range in degrees.
        axis: rotation axis, ``'x'``, ``'y'`` or ``'z'`` of ``frame``.
        flip_axis: coordinate of ``frame`` negated by the flip (``'x'``: flip over the YZ
            plane).
        frame: ``'camera'`` or ``'world'`` (see above).
    """

    def __init__(self, flip_prob: float = 0.5,
                 rot_range_deg: Sequence[float] = (-30., 30.), axis: str = 'x',
                 flip_axis: str = 'x', frame: str = 'camera') -> None:
        if not 0. <= flip_prob <= 1.:
            raise ValueError(f'flip_prob must be in [0, 1], got {flip_prob}')
        if len(rot_range_deg) != 2 or rot_range_deg[0] > rot_range_deg[1]:
            raise ValueError(f'rot_range_deg must be (low, high), got {rot_range_deg}')
        if axis not in ('x', 'y', 'z') or flip_axis not in ('x', 'y', 'z'):
            raise ValueError(f"axis and flip_axis must be 'x', 'y' or 'z', got "
                             f'{axis!r}, {flip_axis!r}')
        if frame not in AUGMENTATION_FRAMES:
            raise ValueError(f'frame must be one of {AUGMENTATION_FRAMES}, got {frame!r}')
        self.flip_prob = float(flip_prob)
        self.rot_range_deg = (float(rot_range_deg[0]), float(rot_range_deg[1]))
        self.axis = axis
        self.flip_axis = flip_axis
        self.frame = frame

    def sample_matrix(self) -> np.ndarray:
        """Draw one ``W = R @ F`` in the axes of ``frame`` (float64 (4, 4), no translation)."""
        flip = np.random.rand() < self.flip_prob
        angle = np.deg2rad(np.random.uniform(*self.rot_range_deg))
        A = rotation_matrix(self.axis, angle)
        if flip:
            A = A @ flip_matrix(self.flip_axis)
        return A

    def transform(self, results: dict) -> dict:
        A = self.sample_matrix()
        aug = np.asarray(results.get('aug_mat', np.eye(4)), np.float64)
        if self.frame == 'world':
            if 'cam2world' not in results:
                raise KeyError("RandomFlipRotate(frame='world') needs 'cam2world' "
                               '(4x4 T_world_cam)')
            M = np.asarray(results['cam2world'], np.float64) @ invert_transform(aug)
            A = invert_transform(M) @ A @ M
        results['points'] = transform_points(A, results['points'])
        results['aug_mat'] = A @ aug
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(flip_prob={self.flip_prob}, '
                f'rot_range_deg={self.rot_range_deg}, axis={self.axis!r}, '
                f'flip_axis={self.flip_axis!r}, frame={self.frame!r})')
