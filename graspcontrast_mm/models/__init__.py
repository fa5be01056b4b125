"""Models of graspcontrast_mm; importing this module registers them in ``MODELS``.

Subpackages: ``backbones`` (SparseUNet), ``losses`` (FNE-InfoNCE), ``detectors``
(two-branch pre-trainer, GSNet), ``data_preprocessors`` (sparse pair batching) and
``heads`` (GSNet heads).
"""
from . import backbones, data_preprocessors, detectors, heads, losses  # noqa: F401
from .data_preprocessors import *  # noqa: F401,F403
from .detectors import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403

__all__ = (['backbones', 'data_preprocessors', 'detectors', 'heads', 'losses'] +
           data_preprocessors.__all__ + detectors.__all__ + losses.__all__)
