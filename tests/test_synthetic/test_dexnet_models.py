"""dexnet models for graspnetAPI's evaluator, built from meshes."""
import os
import pickle

import numpy as np
import pytest
import trimesh

from graspcontrast_mm.structures.grasp import (decode_label_grasps, generate_views,
                                               view_angle_to_matrix)
from graspcontrast_mm.synthetic.dexnet_models import (build_dexnet_model, compute_sdf_grid,
                                                      export_dexnet_files, load_dexnet_model,
                                                      numpy_int_alias)
from graspcontrast_mm.synthetic.grasp_labels import GraspLabelConfig, compute_grasp_labels

pytest.importorskip('graspnetAPI')
TOP = 299


def _gripper_box(extents=(0.05, 0.04, 0.06)):
    """Box with the gripper axes of (view 299, angle 0), its gripper-side face at 0."""
    view = generate_views(300)[TOP].astype(np.float64)
    R = view_angle_to_matrix(view[None], 0.0)[0].astype(np.float64)
    box = trimesh.creation.box(extents=extents)
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = 0.5 * extents[0] * R[:, 0]
    box.apply_transform(T)
    return box


@pytest.fixture(scope='module')
def box_model():
    box = trimesh.creation.box(extents=(0.05, 0.04, 0.06))
    return box, build_dexnet_model(box, name='box')


def test_numpy_int_alias_is_scoped():
    had = 'int' in np.__dict__
    with numpy_int_alias(seed=3):
        assert np.int is int
        a = np.random.rand()
    assert ('int' in np.__dict__) == had
    with numpy_int_alias(seed=3):
        assert np.random.rand() == a            # seeded inside
    with pytest.raises(RuntimeError):
        with numpy_int_alias():
            raise RuntimeError('boom')
    assert ('int' in np.__dict__) == had        # removed on errors too


def test_sdf_grid_convention():
    box = trimesh.creation.box(extents=(0.05, 0.04, 0.06))
    sdf, origin, res = compute_sdf_grid(box, grid_dim=60, padding=5, noise=0.0)
    assert res == pytest.approx(0.06 / 60)
    np.testing.assert_allclose(origin, [-0.025 - 5 * res, -0.02 - 5 * res, -0.03 - 5 * res])
    # cell (i, j, k) is at origin + res * (i, j, k): check the analytic box SDF
    ijk = np.array([[5, 5, 5], [30, 25, 35], [0, 0, 0], [20, 10, 30]])
    x = origin + res * ijk
    inside_depth = np.min(np.array([0.025, 0.02, 0.03]) - np.abs(x), axis=1)
    outside = np.linalg.norm(np.maximum(np.abs(x) - [0.025, 0.02, 0.03], 0), axis=1)
    expect = np.where(inside_depth > 0, -inside_depth, outside)
    np.testing.assert_allclose(sdf[tuple(ijk.T)], expect, atol=1e-6)
    assert sdf[30, 25, 35] == pytest.approx(-0.02, abs=1e-6)   # the centre, 20 mm deep


def test_model_pickle_and_sdf_frame(box_model, tmp_path):
    box, model = box_model
    from graspnetAPI.utils.dexnet.grasping.graspable_object import GraspableObject3D
    assert isinstance(model, GraspableObject3D)
    assert 'int' not in np.__dict__ or np.__dict__['int'] is int
    path = os.path.join(str(tmp_path), 'dex_models', '000.pkl')
    from graspcontrast_mm.synthetic.dexnet_models import save_dexnet_model
    save_dexnet_model(path, model)
    assert os.listdir(os.path.dirname(path)) == ['000.pkl']
    with open(path, 'rb') as f:                 # exactly what get_scene_models does
        loaded = pickle.load(f)
    # dexnet's object -> grid transform agrees with our grid: vertices are on the surface
    face_points = np.array([[0.025, 0.0013, -0.0071], [-0.0042, 0.02, 0.0117],
                            [0.0093, -0.0031, -0.03], [0.0125, 0.0, 0.0]])
    grid = loaded.sdf.transform_pt_obj_to_grid(face_points.T).T
    vals = [loaded.sdf[g] for g in grid]
    np.testing.assert_allclose(vals, [0, 0, 0, -0.0125], atol=1e-5)
    assert loaded.sdf[loaded.sdf.transform_pt_obj_to_grid(np.zeros((3, 1))).ravel()] < -0.019


def test_evaluator_scores_label_grasps(tmp_path):
    """graspnetAPI's eval_grasp on a one-object scene: label grasps vs an offset grasp."""
    from graspnetAPI import GraspGroup
    from graspnetAPI.utils.config import get_config
    from graspnetAPI.utils.eval_utils import eval_grasp, voxel_sample_points

    box = _gripper_box()
    root = str(tmp_path)
    written = export_dexnet_files(root, 7, box, write_textured=False)
    assert set(written) == {'pkl', 'ply'}
    dex = load_dexnet_model(written['pkl'])
    import open3d as o3d
    ply_points = np.asarray(o3d.io.read_point_cloud(written['ply']).points)
    model_points = voxel_sample_points(ply_points, 0.008)
    assert len(model_points) > 0.5 * box.area / 0.008**2   # dense enough for the emptiness test

    labels = compute_grasp_labels(box, GraspLabelConfig(point_spacing=0.02, max_points=16),
                                  name='007', points=np.zeros((1, 3)))
    mask = np.zeros(labels.scores.shape, bool)
    mask[0, TOP, 0, 1] = True       # closing along the 0.04 m axis: mu = 0
    mask[0, TOP, 4, 1] = True       # 60 degrees: leaves the 0.06 m faces at 30 deg -> 0.6
    scores = np.where(mask, labels.scores, -1)
    T = np.eye(4)
    T[:3, 3] = [0.05, -0.02, 0.55]
    rows = decode_label_grasps(labels.points, labels.offsets, scores, None, T, object_id=7,
                               fric_coef_thresh=1.2)
    assert len(rows) == 2
    offset = rows[:1].copy()
    offset[0, 13:16] += [0.0, 0.3, 0.0]       # nothing between the fingers
    offset[0, 0] = 0.01
    gg = GraspGroup(np.concatenate([rows, offset]).astype(np.float64))
    grasp_list, score_list, collision_list = eval_grasp(
        gg, [model_points], [dex], [T], get_config(), table=None)
    assert len(grasp_list[0]) == 3
    got = score_list[0][np.argsort(-grasp_list[0][:, 0])]  # label scores 1.0, 0.5, 0.01
    assert got[0] == pytest.approx(0.2)                 # antipodal: best friction bin
    assert got[1] in (0.4, 0.6, 0.8)                    # tan 30 deg: 0.6, +-1 evaluator bin
    assert got[2] == -1                                 # empty grasp


def test_textured_fallback_and_errors(tmp_path):
    from graspnetAPI.utils.eval_utils import load_dexnet_model as gapi_load
    box = trimesh.creation.box(extents=(0.03, 0.04, 0.05))
    root = str(tmp_path)
    written = export_dexnet_files(root, 3, box, write_textured=True, grid_dim=40)
    assert set(written) == {'pkl', 'ply', 'obj', 'sdf'}
    pkl = load_dexnet_model(written['pkl'])
    with numpy_int_alias(seed=0):             # SdfFile.read builds an Sdf3D (np.int)
        fallback = gapi_load(os.path.join(root, 'models', '003', 'textured'))
    np.testing.assert_allclose(fallback.sdf.data, pkl.sdf.data, atol=1e-8)
    np.testing.assert_allclose(fallback.sdf.origin, pkl.sdf.origin, atol=1e-8)
    assert len(fallback.mesh.vertices) == len(box.vertices)
    # the ply is kept when present
    mtime = os.path.getmtime(written['ply'])
    again = export_dexnet_files(root, 3, box, grid_dim=40)
    assert 'ply' not in again and os.path.getmtime(written['ply']) == mtime
    broken = trimesh.Trimesh(box.vertices, box.faces[:-2], process=False)
    with pytest.raises(ValueError, match='broken.*watertight'):
        build_dexnet_model(broken, name='broken')
