"""Evaluation of graspcontrast_mm; importing this module registers the metrics."""
from . import dexnet_io, graspnet_eval, metrics  # noqa: F401
from .dexnet_io import UnsafePickleError, load_dexnet_pickle
from .metrics import *  # noqa: F401,F403

__all__ = ['metrics', 'graspnet_eval', 'dexnet_io', 'UnsafePickleError',
           'load_dexnet_pickle'] + metrics.__all__
