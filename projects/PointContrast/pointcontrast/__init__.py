"""PointContrast (Xie et al., ECCV 2020) hardest-contrastive pre-training for graspcontrast_mm.

Importing this package registers :class:`HardestContrastiveLoss` in graspcontrast_mm's
``MODELS`` registry; configs pull it in with
``custom_imports = dict(imports=['projects.PointContrast.pointcontrast'])``.
"""
import graspcontrast_mm  # noqa: F401  (registries and every base component)

from .hardest_contrastive_loss import (HardestContrastiveLoss, hardest_contrastive_terms,
                                       negative_candidate_mask)

__all__ = ['HardestContrastiveLoss', 'hardest_contrastive_terms', 'negative_candidate_mask']
