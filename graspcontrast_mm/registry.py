"""Registries of graspcontrast_mm.

Every registry is a child of the matching mmdet3d registry (which is itself a child of
mmengine's root registry), under the scope ``graspcontrast_mm``. A config that sets
``default_scope = 'graspcontrast_mm'`` can therefore use our components and every mmdet3d /
mmdet / mmengine component by type name; ``'mmdet3d.XYZ'`` selects a parent explicitly.

Importing :mod:`graspcontrast_mm` registers all components (the ``locations`` below are
imported lazily by mmengine when a registry is first queried).
"""
from mmdet3d.registry import DATA_SAMPLERS as MMDET3D_DATA_SAMPLERS
from mmdet3d.registry import DATASETS as MMDET3D_DATASETS
from mmdet3d.registry import EVALUATOR as MMDET3D_EVALUATOR
from mmdet3d.registry import HOOKS as MMDET3D_HOOKS
from mmdet3d.registry import INFERENCERS as MMDET3D_INFERENCERS
from mmdet3d.registry import LOOPS as MMDET3D_LOOPS
from mmdet3d.registry import METRICS as MMDET3D_METRICS
from mmdet3d.registry import MODEL_WRAPPERS as MMDET3D_MODEL_WRAPPERS
from mmdet3d.registry import MODELS as MMDET3D_MODELS
from mmdet3d.registry import OPTIM_WRAPPERS as MMDET3D_OPTIM_WRAPPERS
from mmdet3d.registry import PARAM_SCHEDULERS as MMDET3D_PARAM_SCHEDULERS
from mmdet3d.registry import RUNNERS as MMDET3D_RUNNERS
from mmdet3d.registry import TRANSFORMS as MMDET3D_TRANSFORMS
from mmdet3d.registry import VISBACKENDS as MMDET3D_VISBACKENDS
from mmdet3d.registry import VISUALIZERS as MMDET3D_VISUALIZERS
from mmdet3d.registry import WEIGHT_INITIALIZERS as MMDET3D_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

SCOPE = 'graspcontrast_mm'

RUNNERS = Registry('runner', parent=MMDET3D_RUNNERS, scope=SCOPE)
LOOPS = Registry('loop', parent=MMDET3D_LOOPS, scope=SCOPE)
HOOKS = Registry('hook', parent=MMDET3D_HOOKS, scope=SCOPE,
                 locations=['graspcontrast_mm.engine'])
DATASETS = Registry('dataset', parent=MMDET3D_DATASETS, scope=SCOPE,
                    locations=['graspcontrast_mm.datasets'])
DATA_SAMPLERS = Registry('data sampler', parent=MMDET3D_DATA_SAMPLERS,
                         scope=SCOPE, locations=['graspcontrast_mm.datasets'])
TRANSFORMS = Registry('transform', parent=MMDET3D_TRANSFORMS, scope=SCOPE,
                      locations=['graspcontrast_mm.datasets.transforms'])
MODELS = Registry('model', parent=MMDET3D_MODELS, scope=SCOPE,
                  locations=['graspcontrast_mm.models'])
MODEL_WRAPPERS = Registry('model_wrapper', parent=MMDET3D_MODEL_WRAPPERS,
                          scope=SCOPE)
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMDET3D_OPTIM_WRAPPERS,
                          scope=SCOPE)
PARAM_SCHEDULERS = Registry('parameter scheduler',
                            parent=MMDET3D_PARAM_SCHEDULERS, scope=SCOPE)
METRICS = Registry('metric', parent=MMDET3D_METRICS, scope=SCOPE,
                   locations=['graspcontrast_mm.evaluation'])
EVALUATOR = Registry('evaluator', parent=MMDET3D_EVALUATOR, scope=SCOPE)
VISBACKENDS = Registry('vis_backend', parent=MMDET3D_VISBACKENDS, scope=SCOPE)
VISUALIZERS = Registry('visualizer', parent=MMDET3D_VISUALIZERS, scope=SCOPE,
                       locations=['graspcontrast_mm.visualization'])
INFERENCERS = Registry('inferencer', parent=MMDET3D_INFERENCERS, scope=SCOPE,
                       locations=['graspcontrast_mm.apis'])
# Weight initializers (``init_cfg=dict(type=...)``). mmengine builds them from its root
# registry, which switches to this child when the default scope is 'graspcontrast_mm'
# (every config of this package); without a default scope use 'graspcontrast_mm.<type>'.
WEIGHT_INITIALIZERS = Registry('weight initializer',
                               parent=MMDET3D_WEIGHT_INITIALIZERS, scope=SCOPE,
                               locations=['graspcontrast_mm.engine'])

__all__ = [
    'SCOPE', 'RUNNERS', 'LOOPS', 'HOOKS', 'DATASETS', 'DATA_SAMPLERS',
    'TRANSFORMS', 'MODELS', 'MODEL_WRAPPERS', 'OPTIM_WRAPPERS',
    'PARAM_SCHEDULERS', 'METRICS', 'EVALUATOR', 'VISBACKENDS', 'VISUALIZERS',
    'INFERENCERS', 'WEIGHT_INITIALIZERS'
]
