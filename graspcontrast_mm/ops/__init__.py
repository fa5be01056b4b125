"""Low-level operators of graspcontrast_mm.

Importing this package routes spconv's CPU sparse convolutions through a correct,
deterministic and differentiable torch implementation (see :mod:`.spconv_cpu` for what is
wrong in spconv 2.3.8 on CPU and what is done), unless the environment variable
``GRASPCONTRAST_SPCONV_CPU_FIX=0`` is set. :func:`index_rows` gathers rows with a
deterministic backward on CPU (see :mod:`.deterministic_index`).
"""
from .spconv_cpu import (ALGORITHM_ENV_VAR, ENV_VAR, GEMM_DTYPE_ENV_VAR, GEMM_DTYPES,
                         RULEBOOK_ALGORITHMS, apply_spconv_cpu_fixes,
                         get_rulebook_algorithm, get_rulebook_gemm_dtype,
                         remove_spconv_cpu_fixes, rulebook_conv, set_rulebook_algorithm,
                         set_rulebook_gemm_dtype, spconv_cpu_fixes,
                         spconv_cpu_fixes_enabled)
from .spconv_cpu import _env_allows_fix
from .deterministic_index import index_rows
from .spconv_rulebooks import clear_subm_rulebook_memo
from .spconv_checkpoint_version import (SPCONV_STATE_DICT_VERSION,
                                        mark_spconv_modules_version2)

mark_spconv_modules_version2()

if _env_allows_fix():
    apply_spconv_cpu_fixes()

__all__ = [
    'ENV_VAR', 'ALGORITHM_ENV_VAR', 'RULEBOOK_ALGORITHMS', 'set_rulebook_algorithm',
    'get_rulebook_algorithm', 'GEMM_DTYPE_ENV_VAR', 'GEMM_DTYPES', 'set_rulebook_gemm_dtype',
    'get_rulebook_gemm_dtype', 'apply_spconv_cpu_fixes', 'remove_spconv_cpu_fixes', 'rulebook_conv',
    'spconv_cpu_fixes', 'spconv_cpu_fixes_enabled', 'SPCONV_STATE_DICT_VERSION',
    'clear_subm_rulebook_memo',
    'mark_spconv_modules_version2', 'index_rows'
]
