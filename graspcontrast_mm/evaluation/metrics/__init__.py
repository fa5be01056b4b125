"""Metrics of graspcontrast_mm."""
from .feature_match_metric import FeatureMatchMetric, feature_match_stats

__all__ = ['FeatureMatchMetric', 'feature_match_stats']
