"""Loading of depth images."""
import os.path as osp
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from graspcontrast_mm.registry import TRANSFORMS

__all__ = ['LoadDepthImage', 'read_depth_image', 'read_single_channel_image']


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
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}')
    if path.endswith('.npy'):
        raw = np.load(path)
    else:
        import cv2
        raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise ValueError(f'could not decode {what} {path}')
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
