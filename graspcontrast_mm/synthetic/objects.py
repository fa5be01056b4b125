"""Deterministic library of graspable object meshes with stable integer ids.

Every object of the synthetic scenes comes from this library. An object id is an integer
``0 <= obj_id <= 254`` (the GraspNet label PNG is uint8 and stores ``obj_id + 1``) and always
denotes the same mesh at the same scale, so grasp labels, object-set splits and models written
by different runs stay compatible.

Id ranges (stable, part of the data format):

======== ============================================================ ============
ids      source                                                       object set
======== ============================================================ ============
0-11     trimesh primitives (boxes, cylinders, capsules, spheres)     ``seen``
12-16    everyday meshes of ``pybullet_data`` (duck, teddy, bunny,     ``novel``
         torus, lego brick)
17-19    reserved (not in the library)                                -
20-169   ``pybullet_data/random_urdfs/000..149`` (procedural blobs)   ``seen``
170-254  ``pybullet_data/random_urdfs/150..234``                      ``similar``
======== ============================================================ ============

The object sets mirror GraspNet-1Billion's test splits: scenes 0-129 (train and
``test_seen``) use ``seen`` objects, 130-159 (``test_similar``) procedural objects of the same
family never used in training, 160-189 (``test_novel``) objects of a different family.

Mesh processing (deterministic): a mesh that is not a single watertight body (procedural
blobs are unions of overlapping convex pieces) is rebuilt as the boundary of the union of its
bodies (occupancy on a grid of 1/96 of its largest extent + marching cubes + quadric
decimation), so that every object is one closed, outward-oriented surface. It is then scaled
so that it fits a parallel-jaw gripper of 0.1 m opening: largest extent drawn in
[0.07, 0.14] m from the id, smallest extent of the oriented bounding box at most 0.07 m.
The object frame has its origin at the centre of mass (uniform density) and keeps the
source mesh's axes. All coordinates are metres.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    'ObjectModel', 'ObjectLibrary', 'OBJECT_SETS', 'LIBRARY_VERSION',
    'object_set_of', 'object_ids_of_set', 'MAX_OBJECT_ID'
]

#: Bumped whenever the processing of a library object changes (recorded in manifests).
LIBRARY_VERSION = 1
#: Largest object id: the label PNG is uint8 and stores ``obj_id + 1``.
MAX_OBJECT_ID = 254

#: Maximum jaw opening of the parallel gripper the objects must fit, metres.
GRIPPER_MAX_WIDTH = 0.1
_MAX_MIN_EXTENT = 0.07
_LARGEST_EXTENT_RANGE = (0.07, 0.14)

# (name, kind, parameters in metres). Boxes: full extents (x, y, z); cylinders / capsules:
# (radius, height of the straight part); spheres: (radius,).
_PRIMITIVES: Tuple[Tuple[str, str, Tuple[float, ...]], ...] = (
    ('cube_50mm', 'box', (0.05, 0.05, 0.05)),
    ('box_60x40x120mm', 'box', (0.06, 0.04, 0.12)),
    ('box_flat_100x60x30mm', 'box', (0.10, 0.06, 0.03)),
    ('bar_160x50x40mm', 'box', (0.16, 0.05, 0.04)),
    ('cylinder_r25_h100mm', 'cylinder', (0.025, 0.10)),
    ('cylinder_r35_h60mm', 'cylinder', (0.035, 0.06)),
    ('rod_r15_h160mm', 'cylinder', (0.015, 0.16)),
    ('capsule_r20_h80mm', 'capsule', (0.02, 0.08)),
    ('capsule_r30_h40mm', 'capsule', (0.03, 0.04)),
    ('sphere_r30mm', 'sphere', (0.03,)),
    ('sphere_r35mm', 'sphere', (0.035,)),
    ('box_80x30x60mm', 'box', (0.08, 0.03, 0.06)),
)
# Everyday meshes shipped with pybullet_data (paths relative to its data folder).
_NAMED_MESHES: Tuple[Tuple[str, str], ...] = (
    ('duck', 'duck.obj'),
    ('teddy', 'teddy2_VHACD_CHs.obj'),
    ('bunny', 'bunny.obj'),
    ('torus', 'torus/torus_textured.obj'),
    ('lego_brick', 'lego/lego.obj'),
)
_NAMED_FIRST_ID = 12
_RANDOM_FIRST_ID = 20
_RANDOM_SIMILAR_FROM = 170

#: Object sets (GraspNet-1Billion style): ``{name: sorted tuple of ids}``.
OBJECT_SETS: Dict[str, Tuple[int, ...]] = {
    'seen': tuple(range(0, len(_PRIMITIVES))) + tuple(
        range(_RANDOM_FIRST_ID, _RANDOM_SIMILAR_FROM)),
    'similar': tuple(range(_RANDOM_SIMILAR_FROM, MAX_OBJECT_ID + 1)),
    'novel': tuple(range(_NAMED_FIRST_ID, _NAMED_FIRST_ID + len(_NAMED_MESHES))),
}


def object_set_of(obj_id: int) -> str:
    """Return the object set (``'seen'``, ``'similar'`` or ``'novel'``) of an id.

    Raises:
        KeyError: ``obj_id`` is not in the library.
    """
    for name, ids in OBJECT_SETS.items():
        if obj_id in ids:
            return name
    raise KeyError(f'object id {obj_id} is not in the object library '
                   f'(valid: 0-16 and 20-{MAX_OBJECT_ID})')


def object_ids_of_set(name: str) -> Tuple[int, ...]:
    """Return the ids of an object set (``'seen'``, ``'similar'``, ``'novel'``)."""
    if name not in OBJECT_SETS:
        raise KeyError(f'unknown object set {name!r}; expected one of '
                       f'{sorted(OBJECT_SETS)}')
    return OBJECT_SETS[name]


@dataclasses.dataclass(frozen=True)
class ObjectModel:
    """One library object: a closed triangle mesh in its object frame.

    Attributes:
        obj_id: Stable id (0-based, as in ``object_id_list.txt``).
        name: Human-readable name.
        source: Where the mesh comes from (``'primitive:box'``, ``'pybullet_data:duck.obj'``).
        vertices: float64 (V, 3) vertex positions in the object frame, metres. The origin is
            the centre of mass.
        faces: int64 (F, 3) triangle vertex indices, counter-clockwise seen from outside.
        scale: Scale applied to the source mesh units to obtain metres.
    """
    obj_id: int
    name: str
    source: str
    vertices: np.ndarray
    faces: np.ndarray
    scale: float

    @property
    def extents(self) -> np.ndarray:
        """float64 (3,) axis-aligned extents in the object frame, metres."""
        return self.vertices.max(0) - self.vertices.min(0)

    def trimesh(self):
        """Return the mesh as a ``trimesh.Trimesh`` (no processing)."""
        import trimesh
        return trimesh.Trimesh(self.vertices, self.faces, process=False)

    def dense_mesh(self, max_edge: float = 0.0025) -> Tuple[np.ndarray, np.ndarray]:
        """The same surface subdivided until no edge is longer than ``max_edge`` metres.

        Used for ``models/XXX/nontextured.ply``, whose vertices must sample the surface
        densely (graspnetAPI reads them as a point cloud).

        Returns:
            tuple: float64 (V', 3) vertices and int64 (F', 3) faces, object frame, metres.
        """
        import trimesh.remesh
        v, f = trimesh.remesh.subdivide_to_size(
            self.vertices, self.faces, max_edge=max_edge, max_iter=12)
        return np.asarray(v, np.float64), np.asarray(f, np.int64)


class ObjectLibrary:
    """Catalogue of the library objects; meshes are built on first use and cached.

    Args:
        data_path: Folder of ``pybullet_data``; ``None`` = ``pybullet_data.getDataPath()``.
    """

    def __init__(self, data_path: Optional[str] = None) -> None:
        self._data_path = data_path
        self._entries = self._build_catalogue()

    @staticmethod
    def _build_catalogue() -> Dict[int, Tuple[str, str, tuple]]:
        entries: Dict[int, Tuple[str, str, tuple]] = {}
        for i, (name, kind, params) in enumerate(_PRIMITIVES):
            entries[i] = (name, 'primitive:' + kind, params)
        for i, (name, rel) in enumerate(_NAMED_MESHES):
            entries[_NAMED_FIRST_ID + i] = (name, 'pybullet_data:' + rel, ())
        for obj_id in range(_RANDOM_FIRST_ID, MAX_OBJECT_ID + 1):
            k = obj_id - _RANDOM_FIRST_ID
            entries[obj_id] = (f'random_urdf_{k:03d}',
                               f'pybullet_data:random_urdfs/{k:03d}/{k:03d}.obj', ())
        return entries

    @property
    def data_path(self) -> str:
        """Folder of ``pybullet_data`` meshes."""
        if self._data_path is None:
            import pybullet_data
            self._data_path = pybullet_data.getDataPath()
        return self._data_path

    @property
    def ids(self) -> List[int]:
        """All valid object ids, sorted."""
        return sorted(self._entries)

    def name(self, obj_id: int) -> str:
        """Name of an object."""
        return self._entry(obj_id)[0]

    def _entry(self, obj_id: int):
        if obj_id not in self._entries:
            raise KeyError(f'object id {obj_id} is not in the object library '
                           f'(valid: 0-16 and 20-{MAX_OBJECT_ID})')
        return self._entries[obj_id]

    def get(self, obj_id: int) -> ObjectModel:
        """Return the processed :class:`ObjectModel` of ``obj_id`` (cached)."""
        return self._get_cached(int(obj_id))

    @functools.lru_cache(maxsize=None)
    def _get_cached(self, obj_id: int) -> ObjectModel:
        name, source, params = self._entry(obj_id)
        if source.startswith('primitive:'):
            mesh = _make_primitive(source.split(':', 1)[1], params)
            scale = 1.0
        else:
            path = os.path.join(self.data_path, source.split(':', 1)[1])
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f'mesh of library object {obj_id} ({name}) not found: {path}; '
                    'is pybullet installed?')
            mesh, scale = _load_and_normalise(path, obj_id)
        vertices = np.asarray(mesh.vertices, np.float64)
        vertices = vertices - _centre_of_mass(mesh)
        vertices.setflags(write=False)
        faces = np.asarray(mesh.faces, np.int64)
        faces.setflags(write=False)
        return ObjectModel(obj_id, name, source, vertices, faces, float(scale))


def _make_primitive(kind: str, params: Sequence[float]):
    import trimesh
    if kind == 'box':
        return trimesh.creation.box(extents=params)
    if kind == 'cylinder':
        return trimesh.creation.cylinder(radius=params[0], height=params[1], sections=48)
    if kind == 'capsule':
        return trimesh.creation.capsule(height=params[1], radius=params[0], count=[24, 24])
    if kind == 'sphere':
        return trimesh.creation.icosphere(subdivisions=3, radius=params[0])
    raise ValueError(f'unknown primitive kind {kind!r}')


def _centre_of_mass(mesh) -> np.ndarray:
    if mesh.is_watertight and mesh.volume > 0:
        return np.asarray(mesh.center_mass, np.float64)
    return np.asarray(mesh.bounds.mean(0), np.float64)


def _load_and_normalise(path: str, obj_id: int):
    """Load a mesh file, make it one closed surface and scale it to metres."""
    import trimesh
    mesh = trimesh.load(path, force='mesh', process=False)
    finite = np.isfinite(np.asarray(mesh.vertices)).all(axis=1)
    if not finite.all():
        # some pybullet_data meshes carry NaN vertices: drop the faces that use them
        mesh.update_faces(finite[np.asarray(mesh.faces)].all(axis=1))
        mesh.remove_unreferenced_vertices()
    if len(mesh.faces) == 0 or not np.isfinite(mesh.extents).all() or \
            float(mesh.extents.max()) <= 0:
        raise ValueError(f'mesh of library object {obj_id} ({path}) has no usable '
                         'faces (empty or non-finite vertices)')
    mesh.merge_vertices(merge_tex=True, merge_norm=True)
    mesh.remove_unreferenced_vertices()
    rng = np.random.default_rng(np.random.SeedSequence([20240, obj_id]))
    target = rng.uniform(*_LARGEST_EXTENT_RANGE)
    scale = target / float(mesh.extents.max())
    mesh.apply_scale(scale)
    if not (mesh.is_watertight and mesh.body_count == 1):
        mesh = _union_remesh(mesh)
    # Keep the smallest oriented extent graspable.
    min_ext = float(np.min(mesh.bounding_box_oriented.primitive.extents))
    if min_ext > _MAX_MIN_EXTENT:
        factor = _MAX_MIN_EXTENT / min_ext
        mesh.apply_scale(factor)
        scale *= factor
    return mesh, scale


def _union_remesh(mesh, grid_frac: float = 1.0 / 96, max_faces: int = 4000):
    """Rebuild ``mesh`` as the closed boundary of the union of its bodies.

    Occupancy of every (closed) body on a regular grid is OR-ed, the 0.5 iso-surface is
    extracted by marching cubes and decimated to ``max_faces`` triangles.
    """
    import open3d as o3d
    import trimesh
    from skimage import measure

    pitch = float(mesh.extents.max()) * grid_frac
    lo = mesh.bounds[0] - 3 * pitch
    hi = mesh.bounds[1] + 3 * pitch
    n = np.ceil((hi - lo) / pitch).astype(int) + 1
    axes = [lo[i] + pitch * np.arange(n[i]) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing='ij'), -1).reshape(-1, 3)
    grid = grid.astype(np.float32)
    occ = np.zeros(len(grid), bool)
    for body in mesh.split(only_watertight=False):
        scene = o3d.t.geometry.RaycastingScene()
        scene.add_triangles(
            o3d.core.Tensor(np.asarray(body.vertices, np.float32)),
            o3d.core.Tensor(np.asarray(body.faces, np.uint32)))
        b0, b1 = body.bounds
        sel = np.all((grid >= b0 - pitch) & (grid <= b1 + pitch), axis=1)
        if not sel.any():
            continue
        occ[sel] |= scene.compute_occupancy(
            o3d.core.Tensor(grid[sel]), nthreads=1, nsamples=3).numpy() > 0.5
    volume = occ.reshape(n).astype(np.float32)
    verts, faces, _, _ = measure.marching_cubes(volume, 0.5, spacing=(pitch, ) * 3)
    verts = verts + lo
    o3d_mesh = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(verts.astype(np.float64)),
        o3d.utility.Vector3iVector(faces.astype(np.int32)))
    if len(faces) > max_faces:
        o3d_mesh = o3d_mesh.simplify_quadric_decimation(max_faces)
    o3d_mesh.remove_degenerate_triangles()
    o3d_mesh.remove_unreferenced_vertices()
    out = trimesh.Trimesh(np.asarray(o3d_mesh.vertices), np.asarray(o3d_mesh.triangles),
                          process=True)
    if out.volume < 0:
        out.invert()
    return out
