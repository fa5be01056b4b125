"""Checks that catch config typos before a long run starts."""
import difflib
from typing import Any, Dict

from mmengine.config import Config

__all__ = ['check_cfg_options']


def _has_path(cfg: Any, keys) -> bool:
    node = cfg
    for key in keys:
        if isinstance(node, (list, tuple)):
            if not key.lstrip('-').isdigit() or int(key) >= len(node):
                return False
            node = node[int(key)]
        elif isinstance(node, dict) or hasattr(node, 'keys'):
            if key not in node:
                return False
            node = node[key]
        else:
            return False
    return True


def check_cfg_options(cfg: Config, options: Dict[str, Any]) -> None:
    """Raise if a ``--cfg-options`` key does not exist in ``cfg``.

    mmengine silently adds unknown keys, so ``train_cfg.max_epoch=2`` (missing ``s``) would
    be ignored without this check.

    Args:
        cfg: the loaded config.
        options: the parsed ``--cfg-options`` mapping ``dotted.key -> value``.

    Raises:
        KeyError: naming the unknown key and the closest existing keys.
    """
    for dotted in options:
        keys = dotted.split('.')
        if _has_path(cfg, keys):
            continue
        # find the deepest existing parent for a helpful message
        parent, node = [], cfg
        for key in keys[:-1]:
            if not _has_path(cfg, parent + [key]):
                break
            parent.append(key)
            node = node[int(key)] if isinstance(node, (list, tuple)) else node[key]
        missing = keys[len(parent)]
        candidates = list(node.keys()) if hasattr(node, 'keys') else []
        close = difflib.get_close_matches(missing, candidates, n=3)
        hint = f' Did you mean: {", ".join(close)}?' if close else ''
        where = '.'.join(parent) or '<top level>'
        raise KeyError(
            f'--cfg-options key "{dotted}" does not exist in the config: '
            f'"{missing}" is not a key of {where}.{hint} '
            f'(pass --allow-new-keys to add new keys on purpose)')
