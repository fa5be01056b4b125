"""LoadGraspLabels / ObjectWorkspaceCrop / LoadPointSegmentation follow the GSNet reference
on a hand-computed 2 x 3 frame written in the GraspNet layout (temporary folder).

Frame (see tests/test_structures/test_workspace.py): K with x = (u - 1) z, y = (v - 0.5) z;
camera 1 m above the table looking down (world = (x, -y, 1 - z)); depth (mm)
``[[1000, 900, 0], [1000, 600, 950]]``; labels ``[[0, 1, 1], [0, 0, 2]]`` (the object
pixel (u=2, v=0) has no depth). Objects 0 (label 1) and 1 (label 2), both at the camera
origin (T_cam_obj = I), so grasp points are given in the camera frame:

- object 0: A = (0, -0.45, 0.9) at pixel (1, 0), graspness 0.6; B 1 mm from pixel (2, 1)
  (object 1's pixel), graspness 0.5;
- object 1: C 1 cm from pixel (2, 1), graspness 0.2; D 1 cm from the table pixel (1, 1),
  graspness 0.1.

GSNet workspace (margin 2 cm, the pixel without depth = camera centre): pixels (1, 0),
(1, 1), (2, 1). Nearest grasp point over all objects: 0.6, 0.1, 0.5; min-max: 1.0, 0.0,
0.8. The table pixel's label is 0 (graspness is only read on object points).
"""
import copy
import os

import cv2
import numpy as np
import pytest
import scipy.io

from graspcontrast_mm.datasets.transforms import (DepthToPoints, LoadDepthImage,
                                                  LoadGraspLabels, LoadPointSegmentation,
                                                  ObjectWorkspaceCrop)
from graspcontrast_mm.structures import reference_workspace_mask

K = np.array([[1., 0., 1.], [0., 1., 0.5], [0., 0., 1.]])
CAM2WORLD = np.array([[1., 0, 0, 0], [0, -1, 0, 0], [0, 0, -1, 1], [0, 0, 0, 1]])
DEPTH_MM = np.array([[1000, 900, 0], [1000, 600, 950]], np.uint16)
SEG = np.array([[0, 1, 1], [0, 0, 2]], np.uint8)
GRASP_POINTS = {0: (np.array([[0., -0.45, 0.9], [0.95, 0.475, 0.951]]), (0.6, 0.5)),
                1: (np.array([[0.95, 0.485, 0.95], [0., 0.3, 0.61]]), (0.2, 0.1))}
NUM_GRASPS = 300 * 12 * 4
# expected per-pixel graspness label (v, u) -> value
EXPECTED = {(0, 1): 1.0, (1, 2): 0.8, (1, 1): 0.0, (1, 0): 0.0, (0, 0): 0.0}


@pytest.fixture
def frame(tmp_path):
    root = tmp_path
    for sub in ('depth', 'label', 'meta'):
        os.makedirs(root / sub)
    cv2.imwrite(str(root / 'depth' / '0000.png'), DEPTH_MM)
    cv2.imwrite(str(root / 'label' / '0000.png'), SEG)
    poses = np.zeros((3, 4, 2))
    poses[:, :3, 0] = poses[:, :3, 1] = np.eye(3)
    scipy.io.savemat(str(root / 'meta' / '0000.mat'),
                     dict(poses=poses, cls_indexes=np.array([[1, 2]]),
                          intrinsic_matrix=K, factor_depth=np.array([[1000.]])))
    os.makedirs(root / 'grasp_label')
    collisions = []
    for obj_id, (pts, gs) in GRASP_POINTS.items():
        scores = -np.ones((len(pts), 300, 12, 4), np.float32)
        for i, g in enumerate(gs):  # graspness = fraction of grasps with 0 < mu <= 0.8
            scores[i].reshape(-1)[:int(round(g * NUM_GRASPS))] = 0.5
        np.savez(root / 'grasp_label' / f'{obj_id:03d}_labels.npz',
                 points=pts.astype(np.float32), scores=scores,
                 offsets=np.full(scores.shape + (3,), 0.02, np.float32))
        collisions.append(np.zeros(scores.shape, bool))
    os.makedirs(root / 'collision_label')
    coll = str(root / 'collision_label' / 'collision_labels.npz')
    np.savez(coll, *collisions)
    return dict(
        depth_path=str(root / 'depth' / '0000.png'),
        label_path=str(root / 'label' / '0000.png'),
        meta_path=str(root / 'meta' / '0000.mat'), grasp_label_dir=str(root / 'grasp_label'),
        collision_label_path=coll, scene_object_ids=[0, 1], cam_intrinsic=K,
        cam2world=CAM2WORLD, depth_scale=1000.0,
        graspness_path=str(root / 'graspness' / '0000.npy'))


def _points(info):
    return DepthToPoints(min_depth=0.1, max_depth=2.0, with_pixel_uv=True)(
        LoadDepthImage()(copy.deepcopy(info)))


def _by_pixel(results, key):
    return {(int(v), int(u)): float(x)
            for (u, v), x in zip(results['pixel_uv'], results[key])}


def test_computed_graspness_is_the_reference_rule(frame):
    out = LoadGraspLabels(graspness_source='compute')(_points(frame))
    assert out['graspness_source'] == 'compute'
    got = _by_pixel(out, 'graspness_label')
    assert got == pytest.approx(EXPECTED, abs=1e-6)
    np.testing.assert_array_equal(out['workspace_mask'],
                                  [[False, True, False], [False, True, True]])


def test_reference_layout_file_loads(frame):
    """An (N_masked, 1) float64 file, one value per workspace pixel in row-major order."""
    os.makedirs(os.path.dirname(frame['graspness_path']))
    # raw reference values of pixels (0, 1), (1, 1), (1, 2): 1.0, 0.0, 0.8
    np.save(frame['graspness_path'], np.array([[1.0], [0.0], [0.8]]))
    out = LoadGraspLabels()(_points(frame))  # 'auto'
    assert out['graspness_source'] == 'file'
    assert _by_pixel(out, 'graspness_label') == pytest.approx(EXPECTED, abs=1e-6)
    # a file written for another workspace is refused with both sizes
    np.save(frame['graspness_path'], np.zeros((4, 1)))
    with pytest.raises(ValueError, match='4 values.*3'):
        LoadGraspLabels()(_points(frame))
    # the package's (H, W) layout still loads
    np.save(frame['graspness_path'], np.array([[0, 1.0, 0.3], [0.2, 0.0, 0.8]], np.float16))
    out = LoadGraspLabels(graspness_source='file')(_points(frame))
    assert _by_pixel(out, 'graspness_label') == pytest.approx(EXPECTED, abs=1e-3)


def test_object_workspace_crop_reference_and_points_modes(frame):
    view = LoadPointSegmentation()(_points(frame))
    np.testing.assert_array_equal(view['pts_instance_mask'], [0, 1, 0, 0, 2])
    kept = ObjectWorkspaceCrop(mode='reference')(copy.deepcopy(view))
    assert sorted(map(tuple, kept['pixel_uv'].tolist())) == [(1, 0), (1, 1), (2, 1)]
    np.testing.assert_allclose(kept['workspace_bounds'],
                               [[-0.02, -0.495, 0.03], [0.97, 0.47, 1.02]])
    tight = ObjectWorkspaceCrop(mode='reference', object_pixels_without_depth='ignore')(
        copy.deepcopy(view))
    assert sorted(map(tuple, tight['pixel_uv'].tolist())) == [(1, 0), (2, 1)]
    # 'points': the box of the object points present (same as 'ignore' here)
    pts = ObjectWorkspaceCrop(mode='points')(copy.deepcopy(view))
    assert sorted(map(tuple, pts['pixel_uv'].tolist())) == [(1, 0), (2, 1)]
    # the same mask as the structures function on the full images
    mask = reference_workspace_mask(DEPTH_MM / 1000.0, SEG, K, CAM2WORLD)
    np.testing.assert_array_equal(kept['workspace_mask'], mask)


def test_crop_falls_back_to_the_table_box_without_segmentation(frame):
    info = dict(frame, label_path=frame['label_path'] + '.missing')
    view = LoadPointSegmentation(allow_missing=True)(_points(info))
    assert 'pts_instance_mask' not in view
    # table box: world z in [0, 0.5] keeps the points at depth 0.6 .. 1.0 (world z <= 0.4)
    crop = ObjectWorkspaceCrop(mode='reference',
                               fallback_world_bounds=((-2, -2, 0.0), (2, 2, 0.2)))
    out = crop(copy.deepcopy(view))
    # world z = 1 - depth: 0, 0.1, 0, 0.4, 0.05 -> kept: all but the 0.6 m pixel
    assert sorted(map(tuple, out['pixel_uv'].tolist())) == [(0, 0), (0, 1), (1, 0), (2, 1)]
    with pytest.raises(KeyError, match='LoadPointSegmentation'):
        ObjectWorkspaceCrop(mode='reference')(copy.deepcopy(view))
    with pytest.raises(FileNotFoundError, match='missing'):
        LoadPointSegmentation()(_points(info))


@pytest.fixture
def count_mask_computations(monkeypatch):
    """Counts the calls of reference_workspace_mask made by frame_workspace_mask, with an
    empty memo before and after the test."""
    from graspcontrast_mm.datasets.transforms import grasp_labels
    calls = []
    original = grasp_labels.reference_workspace_mask

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(grasp_labels, 'reference_workspace_mask', counting)
    grasp_labels.clear_workspace_mask_memo()
    yield calls
    grasp_labels.clear_workspace_mask_memo()


def test_workspace_mask_memo_reuses_a_frame_and_notices_changed_inputs(
        frame, count_mask_computations):
    from graspcontrast_mm.datasets.transforms import frame_workspace_mask
    calls = count_mask_computations
    view = LoadPointSegmentation()(_points(frame))
    crop = ObjectWorkspaceCrop(mode='reference')
    first = crop(copy.deepcopy(view))
    second = crop(copy.deepcopy(view))  # another sample of the same frame
    assert len(calls) == 1
    for out in (first, second):
        assert sorted(map(tuple, out['pixel_uv'].tolist())) == [(1, 0), (1, 1), (2, 1)]
        np.testing.assert_allclose(out['workspace_bounds'],
                                   [[-0.02, -0.495, 0.03], [0.97, 0.47, 1.02]])
    # the kept mask cannot be changed in place; the crop's box is the sample's own copy
    assert not second['workspace_mask'].flags.writeable
    second['workspace_bounds'][0, 0] = 5.0
    assert crop(copy.deepcopy(view))['workspace_bounds'][0, 0] == pytest.approx(-0.02)
    # other arguments, another camera pose: computed again
    ObjectWorkspaceCrop(mode='reference', margin=0.05)(copy.deepcopy(view))
    moved = copy.deepcopy(view)
    moved['cam2world'] = CAM2WORLD.copy()
    moved['cam2world'][2, 3] = 2.0
    crop(moved)
    assert len(calls) == 3
    # a depth array in the sample is identified by its bytes: a changed pixel is noticed
    with_depth = copy.deepcopy(view)
    with_depth['depth'] = DEPTH_MM / 1000.0
    frame_workspace_mask(copy.deepcopy(with_depth))
    frame_workspace_mask(copy.deepcopy(with_depth))
    assert len(calls) == 4
    changed = copy.deepcopy(with_depth)
    changed['depth'][1, 0] = 0.5
    frame_workspace_mask(changed)
    assert len(calls) == 5
    # a file read by the mask is identified by path, size, modification time and inode:
    # a rewritten label image is read again
    seg = SEG.copy()
    seg[1, 0] = 2
    cv2.imwrite(frame['label_path'], seg)
    stat = os.stat(frame['label_path'])
    os.utime(frame['label_path'], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10 ** 9))
    relabelled = crop(LoadPointSegmentation()(_points(frame)))
    assert len(calls) == 6
    np.testing.assert_array_equal(
        relabelled['workspace_mask'],
        reference_workspace_mask(DEPTH_MM / 1000.0, seg, K, CAM2WORLD))


def test_lru_cache_budgets(monkeypatch, frame, count_mask_computations):
    """The one LRU cache of the label transforms and the workspace memo: bounded by
    entries or by bytes, least recently used out first, too-large values not kept."""
    from graspcontrast_mm.datasets.transforms import grasp_labels
    memo = grasp_labels._LRUCache(None, max_bytes=250, nbytes=lambda a: a.nbytes)
    masks = [np.zeros((10, 10), bool) for _ in range(4)]  # 100 bytes each
    loads = []

    def load(i):
        return lambda: loads.append(i) or masks[i]

    for i in range(3):
        assert memo.get(i, load(i)) is masks[i]
    assert len(memo) == 2 and memo.nbytes == 200
    assert memo.get(1, load(1)) is masks[1] and loads == [0, 1, 2]  # kept: no load
    memo.get(3, load(3))  # 1 was used last, so 2 goes
    assert memo.get(2, load(2)) is masks[2] and loads == [0, 1, 2, 3, 2]
    big = np.zeros(300, bool)  # larger than the whole budget: returned, not kept
    assert memo.get(4, lambda: big) is big and 4 not in memo._data and memo.nbytes <= 250
    counted = grasp_labels._LRUCache(2)
    for i in range(3):
        counted.get(i, load(i))
    assert list(counted._data) == [1, 2]
    with pytest.raises(ValueError, match='nbytes'):
        grasp_labels._LRUCache(None, max_bytes=10)
    # copies and pickles (spawned data workers) work and get a lock of their own
    import pickle
    for clone in (copy.deepcopy(counted), pickle.loads(pickle.dumps(counted))):
        assert list(clone._data) == [1, 2] and clone._lock is not counted._lock
        assert clone.get(5, lambda: 'x') == 'x' and list(clone._data) == [2, 5]
    # the budget comes from the environment, in megabytes; 0 turns the memo off
    monkeypatch.setenv(grasp_labels.WORKSPACE_MASK_MEMO_ENV_VAR, '0.5')
    assert grasp_labels._memo_budget_from_env() == 2 ** 19
    for bad in ('lots', '-1', 'nan'):
        monkeypatch.setenv(grasp_labels.WORKSPACE_MASK_MEMO_ENV_VAR, bad)
        with pytest.raises(ValueError, match=grasp_labels.WORKSPACE_MASK_MEMO_ENV_VAR):
            grasp_labels._memo_budget_from_env()
    monkeypatch.setattr(grasp_labels, '_WORKSPACE_MASK_MEMO',
                        grasp_labels._LRUCache(None, max_bytes=0, nbytes=len))
    view = LoadPointSegmentation()(_points(frame))
    for _ in range(2):
        ObjectWorkspaceCrop(mode='reference')(copy.deepcopy(view))
    assert len(count_mask_computations) == 2


def test_cache_lock_is_free_in_a_forked_child():
    """A data worker forked while the parent holds a cache's lock can still use it."""
    import os
    from graspcontrast_mm.datasets.transforms import grasp_labels
    memo = grasp_labels._WORKSPACE_MASK_MEMO
    with memo._lock:
        pid = os.fork()
        if pid == 0:  # child: the lock must be free
            ok = memo._lock.acquire(timeout=5)
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
