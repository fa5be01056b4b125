"""ROS 2 grasp-planning node (``rclpy``; imported only inside this module's functions).

Subscribes a depth image and its ``CameraInfo``, runs a grasp source and the planner on the
latest frame, and publishes the result in the robot base frame:

=============================== ========================= ==================================
name                            type                      content
=============================== ========================= ==================================
``depth`` (sub)                 ``sensor_msgs/Image``     ``16UC1`` (mm) or ``32FC1`` (m)
``camera_info`` (sub)           ``sensor_msgs/CameraInfo`` intrinsics ``k``
``~/grasp_pose`` (pub)          ``geometry_msgs/PoseStamped`` TCP pose at the grasp
``~/grasp_poses`` (pub)         ``geometry_msgs/PoseArray`` ``[pre_grasp, grasp, lift]``
``~/grasp_width`` (pub)         ``std_msgs/Float64``      jaw opening for the approach, m
``~/planning_status`` (pub)     ``std_msgs/String``       JSON: planned grasp or failure
``~/plan_grasp`` (service)      ``std_srvs/Trigger``      plan on the latest frame
=============================== ========================= ==================================

Parameters: ``base_frame`` (``base_link``), ``ee_frame`` (``tool0``), ``source``
(``baseline`` | ``model``), ``model_config``, ``model_checkpoint``, ``device``,
``hand_eye`` (16 floats, row-major ``T_ee_cam``, camera optical frame in the end-effector
frame; eye-in-hand), ``fixed_camera_pose`` (16 floats ``T_base_cam``; fixed camera),
``use_tf_camera`` (look ``base_frame -> depth header frame`` up in tf instead of either),
``plan_on_every_frame`` (plan whenever a depth image arrives, default false: only on the
service call), ``table_height``, ``workspace_min`` / ``workspace_max`` (3 floats each),
``max_approach_angle_deg``, and the checks of what the jaws hold (:data:`JAW_CONTACT_PARAMETERS`,
defaults of :class:`~robot_integration.planner.PlannerConfig`): ``min_grip_depth``,
``deepen_shallow_grasps``, ``min_pad_cover``, ``max_face_angle_deg``, ``held_span_weight``.

With ``hand_eye`` the end-effector pose at the image time is looked up in tf
(``base_frame -> ee_frame`` at the image stamp). Depth frames must be in an optical frame
(OpenCV axes, REP 103); all conversions are in :mod:`robot_integration.ros2_conversions`.
No motion command is sent: a robot driver (MoveIt, ``ur_robot_driver``) consumes the poses.
"""
from __future__ import annotations

import json
from typing import Any, Optional, Sequence

import numpy as np

from .executor import Observation
from .grasp_sources import GeometricBaselineSource, InferencerGraspSource
from .pipeline import perceive_and_plan
from .planner import GraspPlanner, PlannerConfig
from .ros2_conversions import (camera_info_to_K, depth_msg_to_metres, fill_pose_msg,
                               normalize_frame_id, planned_grasp_poses,
                               transform_msg_to_matrix)

__all__ = ['matrix_from_parameter', 'build_planner_from_parameters', 'create_node', 'main']


def matrix_from_parameter(values: Sequence[float], name: str) -> Optional[np.ndarray]:
    """4x4 from a 16-float row-major parameter (empty -> None)."""
    values = list(values or [])
    if not values:
        return None
    if len(values) != 16:
        raise ValueError(f'parameter {name} must have 16 values (row-major 4x4), got '
                         f'{len(values)}')
    return np.asarray(values, dtype=np.float64).reshape(4, 4)


#: PlannerConfig fields of the jaw-contact checks exposed as node parameters.
JAW_CONTACT_PARAMETERS = ('min_grip_depth', 'deepen_shallow_grasps', 'min_pad_cover',
                          'max_face_angle_deg', 'held_span_weight')


def build_planner_from_parameters(*, hand_eye: Sequence[float] = (),
                                  fixed_camera_pose: Sequence[float] = (),
                                  use_tf_camera: bool = False, **config) -> GraspPlanner:
    """Planner of the node from its parameter values (pure; tested without ROS).

    ``use_tf_camera`` builds a "fixed camera" planner whose pose is replaced per frame
    (identity placeholder until the first tf lookup).
    """
    T_ee_cam = matrix_from_parameter(hand_eye, 'hand_eye')
    T_base_cam = matrix_from_parameter(fixed_camera_pose, 'fixed_camera_pose')
    given = sum(x is not None for x in (T_ee_cam, T_base_cam)) + int(bool(use_tf_camera))
    if given != 1:
        raise ValueError('set exactly one of hand_eye, fixed_camera_pose, use_tf_camera')
    cfg = PlannerConfig(**config)
    if use_tf_camera:
        T_base_cam = np.eye(4)
    return GraspPlanner(cfg, T_ee_cam=T_ee_cam, T_base_cam=T_base_cam)


def create_node(node_name: str = 'graspcontrast_grasp_planner') -> Any:
    """Create the node (requires a sourced ROS 2 installation)."""
    import rclpy  # noqa: F401
    from geometry_msgs.msg import Pose, PoseArray, PoseStamped
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.time import Time
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Float64, String
    from std_srvs.srv import Trigger
    import tf2_ros

    class GraspPlannerNode(Node):
        """See the module docstring."""

        def __init__(self) -> None:
            super().__init__(node_name)
            dp = self.declare_parameter
            self.base_frame = normalize_frame_id(dp('base_frame', 'base_link').value)
            self.ee_frame = normalize_frame_id(dp('ee_frame', 'tool0').value)
            source = dp('source', 'baseline').value
            cfg_path = dp('model_config', '').value
            ckpt = dp('model_checkpoint', '').value
            device = dp('device', 'cpu').value
            # Typed parameters without default (unset -> None).
            hand_eye = dp('hand_eye', Parameter.Type.DOUBLE_ARRAY).value
            fixed = dp('fixed_camera_pose', Parameter.Type.DOUBLE_ARRAY).value
            self.use_tf_camera = bool(dp('use_tf_camera', False).value)
            self.plan_every = bool(dp('plan_on_every_frame', False).value)
            cfg = dict(table_height=float(dp('table_height', 0.0).value),
                       max_approach_angle_deg=float(dp(
                           'max_approach_angle_deg',
                           PlannerConfig.max_approach_angle_deg).value))
            # the checks of what the jaws hold (README: Planner), defaults of PlannerConfig
            for name in JAW_CONTACT_PARAMETERS:
                default = getattr(PlannerConfig, name)
                cfg[name] = type(default)(dp(name, default).value)
            ws_min = list(dp('workspace_min', [0.25, -0.5, -0.05]).value)
            ws_max = list(dp('workspace_max', [0.95, 0.5, 0.40]).value)
            cfg.update(workspace_min=tuple(ws_min), workspace_max=tuple(ws_max))
            self.planner = build_planner_from_parameters(
                hand_eye=list(hand_eye or []), fixed_camera_pose=list(fixed or []),
                use_tf_camera=self.use_tf_camera, **cfg)
            self.source = (GeometricBaselineSource() if source == 'baseline' else
                           InferencerGraspSource(config=cfg_path or None, checkpoint=ckpt or None,
                                                 device=device))
            self.tf_buffer = tf2_ros.Buffer()
            self.tf_listener = tf2_ros.TransformListener(self.tf_buffer, self)
            self.K = None
            self.last_depth = None
            self.create_subscription(CameraInfo, 'camera_info', self._on_info, 10)
            self.create_subscription(Image, 'depth', self._on_depth, 10)
            self.pub_pose = self.create_publisher(PoseStamped, '~/grasp_pose', 10)
            self.pub_poses = self.create_publisher(PoseArray, '~/grasp_poses', 10)
            self.pub_width = self.create_publisher(Float64, '~/grasp_width', 10)
            self.pub_status = self.create_publisher(String, '~/planning_status', 10)
            self.create_service(Trigger, '~/plan_grasp', self._on_trigger)

        def _on_info(self, msg) -> None:
            try:
                self.K = camera_info_to_K(msg.k)
            except ValueError as err:
                self.get_logger().error(f'bad CameraInfo: {err}')

        def _on_depth(self, msg) -> None:
            self.last_depth = msg
            if self.plan_every:
                self._plan(msg)

        def _lookup(self, target: str, source: str, stamp) -> np.ndarray:
            tf = self.tf_buffer.lookup_transform(target, source, Time.from_msg(stamp))
            return transform_msg_to_matrix(tf)

        def _plan(self, msg):
            status = String()
            if self.K is None:
                status.data = json.dumps(dict(ok=False, reason='no_camera_info'))
                self.pub_status.publish(status)
                return False, 'no CameraInfo received yet'
            try:
                depth = depth_msg_to_metres(msg)
                cam_frame = normalize_frame_id(msg.header.frame_id)
                T_base_ee = None
                if self.planner.T_ee_cam is not None:
                    T_base_ee = self._lookup(self.base_frame, self.ee_frame, msg.header.stamp)
                elif self.use_tf_camera:
                    self.planner.T_base_cam = self._lookup(self.base_frame, cam_frame,
                                                           msg.header.stamp)
            except Exception as err:  # decoding or tf failure: report, publish no pose
                status.data = json.dumps(dict(ok=False, reason='input_error',
                                              message=f'{type(err).__name__}: {err}'))
                self.pub_status.publish(status)
                return False, str(err)
            obs = Observation(depth_m=depth, K=self.K, T_base_ee=T_base_ee)
            pick = perceive_and_plan(obs, self.source, self.planner)
            if not pick.ok:
                status.data = json.dumps(dict(ok=False, **pick.result.to_dict()))
                self.pub_status.publish(status)
                self.get_logger().warn(str(pick.result))
                return False, str(pick.result)
            plan = pick.result
            ps = PoseStamped()
            ps.header.stamp = msg.header.stamp
            ps.header.frame_id = self.base_frame
            fill_pose_msg(ps.pose, plan.grasp)
            pa = PoseArray()
            pa.header = ps.header
            for T in planned_grasp_poses(plan):
                pa.poses.append(fill_pose_msg(Pose(), T))
            self.pub_pose.publish(ps)
            self.pub_poses.publish(pa)
            self.pub_width.publish(Float64(data=float(plan.open_width)))
            status.data = json.dumps(dict(ok=True, **plan.to_dict(), timings=pick.timings))
            self.pub_status.publish(status)
            return True, f'grasp planned (score {plan.score:.3f})'

        def _on_trigger(self, request, response):
            del request
            if self.last_depth is None:
                response.success, response.message = False, 'no depth image received yet'
                return response
            response.success, response.message = self._plan(self.last_depth)
            return response

    return GraspPlannerNode()


def main(args: Optional[Sequence[str]] = None) -> None:
    """``python -m robot_integration.ros2_node --ros-args -p ...``"""
    import rclpy
    rclpy.init(args=args)
    node = create_node()
    try:
        rclpy.spin(node)
    finally:
        node.destroy_node()
        rclpy.shutdown()


if __name__ == '__main__':
    main()
