"""Edge cases of the parallel-jaw gripper shared by the tests of its users: points on,
just inside and just outside the faces of graspnetAPI's collision gripper (finger width
0.01, depth base 0.02, height 0.02 m) for a grasp of opening ``W`` and depth ``D``, in the
gripper frame (x approach, y closing), with hand-set expectations."""
import numpy as np

# opening and depth exact in float32, as grasp rows store them
W, D = 0.0625, 0.015625                 # jaw opening and grasp depth, metres
FW, DB, H = 0.01, 0.02, 0.02            # graspnetAPI's finger width, depth base, height
E = 1e-4                                # "just" inside / outside
HW = W / 2
OUT = HW + FW                           # outer finger face, |y|
BACK = -(DB + FW)                       # back face of the palm, x

# (name, point in the gripper frame, solid, closing): hand-set expectations
CASES = [
    ('closing centre', (0.01, 0.0, 0.0), False, True),
    ('on the inner finger face', (0.0, HW, 0.0), False, True),
    ('on the other inner face', (0.0, -HW, 0.0), False, True),
    ('just inside a finger', (0.0, HW + E, 0.0), True, False),
    ('just inside the other finger', (0.0, -HW - E, 0.0), True, False),
    ('just inside the outer face', (0.0, OUT - E, 0.0), True, False),
    ('on the outer finger face', (0.0, OUT, 0.0), False, False),
    ('just outside the outer face', (0.0, OUT + E, 0.0), False, False),
    ('just inside the finger tip', (D - E, HW + FW / 2, 0.0), True, False),
    ('on the finger tip plane', (D, HW + FW / 2, 0.0), False, False),
    ('beyond the tips between the jaws', (D + E, 0.0, 0.0), False, False),
    ('on the finger top face', (0.0, HW + FW / 2, H / 2), False, False),
    ('just below the finger top face', (0.0, HW + FW / 2, H / 2 - E), True, False),
    ('on the closing region top face', (0.0, 0.0, H / 2), False, False),
    ('between fingers and palm (x = -depth_base)', (-DB, 0.0, 0.0), False, False),
    ('palm centre', (-DB - FW / 2, 0.0, 0.0), True, False),
    ('palm behind a finger', (-DB - FW / 2, HW + FW / 2, 0.0), True, False),
    ('on the palm back face', (BACK, 0.0, 0.0), False, False),
    ('just behind the palm (approach region)', (BACK - E, 0.0, 0.0), False, False),
    ('palm side, just outside', (-DB - FW / 2, OUT + E, 0.0), False, False),
]
POINTS = np.array([c[1] for c in CASES], dtype=np.float64)
SOLID = np.array([c[2] for c in CASES])
CLOSING = np.array([c[3] for c in CASES])
IDS = [c[0] for c in CASES]
#: Cases on the outer finger faces: graspnetAPI computes those faces in float32 (the
#: row's width + a float finger width), one float32 rounding away from the others.
FLOAT32_FACES = ('on the outer finger face', )
#: Cases exactly on a face normal to x: moving them to another origin along x (the robot's
#: TCP frame at the finger tips) rounds them off the face.
X_FACES = ('on the finger tip plane', 'between fingers and palm (x = -depth_base)',
           'on the palm back face')
