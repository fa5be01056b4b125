"""Backbones of graspcontrast_mm."""
from .sparse_unet import (MINKUNET14D_PLANES, MINKUNET14D_WIDE_PLANES, SparseBasicBlock,
                          SparseUNet)

__all__ = ['SparseUNet', 'SparseBasicBlock', 'MINKUNET14D_PLANES', 'MINKUNET14D_WIDE_PLANES']
