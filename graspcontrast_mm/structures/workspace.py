"""GSNet's object workspace of a depth frame (the reference's ``get_workspace_mask``).

GSNet (graspness_implementation, ``utils/data_utils.py``) crops every frame, in training,
testing and when writing its graspness files, to the axis-aligned box of the frame's object
pixels in the table / world frame, grown by ``outlier`` = 0.02 m on every side:

1. the organised cloud of the whole image is back-projected in float64 from the raw
   depth (``z = depth_png / factor_depth``); a pixel without depth (``depth_png == 0``)
   becomes the camera-frame point ``(0, 0, 0)``, i.e. the camera centre;
2. the cloud is mapped to the table frame with ``T_world_cam`` =
   ``cam0_wrt_table @ camera_poses[frame]``;
3. the box is the min / max over the pixels with ``label > 0`` (object pixels), **with
   or without depth**: an object pixel without depth puts the camera centre into the box,
   which then reaches from the objects to the camera;
4. a pixel is kept when its depth is > 0 and it lies strictly inside the grown box.

:func:`reference_workspace_mask` reproduces this bit for bit (same float64 operations in
the same order), so that the kept pixels, in row-major order, are exactly the rows of the
reference's ``cloud_masked`` (and of its ``(N_masked, 1)`` graspness files).
``object_pixels_without_depth='ignore'`` leaves the object pixels without depth out of
the box instead (the box of the measured object points only).

Frames and units: camera frame OpenCV (x right, y down, z forward), table / world frame z
up; metres; ``K`` in pixels.
"""
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from .frames import check_intrinsics

__all__ = ['OBJECT_PIXELS_WITHOUT_DEPTH', 'organized_cloud', 'reference_workspace_mask',
           'reference_frame_graspness', 'point_graspness']

#: Handling of object pixels without depth in :func:`reference_workspace_mask`:
#: ``'camera_centre'`` (the reference: such a pixel is the point (0, 0, 0) of the camera
#: frame and enters the box) or ``'ignore'`` (left out of the box).
OBJECT_PIXELS_WITHOUT_DEPTH = ('camera_centre', 'ignore')


def _raw_depth_metres(depth_m: np.ndarray, depth_scale: Optional[float]) -> np.ndarray:
    """float64 depth in metres, as the reference computes it from the PNG.

    With ``depth_scale`` (raw units per metre, GraspNet ``factor_depth`` = 1000) the
    depth is first rounded to the file's integer units, ``z = rint(d * s) / s``: this
    recovers exactly ``depth_png / factor_depth`` in float64 from a depth that was
    stored as float32 metres (``LoadDepthImage``).
    """
    depth = np.asarray(depth_m, dtype=np.float64)
    if depth.ndim != 2:
        raise ValueError(f'depth must be (H, W), got {depth.shape}')
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0.0)
    if depth_scale is not None:
        scale = float(depth_scale)
        if not scale > 0:
            raise ValueError(f'depth_scale must be positive, got {depth_scale}')
        depth = np.rint(depth * scale) / scale
    return depth


def organized_cloud(depth_m: np.ndarray, K: np.ndarray,
                    depth_scale: Optional[float] = None) -> np.ndarray:
    """Back-project every pixel (GSNet's ``create_point_cloud_from_depth_image``).

    ``x = (u - cx) * z / fx``, ``y = (v - cy) * z / fy`` in float64; a pixel without depth
    gives ``(0, 0, 0)``. Skew is not modelled (the reference ignores it; GraspNet has none).

    Args:
        depth_m: (H, W) depth, metres (0 / non-finite = no measurement).
        K: (3, 3) intrinsics, pixels.
        depth_scale: raw depth units per metre of the source file (see
            :func:`_raw_depth_metres`); None uses ``depth_m`` as is.

    Returns:
        np.ndarray: float64 (H, W, 3), camera frame, metres.
    """
    K = check_intrinsics(K)
    z = _raw_depth_metres(depth_m, depth_scale)
    h, w = z.shape
    xmap, ymap = np.meshgrid(np.arange(w), np.arange(h))
    x = (xmap - K[0, 2]) * z / K[0, 0]
    y = (ymap - K[1, 2]) * z / K[1, 1]
    return np.stack([x, y, z], axis=-1)


def reference_workspace_mask(
        depth_m: np.ndarray,
        seg: np.ndarray,
        K: np.ndarray,
        cam2world: np.ndarray,
        *,
        margin: float = 0.02,
        depth_scale: Optional[float] = None,
        object_pixels_without_depth: str = 'camera_centre',
        return_bounds: bool = False
) -> Union[np.ndarray, Tuple[np.ndarray, Optional[np.ndarray]]]:
    """Pixels of GSNet's object workspace (the reference's ``cloud_masked``).

    Args:
        depth_m: (H, W) depth, metres, 0 = no measurement.
        seg: (H, W) segmentation, ``obj_id + 1`` per pixel, 0 = table / background.
        K: (3, 3) intrinsics, pixels.
        cam2world: (4, 4) ``T_world_cam`` (table frame, z up).
        margin: growth of the object box on every side, metres (reference: 0.02).
        depth_scale: raw depth units per metre (see :func:`organized_cloud`); give it for
            a bit-exact reproduction of the reference from a float32 depth.
        object_pixels_without_depth: ``'camera_centre'`` (reference) or ``'ignore'``; see
            the module docstring.
        return_bounds: also return the grown box.

    Returns:
        np.ndarray: bool (H, W), True for the pixels with depth strictly inside the grown
        box (all False when the frame has no object pixel). With ``return_bounds``, also
        the float64 (2, 3) box ``[min - margin, max + margin]`` in the table frame, metres
        (None without object pixels).
    """
    if object_pixels_without_depth not in OBJECT_PIXELS_WITHOUT_DEPTH:
        raise ValueError(f'object_pixels_without_depth must be one of '
                         f'{OBJECT_PIXELS_WITHOUT_DEPTH}, got {object_pixels_without_depth!r}')
    if margin < 0:
        raise ValueError(f'margin must be >= 0 (metres), got {margin}')
    seg = np.asarray(seg)
    cloud = organized_cloud(depth_m, K, depth_scale)
    h, w, _ = cloud.shape
    if seg.shape != (h, w):
        raise ValueError(f'segmentation {seg.shape} and depth {(h, w)} differ in shape')
    T = np.asarray(cam2world, dtype=np.float64)
    if T.shape != (4, 4):
        raise ValueError(f'cam2world must be (4, 4), got {T.shape}')
    flat = cloud.reshape(h * w, 3)
    # the reference's transform_point_cloud(cloud, trans, '4x4'), operation for operation
    ones = np.ones(flat.shape[0])[:, np.newaxis]
    world = np.dot(T, np.concatenate([flat, ones], axis=1).T).T[:, :3]
    has_depth = flat[:, 2] > 0
    foreground = seg.reshape(h * w) > 0
    if object_pixels_without_depth == 'ignore':
        foreground &= has_depth
    if not foreground.any():
        mask = np.zeros((h, w), dtype=bool)
        return (mask, None) if return_bounds else mask
    lo = world[foreground].min(axis=0)
    hi = world[foreground].max(axis=0)
    inside = np.ones(h * w, dtype=bool)
    for i in range(3):
        inside &= (world[:, i] > lo[i] - margin) & (world[:, i] < hi[i] + margin)
    mask = (inside & has_depth).reshape(h, w)
    if return_bounds:
        return mask, np.stack([lo - margin, hi + margin])
    return mask


def reference_frame_graspness(
        depth_m: np.ndarray,
        seg: np.ndarray,
        K: np.ndarray,
        cam2world: np.ndarray,
        poses_cam_obj: Sequence[np.ndarray],
        grasp_points_obj: Sequence[np.ndarray],
        grasp_point_graspness: Sequence[np.ndarray],
        *,
        margin: float = 0.02,
        depth_scale: Optional[float] = None,
        object_pixels_without_depth: str = 'camera_centre',
        workspace_mask: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """GSNet's point graspness of a frame (the reference's ``generate_graspness.py``).

    Every pixel of the object workspace (:func:`reference_workspace_mask`, background
    included) takes the graspness of its nearest grasp point over **all** objects (grasp
    points mapped to the camera frame with ``T_cam_obj``); the values are then min-max
    normalised over all those pixels: ``(g - min) / (max - min)`` (all 0 when
    ``max == min``; the reference divides by zero there).

    Args:
        depth_m: (H, W) depth, metres, 0 = no measurement.
        seg: (H, W) segmentation, ``obj_id + 1`` per pixel, 0 = background.
        K: (3, 3) intrinsics, pixels.
        cam2world: (4, 4) ``T_world_cam``.
        poses_cam_obj: K (4, 4) object poses ``T_cam_obj`` (camera frame of the frame).
        grasp_points_obj: K (Np_k, 3) grasp points, object frames, metres.
        grasp_point_graspness: K (Np_k,) graspness of the grasp points (fraction of their
            300 x 12 x 4 grasps with ``0 < mu <= 0.8`` and no collision).
        margin, depth_scale, object_pixels_without_depth: see
            :func:`reference_workspace_mask`.
        workspace_mask: a precomputed :func:`reference_workspace_mask` (same arguments).

    Returns:
        tuple: float64 (H, W) graspness map (normalised values on the workspace pixels, 0
        elsewhere) and the bool (H, W) workspace mask. Row-major ``map[mask]`` is the
        reference's ``(N_masked, 1)`` file content.
    """
    from .frames import transform_points
    from .points import nearest_neighbors
    if workspace_mask is None:
        workspace_mask = reference_workspace_mask(
            depth_m, seg, K, cam2world, margin=margin, depth_scale=depth_scale,
            object_pixels_without_depth=object_pixels_without_depth)
    mask = np.asarray(workspace_mask, dtype=bool)
    out = np.zeros(mask.shape, dtype=np.float64)
    if not (len(poses_cam_obj) == len(grasp_points_obj) == len(grasp_point_graspness)):
        raise ValueError(f'{len(poses_cam_obj)} poses, {len(grasp_points_obj)} grasp point '
                         f'sets and {len(grasp_point_graspness)} graspness arrays')
    pts, vals = [], []
    for T, p, g in zip(poses_cam_obj, grasp_points_obj, grasp_point_graspness):
        p = np.asarray(p, dtype=np.float64).reshape(-1, 3)
        g = np.asarray(g, dtype=np.float64).reshape(-1)
        if len(p) != len(g):
            raise ValueError(f'{len(p)} grasp points but {len(g)} graspness values')
        if len(p):
            pts.append(transform_points(np.asarray(T, np.float64), p))
            vals.append(g)
    if not mask.any() or not pts:
        return out, mask
    cloud = organized_cloud(depth_m, K, depth_scale)[mask]
    _, idx = nearest_neighbors(cloud, np.concatenate(pts))
    values = np.concatenate(vals)[idx]
    lo, hi = values.min(), values.max()
    out[mask] = (values - lo) / (hi - lo) if hi > lo else 0.0
    return out, mask


def point_graspness(scores: np.ndarray,
                    collision: Optional[np.ndarray] = None,
                    fric_coef_thresh: float = 0.8,
                    dtype=np.float32) -> np.ndarray:
    """Graspness of label grasp points (GSNet).

    Args:
        scores: (Np, V, A, D) friction coefficients (-1 invalid).
        collision: optional (Np, V, A, D) bool scene collision.
        fric_coef_thresh: Largest friction coefficient counted.
        dtype: output dtype (the GSNet reference computes in float64).

    Returns:
        np.ndarray: (Np,) fraction of the point's grasps with
        ``0 < mu <= fric_coef_thresh`` and no collision.
    """
    scores = np.asarray(scores)
    good = (scores > 0) & (scores <= fric_coef_thresh)
    if collision is not None:
        good &= ~np.asarray(collision, dtype=bool)
    good = good.reshape(good.shape[0], -1)
    return (good.sum(1) / max(good.shape[1], 1)).astype(dtype)
