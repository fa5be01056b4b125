"""GraspNetMetric: graspnetAPI's AP on a labelled tiny dataset, checked against GraspNetEval."""
import builtins
import json
import os

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from graspcontrast_mm.evaluation import (FRICTION_COEFS, GraspNetMetric, dump_path,
                                         frame_accuracy)
from graspcontrast_mm.evaluation.graspnet_eval import (load_frame_label_grasps,
                                                       load_frame_objects)
from graspcontrast_mm.registry import METRICS
from graspcontrast_mm.structures.grasp import make_grasp_array

pytest.importorskip('graspnetAPI')
CAMERA = 'realsense'
GT_FRAMES = [(0, 0), (100, 3)]   # (scene, frame) predicted with ground-truth grasps
RANDOM_FRAME = (0, 5)            # random grasps around the objects
WIDE_FRAME = (0, 2)              # ground truth, every other width 0.14 m (clipped to 0.1)
EMPTY_FRAME = (100, 6)           # no prediction


def _frame_objects(root, scene, frame):
    ids, poses = load_frame_objects(root, scene, CAMERA, frame, pose_source='meta')
    return ids, np.asarray(poses, np.float64).reshape(-1, 4, 4)


def gt_grasps(root, scene, frame):
    """Ground-truth grasps of a frame (graspnetAPI loadGrasp's rule, mu <= 0.4)."""
    return load_frame_label_grasps(root, scene, CAMERA, frame)[0]


def random_grasps(root, scene, frame, num=300, seed=0):
    """Random grasps within 5 cm of the object centres, random orientation and scores."""
    rng = np.random.default_rng(seed)
    _, poses = _frame_objects(root, scene, frame)
    centres = poses[rng.integers(len(poses), size=num), :3, 3]
    return make_grasp_array(rng.uniform(0, 1, num), rng.uniform(0.01, 0.1, num),
                            rng.choice([0.01, 0.02, 0.03, 0.04], num),
                            Rotation.random(num, random_state=seed).as_matrix(),
                            centres + rng.uniform(-0.05, 0.05, (num, 3)))


def _sample(grasps, scene, frame):
    return dict(pred_grasps=grasps, scene_id=scene, frame_id=frame, camera=CAMERA)


@pytest.fixture(scope='module')
def evaluated(labelled_graspnet_root, tmp_path_factory):
    root = labelled_graspnet_root
    dump_dir = str(tmp_path_factory.mktemp('graspnet_dump'))
    metric = METRICS.build(dict(type='GraspNetMetric', data_root=root, dump_dir=dump_dir,
                                nproc=2, percent=False))
    samples = [_sample(gt_grasps(root, s, f), s, f) for s, f in GT_FRAMES]
    samples.append(_sample(random_grasps(root, *RANDOM_FRAME), *RANDOM_FRAME))
    wide = gt_grasps(root, *WIDE_FRAME)
    wide[::2, 1] = 0.14
    samples.append(_sample(wide, *WIDE_FRAME))
    samples.append(_sample(np.zeros((0, 17), np.float32), *EMPTY_FRAME))
    metric.process({}, samples[:2])
    metric.process({}, samples[2:])
    metrics = metric.evaluate(len(samples))
    frames = {(r['scene_id'], r['frame_id']): r for r in metric.frame_results}
    return dict(metric=metric, metrics=metrics, frames=frames, dump_dir=dump_dir,
                samples=samples)


def test_frame_accuracy_matches_graspnetapi_loop():
    rng = np.random.default_rng(0)
    for n in (0, 1, 7, 50, 80):
        scores = rng.choice([-1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2], size=n)
        acc = frame_accuracy(scores, 50)
        ref = np.zeros((50, 6))
        for fi, fric in enumerate(FRICTION_COEFS):  # graspnetAPI eval_scene's loop
            for k in range(50):
                s = scores if k + 1 > len(scores) else scores[:k + 1]
                ref[k, fi] = np.sum((s <= fric) & (s > 0)) / (k + 1)
        np.testing.assert_array_equal(acc, ref)


def test_ap_of_ground_truth_random_and_empty(evaluated):
    m, frames = evaluated['metrics'], evaluated['frames']
    assert m['graspnet/num_frames'] == 5 and m['graspnet/num_empty_frames'] == 1
    ap = {k: float(r['accuracy'].mean()) for k, r in frames.items()}
    for key in GT_FRAMES + [WIDE_FRAME]:
        assert ap[key] > 0.5, (key, ap)
    assert ap[RANDOM_FRAME] < 0.1, ap
    assert frames[EMPTY_FRAME]['num_grasps'] == 0
    np.testing.assert_array_equal(frames[EMPTY_FRAME]['accuracy'], np.zeros((50, 6)))
    # overall = mean over frames; seen = scene 100 only; no similar / novel frames
    assert m['graspnet/AP'] == pytest.approx(np.mean(list(ap.values())))
    acc = np.stack([r['accuracy'] for r in frames.values()])
    assert m['graspnet/AP0.8'] == pytest.approx(acc[:, :, 3].mean())
    assert m['graspnet/AP0.4'] == pytest.approx(acc[:, :, 1].mean())
    assert m['graspnet/seen/AP'] == pytest.approx(
        np.mean([ap[(100, 3)], ap[EMPTY_FRAME]]))
    assert not any('similar' in k or 'novel' in k for k in m)
    assert all(np.isfinite(v) for v in m.values())


def test_dumps_in_graspnetapi_layout(evaluated):
    d = evaluated['dump_dir']
    for sample in evaluated['samples']:
        path = os.path.join(d, f"scene_{sample['scene_id']:04d}", CAMERA,
                            f"{sample['frame_id']:04d}.npy")
        assert path == dump_path(d, sample['scene_id'], CAMERA, sample['frame_id'])
        np.testing.assert_array_equal(np.load(path), sample['pred_grasps'])
    assert not [f for _, _, fs in os.walk(d) for f in fs if '.tmp' in f]
    with open(os.path.join(d, f'graspnet_results_{CAMERA}.json')) as f:
        report = json.load(f)
    assert len(report['frames']) == 5 and report['metrics']['num_frames'] == 5


def test_equals_graspnetapi_eval_scene(evaluated, labelled_graspnet_root, monkeypatch):
    """graspnetAPI's own GraspNetEval.eval_scene on the same dumps gives the same tables."""
    import graspnetAPI.graspnet_eval as graspnet_eval
    from graspnetAPI import GraspNetEval
    # scene 0: ground truth, too wide, random (eval_scene cannot read empty dumps)
    frames = [GT_FRAMES[0][1], WIDE_FRAME[1], RANDOM_FRAME[1]]

    def frame_range(*args):  # eval_scene loops over range(256) frames
        return frames if args == (256, ) else builtins.range(*args)

    monkeypatch.setattr(graspnet_eval, 'range', frame_range, raising=False)
    ge = GraspNetEval(labelled_graspnet_root, CAMERA, split='custom')
    reference = ge.eval_scene(0, evaluated['dump_dir'])
    for frame, ref in zip(frames, reference):
        np.testing.assert_array_equal(evaluated['frames'][(0, frame)]['accuracy'], ref)


def test_in_memory_predictions_and_bad_input(evaluated, labelled_graspnet_root):
    metric = GraspNetMetric(labelled_graspnet_root, nproc=1, progress=False)
    grasps = random_grasps(labelled_graspnet_root, *RANDOM_FRAME)
    with_nan = np.concatenate([grasps, np.full((3, 17), np.nan, np.float32)])
    metric.process({}, [_sample(with_nan, *RANDOM_FRAME),
                        dict(pred_grasps=np.zeros((0, 17)),
                             metainfo=dict(scene_id=EMPTY_FRAME[0], ann_id=EMPTY_FRAME[1]))])
    assert metric.results[0]['num_dropped'] == 3
    m = metric.evaluate(2)
    frames = {(r['scene_id'], r['frame_id']): r for r in metric.frame_results}
    # same numbers in-process as in the pool; percent by default
    np.testing.assert_array_equal(frames[RANDOM_FRAME]['accuracy'],
                                  evaluated['frames'][RANDOM_FRAME]['accuracy'])
    assert m['graspnet/AP'] == pytest.approx(
        100 * np.mean(frames[RANDOM_FRAME]['accuracy']) / 2)
    assert m['graspnet/num_empty_frames'] == 1
    with pytest.raises(ValueError, match='17'):
        metric.process({}, [_sample(np.zeros((4, 9)), 0, 0)])
    with pytest.raises(KeyError, match='frame_id'):
        metric.process({}, [dict(pred_grasps=grasps, scene_id=0)])
    with pytest.raises(ValueError, match='pose_source'):
        GraspNetMetric(labelled_graspnet_root, pose_source='xml')
