"""GraspNet-1Billion dataset (official file layout) for mmengine.

Reads ``data_root/scenes/scene_XXXX/{camera}/`` of the real dataset or of the synthetic
generator (:mod:`graspcontrast_mm.synthetic`). Sample dictionaries follow
``docs/data_flow.md``: frames are OpenCV cameras, ``cam2world`` is ``T_world_cam`` (world =
table frame, z up) = ``cam0_wrt_table @ camera_poses[frame_id]``, depth PNGs are uint16 with
``depth_png / depth_scale`` = metres.
"""
from __future__ import annotations

import os
import re
from fractions import Fraction
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from mmengine.registry import DefaultScope

from graspcontrast_mm.registry import DATASETS, SCOPE
from .graspnet_io import (GraspNetLayout, read_camera_files, read_factor_depth,
                          read_object_id_list)

__all__ = [
    'GraspNetDataset', 'GRASPNET_SPLITS', 'GRASPNET_CAMERAS', 'split_scene_ids',
    'select_label_frames', 'parse_label_fraction'
]

#: Scene id ranges (inclusive) of the GraspNet-1Billion splits.
GRASPNET_SPLITS = {
    'train': (0, 99),
    'test_seen': (100, 129),
    'test_similar': (130, 159),
    'test_novel': (160, 189),
    'test': (100, 189),
    'all': (0, 189),
}
GRASPNET_CAMERAS = ('realsense', 'kinect')
_FRAME_RE = re.compile(r'^(\d{4})\.png$')


def split_scene_ids(split: str) -> List[int]:
    """Scene ids of a GraspNet split (``'train'``, ``'test_seen'``, ``'test_similar'``,
    ``'test_novel'``, ``'test'``, ``'all'``)."""
    if split not in GRASPNET_SPLITS:
        raise ValueError(f'unknown split {split!r}; expected one of '
                         f'{sorted(GRASPNET_SPLITS)}')
    lo, hi = GRASPNET_SPLITS[split]
    return list(range(lo, hi + 1))


def parse_label_fraction(label_fraction: Union[float, str, Fraction]) -> Fraction:
    """Parse a label fraction such as ``16/256``, ``'16/256'``, ``0.0625`` or ``1``.

    Args:
        label_fraction: number or ``'a/b'`` string in ``(0, 1]``.

    Returns:
        Fraction: the exact fraction (floats are converted exactly when they are binary
        fractions such as ``16 / 256``, otherwise limited to denominators <= 4096).

    Raises:
        ValueError: not a number in ``(0, 1]``.
    """
    try:
        if isinstance(label_fraction, str):
            frac = Fraction(label_fraction.strip())
        else:
            exact = Fraction(label_fraction)
            frac = exact.limit_denominator(4096)
    except (ValueError, TypeError, ZeroDivisionError, OverflowError) as e:
        raise ValueError(f'label_fraction must be a number or an "a/b" string in (0, 1], '
                         f'got {label_fraction!r}') from e
    if frac == 0 and not isinstance(label_fraction, str) and exact > 0:
        raise ValueError(f'label_fraction {label_fraction!r} is too small: the smallest '
                         'fraction given as a number is 1/4096 (one frame of a 256-frame '
                         'scene is 1/256)')
    if not 0 < frac <= 1:
        raise ValueError(f'label_fraction must be in (0, 1], got {label_fraction!r}')
    return frac


def select_label_frames(frames: Sequence[int],
                        label_fraction: Union[float, str, Fraction]) -> List[int]:
    """Evenly spaced, deterministic subset of a scene's frames (labelled-data fraction).

    ``n = max(1, round(label_fraction * len(frames)))`` frames are kept: the ones at
    positions ``floor(i * len(frames) / n)``, ``i = 0 .. n - 1``, of ``frames`` (in the given
    order). For a full GraspNet scene (frames 0-255): ``1/256`` -> ``[0]``; ``16/256`` ->
    ``[0, 16, 32, ..., 240]``; ``256/256`` -> all 256 frames.

    Args:
        frames: frame ids of one scene (e.g. every frame with a depth image).
        label_fraction: fraction of the frames to keep, in ``(0, 1]`` (see
            :func:`parse_label_fraction`).

    Returns:
        list: the selected frame ids.
    """
    frames = [int(f) for f in frames]
    if not frames:
        return []
    frac = parse_label_fraction(label_fraction)
    total = len(frames)
    n = max(1, min(total, int(round(frac * total))))
    return [frames[(i * total) // n] for i in range(n)]


@DATASETS.register_module()
class GraspNetDataset(BaseDataset):
    """Frames or frame pairs of GraspNet-1Billion scenes.

    Args:
        data_root: Dataset root holding ``scenes/``.
        camera: ``'realsense'`` or ``'kinect'``.
        split: GraspNet split (see :data:`GRASPNET_SPLITS`); ignored if ``scene_ids`` is set.
        scene_ids: Explicit scene ids.
        frame_ids: Frames used in every scene; ``None`` = every frame with a depth image.
        mode: ``'single'`` (one sample per frame), ``'pair'`` (one sample per anchor frame,
            with a second frame of the same scene) or ``'grasp'`` (one labelled sample per
            frame, for GSNet training and GraspNet evaluation; see below).
        label_fraction: Keep only an evenly spaced subset of each scene's frames (after
            ``frame_ids``): a number or ``'a/b'`` string in ``(0, 1]``, e.g. ``1/256``,
            ``16/256``, ``256/256`` for the labelled-data fractions of GraspContrast's
            Table I; see :func:`select_label_frames` for which frames. ``None`` keeps all.
        pair_cfg: Pair selection (``mode='pair'``):

            - ``strategy``: ``'random'`` (any other selected frame) or ``'view_angle'``
              (the angle between the two optical axes, from ``camera_poses``, must lie in
              ``[min_angle, max_angle]`` degrees).
            - ``min_angle`` / ``max_angle``: degrees (default 0 / 180).
            - ``seed``: ``None`` draws the partner with numpy's global generator (seeded per
              worker by mmengine); an int makes the partner of every index fixed (for
              validation sets).
        skip_missing_scenes: Skip scenes of the split absent on disk (one warning).
        check_labels: In ``'grasp'`` mode, check when the dataset is built that every
            scene has ``object_id_list.txt``, its collision labels and the grasp labels of
            its objects (a ``FileNotFoundError`` names the first missing files).
        pipeline: Data pipeline.
        test_mode: mmengine's test mode.
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments.

    ``get_data_info`` returns, in ``'single'`` mode, a view dict with keys ``sample_idx``,
    ``scene_id``, ``frame_id``, ``camera``, ``depth_path``, ``rgb_path``, ``label_path``,
    ``meta_path``, ``cam_intrinsic`` (float64 (3, 3), pixels), ``depth_scale`` (float),
    ``cam2world`` (float64 (4, 4), ``T_world_cam``); in ``'pair'`` mode
    ``{'sample_idx', 'scene_id', 'camera', 'views': [view_a, view_b]}``.

    ``'grasp'`` mode returns the ``'single'`` view dict plus the label sources read by
    :class:`~graspcontrast_mm.datasets.transforms.LoadGraspLabels`:
    ``scene_object_ids`` (list of int: ``object_id_list.txt``, the order of the collision
    arrays), ``grasp_label_dir`` (``data_root/grasp_label``, files ``XXX_labels.npz``),
    ``collision_label_path`` (``collision_label/scene_XXXX/collision_labels.npz``) and
    ``graspness_path`` (``graspness/scene_XXXX/{camera}/NNNN.npy``, per-pixel graspness;
    it may be absent on disk, the loader then computes graspness from the labels).
    """

    METAINFO = {
        'dataset': 'GraspNet-1Billion',
        'splits': GRASPNET_SPLITS,
        'cameras': GRASPNET_CAMERAS,
    }
    MODES = ('single', 'pair', 'grasp')

    def __init__(self,
                 data_root: str,
                 camera: str = 'realsense',
                 split: str = 'train',
                 scene_ids: Optional[Sequence[int]] = None,
                 frame_ids: Optional[Sequence[int]] = None,
                 mode: str = 'single',
                 pair_cfg: Optional[Dict[str, Any]] = None,
                 skip_missing_scenes: bool = True,
                 label_fraction: Optional[Union[float, str]] = None,
                 check_labels: bool = True,
                 pipeline: Sequence = (),
                 test_mode: bool = False,
                 **kwargs) -> None:
        if camera not in GRASPNET_CAMERAS:
            raise ValueError(f'camera must be one of {GRASPNET_CAMERAS}, got {camera!r}')
        if mode not in self.MODES:
            raise ValueError(f'mode must be one of {self.MODES}, got {mode!r}')
        if scene_ids is None:
            scene_ids = split_scene_ids(split)
        elif len(scene_ids) == 0:
            raise ValueError('scene_ids is empty: give at least one scene id, or '
                             'scene_ids=None to use the scenes of the split')
        self.camera = camera
        self.split = split
        self.scene_ids = [int(s) for s in scene_ids]
        self.frame_ids = None if frame_ids is None else [int(f) for f in frame_ids]
        self.mode = mode
        self.pair_cfg = self._check_pair_cfg(pair_cfg or {})
        self.skip_missing_scenes = skip_missing_scenes
        self.label_fraction = (None if label_fraction is None else
                               parse_label_fraction(label_fraction))
        self.check_labels = bool(check_labels)
        self._scenes: Dict[int, Dict[str, Any]] = {}
        self._partners: Dict[int, Dict[int, np.ndarray]] = {}
        # Build the pipeline in this package's scope (its transforms, and mmdet3d's through
        # the registry parents) also when no runner has set a default scope.
        with DefaultScope.overwrite_default_scope(SCOPE):
            super().__init__(data_root=data_root, pipeline=list(pipeline),
                             test_mode=test_mode, **kwargs)

    @staticmethod
    def _check_pair_cfg(cfg: Dict[str, Any]) -> Dict[str, Any]:
        out = dict(strategy='random', min_angle=0.0, max_angle=180.0, seed=None)
        unknown = set(cfg) - set(out)
        if unknown:
            raise ValueError(f'unknown pair_cfg keys {sorted(unknown)}; '
                             f'expected {sorted(out)}')
        out.update(cfg)
        if out['strategy'] not in ('random', 'view_angle'):
            raise ValueError("pair_cfg['strategy'] must be 'random' or 'view_angle', got "
                             f"{out['strategy']!r}")
        if not 0.0 <= out['min_angle'] <= out['max_angle'] <= 180.0:
            raise ValueError('pair_cfg needs 0 <= min_angle <= max_angle <= 180 degrees, '
                             f"got {out['min_angle']}, {out['max_angle']}")
        return out

    # ------------------------------------------------------------------ loading
    @property
    def layout(self) -> GraspNetLayout:
        """Paths of the GraspNet-1Billion layout under ``data_root``."""
        return GraspNetLayout(self.data_root)

    def _scene_dir(self, scene_id: int) -> str:
        return self.layout.scene_dir(scene_id)

    def _load_scene(self, scene_id: int) -> Dict[str, Any]:
        cam_dir = self.layout.camera_dir(scene_id, self.camera)
        try:
            K, cam_poses, cam0 = (a.astype(np.float64) for a in read_camera_files(cam_dir))
        except (FileNotFoundError, ValueError) as e:
            raise type(e)(f'scene {scene_id}: {e}') from e
        depth_dir = os.path.join(cam_dir, 'depth')
        available = sorted(
            int(m.group(1)) for m in map(_FRAME_RE.match,
                                         os.listdir(depth_dir) if os.path.isdir(depth_dir)
                                         else []) if m)
        available = [f for f in available if f < len(cam_poses)]
        if self.frame_ids is None:
            frames = available
            no_depth = sorted(set(range(len(cam_poses))) - set(available))
            if available and no_depth:
                print_log(f'GraspNetDataset: scene {scene_id}: {len(no_depth)} of '
                          f'{len(cam_poses)} frames with a camera pose have no depth image '
                          f'in {depth_dir} and are left out: {_compact(no_depth)}',
                          logger='current', level=30)
        else:
            missing = sorted(set(self.frame_ids) - set(available))
            if missing:
                raise FileNotFoundError(
                    f'scene {scene_id}: frames {missing} have no depth image (or no camera '
                    f'pose) under {depth_dir}')
            frames = list(self.frame_ids)
        if not frames:
            raise FileNotFoundError(f'scene {scene_id}: no depth images in {depth_dir}')
        if self.label_fraction is not None:
            frames = select_label_frames(frames, self.label_fraction)
        return dict(cam_dir=cam_dir, K=K, cam2world=cam0[None] @ cam_poses,
                    depth_scale=self._read_depth_scale(scene_id, frames[0]),
                    frames=np.asarray(frames, np.int64))

    def _read_depth_scale(self, scene_id: int, frame_id: int) -> float:
        """``factor_depth`` of a scene from one frame's meta file (1000 if absent)."""
        return read_factor_depth(GraspNetLayout.camera_files(
            self._scene_dir(scene_id), self.camera, frame_id)['meta'])

    def load_data_list(self) -> List[dict]:
        """List the (scene, frame) samples; reads only the per-scene ``.npy`` files."""
        present, missing = [], []
        for scene_id in self.scene_ids:
            (present if os.path.isdir(self._scene_dir(scene_id)) else missing).append(
                scene_id)
        if not present:
            raise FileNotFoundError(
                f'no scene of {self._describe_scenes()} found under data_root '
                f'{self.data_root!r} (expected e.g. '
                f'{self._scene_dir(self.scene_ids[0]) if self.scene_ids else "scenes/"})')
        if missing:
            if not self.skip_missing_scenes:
                raise FileNotFoundError(
                    f'scenes {missing} not found under {os.path.join(self.data_root, "scenes")}')
            print_log(
                f'GraspNetDataset: {len(missing)} scene(s) of {self._describe_scenes()} '
                f'are not in {os.path.join(self.data_root, "scenes")} and are skipped: '
                f'{_compact(missing)}', logger='current', level=30)
        self._scenes = {s: self._load_scene(s) for s in present}
        if self.mode == 'grasp':
            for s in present:
                self._scenes[s]['object_ids'] = self._load_label_sources(s)
        data_list = []
        if self.mode in ('single', 'grasp'):
            for s in present:
                data_list += [dict(scene_id=s, frame_id=int(f))
                              for f in self._scenes[s]['frames']]
            return data_list
        # pair mode: one sample per anchor frame that has at least one partner
        no_partner = []
        for s in present:
            partners = self._pair_candidates(self._scenes[s])
            self._partners[s] = partners
            for f in self._scenes[s]['frames']:
                if len(partners[int(f)]):
                    data_list.append(dict(scene_id=s, frame_id=int(f)))
                else:
                    no_partner.append((s, int(f)))
        if no_partner:
            print_log(f'GraspNetDataset: {len(no_partner)} frame(s) have no partner '
                      f'satisfying pair_cfg={self.pair_cfg} and are not used as anchors',
                      logger='current', level=30)
        if not data_list:
            raise ValueError(f'no frame pair satisfies pair_cfg={self.pair_cfg} in scenes '
                             f'{_compact(present)}')
        return data_list

    def _label_paths(self, scene_id: int) -> Dict[str, str]:
        return dict(
            object_id_list=self.layout.object_id_list(scene_id),
            grasp_label_dir=self.layout.grasp_label_dir(),
            collision_label=self.layout.collision_label(scene_id),
            graspness_dir=self.layout.graspness_dir(scene_id, self.camera))

    def _load_label_sources(self, scene_id: int) -> List[int]:
        """Object ids of a scene (``object_id_list.txt``); checks the label files."""
        paths = self._label_paths(scene_id)
        if not os.path.isfile(paths['object_id_list']):
            raise FileNotFoundError(f'scene {scene_id}: missing object list '
                                    f"{paths['object_id_list']} (needed in 'grasp' mode)")
        object_ids = read_object_id_list(paths['object_id_list'])
        if self.check_labels:
            needed = [paths['collision_label']] + [
                self.layout.grasp_label(i) for i in object_ids
            ]
            missing = [p for p in needed if not os.path.isfile(p)]
            if missing:
                raise FileNotFoundError(
                    f"scene {scene_id}: 'grasp' mode needs grasp and collision labels; "
                    f'missing {len(missing)} file(s): {missing[:5]}')
        return object_ids

    def _describe_scenes(self) -> str:
        if self.split in GRASPNET_SPLITS and self.scene_ids == split_scene_ids(self.split):
            return f'split {self.split!r} (scenes {_compact(self.scene_ids)})'
        return f'scenes {_compact(self.scene_ids)}'

    def _pair_candidates(self, scene: Dict[str, Any]) -> Dict[int, np.ndarray]:
        frames = scene['frames']
        axes = scene['cam2world'][frames][:, :3, 2]
        cos = np.clip(axes @ axes.T, -1.0, 1.0)
        ang = np.degrees(np.arccos(cos))
        ok = ~np.eye(len(frames), dtype=bool)
        if self.pair_cfg['strategy'] == 'view_angle':
            ok &= (ang >= self.pair_cfg['min_angle']) & (ang <= self.pair_cfg['max_angle'])
        return {int(f): frames[ok[i]] for i, f in enumerate(frames)}

    # ------------------------------------------------------------------ samples
    def _view_info(self, scene_id: int, frame_id: int) -> dict:
        scene = self._scenes[scene_id]
        files = GraspNetLayout.camera_files(self._scene_dir(scene_id), self.camera, frame_id)
        return {
            'scene_id': scene_id,
            'frame_id': frame_id,
            'camera': self.camera,
            'depth_path': files['depth'],
            'rgb_path': files['rgb'],
            'label_path': files['label'],
            'meta_path': files['meta'],
            'cam_intrinsic': scene['K'].copy(),
            'depth_scale': float(scene['depth_scale']),
            'cam2world': scene['cam2world'][frame_id].copy(),
        }

    def _partner_of(self, idx: int, scene_id: int, frame_id: int) -> int:
        candidates = self._partners[scene_id][frame_id]
        seed = self.pair_cfg['seed']
        if seed is None:
            k = np.random.randint(len(candidates))
        else:
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(idx)]))
            k = int(rng.integers(len(candidates)))
        return int(candidates[k])

    def get_data_info(self, idx: int) -> dict:
        """Sample dictionary of index ``idx`` (see the class docstring)."""
        entry = super().get_data_info(idx)
        sample_idx = int(entry['sample_idx'])
        scene_id, frame_id = int(entry['scene_id']), int(entry['frame_id'])
        if self.mode == 'single':
            info = self._view_info(scene_id, frame_id)
            info['sample_idx'] = sample_idx
            return info
        if self.mode == 'grasp':
            info = self._view_info(scene_id, frame_id)
            info['sample_idx'] = sample_idx
            paths = self._label_paths(scene_id)
            info['scene_object_ids'] = list(self._scenes[scene_id]['object_ids'])
            info['grasp_label_dir'] = paths['grasp_label_dir']
            info['collision_label_path'] = paths['collision_label']
            info['graspness_path'] = self.layout.graspness(scene_id, self.camera, frame_id)
            return info
        partner = self._partner_of(sample_idx, scene_id, frame_id)
        return {
            'sample_idx': sample_idx,
            'scene_id': scene_id,
            'camera': self.camera,
            'views': [self._view_info(scene_id, frame_id),
                      self._view_info(scene_id, partner)],
        }


def _compact(ids: Sequence[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``'0-2, 5'``."""
    ids = sorted(set(int(i) for i in ids))
    parts, start = [], None
    for i, v in enumerate(ids):
        if start is None:
            start = v
        if i + 1 == len(ids) or ids[i + 1] != v + 1:
            parts.append(f'{start}' if start == v else f'{start}-{v}')
            start = None
    return ', '.join(parts)
