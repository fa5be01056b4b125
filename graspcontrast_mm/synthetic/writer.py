"""Writers for the GraspNet-1Billion file layout.

Layout under a dataset root (``NNNN`` = frame id, ``XXXX`` = scene id, ``XXX`` = object id)::

    scenes/scene_XXXX/object_id_list.txt          0-based object ids, one per line
    scenes/scene_XXXX/{camera}/depth/NNNN.png      uint16 millimetres, 0 = no measurement
    scenes/scene_XXXX/{camera}/label/NNNN.png      uint8, obj_id + 1 per pixel, 0 = none
    scenes/scene_XXXX/{camera}/rgb/NNNN.png        uint8 colour (optional)
    scenes/scene_XXXX/{camera}/meta/NNNN.mat       intrinsic_matrix, factor_depth, poses,
                                                   cls_indexes
    scenes/scene_XXXX/{camera}/annotations/NNNN.xml  object poses (graspnetAPI's format)
    scenes/scene_XXXX/{camera}/camK.npy            (3, 3) intrinsics, pixels
    scenes/scene_XXXX/{camera}/camera_poses.npy    (n_views, 4, 4) T_cam0_cami
    scenes/scene_XXXX/{camera}/cam0_wrt_table.npy  (4, 4) T_table_cam0
    models/XXX/nontextured.ply                     object surface, object frame, metres
    grasp_label/XXX_labels.npz                     per-object grasp labels
    dex_models/XXX.pkl                             dexnet model of graspnetAPI's evaluator
    collision_label/scene_XXXX/collision_labels.npz  per-scene collision labels
    graspness/scene_XXXX/{camera}/NNNN.npy         float16 (H, W) per-pixel graspness

(the label files are written by :mod:`.labelled_scene`; ``docs/data_flow.md`` lists dtypes
and shapes).

Every writer produces identical bytes for identical inputs, and files that several scenes
share (models) are written atomically (temporary file + ``os.replace``).
"""
from __future__ import annotations

import io
import os
import xml.etree.ElementTree as ET
from typing import Sequence

import numpy as np

__all__ = [
    'GraspNetLayout', 'atomic_write_bytes', 'write_png', 'write_meta_mat',
    'write_annotation_xml', 'write_object_id_list', 'write_ply_mesh', 'encode_png'
]

_MAT_HEADER = b'MATLAB 5.0 MAT-file, written by graspcontrast_mm.synthetic'


class GraspNetLayout:
    """Paths of the GraspNet-1Billion layout under ``root``."""

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

    def grasp_label(self, obj_id: int) -> str:
        """``root/grasp_label/XXX_labels.npz``."""
        return os.path.join(self.root, 'grasp_label', f'{int(obj_id):03d}_labels.npz')

    def collision_label(self, scene_id: int) -> str:
        """``root/collision_label/scene_XXXX/collision_labels.npz``."""
        return os.path.join(self.root, 'collision_label', self.scene_name(scene_id),
                            'collision_labels.npz')

    def dex_model(self, obj_id: int) -> str:
        """``root/dex_models/XXX.pkl``."""
        return os.path.join(self.root, 'dex_models', f'{int(obj_id):03d}.pkl')

    def graspness(self, scene_id: int, camera: str, frame_id: int) -> str:
        """``root/graspness/scene_XXXX/{camera}/NNNN.npy`` (float16 (H, W) map aligned with
        the frame's depth image)."""
        return os.path.join(self.root, 'graspness', self.scene_name(scene_id), camera,
                            f'{int(frame_id):04d}.npy')


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and an atomic rename."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)


def encode_png(image: np.ndarray) -> bytes:
    """Encode a uint8 / uint16 (H, W) or uint8 (H, W, 3) BGR image as PNG bytes."""
    import cv2
    if image.dtype not in (np.uint8, np.uint16):
        raise TypeError(f'PNG images must be uint8 or uint16, got {image.dtype}')
    ok, buf = cv2.imencode('.png', np.ascontiguousarray(image),
                           [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise RuntimeError('PNG encoding failed')
    return buf.tobytes()


def write_png(path: str, image: np.ndarray) -> None:
    """Write a PNG (uint16 depth in millimetres, uint8 label, uint8 BGR colour)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(encode_png(image))


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
    poses = np.zeros((3, 4, n), np.float64)
    for i in range(n):
        poses[:, :, i] = poses_cam[i][:3, :4]
    buf = io.BytesIO()
    scipy.io.savemat(buf, {
        'intrinsic_matrix': np.asarray(K, np.float64),
        'factor_depth': np.array([[factor_depth]], np.float64),
        'poses': poses,
        'cls_indexes': np.asarray(obj_ids, np.float64).reshape(1, n) + 1,
    }, do_compression=False)
    data = bytearray(buf.getvalue())
    data[:116] = _MAT_HEADER.ljust(116, b' ')
    os.makedirs(os.path.dirname(path), exist_ok=True)
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
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(ET.tostring(top, encoding='utf-8', xml_declaration=True) + b'\n')


def write_object_id_list(path: str, obj_ids: Sequence[int]) -> None:
    """Write ``object_id_list.txt``: one 0-based object id per line."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(''.join(f'{int(i)}\n' for i in obj_ids))


def write_ply_mesh(path: str, vertices: np.ndarray, faces: np.ndarray) -> None:
    """Write a binary little-endian PLY triangle mesh atomically.

    Args:
        path: Output file (``models/XXX/nontextured.ply``).
        vertices: (V, 3) positions in the object frame, metres (stored as float32).
        faces: (F, 3) vertex indices.
    """
    vertices = np.ascontiguousarray(vertices, '<f4')
    faces = np.asarray(faces, '<i4')
    header = ('ply\nformat binary_little_endian 1.0\n'
              'comment graspcontrast_mm synthetic object, metres, object frame\n'
              f'element vertex {len(vertices)}\n'
              'property float x\nproperty float y\nproperty float z\n'
              f'element face {len(faces)}\n'
              'property list uchar int vertex_indices\nend_header\n').encode('ascii')
    face_rec = np.zeros(len(faces), dtype=[('n', 'u1'), ('idx', '<i4', (3, ))])
    face_rec['n'] = 3
    face_rec['idx'] = faces
    atomic_write_bytes(path, header + vertices.tobytes() + face_rec.tobytes())
