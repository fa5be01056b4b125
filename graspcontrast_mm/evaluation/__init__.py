"""Evaluation of graspcontrast_mm; importing this module registers the metrics."""
from . import metrics  # noqa: F401
from .metrics import *  # noqa: F401,F403

__all__ = ['metrics'] + metrics.__all__
