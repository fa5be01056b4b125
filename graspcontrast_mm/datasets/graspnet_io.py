"""GraspNet-1Billion file formats: the one reader and the one writer of every file.

The synthetic generator writes through these functions, and the dataset, its transforms
and the evaluators read through them, so a format is defined in exactly one place.
Layout under a dataset root (``NNNN`` = frame id, ``XXXX`` = scene id, ``XXX`` = object
id; ``docs/data_flow.md`` lists dtypes and shapes; :class:`GraspNetLayout` builds every
path)::

    scenes/scene_XXXX/object_id_list.txt             read_object_id_list / write_object_id_list
    scenes/scene_XXXX/{camera}/label/NNNN.png        read_label_image / write_png
    scenes/scene_XXXX/{camera}/depth/NNNN.png        (transforms.read_depth_image) / write_png
    scenes/scene_XXXX/{camera}/meta/NNNN.mat         read_meta_poses, read_factor_depth /
                                                     write_meta_mat
    scenes/scene_XXXX/{camera}/annotations/NNNN.xml  read_annotation_poses / write_annotation_xml
    scenes/scene_XXXX/{camera}/camK.npy              read_camera_files / write_camera_files
    scenes/scene_XXXX/{camera}/camera_poses.npy      (same)
    scenes/scene_XXXX/{camera}/cam0_wrt_table.npy    (same; read_camera_poses reads the two poses)
    grasp_label/XXX_labels.npz                       read_grasp_labels / write_grasp_labels
    collision_label/scene_XXXX/collision_labels.npz  read_collision_labels / write_collision_labels
    graspness/scene_XXXX/{camera}/NNNN.npy           read_graspness_file / write_graspness_map
    dex_models/XXX.pkl                               load_dexnet_pickle (below)

Writers produce identical bytes for identical inputs (``.npz`` members carry a fixed time
stamp, ``.mat`` headers no date); label files are written atomically (temporary file +
``os.replace``). Readers raise ``FileNotFoundError`` naming the missing file and
``ValueError`` for a file that does not hold what the format says. Only numpy is imported at
module level (scipy / OpenCV / graspnetAPI when a function needs them).

Dexnet pickles
--------------

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

import io
import os
import os.path as osp
import pickle
import xml.etree.ElementTree as ET
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

__all__ = [
    'GraspNetLayout',
    'UnsafePickleError', 'DexnetUnpickler', 'DEXNET_PICKLE_GLOBALS', 'load_dexnet_pickle',
    'CAMERA_FILES', 'GRASP_LABEL_ARRAYS', 'save_npz_deterministic', 'atomic_write_bytes',
    'encode_png', 'write_png', 'read_label_image', 'read_meta_poses', 'read_factor_depth',
    'write_meta_mat', 'read_annotation_poses', 'write_annotation_xml',
    'read_object_id_list', 'write_object_id_list', 'read_camera_files',
    'read_camera_poses', 'write_camera_files', 'read_grasp_labels', 'write_grasp_labels',
    'read_collision_labels', 'write_collision_labels', 'read_graspness_file',
    'write_graspness_map'
]

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


class GraspNetLayout:
    """Paths of the GraspNet-1Billion layout under ``root``: the one place where the
    package spells a folder or file name of the layout (the dataset, the evaluators and the
    generator all build their paths here)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    @staticmethod
    def scene_name(scene_id: int) -> str:
        """``scene_XXXX``."""
        return f'scene_{int(scene_id):04d}'

    def scenes_dir(self) -> str:
        """``root/scenes``."""
        return os.path.join(self.root, 'scenes')

    def scene_dir(self, scene_id: int) -> str:
        """``root/scenes/scene_XXXX``."""
        return os.path.join(self.scenes_dir(), self.scene_name(scene_id))

    def camera_dir(self, scene_id: int, camera: str) -> str:
        """``root/scenes/scene_XXXX/{camera}``."""
        return os.path.join(self.scene_dir(scene_id), camera)

    def object_id_list(self, scene_id: int) -> str:
        """``root/scenes/scene_XXXX/object_id_list.txt``."""
        return os.path.join(self.scene_dir(scene_id), 'object_id_list.txt')

    @staticmethod
    def camera_files(scene_dir: str, camera: str, frame_id: int) -> dict:
        """Per-frame file paths of one camera under a scene folder (real or temporary)."""
        cam_dir = os.path.join(scene_dir, camera)
        name = f'{int(frame_id):04d}'
        return {
            'depth': os.path.join(cam_dir, 'depth', name + '.png'),
            'label': os.path.join(cam_dir, 'label', name + '.png'),
            'rgb': os.path.join(cam_dir, 'rgb', name + '.png'),
            'meta': os.path.join(cam_dir, 'meta', name + '.mat'),
            'annotation': os.path.join(cam_dir, 'annotations', name + '.xml'),
        }

    def model_dir(self, obj_id: int) -> str:
        """``root/models/XXX``."""
        return os.path.join(self.root, 'models', f'{int(obj_id):03d}')

    def model_ply(self, obj_id: int) -> str:
        """``root/models/XXX/nontextured.ply``."""
        return os.path.join(self.model_dir(obj_id), 'nontextured.ply')

    def textured_model_base(self, obj_id: int) -> str:
        """``root/models/XXX/textured`` (``.obj`` / ``.sdf`` of graspnetAPI's dexnet
        models)."""
        return os.path.join(self.model_dir(obj_id), 'textured')

    def grasp_label_dir(self) -> str:
        """``root/grasp_label``."""
        return os.path.join(self.root, 'grasp_label')

    @staticmethod
    def grasp_label_name(obj_id: int) -> str:
        """``XXX_labels.npz``."""
        return f'{int(obj_id):03d}_labels.npz'

    def grasp_label(self, obj_id: int) -> str:
        """``root/grasp_label/XXX_labels.npz``."""
        return os.path.join(self.grasp_label_dir(), self.grasp_label_name(obj_id))

    def collision_label(self, scene_id: int) -> str:
        """``root/collision_label/scene_XXXX/collision_labels.npz``."""
        return os.path.join(self.root, 'collision_label', self.scene_name(scene_id),
                            'collision_labels.npz')

    def dex_model(self, obj_id: int) -> str:
        """``root/dex_models/XXX.pkl``."""
        return os.path.join(self.root, 'dex_models', f'{int(obj_id):03d}.pkl')

    def graspness_dir(self, scene_id: int, camera: str) -> str:
        """``root/graspness/scene_XXXX/{camera}``."""
        return os.path.join(self.root, 'graspness', self.scene_name(scene_id), camera)

    def graspness(self, scene_id: int, camera: str, frame_id: int) -> str:
        """``root/graspness/scene_XXXX/{camera}/NNNN.npy`` (float16 (H, W) map aligned with
        the frame's depth image)."""
        return os.path.join(self.graspness_dir(scene_id, camera), f'{int(frame_id):04d}.npy')


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


# ----------------------------------------------------------------------------- helpers

#: Per-camera files of a scene, in the order :func:`read_camera_files` returns them.
CAMERA_FILES = ('camK.npy', 'camera_poses.npy', 'cam0_wrt_table.npy')
#: Arrays of ``grasp_label/XXX_labels.npz`` and the dtypes they are read / written as.
GRASP_LABEL_ARRAYS = {'points': np.float32, 'offsets': np.float32, 'collision': bool,
                      'scores': np.float32}
_MAT_HEADER = b'MATLAB 5.0 MAT-file, written by graspcontrast_mm.synthetic'


def _require_file(path: str, what: str) -> str:
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}')
    return path


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp-{os.getpid()}'
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def save_npz_deterministic(path: str, arrays: Dict[str, np.ndarray],
                           compress: bool = True) -> None:
    """Write an ``.npz`` atomically with identical bytes for identical arrays.

    ``np.savez`` stamps every member with the current time; here every member carries a
    fixed time stamp, so a dataset generated twice with the same seed is byte-identical.
    The file reads with ``np.load`` like any ``.npz``.

    Args:
        path: Output path.
        arrays: Member name (without ``.npy``) -> array (no object arrays).
        compress: Deflate the members.
    """
    import zipfile
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp-{os.getpid()}'
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    try:
        with zipfile.ZipFile(tmp, 'w', compression=method, allowZip64=True) as zf:
            for key, value in arrays.items():
                info = zipfile.ZipInfo(f'{key}.npy', date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = method
                info.external_attr = 0o644 << 16
                with zf.open(info, 'w', force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(value),
                                              allow_pickle=False)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


# ----------------------------------------------------------------------------- images


def encode_png(image: np.ndarray) -> bytes:
    """Encode a uint8 / uint16 (H, W) or uint8 (H, W, 3) BGR image as PNG bytes."""
    import cv2
    image = np.asarray(image)
    if image.dtype not in (np.uint8, np.uint16):
        raise TypeError(f'PNG images must be uint8 or uint16, got {image.dtype}')
    ok, buf = cv2.imencode('.png', np.ascontiguousarray(image),
                           [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise RuntimeError('PNG encoding failed')
    return buf.tobytes()


def write_png(path: str, image: np.ndarray) -> None:
    """Write a PNG: ``depth/NNNN.png`` (uint16 millimetres), ``label/NNNN.png`` (uint8,
    ``obj_id + 1`` per pixel) or ``rgb/NNNN.png`` (uint8 BGR)."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(encode_png(image))


def read_label_image(label_path: str) -> np.ndarray:
    """Read GraspNet's ``label/NNNN.png`` (uint8, ``obj_id + 1`` per pixel, 0 = none).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: undecodable or not single-channel.
    """
    from .transforms.loading import read_single_channel_image
    return read_single_channel_image(label_path, 'label image')


# ----------------------------------------------------------------------------- meta / poses


def read_meta_poses(meta_path: str) -> Tuple[np.ndarray, np.ndarray]:
    """Object ids and poses of a frame from GraspNet's ``meta/NNNN.mat``.

    Args:
        meta_path: path of the ``.mat`` file (``poses`` (3, 4, n), ``cls_indexes`` (1, n)).

    Returns:
        tuple: ``object_ids`` int64 (n,) 0-based (``cls_indexes - 1``) and ``poses``
        float64 (n, 4, 4) ``T_cam_obj`` (camera frame of this frame, metres).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file lacks ``poses`` / ``cls_indexes`` or their shapes disagree.
    """
    if not osp.isfile(meta_path):
        raise FileNotFoundError(f'meta file not found: {meta_path}')
    import scipy.io
    meta = scipy.io.loadmat(meta_path, variable_names=['poses', 'cls_indexes'])
    if 'poses' not in meta or 'cls_indexes' not in meta:
        raise ValueError(f'{meta_path}: needs poses and cls_indexes')
    cls = np.asarray(meta['cls_indexes']).reshape(-1)
    poses = np.asarray(meta['poses'], np.float64)
    if poses.ndim == 2 and len(cls) == 1:
        poses = poses[:, :, None]
    if poses.shape[:2] != (3, 4) or poses.reshape(3, 4, -1).shape[2] != len(cls):
        raise ValueError(f'{meta_path}: poses {poses.shape} do not match '
                         f'{len(cls)} cls_indexes (expected (3, 4, n))')
    poses = poses.reshape(3, 4, -1)
    out = np.tile(np.eye(4), (len(cls), 1, 1))
    out[:, :3, :] = np.transpose(poses, (2, 0, 1))
    return np.rint(cls).astype(np.int64) - 1, out


def read_factor_depth(meta_path: str, default: float = 1000.0) -> float:
    """``factor_depth`` (depth PNG units per metre) of ``meta/NNNN.mat``; ``default`` when
    the file or the variable is absent."""
    if not osp.isfile(meta_path):
        return float(default)
    import scipy.io
    meta = scipy.io.loadmat(meta_path, variable_names=['factor_depth'])
    if 'factor_depth' not in meta:
        return float(default)
    return float(np.asarray(meta['factor_depth']).reshape(-1)[0])


def write_meta_mat(path: str, K: np.ndarray, poses_cam: np.ndarray,
                   obj_ids: Sequence[int], factor_depth: float = 1000.0) -> None:
    """Write ``meta/NNNN.mat`` as in GraspNet-1Billion.

    Args:
        path: Output file.
        K: float64 (3, 3) intrinsics, pixels.
        poses_cam: float64 (n_obj, 4, 4) ``T_cam_obj`` of this frame (metres).
        obj_ids: 0-based object ids in the order of ``poses_cam``.
        factor_depth: depth PNG units per metre (1000: millimetres).

    The file holds ``intrinsic_matrix`` (3, 3), ``factor_depth`` (1, 1), ``poses``
    (3, 4, n_obj) and ``cls_indexes`` (1, n_obj) = obj_id + 1. The MAT header carries no
    time stamp, so identical inputs give identical bytes.
    """
    import scipy.io
    n = len(obj_ids)
    if len(poses_cam) != n:
        raise ValueError(f'{path}: {len(poses_cam)} poses for {n} object ids')
    poses = np.zeros((3, 4, n), np.float64)
    for i in range(n):
        poses[:, :, i] = np.asarray(poses_cam[i])[:3, :4]
    buf = io.BytesIO()
    scipy.io.savemat(buf, {
        'intrinsic_matrix': np.asarray(K, np.float64),
        'factor_depth': np.array([[factor_depth]], np.float64),
        'poses': poses,
        'cls_indexes': np.asarray(obj_ids, np.float64).reshape(1, n) + 1,
    }, do_compression=False)
    data = bytearray(buf.getvalue())
    data[:116] = _MAT_HEADER.ljust(116, b' ')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(bytes(data))


def _mat2quat_wxyz(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z), w >= 0, of a rotation matrix."""
    m = R
    tr = np.trace(m)
    if tr > 0:
        s = np.sqrt(tr + 1.0) * 2
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s,
             (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s,
             (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s,
             (m[1, 2] + m[2, 1]) / s]
    else:
        s = np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s,
             0.25 * s]
    q = np.asarray(q)
    q /= np.linalg.norm(q)
    return q if q[0] >= 0 else -q


def write_annotation_xml(path: str, poses_cam: np.ndarray, obj_ids: Sequence[int],
                         obj_names: Sequence[str]) -> None:
    """Write ``annotations/NNNN.xml`` in graspnetAPI's format.

    One ``<obj>`` per object with ``obj_id``, ``obj_name``, ``obj_path``,
    ``pos_in_world`` (metres, 4 decimals) and ``ori_in_world`` (quaternion w x y z); despite
    the tag names, GraspNet stores poses in the camera frame of the frame, ``T_cam_obj``.
    """
    top = ET.Element('scene')
    for pose, obj_id, name in zip(poses_cam, obj_ids, obj_names):
        obj = ET.SubElement(top, 'obj')
        ET.SubElement(obj, 'obj_id').text = str(int(obj_id))
        ET.SubElement(obj, 'obj_name').text = f'{int(obj_id):03d}.ply'
        ET.SubElement(obj, 'obj_path').text = f'models/{int(obj_id):03d}/nontextured.ply'
        ET.SubElement(obj, 'pos_in_world').text = '{:.4f} {:.4f} {:.4f}'.format(
            *pose[:3, 3])
        ET.SubElement(obj, 'ori_in_world').text = '{:.4f} {:.4f} {:.4f} {:.4f}'.format(
            *_mat2quat_wxyz(pose[:3, :3]))
        obj.set('name', str(name))
    ET.indent(top, space='    ')
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(ET.tostring(top, encoding='utf-8', xml_declaration=True) + b'\n')


def read_annotation_poses(path: str) -> Tuple[List[int], List[np.ndarray]]:
    """Object ids and poses ``T_cam_obj`` of ``annotations/NNNN.xml``, read with
    graspnetAPI's own parser (``xmlReader`` + ``parse_posevector``: float32, 4 decimals),
    as its evaluator reads them.

    Raises:
        FileNotFoundError: the file does not exist.
    """
    from graspnetAPI.utils.eval_utils import parse_posevector
    from graspnetAPI.utils.xmlhandler import xmlReader
    _require_file(path, 'annotation file')
    ids, poses = [], []
    for vec in xmlReader(path).getposevectorlist():
        obj_id, mat = parse_posevector(vec)
        ids.append(int(obj_id))
        poses.append(mat)
    return ids, poses


def read_object_id_list(path: str) -> List[int]:
    """``object_id_list.txt``: 0-based object ids, one per line, in the scene's order (the
    order of the collision label arrays).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a line is not an integer.
    """
    _require_file(path, 'object list')
    with open(path) as f:
        words = f.read().split()
    try:
        return [int(w) for w in words]
    except ValueError as e:
        raise ValueError(f'{path}: expected one integer object id per line ({e})') from e


def write_object_id_list(path: str, obj_ids: Sequence[int]) -> None:
    """Write ``object_id_list.txt``: one 0-based object id per line."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write(''.join(f'{int(i)}\n' for i in obj_ids))


# ----------------------------------------------------------------------------- cameras


def read_camera_files(cam_dir: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``camK.npy``, ``camera_poses.npy`` and ``cam0_wrt_table.npy`` of a scene's camera.

    The arrays come back as stored (GraspNet-1Billion: float64 ``camK``, float32 poses),
    so that callers reproducing graspnetAPI's arithmetic get its dtypes.

    Args:
        cam_dir: ``scenes/scene_XXXX/{camera}``.

    Returns:
        tuple: ``K`` (3, 3) intrinsics (pixels), ``camera_poses`` (n_views, 4, 4)
        ``T_cam0_cami`` and ``cam0_wrt_table`` (4, 4) ``T_table_cam0`` (metres).
        ``T_world_cam`` of frame i is ``cam0_wrt_table @ camera_poses[i]``.

    Raises:
        FileNotFoundError: a file is missing (the message names it).
        ValueError: a file has the wrong shape.
    """
    arrays = []
    for name in CAMERA_FILES:
        path = osp.join(cam_dir, name)
        if not osp.isfile(path):
            raise FileNotFoundError(f'missing {name} (expected {path})')
        arrays.append(np.load(path, allow_pickle=False))
    K, cam_poses, cam0 = arrays
    if K.shape != (3, 3) or cam0.shape != (4, 4) or cam_poses.ndim != 3 or \
            cam_poses.shape[1:] != (4, 4):
        raise ValueError(
            f'{cam_dir}: bad shapes camK {K.shape}, camera_poses {cam_poses.shape}, '
            f'cam0_wrt_table {cam0.shape}; expected (3, 3), (n_views, 4, 4), (4, 4)')
    return K, cam_poses, cam0


def read_camera_poses(cam_dir: str) -> Tuple[np.ndarray, np.ndarray]:
    """``camera_poses.npy`` (n_views, 4, 4) and ``cam0_wrt_table.npy`` (4, 4) as stored
    (what graspnetAPI's evaluator reads; no ``camK.npy`` needed).

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: a file has the wrong shape.
    """
    out = []
    for name in CAMERA_FILES[1:]:
        path = osp.join(cam_dir, name)
        if not osp.isfile(path):
            raise FileNotFoundError(f'camera pose file not found: {path}')
        out.append(np.load(path, allow_pickle=False))
    cam_poses, cam0 = out
    if cam0.shape != (4, 4) or cam_poses.ndim != 3 or cam_poses.shape[1:] != (4, 4):
        raise ValueError(f'{cam_dir}: bad shapes camera_poses {cam_poses.shape}, '
                         f'cam0_wrt_table {cam0.shape}; expected (n_views, 4, 4), (4, 4)')
    return cam_poses, cam0


def write_camera_files(cam_dir: str, K: np.ndarray, camera_poses: np.ndarray,
                       cam0_wrt_table: np.ndarray) -> None:
    """Write ``camK.npy``, ``camera_poses.npy`` and ``cam0_wrt_table.npy`` (``np.save``,
    dtypes kept); see :func:`read_camera_files` for their meaning."""
    K, camera_poses, cam0 = (np.asarray(a) for a in (K, camera_poses, cam0_wrt_table))
    if K.shape != (3, 3) or cam0.shape != (4, 4) or camera_poses.ndim != 3 or \
            camera_poses.shape[1:] != (4, 4):
        raise ValueError(f'bad shapes camK {K.shape}, camera_poses {camera_poses.shape}, '
                         f'cam0_wrt_table {cam0.shape}; expected (3, 3), (n_views, 4, 4), '
                         '(4, 4)')
    os.makedirs(cam_dir, exist_ok=True)
    for name, arr in zip(CAMERA_FILES, (K, camera_poses, cam0)):
        np.save(osp.join(cam_dir, name), arr)


# ----------------------------------------------------------------------------- labels


def read_grasp_labels(path: str, collision: str = 'required') -> Dict[str, np.ndarray]:
    """Read ``grasp_label/XXX_labels.npz`` (GraspNet-1Billion's or the generator's).

    Args:
        path: the file.
        collision: ``'required'``, ``'optional'`` (read when present) or ``'skip'`` (never
            decompressed: the largest member of real label files).

    Returns:
        dict: ``points`` float32 (Np, 3) object frame, metres; ``offsets`` float32
        (Np, 300, 12, 4, 3) ``[angle (rad), depth (m), width (m)]``; ``scores`` float32
        (Np, 300, 12, 4) friction coefficient (-1 / <= 0 invalid); ``collision`` bool
        (Np, 300, 12, 4) when read.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: a needed array is missing.
    """
    if collision not in ('required', 'optional', 'skip'):
        raise ValueError(f"collision must be 'required', 'optional' or 'skip', got "
                         f'{collision!r}')
    _require_file(path, 'grasp label file')
    with np.load(path, allow_pickle=False) as f:
        needed = ['points', 'offsets', 'scores'] + (['collision'] if collision == 'required'
                                                    else [])
        missing = [k for k in needed if k not in f.files]
        if missing:
            raise ValueError(f'{path}: missing arrays {missing}')
        names = needed + (['collision'] if collision == 'optional' and
                          'collision' in f.files else [])
        return {k: f[k].astype(GRASP_LABEL_ARRAYS[k]) for k in names}


def write_grasp_labels(path: str, points: np.ndarray, offsets: np.ndarray,
                       collision: np.ndarray, scores: np.ndarray,
                       compress: bool = True) -> None:
    """Write ``grasp_label/XXX_labels.npz`` atomically and reproducibly (float32 / bool,
    the dtypes graspnetAPI reads; see :func:`read_grasp_labels`)."""
    arrays = dict(points=points, offsets=offsets, collision=collision, scores=scores)
    arrays = {k: np.asarray(v, GRASP_LABEL_ARRAYS[k]) for k, v in arrays.items()}
    num_p = len(arrays['points'])
    grid = arrays['scores'].shape
    if arrays['points'].shape != (num_p, 3) or grid[:1] != (num_p, ) or \
            arrays['collision'].shape != grid or arrays['offsets'].shape != grid + (3, ):
        raise ValueError(f'{path}: inconsistent grasp label shapes points '
                         f"{arrays['points'].shape}, offsets {arrays['offsets'].shape}, "
                         f"collision {arrays['collision'].shape}, scores {grid}")
    save_npz_deterministic(path, arrays, compress=compress)


def read_collision_labels(path: str) -> List[np.ndarray]:
    """Read ``collision_labels.npz`` as graspnetAPI does: bool ``arr_0 .. arr_{n-1}``, one
    (Np_i, 300, 12, 4) array per object in ``object_id_list.txt`` order.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the members are not ``arr_0 .. arr_{n-1}``.
    """
    _require_file(path, 'collision label file')
    with np.load(path, allow_pickle=False) as f:
        expected = [f'arr_{j}' for j in range(len(f.files))]
        if sorted(f.files) != sorted(expected):
            raise ValueError(f'{path}: members {sorted(f.files)} are not arr_0 .. '
                             f'arr_{len(f.files) - 1}')
        return [f[name].astype(bool) for name in expected]


def write_collision_labels(path: str, collisions: Sequence[np.ndarray]) -> None:
    """Write ``collision_labels.npz`` (bool ``arr_0 ..``) atomically and reproducibly."""
    save_npz_deterministic(path, {f'arr_{i}': np.asarray(c, dtype=bool)
                                  for i, c in enumerate(collisions)})


def read_graspness_file(path: str) -> np.ndarray:
    """Read ``graspness/scene_XXXX/{camera}/NNNN.npy`` as stored (no pickle): the package's
    float16 (H, W) map, or the GSNet reference's ``(N_masked, 1)`` array (see
    :func:`graspcontrast_mm.datasets.transforms.graspness_at_pixels`).

    Raises:
        FileNotFoundError: the file does not exist.
    """
    _require_file(path, 'graspness file')
    return np.load(path, allow_pickle=False)


def write_graspness_map(path: str, graspness: np.ndarray) -> None:
    """Write a float16 (H, W) graspness map with ``np.save`` (no pickle)."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'wb') as f:
        np.save(f, np.asarray(graspness, dtype=np.float16), allow_pickle=False)
