"""Metrics of graspcontrast_mm."""
from .feature_match_metric import FeatureMatchMetric, feature_match_stats
from .graspnet_metric import (FRICTION_COEFS, GRASPNET_TEST_SPLITS, GraspNetMetric,
                              dump_path, evaluate_dumped_frame, evaluate_frame_grasps,
                              frame_accuracy, load_frame_objects, save_grasps_atomic)

__all__ = [
    'FeatureMatchMetric', 'feature_match_stats', 'GraspNetMetric', 'FRICTION_COEFS',
    'GRASPNET_TEST_SPLITS', 'evaluate_frame_grasps', 'evaluate_dumped_frame',
    'frame_accuracy', 'dump_path', 'save_grasps_atomic', 'load_frame_objects'
]
