import numpy as np
import pytest

from graspcontrast_mm.structures import (invert_transform, make_transform,
                                         transform_points)


def look_at(eye, target=(0., 0., 0.), up=(0., 0., 1.)):
    """T_world_cam of an OpenCV camera at ``eye`` looking at ``target`` (world frame)."""
    eye, target, up = (np.asarray(a, float) for a in (eye, target, up))
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return make_transform(np.stack([x, y, z], axis=1), eye)


@pytest.fixture
def look_at_fn():
    return look_at


@pytest.fixture
def grid_scene():
    """500 world points on a jittered 2 cm lattice inside the default workspace."""
    rng = np.random.default_rng(0)
    g = np.stack(np.meshgrid(np.arange(10), np.arange(10), np.arange(5), indexing='ij'),
                 -1).reshape(-1, 3) * 0.02
    g = g - [0.09, 0.09, 0.0] + [0., 0., 0.01]
    return g + rng.uniform(-0.001, 0.001, size=g.shape)


@pytest.fixture
def two_poses():
    return look_at((0.4, 0.1, 0.5)), look_at((-0.2, 0.45, 0.4))


def make_view(points_world, cam2world, frame_id):
    return {
        'scene_id': 3, 'frame_id': frame_id, 'camera': 'realsense',
        'cam2world': cam2world,
        'points': transform_points(invert_transform(cam2world),
                                   points_world).astype(np.float32),
        'aug_mat': np.eye(4),
    }


@pytest.fixture
def make_view_fn():
    return make_view


@pytest.fixture
def intrinsics():
    return np.array([[120., 0., 40.], [0., 120., 30.], [0., 0., 1.]])

