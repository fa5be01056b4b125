"""Transforms on a pair (or list) of views of one scene: per-view pipelines, point matching
in the world frame (paper eq. 1-2) and key-point sampling."""
from typing import Callable, Optional, Sequence, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from graspcontrast_mm.registry import TRANSFORMS
from graspcontrast_mm.structures import (farthest_point_sample, invert_transform,
                                         match_points, transform_points)

from .caching import compose_transforms

__all__ = ['ApplyToViews', 'MatchViewPair', 'SampleKeyPoints', 'view_points_world']

_WARNING = 30  # logging.WARNING


def view_points_world(view: dict) -> np.ndarray:
    """World (table) frame coordinates of a view's current points (paper eq. 1).

    ``p_world = cam2world @ inv(aug_mat) @ p`` with ``p`` the (augmented) points.

    Args:
        view: dict with ``points`` (N, 3) metres, ``cam2world`` (4, 4) ``T_world_cam`` and
            ``aug_mat`` (4, 4) ``T_aug_cam`` (identity when absent).

    Returns:
        np.ndarray: float64 (N, 3) world frame, metres.
    """
    for key in ('points', 'cam2world'):
        if key not in view:
            raise KeyError(f"a view needs '{key}' to be mapped to the world frame")
    world_from_aug = np.asarray(view['cam2world'], np.float64) @ invert_transform(
        view.get('aug_mat', np.eye(4)))
    return transform_points(world_from_aug, np.asarray(view['points'], np.float64))


@TRANSFORMS.register_module()
class ApplyToViews(BaseTransform):
    """Run a per-view sub-pipeline on every view of ``results['views']`` independently.

    Random transforms draw anew for every view. If the sub-pipeline returns None for any
    view (e.g. an empty workspace crop), the whole sample is dropped (None is returned).

    Required keys: ``views`` (list of view dicts). Modified keys: ``views``.

    Args:
        transforms: transform configs (built with the ``graspcontrast_mm`` TRANSFORMS
            registry, which falls back to mmdet3d / mmengine) or callables.
    """

    def __init__(self, transforms: Sequence[Union[dict, Callable]]) -> None:
        self.pipeline = compose_transforms(transforms)

    def transform(self, results: dict) -> Optional[dict]:
        if 'views' not in results:
            raise KeyError("ApplyToViews needs a list of view dicts under 'views'")
        views = []
        for view in results['views']:
            out = self.pipeline(view)
            if out is None:
                return None
            views.append(out)
        results['views'] = views
        return results

    def __repr__(self) -> str:
        inner = ', '.join(repr(t) for t in self.pipeline.transforms)
        return f'{self.__class__.__name__}(transforms=[{inner}])'


@TRANSFORMS.register_module()
class MatchViewPair(BaseTransform):
    """Point correspondences between two views of one scene (paper eq. 1-2).

    Both views' points are mapped to the world frame through ``cam2world @ inv(aug_mat)``;
    point ``i`` of view 0 matches its nearest neighbour ``j`` of view 1 when they are at
    most ``match_radius`` apart. With ``mutual`` (default) a pair is kept only when ``i`` is
    also the nearest view-0 point of ``j``: correspondences are then one-to-one, so no key
    point of view 1 is the positive of two anchors (in InfoNCE a shared positive would
    otherwise appear as an exact false negative of the other anchor).

    The default ``match_radius`` of 7.5 mm is 1.5 voxels of 5 mm: the paper gives no value;
    1.5 voxels accepts neighbouring-voxel correspondences under depth noise while staying
    well below the object scale.

    Required keys: ``views`` with two view dicts holding ``points``, ``cam2world`` and
    ``aug_mat``.

    Added keys:
        - matches (np.int64 (K, 2)): rows ``(i, j)``, point indices into view 0 / view 1,
          sorted by ``i``.
        - match_points_world (np.float32 (K, 3)): world coordinates of the view-0 points,
          metres.
        - match_distances (np.float32 (K,)): world-frame distances, metres.

    A pair with fewer than ``min_matches`` correspondences (little or no overlap) is
    dropped: a warning is logged and None returned (mmengine's dataset draws another).

    Args:
        match_radius: epsilon of eq. 2, metres.
        min_matches: smallest accepted number of correspondences.
        mutual: keep mutual nearest neighbours only.
    """

    def __init__(self, match_radius: float = 0.0075, min_matches: int = 64,
                 mutual: bool = True) -> None:
        if not match_radius > 0:
            raise ValueError(f'match_radius must be positive (metres), got {match_radius}')
        self.match_radius = float(match_radius)
        self.min_matches = int(min_matches)
        self.mutual = mutual

    def transform(self, results: dict) -> Optional[dict]:
        views = results.get('views')
        if views is None or len(views) != 2:
            raise ValueError('MatchViewPair needs exactly two views under '
                             f"'views', got {None if views is None else len(views)}")
        world0 = view_points_world(views[0])
        world1 = view_points_world(views[1])
        matches, dist = match_points(world0, world1, self.match_radius, mutual=self.mutual)
        if len(matches) < self.min_matches:
            print_log(f'{len(matches)} correspondences within {self.match_radius} m '
                      f"between frames {views[0].get('frame_id', '?')} and "
                      f"{views[1].get('frame_id', '?')} of scene "
                      f"{results.get('scene_id', views[0].get('scene_id', '?'))} "
                      f'(need {self.min_matches}); skipping the pair', logger='current',
                      level=_WARNING)
            return None
        results['matches'] = matches
        results['match_points_world'] = world0[matches[:, 0]].astype(np.float32)
        results['match_distances'] = dist.astype(np.float32)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(match_radius={self.match_radius}, '
                f'min_matches={self.min_matches}, mutual={self.mutual})')


@TRANSFORMS.register_module()
class SampleKeyPoints(BaseTransform):
    """Reduce the correspondences to at most M key points.

    ``'fps'``: farthest point sampling on ``match_points_world`` (Open3D, deterministic
    start at the first match), which spreads key points over the scene; ``'random'``: a
    uniform subset (numpy global RNG). With K <= M all matches are kept.

    Required keys: ``matches`` (K, 2), ``match_points_world`` (K, 3).
    Modified keys: the same (and ``match_distances`` when present), reduced to
    min(K, M) rows.

    Args:
        num_key_points: M.
        method: ``'fps'`` or ``'random'``.
    """

    def __init__(self, num_key_points: int = 4096, method: str = 'fps') -> None:
        if num_key_points <= 0:
            raise ValueError(f'num_key_points must be positive, got {num_key_points}')
        if method not in ('fps', 'random'):
            raise ValueError(f"method must be 'fps' or 'random', got {method!r}")
        self.num_key_points = int(num_key_points)
        self.method = method

    def transform(self, results: dict) -> dict:
        points = np.asarray(results['match_points_world'])
        k = len(points)
        if len(results['matches']) != k:
            raise ValueError(f"'matches' has {len(results['matches'])} rows but "
                             f"'match_points_world' has {k}")
        if k <= self.num_key_points:
            return results
        if self.method == 'fps':
            index = farthest_point_sample(points, self.num_key_points)
        else:
            index = np.random.choice(k, self.num_key_points, replace=False)
        for key in ('matches', 'match_points_world', 'match_distances'):
            if key in results:
                results[key] = np.asarray(results[key])[index]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_key_points={self.num_key_points}, '
                f'method={self.method!r})')
