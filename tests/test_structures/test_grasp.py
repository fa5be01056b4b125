"""Grasp representation: graspnetAPI conventions, 17-float rows, views."""
import numpy as np
import pytest

from graspcontrast_mm.structures.grasp import (
    GRASP_HEIGHT, LABEL_ANGLES, LABEL_DEPTHS, approach_angle_to_matrix, closing_centers,
    decode_label_grasps, generate_views, grasp_array_from_poses, grasp_array_to_poses,
    make_grasp_array, matrix_to_approach_angle, split_grasp_array, transform_grasp_array,
    view_angle_to_matrix)

gapi_utils = pytest.importorskip('graspnetAPI.utils.utils')
gapi_rot = pytest.importorskip('graspnetAPI.utils.rotation')


def test_views_identical_to_graspnetapi():
    ours = generate_views(300)
    ref = gapi_utils.generate_views(300)
    assert ours.shape == (300, 3)
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-6)
    # hand values: z_i = (2i + 1) / N - 1, azimuth 0 for view 0
    assert ours[0, 2] == pytest.approx(1 / 300 - 1, abs=1e-6)
    assert ours[0, 1] == pytest.approx(0.0, abs=1e-7)
    assert ours[299, 2] == pytest.approx(599 / 300 - 1, abs=1e-6)


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_rotation_equals_batch_viewpoint_params_to_matrix(dtype):
    rng = np.random.default_rng(0)
    views = generate_views(300).astype(dtype)
    # include exactly vertical approaches (graspnetAPI's special case)
    views = np.concatenate([views, np.array([[0, 0, 1], [0, 0, -1]], dtype)])
    angles = rng.uniform(0, 2 * np.pi, len(views)).astype(dtype)
    ours = view_angle_to_matrix(views, angles)
    ref = gapi_rot.batch_viewpoint_params_to_matrix(-views, angles)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    # label grid: the same as graspnetAPI's loadGrasp decoding
    assert np.allclose(LABEL_ANGLES, np.arange(12) * np.pi / 12)
    assert np.allclose(LABEL_DEPTHS, [0.01, 0.02, 0.03, 0.04])


def test_rotation_hand_values():
    R = approach_angle_to_matrix(np.array([[2.0, 0, 0]]), 0.0)[0]
    np.testing.assert_allclose(R, np.eye(3), atol=1e-7)
    # 90 deg in-plane: y -> z0 = +z, z -> -y0 = -y
    R = approach_angle_to_matrix(np.array([[1.0, 0, 0]]), np.pi / 2)[0]
    np.testing.assert_allclose(R, [[1, 0, 0], [0, 0, -1], [0, 1, 0]], atol=1e-7)
    # vertical approach: y0 = +y
    R = approach_angle_to_matrix(np.array([[0, 0, -1.0]]), 0.0)[0]
    np.testing.assert_allclose(R[:, 0], [0, 0, -1], atol=1e-7)
    np.testing.assert_allclose(R[:, 1], [0, 1, 0], atol=1e-7)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-6)


def test_matrix_to_approach_angle_round_trip():
    rng = np.random.default_rng(1)
    approach = rng.normal(size=(50, 3))
    approach /= np.linalg.norm(approach, axis=1, keepdims=True)
    angles = rng.uniform(0, 2 * np.pi, 50)
    R = approach_angle_to_matrix(approach, angles)
    a2, t2 = matrix_to_approach_angle(R)
    np.testing.assert_allclose(a2, approach, atol=1e-6)
    np.testing.assert_allclose(np.angle(np.exp(1j * (t2 - angles))), 0, atol=1e-5)


def test_17_float_row_round_trip():
    from graspnetAPI import GraspGroup
    rng = np.random.default_rng(2)
    n = 7
    R = approach_angle_to_matrix(rng.normal(size=(n, 3)), rng.uniform(0, 3, n))
    t = rng.normal(size=(n, 3))
    rows = make_grasp_array(np.linspace(0.1, 1, n), np.full(n, 0.05), np.full(n, 0.02), R,
                            t, np.arange(n))
    assert rows.shape == (n, 17) and rows.dtype == np.float32
    fields = split_grasp_array(rows)
    np.testing.assert_allclose(fields['rotations'], R, atol=1e-7)
    np.testing.assert_allclose(fields['translations'], t, atol=1e-6)
    np.testing.assert_array_equal(fields['object_ids'], np.arange(n))
    np.testing.assert_allclose(fields['heights'], GRASP_HEIGHT)
    # graspnetAPI reads the same fields
    gg = GraspGroup(rows.astype(np.float64))
    np.testing.assert_allclose(gg.rotation_matrices, R, atol=1e-7)
    np.testing.assert_allclose(gg.translations, t, atol=1e-6)
    np.testing.assert_allclose(gg.widths, 0.05)
    np.testing.assert_allclose(gg.depths, 0.02)
    np.testing.assert_allclose(gg.object_ids, np.arange(n))
    # poses round trip
    poses = grasp_array_to_poses(rows)
    back = grasp_array_from_poses(poses, fields['widths'], fields['depths'], fields['scores'],
                                  fields['object_ids'])
    np.testing.assert_allclose(back, rows, atol=1e-6)


def test_transform_and_closing_centers():
    R = np.eye(3)[None]
    rows = make_grasp_array([1.0], [0.05], [0.02], R, [[1.0, 2.0, 3.0]], 3)
    np.testing.assert_allclose(closing_centers(rows), [[1.02, 2.0, 3.0]], atol=1e-6)
    T = np.eye(4)
    T[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]  # 90 deg about z
    T[:3, 3] = [0.5, 0, 0]
    out = transform_grasp_array(rows, T)
    np.testing.assert_allclose(out[0, 13:16], [0.5 - 2.0, 1.0, 3.0], atol=1e-6)
    np.testing.assert_allclose(out[0, 4:13].reshape(3, 3), T[:3, :3], atol=1e-7)
    np.testing.assert_allclose(closing_centers(out), [[0.5 - 2.0, 1.02, 3.0]], atol=1e-6)
    np.testing.assert_allclose(grasp_array_to_poses(out)[0],
                               T @ grasp_array_to_poses(rows)[0], atol=1e-6)


def test_decode_label_grasps_rule():
    views = generate_views(300)
    points = np.array([[0.0, 0.0, 0.01], [0.02, 0.0, 0.0]], np.float32)
    offsets = np.zeros((2, 300, 12, 4, 3), np.float32)
    offsets[..., 0] = LABEL_ANGLES[None, None, :, None]
    offsets[..., 1] = LABEL_DEPTHS[None, None, None, :]
    offsets[..., 2] = 0.05
    scores = -np.ones((2, 300, 12, 4), np.float32)
    scores[0, 10, 3, 1] = 0.2       # kept, score 0.9
    scores[1, 299, 0, 0] = 0.4      # kept at the threshold, score 0.7
    scores[1, 5, 5, 2] = 0.6        # above the threshold
    scores[0, 7, 2, 3] = 0.1        # in collision
    collision = np.zeros(scores.shape, bool)
    collision[0, 7, 2, 3] = True
    T = np.eye(4)
    T[:3, 3] = [0.1, 0.2, 0.3]
    rows = decode_label_grasps(points, offsets, scores, collision, T, object_id=5)
    assert rows.shape == (2, 17)
    np.testing.assert_allclose(np.sort(rows[:, 0]), [0.7, 0.9], atol=1e-6)
    r0 = rows[np.argmax(rows[:, 0])]
    np.testing.assert_allclose(r0[13:16], [0.1, 0.2, 0.31], atol=1e-6)
    np.testing.assert_allclose(r0[3], 0.02, atol=1e-7)
    np.testing.assert_allclose(r0[4:13].reshape(3, 3)[:, 0], -views[10], atol=1e-6)
    assert r0[16] == 5


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        approach_angle_to_matrix(np.zeros((2, 3)), 0.0)
    with pytest.raises(ValueError):
        split_grasp_array(np.zeros((3, 16)))
    with pytest.raises(ValueError):
        make_grasp_array([1.0], [0.05], [0.02], np.eye(3)[None], np.zeros((2, 3)))
    with pytest.raises(ValueError):
        generate_views(0)
