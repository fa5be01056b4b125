"""GraspNet-1Billion dataset files that need care to read safely.

``dex_models/XXX.pkl`` files are pickles, and a plain ``pickle.load`` of a downloaded or
shared dataset runs whatever the file says. :func:`load_dexnet_pickle` unpickles through
:class:`DexnetUnpickler`, which resolves only the globals a dexnet model is made of:

* the dexnet classes of graspnetAPI (``GraspableObject3D``, ``Sdf3D``, ``Mesh3D``, ...);
* autolab_core's ``RigidTransform`` / ``SimilarityTransform`` (the SDF's frames);
* numpy's array / dtype / scalar reconstructors (numpy 1.x ``numpy.core`` and numpy 2
  ``numpy._core`` spellings);
* ``copyreg._reconstructor`` and ``builtins.object`` (protocol 0 / 1 pickles).

Any other global (``os.system``, ``builtins.eval``, ``subprocess.Popen``, ...) stops the
load with :class:`UnsafePickleError` before it is called, naming the file and the global.
None of the allowed callables runs code from the file: the reconstructors build arrays
from bytes, and the classes are restored by ``__new__`` + attribute dicts.

Every reader of dexnet pickles in the package (the evaluators, the generator's own
read-back) goes through this module.
"""
from __future__ import annotations

import pickle
from typing import Any

__all__ = ['UnsafePickleError', 'DexnetUnpickler', 'DEXNET_PICKLE_GLOBALS',
           'load_dexnet_pickle']

_DEXNET = 'graspnetAPI.utils.dexnet.grasping.'
#: ``module -> names`` a dexnet model pickle may refer to.
DEXNET_PICKLE_GLOBALS = {
    _DEXNET + 'graspable_object': {'GraspableObject', 'GraspableObject3D'},
    _DEXNET + 'meshpy.sdf': {'Sdf', 'Sdf3D'},
    _DEXNET + 'meshpy.mesh': {'Mesh3D'},
    _DEXNET + 'meshpy.stable_pose': {'StablePose'},
    'autolab_core.rigid_transformations': {'RigidTransform', 'SimilarityTransform'},
    'autolab_core': {'RigidTransform', 'SimilarityTransform'},
    'numpy': {'ndarray', 'dtype'},
    'numpy.core.multiarray': {'_reconstruct', 'scalar'},
    'numpy._core.multiarray': {'_reconstruct', 'scalar'},
    'numpy.core.numeric': {'_frombuffer'},
    'numpy._core.numeric': {'_frombuffer'},
    'copyreg': {'_reconstructor'},
    'builtins': {'object'},
}


class UnsafePickleError(pickle.UnpicklingError):
    """A dexnet pickle refers to a global outside :data:`DEXNET_PICKLE_GLOBALS`."""


class DexnetUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only :data:`DEXNET_PICKLE_GLOBALS`.

    Args:
        file: binary file object.
        source: name used in error messages (the file path).
    """

    def __init__(self, file, *, source: str = '<pickle>') -> None:
        super().__init__(file)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        if name in DEXNET_PICKLE_GLOBALS.get(module, ()):
            return super().find_class(module, name)
        raise UnsafePickleError(
            f'{self._source}: refuses to load {module}.{name}: a dexnet model pickle may '
            'only contain dexnet models, autolab_core transforms and numpy arrays. The file '
            'is corrupt or was crafted to run code; regenerate it (e.g. with '
            'tools/create_graspnet_scenes.py) or take it from a trusted copy of the dataset')

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f'{self._source}: persistent ids are not allowed in a '
                                'dexnet model pickle')


def load_dexnet_pickle(path: str) -> Any:
    """Load ``dex_models/XXX.pkl`` through :class:`DexnetUnpickler`.

    Args:
        path: the pickle.

    Returns:
        graspnetAPI.utils.dexnet.grasping.graspable_object.GraspableObject3D: the model.

    Raises:
        UnsafePickleError: the file refers to a global that a dexnet model never needs.
        pickle.UnpicklingError: the file is not a pickle, is truncated, or holds something
            other than a ``GraspableObject3D`` with an SDF.
    """
    from graspnetAPI.utils.dexnet.grasping.graspable_object import GraspableObject3D
    with open(path, 'rb') as f:
        try:
            obj = DexnetUnpickler(f, source=path).load()
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
                IndexError, KeyError, MemoryError) as e:
            raise pickle.UnpicklingError(f'{path}: not a readable dexnet model pickle '
                                         f'({type(e).__name__}: {e})') from e
    if not isinstance(obj, GraspableObject3D) or getattr(obj, 'sdf', None) is None:
        raise pickle.UnpicklingError(f'{path}: holds a {type(obj).__name__}, not a dexnet '
                                     'GraspableObject3D with an SDF')
    return obj
