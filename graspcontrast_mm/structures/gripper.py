"""The parallel-jaw gripper: dimensions, frame and the inside-the-gripper test.

Every user of a gripper geometry (the label generator's self / scene collisions and its
table test, the model-free collision check of predicted grasps, the grasp drawings and the
robot planner) builds it from :class:`ParallelJawGripper` and tests points with
:func:`gripper_solid_contains` / :func:`gripper_closing_contains`, so that there is one
frame, one set of dimensions per gripper and one boundary convention.

Frame (graspnetAPI's, see :mod:`graspcontrast_mm.structures.grasp`): origin at the grasp
point, x = approach (towards the object), y = closing direction, z = ``x cross y``; metres.
A grasp has a jaw opening ``w`` (``width``) and a depth ``d`` (the finger tips lie at
``x = d``). With the default dimensions (graspnetAPI's ``collision_detection``:
``finger_width`` 0.01, ``depth_base`` 0.02, ``height`` 0.02):

==============  ===================================  =====================================
region          x                                    y / z
==============  ===================================  =====================================
finger (x2)     ``-depth_base < x < d``              ``w/2 < |y| < w/2 + finger_width``,
                                                     ``|z| < height / 2``
palm            ``-depth_base - palm_depth < x <     ``|y| < w/2 + finger_width``,
                -depth_base``                        ``|z| < height / 2``
approach path   the palm swept back by ``approach``  as the palm
                (``x > -depth_base - palm_depth -
                approach``)
closing region  ``-depth_base < x < d``              ``|y| <= w/2``, ``|z| < height / 2``
==============  ===================================  =====================================

``palm_depth`` defaults to ``finger_width``. A gripper with fixed-length fingers
(``finger_length`` set, e.g. a real robot's) has its fingers at ``d - finger_length < x <
d`` instead, and its palm may be wider (``palm_width``: a fixed span) and taller
(``palm_height``) than the fingers.

Boundary convention (graspnetAPI's ``collision_detection``): the solid parts (fingers,
palm, approach path) are OPEN boxes, a point on a face is outside; the closing region
includes the inner faces of the fingers (``|y| = w/2``) and excludes its other faces. A
point exactly on an inner finger face therefore counts as between the jaws, not as a
collision. The plane ``x = -depth_base`` between the fingers and the palm belongs to
neither (as in graspnetAPI).

The drawing geometry of graspnetAPI's ``plot_gripper_pro_max`` (thinner fingers, a tail)
is :meth:`ParallelJawGripper.drawing_boxes`; drawings are not used for any test.
"""
import dataclasses
from typing import Dict, Optional

import numpy as np

from .grasp import GRASP_HEIGHT, GRASP_MAX_WIDTH, GRIPPER_DEPTH_BASE, GRIPPER_FINGER_WIDTH

__all__ = [
    'ParallelJawGripper', 'GRASPNET_GRIPPER', 'gripper_solid_contains',
    'gripper_closing_contains', 'points_in_box', 'GRIPPER_DRAW_FINGER_WIDTH',
    'GRIPPER_DRAW_TAIL_LENGTH'
]

#: Finger / palm / tail thickness of graspnetAPI's gripper drawing, metres.
GRIPPER_DRAW_FINGER_WIDTH = 0.004
#: Tail length of graspnetAPI's gripper drawing, metres.
GRIPPER_DRAW_TAIL_LENGTH = 0.04


def points_in_box(points: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Whether points lie strictly inside the axis-aligned box ``(lo, hi)`` (open box).

    Args:
        points: (..., 3) points, the box's frame.
        lo, hi: (3,) (or broadcastable) corners.

    Returns:
        np.ndarray: bool (...,).
    """
    p = np.asarray(points)
    return np.all((p > lo) & (p < hi), axis=-1)


def gripper_solid_contains(x, y, z, half_width, finger_lo, finger_hi, finger_width,
                           palm_lo, palm_half_width, half_height, palm_half_height):
    """Whether gripper-frame points are inside a finger or the palm (open boxes).

    Works on numpy arrays (broadcast) and on floats (also compiled by numba: only
    comparisons, ``abs``, ``&`` and ``|``). Use :meth:`ParallelJawGripper.solid_args` for
    the arguments after ``half_width``.

    Args:
        x, y, z: gripper-frame coordinates, metres.
        half_width: half the jaw opening ``w / 2``.
        finger_lo, finger_hi: x range of the fingers.
        finger_width: finger size along y.
        palm_lo: x where the palm (or the approach path swept behind it) starts; the palm
            ends at ``finger_lo``.
        palm_half_width: half the palm's y span.
        half_height, palm_half_height: half the finger's / palm's z size.

    Returns:
        bool (array): True inside a finger, the palm or its approach path.
    """
    ay = abs(y)
    finger = ((x > finger_lo) & (x < finger_hi) & (ay > half_width) &
              (ay < half_width + finger_width) & (z > -half_height) & (z < half_height))
    palm = ((x > palm_lo) & (x < finger_lo) & (ay < palm_half_width) &
            (z > -palm_half_height) & (z < palm_half_height))
    return finger | palm


def gripper_closing_contains(x, y, z, half_width, finger_lo, finger_hi, half_height):
    """Whether gripper-frame points are between the jaws (graspnetAPI's ``inner_mask``):
    ``finger_lo < x < finger_hi``, ``|y| <= w/2``, ``|z| < height / 2``. Arrays or floats."""
    return ((x > finger_lo) & (x < finger_hi) & (abs(y) <= half_width) &
            (z > -half_height) & (z < half_height))


@dataclasses.dataclass(frozen=True)
class ParallelJawGripper:
    """Dimensions of a parallel-jaw gripper (metres); see the module docstring.

    Attributes:
        finger_width: finger size along the closing axis (y).
        height: finger size along z.
        depth_base: how far the fingers reach behind the grasp point (``x = -depth_base``)
            when ``finger_length`` is None.
        max_width: largest jaw opening.
        finger_length: fixed finger length ending at the tips (``x = d``); None: the
            fingers run from ``-depth_base`` to ``d`` (graspnetAPI).
        palm_depth: palm size along x (None: ``finger_width``).
        palm_width: full y span of the palm (None: ``w + 2 finger_width``, the fingers'
            outer faces at the current opening).
        palm_height: palm size along z (None: ``height``).
    """
    finger_width: float = GRIPPER_FINGER_WIDTH
    height: float = GRASP_HEIGHT
    depth_base: float = GRIPPER_DEPTH_BASE
    max_width: float = GRASP_MAX_WIDTH
    finger_length: Optional[float] = None
    palm_depth: Optional[float] = None
    palm_width: Optional[float] = None
    palm_height: Optional[float] = None

    def __post_init__(self):
        for name in ('finger_width', 'height', 'max_width', 'finger_length', 'palm_depth',
                     'palm_width', 'palm_height'):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value > 0):
                raise ValueError(f'gripper {name} must be a positive length (metres), '
                                 f'got {value}')
        if not (np.isfinite(self.depth_base) and self.depth_base >= 0):
            raise ValueError(f'gripper depth_base must be >= 0 (metres), got '
                             f'{self.depth_base}')

    # ------------------------------------------------------------------ geometry
    @property
    def palm_thickness(self) -> float:
        """Palm size along x."""
        return self.finger_width if self.palm_depth is None else float(self.palm_depth)

    def finger_range(self, depth):
        """x range ``(lo, hi)`` of the fingers for grasp depth(s) ``depth``."""
        depth = np.asarray(depth, dtype=np.float64)
        lo = (depth - self.finger_length if self.finger_length is not None
              else np.full_like(depth, -self.depth_base))
        return lo, depth

    def palm_half_width(self, width):
        """Half the palm's y span for jaw opening(s) ``width``."""
        width = np.asarray(width, dtype=np.float64)
        if self.palm_width is not None:
            return np.full_like(width, 0.5 * self.palm_width)
        return 0.5 * width + self.finger_width

    def solid_args(self, width, depth, approach: float = 0.0) -> tuple:
        """Arguments of :func:`gripper_solid_contains` after the coordinates:
        ``(half_width, finger_lo, finger_hi, finger_width, palm_lo, palm_half_width,
        half_height, palm_half_height)``; ``approach`` sweeps the palm back along ``-x``."""
        if approach < 0:
            raise ValueError(f'approach must be >= 0 (metres), got {approach}')
        width = np.asarray(width, dtype=np.float64)
        lo, hi = self.finger_range(depth)
        palm_h = self.height if self.palm_height is None else self.palm_height
        return (0.5 * width, lo, hi, self.finger_width,
                lo - self.palm_thickness - float(approach), self.palm_half_width(width),
                0.5 * self.height, 0.5 * palm_h)

    def contains(self, points: np.ndarray, width, depth,
                 approach: float = 0.0) -> Dict[str, np.ndarray]:
        """Which gripper-frame points are inside the gripper of a grasp.

        Args:
            points: (..., 3) points in the gripper frame, metres.
            width, depth: jaw opening and depth (floats, or arrays broadcasting with the
                points' leading shape).
            approach: length of the approach path swept behind the palm, metres.

        Returns:
            dict: bool arrays ``'solid'`` (fingers, palm or approach path) and
            ``'closing'`` (between the jaws).
        """
        p = np.asarray(points, dtype=np.float64)
        if p.shape[-1] != 3:
            raise ValueError(f'points must have shape (..., 3), got {p.shape}')
        x, y, z = p[..., 0], p[..., 1], p[..., 2]
        args = self.solid_args(width, depth, approach)
        return {'solid': gripper_solid_contains(x, y, z, *args),
                'closing': gripper_closing_contains(x, y, z, args[0], args[1], args[2],
                                                    args[6])}

    def boxes(self, width, depth, approach: float = 0.0) -> Dict[str, np.ndarray]:
        """The open boxes of the gripper in the gripper frame.

        Args:
            width, depth: jaw opening(s) and depth(s), metres (floats or arrays of one
                shape ``S``).
            approach: palm sweep along ``-x`` (approach path), metres.

        Returns:
            dict: ``'left_finger'``, ``'right_finger'``, ``'palm'`` -> float64 (S..., 2, 3)
            ``[lo, hi]`` corners (the palm box includes the approach path).
        """
        hw, flo, fhi, fw, plo, phw, hh, phh = np.broadcast_arrays(
            *self.solid_args(width, depth, approach))

        def box(x0, x1, y0, y1, z0, z1):
            return np.stack([np.stack([x0, y0, z0], -1), np.stack([x1, y1, z1], -1)], -2)

        return {'left_finger': box(flo, fhi, -hw - fw, -hw, -hh, hh),
                'right_finger': box(flo, fhi, hw, hw + fw, -hh, hh),
                'palm': box(plo, flo, -phw, phw, -phh, phh)}

    def closing_box(self, width, depth) -> np.ndarray:
        """float64 (S..., 2, 3) ``[lo, hi]`` of the closing region (its y faces belong to
        it: use :meth:`contains` to test points)."""
        hw, flo, fhi, _, _, _, hh, _ = np.broadcast_arrays(*self.solid_args(width, depth))
        return np.stack([np.stack([flo, -hw, -hh], -1), np.stack([fhi, hw, hh], -1)], -2)

    def drawing_boxes(self, width, depth,
                      finger_width: float = GRIPPER_DRAW_FINGER_WIDTH,
                      tail_length: float = GRIPPER_DRAW_TAIL_LENGTH) -> np.ndarray:
        """graspnetAPI's gripper drawing (``plot_gripper_pro_max``) as boxes.

        Two fingers from ``x = -depth_base - f`` to ``x = d`` just outside ``|y| = w/2``,
        the palm behind them and a tail of ``tail_length``; thickness ``f`` along z.

        Returns:
            np.ndarray: float64 (S..., 4, 6) ``[xmin, xmax, ymin, ymax, zmin, zmax]`` of
            the left finger, right finger, palm and tail.
        """
        w, d = np.broadcast_arrays(np.asarray(width, np.float64),
                                   np.asarray(depth, np.float64))
        f = float(finger_width)
        x0 = np.full_like(w, -self.depth_base - f)
        z0, z1 = np.full_like(w, -f / 2), np.full_like(w, f / 2)
        return np.stack([
            np.stack([x0, d, -w / 2 - f, -w / 2, z0, z1], -1),
            np.stack([x0, d, w / 2, w / 2 + f, z0, z1], -1),
            np.stack([x0 - f, x0, -w / 2 - f, w / 2 + f, z0, z1], -1),
            np.stack([x0 - f - tail_length, x0 - f, z0, z1, z0, z1], -1),
        ], axis=-2)


#: graspnetAPI's collision gripper (``collision_detection``): the labels' and the
#: evaluator's.
GRASPNET_GRIPPER = ParallelJawGripper()
