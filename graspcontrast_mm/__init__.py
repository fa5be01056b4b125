"""graspcontrast_mm: GraspContrast self-supervised pre-training and GSNet grasp detection
as an OpenMMLab (mmengine / mmcv / mmdet3d) plugin.

Importing this package registers every component in the ``graspcontrast_mm`` registries
(children of mmdet3d's), applies the spconv CPU fixes (:mod:`graspcontrast_mm.ops`) and the
checkpoint-loading fix for torch >= 2.6 (:mod:`graspcontrast_mm.engine`). Before anything
loads torch, it puts the CPU runtime defaults into the environment (passive OpenMP waiting,
huge pages for large buffers; :mod:`graspcontrast_mm.cpu_runtime`), so import it before
torch to get them.
"""
from .cpu_runtime import apply_cpu_runtime_defaults as _apply_cpu_runtime_defaults

_apply_cpu_runtime_defaults()

from .version import __version__  # noqa: F401
from . import registry  # noqa: F401,E402
from . import engine  # noqa: F401,E402
from . import ops  # noqa: F401,E402
from . import structures  # noqa: F401,E402
from . import datasets  # noqa: F401,E402
from . import models  # noqa: F401,E402
from . import evaluation  # noqa: F401,E402
from . import visualization  # noqa: F401,E402
from . import apis  # noqa: F401,E402

__all__ = ['__version__']
