"""Objects of the simulated benchmark: VHACD collision shapes, benchmark scale, top-down
antipodal grasps from the true shape.

Every benchmark object is a library object (:mod:`graspcontrast_mm.synthetic.objects`),
by default of the ``novel`` set (ids 12-16: duck, teddy, bunny, torus, lego brick; the
everyday meshes of ``pybullet_data``), which no generated training scene uses (training and
``test_seen`` scenes use the ``seen`` set: primitives and ``random_urdfs/000-149``).

Shape. The physics and the rendering use the same approximate convex decomposition of the
mesh (pybullet's VHACD, :func:`pybullet.vhacd`), which keeps concavities (the hole of the
torus, the gap between the duck's head and tail) that a single convex hull would fill.
Decompositions are computed once and cached outside the repository, in
``$GRASPCONTRAST_CACHE`` or ``$XDG_CACHE_HOME/graspcontrast_mm`` (default
``~/.cache/graspcontrast_mm``), under ``vhacd/``; the cache key holds the library version,
the object id, the benchmark scale and the VHACD parameters.

Scale. An object is shrunk (never enlarged) by the largest factor of
``BENCHMARK_SCALES`` such that, resting on any of the six faces of its oriented bounding
box, it offers at least one top-down antipodal grasp (:func:`topdown_grasps`) that fits
the gripper; so every object has a feasible grasp and the benchmark measures the grasp
source, not the object set.

Frames: object frame = library object frame (origin at the centre of mass, metres); world
frame = simulation base frame (z up, table top at z = 0).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from graspcontrast_mm.structures.grasp import make_grasp_array

from .planner import GripperModel

__all__ = [
    'VHACD_PARAMS', 'VHACD_CONCAVITIES', 'VHACD_MAX_PARTS', 'BENCHMARK_SCALES',
    'BenchmarkObject', 'cache_dir', 'load_benchmark_object', 'vhacd_parts_path',
    'topdown_grasps', 'TopDownConfig', 'parse_obj_parts'
]

#: Parameters of :func:`pybullet.vhacd` (part of the cache key; pybullet's defaults
#: otherwise). ``concavity`` is raised along :data:`VHACD_CONCAVITIES` until the object has
#: at most :data:`VHACD_MAX_PARTS` parts (physics cost grows with the part count).
VHACD_PARAMS: Dict[str, float] = dict(concavity=0.0025)
VHACD_CONCAVITIES: Tuple[float, ...] = (0.0025, 0.005, 0.01, 0.02, 0.04)
VHACD_MAX_PARTS = 16
#: Scale factors tried, largest first, until every resting pose has a top-down grasp.
BENCHMARK_SCALES: Tuple[float, ...] = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)
_CACHE_VERSION = 1


def cache_dir() -> str:
    """User cache folder of the benchmark objects (created on demand)."""
    root = os.environ.get('GRASPCONTRAST_CACHE')
    if not root:
        base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'),
                                                                 '.cache')
        root = os.path.join(base, 'graspcontrast_mm')
    return os.path.join(root, 'vhacd')


@dataclasses.dataclass
class TopDownConfig:
    """Settings of :func:`topdown_grasps` (metres, radians).

    Attributes:
        max_width: Largest object width between the contacts (the planner adds its width
            margin; 0.1 m opening - 0.02 m margin).
        grid: Spacing of the closing-line centres over the object's footprint.
        num_angles: Closing directions over 180 degrees.
        depths: Finger-tip depths below the object top.
        min_tip_height: Lowest finger-tip height above the table.
        slices: Heights above the finger tips at which the contacts are measured, up to
            the finger length (the jaws touch the widest of them first; slices above the
            object top find nothing).
        max_mu: Largest friction coefficient the two contacts may need.
        row_depth: ``depth`` of the returned rows (grasp point = TCP + depth upwards).
        max_per_object: Best grasps kept per object.
        finger_height: Finger size across the closing line (the contacts are measured on
            the centre line and on both finger edges).
        finger_length: Finger length along the approach (planner's gripper model).
        finger_thickness: Finger size along the closing line.
        width_margin: Extra opening of the planner (fingers at ``(width + margin) / 2``).
        max_com_distance: Largest horizontal distance of the jaws' centre from the centre
            of mass (farther grasps let the object turn between the fingers and slip).
    """
    max_width: float = 0.08
    grid: float = 0.008
    num_angles: int = 12
    depths: Tuple[float, ...] = (0.015, 0.025, 0.035)
    min_tip_height: float = 0.008
    slices: Tuple[float, ...] = (0.004, 0.012, 0.02, 0.03, 0.04, 0.05)
    max_mu: float = 0.3
    row_depth: float = 0.02
    max_per_object: int = 60
    # the robot's gripper (planner.GripperModel), one definition of its size
    finger_height: float = GripperModel.finger_height
    finger_length: float = GripperModel.finger_length
    finger_thickness: float = GripperModel.finger_thickness
    width_margin: float = 0.02
    max_com_distance: float = 0.045


@dataclasses.dataclass
class BenchmarkObject:
    """One benchmark object.

    Attributes:
        obj_id: Library id.
        name: Library name.
        scale: Benchmark scale applied to the library mesh.
        parts: Convex parts, each float64 (V_i, 3) vertices, object frame, metres.
        obj_path: Wavefront file of the parts at library scale (one ``o`` per part;
            pybullet loads it, with ``meshScale = scale``, as a compound of convex hulls
            for collisions and as a mesh for rendering).
    """
    obj_id: int
    name: str
    scale: float
    parts: List[np.ndarray]
    obj_path: str

    @property
    def vertices(self) -> np.ndarray:
        """float64 (V, 3) vertices of all parts, object frame."""
        return np.concatenate(self.parts, axis=0)

    def triangles(self) -> Tuple[np.ndarray, np.ndarray]:
        """Hull triangles of all parts (outward): float64 (V, 3) vertices and int64 (F, 3)
        faces."""
        verts, faces, _ = _parts_triangles(self.parts)
        return verts, faces


def parse_obj_parts(path: str) -> List[np.ndarray]:
    """Vertex sets of the objects (``o`` groups) of a Wavefront file."""
    parts: List[List[List[float]]] = []
    current: List[List[float]] = []
    with open(path) as f:
        for line in f:
            if line.startswith('o '):
                if current:
                    parts.append(current)
                current = []
            elif line.startswith('v '):
                current.append([float(v) for v in line.split()[1:4]])
    if current:
        parts.append(current)
    return [np.asarray(p, np.float64) for p in parts if len(p) >= 4]


def _write_parts_obj(path: str, parts: Sequence[np.ndarray]) -> None:
    from scipy.spatial import ConvexHull
    lines, offset = [], 1
    for k, part in enumerate(parts):
        hull = ConvexHull(part)
        verts = part[hull.vertices]
        remap = {int(v): i for i, v in enumerate(hull.vertices)}
        lines.append(f'o part_{k}')
        lines.extend(f'v {x:.6f} {y:.6f} {z:.6f}' for x, y, z in verts)
        for tri in hull.simplices:
            a, b, c = (remap[int(t)] + offset for t in tri)
            # outward orientation
            n = np.cross(part[tri[1]] - part[tri[0]], part[tri[2]] - part[tri[0]])
            if n @ (part[tri[0]] - verts.mean(0)) < 0:
                b, c = c, b
            lines.append(f'f {a} {b} {c}')
        offset += len(verts)
    tmp = f'{path}.{os.getpid()}.tmp'  # per process: concurrent runs do not interleave
    with open(tmp, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    os.replace(tmp, path)


def _run_vhacd(vertices: np.ndarray, faces: np.ndarray) -> List[np.ndarray]:
    """VHACD convex parts of a mesh, at most :data:`VHACD_MAX_PARTS` when any concavity
    of :data:`VHACD_CONCAVITIES` allows it (else the last one's)."""
    parts: List[np.ndarray] = []
    for concavity in VHACD_CONCAVITIES:
        parts = _run_vhacd_once(vertices, faces, dict(VHACD_PARAMS, concavity=concavity))
        if 0 < len(parts) <= VHACD_MAX_PARTS:
            break
    return parts


def _run_vhacd_once(vertices: np.ndarray, faces: np.ndarray,
                    params: Dict[str, float]) -> List[np.ndarray]:
    """VHACD convex parts of a mesh (pybullet's console output is silenced)."""
    import pybullet
    import trimesh
    with tempfile.TemporaryDirectory() as tmp:
        src, out = os.path.join(tmp, 'in.obj'), os.path.join(tmp, 'out.obj')
        trimesh.Trimesh(vertices, faces, process=False).export(src)
        fd = os.dup(1)
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 1)
            pybullet.vhacd(src, out, os.path.join(tmp, 'log.txt'), **params)
        finally:
            os.dup2(fd, 1)
            os.close(null)
            os.close(fd)
        return parse_obj_parts(out)


def _obb_rest_rotations(vertices: np.ndarray) -> List[np.ndarray]:
    """Rotations that rest the object on each of the 6 faces of its oriented box."""
    import trimesh
    to_box = np.asarray(trimesh.bounds.oriented_bounds(vertices)[0], np.float64)[:3, :3]
    out = []
    for axis in range(3):
        for sign in (1.0, -1.0):
            # box axis `axis` (times sign) becomes world -z (the face it rests on)
            target = np.zeros(3)
            target[axis] = sign
            R = _rotation_between(to_box.T @ target, np.array([0.0, 0.0, -1.0]))
            out.append(R)
    return out


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(a @ b)
    if np.linalg.norm(v) < 1e-9:
        if c > 0:
            return np.eye(3)
        perp = np.cross(a, [1.0, 0.0, 0.0])
        if np.linalg.norm(perp) < 1e-6:
            perp = np.cross(a, [0.0, 1.0, 0.0])
        perp /= np.linalg.norm(perp)
        return 2.0 * np.outer(perp, perp) - np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


def _has_grasp_in_every_rest_pose(obj: 'BenchmarkObject', cfg: TopDownConfig) -> bool:
    for R in _obb_rest_rotations(obj.vertices):
        low = (obj.vertices @ R.T)[:, 2].min()
        parts = [p @ R.T - [0.0, 0.0, low] for p in obj.parts]
        if len(topdown_grasps(parts, cfg=cfg)) == 0:
            return False
    return True


def _digest(data: dict) -> str:
    return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def vhacd_parts_path(obj_id: int, root: Optional[str] = None) -> str:
    """Cache file of an object's VHACD parts (library scale)."""
    from graspcontrast_mm.synthetic.objects import LIBRARY_VERSION
    key = dict(v=_CACHE_VERSION, lib=LIBRARY_VERSION, id=int(obj_id), vhacd=VHACD_PARAMS,
               concavities=VHACD_CONCAVITIES, max_parts=VHACD_MAX_PARTS)
    return os.path.join(root or cache_dir(), f'parts_{int(obj_id):03d}_{_digest(key)}.obj')


def load_benchmark_object(obj_id: int, *, library=None, root: Optional[str] = None,
                          cfg: Optional[TopDownConfig] = None) -> BenchmarkObject:
    """The benchmark version of a library object (VHACD parts at the benchmark scale).

    Computed on first use (VHACD: seconds to a few minutes per object on one core) and
    cached in :func:`cache_dir`: the parts at library scale (``parts_*.obj``) and the
    chosen scale (``scale_*.json``).

    Args:
        obj_id: Library id.
        library: ``ObjectLibrary`` (built when needed).
        root: Cache folder (default :func:`cache_dir`).
        cfg: Top-down grasp settings of the feasibility test.

    Returns:
        BenchmarkObject
    """
    cfg = cfg or TopDownConfig()
    root = root or cache_dir()
    parts_path = vhacd_parts_path(obj_id, root)
    scale_key = dict(parts=os.path.basename(parts_path), scales=BENCHMARK_SCALES,
                     cfg=dataclasses.asdict(cfg))
    scale_path = os.path.join(root, f'scale_{int(obj_id):03d}_{_digest(scale_key)}.json')
    name = None
    if not os.path.isfile(parts_path):
        if library is None:
            from graspcontrast_mm.synthetic.objects import ObjectLibrary
            library = ObjectLibrary()
        model = library.get(int(obj_id))
        name = model.name
        base_parts = _run_vhacd(np.asarray(model.vertices), np.asarray(model.faces))
        if not base_parts:
            raise RuntimeError(f'VHACD returned no part for library object {obj_id}')
        os.makedirs(root, exist_ok=True)
        _write_parts_obj(parts_path, base_parts)
    base_parts = parse_obj_parts(parts_path)
    if os.path.isfile(scale_path):
        with open(scale_path) as f:
            meta = json.load(f)
        return BenchmarkObject(int(obj_id), meta['name'], float(meta['scale']),
                               [p * float(meta['scale']) for p in base_parts], parts_path)
    if name is None:
        from graspcontrast_mm.synthetic.objects import ObjectLibrary
        name = (library or ObjectLibrary()).name(int(obj_id))
    chosen = None
    for scale in BENCHMARK_SCALES:
        obj = BenchmarkObject(int(obj_id), name, scale, [p * scale for p in base_parts],
                              parts_path)
        if _has_grasp_in_every_rest_pose(obj, cfg):
            chosen = obj
            break
    if chosen is None:
        raise RuntimeError(f'library object {obj_id} ({name}) has no top-down grasp '
                           f'in some resting pose even at scale {BENCHMARK_SCALES[-1]}')
    os.makedirs(root, exist_ok=True)
    tmp = f'{scale_path}.{os.getpid()}.tmp'
    with open(tmp, 'w') as f:
        json.dump(dict(name=name, scale=chosen.scale, key=scale_key,
                       num_parts=len(chosen.parts)), f, indent=1)
    os.replace(tmp, scale_path)
    return chosen


def _first_hits(scene, origins: np.ndarray, dirs: np.ndarray, max_t: float):
    """First surface hit of each ray.

    Returns:
        tuple: distance (nan: no hit within ``max_t``, or the ray starts inside the
        object), |cos| between ray and normal at the hit, and ``inside`` (bool: the first
        hit is a surface seen from inside, i.e. the ray starts inside the object).
    """
    import open3d as o3d
    rays = np.concatenate([origins, dirs], -1).reshape(-1, 6).astype(np.float32)
    out = scene.cast_rays(o3d.core.Tensor(rays), nthreads=1)
    t = out['t_hit'].numpy().astype(np.float64).reshape(origins.shape[:-1])
    n = out['primitive_normals'].numpy().astype(np.float64).reshape(origins.shape)
    cos = np.sum(n * dirs, -1)
    hit = np.isfinite(t) & (t <= max_t)
    inside = hit & (cos > 0)  # outward normal along the ray: it leaves the object
    ok = hit & ~inside
    return np.where(ok, t, np.nan), np.abs(cos), inside


def _parts_triangles(parts: Sequence[np.ndarray]) -> Tuple[np.ndarray, np.ndarray, list]:
    """Triangles (outward) and hull equations of convex parts."""
    from scipy.spatial import ConvexHull
    verts, faces, eqs, offset = [], [], [], 0
    for part in parts:
        part = np.asarray(part, np.float64)
        hull = ConvexHull(part)
        tri = hull.simplices.copy()
        centre = part[hull.vertices].mean(0)
        normal = np.cross(part[tri[:, 1]] - part[tri[:, 0]], part[tri[:, 2]] - part[tri[:, 0]])
        flip = np.sum(normal * (part[tri[:, 0]] - centre), -1) < 0
        tri[flip] = tri[flip][:, ::-1]
        verts.append(part)
        faces.append(tri + offset)
        eqs.append(hull.equations)
        offset += len(part)
    return np.concatenate(verts), np.concatenate(faces).astype(np.int64), eqs


def _inside_parts(points: np.ndarray, eqs: list, margin: float = 0.0) -> np.ndarray:
    """bool (N,) points inside any convex part (grown by ``margin``)."""
    out = np.zeros(len(points), bool)
    for eq in eqs:
        out |= np.all(points @ eq[:, :3].T + eq[:, 3] <= margin, axis=1)
    return out


def _gripper_samples(gripper_half: np.ndarray, cfg: 'TopDownConfig') -> np.ndarray:
    """(G, 3) sample points of the two fingers and the palm in the TCP frame, per grasp.

    Returns:
        np.ndarray: (N, G, 3) for ``gripper_half`` (N,) half openings (TCP frame: x
        approach, y closing, z across; fingers ``x in [-finger_length, 0]``, ``|y| in
        [half, half + thickness]``, ``|z| <= finger_height / 2``; palm behind them).
    """
    fl, ft, fh = cfg.finger_length, cfg.finger_thickness, cfg.finger_height
    xs = np.linspace(-fl, 0.0, 7)
    ys = np.array([0.1, 0.5, 0.9]) * ft
    zs = np.array([-0.45, 0.0, 0.45]) * fh
    X, Y, Z = np.meshgrid(xs, ys, zs, indexing='ij')
    finger = np.stack([X.ravel(), Y.ravel(), Z.ravel()], 1)  # y offset beyond `half`
    n = len(gripper_half)
    right = np.broadcast_to(finger, (n,) + finger.shape).copy()
    right[..., 1] += gripper_half[:, None]
    left = right.copy()
    left[..., 1] *= -1
    py = np.linspace(-0.5 * cfg.max_width - ft - 0.01, 0.5 * cfg.max_width + ft + 0.01, 9)
    PX, PY, PZ = np.meshgrid([-fl - 0.005], py, zs, indexing='ij')
    palm = np.stack([PX.ravel(), PY.ravel(), PZ.ravel()], 1)
    return np.concatenate([right, left, np.broadcast_to(palm, (n,) + palm.shape)], axis=1)


def topdown_grasps(parts: Sequence[np.ndarray], *, cfg: Optional[TopDownConfig] = None,
                   com_xy: Optional[np.ndarray] = None, object_id: int = -1) -> np.ndarray:
    """Top-down antipodal grasps of one object from its true shape (world frame).

    Closing lines are laid over the object's footprint (``grid`` spacing, ``num_angles``
    horizontal directions) at finger-tip heights ``top - depth``, each with two parallel
    lines at the finger edges (``finger_height`` apart). On each line the two jaws start
    at the widest opening, ``+-(max_width / 2 + 0.01)`` m from the line centre, and the
    contacts are the first surfaces a ray from each jaw towards the centre meets (Open3D
    ray casting), at ``slices`` heights above the finger tips; a jaw that starts inside
    the object on any line is no grasp. Jaws close on the outermost contacts, so concave
    objects (a torus rim) are grasped as a parallel gripper would. A grasp is kept when
    the lowest slice of the centre line has both contacts, the width between the outermost
    contacts is at most ``max_width``, the friction they need (``tan`` of the larger angle
    between contact normal and closing line, Nguyen's two-contact test) at most ``max_mu``,
    and no sample point of the fingers (opened to ``width + width_margin``, centred between
    the contacts) or of the palm lies inside a part of the object.

    Args:
        parts: Convex parts, each (V_i, 3) vertices, world frame (z up), metres.
        cfg: Settings.
        com_xy: (2,) centre of mass seen from above (default: centre of the vertices'
            box); grasps near it score higher.
        object_id: Column 16 of the rows.

    Returns:
        np.ndarray: float32 (N, 17) grasp rows, world frame, best first. Approach straight
        down; TCP (finger tips) at ``translation - depth * z``.
    """
    from graspcontrast_mm.synthetic.grasp_labels import _raycasting_scene
    import trimesh
    cfg = cfg or TopDownConfig()
    vertices, faces, eqs = _parts_triangles(parts)
    scene = _raycasting_scene(trimesh.Trimesh(vertices, faces, process=False))
    lo, hi = vertices.min(0), vertices.max(0)
    top = hi[2]
    if com_xy is None:
        com_xy = 0.5 * (lo[:2] + hi[:2])
    xs = np.arange(lo[0] + 0.5 * cfg.grid, hi[0], cfg.grid)
    ys = np.arange(lo[1] + 0.5 * cfg.grid, hi[1], cfg.grid)
    if len(xs) == 0 or len(ys) == 0:
        return np.zeros((0, 17), np.float32)
    gx, gy = np.meshgrid(xs, ys, indexing='ij')
    cxy = np.stack([gx.ravel(), gy.ravel()], 1)  # (P, 2)
    theta = np.arange(cfg.num_angles) * np.pi / cfg.num_angles
    dirs = np.stack([np.cos(theta), np.sin(theta), np.zeros_like(theta)], 1)  # (A, 3)
    tips = np.unique(np.maximum(top - np.asarray(cfg.depths), cfg.min_tip_height))
    tips = tips[tips < top - 0.003]
    if len(tips) == 0:
        tips = np.array([max(cfg.min_tip_height, top - 0.004)])
    slices = np.asarray(cfg.slices)
    lateral = np.array([0.0, -0.5, 0.5]) * cfg.finger_height  # across the finger width
    P, A, D, L, S = len(cxy), len(dirs), len(tips), len(lateral), len(slices)
    z = tips[:, None] + slices[None, :]  # (D, S)
    perp = np.stack([-dirs[:, 1], dirs[:, 0], np.zeros(A)], 1)  # (A, 3) horizontal
    centers = np.zeros((P, A, D, L, S, 3))
    centers[..., 0] = cxy[:, 0, None, None, None, None]
    centers[..., 1] = cxy[:, 1, None, None, None, None]
    centers[..., 2] = z[None, None, :, None, :]
    centers += lateral[None, None, None, :, None, None] * perp[None, :, None, None, None, :]
    b = np.broadcast_to(dirs[None, :, None, None, None, :], centers.shape)
    h0 = 0.5 * cfg.max_width + 0.01
    t_p, cos_p, in_p = _first_hits(scene, centers + h0 * b, -b, 2 * h0)
    t_m, cos_m, in_m = _first_hits(scene, centers - h0 * b, b, 2 * h0)
    blocked = (in_p | in_m).reshape(P, A, D, L * S).any(-1)
    # contact positions along b from the line centre (nan: none), lines x slices flattened
    s_plus = (h0 - t_p).reshape(P, A, D, L * S)
    s_minus = (t_m - h0).reshape(P, A, D, L * S)
    cos_p = cos_p.reshape(P, A, D, L * S)
    cos_m = cos_m.reshape(P, A, D, L * S)
    with np.errstate(invalid='ignore'):
        pair = np.isfinite(s_plus) & np.isfinite(s_minus) & (s_minus < s_plus)
        first = pair[..., 0] & ~blocked  # the centre line's lowest slice holds the object
        hi_s = np.where(np.isfinite(s_plus), s_plus, -np.inf).max(-1)
        lo_s = np.where(np.isfinite(s_minus), s_minus, np.inf).min(-1)
        width = np.where(first, hi_s - lo_s, np.inf)
        i_hi = np.where(np.isfinite(s_plus), s_plus, -np.inf).argmax(-1)
        i_lo = np.where(np.isfinite(s_minus), s_minus, np.inf).argmin(-1)
    cos_hi = np.take_along_axis(cos_p, i_hi[..., None], -1)[..., 0]
    cos_lo = np.take_along_axis(cos_m, i_lo[..., None], -1)[..., 0]
    cos_min = np.clip(np.minimum(cos_hi, cos_lo), 1e-9, 1.0)
    mu = np.sqrt(1.0 - cos_min ** 2) / cos_min
    ok = first & (width <= cfg.max_width) & (width > 0.003) & (mu <= cfg.max_mu)
    if not ok.any():
        return np.zeros((0, 17), np.float32)
    ip, ia, idp = np.nonzero(ok)
    mid = 0.5 * (hi_s[ip, ia, idp] + lo_s[ip, ia, idp])
    bb = dirs[ia]
    c = np.stack([cxy[ip, 0], cxy[ip, 1], tips[idp]], 1) + mid[:, None] * bb
    w = width[ip, ia, idp]
    m = mu[ip, ia, idp]
    dist = np.linalg.norm(c[:, :2] - np.asarray(com_xy)[None], axis=1)
    near = dist <= cfg.max_com_distance  # far from the centre of mass it turns and slips
    if not near.any():
        return np.zeros((0, 17), np.float32)
    ia, bb, c, w, m, dist = ia[near], bb[near], c[near], w[near], m[near], dist[near]
    score = 1.0 - 0.4 * m / cfg.max_mu - 4.0 * dist - 0.5 * w + 0.5 * top
    x_axis = np.array([0.0, 0.0, -1.0])
    R = np.stack([np.broadcast_to(x_axis, bb.shape), bb, np.cross(x_axis, bb)], axis=-1)
    # the best candidates whose fingers (opened with the planner's margin) and palm stay
    # out of the object
    order = np.argsort(-score, kind='stable')[:cfg.max_per_object * 5]
    half = 0.5 * np.minimum(w[order] + cfg.width_margin, cfg.max_width + cfg.width_margin)
    local = _gripper_samples(half, cfg)  # (K, G, 3) TCP frame
    world = np.einsum('kij,kgj->kgi', R[order], local) + c[order, None, :]
    free = ~_inside_parts(world.reshape(-1, 3), eqs, margin=-1e-4).reshape(
        len(order), -1).any(-1)
    order = order[free][:cfg.max_per_object]
    t = c[order].copy()
    t[:, 2] += cfg.row_depth  # grasp point above the finger tips
    return make_grasp_array(score[order], w[order], np.full(len(order), cfg.row_depth),
                            R[order], t, object_id)
