"""Records of a grasp detection: the ``.npy`` rows, the JSON summary and a text table."""
import json
import os
import os.path as osp
import tempfile
from typing import Any, Callable, Mapping, Optional

import numpy as np

from graspcontrast_mm.structures.grasp import GRASP_ARRAY_LEN

__all__ = ['save_grasps_npy', 'write_json', 'grasp_summary', 'format_grasps']

#: Counts of the data sample's metainfo copied to the summary.
SUMMARY_COUNTS = ('num_scene_points', 'num_sampled_points', 'num_voxels', 'num_grasps_model',
                  'num_grasps_nms', 'num_collisions', 'num_graspable',
                  'num_below_support_plane', 'support_plane', 'collision_filter', 'top_k',
                  'score_thr')


def _atomic_write(path: str, write: Callable, suffix: str, mode: str) -> str:
    """Write through a temporary file in the same folder and an atomic rename."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp_', suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    return path


def save_grasps_npy(path: str, grasps: np.ndarray) -> str:
    """Save (K, 17) grasp rows as ``.npy`` atomically (``GraspGroup(path)`` reloads it)."""
    rows = np.asarray(grasps).reshape(-1, GRASP_ARRAY_LEN)
    return _atomic_write(path, lambda f: np.save(f, rows), '.npy', 'wb')


def write_json(path: str, data: Mapping) -> str:
    """Write ``data`` as indented JSON atomically."""
    return _atomic_write(path, lambda f: json.dump(data, f, indent=2), '.json', 'w')


def grasp_summary(meta: Mapping[str, Any], grasps: np.ndarray, files: dict, *,
                  checkpoint: Optional[str] = None,
                  preprocessing: Optional[dict] = None) -> dict:
    """JSON-ready summary of one input's grasps.

    Args:
        meta: the data sample's metainfo (``input_desc``, ``input_name``, counts,
            ``timings``).
        grasps: (K, 17) final rows, sorted by score.
        files: written files (kind -> path).
        checkpoint: the weights' path.
        preprocessing: description of the preprocessing.

    Returns:
        dict: ``input``, ``name``, ``frame``, ``units``, ``num_grasps``, ``top_scores`` (10),
        ``top_grasps`` (5: score, width, depth, translation, approach), the counts of
        :data:`SUMMARY_COUNTS`, ``timings_s``, ``preprocessing``, ``checkpoint``, ``files``.
    """
    top = np.asarray(grasps).reshape(-1, GRASP_ARRAY_LEN)[:10]
    return dict(
        input=meta.get('input_desc', {}), name=meta['input_name'], frame='camera',
        units='metres', num_grasps=int(len(grasps)),
        top_scores=[round(float(s), 6) for s in top[:, 0]],
        top_grasps=[dict(score=float(g[0]), width=float(g[1]), depth=float(g[3]),
                         translation=[float(v) for v in g[13:16]],
                         approach=[float(g[4]), float(g[7]), float(g[10])])
                    for g in top[:5]],
        **{k: meta.get(k) for k in SUMMARY_COUNTS},
        timings_s={k: round(float(v), 6) for k, v in meta.get('timings', {}).items()},
        preprocessing=preprocessing, checkpoint=checkpoint, files=files)


def format_grasps(grasps: np.ndarray, title: str = '', max_rows: int = 10) -> str:
    """A text table of the best grasps (score, width, depth, translation, approach)."""
    grasps = np.asarray(grasps).reshape(-1, GRASP_ARRAY_LEN)
    lines = [title] if title else []
    lines.append(f"{'#':>3} {'score':>7} {'width':>6} {'depth':>6} "
                 f"{'x':>7} {'y':>7} {'z':>7}   approach (camera frame)")
    for i, g in enumerate(grasps[:max_rows]):
        lines.append(f'{i:>3} {g[0]:7.3f} {g[1]:6.3f} {g[3]:6.3f} {g[13]:7.3f} '
                     f'{g[14]:7.3f} {g[15]:7.3f}   ({g[4]:+.2f}, {g[7]:+.2f}, '
                     f'{g[10]:+.2f})')
    return '\n'.join(lines)
