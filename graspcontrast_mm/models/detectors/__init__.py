"""Detectors (full models) of graspcontrast_mm."""
from .contrastive_pretrainer import GraspContrastPretrainer

__all__ = ['GraspContrastPretrainer']
