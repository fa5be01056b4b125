import numpy as np
import pytest

from graspcontrast_mm.datasets.transforms import (ApplyToViews, MatchViewPair,
                                                  SampleKeyPoints)
from graspcontrast_mm.datasets.transforms.view_pair import view_points_world
from graspcontrast_mm.registry import TRANSFORMS
from graspcontrast_mm.structures import flip_matrix, rotation_matrix, transform_points


def augmented_pair(grid_scene, two_poses, make_view_fn, perm_seed=0):
    """View 0 sees lattice points 0..399, view 1 sees 100..499 in a shuffled order."""
    rng = np.random.default_rng(perm_seed)
    order1 = 100 + rng.permutation(400)
    v0 = make_view_fn(grid_scene[:400], two_poses[0], 0)
    v1 = make_view_fn(grid_scene[order1], two_poses[1], 1)
    np.random.seed(perm_seed)
    aug = ApplyToViews([dict(type='RandomFlipRotate', flip_prob=0.5,
                             rot_range_deg=(-30, 30))])
    results = aug({'scene_id': 3, 'sample_idx': 0, 'views': [v0, v1]})
    # lattice point k of view 0 (k >= 100) is row where(order1 == k) of view 1
    truth = np.array([[k, int(np.nonzero(order1 == k)[0][0])] for k in range(100, 400)])
    return results, truth


@pytest.mark.parametrize('mutual', [True, False])
def test_recovers_true_correspondences(grid_scene, two_poses, make_view_fn, mutual):
    results, truth = augmented_pair(grid_scene, two_poses, make_view_fn)
    assert not np.allclose(results['views'][0]['aug_mat'], np.eye(4))
    out = MatchViewPair(match_radius=0.0075, min_matches=64, mutual=mutual)(results)
    np.testing.assert_array_equal(out['matches'], truth)
    assert out['matches'].dtype == np.int64
    assert out['match_points_world'].dtype == np.float32
    np.testing.assert_allclose(out['match_points_world'], grid_scene[100:400], atol=1e-5)
    assert np.all(out['match_distances'] < 1e-5)


def test_matching_needs_world_frame_not_camera_frame(grid_scene, two_poses, make_view_fn):
    v0 = make_view_fn(grid_scene[:400], two_poses[0], 0)
    v1 = make_view_fn(grid_scene[100:], two_poses[1], 1)
    truth = np.stack([np.arange(100, 400), np.arange(300)], 1)
    augs = [rotation_matrix('z', np.radians(25.)),
            rotation_matrix('z', np.radians(-20.)) @ flip_matrix('x')]
    for view, A in zip((v0, v1), augs):
        view['points'] = transform_points(A, view['points'])
        view['aug_mat'] = A
    out = MatchViewPair(min_matches=1)({'views': [dict(v0), dict(v1)]})
    np.testing.assert_array_equal(out['matches'], truth)
    for view in (v0, v1):  # forget the augmentation: eq. 1 no longer holds
        view['aug_mat'] = np.eye(4)
    out = MatchViewPair(min_matches=1)({'views': [v0, v1]})
    found = set() if out is None else set(map(tuple, out['matches'].tolist()))
    assert len(found & set(map(tuple, truth.tolist()))) < 0.1 * len(truth)


def test_no_overlap_returns_none(grid_scene, two_poses, make_view_fn):
    v0 = make_view_fn(grid_scene[:250], two_poses[0], 0)
    v1 = make_view_fn(grid_scene[250:], two_poses[1], 1)
    assert MatchViewPair(min_matches=1)({'views': [v0, v1]}) is None
    with pytest.raises(ValueError, match='two views'):
        MatchViewPair()({'views': [v0]})


def test_mutual_makes_matches_one_to_one(make_view_fn, two_poses):
    world0 = np.array([[0., 0., 0.05], [0.004, 0., 0.05], [0.1, 0.1, 0.05]])
    world1 = np.array([[0.003, 0., 0.05], [0.1, 0.1, 0.052]])
    v0 = make_view_fn(world0, two_poses[0], 0)
    v1 = make_view_fn(world1, two_poses[1], 1)
    out = MatchViewPair(min_matches=1, mutual=False)({'views': [dict(v0), dict(v1)]})
    np.testing.assert_array_equal(out['matches'], [[0, 0], [1, 0], [2, 1]])
    out = MatchViewPair(min_matches=1, mutual=True)({'views': [v0, v1]})
    np.testing.assert_array_equal(out['matches'], [[1, 0], [2, 1]])


def test_sample_key_points_fps(grid_scene, two_poses, make_view_fn):
    results, _ = augmented_pair(grid_scene, two_poses, make_view_fn)
    results = MatchViewPair()(results)
    out = SampleKeyPoints(num_key_points=50, method='fps')(results)
    m = out['matches']
    assert m.shape == (50, 2) and len(np.unique(m[:, 0])) == 50
    np.testing.assert_allclose(out['match_points_world'],
                               view_points_world(out['views'][0])[m[:, 0]], atol=1e-6)
    np.testing.assert_allclose(view_points_world(out['views'][1])[m[:, 1]],
                               out['match_points_world'], atol=1e-5)
    assert out['match_distances'].shape == (50,)


def test_sample_key_points_random_and_fewer(grid_scene, two_poses, make_view_fn):
    results, _ = augmented_pair(grid_scene, two_poses, make_view_fn)
    results = MatchViewPair()(results)
    np.random.seed(0)
    out = SampleKeyPoints(num_key_points=40, method='random')(dict(results))
    assert out['matches'].shape == (40, 2)
    out = SampleKeyPoints(num_key_points=4096)(dict(results))
    assert out['matches'].shape == (300, 2)
    with pytest.raises(ValueError, match='method'):
        SampleKeyPoints(method='grid')


def test_apply_to_views_drops_pair_when_a_view_fails():
    t = TRANSFORMS.build(dict(type='ApplyToViews', transforms=[
        dict(type='WorkspaceCrop', world_bounds=((-0.1, -0.1, -0.1), (0.1, 0.1, 0.1)))]))
    inside = {'points': np.zeros((3, 3), np.float32), 'cam2world': np.eye(4)}
    outside = {'points': np.ones((3, 3), np.float32), 'cam2world': np.eye(4)}
    assert t({'views': [dict(inside), dict(inside)]}) is not None
    assert t({'views': [dict(inside), outside]}) is None
