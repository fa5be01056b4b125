"""Random geometric augmentation of one view, recorded as a 4x4 matrix."""
from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from graspcontrast_mm.registry import TRANSFORMS
from graspcontrast_mm.structures import flip_matrix, rotation_matrix, transform_points

__all__ = ['RandomFlipRotate']


@TRANSFORMS.register_module()
class RandomFlipRotate(BaseTransform):
    """Random flip over a coordinate plane, then a random rotation about an axis.

    The paper's augmentation for pre-training: with probability ``flip_prob`` negate x
    (flip over the camera YZ plane), then rotate by an angle drawn uniformly from
    ``rot_range_deg`` about the camera ``axis`` (z in the paper). Both act on the current
    (possibly already augmented) camera frame: ``A = R @ F`` and

    * ``points <- A @ points``
    * ``aug_mat <- A @ aug_mat`` (so ``points == aug_mat @ p_cam`` still holds).

    ``aug_mat`` is orthogonal with det +1 (no flip) or -1 (flip). Note: the reference GSNet
    training code (``augment_data``) rotates about the camera x axis despite a comment saying
    z; use ``axis='x'`` to reproduce it.

    Uses numpy's global RNG (seeded by mmengine), so in ``ApplyToViews`` every view gets
    its own draw.

    Required keys: ``points`` (N, 3); ``aug_mat`` (identity when absent).
    Modified keys: ``points``, ``aug_mat``.

    Args:
        flip_prob: probability of the flip.
        rot_range_deg: ``(low, high)`` rotation angle range in degrees.
        axis: rotation axis, ``'x'``, ``'y'`` or ``'z'`` (camera frame).
        flip_axis: coordinate negated by the flip (``'x'``: flip over the YZ plane).
    """

    def __init__(self, flip_prob: float = 0.5,
                 rot_range_deg: Sequence[float] = (-30., 30.), axis: str = 'z',
                 flip_axis: str = 'x') -> None:
        if not 0. <= flip_prob <= 1.:
            raise ValueError(f'flip_prob must be in [0, 1], got {flip_prob}')
        if len(rot_range_deg) != 2 or rot_range_deg[0] > rot_range_deg[1]:
            raise ValueError(f'rot_range_deg must be (low, high), got {rot_range_deg}')
        if axis not in ('x', 'y', 'z') or flip_axis not in ('x', 'y', 'z'):
            raise ValueError(f"axis and flip_axis must be 'x', 'y' or 'z', got "
                             f'{axis!r}, {flip_axis!r}')
        self.flip_prob = float(flip_prob)
        self.rot_range_deg = (float(rot_range_deg[0]), float(rot_range_deg[1]))
        self.axis = axis
        self.flip_axis = flip_axis

    def sample_matrix(self) -> np.ndarray:
        """Draw one augmentation ``A`` (float64 (4, 4), det of ``A[:3, :3]`` is +-1)."""
        flip = np.random.rand() < self.flip_prob
        angle = np.deg2rad(np.random.uniform(*self.rot_range_deg))
        A = rotation_matrix(self.axis, angle)
        if flip:
            A = A @ flip_matrix(self.flip_axis)
        return A

    def transform(self, results: dict) -> dict:
        A = self.sample_matrix()
        results['points'] = transform_points(A, results['points'])
        results['aug_mat'] = A @ np.asarray(results.get('aug_mat', np.eye(4)), np.float64)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(flip_prob={self.flip_prob}, '
                f'rot_range_deg={self.rot_range_deg}, axis={self.axis!r}, '
                f'flip_axis={self.flip_axis!r})')
