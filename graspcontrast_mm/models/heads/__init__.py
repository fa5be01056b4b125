"""GSNet heads: graspable, approach view, cylinder crop, SWAD; labels, loss and decoding."""
from .cylinder_crop import CylinderCropHead, cylinder_group, cylinder_query
from .grasp_geometry import (approach_to_rotation, label_angles, label_depths,
                             template_views)
from .gsnet_decode import decode_grasps, empty_grasps, postprocess_grasps
from .gsnet_heads import ApproachViewHead, GraspableHead, SWADHead
from .gsnet_labels import (GRASP_LABEL_KEYS, SeedGraspLabels, SeedViewLabels,
                           check_grasp_labels, friction_to_score_target,
                           grasp_labels_to_targets, inplane_offset, labels_to_template_frame,
                           pack_grasp_labels, process_grasp_labels, process_view_labels,
                           select_view_labels, view_reindex)
from .gsnet_loss import DEFAULT_LOSS_WEIGHTS, GSNetLoss

__all__ = [
    'GraspableHead', 'ApproachViewHead', 'CylinderCropHead', 'SWADHead', 'GSNetLoss',
    'DEFAULT_LOSS_WEIGHTS', 'cylinder_query', 'cylinder_group', 'template_views',
    'approach_to_rotation', 'label_angles', 'label_depths', 'decode_grasps',
    'postprocess_grasps', 'empty_grasps', 'GRASP_LABEL_KEYS', 'SeedGraspLabels',
    'grasp_labels_to_targets', 'pack_grasp_labels', 'check_grasp_labels',
    'process_grasp_labels', 'process_view_labels', 'SeedViewLabels', 'select_view_labels',
    'friction_to_score_target',
    'view_reindex', 'inplane_offset', 'labels_to_template_frame'
]
