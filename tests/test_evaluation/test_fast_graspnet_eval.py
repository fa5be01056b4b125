"""The fast evaluator gives graspnetAPI's numbers exactly (generated scene, both cameras).

References are graspnetAPI's own code on the same files: ``GraspNetEval.eval_scene`` for
frame tables and per-grasp scores, ``get_grasp_score`` for single dexnet grasps,
``Sdf3D.__getitem__`` for SDF look-ups. Every comparison is exact (no tolerance).
"""
import builtins

import numpy as np
import pytest
from eval_scenes import (CAMERAS, SCENE, frame_objects, gt_grasps, perturbed_grasps,
                         random_grasps)

from graspcontrast_mm.evaluation.graspnet_eval import (
    FRICTION_COEFS, EvalObject, SdfGrid, close_fingers, dexnet_grasp_params, dump_path,
    eval_grasp, evaluate_frame, evaluate_frame_task, evaluate_tasks, force_closure_scores,
    get_objects, load_frame_objects, save_grasps_atomic, table_in_camera)

pytest.importorskip('graspnetAPI')
GT_FRAME, MIX_FRAME = 0, 1
FRAMES = (GT_FRAME, MIX_FRAME)
#: (camera, frame) pairs compared with graspnetAPI's eval_scene (its cost: seconds each)
COMPARED = (('realsense', GT_FRAME), ('kinect', MIX_FRAME))


def far_grasps(root, camera, frame, num=20, seed=3):
    """Grasps a metre away from every object (nothing between the fingers)."""
    g = random_grasps(root, camera, frame, num=num, seed=seed)
    g[:, 13:16] += np.array([1.0, -1.0, 1.0], np.float32)
    return g


def mix_grasps(root, camera, frame):
    """Perturbed ground truth (some wider than 0.1 m), random and far grasps."""
    return np.concatenate([perturbed_grasps(root, camera, frame, seed=1),
                           random_grasps(root, camera, frame, seed=1),
                           far_grasps(root, camera, frame)])


def frame_inputs(root, camera, frame):
    ids, poses = load_frame_objects(root, SCENE, camera, frame)
    return get_objects(root, ids), poses, table_in_camera(root, SCENE, camera, frame)


@pytest.fixture(scope='module')
def reference(eval_scene_root, tmp_path_factory):
    """Dumps of a ground-truth and a mixed frame per camera, and graspnetAPI's
    ``eval_scene`` on the :data:`COMPARED` ones (tables, sorted scores and grasps)."""
    import graspnetAPI.graspnet_eval as graspnet_eval
    from graspnetAPI import GraspNetEval
    root = eval_scene_root
    dump_dir = str(tmp_path_factory.mktemp('eval_dump'))
    out = dict(root=root, dump_dir=dump_dir)
    for camera in CAMERAS:
        save_grasps_atomic(dump_path(dump_dir, SCENE, camera, GT_FRAME),
                           gt_grasps(root, camera, GT_FRAME))
        save_grasps_atomic(dump_path(dump_dir, SCENE, camera, MIX_FRAME),
                           mix_grasps(root, camera, MIX_FRAME))
        frames = [f for c, f in COMPARED if c == camera]

        def frame_range(*args):  # eval_scene loops over range(256) frames
            return frames if args == (256, ) else builtins.range(*args)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(graspnet_eval, 'range', frame_range, raising=False)
            ge = GraspNetEval(root, camera, split='custom')
            acc, grasps, scores, _ = ge.eval_scene(SCENE, dump_dir, return_list=True)
        out[camera] = {f: dict(accuracy=a, grasps=g, scores=s)
                       for f, a, g, s in zip(frames, acc, grasps, scores)}
    return out


@pytest.mark.parametrize('camera,frame', COMPARED)
def test_frames_equal_eval_scene(reference, camera, frame):
    """Tables, per-grasp scores and kept grasps equal graspnetAPI's eval_scene."""
    ref = reference[camera][frame]
    task = dict(root=reference['root'], scene_id=SCENE, camera=camera, frame_id=frame,
                dump_path=dump_path(reference['dump_dir'], SCENE, camera, frame),
                keep_scores=True)
    ours = evaluate_frame_task(task)
    np.testing.assert_array_equal(ours['scores'], ref['scores'])
    np.testing.assert_array_equal(ours['accuracy'], ref['accuracy'])
    grasps = np.load(task['dump_path'])
    full = evaluate_frame(grasps, *frame_inputs(reference['root'], camera, frame))
    np.testing.assert_array_equal(full['grasps'], ref['grasps'])
    # the comparison is not trivial: scores of several kinds, more than 30 grasps kept
    assert len(ref['scores']) >= 30 and (ref['scores'] > 0).any()
    if frame == MIX_FRAME:
        assert (ref['scores'] == -1).any() and len(np.unique(ref['scores'])) >= 4


def test_every_friction_coefficient_reached(reference):
    """Across the compared frames the scores cover most of graspnetAPI's ladder."""
    seen = set()
    for camera, frame in COMPARED:
        seen |= set(reference[camera][frame]['scores'].tolist())
    assert -1.0 in seen and len(seen & set(FRICTION_COEFS)) >= 4, seen


def _dexnet_reference(grid_obj, configs):
    from graspnetAPI.utils.config import get_config
    from graspnetAPI.utils.dexnet.grasping.grasp import ParallelJawPtGrasp3D
    from graspnetAPI.utils.dexnet.grasping.grasp_quality_config import \
        GraspQualityConfigFactory
    from graspnetAPI.utils.eval_utils import get_grasp_score
    config, ladder, quality = get_config(), np.array([1.2, 1.0, 0.8, 0.6, 0.4, 0.2]), {}
    for value in ladder:
        value = round(value, 2)
        config['metrics']['force_closure']['friction_coef'] = value
        quality[value] = GraspQualityConfigFactory.create_config(
            config['metrics']['force_closure'])
    return np.array([get_grasp_score(ParallelJawPtGrasp3D(c.copy()), grid_obj.dexnet_model,
                                     ladder, quality) for c in configs])


@pytest.mark.parametrize('camera', CAMERAS)
def test_per_grasp_scores_equal_dexnet(eval_scene_root, camera):
    """Every grasp (collision-free or not) gets dexnet's get_grasp_score, object by
    object: perturbed ground truth and random grasps, float32 and float64 rows."""
    root = eval_scene_root
    ids, poses = frame_objects(root, camera, MIX_FRAME)
    ref_all, ours_all = [], []
    for k, (obj_id, pose) in enumerate(zip(ids, poses)):
        obj = get_objects(root, [obj_id])[0]
        g = perturbed_grasps(root, camera, MIX_FRAME, num=240, seed=10 + k)
        g = np.concatenate([g[g[:, 16] == obj_id][:3],
                            random_grasps(root, camera, MIX_FRAME, num=1, seed=k)])
        if k % 2:
            g = g.astype(np.float64)
        g[:, 1] = np.minimum(g[:, 1], 0.1)
        centers, axes, widths, configs = dexnet_grasp_params(
            g, pose.astype(np.float32), np.zeros(len(g), bool))
        ours_all.append(force_closure_scores(obj.grid, centers, axes, widths))
        ref_all.append(_dexnet_reference(obj, configs))
    ref, ours = np.concatenate(ref_all), np.concatenate(ours_all)
    np.testing.assert_array_equal(ours, ref)
    assert (ref == -1).any() and len(np.unique(ref[ref > 0])) >= 2, ref


def test_sdf_lookups_and_transforms_bitwise(eval_scene_root):
    root = eval_scene_root
    rng = np.random.default_rng(0)
    ids, _ = frame_objects(root, CAMERAS[0], 0)
    for obj_id in ids:
        obj = get_objects(root, [obj_id])[0]
        sdf, grid = obj.dexnet_model.sdf, obj.grid
        assert grid.exact
        dims = np.array(sdf.dims_)
        coords = np.concatenate([
            rng.uniform(0, dims, (150, 3)),                 # inside, interpolated
            np.floor(rng.uniform(0, dims, (20, 3))),        # on grid nodes
            dims - 1 + rng.uniform(0, 1, (20, 3)),          # last cell (corners past it)
            rng.uniform(-20, dims + 20, (60, 3))])          # mostly outside
        np.testing.assert_array_equal(grid.values(coords), [sdf[c] for c in coords])
        pts = rng.uniform(-0.1, 0.1, (40, 3))
        np.testing.assert_array_equal(grid.to_grid(pts), sdf.transform_pt_obj_to_grid(pts.T).T)
        np.testing.assert_array_equal(grid.to_obj(coords[:40]),
                                      sdf.transform_pt_grid_to_obj(coords[:40].T).T)


def test_contacts_are_on_the_object(eval_scene_root):
    """Sanity of the batched finger closing: a jaw closing across the cube from outside
    touches both faces with opposite normals (mu = 0.2 at the first try)."""
    root = eval_scene_root
    cube = get_objects(root, [0])[0]
    centers = np.zeros((3, 3))
    axes = np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])
    contacts = close_fingers(cube.grid, centers, axes, np.full(3, 0.09))
    assert contacts.found.all()
    for g in range(3):  # both jaws stop at the faces x / y / z = -+25 mm
        np.testing.assert_allclose(contacts.points[g, :, g], [-0.025, 0.025], atol=2e-3)
    np.testing.assert_allclose((contacts.normals[:, 0] * contacts.normals[:, 1]).sum(1), -1,
                               atol=0.02)
    np.testing.assert_array_equal(force_closure_scores(cube.grid, centers, axes,
                                                       np.full(3, 0.09)), 0.2)


def _gapi_eval(grasps, objects, poses, table):
    from graspnetAPI import GraspGroup
    from graspnetAPI.utils.config import get_config
    from graspnetAPI.utils.eval_utils import eval_grasp as gapi_eval_grasp
    return gapi_eval_grasp(GraspGroup(grasps.copy()), [o.points for o in objects],
                           [o.dexnet_model for o in objects], list(poses), get_config(),
                           table=table, voxel_size=0.008, TOP_K=50)


def _assert_same_lists(ours, ref):
    for a, b in zip(ours, ref):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_edge_cases(eval_scene_root):
    root, camera = eval_scene_root, CAMERAS[1]
    objects, poses, table = frame_inputs(root, camera, MIX_FRAME)
    mix = mix_grasps(root, camera, MIX_FRAME)
    # one grasp, and grasps far from every object: the same lists as graspnetAPI
    good = perturbed_grasps(root, camera, MIX_FRAME, num=40, seed=5)
    for grasps in (good[:1], far_grasps(root, camera, MIX_FRAME)):
        _assert_same_lists(eval_grasp(grasps, objects, poses, table),
                           _gapi_eval(grasps, objects, poses, table))
    far = evaluate_frame(far_grasps(root, camera, MIX_FRAME), objects, poses, table)
    assert far['num_evaluated'] > 0 and (far['scores'] == -1).all()
    # no grasps: zero table (graspnetAPI's eval_grasp cannot evaluate an empty dump)
    empty = evaluate_frame(np.zeros((0, 17), np.float32), objects, poses, table)
    np.testing.assert_array_equal(empty['accuracy'], np.zeros((50, 6)))
    with pytest.raises(IndexError):
        _gapi_eval(np.zeros((0, 17)), objects, poses, table)
    # NaN rows: a clear error naming the rows
    bad = mix.copy()
    bad[[3, 7], 5] = np.nan
    with pytest.raises(ValueError, match=r'2 grasp row\(s\).*\[3, 7\]'):
        evaluate_frame(bad, objects, poses, table)
    with pytest.raises(ValueError, match='17'):
        evaluate_frame(mix[:, :9], objects, poses, table)
    # widths above 0.1 m are clipped to 0.1 m (and below 0 to 0), as eval_scene does
    wide = mix.copy()
    assert (wide[:, 1] > 0.1).any()
    clipped = wide.copy()
    clipped[:, 1] = np.clip(clipped[:, 1], 0, 0.1)
    a = evaluate_frame(wide, objects, poses, table)
    b = evaluate_frame(clipped, objects, poses, table)
    np.testing.assert_array_equal(a['scores'], b['scores'])
    np.testing.assert_array_equal(a['grasps'], b['grasps'])
    # a rotation that is not orthonormal is refused, as graspnetAPI refuses it
    skew = good[:10].copy()
    skew[:, 4:13] *= 1.5
    with pytest.raises(ValueError, match='orthonormal'):
        eval_grasp(skew, objects, poses, None)
    with pytest.raises(ValueError, match='norm one'):
        _gapi_eval(skew, objects, poses, None)


def test_dexnet_fallback_gives_the_same_scores(eval_scene_root):
    """Objects whose SDF is not reproducible bit for bit are scored by dexnet itself."""
    root, camera = eval_scene_root, CAMERAS[0]
    objects, poses, table = frame_inputs(root, camera, MIX_FRAME)
    grasps = perturbed_grasps(root, camera, MIX_FRAME, num=12, seed=7)
    fast = eval_grasp(grasps, objects, poses, table)
    slow_objects = []
    for o in objects:
        s = EvalObject(o.points, o.dexnet_model, o.obj_id)
        s.grid.exact = False
        slow_objects.append(s)
    _assert_same_lists(eval_grasp(grasps, slow_objects, poses, table), fast)
    assert any((s > 0).any() for s in fast[1])


def test_non_identity_sdf_frame_is_not_exact(eval_scene_root):
    import copy

    from autolab_core import RigidTransform, SimilarityTransform
    obj = get_objects(eval_scene_root, [0])[0]
    sdf = copy.copy(obj.dexnet_model.sdf)
    assert SdfGrid(sdf).exact
    tf = sdf.T_grid_world_
    sdf.T_grid_world_ = SimilarityTransform(
        rotation=RigidTransform.x_axis_rotation(0.3), translation=tf.translation,
        scale=tf.scale, from_frame=tf.from_frame, to_frame=tf.to_frame)
    sdf.T_world_grid_ = sdf.T_grid_world_.inverse()
    assert not SdfGrid(sdf).exact


def test_results_do_not_depend_on_processes(reference):
    tasks = [dict(root=reference['root'], scene_id=SCENE, camera=c, frame_id=f,
                  dump_path=dump_path(reference['dump_dir'], SCENE, c, f), keep_scores=True)
             for c in CAMERAS for f in FRAMES]
    one = evaluate_tasks(tasks, nproc=1, progress=False)
    two = evaluate_tasks(tasks, nproc=2, progress=True)
    assert [(r['camera'], r['frame_id']) for r in two] == [(t['camera'], t['frame_id'])
                                                           for t in tasks]
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a['accuracy'], b['accuracy'])
        np.testing.assert_array_equal(a['scores'], b['scores'])


def test_top50_cut_with_ties_equals_graspnetapi(eval_scene_root):
    """Six objects (the scene's four and two shifted copies), 10 grasps kept per object
    and a cut at the 50th best score with ties: the same lists as graspnetAPI."""
    root, camera = eval_scene_root, CAMERAS[0]
    objects, poses, table = frame_inputs(root, camera, MIX_FRAME)
    # mostly random grasps (collisions: cheap for graspnetAPI) and a few good ones
    base = np.concatenate([random_grasps(root, camera, MIX_FRAME, num=200, seed=11),
                           perturbed_grasps(root, camera, MIX_FRAME, num=8, seed=11)])
    shift = np.array([0.0, 0.0, 0.4], np.float32)
    objects = objects + objects[:2]
    poses = list(poses) + [p.copy() for p in poses[:2]]
    for p in poses[-2:]:
        p[:3, 3] += shift
    near = np.linalg.norm(base[:, None, 13:16] - np.stack(poses[:2])[None, :, :3, 3], axis=2)
    copies = base[near.min(axis=1) < 0.06].copy()
    copies[:, 13:16] += shift
    grasps = np.concatenate([base, copies])
    grasps[:, 0] = np.round(grasps[:, 0] * 4) / 4     # few distinct scores: many ties
    ours = eval_grasp(grasps, objects, poses, table)
    _assert_same_lists(ours, _gapi_eval(grasps, objects, poses, table))
    kept = sum(len(g) for g in ours[0])
    assert kept > 50 and all(len(g) <= 10 for g in ours[0]), kept


def test_metric_backends_agree(eval_scene_root):
    """GraspNetMetric gives the same frame tables with either back-end."""
    from graspcontrast_mm.evaluation import GraspNetMetric
    root, camera = eval_scene_root, 'kinect'
    grasps = np.concatenate([perturbed_grasps(root, camera, MIX_FRAME, num=16, seed=21),
                             random_grasps(root, camera, MIX_FRAME, num=20, seed=21)])
    tables = {}
    for backend in ('fast', 'graspnetapi'):
        metric = GraspNetMetric(root, camera=camera, backend=backend, progress=False,
                                percent=False)
        metric.process({}, [dict(pred_grasps=grasps, scene_id=SCENE, frame_id=MIX_FRAME)])
        metrics = metric.evaluate(1)
        tables[backend] = (metric.frame_results[0]['accuracy'], metrics)
    np.testing.assert_array_equal(tables['fast'][0], tables['graspnetapi'][0])
    assert tables['fast'][1] == tables['graspnetapi'][1]
    assert tables['fast'][0].max() > 0
    with pytest.raises(ValueError, match='backend'):
        GraspNetMetric(root, backend='dexnet')


def _run_tool(argv, capsys):
    import importlib.util
    import os.path as osp
    path = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'eval_graspnet_dump.py')
    spec = importlib.util.spec_from_file_location('eval_graspnet_dump', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    code = tool.main(argv)
    return code, capsys.readouterr()


def test_dump_tool_prints_graspnetapi_result(reference, capsys, tmp_path):
    camera, frame = COMPARED[1]
    ref = reference[camera][frame]['accuracy']
    argv = ['--root', reference['root'], '--dump-dir', reference['dump_dir'], '--camera',
            camera, '--frames', str(frame), '--nproc', '1', '--no-progress', '--save-dir',
            str(tmp_path)]
    code, out = _run_tool(argv, capsys)
    assert code == 0, out.err
    # graspnetAPI's eval_seen line: the mean of the (scenes, frames, 50, 6) array
    assert '{}, AP Seen={}'.format(camera, np.mean(np.array([[ref]]))) in out.out
    assert 'seen' in out.out and 'AP0.8' in out.out
    np.testing.assert_array_equal(np.load(tmp_path / f'ap_{camera}.npy'), [[ref]])
    # a missing dump and a bad argument: one-line errors, exit 2
    code, out = _run_tool(argv[:-5] + ['--frames', '7', '--no-progress'], capsys)
    assert code == 2 and 'missing' in out.err
    with pytest.raises(SystemExit) as err:
        _run_tool(argv[:7] + ['--nproc', '0'], capsys)
    assert err.value.code == 2


def test_dump_tool_compares_backends(reference, capsys, monkeypatch):
    """--compare-backends: both back-ends on every frame, per-grasp scores compared."""
    camera, frame = COMPARED[1]
    argv = ['--root', reference['root'], '--dump-dir', reference['dump_dir'], '--camera',
            camera, '--frames', str(frame), '--nproc', '1', '--no-progress',
            '--compare-backends']
    code, out = _run_tool(argv, capsys)
    assert code == 0, out.out + out.err
    assert '0 per-grasp scores and 0 frames differ' in out.out
    assert 'CPU-seconds per frame: fast' in out.out
    # a back-end that disagrees on one grasp is reported and fails the run
    from graspcontrast_mm.evaluation import graspnet_eval
    real = graspnet_eval.evaluate_tasks

    def one_score_off(tasks, **kwargs):
        results = real(tasks, **kwargs)
        if tasks[0]['backend'] == 'graspnetapi':
            results[0]['scores'] = np.array(results[0]['scores'], dtype=float)
            results[0]['scores'][0] += 0.1
        return results

    monkeypatch.setattr(graspnet_eval, 'evaluate_tasks', one_score_off)
    code, out = _run_tool(argv, capsys)
    assert code == 1
    assert '1 per-grasp scores and 1 frames differ' in out.out


def test_test_py_backend_flags():
    """tools/test.py passes --graspnet-backend / --graspnet-nproc to GraspNetMetric."""
    import importlib.util
    import os.path as osp
    path = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'test.py')
    spec = importlib.util.spec_from_file_location('graspcontrast_test_tool', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    args = tool.parse_args(['cfg.py', 'ckpt.pth', '--graspnet-backend', 'graspnetapi',
                            '--graspnet-nproc', '3'])
    assert (args.graspnet_backend, args.graspnet_nproc) == ('graspnetapi', 3)
    assert tool.parse_args(['cfg.py', 'ckpt.pth']).graspnet_backend is None
    with pytest.raises(SystemExit):
        tool.parse_args(['cfg.py', 'ckpt.pth', '--graspnet-nproc', '0'])


@pytest.mark.parametrize('dtype', [np.float32, np.float64])
def test_collision_masks_and_dexnet_grasps_equal_graspnetapi(eval_scene_root, dtype):
    """Collision / empty masks and the dexnet grasp of every non-empty grasp (centre,
    axis, width in the object frame) equal graspnetAPI's collision_detection."""
    from graspnetAPI.utils.eval_utils import collision_detection

    from graspcontrast_mm.evaluation.graspnet_eval import collision_masks, transform_points
    root, camera = eval_scene_root, CAMERAS[0]
    objects, poses, table = frame_inputs(root, camera, MIX_FRAME)
    grasps = mix_grasps(root, camera, MIX_FRAME).astype(dtype)
    grasps[:, 1] = np.clip(grasps[:, 1], 0, 0.1)
    models = [transform_points(o.points, p) for o, p in zip(objects, poses)]
    scene = np.concatenate(models + [table])
    owner = np.argmin(np.linalg.norm(grasps[:, None, 13:16] - np.stack(
        [np.asarray(p)[:3, 3] for p in poses])[None], axis=2), axis=1)
    per_object = [grasps[owner == i][:25] for i in range(len(objects))]
    ref_coll, ref_empty, ref_dex = collision_detection(
        per_object, models, [o.dexnet_model for o in objects], poses, scene,
        outlier=0.05, return_dexgrasps=True)
    checked = 0
    for i, g in enumerate(per_object):
        if len(g) == 0:
            continue
        coll, empty = collision_masks(g, models[i], scene)
        np.testing.assert_array_equal(coll, ref_coll[i])
        np.testing.assert_array_equal(empty, ref_empty[i])
        centers, axes, widths, _ = dexnet_grasp_params(g, poses[i], empty)
        for k, dg in enumerate(ref_dex[i]):
            assert (dg is None) == bool(empty[k])
            if dg is not None:
                np.testing.assert_array_equal(centers[k], dg.center)
                np.testing.assert_array_equal(axes[k], dg.axis)
                assert widths[k] == dg.open_width
                checked += 1
    assert checked >= 20 and any((~c).any() for c in ref_coll if len(c))
