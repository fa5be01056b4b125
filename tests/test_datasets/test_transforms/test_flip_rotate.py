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
    out = RandomFlipRotate(flip_prob=0., rot_range_deg=(90., 90.))({'points': pts})
    np.testing.assert_allclose(out['points'], [[0., 0.1, 0.5]], atol=1e-7)
    out = RandomFlipRotate(flip_prob=0., rot_range_deg=(90., 90.), axis='x')(
        {'points': pts.copy()})
    np.testing.assert_allclose(out['points'], [[0.1, -0.5, 0.]], atol=1e-7)


def test_invariants_under_repeated_augmentation(look_at_fn):
    np.random.seed(1)
    rng = np.random.default_rng(1)
    p_cam = rng.uniform(-0.3, 0.3, size=(200, 3)) + [0, 0, 0.8]
    cam2world = look_at_fn((0.3, 0.2, 0.6))
    results = {'points': p_cam.astype(np.float32), 'aug_mat': np.eye(4),
               'cam2world': cam2world}
    world_before = view_points_world(results)
    t = RandomFlipRotate(flip_prob=0.5, rot_range_deg=(-30., 30.))
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
    out = RandomFlipRotate(flip_prob=0.5)({'points': pts.copy()})
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
