"""One frame's accuracy table, by the fast evaluator or by graspnetAPI itself.

A frame goes through graspnetAPI's ``eval_scene`` loop body: widths clipped to
``[0, max_width]``, ``eval_grasp`` (fast: :func:`.eval_grasp.eval_grasp`; reference:
``graspnetAPI.utils.eval_utils.eval_grasp``), the kept grasps of all objects sorted by
predicted score (``np.argsort(-score)``, graspnetAPI's tie order), and
``acc[k, f] = #{first k+1 grasps with 0 < mu <= mu_f} / (k + 1)``.

Differences from graspnetAPI, all on inputs graspnetAPI cannot evaluate:

* a frame without grasps scores zero at every rank (graspnetAPI's ``eval_grasp`` raises
  an ``IndexError`` on an empty dump);
* rows with NaN or infinite values are refused with a ``ValueError`` naming the rows
  (graspnetAPI's results on them are undefined); ``GraspNetMetric`` drops such rows first
  and counts them.
"""
from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, Mapping, Optional, Sequence

import numpy as np

from .eval_grasp import EvalObject, eval_grasp
from .frames import get_objects, load_frame_objects, table_in_camera

__all__ = [
    'FRICTION_COEFS', 'BACKENDS', 'frame_accuracy', 'check_grasp_array', 'evaluate_frame',
    'evaluate_frame_task', 'single_thread_blas'
]

#: Friction coefficients of graspnetAPI's accuracy table (its columns, in this order).
FRICTION_COEFS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.2)
#: ``'fast'``: this package's evaluator; ``'graspnetapi'``: graspnetAPI's ``eval_grasp``.
BACKENDS = ('fast', 'graspnetapi')


_BLAS_CONTROLLER: Any = None


@contextlib.contextmanager
def single_thread_blas() -> Iterator[None]:
    """Run BLAS on one thread inside the block (threadpoolctl, when installed).

    Evaluation multiplies only small matrices; one thread is faster there and makes every
    product independent of the machine's thread settings. The libraries are inspected
    once per process.
    """
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController
            _BLAS_CONTROLLER = ThreadpoolController()
        except ImportError:  # pragma: no cover
            _BLAS_CONTROLLER = False
    if _BLAS_CONTROLLER is False:  # pragma: no cover
        yield
        return
    with _BLAS_CONTROLLER.limit(limits=1, user_api='blas'):
        yield


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


def check_grasp_array(grasps: Any, where: str = 'grasps') -> np.ndarray:
    """A (N, 17) float array of graspnetAPI rows, or a ``ValueError`` saying what is wrong
    (shape, non-finite rows)."""
    arr = np.asarray(grasps)
    if arr.size == 0:
        return np.zeros((0, 17), dtype=arr.dtype if arr.dtype.kind == 'f' else np.float64)
    if arr.ndim != 2 or arr.shape[1] != 17:
        raise ValueError(f'{where}: expected (N, 17) graspnetAPI grasp rows, got shape '
                         f'{arr.shape}')
    if arr.dtype.kind != 'f':
        arr = arr.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if len(bad):
        raise ValueError(f'{where}: {len(bad)} grasp row(s) contain NaN or infinite values '
                         f'(rows {bad[:10].tolist()}{" ..." if len(bad) > 10 else ""}); '
                         'drop them before evaluation')
    return arr


def evaluate_frame(grasps: np.ndarray,
                   objects: Sequence[EvalObject],
                   poses: Sequence[np.ndarray],
                   table: Optional[np.ndarray],
                   *,
                   top_k: int = 50,
                   max_width: float = 0.1,
                   backend: str = 'fast') -> Dict[str, Any]:
    """Score one frame's grasps (the body of graspnetAPI's ``eval_scene`` frame loop).

    Args:
        grasps: (N, 17) graspnetAPI rows, camera frame (not modified; finite).
        objects: the frame's objects (:class:`EvalObject`, same order as ``poses``).
        poses: per object (4, 4) ``T_cam_obj``.
        table: (T, 3) table points, camera frame (None: no table).
        top_k: ranks of the accuracy table (50).
        max_width: widths are clipped to ``[0, max_width]`` metres.
        backend: ``'fast'`` or ``'graspnetapi'``.

    Returns:
        dict: ``accuracy`` float64 (top_k, 6) (see :func:`frame_accuracy`), ``scores``
        (M,) evaluator scores of the kept grasps sorted by predicted score, ``grasps``
        (M, 17) those grasps, ``num_grasps`` (N), ``num_evaluated`` (M).

    Raises:
        ValueError: bad shape, non-finite rows, unknown backend, non-orthonormal rotations.
    """
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
    grasps = np.array(check_grasp_array(grasps), copy=True)
    empty = dict(accuracy=frame_accuracy([], top_k), scores=np.zeros(0),
                 grasps=np.zeros((0, 17)), num_grasps=int(len(grasps)), num_evaluated=0)
    if len(grasps) == 0 or len(objects) == 0:
        return empty
    grasps[grasps[:, 1] < 0, 1] = 0
    grasps[grasps[:, 1] > max_width, 1] = max_width
    with single_thread_blas():
        if backend == 'fast':
            grasp_list, score_list, _ = eval_grasp(grasps, objects, poses, table=table)
        else:
            from graspnetAPI import GraspGroup
            from graspnetAPI.utils.config import get_config
            from graspnetAPI.utils.eval_utils import eval_grasp as gapi_eval_grasp
            grasp_list, score_list, _ = gapi_eval_grasp(
                GraspGroup(grasps), [o.points for o in objects],
                [o.dexnet_model for o in objects], list(poses), get_config(), table=table,
                voxel_size=0.008, TOP_K=top_k)
    grasp_list = [g for g in grasp_list if len(g) != 0]
    score_list = [s for s in score_list if len(s) != 0]
    if not grasp_list:
        return empty
    grasp_arr, score_arr = np.concatenate(grasp_list), np.concatenate(score_list)
    order = np.argsort(-grasp_arr[:, 0])  # the same call as graspnetAPI (same tie order)
    grasp_arr, score_arr = grasp_arr[order], score_arr[order]
    return dict(accuracy=frame_accuracy(score_arr, top_k), scores=score_arr,
                grasps=grasp_arr, num_grasps=int(len(grasps)),
                num_evaluated=int(len(score_arr)))


def evaluate_frame_task(task: Mapping[str, Any]) -> Dict[str, Any]:
    """Evaluate one dumped (or in-memory) frame: the unit of work of the process pool.

    Args:
        task: ``root``, ``scene_id``, ``camera``, ``frame_id``, ``top_k``, ``max_width``,
            ``pose_source``, ``backend`` and either ``dump_path`` (a ``.npy`` of (N, 17)
            rows) or ``grasps``; optional ``keep_scores`` (default False).

    Returns:
        dict: ``scene_id``, ``camera``, ``frame_id``, ``accuracy`` (top_k, 6),
        ``num_grasps``, ``num_evaluated`` (and ``scores`` with ``keep_scores``).
    """
    root, scene_id, camera, frame_id = (task['root'], int(task['scene_id']),
                                        task['camera'], int(task['frame_id']))
    where = f'scene {scene_id} {camera} frame {frame_id}'
    if 'grasps' in task:
        grasps = task['grasps']
    else:
        path = task['dump_path']
        try:
            grasps = np.load(path)
        except FileNotFoundError:
            raise FileNotFoundError(f'{where}: dump file not found: {path}') from None
        where = path
    grasps = check_grasp_array(grasps, where)
    kwargs = dict(top_k=int(task.get('top_k', 50)), max_width=float(task.get('max_width', 0.1)),
                  backend=task.get('backend', 'fast'))
    if len(grasps):
        obj_ids, poses = load_frame_objects(root, scene_id, camera, frame_id,
                                            task.get('pose_source', 'annotations'))
        out = evaluate_frame(grasps, get_objects(root, obj_ids), poses,
                             table_in_camera(root, scene_id, camera, frame_id), **kwargs)
    else:
        out = evaluate_frame(grasps, [], [], None, **kwargs)
    out.pop('grasps')
    if not task.get('keep_scores', False):
        out.pop('scores')
    out.update(scene_id=scene_id, camera=camera, frame_id=frame_id)
    return out
