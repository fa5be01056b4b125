"""Data preprocessors of graspcontrast_mm."""
from .sparse_pair_data_preprocessor import SparsePairDataPreprocessor

__all__ = ['SparsePairDataPreprocessor']
