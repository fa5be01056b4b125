"""Many frames: process pool, progress bar, per-split summaries.

Frames are independent units of work (:func:`~.frame_eval.evaluate_frame_task`); every
result depends only on its frame, so the numbers are the same for any number of processes.
Tasks are handed out in order and in small contiguous chunks, so that a worker evaluates
neighbouring frames of one scene and reuses its cached object models.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .frame_eval import BACKENDS, FRICTION_COEFS, evaluate_frame_task
from .frames import POSE_SOURCES, dump_path, scene_frame_ids

__all__ = [
    'GRASPNET_TEST_SPLITS', 'evaluate_tasks', 'dump_tasks', 'evaluate_dump',
    'summarize_frames', 'split_of_scene'
]

#: Test splits by scene id range (inclusive), as graspnetAPI's eval_seen / similar / novel.
GRASPNET_TEST_SPLITS = {'seen': (100, 129), 'similar': (130, 159), 'novel': (160, 189)}


def _init_worker() -> None:
    # a worker forked from a training process must die on Pool.terminate()'s SIGTERM,
    # whatever handler the trainer installed (SignalCheckpointHook)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.environ['OMP_NUM_THREADS'] = '1'
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=1)
    except ImportError:  # pragma: no cover
        pass


def _preload() -> None:
    """Import the heavy readers once, before workers are forked (they inherit them)."""
    try:
        import grasp_nms  # noqa: F401
        import graspnetAPI.utils.eval_utils  # noqa: F401
        import open3d  # noqa: F401
    except ImportError:  # pragma: no cover - reported by the first task
        pass


def evaluate_tasks(tasks: Sequence[Mapping[str, Any]],
                   *,
                   nproc: int = 1,
                   start_method: Optional[str] = None,
                   progress: bool = True) -> List[Dict[str, Any]]:
    """Evaluate frame tasks, in this process (``nproc=1``) or in a pool.

    Args:
        tasks: :func:`~.frame_eval.evaluate_frame_task` inputs.
        nproc: processes (1: in this process).
        start_method: multiprocessing start method (None: the platform default).
        progress: show a progress bar (mmengine's) over frames.

    Returns:
        list: one result per task, in task order.
    """
    if int(nproc) < 1:
        raise ValueError(f'nproc must be >= 1, got {nproc}')
    tasks = list(tasks)
    bar = None
    if progress and tasks:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(len(tasks))
    out: List[Dict[str, Any]] = []
    if int(nproc) == 1 or len(tasks) <= 1:
        for task in tasks:
            out.append(evaluate_frame_task(task))
            if bar is not None:
                bar.update()
        return out
    _preload()
    workers = min(int(nproc), len(tasks))
    chunk = max(1, min(8, len(tasks) // (4 * workers)))
    ctx = multiprocessing.get_context(start_method)
    with ctx.Pool(workers, initializer=_init_worker) as pool:
        for res in pool.imap(evaluate_frame_task, tasks, chunksize=chunk):
            out.append(res)
            if bar is not None:
                bar.update()
    return out


def dump_tasks(root: str,
               dump_dir: str,
               camera: str,
               scene_ids: Sequence[int],
               frame_ids: Optional[Sequence[int]] = None,
               *,
               backend: str = 'fast',
               top_k: int = 50,
               max_width: float = 0.1,
               pose_source: str = 'annotations') -> List[Dict[str, Any]]:
    """Tasks for the dumps of some scenes (graspnetAPI layout), scene by scene.

    Args:
        root: dataset root.
        dump_dir: ``dump_dir/scene_XXXX/{camera}/NNNN.npy``.
        camera: ``'realsense'`` or ``'kinect'``.
        scene_ids: scenes to evaluate.
        frame_ids: frames of every scene (None: all frames of ``camera_poses.npy``, 256 in
            GraspNet-1Billion, as ``eval_scene``).
        backend, top_k, max_width, pose_source: see :func:`~.frame_eval.evaluate_frame`.

    Returns:
        list: tasks (dicts).

    Raises:
        ValueError: bad backend / pose source. FileNotFoundError: a dump is missing (all
            missing files are listed, up to 10).
    """
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
    if pose_source not in POSE_SOURCES:
        raise ValueError(f'pose_source must be one of {POSE_SOURCES}, got {pose_source!r}')
    tasks, missing = [], []
    for scene in scene_ids:
        frames = scene_frame_ids(root, scene, camera) if frame_ids is None else frame_ids
        for frame in frames:
            path = dump_path(dump_dir, scene, camera, frame)
            if not os.path.isfile(path):
                missing.append(path)
            tasks.append(dict(root=root, dump_path=path, scene_id=int(scene), camera=camera,
                              frame_id=int(frame), top_k=int(top_k),
                              max_width=float(max_width), pose_source=pose_source,
                              backend=backend))
    if missing:
        raise FileNotFoundError(f'{len(missing)} dump file(s) missing, e.g. '
                                + ', '.join(missing[:10]))
    return tasks


def evaluate_dump(root: str,
                  dump_dir: str,
                  camera: str,
                  scene_ids: Sequence[int],
                  frame_ids: Optional[Sequence[int]] = None,
                  *,
                  nproc: int = 1,
                  progress: bool = True,
                  start_method: Optional[str] = None,
                  **kwargs) -> List[Dict[str, Any]]:
    """Evaluate a dump folder: :func:`dump_tasks` + :func:`evaluate_tasks`."""
    tasks = dump_tasks(root, dump_dir, camera, scene_ids, frame_ids, **kwargs)
    return evaluate_tasks(tasks, nproc=nproc, start_method=start_method, progress=progress)


def split_of_scene(scene_id: int,
                   splits: Mapping[str, Tuple[int, int]] = GRASPNET_TEST_SPLITS
                   ) -> Optional[str]:
    """Name of the split whose scene range holds ``scene_id`` (None: none)."""
    for name, (lo, hi) in splits.items():
        if lo <= int(scene_id) <= hi:
            return name
    return None


def summarize_frames(frame_results: Sequence[Mapping[str, Any]],
                     splits: Mapping[str, Tuple[int, int]] = GRASPNET_TEST_SPLITS,
                     scale: float = 1.0) -> Dict[str, float]:
    """AP / AP0.8 / AP0.4 over all frames and per split (graspnetAPI's means).

    Args:
        frame_results: dicts with ``scene_id`` and ``accuracy`` (top_k, 6).
        splits: ``{name: (first_scene, last_scene)}``.
        scale: multiply APs by this (100 for percent).

    Returns:
        dict: ``AP``, ``AP0.8``, ``AP0.4`` and ``{split}/AP`` ... for splits with frames.
    """
    if not frame_results:
        return {}
    acc = np.stack([np.asarray(r['accuracy']) for r in frame_results])
    scenes = np.array([int(r['scene_id']) for r in frame_results])
    i08, i04 = FRICTION_COEFS.index(0.8), FRICTION_COEFS.index(0.4)

    def summary(mask: np.ndarray) -> Dict[str, float]:
        a = acc[mask]
        return {'AP': float(a.mean()) * scale, 'AP0.8': float(a[:, :, i08].mean()) * scale,
                'AP0.4': float(a[:, :, i04].mean()) * scale}

    metrics = summary(np.ones(len(acc), bool))
    for name, (lo, hi) in splits.items():
        mask = (scenes >= lo) & (scenes <= hi)
        if mask.any():
            metrics.update({f'{name}/{k}': v for k, v in summary(mask).items()})
    return metrics
