"""Tests of SparsePairDataPreprocessor (batching of view pairs and single views)."""
import copy

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.structures import BaseDataElement

from graspcontrast_mm.models.data_preprocessors import SparsePairDataPreprocessor
from graspcontrast_mm.registry import MODELS


def _view(coords, point2voxel, channels=2, base=0.0):
    """A packed view: V voxels at ``coords``, N points mapped by ``point2voxel``."""
    coords = torch.tensor(coords, dtype=torch.int32)
    p2v = torch.tensor(point2voxel, dtype=torch.int64)
    num_vox = coords.shape[0]
    feats = base + torch.arange(num_vox * channels, dtype=torch.float32).reshape(
        num_vox, channels)
    points = torch.rand(p2v.shape[0], 3)
    return dict(points=points, coords=coords, feats=feats, point2voxel=p2v)


def _pair_samples():
    """Two samples; voxel counts: s0 (2, 3), s1 (1, 2)."""
    s0 = dict(
        views=[_view([[0, 0, 0], [1, 0, 0]], [0, 1, 1, 0], base=100.0),
               _view([[0, 0, 0], [0, 1, 0], [0, 0, 1]], [2, 0, 1], base=200.0)],
        matches=torch.tensor([[0, 0], [2, 1], [3, 2]]),
        key_points_world=torch.tensor([[0.0, 0, 0], [0.1, 0, 0], [0.2, 0, 0]]))
    s1 = dict(
        views=[_view([[5, 5, 5]], [0, 0], base=300.0),
               _view([[1, 1, 1], [2, 2, 2]], [1, 1, 0], base=400.0)],
        matches=torch.tensor([[1, 0], [0, 2]]),
        key_points_world=torch.tensor([[1.0, 0, 0], [2.0, 0, 0]]))
    return [s0, s1]


def _samples_meta(n):
    return [BaseDataElement(metainfo=dict(scene_id=i)) for i in range(n)]


def test_pair_batching_hand_values():
    pre = SparsePairDataPreprocessor()
    samples = _pair_samples()
    out = pre(dict(inputs=samples, data_samples=_samples_meta(2)))
    inp = out['inputs']
    # cloud order: s0v0 (2), s1v0 (1), s0v1 (3), s1v1 (2)
    assert inp['batch_size'] == 4 and inp['num_samples'] == 2
    assert inp['cloud_offsets'].tolist() == [0, 2, 3, 6, 8]
    assert inp['coords'].dtype == torch.int32
    assert inp['coords'].tolist() == [
        [0, 0, 0, 0], [0, 1, 0, 0],
        [1, 5, 5, 5],
        [2, 0, 0, 0], [2, 0, 1, 0], [2, 0, 0, 1],
        [3, 1, 1, 1], [3, 2, 2, 2]]
    assert inp['feats'].shape == (8, 2) and inp['feats'].dtype == torch.float32
    assert inp['feats'][:, 0].tolist() == [100, 102, 300, 200, 202, 204, 400, 402]
    # s0: view-0 points (0, 2, 3) -> voxels (0, 1, 0) -> rows (0, 1, 0);
    #     view-1 points (0, 1, 2) -> voxels (2, 0, 1) -> rows 3 + (2, 0, 1)
    assert inp['match_rows'][0].tolist() == [[0, 5], [1, 3], [0, 4]]
    # s1: view-0 points (1, 0) -> voxel 0 -> row 2;
    #     view-1 points (0, 2) -> voxels (1, 0) -> rows 6 + (1, 0)
    assert inp['match_rows'][1].tolist() == [[2, 7], [2, 6]]
    assert all(r.dtype == torch.int64 for r in inp['match_rows'])
    torch.testing.assert_close(inp['key_points_world'][1],
                               samples[1]['key_points_world'])
    # per-cloud points and global point2voxel
    assert len(inp['points']) == 4
    assert inp['point2voxel'][2].tolist() == [5, 3, 4]
    assert inp['point2voxel'][3].tolist() == [7, 7, 6]
    assert [d.scene_id for d in out['data_samples']] == [0, 1]


def test_match_rows_gather_the_right_voxels_random():
    rng = np.random.default_rng(0)
    samples = []
    for b in range(3):
        views = []
        for v in range(2):
            num_vox = int(rng.integers(5, 40))
            coords = rng.choice(1000, size=num_vox, replace=False)
            coords = np.stack(np.unravel_index(coords, (10, 10, 10)), 1)
            p2v = rng.integers(0, num_vox, size=int(rng.integers(num_vox, 80)))
            views.append(dict(points=rng.random((p2v.size, 3), np.float32),
                              coords=coords.astype(np.int32),
                              feats=rng.random((num_vox, 4), np.float32),
                              point2voxel=p2v))
        m = int(rng.integers(1, 10))
        matches = np.stack([rng.integers(0, views[v]['point2voxel'].size, m)
                            for v in range(2)], 1)
        samples.append(dict(views=views, matches=matches,
                            key_points_world=rng.random((m, 3), np.float32)))
    inp = SparsePairDataPreprocessor()(dict(inputs=samples))['inputs']
    for b, s in enumerate(samples):
        for v in range(2):
            view = s['views'][v]
            rows = inp['match_rows'][b][:, v]
            vox = view['point2voxel'][s['matches'][:, v]]
            np.testing.assert_array_equal(inp['feats'][rows].numpy(),
                                          view['feats'][vox])
            np.testing.assert_array_equal(inp['coords'][rows, 1:].numpy(),
                                          view['coords'][vox])
            assert (inp['coords'][rows, 0] == v * 3 + b).all()


def test_pseudo_collate_layout_is_accepted():
    samples = _pair_samples()
    metas = _samples_meta(2)
    batch = pseudo_collate([dict(inputs=s, data_samples=d)
                            for s, d in zip(copy.deepcopy(samples), metas)])
    assert isinstance(batch['inputs'], dict)  # transposed layout
    pre = MODELS.build(dict(type='SparsePairDataPreprocessor'))
    a = pre(batch)['inputs']
    b = pre(dict(inputs=samples, data_samples=metas))['inputs']
    assert torch.equal(a['coords'], b['coords'])
    assert torch.equal(a['feats'], b['feats'])
    for x, y in zip(a['match_rows'], b['match_rows']):
        assert torch.equal(x, y)


def test_with_pack_view_pair_inputs():
    formatting = pytest.importorskip(
        'graspcontrast_mm.datasets.transforms.formatting')
    rng = np.random.default_rng(1)
    views = []
    for _ in range(2):
        views.append(dict(points=rng.random((6, 3)).astype(np.float32),
                          coords=np.array([[0, 0, 0], [1, 2, 3]], np.int32),
                          feats=np.ones((2, 1), np.float32),
                          point2voxel=np.array([0, 1, 1, 0, 0, 1]),
                          frame_id=len(views)))
    results = dict(views=views, matches=np.array([[0, 1], [5, 4]]),
                   match_points_world=rng.random((2, 3)), scene_id=7,
                   sample_idx=3)
    packed = formatting.PackViewPairInputs().transform(results)
    batch = pseudo_collate([packed])
    out = SparsePairDataPreprocessor()(batch)
    assert out['inputs']['match_rows'][0].tolist() == [[0, 3], [1, 2]]
    assert out['data_samples'][0].metainfo['scene_id'] == 7


def test_single_view_batching():
    a = _view([[0, 0, 0], [3, 3, 3]], [1, 0, 1])
    b = _view([[1, 1, 1], [2, 2, 2], [4, 4, 4]], [2, 2])
    a['graspness'] = torch.tensor([0.1, 0.2, 0.3])
    b['graspness'] = torch.tensor([0.5, 0.6])
    inp = SparsePairDataPreprocessor()(dict(inputs=[a, b]))['inputs']
    assert inp['batch_size'] == 2 and inp['num_samples'] == 2
    assert inp['coords'][:, 0].tolist() == [0, 0, 1, 1, 1]
    assert inp['cloud_offsets'].tolist() == [0, 2, 5]
    assert inp['point2voxel'][0].tolist() == [1, 0, 1]
    assert inp['point2voxel'][1].tolist() == [4, 4]
    assert 'match_rows' not in inp
    assert inp['graspness'][1].tolist() == pytest.approx([0.5, 0.6])
    # pseudo-collated single views work too
    batch = pseudo_collate([dict(inputs=a), dict(inputs=b)])
    inp2 = SparsePairDataPreprocessor()(batch)['inputs']
    assert torch.equal(inp2['coords'], inp['coords'])


@pytest.mark.parametrize('mutate, error, match', [
    (lambda s: s[0].pop('matches'), KeyError, 'matches'),
    (lambda s: s[1]['views'][0].pop('point2voxel'), KeyError, 'point2voxel'),
    (lambda s: s[0]['views'].pop(), ValueError, '2 views'),
    (lambda s: s[0]['views'][1].update(
        points=torch.zeros(0, 3), point2voxel=torch.zeros(0, dtype=torch.long)),
     ValueError, 'empty cloud'),
    (lambda s: s[0]['views'][0].update(feats=torch.zeros(3, 2)), ValueError,
     'feats'),
    (lambda s: s[0]['views'][0].update(coords=torch.zeros(2, 4,
                                                          dtype=torch.int32)),
     ValueError, 'coords'),
    (lambda s: s[0]['views'][0]['coords'].__setitem__((0, 0), -1), ValueError,
     '>= 0'),
    (lambda s: s[0]['views'][0]['point2voxel'].__setitem__(0, 9), ValueError,
     'point2voxel'),
    (lambda s: s[0]['views'][0].update(point2voxel=torch.zeros(3,
                                                               dtype=torch.long)),
     ValueError, 'point2voxel'),
    (lambda s: s[0]['matches'].__setitem__((0, 1), 3), ValueError, 'out of range'),
    (lambda s: s[0].update(key_points_world=torch.zeros(2, 3)), ValueError,
     'key_points_world'),
    (lambda s: s[0].update(matches=torch.zeros(3, 3, dtype=torch.long)),
     ValueError, 'matches'),
    (lambda s: s[1]['views'][1].update(feats=torch.zeros(2, 5)), ValueError,
     'feature widths'),
    (lambda s: s[1].pop('views') and s[1].update(_view([[0, 0, 0]], [0])),
     ValueError, 'mixes'),
])
def test_malformed_input_raises(mutate, error, match):
    samples = _pair_samples()
    mutate(samples)
    with pytest.raises(error, match=match):
        SparsePairDataPreprocessor()(dict(inputs=samples))


def test_bad_containers_raise():
    pre = SparsePairDataPreprocessor()
    with pytest.raises(KeyError, match='inputs'):
        pre(dict(data_samples=[]))
    with pytest.raises(ValueError, match='empty batch'):
        pre(dict(inputs=[]))
    with pytest.raises(TypeError):
        pre(dict(inputs=[torch.zeros(3)]))
    with pytest.raises(ValueError, match='data_samples'):
        pre(dict(inputs=_pair_samples(), data_samples=_samples_meta(3)))
