"""Offscreen pictures of grasps: a scene cloud plus parallel-jaw gripper models.

No display and no OpenGL / EGL context are needed (Open3D's ``OffscreenRenderer`` fails
headless on machines without EGL or Vulkan): points and gripper triangles are rasterised
with a small z-buffered renderer in numpy. Grippers are coloured by score from blue (low)
to red (high), the colouring of graspnetAPI's gripper drawings and of the GraspContrast
paper's figures.

Frames and units: ``points_cam`` and the grasp rows are in the same frame (the camera
frame: OpenCV, x right, y down, z forward), metres. ``K`` is a pinhole matrix in pixels.
Images are uint8 ``(H, W, 3)`` RGB.
"""
import os
import tempfile
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.visualization import Visualizer

from graspcontrast_mm.registry import VISUALIZERS
from graspcontrast_mm.structures.frames import check_intrinsics
from graspcontrast_mm.structures.grasp import GRASP_ARRAY_LEN, GRIPPER_DEPTH_BASE
from graspcontrast_mm.structures.gripper import (GRIPPER_DRAW_FINGER_WIDTH,
                                                 GRIPPER_DRAW_TAIL_LENGTH, ParallelJawGripper)

__all__ = [
    'VIEWS', 'score_colors', 'gripper_box_mesh', 'view_camera', 'render_grasps',
    'save_grasp_picture', 'write_image', 'GraspVisualizer'
]

#: Viewpoints of :func:`render_grasps`.
VIEWS = ('camera', 'oblique')

# Drawing model of the gripper (metres): thinner than the collision model, like
# graspnetAPI's drawings, so that neighbouring grasps stay distinguishable.
_DRAW_FINGER = GRIPPER_DRAW_FINGER_WIDTH
_DRAW_TAIL = GRIPPER_DRAW_TAIL_LENGTH
# 12 triangles of a box whose 8 corners are indexed by bits (x, y, z) = (i & 1, i >> 1 & 1,
# i >> 2 & 1).
_BOX_FACES = np.array([
    [0, 2, 1], [1, 2, 3],  # z = min
    [4, 5, 6], [5, 7, 6],  # z = max
    [0, 1, 4], [1, 5, 4],  # y = min
    [2, 6, 3], [3, 6, 7],  # y = max
    [0, 4, 2], [2, 4, 6],  # x = min
    [1, 3, 5], [3, 7, 5],  # x = max
], dtype=np.int64)


def score_colors(scores: np.ndarray,
                 score_range: Optional[Tuple[float, float]] = None) -> np.ndarray:
    """Blue (low) to red (high) colours of grasp scores.

    ``colour = s * red + (1 - s) * blue`` with ``s`` the score mapped linearly from
    ``score_range`` to ``[0, 1]`` (clipped).

    Args:
        scores: (K,) grasp scores.
        score_range: ``(low, high)``; None: the scores' own minimum and maximum, or, when
            they are all equal, ``(0, 1)``.

    Returns:
        np.ndarray: uint8 (K, 3) RGB colours.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if scores.size == 0:
        return np.zeros((0, 3), np.uint8)
    if score_range is None:
        lo, hi = float(np.min(scores)), float(np.max(scores))
        if not hi - lo > 1e-9:
            lo, hi = 0.0, 1.0
    else:
        lo, hi = (float(v) for v in score_range)
        if not hi > lo:
            raise ValueError(f'score_range must be (low, high) with low < high, got '
                             f'{score_range}')
    s = np.clip((scores - lo) / (hi - lo), 0.0, 1.0)
    rgb = np.stack([s, np.zeros_like(s), 1.0 - s], axis=1) * 255.0
    return np.rint(rgb).astype(np.uint8)


def gripper_box_mesh(grasps: np.ndarray,
                     finger_width: float = _DRAW_FINGER,
                     tail_length: float = _DRAW_TAIL,
                     depth_base: float = GRIPPER_DEPTH_BASE) -> Tuple[np.ndarray, np.ndarray]:
    """Triangle mesh of the gripper drawings (4 boxes per grasp,
    :meth:`~graspcontrast_mm.structures.gripper.ParallelJawGripper.drawing_boxes`).

    In the gripper frame (x approach, y closing, z thickness): two fingers from
    ``x = -depth_base - finger_width`` to ``x = depth`` just outside ``|y| = width / 2``, the
    palm behind them, and a tail of ``tail_length`` along ``-x``; thickness
    ``finger_width`` along z.

    Args:
        grasps: (K, 17) grasp rows, metres.
        finger_width: finger / palm / tail thickness, metres.
        tail_length: tail length, metres.
        depth_base: finger length behind the grasp point, metres.

    Returns:
        tuple: float64 (K * 32, 3) vertices in the frame of the grasps, and int64
        (K * 48, 3) triangles (vertex indices); the triangles of grasp ``k`` are rows
        ``48 k .. 48 k + 47``.
    """
    grasps = np.asarray(grasps, dtype=np.float64).reshape(-1, GRASP_ARRAY_LEN)
    k = grasps.shape[0]
    if k == 0:
        return np.zeros((0, 3)), np.zeros((0, 3), np.int64)
    # (K, 4 boxes, 6) = [xmin, xmax, ymin, ymax, zmin, zmax]
    boxes = ParallelJawGripper(depth_base=depth_base).drawing_boxes(
        grasps[:, 1], grasps[:, 3], finger_width=finger_width, tail_length=tail_length)
    bits = np.arange(8)
    corners = np.stack([
        boxes[..., 0:2][..., bits & 1],
        boxes[..., 2:4][..., (bits >> 1) & 1],
        boxes[..., 4:6][..., (bits >> 2) & 1],
    ], axis=-1)  # (K, 4, 8, 3) gripper frame
    rot = grasps[:, 4:13].reshape(k, 3, 3)
    verts = np.einsum('kij,kbcj->kbci', rot, corners) + grasps[:, None, None, 13:16]
    faces = (_BOX_FACES[None, None] + (np.arange(k * 4) * 8).reshape(k, 4, 1, 1))
    return verts.reshape(-1, 3), faces.reshape(-1, 3)


def _look_at(eye: np.ndarray, target: np.ndarray, down: np.ndarray) -> np.ndarray:
    """``T_view_ref`` of an OpenCV camera at ``eye`` looking at ``target`` (ref frame)."""
    z = target - eye
    z = z / np.linalg.norm(z)
    x = np.cross(down, z)
    if np.linalg.norm(x) < 1e-9:  # looking along ``down``: pick any perpendicular
        x = np.cross(np.array([1.0, 0.0, 0.0]), z)
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    T_ref_view = np.eye(4)
    T_ref_view[:3, :3] = np.stack([x, y, z], axis=1)
    T_ref_view[:3, 3] = eye
    T_view_ref = np.eye(4)
    T_view_ref[:3, :3] = T_ref_view[:3, :3].T
    T_view_ref[:3, 3] = -T_ref_view[:3, :3].T @ eye
    return T_view_ref


def view_camera(points_cam: np.ndarray,
                K: Optional[np.ndarray] = None,
                image_size: Optional[Tuple[int, int]] = None,
                view: str = 'camera',
                *,
                K_image_size: Optional[Tuple[int, int]] = None,
                elevation_deg: float = 40.0,
                azimuth_deg: float = 25.0) -> Tuple[np.ndarray, np.ndarray, Tuple[int, int]]:
    """Virtual camera of a picture.

    - ``view='camera'`` with ``K``: the sensor itself (``T_view_cam`` = identity); ``K``
      is rescaled from ``K_image_size`` (default ``(round(2 cx), round(2 cy))``) to
      ``image_size``.
    - ``view='camera'`` without ``K``: a camera at the sensor's origin looking at the
      median of the points, focal length fitted to the points.
    - ``view='oblique'``: the viewpoint is rotated about the scene centre (median point)
      by ``elevation_deg`` around the camera x axis (towards the camera's "up", -y), then
      by ``azimuth_deg`` around the camera y axis, and looks at the centre; focal length
      fitted to the points.

    Args:
        points_cam: (N, 3) points that must be in the picture, camera frame, metres.
        K: optional (3, 3) sensor intrinsics, pixels.
        image_size: ``(W, H)`` of the picture (default: ``K_image_size`` with ``K``, else
            640 x 480).
        view: ``'camera'`` or ``'oblique'``.
        K_image_size: ``(W, H)`` that ``K`` refers to.
        elevation_deg: rotation of the oblique viewpoint about the camera x axis, degrees.
        azimuth_deg: rotation of the oblique viewpoint about the camera y axis, degrees.

    Returns:
        tuple: ``T_view_cam`` float64 (4, 4), ``K_view`` float64 (3, 3) pixels, and
        ``(W, H)``.
    """
    if view not in VIEWS:
        raise ValueError(f'view must be one of {VIEWS}, got {view!r}')
    pts = np.asarray(points_cam, dtype=np.float64).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if K is not None:
        K = check_intrinsics(K)  # (3, 3), finite, positive focal lengths
        if K_image_size is None:
            K_image_size = (max(1, int(round(2 * K[0, 2]))), max(1, int(round(2 * K[1, 2]))))
    if image_size is None:
        image_size = tuple(K_image_size) if (K is not None and view == 'camera') \
            else (640, 480)
    W, H = int(image_size[0]), int(image_size[1])
    if W < 1 or H < 1:
        raise ValueError(f'image_size must be positive (W, H), got {image_size}')
    if view == 'camera' and K is not None:
        scale = np.diag([W / K_image_size[0], H / K_image_size[1], 1.0])
        return np.eye(4), scale @ K, (W, H)
    if pts.shape[0] == 0:
        raise ValueError('a picture without K needs at least one finite point to aim at')
    target = np.median(pts, axis=0)
    down = np.array([0.0, 1.0, 0.0])
    if view == 'camera':
        eye = np.zeros(3)
    else:
        a = np.radians(elevation_deg)
        b = np.radians(azimuth_deg)
        rx = np.array([[1, 0, 0], [0, np.cos(a), np.sin(a)], [0, -np.sin(a), np.cos(a)]])
        ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
        eye = target + ry @ rx @ (np.zeros(3) - target)
    if np.linalg.norm(target - eye) < 1e-6:
        eye = target - np.array([0.0, 0.0, 0.5])
    T = _look_at(eye, target, down)
    local = pts @ T[:3, :3].T + T[:3, 3]
    local = local[local[:, 2] > 1e-3]
    if local.shape[0] == 0:
        f = float(min(W, H))
    else:
        xn = np.percentile(np.abs(local[:, 0] / local[:, 2]), 99.5)
        yn = np.percentile(np.abs(local[:, 1] / local[:, 2]), 99.5)
        f = 0.45 * min(W / max(xn, 1e-6), H / max(yn, 1e-6))
    K_view = np.array([[f, 0, (W - 1) / 2.0], [0, f, (H - 1) / 2.0], [0, 0, 1.0]])
    return T, K_view, (W, H)


def _as_point_colors(colors: Optional[np.ndarray], n: int,
                     depth: np.ndarray) -> np.ndarray:
    if colors is None:
        if n == 0:
            return np.zeros((0, 3), np.uint8)
        lo, hi = np.percentile(depth, [2, 98]) if n > 1 else (depth[0], depth[0] + 1)
        t = np.clip((depth - lo) / max(hi - lo, 1e-6), 0, 1)
        grey = np.rint(200.0 - 110.0 * t).astype(np.uint8)  # near = light
        return np.repeat(grey[:, None], 3, axis=1)
    colors = np.asarray(colors)
    if colors.shape != (n, 3):
        raise ValueError(f'colors must have shape ({n}, 3) like the points, got '
                         f'{colors.shape}')
    if np.issubdtype(colors.dtype, np.floating):
        scale = 255.0 if float(np.nanmax(colors, initial=0.0)) <= 1.0 else 1.0
        colors = np.clip(np.nan_to_num(colors) * scale, 0, 255)
    return np.asarray(colors).astype(np.uint8)


def _raster_points(img: np.ndarray, zbuf: np.ndarray, uvz: np.ndarray,
                   colors: np.ndarray, radius: int) -> None:
    H, W = zbuf.shape
    off = np.arange(-radius, radius + 1)
    du, dv = np.meshgrid(off, off, indexing='xy')
    u = (np.rint(uvz[:, 0]).astype(np.int64)[:, None] + du.reshape(1, -1)).reshape(-1)
    v = (np.rint(uvz[:, 1]).astype(np.int64)[:, None] + dv.reshape(1, -1)).reshape(-1)
    z = np.repeat(uvz[:, 2], du.size)
    c = np.repeat(colors, du.size, axis=0)
    ok = (u >= 0) & (u < W) & (v >= 0) & (v < H)
    pix = v[ok] * W + u[ok]
    z, c = z[ok], c[ok]
    flat_z = zbuf.reshape(-1)
    np.minimum.at(flat_z, pix, z)
    win = z <= flat_z[pix]
    img.reshape(-1, 3)[pix[win]] = c[win]


def _raster_triangles(img: np.ndarray, zbuf: np.ndarray, tri_uv: np.ndarray,
                      tri_z: np.ndarray, tri_colors: np.ndarray) -> None:
    """Z-buffered flat-coloured triangles; depth interpolated perspective-correctly."""
    H, W = zbuf.shape
    for (p0, p1, p2), z3, col in zip(tri_uv, tri_z, tri_colors):
        umin = max(int(np.floor(min(p0[0], p1[0], p2[0]))), 0)
        umax = min(int(np.ceil(max(p0[0], p1[0], p2[0]))), W - 1)
        vmin = max(int(np.floor(min(p0[1], p1[1], p2[1]))), 0)
        vmax = min(int(np.ceil(max(p0[1], p1[1], p2[1]))), H - 1)
        if umin > umax or vmin > vmax:
            continue
        area = (p1[0] - p0[0]) * (p2[1] - p0[1]) - (p1[1] - p0[1]) * (p2[0] - p0[0])
        if abs(area) < 1e-12:
            continue
        uu = np.arange(umin, umax + 1, dtype=np.float64)[None, :]
        vv = np.arange(vmin, vmax + 1, dtype=np.float64)[:, None]
        w0 = ((p1[0] - uu) * (p2[1] - vv) - (p1[1] - vv) * (p2[0] - uu)) / area
        w1 = ((p2[0] - uu) * (p0[1] - vv) - (p2[1] - vv) * (p0[0] - uu)) / area
        w2 = 1.0 - w0 - w1
        inside = (w0 >= -1e-9) & (w1 >= -1e-9) & (w2 >= -1e-9)
        if not inside.any():
            continue
        inv_z = w0 / z3[0] + w1 / z3[1] + w2 / z3[2]
        z = 1.0 / inv_z[inside]
        rows, cols = np.nonzero(inside)
        rows = rows + vmin
        cols = cols + umin
        closer = z < zbuf[rows, cols]
        zbuf[rows[closer], cols[closer]] = z[closer]
        img[rows[closer], cols[closer]] = col


def render_grasps(points_cam: Optional[np.ndarray] = None,
                  colors: Optional[np.ndarray] = None,
                  grasps: Optional[np.ndarray] = None,
                  K: Optional[np.ndarray] = None,
                  image_size: Optional[Tuple[int, int]] = None,
                  view: str = 'camera',
                  *,
                  K_image_size: Optional[Tuple[int, int]] = None,
                  elevation_deg: float = 40.0,
                  azimuth_deg: float = 25.0,
                  score_range: Optional[Tuple[float, float]] = None,
                  grasp_colors: Optional[np.ndarray] = None,
                  max_grasps: Optional[int] = 50,
                  max_points: Optional[int] = 200_000,
                  point_radius: Optional[int] = 1,
                  background: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """Render a scene cloud with gripper models, offscreen.

    Args:
        points_cam: (N, 3) scene points, camera frame, metres (may be None / empty when
            grasps are given).
        colors: optional (N, 3) point colours, uint8 or float in [0, 1]; default: grey
            shaded by depth (near = light).
        grasps: optional (K, 17) graspnetAPI rows in the camera frame (a ``GraspGroup``
            is accepted too); drawn in their order, at most ``max_grasps`` of the highest
            score.
        K: optional (3, 3) intrinsics of the sensor, pixels (see :func:`view_camera`).
        image_size: ``(W, H)`` of the picture, pixels.
        view: ``'camera'`` (the sensor's viewpoint) or ``'oblique'``.
        K_image_size: ``(W, H)`` that ``K`` refers to (default ``(2 cx, 2 cy)``).
        elevation_deg, azimuth_deg: rotations of the oblique viewpoint, degrees (see
            :func:`view_camera`).
        score_range: score mapped to blue / red (see :func:`score_colors`).
        grasp_colors: optional (K, 3) uint8 colours overriding the score colours.
        max_grasps: draw at most this many grasps (None: all).
        max_points: draw a fixed random subset of at most this many points (None: all).
        point_radius: points are drawn as squares of ``2 r + 1`` pixels (default 1).
        background: RGB of empty pixels.

    Returns:
        np.ndarray: uint8 (H, W, 3) RGB picture.
    """
    pts = np.zeros((0, 3)) if points_cam is None else np.asarray(points_cam, np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f'points_cam must have shape (N, 3), got {pts.shape}')
    if grasps is None:
        grasps = np.zeros((0, GRASP_ARRAY_LEN))
    grasps = np.asarray(getattr(grasps, 'grasp_group_array', grasps), np.float64)
    if grasps.ndim != 2 or grasps.shape[1] != GRASP_ARRAY_LEN:
        raise ValueError(f'grasps must have shape (K, {GRASP_ARRAY_LEN}), got '
                         f'{grasps.shape}')
    finite = np.isfinite(pts).all(axis=1)
    if colors is not None:
        colors = np.asarray(colors)
        if colors.shape != (pts.shape[0], 3):
            raise ValueError(f'colors must have shape ({pts.shape[0]}, 3) like the points, '
                             f'got {colors.shape}')
        colors = colors[finite]
    pts = pts[finite]
    if max_points is not None and pts.shape[0] > max_points:
        sel = np.sort(np.random.default_rng(0).choice(pts.shape[0], max_points,
                                                      replace=False))
        pts = pts[sel]
        colors = None if colors is None else colors[sel]
    if grasp_colors is not None:
        grasp_colors = np.asarray(grasp_colors, np.uint8).reshape(-1, 3)
        if grasp_colors.shape[0] != grasps.shape[0]:
            raise ValueError('grasp_colors must have one row per grasp')
    keep = np.isfinite(grasps).all(axis=1)
    grasps = grasps[keep]
    g_colors = score_colors(grasps[:, 0], score_range) if grasp_colors is None \
        else grasp_colors[keep]
    if max_grasps is not None and grasps.shape[0] > max_grasps:
        top = np.argsort(-grasps[:, 0], kind='stable')[:max_grasps]
        grasps, g_colors = grasps[top], g_colors[top]
    aim = pts if pts.shape[0] else grasps[:, 13:16]
    T, K_view, (W, H) = view_camera(aim, K, image_size, view, K_image_size=K_image_size,
                                    elevation_deg=elevation_deg, azimuth_deg=azimuth_deg)
    img = np.empty((H, W, 3), np.uint8)
    img[:] = np.asarray(background, np.uint8).reshape(1, 3)
    zbuf = np.full((H, W), np.inf)
    near = 1e-3
    if pts.shape[0]:
        local = pts @ T[:3, :3].T + T[:3, 3]
        front = local[:, 2] > near
        cols = _as_point_colors(colors, pts.shape[0], local[:, 2])[front]
        local = local[front]
        uvz = np.stack([K_view[0, 0] * local[:, 0] / local[:, 2] + K_view[0, 2],
                        K_view[1, 1] * local[:, 1] / local[:, 2] + K_view[1, 2],
                        local[:, 2]], axis=1)
        radius = 1 if point_radius is None else point_radius
        _raster_points(img, zbuf, uvz, cols, int(radius))
    if grasps.shape[0]:
        verts, faces = gripper_box_mesh(grasps)
        local = verts @ T[:3, :3].T + T[:3, 3]
        tri = local[faces]  # (F, 3, 3)
        ok = (tri[:, :, 2] > near).all(axis=1)
        normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        norm = np.linalg.norm(normals, axis=1)
        ok &= norm > 0
        centre = tri.mean(axis=1)
        cos = np.abs(np.einsum('fi,fi->f', normals, centre)) / np.maximum(
            norm * np.linalg.norm(centre, axis=1), 1e-12)
        shade = 0.45 + 0.55 * cos
        face_col = np.repeat(g_colors, 48, axis=0).astype(np.float64) * shade[:, None]
        tri, face_col = tri[ok], np.rint(face_col[ok]).astype(np.uint8)
        uv = np.stack([K_view[0, 0] * tri[..., 0] / tri[..., 2] + K_view[0, 2],
                       K_view[1, 1] * tri[..., 1] / tri[..., 2] + K_view[1, 2]], axis=-1)
        _raster_triangles(img, zbuf, uv, tri[..., 2], face_col)
    return img


def write_image(path: Union[str, os.PathLike], image: np.ndarray) -> str:
    """Write an RGB uint8 image (PNG / JPEG by extension) atomically.

    Args:
        path: output file; its folder is created.
        image: uint8 (H, W, 3) RGB.

    Returns:
        str: the path written.
    """
    import cv2
    path = os.fspath(path)
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'image must be uint8 (H, W, 3), got {image.dtype} {image.shape}')
    ext = os.path.splitext(path)[1] or '.png'
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(image[:, :, ::-1]))
    if not ok:
        raise ValueError(f'cannot encode an image as {ext!r} for {path}')
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp_', suffix=ext, dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(buf.tobytes())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def save_grasp_picture(path: Union[str, os.PathLike], points_cam: Optional[np.ndarray] = None,
                       colors: Optional[np.ndarray] = None,
                       grasps: Optional[np.ndarray] = None, **kwargs) -> np.ndarray:
    """Render with :func:`render_grasps` and write the picture to ``path`` (atomic).

    Args:
        path: output image file (``.png`` / ``.jpg``).
        points_cam, colors, grasps: see :func:`render_grasps`.
        **kwargs: further arguments of :func:`render_grasps`.

    Returns:
        np.ndarray: the uint8 (H, W, 3) picture.
    """
    image = render_grasps(points_cam, colors, grasps, **kwargs)
    write_image(path, image)
    return image


@VISUALIZERS.register_module()
class GraspVisualizer(Visualizer):
    """mmengine visualizer of grasp scenes (offscreen, see :func:`render_grasps`).

    Args:
        name: instance name (mmengine's ``ManagerMixin``).
        vis_backends: mmengine visualization backends (``add_image`` targets).
        save_dir: folder of the backends.
        image_size: default ``(W, H)`` of pictures.
        view: default viewpoint, ``'camera'`` or ``'oblique'``.
        max_grasps: default number of grasps drawn.
    """

    def __init__(self,
                 name: str = 'grasp_visualizer',
                 vis_backends: Optional[list] = None,
                 save_dir: Optional[str] = None,
                 image_size: Optional[Tuple[int, int]] = None,
                 view: str = 'camera',
                 max_grasps: Optional[int] = 50) -> None:
        super().__init__(name=name, vis_backends=vis_backends, save_dir=save_dir)
        if view not in VIEWS:
            raise ValueError(f'view must be one of {VIEWS}, got {view!r}')
        self.image_size = image_size
        self.view = view
        self.max_grasps = max_grasps

    def draw_grasp_scene(self, points_cam: Optional[np.ndarray], grasps: Optional[np.ndarray],
                         colors: Optional[np.ndarray] = None,
                         K: Optional[np.ndarray] = None, **kwargs) -> np.ndarray:
        """Render a scene (see :func:`render_grasps`) and make it the current image.

        Returns:
            np.ndarray: uint8 (H, W, 3) RGB picture.
        """
        kwargs.setdefault('image_size', self.image_size)
        kwargs.setdefault('view', self.view)
        kwargs.setdefault('max_grasps', self.max_grasps)
        image = render_grasps(points_cam, colors, grasps, K, **kwargs)
        self.set_image(image)
        return image

    def add_datasample(self, name: str, image: Optional[np.ndarray] = None,
                       data_sample=None, draw_gt: bool = False, draw_pred: bool = True,
                       show: bool = False, wait_time: float = 0,
                       out_file: Optional[str] = None, step: int = 0,
                       points_cam: Optional[np.ndarray] = None,
                       colors: Optional[np.ndarray] = None,
                       K: Optional[np.ndarray] = None, **kwargs) -> np.ndarray:
        """Picture of the predicted grasps of one data sample.

        The grasps are ``data_sample.pred_grasps`` (K, 17) (camera frame); the points are
        ``points_cam`` or, when None, ``data_sample.scene_points``. ``image`` (an RGB
        picture made elsewhere) is shown / saved as it is when given.

        Args:
            name: image name for the backends.
            image: optional ready picture.
            data_sample: a data sample with ``pred_grasps`` (and ``scene_points``).
            draw_gt: unused (no ground-truth drawing).
            draw_pred: draw the predicted grasps.
            show: show in a window (needs a display).
            wait_time: see :meth:`mmengine.visualization.Visualizer.show`.
            out_file: write the picture to this file instead of the backends.
            step: backend step.
            points_cam, colors, K: scene and camera (see :func:`render_grasps`).
            **kwargs: further arguments of :func:`render_grasps`.

        Returns:
            np.ndarray: the uint8 (H, W, 3) picture.
        """
        if image is None:
            grasps = getattr(data_sample, 'pred_grasps', None) if draw_pred else None
            if points_cam is None and data_sample is not None:
                points_cam = getattr(data_sample, 'scene_points', None)
            image = self.draw_grasp_scene(points_cam, grasps, colors, K, **kwargs)
        else:
            self.set_image(image)
        if show:
            self.show(image, win_name=name, wait_time=wait_time)
        if out_file is not None:
            write_image(out_file, image)
        else:
            self.add_image(name, image, step)
        return image
