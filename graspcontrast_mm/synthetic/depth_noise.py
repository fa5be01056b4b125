"""Depth sensor noise model (RealSense / Kinect-like) and millimetre quantisation.

The model turns an exact z-depth image (metres) into a sensor-like uint16 depth PNG
(millimetres, 0 = no measurement). Applied in this order, all random draws from one
``numpy.random.Generator``:

1. **Axial noise** (along the optical axis), after Nguyen, Izadi and Lovell (3DIMPVT 2012):
   ``sigma_z(z, theta) = a + b * (z - z0)^2 + c / sqrt(z) * theta^2 / (pi/2 - theta)^2``
   metres, ``theta`` the angle between ray and surface normal. A fraction
   ``correlated_fraction`` of the variance is spatially correlated (Gaussian noise on a grid
   of ``correlated_cell_px`` pixels, bilinearly upsampled), the rest is per pixel.
2. **Edge effects** at depth discontinuities (4-neighbour jump > ``edge_jump`` metres):
   with probability ``edge_dropout_prob`` the pixel is invalid (the usual "shadow" of
   stereo / ToF sensors), with ``flying_pixel_prob`` it becomes a flying pixel (depth mixed
   uniformly between the near and far side), with ``lateral_jitter_prob`` it takes the depth
   of a random 8-neighbour (the edge moves by a pixel).
3. **Grazing-angle dropout**: invalid with probability rising linearly from 0 at
   ``grazing_start_deg`` to 1 at ``grazing_full_deg`` (angle between ray and normal).
4. **Holes**: ``Poisson(holes_per_frame)`` elliptical holes of radius in
   ``hole_radius_px`` (at 1280 px width; scaled with the image) and independent pixel
   dropout with probability ``pixel_dropout_prob``.
5. **Range**: depths outside ``[min_depth, max_depth]`` are invalid.
6. **Quantisation** to whole millimetres (``round(1000 * z)``).

Pixel sizes given "at 1280 px width" are scaled by ``width / 1280``.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import numpy as np

__all__ = ['DepthNoiseConfig', 'NOISE_PRESETS', 'apply_depth_noise', 'quantize_depth_mm']


@dataclasses.dataclass(frozen=True)
class DepthNoiseConfig:
    """Parameters of :func:`apply_depth_noise` (lengths in metres, angles in degrees)."""
    axial_base: float = 0.0012
    axial_quadratic: float = 0.0019
    axial_ref_depth: float = 0.4
    axial_angle_coeff: float = 0.0001
    correlated_fraction: float = 0.5
    correlated_cell_px: float = 8.0
    edge_jump: float = 0.01
    edge_dropout_prob: float = 0.3
    flying_pixel_prob: float = 0.2
    lateral_jitter_prob: float = 0.3
    grazing_start_deg: float = 72.0
    grazing_full_deg: float = 86.0
    holes_per_frame: float = 3.0
    hole_radius_px: Tuple[float, float] = (3.0, 12.0)
    pixel_dropout_prob: float = 0.002
    min_depth: float = 0.15
    max_depth: float = 3.0


#: Per-camera noise parameters. RealSense D415 (active stereo): axial noise grows quickly
#: with depth, more holes; Kinect Azure (time of flight): lower axial noise, more flying
#: pixels at edges.
NOISE_PRESETS = {
    'realsense': DepthNoiseConfig(),
    'kinect': DepthNoiseConfig(axial_base=0.0008, axial_quadratic=0.0012,
                               edge_dropout_prob=0.2, flying_pixel_prob=0.4,
                               lateral_jitter_prob=0.2, holes_per_frame=1.5,
                               min_depth=0.25),
}


def quantize_depth_mm(depth_m: np.ndarray, min_depth: float = 0.0,
                      max_depth: float = 65.535) -> np.ndarray:
    """Quantise a depth image (metres) to uint16 millimetres; out-of-range -> 0.

    Args:
        depth_m: float (H, W) z-depth, metres, 0 = invalid.

    Returns:
        uint16 (H, W) depth in millimetres, 0 = invalid.
    """
    depth_m = np.asarray(depth_m, np.float64)
    valid = np.isfinite(depth_m) & (depth_m > max(min_depth, 0.0)) & (depth_m <= max_depth)
    mm = np.where(valid, np.round(depth_m * 1000.0), 0.0)
    return np.clip(mm, 0, 65535).astype(np.uint16)


def _upsample_noise(rng: np.random.Generator, shape, cell: float) -> np.ndarray:
    import cv2
    h, w = shape
    gh, gw = max(2, int(np.ceil(h / cell)) + 1), max(2, int(np.ceil(w / cell)) + 1)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)


def apply_depth_noise(depth_m: np.ndarray, cos_incidence: np.ndarray,
                      rng: np.random.Generator,
                      cfg: Optional[DepthNoiseConfig] = None) -> np.ndarray:
    """Apply the sensor noise model and quantise.

    Args:
        depth_m: float32 (H, W) exact z-depth in the camera frame, metres, 0 = no surface.
        cos_incidence: float32 (H, W) |cos| of the ray / surface-normal angle.
        rng: Random generator (the output is a deterministic function of its state).
        cfg: Noise parameters (``None``: the RealSense preset).

    Returns:
        uint16 (H, W) depth in millimetres, 0 = no measurement.
    """
    cfg = cfg or NOISE_PRESETS['realsense']
    h, w = depth_m.shape
    px_scale = w / 1280.0
    z = np.asarray(depth_m, np.float64)
    valid = z > 0
    theta = np.arccos(np.clip(cos_incidence.astype(np.float64), 0.0, 1.0))

    # 1. axial noise
    z_safe = np.where(valid, z, 1.0)
    theta_c = np.minimum(theta, np.deg2rad(85.0))
    sigma = (cfg.axial_base + cfg.axial_quadratic * (z_safe - cfg.axial_ref_depth)**2 +
             cfg.axial_angle_coeff / np.sqrt(z_safe) * theta_c**2 /
             (np.pi / 2 - theta_c)**2)
    wc = np.sqrt(np.clip(cfg.correlated_fraction, 0.0, 1.0))
    cell = max(1.0, cfg.correlated_cell_px * px_scale)
    noise = wc * _upsample_noise(rng, (h, w), cell) + \
        np.sqrt(1 - wc**2) * rng.standard_normal((h, w))
    noisy = np.where(valid, z + sigma * noise, 0.0)

    # 2. edges (found on the exact depth; invalid neighbours count as far)
    far = np.where(valid, z, 10.0)
    pad = np.pad(far, 1, mode='edge')
    neigh = np.stack([pad[1:-1, :-2], pad[1:-1, 2:], pad[:-2, 1:-1], pad[2:, 1:-1]])
    jump = np.abs(neigh - far[None]).max(0)
    edge = valid & (jump > cfg.edge_jump)
    r = rng.random((h, w))
    p0 = cfg.edge_dropout_prob
    p1 = p0 + cfg.flying_pixel_prob
    p2 = p1 + cfg.lateral_jitter_prob
    drop_edge = edge & (r < p0)
    flying = edge & (r >= p0) & (r < p1)
    jitter = edge & (r >= p1) & (r < p2)
    if flying.any():
        near_d = np.minimum(neigh.min(0), far)
        far_d = np.minimum(np.maximum(neigh.max(0), far), z_safe + 0.3)
        mix = rng.random((h, w))
        noisy = np.where(flying, near_d + mix * (far_d - near_d), noisy)
    if jitter.any():
        offs = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0),
                         (1, 1)])
        choice = offs[rng.integers(0, 8, size=(h, w))]
        rows, cols = np.nonzero(jitter)
        rr = np.clip(rows + choice[rows, cols, 0], 0, h - 1)
        cc = np.clip(cols + choice[rows, cols, 1], 0, w - 1)
        noisy[rows, cols] = noisy[rr, cc]
    noisy[drop_edge] = 0.0

    # 3. grazing-angle dropout
    theta_deg = np.rad2deg(theta)
    p_graze = np.clip((theta_deg - cfg.grazing_start_deg) /
                      max(cfg.grazing_full_deg - cfg.grazing_start_deg, 1e-6), 0.0, 1.0)
    noisy[rng.random((h, w)) < p_graze] = 0.0

    # 4. holes and pixel dropout
    n_holes = rng.poisson(cfg.holes_per_frame)
    for _ in range(n_holes):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = np.maximum(rng.uniform(*cfg.hole_radius_px, size=2) * px_scale, 0.5)
        ang = rng.uniform(0, np.pi)
        rad = int(np.ceil(max(rx, ry))) + 1
        y0, y1 = max(0, int(cy) - rad), min(h, int(cy) + rad + 1)
        x0, x1 = max(0, int(cx) - rad), min(w, int(cx) + rad + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        dy, dx = yy - cy, xx - cx
        a = (dx * np.cos(ang) + dy * np.sin(ang)) / rx
        b = (-dx * np.sin(ang) + dy * np.cos(ang)) / ry
        noisy[y0:y1, x0:x1][a * a + b * b <= 1.0] = 0.0
    noisy[rng.random((h, w)) < cfg.pixel_dropout_prob] = 0.0

    # 5-6. range and quantisation
    return quantize_depth_mm(noisy, cfg.min_depth, cfg.max_depth)
