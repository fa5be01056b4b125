"""Formatting of config text, done once per distinct text.

mmengine writes a config's formatted text (``Config.pretty_text``) into every checkpoint
and into the log. The text is formatted with yapf, which takes 0.1-0.3 s for the configs
of this package, and a run formats the same unchanged config again for every checkpoint:
for the tiny pre-training (20 epoch checkpoints and 5 best-checkpoint saves) that is
several seconds of a 4-minute run, spent on the critical path between epochs.

:func:`memoize_config_formatting` replaces the ``FormatCode`` that
``mmengine.config.config`` calls with a wrapper that keeps the last results, keyed by the
exact input text and style (yapf's formatting is a pure function of both; its result is
an immutable ``(str, bool)`` pair), so a repeated call returns the same string without
formatting it again. Applied when :mod:`graspcontrast_mm.engine` is imported;
:func:`restore_config_formatting` undoes it.
"""
import functools
from typing import Any, Tuple

__all__ = ['memoize_config_formatting', 'restore_config_formatting',
           'config_formatting_memoized']

_ORIGINAL = {}  # 'FormatCode' -> mmengine's FormatCode while the memo is installed
_CACHE_SIZE = 16


def _freeze(value: Any):
    """A hashable stand-in for a yapf style argument (dicts sorted by key)."""
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _memoized(format_code):
    kwargs_of = {}  # frozen style arguments -> the keyword arguments themselves

    @functools.lru_cache(maxsize=_CACHE_SIZE)
    def cached(text: str, frozen_kwargs: Tuple) -> Tuple[str, bool]:
        return format_code(text, **kwargs_of[frozen_kwargs])

    @functools.wraps(format_code)
    def wrapper(unformatted_source, *args, **kwargs):
        if args or not isinstance(unformatted_source, str):
            return format_code(unformatted_source, *args, **kwargs)
        try:
            key = _freeze(kwargs)
            hash(key)
        except TypeError:  # an unhashable style value: format as usual
            return format_code(unformatted_source, **kwargs)
        kwargs_of.setdefault(key, kwargs)
        return cached(unformatted_source, key)

    wrapper.cache_info = cached.cache_info
    wrapper._graspcontrast_original = format_code
    return wrapper


def config_formatting_memoized() -> bool:
    """Whether mmengine's config formatting currently goes through the memo."""
    return bool(_ORIGINAL)


def memoize_config_formatting() -> bool:
    """Route ``mmengine.config.config.FormatCode`` through the memo (idempotent).

    Returns:
        True (the memo is installed after the call).
    """
    if _ORIGINAL:
        return True
    from mmengine.config import config as mmengine_config
    _ORIGINAL['FormatCode'] = mmengine_config.FormatCode
    mmengine_config.FormatCode = _memoized(mmengine_config.FormatCode)
    return True


def restore_config_formatting() -> bool:
    """Put mmengine's own ``FormatCode`` back.

    Returns:
        False (the memo is not installed after the call).
    """
    if _ORIGINAL:
        from mmengine.config import config as mmengine_config
        mmengine_config.FormatCode = _ORIGINAL.pop('FormatCode')
    return False
