"""GraspNet-1Billion AP with graspnetAPI's own per-frame evaluator.

Protocol (graspnetAPI ``GraspNetEval.eval_scene``, reproduced per frame): the predicted
grasps of a frame (graspnetAPI 17-float rows in the camera frame of that frame, metres) are
dumped to ``dump_dir/scene_XXXX/{camera}/NNNN.npy``; widths are clipped to
``[0, max_width]``; ``graspnetAPI.utils.eval_utils.eval_grasp`` applies grasp NMS (3 cm,
30 degrees), assigns every grasp to the nearest object point, keeps the 10 best per object
and the ``top_k`` (50) best overall, rejects grasps that collide with the scene (object
models at their poses + a table) or hold nothing, and scores the others with dexnet's
force-closure test at the friction coefficients ``mu`` = 1.2, 1.0, ..., 0.2 (the smallest
``mu`` at which the grasp is force closure). With the kept grasps sorted by predicted score,
the frame's accuracy is ``acc[k, f] = #{first k+1 grasps with 0 < mu <= mu_f} / (k + 1)``
for ``k < top_k`` and ``mu_f`` in 0.2, 0.4, ..., 1.2 (fewer than ``k + 1`` grasps: all of
them, still divided by ``k + 1``).

Reported: ``AP`` = mean of ``acc`` over frames, ``k`` and ``mu_f``; ``AP0.8`` / ``AP0.4`` =
the same at ``mu_f`` = 0.8 / 0.4; per split (``seen`` scenes 100-129, ``similar`` 130-159,
``novel`` 160-189 by default) and over all frames, like graspnetAPI's ``eval_seen`` /
``eval_similar`` / ``eval_novel`` / ``eval_all`` (which average the same arrays).

Object models and poses come from the dataset root as in graspnetAPI:
``models/XXX/nontextured.ply`` (voxelised at 8 mm), ``dex_models/XXX.pkl`` (else
``models/XXX/textured.obj`` + ``.sdf``), and the frame's object poses ``T_cam_obj`` from
``annotations/NNNN.xml`` (graspnetAPI's source, 4 decimals) or ``meta/NNNN.mat`` (exact);
the table is graspnetAPI's 1 m x 1 m x 5 cm point grid under the table top, mapped with
``cam0_wrt_table.npy`` and ``camera_poses.npy``.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import os.path as osp
import shutil
import tempfile
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from graspcontrast_mm.registry import METRICS

__all__ = [
    'GraspNetMetric', 'FRICTION_COEFS', 'GRASPNET_TEST_SPLITS', 'evaluate_frame_grasps',
    'evaluate_dumped_frame', 'frame_accuracy', 'dump_path', 'save_grasps_atomic',
    'load_frame_objects'
]

#: Friction coefficients of graspnetAPI's accuracy table (its columns, in this order).
FRICTION_COEFS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2)
#: Test splits by scene id range (inclusive), as graspnetAPI's eval_seen / similar / novel.
GRASPNET_TEST_SPLITS = {'seen': (100, 129), 'similar': (130, 159), 'novel': (160, 189)}
_POSE_SOURCES = ('annotations', 'meta')


def dump_path(dump_dir: str, scene_id: int, camera: str, frame_id: int) -> str:
    """graspnetAPI's dump layout: ``dump_dir/scene_XXXX/{camera}/NNNN.npy``."""
    return osp.join(dump_dir, f'scene_{int(scene_id):04d}', camera, f'{int(frame_id):04d}.npy')


def save_grasps_atomic(path: str, grasps: np.ndarray) -> None:
    """Write a (N, 17) grasp array with ``np.save`` through a temporary file + rename."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp-{os.getpid()}.npy'
    try:
        np.save(tmp, grasps)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def frame_accuracy(scores: np.ndarray, top_k: int = 50,
                   friction_coefs: Sequence[float] = FRICTION_COEFS) -> np.ndarray:
    """graspnetAPI's precision table of one frame.

    Args:
        scores: (M,) evaluator scores (minimum force-closure ``mu``; ``-1`` for collisions,
            empty or failed grasps) of the kept grasps, sorted by predicted score
            (descending).
        top_k: number of ranks ``k``.
        friction_coefs: thresholds ``mu_f``.

    Returns:
        np.ndarray: float64 (top_k, F): ``acc[k, f] = #{i <= min(k, M - 1) : 0 < s_i <=
        mu_f} / (k + 1)``; zeros when ``M = 0``.
    """
    scores = np.asarray(scores, np.float64).reshape(-1)
    acc = np.zeros((int(top_k), len(friction_coefs)), np.float64)
    if len(scores) == 0:
        return acc
    ranks = np.arange(int(top_k))
    last = np.minimum(ranks, len(scores) - 1)
    for f, mu in enumerate(friction_coefs):
        good = np.cumsum((scores <= mu) & (scores > 0))
        acc[:, f] = good[last] / (ranks + 1)
    return acc


# ----------------------------------------------------------------------------- models
_OBJECT_CACHE: 'OrderedDict[Tuple[str, int], Tuple[np.ndarray, Any]]' = OrderedDict()
_OBJECT_CACHE_SIZE = 32
_TABLE_POINTS: Optional[np.ndarray] = None


def _object_model(root: str, obj_id: int) -> Tuple[np.ndarray, Any]:
    """(8 mm voxel sample of ``nontextured.ply`` (object frame), dexnet model), cached."""
    key = (osp.abspath(root), int(obj_id))
    if key in _OBJECT_CACHE:
        _OBJECT_CACHE.move_to_end(key)
        return _OBJECT_CACHE[key]
    import pickle

    import open3d as o3d
    from graspnetAPI.utils.eval_utils import load_dexnet_model, voxel_sample_points
    ply = osp.join(root, 'models', f'{int(obj_id):03d}', 'nontextured.ply')
    if not osp.isfile(ply):
        raise FileNotFoundError(f'object model not found: {ply}')
    points = np.array(o3d.io.read_point_cloud(ply).points)
    if len(points) == 0:
        raise ValueError(f'object model {ply} has no vertices')
    pkl = osp.join(root, 'dex_models', f'{int(obj_id):03d}.pkl')
    if osp.isfile(pkl):
        with open(pkl, 'rb') as f:
            dexmodel = pickle.load(f)
    else:
        base = osp.join(root, 'models', f'{int(obj_id):03d}', 'textured')
        if not (osp.isfile(base + '.obj') and osp.isfile(base + '.sdf')):
            raise FileNotFoundError(f'no dexnet model for object {obj_id}: neither {pkl} '
                                    f'nor {base}.obj/.sdf exist')
        dexmodel = load_dexnet_model(base)
    value = (voxel_sample_points(points, 0.008), dexmodel)
    _OBJECT_CACHE[key] = value
    while len(_OBJECT_CACHE) > _OBJECT_CACHE_SIZE:
        _OBJECT_CACHE.popitem(last=False)
    return value


def load_frame_objects(root: str, scene_id: int, camera: str, frame_id: int,
                       pose_source: str = 'annotations') -> Tuple[List[int], List[np.ndarray]]:
    """Object ids and poses ``T_cam_obj`` of a frame, as graspnetAPI's evaluator reads them.

    Args:
        root: dataset root.
        scene_id, camera, frame_id: the frame.
        pose_source: ``'annotations'`` (``annotations/NNNN.xml``, graspnetAPI's
            ``get_model_poses``: float32, 4 decimals) or ``'meta'`` (``meta/NNNN.mat``,
            float64).

    Returns:
        tuple: object ids (list of int) and poses (list of (4, 4), camera frame, metres).

    Raises:
        FileNotFoundError: the pose file is missing.
    """
    cam_dir = osp.join(root, 'scenes', f'scene_{int(scene_id):04d}', camera)
    if pose_source == 'annotations':
        from graspnetAPI.utils.eval_utils import parse_posevector
        from graspnetAPI.utils.xmlhandler import xmlReader
        path = osp.join(cam_dir, 'annotations', f'{int(frame_id):04d}.xml')
        if not osp.isfile(path):
            raise FileNotFoundError(f'annotation file not found: {path}')
        ids, poses = [], []
        for vec in xmlReader(path).getposevectorlist():
            obj_id, mat = parse_posevector(vec)
            ids.append(int(obj_id))
            poses.append(mat)
        return ids, poses
    if pose_source == 'meta':
        from graspcontrast_mm.datasets.transforms.grasp_labels import read_meta_poses
        ids, poses = read_meta_poses(osp.join(cam_dir, 'meta', f'{int(frame_id):04d}.mat'))
        return [int(i) for i in ids], list(poses)
    raise ValueError(f'pose_source must be one of {_POSE_SOURCES}, got {pose_source!r}')


def _table_in_camera(root: str, scene_id: int, camera: str, frame_id: int) -> np.ndarray:
    global _TABLE_POINTS
    from graspnetAPI.utils.eval_utils import create_table_points, transform_points
    if _TABLE_POINTS is None:
        _TABLE_POINTS = create_table_points(1.0, 1.0, 0.05, dx=-0.5, dy=-0.5, dz=-0.05,
                                            grid_size=0.008)
    cam_dir = osp.join(root, 'scenes', f'scene_{int(scene_id):04d}', camera)
    paths = [osp.join(cam_dir, n) for n in ('camera_poses.npy', 'cam0_wrt_table.npy')]
    for p in paths:
        if not osp.isfile(p):
            raise FileNotFoundError(f'camera pose file not found: {p}')
    camera_pose = np.load(paths[0])[int(frame_id)]
    align_mat = np.load(paths[1])
    return transform_points(_TABLE_POINTS, np.linalg.inv(np.matmul(align_mat, camera_pose)))


# ----------------------------------------------------------------------------- evaluation
def evaluate_frame_grasps(grasps: np.ndarray,
                          models: Sequence[np.ndarray],
                          dexnet_models: Sequence[Any],
                          poses: Sequence[np.ndarray],
                          table: Optional[np.ndarray],
                          *,
                          top_k: int = 50,
                          max_width: float = 0.1) -> Dict[str, Any]:
    """Score one frame's grasps with graspnetAPI (the body of ``eval_scene``'s frame loop).

    Args:
        grasps: (N, 17) graspnetAPI rows, camera frame (not modified).
        models: per object (M_i, 3) model points, object frame (8 mm voxel sample).
        dexnet_models: per object dexnet ``GraspableObject3D``.
        poses: per object (4, 4) ``T_cam_obj``.
        table: (T, 3) table points, camera frame (None: no table).
        top_k: grasps evaluated per frame (50).
        max_width: widths are clipped to ``[0, max_width]`` metres.

    Returns:
        dict: ``accuracy`` float64 (top_k, 6) (see :func:`frame_accuracy`), ``scores``
        (M,) evaluator scores of the kept grasps sorted by predicted score,
        ``num_grasps`` (N), ``num_evaluated`` (M).
    """
    grasps = np.array(grasps, copy=True)
    if len(grasps) == 0 or len(models) == 0:
        return dict(accuracy=frame_accuracy([], top_k), scores=np.zeros(0),
                    num_grasps=int(len(grasps)), num_evaluated=0)
    from graspnetAPI import GraspGroup
    from graspnetAPI.utils.config import get_config
    from graspnetAPI.utils.eval_utils import eval_grasp
    grasps[grasps[:, 1] < 0, 1] = 0
    grasps[grasps[:, 1] > max_width, 1] = max_width
    grasp_list, score_list, _ = eval_grasp(GraspGroup(grasps), list(models),
                                           list(dexnet_models), list(poses), get_config(),
                                           table=table, voxel_size=0.008, TOP_K=top_k)
    grasp_list = [g for g in grasp_list if len(g) != 0]
    score_list = [s for s in score_list if len(s) != 0]
    if not grasp_list:
        return dict(accuracy=frame_accuracy([], top_k), scores=np.zeros(0),
                    num_grasps=int(len(grasps)), num_evaluated=0)
    grasp_arr, score_arr = np.concatenate(grasp_list), np.concatenate(score_list)
    order = np.argsort(-grasp_arr[:, 0])  # the same call as graspnetAPI (same tie order)
    score_arr = score_arr[order]
    return dict(accuracy=frame_accuracy(score_arr, top_k), scores=score_arr,
                num_grasps=int(len(grasps)), num_evaluated=int(len(score_arr)))


def evaluate_dumped_frame(task: Mapping[str, Any]) -> Dict[str, Any]:
    """Evaluate one dumped frame (the unit of work of :class:`GraspNetMetric`'s pool).

    Args:
        task: ``root``, ``dump_path``, ``scene_id``, ``camera``, ``frame_id``, ``top_k``,
            ``max_width``, ``pose_source``.

    Returns:
        dict: ``scene_id``, ``camera``, ``frame_id``, ``accuracy`` (top_k, 6),
        ``num_grasps``, ``num_evaluated``.
    """
    grasps = np.load(task['dump_path'])
    root, scene_id, camera, frame_id = (task['root'], int(task['scene_id']),
                                        task['camera'], int(task['frame_id']))
    if len(grasps):
        obj_ids, poses = load_frame_objects(root, scene_id, camera, frame_id,
                                            task['pose_source'])
        loaded = [_object_model(root, i) for i in obj_ids]
        out = evaluate_frame_grasps(grasps, [m for m, _ in loaded], [d for _, d in loaded],
                                    poses, _table_in_camera(root, scene_id, camera,
                                                            frame_id),
                                    top_k=task['top_k'], max_width=task['max_width'])
    else:
        out = evaluate_frame_grasps(grasps, [], [], [], None, top_k=task['top_k'])
    out.pop('scores')
    out.update(scene_id=scene_id, camera=camera, frame_id=frame_id)
    return out


def _init_worker() -> None:
    os.environ.setdefault('OMP_NUM_THREADS', '1')


# ----------------------------------------------------------------------------- metric
@METRICS.register_module()
class GraspNetMetric(BaseMetric):
    """GraspNet AP / AP0.8 / AP0.4 per split with graspnetAPI's evaluator.

    Input (``process``): per frame, the model's data sample (or the dict the evaluator makes
    of it) with ``pred_grasps`` (``pred_key``): a (N, 17) array / tensor / ``GraspGroup`` of
    graspnetAPI rows in the camera frame of the frame (metres), and metainfo ``scene_id``,
    ``frame_id`` (or ``ann_id``) and ``camera`` (default: the metric's ``camera``).
    Rows with non-finite values are dropped (counted); a frame without grasps scores zero
    precision at every rank and is counted in ``num_empty_frames``; a frame seen twice keeps
    its last predictions (warning).

    Output (``compute_metrics``; mmengine prefixes ``prefix/``): ``AP``, ``AP0.8``,
    ``AP0.4`` over all frames; ``{split}/AP``, ``{split}/AP0.8``, ``{split}/AP0.4`` for each
    split with frames; ``num_frames``, ``num_empty_frames``. APs are percentages (x 100)
    when ``percent`` (default; papers' convention), else fractions in [0, 1] (graspnetAPI's).
    With a ``dump_dir`` the per-frame results are also written to
    ``dump_dir/graspnet_results_{camera}.json``. After ``compute_metrics`` (on rank 0),
    :attr:`frame_results` holds one dict per frame: ``scene_id``, ``camera``, ``frame_id``,
    ``accuracy`` float64 (top_k, 6) (graspnetAPI's per-frame table, fractions),
    ``num_grasps`` (predicted), ``num_evaluated`` (kept by the evaluator).

    Cost: about 1-2 s per frame and core (5 objects, 50 grasps); frames are spread over
    ``nproc`` processes, each caching object models (dexnet pickles: 3-50 MB each).

    Args:
        data_root: dataset root (``scenes/``, ``models/``, ``dex_models/``).
        camera: default camera of the frames (``'realsense'`` / ``'kinect'``).
        dump_dir: where predictions are dumped in graspnetAPI's layout (kept; graspnetAPI's
            ``GraspNetEval`` can re-evaluate them). ``None``: predictions are kept in
            memory and dumped into a temporary folder that is removed after evaluation.
            With several ranks it must be a folder every rank and rank 0 can see.
        top_k: grasps evaluated per frame (graspnetAPI: 50).
        max_width: width clipping, metres (graspnetAPI: 0.1).
        pose_source: ``'annotations'`` (graspnetAPI's) or ``'meta'``.
        splits: ``{name: (first_scene, last_scene)}``; default :data:`GRASPNET_TEST_SPLITS`.
        nproc: evaluation processes (1: in this process).
        start_method: multiprocessing start method (None: the platform default).
        percent: report APs in percent.
        progress: show a progress bar over frames.
        pred_key: key of the predictions in a data sample.
        collect_device, prefix: see :class:`mmengine.evaluator.BaseMetric`.
    """

    default_prefix: Optional[str] = 'graspnet'

    def __init__(self,
                 data_root: str,
                 camera: str = 'realsense',
                 dump_dir: Optional[str] = None,
                 top_k: int = 50,
                 max_width: float = 0.1,
                 pose_source: str = 'annotations',
                 splits: Optional[Mapping[str, Sequence[int]]] = None,
                 nproc: int = 1,
                 start_method: Optional[str] = None,
                 percent: bool = True,
                 progress: bool = True,
                 pred_key: str = 'pred_grasps',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if pose_source not in _POSE_SOURCES:
            raise ValueError(f'pose_source must be one of {_POSE_SOURCES}, got '
                             f'{pose_source!r}')
        if int(top_k) < 1 or int(nproc) < 1:
            raise ValueError(f'top_k and nproc must be >= 1, got {top_k}, {nproc}')
        self.data_root = osp.abspath(data_root)
        self.camera = camera
        self.dump_dir = None if dump_dir is None else osp.abspath(dump_dir)
        self.top_k = int(top_k)
        self.max_width = float(max_width)
        self.pose_source = pose_source
        self.splits = {str(k): (int(v[0]), int(v[1]))
                       for k, v in (splits or GRASPNET_TEST_SPLITS).items()}
        self.nproc = int(nproc)
        self.start_method = start_method
        self.percent = bool(percent)
        self.progress = bool(progress)
        self.pred_key = pred_key
        self.frame_results: List[Dict[str, Any]] = []

    # ------------------------------------------------------------------ process
    def _frame_key(self, sample: Mapping) -> Tuple[int, str, int]:
        meta = sample.get('metainfo', sample)
        scene = meta.get('scene_id', sample.get('scene_id'))
        frame = meta.get('frame_id', meta.get('ann_id', sample.get('frame_id')))
        if scene is None or frame is None:
            raise KeyError('GraspNetMetric needs scene_id and frame_id (or ann_id) in the '
                           f'metainfo of every prediction; got keys {sorted(meta)}')
        camera = meta.get('camera', sample.get('camera')) or self.camera
        return int(scene), str(camera), int(frame)

    def _grasp_array(self, sample: Mapping, where: str) -> Tuple[np.ndarray, int]:
        pred = sample.get(self.pred_key)
        if pred is None and hasattr(sample, self.pred_key):
            pred = getattr(sample, self.pred_key)
        if pred is None:
            raise KeyError(f"{where}: no '{self.pred_key}' in the prediction")
        if hasattr(pred, 'grasp_group_array'):
            pred = pred.grasp_group_array
        if hasattr(pred, 'detach'):
            pred = pred.detach().cpu().numpy()
        arr = np.asarray(pred)
        if arr.size == 0:
            arr = arr.reshape(0, 17)
        if arr.ndim != 2 or arr.shape[1] != 17:
            raise ValueError(f'{where}: predictions must be (N, 17) graspnetAPI rows, got '
                             f'shape {arr.shape}')
        arr = arr.astype(np.float64 if arr.dtype == np.float64 else np.float32)
        finite = np.isfinite(arr).all(axis=1)
        return arr[finite], int(np.count_nonzero(~finite))

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Dump (or keep) every frame's predictions; evaluation runs in compute_metrics."""
        for sample in data_samples:
            if not isinstance(sample, Mapping):
                sample = sample.to_dict() if hasattr(sample, 'to_dict') else dict(sample)
            scene, camera, frame = self._frame_key(sample)
            where = f'scene {scene} {camera} frame {frame}'
            grasps, dropped = self._grasp_array(sample, where)
            result = dict(scene_id=scene, camera=camera, frame_id=frame,
                          num_dropped=dropped)
            if self.dump_dir is not None:
                path = dump_path(self.dump_dir, scene, camera, frame)
                save_grasps_atomic(path, grasps)
                result['dump_path'] = path
            else:
                result['grasps'] = grasps
            self.results.append(result)

    # ------------------------------------------------------------------ compute
    def _evaluate(self, tasks: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        bar = None
        if self.progress and tasks:
            from mmengine.utils import ProgressBar
            bar = ProgressBar(len(tasks))
        out = []
        if self.nproc == 1 or len(tasks) <= 1:
            for task in tasks:
                out.append(evaluate_dumped_frame(task))
                if bar is not None:
                    bar.update()
            return out
        ctx = multiprocessing.get_context(self.start_method)
        with ctx.Pool(min(self.nproc, len(tasks)), initializer=_init_worker) as pool:
            for res in pool.imap(evaluate_dumped_frame, tasks, chunksize=1):
                out.append(res)
                if bar is not None:
                    bar.update()
        return out

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Evaluate every frame and average (see the class docstring)."""
        logger = MMLogger.get_current_instance()
        frames: 'OrderedDict[Tuple[int, str, int], dict]' = OrderedDict()
        duplicates = 0
        for res in results:
            key = (res['scene_id'], res['camera'], res['frame_id'])
            duplicates += key in frames
            frames[key] = res
        if duplicates:
            logger.warning(f'GraspNetMetric: {duplicates} frame(s) predicted more than once; '
                           'the last predictions are evaluated')
        if not frames:
            logger.warning('GraspNetMetric: no predictions to evaluate')
            return dict(AP=0.0, num_frames=0, num_empty_frames=0)
        dropped = sum(r.get('num_dropped', 0) for r in frames.values())
        if dropped:
            logger.warning(f'GraspNetMetric: dropped {dropped} predicted grasps with '
                           'non-finite values')
        tmp_dir = None
        try:
            if any('dump_path' not in r for r in frames.values()):
                tmp_dir = tempfile.mkdtemp(prefix='graspnet_dump_')
                for (scene, camera, frame), r in frames.items():
                    if 'dump_path' not in r:
                        r['dump_path'] = dump_path(tmp_dir, scene, camera, frame)
                        save_grasps_atomic(r['dump_path'], r.pop('grasps'))
            # frames of a scene next to each other: each worker reuses its cached models
            tasks = [dict(root=self.data_root, dump_path=r['dump_path'], scene_id=s,
                          camera=c, frame_id=f, top_k=self.top_k, max_width=self.max_width,
                          pose_source=self.pose_source)
                     for (s, c, f), r in sorted(frames.items())]
            evaluated = self._evaluate(tasks)
            self.frame_results = evaluated
        finally:
            if tmp_dir is not None:
                shutil.rmtree(tmp_dir, ignore_errors=True)
        return self._summarise(evaluated, logger)

    def _summarise(self, evaluated: List[Dict[str, Any]], logger) -> Dict[str, float]:
        scale = 100.0 if self.percent else 1.0
        acc = np.stack([e['accuracy'] for e in evaluated])  # (F, top_k, 6)
        scenes = np.array([e['scene_id'] for e in evaluated])
        empty = [e for e in evaluated if e['num_grasps'] == 0]
        if empty:
            logger.warning(f'GraspNetMetric: {len(empty)} of {len(evaluated)} frame(s) have '
                           'no predicted grasp (zero precision)')
        i08, i04 = FRICTION_COEFS.index(0.8), FRICTION_COEFS.index(0.4)

        def summary(mask: np.ndarray) -> Dict[str, float]:
            a = acc[mask]
            return {'AP': float(a.mean()) * scale, 'AP0.8': float(a[:, :, i08].mean()) * scale,
                    'AP0.4': float(a[:, :, i04].mean()) * scale}

        metrics: Dict[str, float] = {}
        metrics.update(summary(np.ones(len(acc), bool)))
        for name, (lo, hi) in self.splits.items():
            mask = (scenes >= lo) & (scenes <= hi)
            if mask.any():
                metrics.update({f'{name}/{k}': v for k, v in summary(mask).items()})
        metrics['num_frames'] = int(len(acc))
        metrics['num_empty_frames'] = int(len(empty))
        if self.dump_dir is not None:
            self._write_report(evaluated, metrics)
        return metrics

    def _write_report(self, evaluated: List[Dict[str, Any]], metrics: Dict[str, float]) -> None:
        scale = 100.0 if self.percent else 1.0
        report = dict(metrics=metrics, percent=self.percent, top_k=self.top_k,
                      friction_coefs=list(FRICTION_COEFS), pose_source=self.pose_source,
                      frames=[dict(scene_id=e['scene_id'], camera=e['camera'],
                                   frame_id=e['frame_id'], num_grasps=e['num_grasps'],
                                   num_evaluated=e['num_evaluated'],
                                   AP=float(e['accuracy'].mean()) * scale)
                              for e in evaluated])
        path = osp.join(self.dump_dir, f'graspnet_results_{self.camera}.json')
        os.makedirs(self.dump_dir, exist_ok=True)
        tmp = f'{path}.tmp-{os.getpid()}'
        with open(tmp, 'w') as f:
            json.dump(report, f, indent=1)
        os.replace(tmp, path)
