"""dexnet object models for graspnetAPI's evaluator: ``dex_models/XXX.pkl`` and companions.

graspnetAPI's ``GraspNetEval.get_scene_models`` unpickles ``dex_models/%03d.pkl``, a dexnet
``GraspableObject3D(Sdf3D, Mesh3D)``, and scores grasps with its SDF (contact search and
normals). This module builds that object from a mesh:

* SDF: Open3D ``RaycastingScene.compute_signed_distance`` (metres, negative inside) on a
  regular grid of about ``grid_dim`` cells along the largest extent plus ``padding`` cells on
  every side; grid index ``(i, j, k)`` is the object-frame point
  ``origin + resolution * (i, j, k)`` (the convention of SDFGen ``.sdf`` files);
* a tiny uniform noise (default 1 micrometre) is added to the grid: on exactly planar,
  axis-aligned facets dexnet's zero-crossing search otherwise finds no contact;
* ``Sdf3D.__init__`` uses ``np.int`` (removed in numpy 1.24): it runs inside
  :func:`numpy_int_alias`, a context manager that defines the alias only while the object is
  built (and seeds dexnet's internal sampling for reproducible pickles). Loading a pickle
  never calls ``__init__`` and needs no alias.

It also writes ``models/XXX/nontextured.ply`` (a dense surface: the evaluator voxelises its
vertices at 8 mm to test whether a grasp holds anything) and, optionally, the
``textured.obj`` / ``textured.sdf`` pair graspnetAPI falls back to when no pickle exists.
Every file is written atomically (temporary file, then rename).
"""
from __future__ import annotations

import contextlib
import os
import pickle
from typing import Any, Iterator, Optional, Tuple

import numpy as np

from .grasp_labels import as_trimesh, check_graspable_mesh
from .writer import GraspNetLayout, write_ply_mesh

__all__ = [
    'numpy_int_alias', 'compute_sdf_grid', 'build_dexnet_model', 'save_dexnet_model',
    'load_dexnet_model', 'write_sdf_file', 'write_obj_file', 'write_nontextured_ply',
    'export_dexnet_files'
]


@contextlib.contextmanager
def numpy_int_alias(seed: Optional[int] = None) -> Iterator[None]:
    """Temporarily restore ``np.int`` (= ``int``) for dexnet code, then remove it again.

    Args:
        seed: Optional seed of numpy's global random state inside the block (dexnet's
            ``Sdf3D`` draws a random surface subset); the previous state is restored on exit.
    """
    had_alias = 'int' in np.__dict__
    previous = np.__dict__.get('int')
    state = np.random.get_state() if seed is not None else None
    np.int = int  # type: ignore[attr-defined]
    try:
        if seed is not None:
            np.random.seed(int(seed) % (2**32))
        yield
    finally:
        if had_alias:
            np.int = previous  # type: ignore[attr-defined]
        else:
            try:
                delattr(np, 'int')
            except AttributeError:  # pragma: no cover
                pass
        if state is not None:
            np.random.set_state(state)


def compute_sdf_grid(mesh: Any,
                     *,
                     grid_dim: int = 100,
                     padding: int = 5,
                     noise: float = 1e-6,
                     seed: int = 0,
                     num_threads: int = 1,
                     name: str = 'object') -> Tuple[np.ndarray, np.ndarray, float]:
    """Signed distance grid of a watertight mesh.

    Args:
        mesh: Watertight mesh in the object frame, metres (any input of
            :func:`~graspcontrast_mm.synthetic.grasp_labels.as_trimesh`).
        grid_dim: Cells along the largest extent of the object (without padding).
        padding: Cells added on every side.
        noise: Amplitude (metres) of the uniform noise added to every value.
        seed: Seed of the noise.
        num_threads: Open3D threads (0: all cores).
        name: Object name for error messages.

    Returns:
        tuple: ``(sdf, origin, resolution)``: float64 (nx, ny, nz) signed distances in metres
        (negative inside) indexed ``[i, j, k]``; float64 (3,) object-frame position of cell
        ``(0, 0, 0)``; float cell size in metres. Cell ``(i, j, k)`` is at
        ``origin + resolution * (i, j, k)``.
    """
    import open3d as o3d
    if grid_dim < 8 or padding < 1:
        raise ValueError(f'grid_dim must be >= 8 and padding >= 1, got {grid_dim}, {padding}')
    tm = check_graspable_mesh(mesh, name, max_width=np.inf)
    lo, hi = np.asarray(tm.bounds[0]), np.asarray(tm.bounds[1])
    resolution = float(np.max(hi - lo)) / grid_dim
    dims = np.ceil((hi - lo) / resolution).astype(np.int64) + 2 * padding + 1
    origin = lo - padding * resolution
    axes = [origin[i] + resolution * np.arange(dims[i]) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing='ij'), axis=-1).reshape(-1, 3)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(tm.vertices, np.float32)),
                        o3d.core.Tensor(np.asarray(tm.faces, np.uint32)))
    sdf = scene.compute_signed_distance(o3d.core.Tensor(grid.astype(np.float32)),
                                        nthreads=int(num_threads)).numpy()
    sdf = sdf.astype(np.float64).reshape(tuple(dims))
    if noise > 0:
        sdf += np.random.default_rng(seed).uniform(-noise, noise, size=sdf.shape)
    return sdf, origin.astype(np.float64), resolution


def build_dexnet_model(mesh: Any,
                       *,
                       name: str = 'object',
                       grid_dim: int = 100,
                       padding: int = 5,
                       noise: float = 1e-6,
                       seed: int = 0,
                       num_threads: int = 1):
    """Build graspnetAPI's dexnet ``GraspableObject3D`` of a mesh (object frame, metres).

    Args:
        mesh: Watertight mesh in the object frame, metres.
        name: Object name (dexnet ``key``; also used in errors).
        grid_dim, padding, noise, seed, num_threads: SDF settings, see
            :func:`compute_sdf_grid`.

    Returns:
        graspnetAPI.utils.dexnet.grasping.graspable_object.GraspableObject3D: the model.

    Raises:
        ValueError: broken or non-watertight mesh.
    """
    from graspnetAPI.utils.dexnet.grasping.graspable_object import GraspableObject3D
    from graspnetAPI.utils.dexnet.grasping.meshpy.mesh import Mesh3D
    from graspnetAPI.utils.dexnet.grasping.meshpy.sdf import Sdf3D

    tm = check_graspable_mesh(mesh, name, max_width=np.inf)
    sdf, origin, resolution = compute_sdf_grid(tm, grid_dim=grid_dim, padding=padding,
                                               noise=noise, seed=seed,
                                               num_threads=num_threads, name=name)
    with numpy_int_alias(seed=seed):
        sdf3d = Sdf3D(sdf, origin, resolution)
        mesh3d = Mesh3D(np.asarray(tm.vertices, np.float64),
                        np.asarray(tm.faces, np.int64),
                        center_of_mass=np.asarray(tm.center_mass, np.float64))
        model = GraspableObject3D(sdf3d, mesh3d, key=str(name))
    return model


def _atomic_write(path: str, write_fn, mode: str = 'wb') -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp-{os.getpid()}'
    try:
        with open(tmp, mode) as f:
            write_fn(f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_dexnet_model(path: str, model) -> None:
    """Pickle a dexnet model to ``dex_models/XXX.pkl`` atomically.

    Note: pickles written under numpy 2 need numpy >= 1.26 to load.
    """
    _atomic_write(path, lambda f: pickle.dump(model, f, protocol=pickle.HIGHEST_PROTOCOL))


def load_dexnet_model(path: str):
    """Load a ``dex_models/XXX.pkl`` through the restricted unpickler
    (:func:`graspcontrast_mm.datasets.graspnet_io.load_dexnet_pickle`): a pickle holding
    anything but a dexnet model is refused, never executed."""
    from graspcontrast_mm.datasets.graspnet_io import load_dexnet_pickle
    return load_dexnet_pickle(path)


def write_sdf_file(path: str, sdf: np.ndarray, origin: np.ndarray, resolution: float) -> None:
    """Write an SDFGen text ``.sdf``: ``nx ny nz`` / origin / cell size / values, i fastest."""
    sdf = np.asarray(sdf, dtype=np.float64)
    if sdf.ndim != 3:
        raise ValueError(f'sdf must be 3-D, got shape {sdf.shape}')

    def _write(f):
        f.write('%d %d %d\n' % sdf.shape)
        f.write('%.9g %.9g %.9g\n' % tuple(np.asarray(origin, np.float64)))
        f.write('%.9g\n' % float(resolution))
        values = sdf.transpose(2, 1, 0).reshape(-1)  # i fastest, then j, then k
        f.write('\n'.join('%.9g' % v for v in values))
        f.write('\n')

    _atomic_write(path, _write, mode='w')


def write_obj_file(path: str, mesh: Any, name: str = 'object') -> None:
    """Write a Wavefront ``.obj`` (vertices and 1-based triangles; object frame, metres)."""
    tm = as_trimesh(mesh, name)

    def _write(f):
        f.write(''.join('v %.9g %.9g %.9g\n' % tuple(v) for v in tm.vertices))
        f.write(''.join('f %d %d %d\n' % tuple(t + 1) for t in tm.faces))

    _atomic_write(path, _write, mode='w')


def write_nontextured_ply(path: str,
                          mesh: Any,
                          *,
                          max_edge: float = 0.0025,
                          overwrite: bool = False,
                          name: str = 'object') -> bool:
    """Write ``models/XXX/nontextured.ply``: the surface subdivided to ``max_edge`` metres.

    graspnetAPI reads this file as a point cloud (its vertices), voxelises it at 8 mm and
    counts points between the fingers, so the vertices must cover the surface densely.

    Args:
        path: Output path.
        mesh: Mesh in the object frame, metres.
        max_edge: Longest edge after subdivision, metres.
        overwrite: Replace an existing file (default: keep it).
        name: Object name for error messages.

    Returns:
        bool: whether the file was written.
    """
    if os.path.exists(path) and not overwrite:
        return False
    import trimesh.remesh
    tm = as_trimesh(mesh, name)
    vertices, faces = trimesh.remesh.subdivide_to_size(tm.vertices, tm.faces,
                                                       max_edge=max_edge, max_iter=16)
    write_ply_mesh(path, vertices, faces)
    return True


def export_dexnet_files(root: str,
                        obj_id: int,
                        mesh: Any,
                        *,
                        name: Optional[str] = None,
                        write_ply: bool = True,
                        write_textured: bool = False,
                        grid_dim: int = 100,
                        padding: int = 5,
                        noise: float = 1e-6,
                        seed: int = 0) -> dict:
    """Write the evaluator's files of one object under a GraspNet root.

    Writes ``dex_models/XXX.pkl`` and, if requested, ``models/XXX/nontextured.ply`` (only
    when missing) and ``models/XXX/textured.obj`` + ``textured.sdf``.

    Args:
        root: Dataset root.
        obj_id: Object id (``XXX = %03d``).
        mesh: Watertight mesh in the object frame, metres.
        name: Object name for errors (default ``'%03d' % obj_id``).
        write_ply: Write ``nontextured.ply`` when it does not exist.
        write_textured: Also write ``textured.obj`` / ``textured.sdf``.
        grid_dim, padding, noise, seed: SDF settings (:func:`compute_sdf_grid`).

    Returns:
        dict: paths written, by kind (``'pkl'``, ``'ply'``, ``'obj'``, ``'sdf'``).
    """
    name = name or '%03d' % int(obj_id)
    tm = check_graspable_mesh(mesh, name, max_width=np.inf)
    layout = GraspNetLayout(root)
    model_dir = layout.model_dir(obj_id)
    written = {}
    model = build_dexnet_model(tm, name=name, grid_dim=grid_dim, padding=padding,
                               noise=noise, seed=seed)
    pkl = layout.dex_model(obj_id)
    save_dexnet_model(pkl, model)
    written['pkl'] = pkl
    if write_ply:
        ply = os.path.join(model_dir, 'nontextured.ply')
        if write_nontextured_ply(ply, tm, name=name):
            written['ply'] = ply
    if write_textured:
        obj_path = os.path.join(model_dir, 'textured.obj')
        sdf_path = os.path.join(model_dir, 'textured.sdf')
        write_obj_file(obj_path, tm, name)
        write_sdf_file(sdf_path, model.sdf.data, model.sdf.origin, model.sdf.resolution)
        written['obj'] = obj_path
        written['sdf'] = sdf_path
    return written
