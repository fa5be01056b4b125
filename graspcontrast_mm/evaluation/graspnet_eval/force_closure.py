"""dexnet's two-finger force-closure score, with every grasp's contacts found once.

graspnetAPI scores a grasp with ``get_grasp_score``: for ``mu`` = 1.2, 1.0, ..., 0.2 it asks
dexnet's ``PointGraspMetrics3D.grasp_quality`` whether the grasp is in force closure, and
each of those calls closes the fingers on the object's SDF again. This module closes the
fingers of all grasps of an object once, with the SDF look-ups of all grasps batched
(:class:`~.sdf_grid.SdfGrid`), and applies the friction-cone test at every ``mu`` to the
same two contacts. The steps, and the dexnet rules they follow (grid coordinates unless
stated, object frame in metres otherwise):

1. *Lines of action* (``ParallelJawPtGrasp3D.close_fingers`` without approach check, as
   graspnetAPI's config sets ``check_approach=False``): each jaw starts at its open
   end point ``center -+ width / 2 * axis`` and moves ``width / 2`` towards the centre in
   ``max(int(width * cells_per_metre), 3)`` equally spaced steps.
2. *Contact* (``find_contact``): the first step whose SDF value is below the surface
   threshold and whose quadratic zero-crossing fit through it and its neighbours succeeds
   (and, except at the last step, the next value is not closer to zero).
3. *Normal* (``Contact3D`` / ``Sdf3D.surface_normal``): the contact point is mapped to the
   object frame and back (float32 both ways), must still be on the surface, and its normal
   is the least-variance direction of the on-surface points among the 27 stencil points at
   1.5 cells, oriented outwards by the SDF and then against the closing direction.
4. *Force closure* (``PointGraspMetrics3D.force_closure``, Nguyen's antipodal test): both
   contact normals must lie within ``arctan(mu)`` of the line joining the contacts.
5. *Score* (``get_grasp_score``): the smallest ``mu`` of the unbroken run of successes
   starting at 1.2, ``-1`` when 1.2 already fails.

Per-grasp scalar steps (zero-crossing fits, plane fits, angles) use the same numpy calls
as dexnet on the same values, so the verdicts are identical, not just close.
"""
from __future__ import annotations

import warnings
from typing import Optional, Tuple

import numpy as np

from .sdf_grid import SdfGrid

__all__ = [
    'FRICTION_LADDER', 'GraspContacts', 'close_fingers', 'friction_angles',
    'score_from_angles', 'force_closure_scores'
]

#: graspnetAPI's friction coefficients, in the order ``get_grasp_score`` tries them.
FRICTION_LADDER = np.array([1.2, 1.0, 0.8, 0.6, 0.4, 0.2])
_SAMPLES_PER_CELL = 2      # dexnet Grasp.samples_per_grid
_NORMAL_RADIUS = 1.5       # Sdf3D.surface_normal delta, cells
_ZC_EPS = 1.0              # find_zero_crossing_quadratic eps


def _stencil_offsets(delta: float = _NORMAL_RADIUS) -> np.ndarray:
    """The 27 offsets of dexnet's normal stencil, built by the same float steps."""
    offsets = []
    dx = -delta
    while dx <= delta:
        dy = -delta
        while dy <= delta:
            dz = -delta
            while dz <= delta:
                d = np.array([dx, dy, dz])
                if dx != 0 or dy != 0 or dz != 0:
                    d = delta * d / np.linalg.norm(d)
                offsets.append(d)
                dz += delta
            dy += delta
        dx += delta
    return np.array(offsets)


_STENCIL = _stencil_offsets()


def _zero_crossing(x1, y1, x2, y2, x3, y3, eps: float = _ZC_EPS):
    """Zero of the parabola through three samples along a line (grid coordinates), or
    None: the rule of dexnet's ``Sdf3D.find_zero_crossing_quadratic``."""
    v = x2 - x1
    v = v / np.linalg.norm(v)
    nz = v != 0
    t2 = ((x2 - x1)[nz] / v[nz])[0]
    t3 = ((x3 - x1)[nz] / v[nz])[0]
    t1 = 0
    rows = np.array([np.array([t1**2, t1, 1]), np.array([t2**2, t2, 1]),
                     np.array([t3**2, t3, 1])])
    try:
        w = np.linalg.solve(rows, np.array([y1, y2, y3]))
    except np.linalg.LinAlgError:
        return None
    roots = np.roots(w)
    t_zc = None
    for r in roots:     # the last admissible root wins
        if 0 <= r <= 10 and not np.iscomplex(r):
            t_zc = r
    if np.abs(w[0]) < 1e-10:
        return None
    if t_zc is None:
        t_zc = -w[1] / (2 * w[0])
    if t_zc < -eps or t_zc > eps:
        return None
    return x1 + t_zc * v


def _first_contact(line: np.ndarray, values: np.ndarray, on: np.ndarray):
    """Index of the contact step of one jaw and its zero crossing (grid), or None."""
    n = len(line)
    for i in np.flatnonzero(on):
        if i == 0:
            zc = _zero_crossing(line[0], values[0], line[1], values[1], line[2], values[2])
            ok = zc is not None and not np.abs(values[1]) < np.abs(values[0])
        elif i == n - 1:
            zc = _zero_crossing(line[i - 2], values[i - 2], line[i - 1], values[i - 1],
                                line[i], values[i])
            ok = zc is not None
        else:
            zc = _zero_crossing(line[i - 1], values[i - 1], line[i], values[i],
                                line[i + 1], values[i + 1])
            ok = zc is not None and not np.abs(values[i + 1]) < np.abs(values[i])
        if ok:
            return zc
    return None


class GraspContacts:
    """Contacts of a batch of grasps on one object (object frame, metres).

    Attributes:
        found (np.ndarray): (G,) bool, both contacts with a normal were found.
        points (np.ndarray): (G, 2, 3) contact points (valid where ``found``).
        normals (np.ndarray): (G, 2, 3) outward unit normals (valid where ``found``).
    """

    def __init__(self, num: int) -> None:
        self.found = np.zeros(num, dtype=bool)
        self.points = np.zeros((num, 2, 3))
        self.normals = np.zeros((num, 2, 3))


def close_fingers(grid: SdfGrid, centers: np.ndarray, axes: np.ndarray,
                  widths: np.ndarray) -> GraspContacts:
    """Close both jaws of every grasp on the object's SDF (dexnet's ``close_fingers``).

    Args:
        grid: the object's SDF (``grid.exact`` must be True).
        centers: (G, 3) grasp centres, object frame, metres (dexnet ``center``).
        axes: (G, 3) unit closing axes (dexnet ``axis_``, already normalised).
        widths: (G,) opening widths, metres.

    Returns:
        GraspContacts: contacts and normals of every grasp.
    """
    if not grid.exact:
        raise ValueError('close_fingers needs an SdfGrid that reproduces dexnet exactly '
                         '(grid.exact); score such objects with dexnet itself')
    num = len(centers)
    out = GraspContacts(num)
    if num == 0:
        return out
    # 1. lines of action of jaw 0 (from -axis side) and jaw 1 (from +axis side)
    lines, owners = [], []
    for g in range(num):
        width = widths[g]
        cells = grid.scale_to_grid * width
        steps = max(int(_SAMPLES_PER_CELL * float(cells) / 2), 3)
        t = np.linspace(0, float(width) / 2 - float(0.0) / 2, num=steps)
        half = width / 2.0
        axis = axes[g]
        ends = (centers[g] - half * axis, centers[g] + half * axis)
        for jaw, (start, direction) in enumerate(((ends[0], axis), (ends[1], -axis))):
            lines.append(start[None, :] + t[:, None] * direction[None, :])
            owners.append((g, jaw))
    sizes = np.array([len(x) for x in lines])
    coords = grid.to_grid(np.concatenate(lines))
    values = grid.values(coords)
    on = grid.on_surface(values)
    bounds = np.concatenate([[0], np.cumsum(sizes)])

    # 2. contact step and zero crossing of every jaw
    zcs, in_dirs, jaw_of = [], [], []
    for j, (g, jaw) in enumerate(owners):
        s, e = bounds[j], bounds[j + 1]
        if not on[s:e].any():
            continue
        line = coords[s:e]
        zc = _first_contact(line, values[s:e], on[s:e])
        if zc is None:
            continue
        direction = line[-1] - line[0]
        direction = direction / np.linalg.norm(direction)
        zcs.append(zc)
        in_dirs.append(grid.direction_to_obj(direction))
        jaw_of.append((g, jaw))
    if not zcs:
        return out
    with warnings.catch_warnings():
        # a zero crossing from a complex root keeps its real part, as in dexnet
        warnings.simplefilter('ignore')
        zc_obj = np.stack([grid.to_obj(np.asarray(z)) for z in zcs])

    # 3. normals: back to the grid, on-surface check, stencil plane fit, orientation
    as_grid = grid.to_grid(zc_obj)
    here = grid.values(as_grid)
    keep = np.flatnonzero(grid.on_surface(here))
    if len(keep) == 0:
        return out
    stencil = as_grid[keep][:, None, :] + _STENCIL[None, :, :]
    st_values = grid.values(stencil.reshape(-1, 3)).reshape(len(keep), len(_STENCIL))
    st_on = grid.on_surface(st_values)
    normals = np.zeros((len(keep), 3))
    fitted = np.zeros(len(keep), dtype=bool)
    for r in range(len(keep)):
        sel = np.flatnonzero(st_on[r])
        order = sel[np.argsort(st_values[r, sel], kind='stable')]
        pts = stencil[r, order]
        centred = pts - np.mean(pts, axis=0)
        try:
            u, _, _ = np.linalg.svd(centred.T)
        except np.linalg.LinAlgError:
            continue
        normals[r] = u[:, 2]
        fitted[r] = True
    probe = grid.values(as_grid[keep] + normals * 0.01)
    flip = probe < here[keep]
    normals[flip] = -normals[flip]

    # contacts that survived, with normals facing against the closing direction
    per_grasp = np.zeros((num, 2), dtype=bool)
    for r, k in enumerate(keep):
        if not fitted[r]:
            continue
        g, jaw = jaw_of[k]
        n = normals[r]
        if np.dot(in_dirs[k], n) > 0:
            n = -n
        out.points[g, jaw] = zc_obj[k]
        out.normals[g, jaw] = grid.direction_to_obj(n)
        per_grasp[g, jaw] = True
    out.found = per_grasp.all(axis=1)
    return out


def friction_angles(points: np.ndarray, normals: np.ndarray) -> Tuple[bool, float, float]:
    """Angles between each contact's inward normal and the line to the other contact.

    Args:
        points: (2, 3) contact points; normals: (2, 3) outward normals.

    Returns:
        tuple: (same_point, alpha_0, alpha_1) in radians (NaN where dexnet's arccos is
        undefined; such an angle never fails the cone test, as in dexnet).
    """
    p1, p2 = points[0], points[1]
    n1, n2 = -normals[0], -normals[1]
    if (p1 == p2).all():
        return True, 0.0, 0.0
    alphas = []
    with np.errstate(all='ignore'):
        for normal, contact, other in ((n1, p1, p2), (n2, p2, p1)):
            diff = other - contact
            proj = abs(normal.dot(diff)) / np.linalg.norm(normal)
            alphas.append(np.arccos(proj / np.linalg.norm(diff)))
    return False, alphas[0], alphas[1]


_CONE = {round(mu, 2): np.arctan(round(mu, 2)) for mu in FRICTION_LADDER}


def _in_closure(angles: Tuple[bool, float, float], mu) -> bool:
    same, a0, a1 = angles
    if same:
        return False
    limit = _CONE[mu]
    return not (a0 > limit) and not (a1 > limit)


def score_from_angles(angles: Optional[Tuple[bool, float, float]]) -> float:
    """graspnetAPI's ``get_grasp_score`` ladder on precomputed contact angles.

    Args:
        angles: :func:`friction_angles` of the grasp, or None when its contacts were not
            found (never in force closure).

    Returns:
        float: the smallest ``mu`` of the run of force-closure successes from 1.2 down,
        ``-1`` when 1.2 fails.
    """
    ladder = FRICTION_LADDER
    quality = -1
    closed = False
    for ind, value in enumerate(ladder):
        value = round(value, 2)
        before = closed
        closed = angles is not None and _in_closure(angles, value)
        if before and not closed:
            quality = round(ladder[ind - 1], 2)
            break
        if closed and value == ladder[-1]:
            quality = value
            break
        if value == ladder[0] and not closed:
            break
    return float(quality)


def force_closure_scores(grid: SdfGrid, centers: np.ndarray, axes: np.ndarray,
                         widths: np.ndarray) -> np.ndarray:
    """Force-closure scores of grasps on one object (see the module docstring).

    Args:
        grid: the object's SDF.
        centers, axes, widths: dexnet grasp parameters, object frame (see
            :func:`close_fingers`).

    Returns:
        np.ndarray: (G,) float64 scores in {-1, 0.2, ..., 1.2}.
    """
    contacts = close_fingers(grid, centers, axes, widths)
    scores = np.full(len(centers), -1.0)
    for g in np.flatnonzero(contacts.found):
        scores[g] = score_from_angles(friction_angles(contacts.points[g],
                                                      contacts.normals[g]))
    return scores

