"""Reading the evaluator's object files: dexnet models, model points, table.

Dexnet pickles are read through the restricted unpickler of
:mod:`graspcontrast_mm.datasets.graspnet_io` (re-exported here), which resolves only the
globals a dexnet model is made of:

* the dexnet classes of graspnetAPI (``GraspableObject3D``, ``Sdf3D``, ``Mesh3D``, ...);
* autolab_core's ``RigidTransform`` / ``SimilarityTransform`` (the SDF's frames);
* numpy's array / dtype / scalar reconstructors (numpy 1.x ``numpy.core`` and numpy 2
  ``numpy._core`` spellings);
* ``copyreg._reconstructor`` and ``builtins.object`` (protocol 0 / 1 pickles).

Any other global (``os.system``, ``builtins.eval``, ``subprocess.Popen``, ...) stops the
load with :class:`UnsafePickleError` before it is called, naming the file and the global.
None of the allowed callables runs code from the file: the reconstructors build arrays
from bytes, and the classes are restored by ``__new__`` + attribute dicts.

Also here: the 8 mm voxel sample of ``models/XXX/nontextured.ply`` and graspnetAPI's
table points (1 m x 1 m x 5 cm under the table top, 8 mm grid), shared by both evaluation
back-ends.
"""
from __future__ import annotations

import os.path as osp
from typing import Any, Optional

import numpy as np

from ..datasets.graspnet_io import (DEXNET_PICKLE_GLOBALS, DexnetUnpickler, GraspNetLayout,
                                    UnsafePickleError, load_dexnet_pickle)

__all__ = [
    'UnsafePickleError', 'DexnetUnpickler', 'DEXNET_PICKLE_GLOBALS', 'load_dexnet_pickle',
    'load_dexnet_object', 'load_model_points', 'table_points'
]

def load_dexnet_object(root: str, obj_id: int) -> Any:
    """The dexnet model of an object, as graspnetAPI's ``get_scene_models`` finds it:
    ``dex_models/XXX.pkl`` (restricted unpickling), else ``models/XXX/textured.obj`` +
    ``textured.sdf``.

    Raises:
        FileNotFoundError: neither source exists.
    """
    layout = GraspNetLayout(root)
    pkl = layout.dex_model(obj_id)
    if osp.isfile(pkl):
        return load_dexnet_pickle(pkl)
    base = layout.textured_model_base(obj_id)
    if not (osp.isfile(base + '.obj') and osp.isfile(base + '.sdf')):
        raise FileNotFoundError(f'no dexnet model for object {obj_id}: neither {pkl} '
                                f'nor {base}.obj/.sdf exist')
    from graspnetAPI.utils.eval_utils import load_dexnet_model
    return load_dexnet_model(base)


def load_model_points(root: str, obj_id: int, voxel_size: float = 0.008) -> np.ndarray:
    """Voxel sample of ``models/XXX/nontextured.ply`` (object frame, metres), as
    graspnetAPI's ``voxel_sample_points(points, 0.008)``.

    Raises:
        FileNotFoundError: missing file. ValueError: no vertices.
    """
    import open3d as o3d
    from graspnetAPI.utils.eval_utils import voxel_sample_points
    ply = GraspNetLayout(root).model_ply(obj_id)
    if not osp.isfile(ply):
        raise FileNotFoundError(f'object model not found: {ply}')
    points = np.array(o3d.io.read_point_cloud(ply).points)
    if len(points) == 0:
        raise ValueError(f'object model {ply} has no vertices')
    return voxel_sample_points(points, voxel_size)


_TABLE: Optional[np.ndarray] = None


def table_points() -> np.ndarray:
    """graspnetAPI's table points in the table frame: ``create_table_points(1.0, 1.0, 0.05,
    dx=-0.5, dy=-0.5, dz=-0.05, grid_size=0.008)`` (metres; cached, do not modify)."""
    global _TABLE
    if _TABLE is None:
        from graspnetAPI.utils.eval_utils import create_table_points
        _TABLE = create_table_points(1.0, 1.0, 0.05, dx=-0.5, dy=-0.5, dz=-0.05,
                                     grid_size=0.008)
    return _TABLE
