"""Loading of depth images, camera intrinsics, workspace masks, colour images and point
clouds (the readers of the datasets and of the grasp Inferencer's inputs)."""
import json
import os
import os.path as osp
from typing import Any, Optional, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from graspcontrast_mm.registry import TRANSFORMS
from graspcontrast_mm.structures import check_intrinsics

__all__ = [
    'LoadDepthImage', 'LoadDepthMask', 'LoadPointColors', 'LoadPointCloud',
    'read_depth_image', 'read_single_channel_image', 'read_intrinsics', 'read_mask',
    'read_color_image', 'read_point_cloud', 'as_numpy'
]


def _read_raw_image(path: str, what: str) -> np.ndarray:
    """The array of an image file (``cv2.IMREAD_UNCHANGED``) or ``.npy``, as stored."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}')
    if path.endswith('.npy'):
        return np.load(path, allow_pickle=False)
    import cv2
    raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ValueError(f'could not decode {what} {path}')
    return raw


def read_single_channel_image(path: str, what: str = 'image') -> np.ndarray:
    """Read a raw single-channel image (``cv2.IMREAD_UNCHANGED``, or ``.npy``) as is.

    Args:
        path: file path.
        what: name of the image used in error messages (e.g. ``'depth image'``).

    Returns:
        np.ndarray: (H, W) raw values, no conversion.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file cannot be decoded or is not a single-channel image.
    """
    path = str(path)
    raw = _read_raw_image(path, what)
    if raw.ndim == 3 and raw.shape[2] == 1:
        raw = raw[:, :, 0]
    if raw.ndim != 2:
        raise ValueError(f'{what} {path} must be single-channel (H, W), '
                         f'got shape {raw.shape}')
    return raw


def read_depth_image(path: str) -> np.ndarray:
    """Read a raw single-channel depth image without any conversion.

    Supports 16-bit PNG (and anything else ``cv2.IMREAD_UNCHANGED`` decodes, e.g. float
    TIFF) and ``.npy`` arrays.

    Args:
        path: file path.

    Returns:
        np.ndarray: (H, W) raw values in the file's units (GraspNet: uint16 millimetres).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file cannot be decoded or is not a single-channel image.
    """
    return read_single_channel_image(path, 'depth image')


def _as_path(value: Any) -> Optional[str]:
    return os.fspath(value) if isinstance(value, (str, os.PathLike)) else None


def as_numpy(value: Any) -> np.ndarray:
    """numpy view of an array-like or a (CPU or GPU) torch tensor."""
    if hasattr(value, 'detach') and hasattr(value, 'cpu'):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def read_intrinsics(value: Any) -> np.ndarray:
    """Pinhole intrinsics from a matrix, ``(fx, fy, cx, cy)`` or a file.

    Args:
        value: (3, 3) array-like; 4 numbers ``fx, fy, cx, cy`` (pixels); or a path to a
            ``.npy`` / ``.txt`` (3x3 or 4 numbers), ``.json`` (``K`` / ``intrinsics`` /
            ``intrinsic_matrix`` / ``camera_matrix`` as 3x3, or keys ``fx fy cx cy``) or
            ``.mat`` (``intrinsic_matrix``, GraspNet ``meta``) file.

    Returns:
        np.ndarray: float64 (3, 3) ``K``.

    Raises:
        FileNotFoundError: missing file.
        ValueError: anything that is not a valid pinhole matrix.
    """
    path = _as_path(value)
    if path is not None:
        if not osp.isfile(path):
            raise FileNotFoundError(f'intrinsics file not found: {path}')
        ext = osp.splitext(path)[1].lower()
        if ext == '.npy':
            value = np.load(path)
        elif ext == '.json':
            with open(path) as f:
                data = json.load(f)
            key = next((k for k in ('K', 'intrinsics', 'intrinsic_matrix', 'camera_matrix')
                        if k in data), None)
            if key is not None:
                value = data[key]
            elif all(k in data for k in ('fx', 'fy', 'cx', 'cy')):
                value = [data[k] for k in ('fx', 'fy', 'cx', 'cy')]
            else:
                raise ValueError(f'{path}: no K / intrinsics / intrinsic_matrix or '
                                 'fx, fy, cx, cy entries')
        elif ext == '.mat':
            import scipy.io
            meta = scipy.io.loadmat(path)
            if 'intrinsic_matrix' not in meta:
                raise ValueError(f'{path}: no intrinsic_matrix entry')
            value = meta['intrinsic_matrix']
        else:
            value = np.loadtxt(path)
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 4 and arr.ndim <= 1:
        fx, fy, cx, cy = arr.tolist()
        arr = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
    try:
        return check_intrinsics(arr)
    except ValueError as err:
        raise ValueError(f'invalid intrinsics ({err}); give a 3x3 K or fx, fy, cx, cy in '
                         'pixels') from None


def read_mask(value: Any, shape: Tuple[int, int]) -> np.ndarray:
    """A workspace mask of a depth image as bool (H, W).

    Args:
        value: bool / numeric (H, W) array (non-zero = keep) or an image / ``.npy`` path
            (a colour image counts a pixel when any channel is non-zero).
        shape: ``(H, W)`` of the depth image.

    Returns:
        np.ndarray: bool (H, W).

    Raises:
        FileNotFoundError: missing file.
        ValueError: undecodable file, wrong shape, or no pixel selected.
    """
    path = _as_path(value)
    if path is not None:
        value = _read_raw_image(path, 'workspace mask')
        if value.ndim == 3 and not path.endswith('.npy'):
            value = value.max(axis=2)
    mask = as_numpy(value)
    if mask.shape != tuple(shape):
        raise ValueError(f'workspace mask has shape {mask.shape} but the depth image has '
                         f'{tuple(shape)}')
    mask = mask.astype(bool)
    if not mask.any():
        raise ValueError('workspace mask is empty (no pixel selected)')
    return mask


def _colors_to_uint8(colors: np.ndarray) -> np.ndarray:
    """uint8 colours from integer 0-255 or float (0-1 or 0-255) values."""
    colors = np.asarray(colors)
    if np.issubdtype(colors.dtype, np.floating):
        colors = np.clip(colors * (255.0 if colors.max(initial=0) <= 1 else 1.0), 0, 255)
    return colors.astype(np.uint8)


def read_color_image(value: Any, shape: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """A colour image as uint8 (H, W, 3) RGB.

    Args:
        value: (H, W, 3 | 4) RGB(A) or grayscale (H, W) array (uint8, or float in 0-1 or
            0-255), or an image path (read as BGR by OpenCV, returned as RGB).
        shape: ``(H, W)`` the image must have (the depth image's), or None.

    Raises:
        FileNotFoundError: missing or unreadable file.
        ValueError: not an (H, W, 3) / (H, W) image, or not of ``shape``.
    """
    path = _as_path(value)
    if path is not None:
        import cv2
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(f'colour image not found or unreadable: {path}')
        value = img[:, :, ::-1]
    color = as_numpy(value)
    if color.ndim == 3 and color.shape[2] == 1:
        color = color[:, :, 0]
    if color.ndim == 2:  # grayscale: the same value in R, G and B
        color = np.repeat(color[:, :, None], 3, axis=2)
    if color.ndim != 3 or color.shape[2] not in (3, 4):
        raise ValueError(f'a colour image must have shape (H, W, 3) (or be grayscale '
                         f'(H, W)), got {color.shape}')
    if shape is not None and color.shape[:2] != tuple(shape):
        raise ValueError(f'colour image size {color.shape[:2]} (H, W) does not match the '
                         f'depth image {tuple(shape)}')
    return _colors_to_uint8(color[:, :, :3])


def read_point_cloud(value: Any) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """A camera-frame point cloud (metres) with optional colours.

    Args:
        value: (N, 3) array (or (N, 6) xyz + rgb), or a ``.npy`` / ``.ply`` / ``.pcd`` /
            ``.xyz`` file.

    Returns:
        tuple: float64 (N, 3) points and uint8 (N, 3) colours or None.

    Raises:
        FileNotFoundError: missing file.
        ValueError: no points in a file, not (N, 3) / (N, 6), or not numeric.
    """
    colors = None
    path = _as_path(value)
    if path is not None:
        if not osp.isfile(path):
            raise FileNotFoundError(f'point cloud file not found: {path}')
        if path.endswith('.npy'):
            value = np.load(path)
        else:
            import open3d as o3d
            cloud = o3d.io.read_point_cloud(path)
            value = np.asarray(cloud.points)
            if value.shape[0] == 0:
                raise ValueError(f'point cloud file {path} holds no points (or could not be '
                                 'read)')
            if cloud.has_colors():
                colors = np.rint(np.asarray(cloud.colors) * 255).astype(np.uint8)
    arr = as_numpy(value)
    if arr.ndim == 2 and arr.shape[1] == 6:
        colors = arr[:, 3:]
        if np.issubdtype(colors.dtype, np.floating) and colors.max(initial=0) <= 1.0:
            colors = colors * 255.0
        colors = np.clip(colors, 0, 255).astype(np.uint8)
        arr = arr[:, :3]
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f'a point cloud must have shape (N, 3) (camera frame, metres), got '
                         f'{arr.shape}')
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f'point cloud must be numeric, got dtype {arr.dtype}')
    return arr.astype(np.float64), colors


@TRANSFORMS.register_module()
class LoadDepthImage(BaseTransform):
    """Load a depth image and convert it to metres.

    ``depth = raw / depth_scale`` (GraspNet: uint16 millimetres, ``depth_scale`` =
    ``factor_depth`` = 1000). Non-finite, negative and ``invalid_value`` pixels become 0,
    which means "no measurement" downstream.

    Required keys: ``depth_path`` (str) or, for in-memory input, ``depth_raw``
    ((H, W) array in the same units as a file). Optional key: ``depth_scale`` (float; the
    constructor's ``depth_scale`` is used when absent).

    Added keys:
        - depth (np.float32 (H, W)): metres, 0 = invalid.
        - depth_shape (tuple): ``(H, W)``.
        - depth_valid_ratio (float): fraction of valid (> 0) pixels.

    Args:
        depth_scale: raw units per metre, used when the results carry no ``depth_scale``.
        invalid_value: raw value that marks a missing measurement besides 0 (e.g. 65535
            for 7-Scenes); None for none.
        min_valid_ratio: smallest accepted fraction of valid pixels. An image at or below
            it (always when no pixel is valid) is rejected.
        on_invalid: what to do with a rejected image (no usable depth, or a file that is
            missing, cannot be decoded or is not single-channel): ``'raise'`` an error
            naming the file, or ``'skip'``: log a warning naming the file and return None
            (mmengine's dataset then draws another sample).
    """

    def __init__(self, depth_scale: float = 1000., invalid_value: Optional[float] = None,
                 min_valid_ratio: float = 0., on_invalid: str = 'raise') -> None:
        if not depth_scale > 0:
            raise ValueError(f'depth_scale must be positive, got {depth_scale}')
        if not 0. <= min_valid_ratio < 1.:
            raise ValueError(f'min_valid_ratio must be in [0, 1), got {min_valid_ratio}')
        if on_invalid not in ('raise', 'skip'):
            raise ValueError(f"on_invalid must be 'raise' or 'skip', got {on_invalid!r}")
        self.depth_scale = float(depth_scale)
        self.invalid_value = invalid_value
        self.min_valid_ratio = float(min_valid_ratio)
        self.on_invalid = on_invalid

    def transform(self, results: dict) -> Optional[dict]:
        if 'depth_path' in results and results['depth_path'] is not None:
            source = str(results['depth_path'])
            try:
                raw = read_depth_image(source)
            except (ValueError, FileNotFoundError) as err:  # undecodable, gone, not (H, W)
                if self.on_invalid == 'raise':
                    raise
                print_log(f'{err}; skipping the sample', logger='current', level=30)
                return None
        elif 'depth_raw' in results:
            source = '<depth_raw array>'
            raw = np.asarray(results['depth_raw'])
            if raw.ndim != 2:
                raise ValueError(f'depth_raw must have shape (H, W), got {raw.shape}')
        else:
            raise KeyError("LoadDepthImage needs 'depth_path' or 'depth_raw' in results")
        scale = float(results.get('depth_scale', self.depth_scale))
        if not scale > 0:
            raise ValueError(f'depth_scale must be positive, got {scale} for {source}')

        depth = raw.astype(np.float32) / np.float32(scale)
        invalid = ~np.isfinite(depth) | (depth < 0)
        if self.invalid_value is not None:
            invalid |= raw == self.invalid_value
        depth[invalid] = 0.
        valid_ratio = float(np.count_nonzero(depth > 0)) / max(depth.size, 1)
        if valid_ratio == 0. or valid_ratio <= self.min_valid_ratio:
            msg = (f'depth image {source} has no usable depth: valid pixel ratio '
                   f'{valid_ratio:.4f} (min_valid_ratio={self.min_valid_ratio})')
            if self.on_invalid == 'raise':
                raise ValueError(msg)
            print_log(msg + '; skipping the sample', logger='current', level=30)
            return None
        results['depth'] = depth
        results['depth_shape'] = depth.shape
        results['depth_valid_ratio'] = valid_ratio
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(depth_scale={self.depth_scale}, '
                f'invalid_value={self.invalid_value}, '
                f'min_valid_ratio={self.min_valid_ratio}, on_invalid={self.on_invalid!r})')


@TRANSFORMS.register_module()
class LoadDepthMask(BaseTransform):
    """Read the workspace mask of a depth image (pixels to back-project).

    Run it after :class:`LoadDepthImage` and before ``DepthToPoints`` (which keeps the
    pixels of ``depth_mask`` only). Without a ``depth_mask`` the results pass unchanged.

    Required keys: ``depth`` (H, W). Modified key: ``depth_mask``, given as a bool /
    numeric (H, W) array (non-zero = keep) or an image / ``.npy`` path, becomes bool
    (H, W) (:func:`read_mask`: an empty mask or another size is an error).
    """

    def transform(self, results: dict) -> dict:
        if results.get('depth_mask') is not None:
            results['depth_mask'] = read_mask(results['depth_mask'],
                                              np.shape(results['depth'])[:2])
        return results


@TRANSFORMS.register_module()
class LoadPointColors(BaseTransform):
    """Colour of every back-projected point from a colour image aligned with the depth.

    Run it after ``DepthToPoints(with_pixel_uv=True)`` and before any cropping or sampling
    (``point_colors`` is a per-point array, cropped and sampled with ``points``).

    Required keys: ``pixel_uv`` int (N, 2), ``depth_shape`` ``(H, W)``; the image as
    ``color`` (an RGB / grayscale array or an image path: :func:`read_color_image`) or
    ``rgb_path`` (a dataset frame's image, skipped when the file does not exist). Without
    either the results pass unchanged. Added key: ``point_colors`` uint8 (N, 3) RGB.
    """

    def transform(self, results: dict) -> dict:
        source = results.get('color')
        if source is None:
            path = results.get('rgb_path')
            if path is None or not osp.isfile(path):
                return results
            source = path
        if results.get('pixel_uv') is None:
            raise KeyError("LoadPointColors needs 'pixel_uv'; run "
                           'DepthToPoints(with_pixel_uv=True) first')
        image = read_color_image(source, tuple(results['depth_shape'])[:2])
        uv = np.asarray(results['pixel_uv'], np.int64).reshape(-1, 2)
        # image[v, u] for every point, as one take along the flattened pixels (the same
        # values, about 3x faster than 2-D fancy indexing for 10^5-10^6 points)
        h, w = image.shape[:2]
        if uv.shape[0] and not (0 <= uv[:, 0].min() and uv[:, 0].max() < w
                                and 0 <= uv[:, 1].min() and uv[:, 1].max() < h):
            raise ValueError(f'pixel_uv outside the {w}x{h} colour image')
        pixels = np.ascontiguousarray(image).reshape(h * w, -1)
        colors = np.take(pixels, uv[:, 1] * w + uv[:, 0], axis=0)
        results['point_colors'] = colors.reshape((-1,) + image.shape[2:])
        return results


@TRANSFORMS.register_module()
class LoadPointCloud(BaseTransform):
    """Load a camera-frame point cloud (metres) in place of a depth image.

    Keeps the finite points with ``min_depth <= z <= max_depth`` (the depth range of
    ``DepthToPoints``, so that the back-projection of a depth image loads as the same
    points as the image).

    Required keys: ``points_path`` (``.npy`` / ``.ply`` / ``.pcd`` / ``.xyz``) or
    ``points_raw`` ((N, 3) or (N, 6) xyz + rgb array): :func:`read_point_cloud`. Optional:
    ``point_colors_raw`` (N, 3) colours (uint8, or float 0-1 / 0-255).

    Added keys:
        - points (np.float32 (M, 3)): camera frame, metres.
        - aug_mat (np.float64 (4, 4)): identity.
        - point_colors (np.uint8 (M, 3)): when the cloud has colours.
        - num_input_points (int): N, before the depth range.

    Args:
        min_depth: smallest kept z, metres.
        max_depth: largest kept z, metres.

    Raises:
        ValueError: an empty cloud, colours of another length, or no point in range.
    """

    def __init__(self, min_depth: float = 0.1, max_depth: float = 2.0) -> None:
        if not 0 <= min_depth < max_depth:
            raise ValueError('need 0 <= min_depth < max_depth (metres), got '
                             f'min_depth={min_depth}, max_depth={max_depth}')
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)

    def transform(self, results: dict) -> dict:
        source = results.get('points_path')
        if source is None:
            if results.get('points_raw') is None:
                raise KeyError("LoadPointCloud needs 'points_path' or 'points_raw' in "
                               'results')
            source = results['points_raw']
        pts, colors = read_point_cloud(source)
        if results.get('point_colors_raw') is not None:
            colors = as_numpy(results['point_colors_raw'])
            if colors.shape != pts.shape:
                raise ValueError(f'colors {colors.shape} do not match points {pts.shape}')
        if pts.shape[0] == 0:
            raise ValueError('the point cloud is empty')
        lo, hi = self.min_depth, self.max_depth
        finite = np.isfinite(pts).all(axis=1)
        with np.errstate(invalid='ignore'):
            keep = finite & (pts[:, 2] > 0) & (pts[:, 2] >= lo) & (pts[:, 2] <= hi)
        if not keep.any():
            hint = (f'; the median z is {float(np.median(pts[finite, 2])):.3f} m'
                    if finite.any() else '; every point is NaN / inf')
            raise ValueError(f'no point with z within [{lo}, {hi}] m (camera frame, '
                             f'metres): empty point cloud{hint}')
        results['points'] = pts[keep].astype(np.float32)
        results['aug_mat'] = np.eye(4)
        results['num_input_points'] = int(pts.shape[0])
        if colors is not None:
            results['point_colors'] = _colors_to_uint8(colors)[keep]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(min_depth={self.min_depth}, '
                f'max_depth={self.max_depth})')
