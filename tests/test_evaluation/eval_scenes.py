"""Generated scenes and grasp sets for the evaluator exactness tests.

One labelled scene (id 100, ``test_seen``) seen by both cameras, 2 views of 320x180, with
four objects of different shapes: the 50 mm cube (0), the r25 x 100 mm cylinder (4), the
r30 mm sphere (9) and a procedural blob (20).
"""
import numpy as np
from scipy.spatial.transform import Rotation

from graspcontrast_mm.evaluation.graspnet_eval import (load_frame_label_grasps,
                                                       load_frame_objects)
from graspcontrast_mm.structures.grasp import make_grasp_array

SCENE = 100
CAMERAS = ('realsense', 'kinect')
NUM_VIEWS = 2
OBJECT_POOL = (0, 4, 9, 20)


def generate(root: str) -> str:
    from graspcontrast_mm.synthetic import generate_dataset
    from graspcontrast_mm.synthetic.generator import get_preset
    pools = {'seen': OBJECT_POOL, 'similar': OBJECT_POOL, 'novel': OBJECT_POOL}
    cfg, _ = get_preset('tiny', num_views=NUM_VIEWS, image_size=(320, 180), noise=False,
                        write_rgb=False, num_objects=(4, 4), object_pools=pools,
                        cameras=CAMERAS, with_labels=True)
    generate_dataset(root, 'tiny', config=cfg, scene_ids=[SCENE], progress=False)
    return root


def frame_objects(root, camera, frame, scene=SCENE):
    """Object ids and float64 poses ``T_cam_obj`` from ``meta/NNNN.mat``."""
    ids, poses = load_frame_objects(root, scene, camera, frame, pose_source='meta')
    return np.asarray(ids), np.asarray(poses, np.float64).reshape(-1, 4, 4)


def gt_grasps(root, camera, frame, scene=SCENE):
    """Ground-truth grasps of a frame (graspnetAPI ``loadGrasp``'s rule, mu <= 0.4)."""
    return load_frame_label_grasps(root, scene, camera, frame)[0]


def perturbed_grasps(root, camera, frame, num=240, seed=0, scene=SCENE):
    """Ground-truth grasps moved by ~3 mm and turned by ~5 degrees, with random scores,
    every other depth redrawn, widths widened by up to 2 cm and a quarter of them wider
    than the 0.1 m the evaluator clips to."""
    rng = np.random.default_rng(seed)
    gt = gt_grasps(root, camera, frame, scene)
    g = gt[rng.choice(len(gt), num, replace=False)].copy()
    turn = Rotation.from_rotvec(rng.normal(0, np.deg2rad(5), (num, 3))).as_matrix()
    rot = np.matmul(g[:, 4:13].reshape(-1, 3, 3).astype(np.float64), turn)
    g[:, 4:13] = rot.reshape(-1, 9)
    g[:, 13:16] += rng.normal(0, 0.003, (num, 3))
    g[:, 0] = rng.uniform(0.2, 1, num)
    g[::2, 3] = rng.choice([0.01, 0.02, 0.03, 0.04], len(g[::2]))
    g[:, 1] += rng.uniform(0, 0.02, num)
    g[::4, 1] = rng.uniform(0.1, 0.16, len(g[::4]))
    return g


def random_grasps(root, camera, frame, num=120, seed=0, scene=SCENE):
    """Random grasps within 5 cm of the object centres, random orientation and scores."""
    rng = np.random.default_rng(seed)
    _, poses = frame_objects(root, camera, frame, scene)
    centres = poses[rng.integers(len(poses), size=num), :3, 3]
    return make_grasp_array(rng.uniform(0, 0.6, num), rng.uniform(0.01, 0.1, num),
                            rng.choice([0.01, 0.02, 0.03, 0.04], num),
                            Rotation.random(num, random_state=seed).as_matrix(),
                            centres + rng.uniform(-0.05, 0.05, (num, 3)))
