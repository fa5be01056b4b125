"""Analytic per-object grasp labels in GraspNet-1Billion's ``grasp_label/XXX_labels.npz`` format.

For every grasp point ``p`` (sampled on the object surface, object frame, metres), every
approach view ``v`` (300 Fibonacci views, approach ``a = -v``), in-plane angle
``theta_k = k pi / 12`` and depth ``d_j = 0.01 (j + 1)`` m, the grasp is the gripper pose
``R = view_angle_to_matrix(v, theta_k)`` at ``t = p`` (see
:mod:`graspcontrast_mm.structures.grasp` for the gripper frame). As in graspnetAPI's
evaluator, the fingers close along the line through ``c = p + d_j a`` in the closing
direction ``b = R[:, 1]``:

* contacts: two rays cast from outside the object along ``-b`` and ``+b`` through ``c`` give
  the outermost surface crossings ``c + s_+ b`` (``s_+ > 0``) and ``c + s_- b``
  (``s_- < 0``); both must exist (the object straddles ``c``);
* width: the jaws open symmetrically about ``c``, so ``width = 2 max(s_+, -s_-) + margin``;
  wider than ``max_width`` -> invalid;
* friction: with ``alpha_i`` the angle between the contact normal and the closing line,
  ``mu_min = tan(max(alpha_+, alpha_-))`` (Nguyen's two-contact test, the rule of dexnet's
  ``force_closure`` used by graspnetAPI's evaluator). The stored score is ``mu_min`` rounded
  up to the friction grid (``friction_step``, smallest value ``friction_step``, since
  graspnetAPI treats scores ``<= 0`` as invalid); ``mu_min > max_friction`` -> ``-1``;
* collision: graspnetAPI's gripper boxes (fingers ``x in (-depth_base, d)``,
  ``|y| in (w/2, w/2 + finger_width)``, palm ``x in (-depth_base - finger_width,
  -depth_base)``, ``|z| < height/2``, gripper frame) against a dense sample of the object's
  own surface.

Output arrays (what graspnetAPI's ``loadGraspLabels`` / ``get_model_grasps`` read):
``points`` float32 (Np, 3), ``offsets`` float32 (Np, 300, 12, 4, 3) = ``[angle (rad),
depth (m), width (m)]``, ``collision`` bool (Np, 300, 12, 4), ``scores`` float32
(Np, 300, 12, 4) (``mu``, -1 invalid). Invalid grasps store the width they would need
(clipped to ``max_width``), or ``max_width`` when no contacts exist.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..datasets.graspnet_io import read_grasp_labels, write_grasp_labels
from ..structures.gripper import gripper_solid_contains
from ..structures.grasp import (GRASP_HEIGHT, GRASP_MAX_WIDTH, GRIPPER_DEPTH_BASE,
                                GRIPPER_FINGER_WIDTH, LABEL_DEPTHS, NUM_ANGLES, NUM_VIEWS,
                                approach_angle_to_matrix, generate_views)

__all__ = [
    'GraspLabelConfig', 'GraspLabels', 'as_trimesh', 'check_graspable_mesh',
    'sample_surface_points', 'antipodal_contacts', 'gripper_collision',
    'compute_grasp_labels', 'save_grasp_labels', 'load_grasp_labels'
]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class GraspLabelConfig:
    """Settings of the analytic grasp labels (lengths in metres).

    Attributes:
        point_spacing: Voxel size of the surface sample that gives the grasp points.
        max_points: Upper bound on the grasp points (farthest point sampling beyond it);
            ``None``: no bound. The label file grows by ~0.2 MB per point (uncompressed).
        num_views: Approach views (300 in GraspNet).
        num_angles: In-plane angles ``k pi / num_angles`` (12 in GraspNet).
        depths: Grasp depths (0.01 .. 0.04 in GraspNet).
        width_margin: Added to the jaw opening that just touches the contacts (half on
            each side).
        max_width: Largest jaw opening.
        friction_step: Friction grid of the stored scores (``None``: continuous values,
            floored at 1e-3 so that they stay positive).
        max_friction: Largest friction coefficient still labelled valid.
        collision_spacing: Spacing of the surface sample used for collision checks.
        finger_width: Gripper finger width along the closing axis.
        depth_base: Finger length behind the grasp point.
        height: Finger thickness.
        seed: Seed of the surface sampling.
        chunk_points: Grasp points per ray-casting batch (memory ~ 14400 rays per point).
        num_threads: Threads of Open3D's ray casting (0: all cores).
    """
    point_spacing: float = 0.005
    max_points: Optional[int] = 512
    num_views: int = NUM_VIEWS
    num_angles: int = NUM_ANGLES
    depths: Tuple[float, ...] = tuple(float(d) for d in LABEL_DEPTHS)
    width_margin: float = 0.01
    max_width: float = GRASP_MAX_WIDTH
    friction_step: Optional[float] = 0.1
    max_friction: float = 1.2
    collision_spacing: float = 0.004
    finger_width: float = GRIPPER_FINGER_WIDTH
    depth_base: float = GRIPPER_DEPTH_BASE
    height: float = GRASP_HEIGHT
    seed: int = 0
    chunk_points: int = 32
    num_threads: int = 1

    def __post_init__(self):
        for name in ('point_spacing', 'max_width', 'max_friction', 'collision_spacing',
                     'finger_width', 'height'):
            if not getattr(self, name) > 0:
                raise ValueError(f'{name} must be positive, got {getattr(self, name)}')
        if self.width_margin < 0 or self.width_margin >= self.max_width:
            raise ValueError(f'width_margin must be in [0, max_width), got {self.width_margin}')
        if not self.depths or min(self.depths) <= 0:
            raise ValueError(f'depths must be positive, got {self.depths}')
        if self.friction_step is not None and not self.friction_step > 0:
            raise ValueError(f'friction_step must be positive or None, '
                             f'got {self.friction_step}')

    @property
    def angles(self) -> np.ndarray:
        """float64 (A,) in-plane angles, radians."""
        return np.arange(self.num_angles, dtype=np.float64) * np.pi / self.num_angles


@dataclasses.dataclass
class GraspLabels:
    """Grasp labels of one object, object frame, in graspnetAPI's layout.

    Attributes:
        points: float32 (Np, 3) grasp points, object frame, metres.
        offsets: float32 (Np, V, A, D, 3) ``[angle (rad), depth (m), width (m)]``.
        collision: bool (Np, V, A, D) gripper collides with the object itself.
        scores: float32 (Np, V, A, D) minimum friction coefficient, -1 invalid.
    """
    points: np.ndarray
    offsets: np.ndarray
    collision: np.ndarray
    scores: np.ndarray

    def as_dict(self) -> Dict[str, np.ndarray]:
        """The arrays under the npz keys graspnetAPI reads."""
        return dict(points=self.points, offsets=self.offsets, collision=self.collision,
                    scores=self.scores)

    @property
    def num_points(self) -> int:
        return int(self.points.shape[0])


# ----------------------------------------------------------------------------- meshes


def as_trimesh(mesh: Any, name: str = 'object'):
    """Return ``mesh`` as a ``trimesh.Trimesh`` (object frame, metres).

    Args:
        mesh: ``trimesh.Trimesh``, Open3D ``TriangleMesh`` (legacy or tensor), an object with
            ``vertices`` and ``faces`` (e.g. ``ObjectModel``) or a ``(vertices, faces)``
            tuple.
        name: Object name for error messages.

    Raises:
        ValueError: the mesh is empty, not finite or malformed.
    """
    import trimesh
    if isinstance(mesh, trimesh.Trimesh):
        vertices, faces = mesh.vertices, mesh.faces
    elif isinstance(mesh, (tuple, list)) and len(mesh) == 2:
        vertices, faces = mesh
    elif hasattr(mesh, 'triangles') and hasattr(mesh, 'vertices'):  # open3d legacy
        vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.triangles)
    elif hasattr(mesh, 'vertex') and hasattr(mesh, 'triangle'):  # open3d tensor
        vertices = mesh.vertex.positions.numpy()
        faces = mesh.triangle.indices.numpy()
    elif hasattr(mesh, 'vertices') and hasattr(mesh, 'faces'):
        vertices, faces = mesh.vertices, mesh.faces
    else:
        raise ValueError(f'{name}: unsupported mesh type {type(mesh).__name__}')
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or len(vertices) < 4:
        raise ValueError(f'{name}: mesh vertices must have shape (V >= 4, 3), '
                         f'got {vertices.shape}')
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) < 4:
        raise ValueError(f'{name}: mesh faces must have shape (F >= 4, 3), got {faces.shape}')
    if not np.all(np.isfinite(vertices)):
        raise ValueError(f'{name}: mesh vertices contain NaN or inf')
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise ValueError(f'{name}: mesh faces index missing vertices')
    return trimesh.Trimesh(vertices, faces.astype(np.int64), process=False)


def check_graspable_mesh(mesh: Any, name: str = 'object',
                         max_width: float = GRASP_MAX_WIDTH):
    """Validate a mesh for grasp labelling and return it outward-oriented.

    Args:
        mesh: Any input of :func:`as_trimesh` (object frame, metres).
        name: Object name for error messages.
        max_width: Gripper opening, metres.

    Returns:
        trimesh.Trimesh: watertight, outward-oriented copy.

    Raises:
        ValueError: the mesh is not watertight (closed, consistently wound), has no volume,
            or its smallest oriented extent exceeds ``max_width`` (it fits no grasp).
    """
    tm = as_trimesh(mesh, name)
    if not tm.is_watertight:
        merged = tm.copy()
        merged.merge_vertices()
        if not merged.is_watertight:
            raise ValueError(f'{name}: mesh is not watertight (grasp labels and SDFs need a '
                             'closed surface; repair it first)')
        tm = merged
    if not tm.is_winding_consistent:
        raise ValueError(f'{name}: mesh has inconsistent face winding')
    volume = float(tm.volume)
    if abs(volume) < 1e-12:
        raise ValueError(f'{name}: mesh encloses no volume')
    if volume < 0:
        tm = tm.copy()
        tm.invert()
    extents = np.sort(tm.bounding_box_oriented.primitive.extents)
    if extents[0] >= max_width:
        raise ValueError(f'{name}: object is too big for the {max_width:.3f} m gripper '
                         f'(smallest oriented extent {extents[0]:.3f} m); check that the '
                         'mesh is in metres')
    return tm


def sample_surface_points(mesh, spacing: float, max_points: Optional[int] = None,
                          seed: int = 0) -> np.ndarray:
    """Points on the surface, about ``spacing`` apart.

    The surface is sampled densely (area-weighted, seeded), reduced to one sample per voxel
    of size ``spacing`` (the sample nearest to the voxel's mean, so points stay on the
    surface) and, beyond ``max_points``, by farthest point sampling.

    Args:
        mesh: ``trimesh.Trimesh`` in the object frame, metres.
        spacing: Voxel size, metres.
        max_points: Optional upper bound on the number of points.
        seed: Sampling seed.

    Returns:
        np.ndarray: float64 (N, 3) surface points, object frame.
    """
    import trimesh
    area = float(mesh.area)
    count = int(min(max(8.0 * area / spacing**2, 2000), 2_000_000))
    samples, _ = trimesh.sample.sample_surface(mesh, count, seed=seed)
    samples = np.asarray(samples, dtype=np.float64)
    keys = np.floor((samples - samples.min(0)) / spacing).astype(np.int64)
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    nvox = int(inverse.max()) + 1
    mean = np.zeros((nvox, 3))
    np.add.at(mean, inverse, samples)
    mean /= np.bincount(inverse, minlength=nvox)[:, None]
    dist = np.linalg.norm(samples - mean[inverse], axis=1)
    order = np.lexsort((dist, inverse))
    first = order[np.r_[True, inverse[order][1:] != inverse[order][:-1]]]
    points = samples[np.sort(first)]
    if max_points is not None and len(points) > int(max_points):
        import open3d as o3d
        cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
        cloud = cloud.farthest_point_down_sample(int(max_points))
        points = np.asarray(cloud.points, dtype=np.float64)
    return points


def _raycasting_scene(mesh):
    import open3d as o3d
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(mesh.vertices, np.float32)),
                        o3d.core.Tensor(np.asarray(mesh.faces, np.uint32)))
    return scene


def _cast(scene, origins: np.ndarray, dirs: np.ndarray, num_threads: int):
    import open3d as o3d
    rays = np.concatenate([origins, dirs], axis=-1).reshape(-1, 6).astype(np.float32)
    out = scene.cast_rays(o3d.core.Tensor(rays), nthreads=int(num_threads))
    t_hit = out['t_hit'].numpy().astype(np.float64)
    normals = out['primitive_normals'].numpy().astype(np.float64)
    shape = origins.shape[:-1]
    return t_hit.reshape(shape), normals.reshape(shape + (3, ))


# ----------------------------------------------------------------------------- contacts


def antipodal_contacts(mesh: Any,
                       centers: np.ndarray,
                       directions: np.ndarray,
                       *,
                       ray_start: Optional[float] = None,
                       scene=None,
                       num_threads: int = 1) -> Dict[str, np.ndarray]:
    """Outermost contacts of parallel jaws closing along lines through ``centers``.

    Args:
        mesh: Watertight outward-oriented mesh (any :func:`as_trimesh` input), object frame.
        centers: (..., 3) closing-line centres ``c``, object frame, metres.
        directions: (..., 3) closing directions ``b`` (unit), same shape.
        ray_start: Distance from ``c`` at which the rays start (default: bounding-box
            diagonal + 0.1 m, outside the object).
        scene: Optional prebuilt Open3D ``RaycastingScene`` of ``mesh``.
        num_threads: Ray-casting threads (0: all cores).

    Returns:
        dict of (...) arrays: ``s_plus`` / ``s_minus`` float64 signed positions of the
        contacts along ``b`` (``c + s b``, metres; nan where the line misses),
        ``found`` bool (both contacts exist and ``s_minus < 0 < s_plus``),
        ``half_width`` float64 ``max(s_plus, -s_minus)``, ``mu`` float64 minimum friction
        ``tan(max contact angle)`` (inf where not found or a normal is perpendicular).
    """
    tm = mesh if scene is not None else as_trimesh(mesh)
    centers = np.asarray(centers, dtype=np.float64)
    directions = np.asarray(directions, dtype=np.float64)
    if centers.shape[-1] != 3 or directions.shape != centers.shape:
        raise ValueError(f'centers and directions must have the same shape (..., 3), got '
                         f'{centers.shape} and {directions.shape}')
    if scene is None:
        scene = _raycasting_scene(tm)
    if ray_start is None:
        bounds = np.asarray(as_trimesh(mesh).bounds)
        ray_start = float(np.linalg.norm(bounds[1] - bounds[0])) + 0.1
        ray_start += float(np.max(np.linalg.norm(
            centers.reshape(-1, 3) - bounds.mean(0), axis=-1), initial=0.0))
    t_plus, n_plus = _cast(scene, centers + ray_start * directions, -directions, num_threads)
    t_minus, n_minus = _cast(scene, centers - ray_start * directions, directions,
                             num_threads)
    with np.errstate(invalid='ignore'):
        s_plus = np.where(np.isfinite(t_plus), ray_start - t_plus, np.nan)
        s_minus = np.where(np.isfinite(t_minus), t_minus - ray_start, np.nan)
        found = (s_plus > 0) & (s_minus < 0)
        cos_plus = np.abs(np.sum(n_plus * directions, -1))
        cos_minus = np.abs(np.sum(n_minus * directions, -1))
        cos_min = np.clip(np.minimum(cos_plus, cos_minus), 0.0, 1.0)
        mu = np.where(found & (cos_min > 1e-9),
                      np.sqrt(np.maximum(1.0 - cos_min**2, 0.0)) / np.maximum(cos_min, 1e-9),
                      np.inf)
    half_width = np.where(found, np.fmax(s_plus, -s_minus), np.nan)
    return dict(s_plus=s_plus, s_minus=s_minus, found=found, half_width=half_width, mu=mu)


def _quantize_friction(mu: np.ndarray, valid: np.ndarray, cfg: GraspLabelConfig):
    """float32 scores: ``mu`` rounded up to the friction grid, -1 where invalid."""
    ok = valid & (mu <= cfg.max_friction + 1e-9)
    if cfg.friction_step is None:
        q = np.maximum(mu, 1e-3)
    else:
        step = cfg.friction_step
        q = np.maximum(np.ceil(np.where(ok, mu, 0.0) / step - 1e-6), 1.0) * step
        ok &= q <= cfg.max_friction + 1e-9
    return np.where(ok, q, -1.0).astype(np.float32)


# ----------------------------------------------------------------------------- collision


def _collision_kernel_py(grasp_points, nbr_ptr, nbr_idx, obstacles, approach, base_y,
                         base_z, cos_a, sin_a, depths, widths, finger_width, depth_base,
                         half_height, out):
    """Collision kernel (also the numba source): the inside test is the gripper model's
    :func:`~graspcontrast_mm.structures.gripper.gripper_solid_contains`; the bounds before
    it only skip points that are outside every grasp of the grid."""
    num_p = grasp_points.shape[0]
    num_v = approach.shape[0]
    num_a = cos_a.shape[0]
    num_d = depths.shape[0]
    palm_lo = -(depth_base + finger_width)
    x_max = depths.max()
    for p in range(num_p):
        for j in range(nbr_ptr[p], nbr_ptr[p + 1]):
            q0 = obstacles[nbr_idx[j], 0] - grasp_points[p, 0]
            q1 = obstacles[nbr_idx[j], 1] - grasp_points[p, 1]
            q2 = obstacles[nbr_idx[j], 2] - grasp_points[p, 2]
            for v in range(num_v):
                x = q0 * approach[v, 0] + q1 * approach[v, 1] + q2 * approach[v, 2]
                if x <= palm_lo or x >= x_max:
                    continue
                u = q0 * base_y[v, 0] + q1 * base_y[v, 1] + q2 * base_y[v, 2]
                w = q0 * base_z[v, 0] + q1 * base_z[v, 1] + q2 * base_z[v, 2]
                for a in range(num_a):
                    z = -sin_a[a] * u + cos_a[a] * w
                    if z <= -half_height or z >= half_height:
                        continue
                    y = cos_a[a] * u + sin_a[a] * w
                    for d in range(num_d):
                        if out[p, v, a, d]:
                            continue
                        hw = 0.5 * widths[p, v, a, d]
                        if _solid_contains(x, y, z, hw, -depth_base, depths[d],
                                           finger_width, palm_lo, hw + finger_width,
                                           half_height, half_height):
                            out[p, v, a, d] = True
    return out


_KERNEL = None
_solid_contains = gripper_solid_contains


def _collision_kernel():
    global _KERNEL, _solid_contains
    if _KERNEL is None:
        try:
            import numba
            _solid_contains = numba.njit(inline='always')(gripper_solid_contains)
            _KERNEL = numba.njit(cache=True, nogil=True)(_collision_kernel_py)
        except Exception as exc:  # pragma: no cover - numba is a runtime requirement
            logger.warning('numba unavailable (%s): gripper collisions run in pure Python '
                           'and are slow', exc)
            _solid_contains = gripper_solid_contains
            _KERNEL = _collision_kernel_py
    return _KERNEL


def gripper_collision(obstacle_points: np.ndarray,
                      grasp_points: np.ndarray,
                      widths: np.ndarray,
                      *,
                      views: Optional[np.ndarray] = None,
                      angles: Optional[np.ndarray] = None,
                      depths: Optional[np.ndarray] = None,
                      finger_width: float = GRIPPER_FINGER_WIDTH,
                      depth_base: float = GRIPPER_DEPTH_BASE,
                      height: float = GRASP_HEIGHT,
                      out: Optional[np.ndarray] = None) -> np.ndarray:
    """Collision of graspnetAPI's gripper boxes with obstacle points, for a label grid.

    The grasp ``(p, v, a, d)`` has its gripper frame at ``grasp_points[p]`` with rotation
    ``view_angle_to_matrix(views[v], angles[a])``; it collides when an obstacle point lies
    strictly inside a finger (``-depth_base < x < depths[d]``,
    ``w/2 < |y| < w/2 + finger_width``) or the palm (``-depth_base - finger_width < x <
    -depth_base``, ``|y| < w/2 + finger_width``), with ``|z| < height / 2`` (gripper frame,
    ``w = widths[p, v, a, d]``), the rule of graspnetAPI's ``collision_detection``.

    Args:
        obstacle_points: (K, 3) obstacle surface points, same frame as ``grasp_points``.
        grasp_points: (Np, 3) gripper origins, metres.
        widths: (Np, V, A, D) jaw openings, metres.
        views: (V, 3) view directions (default: :func:`generate_views` ``(V)``).
        angles: (A,) in-plane angles, radians (default ``k pi / A``).
        depths: (D,) grasp depths, metres (default ``0.01 (j + 1)``).
        finger_width: Finger width, metres.
        depth_base: Finger length behind the grasp point, metres.
        height: Finger thickness, metres.
        out: Optional bool (Np, V, A, D) array OR-ed into (updated in place).

    Returns:
        np.ndarray: bool (Np, V, A, D), True = collision.
    """
    from scipy.spatial import cKDTree
    grasp_points = np.ascontiguousarray(grasp_points, dtype=np.float64).reshape(-1, 3)
    widths = np.ascontiguousarray(widths, dtype=np.float64)
    num_p, num_v, num_a, num_d = widths.shape if widths.ndim == 4 else (None, ) * 4
    if widths.ndim != 4 or num_p != len(grasp_points):
        raise ValueError(f'widths must have shape (Np={len(grasp_points)}, V, A, D), '
                         f'got {widths.shape}')
    views = generate_views(num_v) if views is None else np.asarray(views, np.float64)
    angles = (np.arange(num_a) * np.pi / num_a if angles is None else np.asarray(
        angles, np.float64))
    depths = ((np.arange(num_d) + 1.0) * 0.01 if depths is None else np.asarray(
        depths, np.float64))
    if views.shape != (num_v, 3) or angles.shape != (num_a, ) or depths.shape != (num_d, ):
        raise ValueError('views / angles / depths do not match the widths grid '
                         f'{widths.shape}')
    if out is None:
        out = np.zeros(widths.shape, dtype=bool)
    elif out.shape != widths.shape or out.dtype != bool:
        raise ValueError(f'out must be a bool array of shape {widths.shape}')
    obstacles = np.ascontiguousarray(obstacle_points, dtype=np.float64).reshape(-1, 3)
    if len(obstacles) == 0 or num_p == 0:
        return out
    rot = approach_angle_to_matrix(-views, 0.0).astype(np.float64)
    approach = np.ascontiguousarray(rot[:, :, 0])
    base_y = np.ascontiguousarray(rot[:, :, 1])
    base_z = np.ascontiguousarray(rot[:, :, 2])
    reach_x = max(depth_base + finger_width, float(depths.max()))
    reach_y = 0.5 * float(widths.max()) + finger_width
    radius = float(np.sqrt(reach_x**2 + reach_y**2 + (0.5 * height)**2)) + 1e-6
    tree = cKDTree(obstacles)
    nbrs = tree.query_ball_point(grasp_points, radius)
    counts = np.array([len(n) for n in nbrs], dtype=np.int64)
    nbr_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    nbr_idx = (np.concatenate([np.asarray(n, np.int64) for n in nbrs])
               if counts.sum() else np.zeros(0, np.int64))
    kernel = _collision_kernel()
    kernel(grasp_points, nbr_ptr, nbr_idx, obstacles, approach, base_y, base_z,
           np.cos(angles), np.sin(angles), depths, widths, float(finger_width),
           float(depth_base), 0.5 * float(height), out)
    return out


# ----------------------------------------------------------------------------- labels


def compute_grasp_labels(mesh: Any,
                         config: Optional[GraspLabelConfig] = None,
                         *,
                         name: str = 'object',
                         points: Optional[np.ndarray] = None,
                         with_collision: bool = True) -> GraspLabels:
    """Analytic grasp labels of one object (see the module docstring).

    Args:
        mesh: Watertight mesh in the object frame, metres (trimesh, Open3D,
            ``ObjectModel`` or ``(vertices, faces)``).
        config: Label settings (default :class:`GraspLabelConfig`).
        name: Object name used in errors and logs (e.g. ``'003'``).
        points: Optional (Np, 3) grasp points in the object frame (default: surface
            sample of ``config.point_spacing``).
        with_collision: Compute the self-collision array (otherwise all False).

    Returns:
        GraspLabels: the label arrays.

    Raises:
        ValueError: broken or non-watertight mesh, object too big for the gripper.
    """
    cfg = config or GraspLabelConfig()
    t0 = time.perf_counter()
    tm = check_graspable_mesh(mesh, name, cfg.max_width)
    if points is None:
        points = sample_surface_points(tm, cfg.point_spacing, cfg.max_points, cfg.seed)
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        raise ValueError(f'{name}: grasp points must have shape (Np > 0, 3), '
                         f'got {points.shape}')
    views = generate_views(cfg.num_views).astype(np.float64)
    angles = cfg.angles
    depths = np.asarray(cfg.depths, dtype=np.float64)
    num_p, num_v, num_a, num_d = len(points), len(views), len(angles), len(depths)
    rot = approach_angle_to_matrix(-views, 0.0).astype(np.float64)
    approach, base_y, base_z = rot[:, :, 0], rot[:, :, 1], rot[:, :, 2]
    closing = (np.cos(angles)[None, :, None] * base_y[:, None, :] +
               np.sin(angles)[None, :, None] * base_z[:, None, :])  # (V, A, 3)

    scene = _raycasting_scene(tm)
    bounds = np.asarray(tm.bounds)
    ray_start = float(np.linalg.norm(bounds[1] - bounds[0])) + float(depths.max()) + 0.1

    offsets = np.empty((num_p, num_v, num_a, num_d, 3), dtype=np.float32)
    offsets[..., 0] = angles[None, None, :, None]
    offsets[..., 1] = depths[None, None, None, :]
    scores = np.empty((num_p, num_v, num_a, num_d), dtype=np.float32)
    chunk = max(1, int(cfg.chunk_points))
    for start in range(0, num_p, chunk):
        pts = points[start:start + chunk]
        centers = (pts[:, None, None, None, :] +
                   depths[None, None, None, :, None] * approach[None, :, None, None, :])
        centers = np.broadcast_to(centers, (len(pts), num_v, num_a, num_d, 3))
        dirs = np.broadcast_to(closing[None, :, :, None, :], centers.shape)
        res = antipodal_contacts(tm, centers, dirs, ray_start=ray_start, scene=scene,
                                 num_threads=cfg.num_threads)
        width = 2.0 * res['half_width'] + cfg.width_margin
        valid = res['found'] & (width <= cfg.max_width + 1e-9)
        offsets[start:start + chunk, ..., 2] = np.where(
            res['found'], np.minimum(width, cfg.max_width), cfg.max_width)
        scores[start:start + chunk] = _quantize_friction(res['mu'], valid, cfg)
    t1 = time.perf_counter()

    collision = np.zeros(scores.shape, dtype=bool)
    if with_collision:
        obstacles = sample_surface_points(tm, cfg.collision_spacing, None, cfg.seed + 1)
        gripper_collision(obstacles, points, offsets[..., 2], views=views, angles=angles,
                          depths=depths, finger_width=cfg.finger_width,
                          depth_base=cfg.depth_base, height=cfg.height, out=collision)
    t2 = time.perf_counter()
    num_valid = int(np.count_nonzero(scores > 0))
    logger.info('%s: %d grasp points, %d valid grasps (%d collision-free), contacts %.1f s, '
                'collision %.1f s', name, num_p, num_valid,
                int(np.count_nonzero((scores > 0) & ~collision)), t1 - t0, t2 - t1)
    if num_valid == 0:
        logger.warning('%s: no valid grasp found', name)
    return GraspLabels(points=points.astype(np.float32), offsets=offsets,
                       collision=collision, scores=scores)


def save_grasp_labels(path: str, labels: GraspLabels, compress: bool = True) -> None:
    """Write ``grasp_label/XXX_labels.npz`` atomically
    (:func:`graspcontrast_mm.datasets.graspnet_io.write_grasp_labels`).

    Args:
        path: Output path.
        labels: Label arrays (written as float32 / bool, the dtypes graspnetAPI reads).
        compress: Deflate the members.
    """
    write_grasp_labels(path, labels.points, labels.offsets, labels.collision,
                       labels.scores, compress=compress)


def load_grasp_labels(path: str) -> GraspLabels:
    """Read a ``XXX_labels.npz`` (ours or GraspNet-1Billion's) with
    :func:`graspcontrast_mm.datasets.graspnet_io.read_grasp_labels`."""
    return GraspLabels(**read_grasp_labels(path, collision='required'))
