"""Camera intrinsics and GraspNet-like camera trajectories over the table.

Frames: the table / world frame has z up and its origin at the table centre on the table top.
Camera frames are OpenCV (x right, y down, z along the optical axis). A pose ``T_world_cam``
maps camera-frame points to the world frame: ``p_world = T_world_cam @ p_cam``.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import numpy as np

__all__ = [
    'CAMERA_NAMES', 'FULL_IMAGE_SIZE', 'CAMERA_INTRINSICS', 'camera_intrinsics',
    'look_at', 'TrajectoryConfig', 'make_trajectory'
]

#: Cameras of GraspNet-1Billion.
CAMERA_NAMES = ('realsense', 'kinect')
#: (width, height) in pixels of the real GraspNet images.
FULL_IMAGE_SIZE = (1280, 720)
#: (fx, fy, cx, cy) in pixels of the real cameras at 1280x720.
CAMERA_INTRINSICS = {
    'realsense': (927.17, 927.37, 651.32, 349.62),
    'kinect': (631.55, 631.21, 638.44, 366.50),
}


def camera_intrinsics(camera: str,
                      image_size: Tuple[int, int] = FULL_IMAGE_SIZE) -> np.ndarray:
    """Intrinsic matrix of a GraspNet camera, scaled to an image size.

    Args:
        camera: ``'realsense'`` or ``'kinect'``.
        image_size: (width, height) in pixels. Focal lengths and principal point are scaled by
            ``width / 1280`` and ``height / 720``.

    Returns:
        float64 (3, 3) ``K`` in pixels: ``u = fx * x / z + cx``, ``v = fy * y / z + cy``.
    """
    if camera not in CAMERA_INTRINSICS:
        raise ValueError(f'unknown camera {camera!r}; expected one of {CAMERA_NAMES}')
    width, height = (int(s) for s in image_size)
    if width <= 0 or height <= 0:
        raise ValueError(f'image_size must be positive (width, height), got {image_size}')
    fx, fy, cx, cy = CAMERA_INTRINSICS[camera]
    sx, sy = width / FULL_IMAGE_SIZE[0], height / FULL_IMAGE_SIZE[1]
    return np.array([[fx * sx, 0.0, cx * sx], [0.0, fy * sy, cy * sy], [0.0, 0.0, 1.0]],
                    dtype=np.float64)


def look_at(eye: np.ndarray, target: np.ndarray,
            up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> np.ndarray:
    """OpenCV camera pose at ``eye`` whose optical axis points at ``target``.

    The image's "up" (-y of the camera) is the world ``up`` projected on the image plane.

    Args:
        eye: (3,) camera centre in the world frame, metres.
        target: (3,) point looked at, world frame, metres.
        up: (3,) world up direction; must not be parallel to the viewing direction.

    Returns:
        float64 (4, 4) ``T_world_cam``.
    """
    eye = np.asarray(eye, np.float64)
    z = np.asarray(target, np.float64) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    nx = np.linalg.norm(x)
    if nx < 1e-6:
        raise ValueError('viewing direction is parallel to the up vector')
    x /= nx
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, y, z, eye
    return pose


@dataclasses.dataclass(frozen=True)
class TrajectoryConfig:
    """Parameters of the camera path (angles in degrees, lengths in metres).

    The camera moves on a part of the sphere around the look-at point: ``num_sweeps``
    boustrophedon sweeps in azimuth over ``azimuth_span_deg`` while the elevation rises
    continuously from ``elevation_deg[0]`` to ``elevation_deg[1]`` and the distance to the
    look-at point goes from ``distance[1]`` to ``distance[0]``. Consecutive views are therefore
    close, as in GraspNet's robot-arm recordings. The azimuth offset of the path and a small
    offset of the look-at point are drawn per scene and camera.
    """
    elevation_deg: Tuple[float, float] = (30.0, 75.0)
    azimuth_span_deg: float = 180.0
    distance: Tuple[float, float] = (0.5, 0.7)
    num_sweeps: Optional[int] = None
    target_jitter: float = 0.02


def make_trajectory(num_views: int, rng: np.random.Generator,
                    cfg: TrajectoryConfig = TrajectoryConfig()) -> np.ndarray:
    """Camera poses along a smooth GraspNet-like path looking at the table centre.

    Args:
        num_views: Number of views (GraspNet: 256).
        rng: Random generator (azimuth offset and look-at jitter).
        cfg: Path parameters.

    Returns:
        float64 (num_views, 4, 4) ``T_world_cam`` for every view, world = table frame.
    """
    if num_views < 1:
        raise ValueError(f'num_views must be >= 1, got {num_views}')
    sweeps = cfg.num_sweeps or max(1, int(round(np.sqrt(num_views / 4.0))))
    az0 = rng.uniform(0.0, 360.0)
    target = np.zeros(3)
    target[:2] = rng.uniform(-cfg.target_jitter, cfg.target_jitter, size=2)
    s = np.linspace(0.0, sweeps, num_views, endpoint=False) if num_views > 1 else np.zeros(1)
    sweep_idx = np.floor(s).astype(int)
    frac = s - sweep_idx
    frac = np.where(sweep_idx % 2 == 0, frac, 1.0 - frac)
    progress = s / max(sweeps, 1)
    azimuth = np.deg2rad(az0 + cfg.azimuth_span_deg * frac)
    elevation = np.deg2rad(cfg.elevation_deg[0] +
                           (cfg.elevation_deg[1] - cfg.elevation_deg[0]) * progress)
    distance = cfg.distance[1] + (cfg.distance[0] - cfg.distance[1]) * progress
    poses = np.empty((num_views, 4, 4))
    for i in range(num_views):
        direction = np.array([
            np.cos(elevation[i]) * np.cos(azimuth[i]),
            np.cos(elevation[i]) * np.sin(azimuth[i]),
            np.sin(elevation[i])
        ])
        poses[i] = look_at(target + distance[i] * direction, target)
    return poses
