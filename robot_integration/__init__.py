"""Robot integration of graspcontrast_mm: grasp sources, a grasp planner, executors
(pybullet simulation, ROS 2 node) and the clutter-removal pick-and-place benchmark.

This folder sits next to the ``graspcontrast_mm`` package and imports it; the package never
imports this folder. ROS 2 (``rclpy``) and pybullet are imported only by the modules that
need them (:mod:`robot_integration.ros2_node`, :mod:`robot_integration.sim`).
"""
from .executor import Executor, Observation, SafetyLimits, UnsafeCommandError, check_pose_safe
from .grasp_sources import (BaselineConfig, GeometricBaselineSource, GraspSource,
                            InferencerGraspSource, InvalidObservationError, as_grasp_array,
                            sanitize_depth)
from .pipeline import PickPlan, perceive_and_plan
from .planner import (FILTERS, GraspPlanner, GripperModel, InvalidCameraPoseError,
                      PlannedGrasp, PlannerConfig, PlanningFailure, check_camera_pose)
from .protocol import (CLUTTER_LEVELS, AttemptRecord, LevelResult, ProtocolConfig,
                       format_results_table, run_level)

__all__ = [
    'Executor', 'Observation', 'SafetyLimits', 'UnsafeCommandError', 'check_pose_safe',
    'BaselineConfig', 'GeometricBaselineSource', 'GraspSource', 'InferencerGraspSource',
    'InvalidObservationError', 'as_grasp_array', 'sanitize_depth', 'PickPlan',
    'perceive_and_plan', 'FILTERS', 'GraspPlanner', 'GripperModel', 'InvalidCameraPoseError',
    'PlannedGrasp', 'PlannerConfig', 'PlanningFailure', 'check_camera_pose', 'CLUTTER_LEVELS',
    'AttemptRecord', 'LevelResult', 'ProtocolConfig', 'format_results_table', 'run_level'
]
