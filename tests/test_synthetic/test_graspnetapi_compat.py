"""graspnetAPI reads the generated labelled benchmark unchanged, and the labels agree with
the images on frames and units.

All tests share the session's labelled dataset ``clean_root`` (tiny preset, scenes 0 and
100, 6 noise-free views of 320x180; see ``conftest.py``). ``GraspNetEval.eval_scene`` reads
256 frames (7-17 min per scene on one core): here it runs on 2 frames by capping the
``range`` it iterates with; ``benchmarks/bench_label_generation.py --eval-scene`` runs the
full 256 frames.
"""
import builtins
import os

import cv2
import numpy as np
import pytest
import scipy.io

from graspcontrast_mm.structures.grasp import (GRASP_HEIGHT, GRIPPER_DEPTH_BASE,
                                               GRIPPER_FINGER_WIDTH, generate_views,
                                               view_angle_to_matrix)
from graspcontrast_mm.synthetic import GraspNetLayout, load_graspness_map, load_scene_info

pytest.importorskip('graspnetAPI')

CAMERA = 'realsense'
SCENES = (0, 100)
N_VIEWS = 8  # views per scene of clean_root (LABELLED_VIEWS, tests/conftest.py)
FRICTIONS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2)


@pytest.fixture(scope='module')
def api(clean_root):
    from graspnetAPI import GraspNet
    return GraspNet(clean_root, CAMERA, split='custom', sceneIds=list(SCENES))


def _cam_dir(root, scene_id):
    return os.path.join(GraspNetLayout(root).scene_dir(scene_id), CAMERA)


def _frame(root, scene_id, frame_id):
    """Depth (metres), label image, K and T_cam_obj (meta order) of a frame."""
    files = GraspNetLayout.camera_files(GraspNetLayout(root).scene_dir(scene_id), CAMERA,
                                        frame_id)
    depth = cv2.imread(files['depth'], cv2.IMREAD_UNCHANGED).astype(np.float64) / 1000.0
    label = cv2.imread(files['label'], cv2.IMREAD_UNCHANGED)
    meta = scipy.io.loadmat(files['meta'])
    poses = np.tile(np.eye(4), (meta['poses'].shape[2], 1, 1))
    poses[:, :3, :] = np.transpose(meta['poses'], (2, 0, 1))
    ids = meta['cls_indexes'].reshape(-1).astype(int) - 1
    return depth, label, meta['intrinsic_matrix'], poses, ids


def _load_grasp(api, scene_id, frame_id, thresh=0.4):
    return api.loadGrasp(scene_id, frame_id, format='6d', camera=CAMERA,
                         fric_coef_thresh=thresh)


def _frame_ap(rows, scores, top_k=50):
    """AP-like score of one frame, as ``GraspNetEval.eval_scene`` computes it."""
    s = scores[np.argsort(-rows[:, 0], kind='stable')]
    acc = np.zeros((top_k, len(FRICTIONS)))
    for j, mu in enumerate(FRICTIONS):
        good = np.cumsum((s > 0) & (s <= mu))
        for k in range(top_k):
            acc[k, j] = good[min(k, len(s) - 1)] / (k + 1)
    return float(acc.mean())


def _evaluate_frame(root, scene_id, frame_id, grasps):
    """graspnetAPI's per-frame evaluation path of ``eval_scene``."""
    from graspnetAPI.graspnet_eval import GraspNetEval
    from graspnetAPI.utils.config import get_config
    from graspnetAPI.utils.eval_utils import (create_table_points, eval_grasp,
                                              transform_points, voxel_sample_points)
    ev = GraspNetEval(root, CAMERA, split='custom')
    models, dexmodels, _ = ev.get_scene_models(scene_id, frame_id)
    models = [voxel_sample_points(m, 0.008) for m in models]
    _, poses, camera_pose, align_mat = ev.get_model_poses(scene_id, frame_id)
    table = create_table_points(1.0, 1.0, 0.05, dx=-0.5, dy=-0.5, dz=-0.05, grid_size=0.008)
    table = transform_points(table, np.linalg.inv(align_mat @ camera_pose))
    grasp_list, score_list, _ = eval_grasp(grasps, models, dexmodels, poses, get_config(),
                                           table=table, voxel_size=0.008, TOP_K=50)
    rows = np.concatenate([g for g in grasp_list if len(g)])
    scores = np.concatenate([s for s in score_list if len(s)])
    return rows, scores


def test_label_files_complete_and_typed(clean_root):
    layout = GraspNetLayout(clean_root)
    for scene_id in SCENES:
        info = load_scene_info(clean_root, scene_id)
        obj_ids = [int(x) for x in open(os.path.join(layout.scene_dir(scene_id),
                                                     'object_id_list.txt'))]
        assert obj_ids == info['obj_ids'] and info['with_labels']
        with np.load(layout.collision_label(scene_id)) as coll:
            assert sorted(coll.files) == sorted(f'arr_{i}' for i in range(len(obj_ids)))
            for i, obj_id in enumerate(obj_ids):
                with np.load(layout.grasp_label(obj_id)) as lab:
                    assert lab['points'].dtype == np.float32
                    n = lab['points'].shape[0]
                    assert 8 <= n <= 64  # tiny preset: coarse labels
                    assert lab['offsets'].shape == (n, 300, 12, 4, 3)
                    assert lab['scores'].shape == (n, 300, 12, 4)
                    assert lab['collision'].dtype == bool
                    c = coll[f'arr_{i}']
                    assert c.dtype == bool and c.shape == lab['scores'].shape
                    # the scene file includes self-collision (loadGrasp reads only it)
                    assert not np.any(lab['collision'] & ~c)
                assert os.path.getsize(layout.dex_model(obj_id)) > 0
                assert os.path.getsize(layout.model_ply(obj_id)) > 0
        for frame_id in range(N_VIEWS):
            g = load_graspness_map(os.path.join(clean_root, 'graspness',
                                                f'scene_{scene_id:04d}', CAMERA,
                                                f'{frame_id:04d}.npy'))
            assert g.dtype == np.float16 and g.shape == (180, 320)


def test_graspnet_loads_custom_scenes(api, clean_root):
    assert len(api) == 256 * len(SCENES)  # graspnetAPI lists 256 frame paths per scene
    expected = set()
    for scene_id in SCENES:
        expected |= set(load_scene_info(clean_root, scene_id)['obj_ids'])
    assert sorted(api.objIds) == sorted(expected)
    labels = api.loadGraspLabels(api.objIds)
    assert all(labels[i][0].shape[1] == 3 for i in api.objIds)
    colls = api.loadCollisionLabels(list(SCENES))
    assert len(colls['scene_0100']) == len(load_scene_info(clean_root, 100)['obj_ids'])


@pytest.mark.parametrize('scene_id', SCENES)
def test_load_grasp_returns_feasible_label_grasps(api, clean_root, scene_id):
    """``loadGrasp`` returns exactly the label grasps with 0 < mu <= thresh and no scene
    collision, with graspnetAPI's scores (1.1 - mu) and widths."""
    gg = _load_grasp(api, scene_id, 1)
    arr = gg.grasp_group_array
    assert len(gg) > 100
    info = load_scene_info(clean_root, scene_id)
    assert set(np.unique(gg.object_ids).astype(int)) <= set(info['obj_ids'])
    assert np.all((gg.scores >= 0.7 - 1e-6) & (gg.scores <= 1.1))
    assert np.all((gg.widths > 0) & (gg.widths <= 0.1 + 1e-6))
    np.testing.assert_allclose(gg.heights, 0.02)
    assert set(np.round(np.unique(gg.depths), 3)) <= {0.01, 0.02, 0.03, 0.04}
    layout = GraspNetLayout(clean_root)
    with np.load(layout.collision_label(scene_id)) as coll:
        for i, obj_id in enumerate(info['obj_ids']):
            with np.load(layout.grasp_label(obj_id)) as lab:
                s = lab['scores']
                n_expected = int(np.count_nonzero((s > 0) & (s <= 0.4) & ~coll[f'arr_{i}']))
            assert np.count_nonzero(arr[:, 16] == obj_id) == n_expected


@pytest.mark.parametrize('scene_id', SCENES)
def test_frame_label_grasps_equal_load_grasp(api, clean_root, scene_id):
    """The package's ground-truth grasps of a frame (evaluation.graspnet_eval) are
    graspnetAPI's ``loadGrasp`` rows, grasp for grasp."""
    from graspcontrast_mm.evaluation.graspnet_eval import load_frame_label_grasps
    ref = _load_grasp(api, scene_id, 2).grasp_group_array
    ours, poses = load_frame_label_grasps(clean_root, scene_id, CAMERA, 2,
                                          pose_source='annotations')
    assert ours.shape == ref.shape and len(poses) >= 1

    def canonical(rows):
        rows = np.asarray(rows, np.float64)
        return rows[np.lexsort(np.round(rows[:, ::-1], 4).T)]
    np.testing.assert_allclose(canonical(ours), canonical(ref), atol=1e-4)


def _visible_fraction(grasp_rows, depth, label, K, tol=0.004):
    """Fraction of grasp centres that lie on the depth surface of their own object."""
    t = grasp_rows[:, 13:16].astype(np.float64)
    obj = grasp_rows[:, 16].astype(int)
    uv = t @ K.T
    u = np.round(uv[:, 0] / uv[:, 2]).astype(int)
    v = np.round(uv[:, 1] / uv[:, 2]).astype(int)
    h, w = depth.shape
    inside = (t[:, 2] > 0) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    on_surface = np.zeros(len(t), bool)
    idx = np.nonzero(inside)[0]
    d = depth[v[idx], u[idx]]
    on_surface[idx] = (label[v[idx], u[idx]] == obj[idx] + 1) & (np.abs(t[idx, 2] - d) < tol)
    return on_surface.mean()


@pytest.mark.parametrize('scene_id', SCENES)
def test_load_grasp_is_in_the_camera_frame_of_the_frame(api, clean_root, scene_id):
    """Grasp centres (object surface points) returned for frame f lie on the surface seen
    in frame f's depth image; with another frame's camera they do not."""
    for frame_id in (0, 3):
        depth, label, K, _, _ = _frame(clean_root, scene_id, frame_id)
        rows = _load_grasp(api, scene_id, frame_id).grasp_group_array
        # about half of an object's surface faces the camera
        assert _visible_fraction(rows, depth, label, K) > 0.25
        other = 5 if frame_id == 0 else 0
        depth_o, label_o, _, _, _ = _frame(clean_root, scene_id, other)
        assert _visible_fraction(rows, depth_o, label_o, K) < 0.1


def _gripper_corners(R, t, width, depth):
    """Corners (K, 24, 3) of graspnetAPI's two fingers and palm (gripper frame boxes)."""
    fw, db, hh = GRIPPER_FINGER_WIDTH, GRIPPER_DEPTH_BASE, GRASP_HEIGHT / 2
    out = []
    for k in range(len(t)):
        w2 = width[k] / 2
        boxes = [((-db, depth[k]), (w2, w2 + fw)), ((-db, depth[k]), (-w2 - fw, -w2)),
                 ((-db - fw, -db), (-w2 - fw, w2 + fw))]
        pts = [(x, y, z) for (xs, ys) in boxes for x in xs for y in ys for z in (-hh, hh)]
        out.append(np.asarray(pts) @ R[k].T + t[k])
    return np.asarray(out)


def test_collision_labels_mark_grasps_through_the_table(clean_root):
    """Every label grasp whose gripper reaches 3 mm below the table top is a collision in
    the scene labels; grasps clear of the table above their object are not all marked."""
    layout = GraspNetLayout(clean_root)
    info = load_scene_info(clean_root, 0)
    rng = np.random.default_rng(0)
    views = generate_views(300)
    below_total = 0
    with np.load(layout.collision_label(0)) as coll:
        for i, obj_id in enumerate(info['obj_ids']):
            T = info['poses_world'][i]
            with np.load(layout.grasp_label(obj_id)) as lab:
                pts, off, own = lab['points'], lab['offsets'], lab['collision']
            c = coll[f'arr_{i}']
            idx = tuple(rng.integers(0, n, 4000) for n in c.shape)
            R = view_angle_to_matrix(views[idx[1]], off[idx][:, 0])
            corners = _gripper_corners(R, pts[idx[0]].astype(np.float64), off[idx][:, 2],
                                       off[idx][:, 1])
            z_min = (corners @ T[:3, :3].T + T[:3, 3])[..., 2].min(1)
            below = z_min < -0.003
            below_total += below.sum()
            assert np.all(c[idx][below]), (obj_id, np.count_nonzero(~c[idx][below]))
            # grasps from above, clear of the table and of the object itself
            clear = (z_min > 0.003) & ~own[idx]
            assert clear.sum() > 0 and not np.all(c[idx][clear])
    assert below_total > 100


def test_graspness_maps_follow_the_labels(clean_root):
    """Graspness follows the GSNet reference's rule: on GSNet's object workspace of the
    frame (objects' box in the table frame + 2 cm, background included) every pixel takes
    the feasible-grasp fraction of its nearest grasp point over all objects, min-max
    normalised over the workspace; 0 outside it and without depth."""
    from real_kinect_frame import reference_workspace_mask
    from scipy.spatial import cKDTree
    layout = GraspNetLayout(clean_root)
    for scene_id in SCENES:
        info = load_scene_info(clean_root, scene_id)
        cam_dir = os.path.join(layout.scene_dir(scene_id), CAMERA)
        cam2world = np.load(os.path.join(cam_dir, 'cam0_wrt_table.npy'))[None] @ \
            np.load(os.path.join(cam_dir, 'camera_poses.npy'))
        with np.load(layout.collision_label(scene_id)) as coll:
            raw = []
            for i, obj_id in enumerate(info['obj_ids']):
                with np.load(layout.grasp_label(obj_id)) as lab:
                    s = lab['scores']
                    good = (s > 0) & (s <= 0.8) & ~coll[f'arr_{i}']
                    raw.append((lab['points'].astype(np.float64),
                                good.reshape(len(s), -1).mean(1)))
        for frame_id in (0, 4):
            depth, label, K, poses, ids = _frame(clean_root, scene_id, frame_id)
            g = load_graspness_map(os.path.join(clean_root, 'graspness',
                                                f'scene_{scene_id:04d}', CAMERA,
                                                f'{frame_id:04d}.npy')).astype(np.float64)
            assert g.shape == depth.shape
            assert g.min() >= 0 and g.max() == pytest.approx(1.0)
            mask = reference_workspace_mask(np.rint(depth * 1000).astype(np.uint16), label,
                                            K, 1000.0, cam2world[frame_id])
            assert np.all(g[~mask] == 0) and np.all(g[depth == 0] == 0)
            assert mask[label > 0].mean() > 0.5 and (mask & (label == 0)).any()
            on_obj = (label > 0) & (depth > 0)
            assert g[on_obj].mean() > 0.1
            v, u = np.nonzero(mask)
            z = depth[v, u]
            p = np.stack([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z], 1)
            pts_cam = [raw[info['obj_ids'].index(o)][0] @ poses[j][:3, :3].T + poses[j][:3, 3]
                       for j, o in enumerate(ids)]
            vals = np.concatenate([raw[info['obj_ids'].index(o)][1] for o in ids])
            _, nn = cKDTree(np.vstack(pts_cam)).query(p)
            expected = np.zeros_like(depth)
            expected[v, u] = (vals[nn] - vals[nn].min()) / (vals[nn].max() - vals[nn].min())
            np.testing.assert_allclose(g, expected, atol=2e-3)


def test_evaluator_scores_ground_truth_high_and_random_grasps_low(api, clean_root):
    from graspnetAPI import GraspGroup
    from scipy.spatial.transform import Rotation
    scene_id, frame_id = 100, 2
    gg = _load_grasp(api, scene_id, frame_id)
    rows, scores = _evaluate_frame(clean_root, scene_id, frame_id, gg)
    assert len(scores) >= 10
    ap_gt = _frame_ap(rows, scores)
    assert ap_gt > 0.5, ap_gt
    assert np.mean(scores > 0) > 0.7

    rng = np.random.default_rng(0)
    rnd = gg.grasp_group_array[rng.choice(len(gg), 500)].copy()
    rnd[:, 0] = rng.uniform(0, 1, len(rnd))
    rnd[:, 1] = rng.uniform(0.02, 0.1, len(rnd))
    rnd[:, 4:13] = Rotation.random(len(rnd), random_state=0).as_matrix().reshape(-1, 9)
    rnd[:, 13:16] += rng.normal(0, 0.02, (len(rnd), 3))
    rows_r, scores_r = _evaluate_frame(clean_root, scene_id, frame_id, GraspGroup(rnd))
    assert _frame_ap(rows_r, scores_r) < 0.1


def test_eval_scene_on_ground_truth(api, clean_root, tmp_path, monkeypatch):
    """``GraspNetEval.eval_scene`` end to end on dumped ground-truth grasps (2 frames: the
    256 frames it hard-codes are capped)."""
    from graspnetAPI import graspnet_eval
    from graspnetAPI.graspnet_eval import GraspNetEval
    scene_id, num = 0, 2
    out = tmp_path / 'dump' / f'scene_{scene_id:04d}' / CAMERA
    out.mkdir(parents=True)
    for frame_id in range(num):
        _load_grasp(api, scene_id, frame_id).save_npy(str(out / f'{frame_id:04d}.npy'))
    monkeypatch.setattr(graspnet_eval, 'range',
                        lambda *a: builtins.range(*a) if a != (256, ) else builtins.range(num),
                        raising=False)
    acc = GraspNetEval(clean_root, CAMERA, split='custom').eval_scene(
        scene_id, str(tmp_path / 'dump'))
    acc = np.asarray(acc)
    assert acc.shape == (num, 50, 6)
    assert acc.mean() > 0.5, acc.mean()
