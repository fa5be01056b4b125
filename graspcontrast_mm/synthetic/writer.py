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

Every file format is read and written by :mod:`graspcontrast_mm.datasets.graspnet_io`; this
module holds the paths of the layout and the one writer that is the generator's own (PLY
meshes), and re-exports the format writers the generator uses. Every writer produces
identical bytes for identical inputs, and files that several scenes share (models) are
written atomically (temporary file + ``os.replace``).
"""
from __future__ import annotations

import os

import numpy as np

from ..datasets.graspnet_io import (GraspNetLayout, atomic_write_bytes, encode_png,
                                    write_annotation_xml,
                                    write_camera_files, write_meta_mat,
                                    write_object_id_list, write_png)

__all__ = [
    'GraspNetLayout', 'atomic_write_bytes', 'write_png', 'write_meta_mat',
    'write_annotation_xml', 'write_object_id_list', 'write_ply_mesh', 'encode_png',
    'write_camera_files'
]


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
