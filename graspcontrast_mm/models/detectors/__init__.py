"""Detectors (full models) of graspcontrast_mm."""
from .contrastive_pretrainer import GraspContrastPretrainer
from .gsnet import GSNet

__all__ = ['GraspContrastPretrainer', 'GSNet']
