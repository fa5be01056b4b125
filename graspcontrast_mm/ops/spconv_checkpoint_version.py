"""Make spconv checkpoints load the same with and without mmdet3d.

What is wrong upstream
----------------------
Importing ``mmdet3d.models`` replaces ``spconv.pytorch.SparseModule._load_from_state_dict``
by a version that treats every sparse-conv weight whose state-dict metadata does not say
``version == 2`` as a spconv 1.x kernel ``(k, k, k, C_in, C_out)`` and permutes it. It also
sets ``SparseModule._version = 2``, so checkpoints written AFTER importing mmdet3d carry
version 2. spconv's own default is ``_version = 1``. A checkpoint written by a process that
never imported ``mmdet3d.models`` (a script, a test, the Inferencer) therefore has its
kernels permuted when ``tools/train.py`` / ``tools/test.py`` (which import mmdet3d) load it:
a shape error, or for square kernels with ``C_in == C_out`` silently wrong weights.

What is done here
-----------------
:func:`mark_spconv_modules_version2` sets ``SparseModule._version = 2`` when
:mod:`graspcontrast_mm` is imported, the value mmdet3d sets, so every checkpoint this package
writes is read unchanged by both loaders. spconv 2.x's own loader ignores the version.
"""
__all__ = ['SPCONV_STATE_DICT_VERSION', 'mark_spconv_modules_version2']

#: The state-dict version mmdet3d's spconv loader expects for spconv 2.x kernels.
SPCONV_STATE_DICT_VERSION = 2


def mark_spconv_modules_version2() -> None:
    """Stamp spconv modules' state dicts as spconv 2.x layout (idempotent)."""
    from spconv.pytorch import SparseModule
    SparseModule._version = SPCONV_STATE_DICT_VERSION
