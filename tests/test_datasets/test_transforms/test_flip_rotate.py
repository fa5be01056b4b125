import numpy as np
import pytest

from graspcontrast_mm.datasets.transforms import ApplyToViews, RandomFlipRotate
from graspcontrast_mm.datasets.transforms.view_pair import view_points_world
from graspcontrast_mm.structures import transform_points


def test_flip_only_negates_x():
    pts = np.array([[0.1, -0.2, 0.7], [-0.3, 0.05, 0.9]], np.float32)
    out = RandomFlipRotate(flip_prob=1., rot_range_deg=(0., 0.))(
        {'points': pts.copy(), 'aug_mat': np.eye(4)})
    np.testing.assert_allclose(out['points'], pts * [-1, 1, 1])
    np.testing.assert_allclose(out['aug_mat'], np.diag([-1., 1., 1., 1.]))


def test_rotation_about_z_hand_computed():
    pts = np.array([[0.1, 0., 0.5]], np.float32)
    out = RandomFlipRotate(flip_prob=0., rot_range_deg=(90., 90.), axis='z')({'points': pts})
    np.testing.assert_allclose(out['points'], [[0., 0.1, 0.5]], atol=1e-7)
    out = RandomFlipRotate(flip_prob=0., rot_range_deg=(90., 90.), axis='x')(
        {'points': pts.copy()})
    np.testing.assert_allclose(out['points'], [[0.1, -0.5, 0.]], atol=1e-7)


def test_default_is_the_gsnet_reference_augment_data():
    """GSNet's augment_data: flip x with p = 0.5, then rotate about camera x by U(-30, 30).

    Reference matrices: flip ``diag(-1, 1, 1)``; rotation ``[[1, 0, 0], [0, c, -s],
    [0, s, c]]`` with the angle drawn uniformly in [-pi/6, pi/6].
    """
    t = RandomFlipRotate()
    assert (t.flip_prob, t.rot_range_deg, t.flip_axis, t.axis, t.frame) == \
        (0.5, (-30., 30.), 'x', 'x', 'camera')
    t = RandomFlipRotate(flip_prob=1., rot_range_deg=(20., 20.))
    c, s = np.cos(np.radians(20.)), np.sin(np.radians(20.))
    expected = np.array([[1, 0, 0], [0, c, -s], [0, s, c]]) @ np.diag([-1., 1., 1.])
    pts = np.array([[0.1, -0.2, 0.7], [-0.3, 0.05, 0.9]])
    out = t({'points': pts.copy(), 'aug_mat': np.eye(4)})
    np.testing.assert_allclose(out['aug_mat'][:3, :3], expected, atol=1e-12)
    np.testing.assert_allclose(out['aug_mat'][:3, 3], 0.)
    np.testing.assert_allclose(out['points'], pts @ expected.T, atol=1e-12)


def test_world_frame_flip_and_rotation_about_the_table_normal(look_at_fn):
    """frame='world': flip world x, rotate about world z (up), seen from the same camera."""
    cam2world = look_at_fn((0.4, -0.3, 0.5))
    rng = np.random.default_rng(0)
    p_world = rng.uniform(-0.1, 0.1, size=(30, 3)) + [0.05, 0.02, 0.05]
    p_cam = transform_points(np.linalg.inv(cam2world), p_world)
    t = RandomFlipRotate(flip_prob=1., rot_range_deg=(90., 90.), flip_axis='x', axis='z',
                         frame='world')
    out = t({'points': p_cam.copy(), 'aug_mat': np.eye(4), 'cam2world': cam2world})
    # by hand: flip (x, y, z) -> (-x, y, z), then +90 deg about z: (x, y) -> (-y, x)
    moved = np.stack([-p_world[:, 1], -p_world[:, 0], p_world[:, 2]], axis=1)
    np.testing.assert_allclose(transform_points(cam2world, out['points']), moved,
                               atol=1e-9)
    # heights above the table are kept; eq. 1 still recovers the original world points
    np.testing.assert_allclose(transform_points(cam2world, out['points'])[:, 2],
                               p_world[:, 2], atol=1e-9)
    np.testing.assert_allclose(view_points_world(out), p_world, atol=1e-9)
    assert np.linalg.det(out['aug_mat'][:3, :3]) == pytest.approx(-1.)
    with pytest.raises(KeyError, match='cam2world'):
        t({'points': p_cam.copy()})


def test_invariants_under_repeated_augmentation(look_at_fn):
    np.random.seed(1)
    rng = np.random.default_rng(1)
    p_cam = rng.uniform(-0.3, 0.3, size=(200, 3)) + [0, 0, 0.8]
    cam2world = look_at_fn((0.3, 0.2, 0.6))
    results = {'points': p_cam.astype(np.float32), 'aug_mat': np.eye(4),
               'cam2world': cam2world}
    world_before = view_points_world(results)
    t = RandomFlipRotate(flip_prob=0.5, rot_range_deg=(-30., 30.), axis='z')
    dets = set()
    for _ in range(12):
        results = t(results)
        A = results['aug_mat']
        # points == aug_mat @ p_cam
        np.testing.assert_allclose(results['points'], transform_points(A, p_cam), atol=2e-6)
        # orthogonal, det +-1, no translation; norms preserved
        np.testing.assert_allclose(A[:3, :3] @ A[:3, :3].T, np.eye(3), atol=1e-12)
        dets.add(round(float(np.linalg.det(A[:3, :3]))))
        np.testing.assert_allclose(A[:3, 3], 0.)
        np.testing.assert_allclose(np.linalg.norm(results['points'], axis=1),
                                   np.linalg.norm(p_cam, axis=1), rtol=1e-5)
        # world coordinates do not change
        np.testing.assert_allclose(view_points_world(results), world_before, atol=2e-6)
    assert dets == {-1, 1}


def test_rotation_about_z_keeps_depth():
    np.random.seed(2)
    pts = np.random.rand(50, 3).astype(np.float32)
    out = RandomFlipRotate(flip_prob=0.5, axis='z')({'points': pts.copy()})
    np.testing.assert_allclose(out['points'][:, 2], pts[:, 2])
    angle = np.degrees(np.arctan2(out['aug_mat'][1, 0], out['aug_mat'][0, 0]))
    assert -30. <= angle <= 30. or 150. <= abs(angle)  # a flip turns the x axis round


def test_apply_to_views_draws_independently():
    np.random.seed(3)
    pts = np.random.rand(20, 3).astype(np.float32)
    t = ApplyToViews(transforms=[dict(type='RandomFlipRotate')])
    out = t({'views': [{'points': pts.copy()}, {'points': pts.copy()}]})
    assert not np.allclose(out['views'][0]['aug_mat'], out['views'][1]['aug_mat'])
    assert 'RandomFlipRotate' in repr(t)


def test_bad_arguments():
    with pytest.raises(ValueError):
        RandomFlipRotate(flip_prob=1.5)
    with pytest.raises(ValueError):
        RandomFlipRotate(axis='w')
    with pytest.raises(ValueError, match='frame'):
        RandomFlipRotate(frame='table')
