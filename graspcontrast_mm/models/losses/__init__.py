"""Losses of graspcontrast_mm."""
from .fne_info_nce_loss import (FNEInfoNCELoss, fne_false_negative_mask,
                                fne_false_negative_pairs, fne_info_nce)

__all__ = ['FNEInfoNCELoss', 'fne_info_nce', 'fne_false_negative_mask',
           'fne_false_negative_pairs']
