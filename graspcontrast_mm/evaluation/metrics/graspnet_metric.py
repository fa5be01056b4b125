"""GraspNet-1Billion AP with graspnetAPI's protocol and numbers.

Protocol (graspnetAPI ``GraspNetEval.eval_scene``, reproduced per frame): the predicted
grasps of a frame (graspnetAPI 17-float rows in the camera frame of that frame, metres) are
dumped to ``dump_dir/scene_XXXX/{camera}/NNNN.npy``; widths are clipped to
``[0, max_width]``; ``eval_grasp`` applies grasp NMS (3 cm, 30 degrees), assigns every grasp
to the nearest object point, keeps the 10 best per object and the 50 best overall, rejects
grasps that collide with the scene (object models at their poses + a table) or hold
nothing, and scores the others with dexnet's force-closure test at the friction
coefficients ``mu`` = 1.2, 1.0, ..., 0.2 (the smallest ``mu`` at which the grasp is force
closure). With the kept grasps sorted by predicted score, the frame's accuracy is
``acc[k, f] = #{first k+1 grasps with 0 < mu <= mu_f} / (k + 1)`` for ``k < top_k`` and
``mu_f`` in 0.2, 0.4, ..., 1.2 (fewer than ``k + 1`` grasps: all of them, still divided by
``k + 1``).

Back-ends: ``'fast'`` (default) is this package's re-implementation
(:mod:`graspcontrast_mm.evaluation.graspnet_eval`), identical scores about 30-50x faster;
``'graspnetapi'`` calls ``graspnetAPI.utils.eval_utils.eval_grasp`` itself. Both read the
object files through the same loaders (dexnet pickles through a restricted unpickler).

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

from ..graspnet_eval import (BACKENDS, FRICTION_COEFS, GRASPNET_TEST_SPLITS, POSE_SOURCES,
                             EvalObject, dump_path, evaluate_frame, evaluate_frame_task,
                             evaluate_tasks, frame_accuracy, load_frame_objects,
                             save_grasps_atomic, summarize_frames)

__all__ = [
    'GraspNetMetric', 'FRICTION_COEFS', 'GRASPNET_TEST_SPLITS', 'evaluate_frame_grasps',
    'evaluate_dumped_frame', 'frame_accuracy', 'dump_path', 'save_grasps_atomic',
    'load_frame_objects'
]

_POSE_SOURCES = POSE_SOURCES
#: One dumped frame (the unit of work of the metric's process pool).
evaluate_dumped_frame = evaluate_frame_task


def evaluate_frame_grasps(grasps: np.ndarray,
                          models: Sequence[np.ndarray],
                          dexnet_models: Sequence[Any],
                          poses: Sequence[np.ndarray],
                          table: Optional[np.ndarray],
                          *,
                          top_k: int = 50,
                          max_width: float = 0.1,
                          backend: str = 'fast') -> Dict[str, Any]:
    """Score one frame's grasps (the body of ``eval_scene``'s frame loop).

    Args:
        grasps: (N, 17) graspnetAPI rows, camera frame (not modified).
        models: per object (M_i, 3) model points, object frame (8 mm voxel sample).
        dexnet_models: per object dexnet ``GraspableObject3D``.
        poses: per object (4, 4) ``T_cam_obj``.
        table: (T, 3) table points, camera frame (None: no table).
        top_k: ranks of the accuracy table (50).
        max_width: widths are clipped to ``[0, max_width]`` metres.
        backend: ``'fast'`` or ``'graspnetapi'``.

    Returns:
        dict: ``accuracy`` float64 (top_k, 6) (see :func:`frame_accuracy`), ``scores``
        (M,) evaluator scores of the kept grasps sorted by predicted score,
        ``num_grasps`` (N), ``num_evaluated`` (M).
    """
    objects = [EvalObject(m, d) for m, d in zip(models, dexnet_models)]
    out = evaluate_frame(grasps, objects, poses, table, top_k=top_k, max_width=max_width,
                         backend=backend)
    out.pop('grasps')
    return out


# ----------------------------------------------------------------------------- metric
@METRICS.register_module()
class GraspNetMetric(BaseMetric):
    """GraspNet AP / AP0.8 / AP0.4 per split, graspnetAPI's protocol and numbers.

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

    Cost: with the default ``backend='fast'`` tens of milliseconds per frame and core
    (graspnetAPI's own ``eval_grasp``, ``backend='graspnetapi'``: 1-6 s; identical
    numbers, see ``docs/evaluation.md``); frames are spread over ``nproc`` processes, each
    caching object models (dexnet pickles: 3-50 MB each).

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
        backend: ``'fast'`` (this package's evaluator) or ``'graspnetapi'``
            (graspnetAPI's ``eval_grasp``, for cross-checks).
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
                 backend: str = 'fast',
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
        if backend not in BACKENDS:
            raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
        if int(top_k) < 1 or int(nproc) < 1:
            raise ValueError(f'top_k and nproc must be >= 1, got {top_k}, {nproc}')
        self.data_root = osp.abspath(data_root)
        self.camera = camera
        self.dump_dir = None if dump_dir is None else osp.abspath(dump_dir)
        self.top_k = int(top_k)
        self.max_width = float(max_width)
        self.pose_source = pose_source
        self.backend = backend
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
        return evaluate_tasks(tasks, nproc=self.nproc, start_method=self.start_method,
                              progress=self.progress)

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
                          pose_source=self.pose_source, backend=self.backend)
                     for (s, c, f), r in sorted(frames.items())]
            evaluated = self._evaluate(tasks)
            self.frame_results = evaluated
        finally:
            if tmp_dir is not None:
                shutil.rmtree(tmp_dir, ignore_errors=True)
        return self._summarise(evaluated, logger)

    def _summarise(self, evaluated: List[Dict[str, Any]], logger) -> Dict[str, float]:
        scale = 100.0 if self.percent else 1.0
        empty = [e for e in evaluated if e['num_grasps'] == 0]
        if empty:
            logger.warning(f'GraspNetMetric: {len(empty)} of {len(evaluated)} frame(s) have '
                           'no predicted grasp (zero precision)')
        metrics: Dict[str, float] = summarize_frames(evaluated, self.splits, scale)
        metrics['num_frames'] = int(len(evaluated))
        metrics['num_empty_frames'] = int(len(empty))
        if self.dump_dir is not None:
            self._write_report(evaluated, metrics)
        return metrics

    def _write_report(self, evaluated: List[Dict[str, Any]], metrics: Dict[str, float]) -> None:
        scale = 100.0 if self.percent else 1.0
        report = dict(metrics=metrics, percent=self.percent, top_k=self.top_k,
                      friction_coefs=list(FRICTION_COEFS), pose_source=self.pose_source,
                      backend=self.backend,
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
