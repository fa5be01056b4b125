"""Configs stored in checkpoints, read as data and never executed.

mmengine's runner writes its config into every checkpoint as Python text
(``meta['cfg'] = cfg.pretty_text``): one ``name = value`` line per top-level key, where the
values are literals, lists, tuples, dicts and ``dict(key=value, ...)`` calls. Turning that
text back into a config with ``Config.fromstring`` EXECUTES it: a checkpoint whose stored
config starts with ``_x = __import__('os').system('...')`` runs that command. A checkpoint is
data, often downloaded or shared, so this module parses the text with :mod:`ast` and
evaluates only the data forms above; anything else (an import, an attribute, a call of
anything but ``dict``, an f-string, an operator other than a sign) is refused with
:class:`UnsafeConfigError`, and the user is asked for the config file instead.

The accepted forms::

    name = <value>               # top-level assignments to plain names only
    <value> := literal           # str, bytes, int, float, complex, bool, None
             | -<number> | +<number>
             | inf | nan         # how Python writes float('inf') / float('nan')
             | [<value>, ...] | (<value>, ...) | {<value>, ...}
             | {<value>: <value>, ...}
             | dict(key=<value>, ...) | dict({<value>: <value>, ...}, key=<value>, ...)
             | float('inf') | float('-inf') | float('nan')
"""
import ast
import math
import warnings
from collections.abc import Mapping
from typing import Any, Dict, Optional

__all__ = ['UnsafeConfigError', 'parse_config_text', 'config_text_from_checkpoint',
           'config_from_checkpoint']

#: Names that may appear as values (``repr`` of non-finite floats).
_SAFE_NAMES = {'inf': math.inf, 'nan': math.nan}
#: Top-level names that would change how mmengine reads a config (base files, imports).
_RESERVED_KEYS = ('_base_',)


class UnsafeConfigError(ValueError):
    """A config stored in a checkpoint is not plain data (or cannot be parsed)."""


def _fail(source: str, node: Optional[ast.AST], what: str) -> 'UnsafeConfigError':
    line = f' line {node.lineno}' if getattr(node, 'lineno', None) else ''
    return UnsafeConfigError(
        f'the config stored in {source} is not plain data ({what} at{line or " top"}); '
        'it is not executed. Pass the model config file explicitly')


def _value(node: ast.AST, source: str) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        val = _value(node.operand, source)
        if isinstance(val, bool) or not isinstance(val, (int, float, complex)):
            raise _fail(source, node, 'a sign in front of a non-number')
        return -val if isinstance(node.op, ast.USub) else val
    if isinstance(node, ast.Name):
        if node.id in _SAFE_NAMES:
            return _SAFE_NAMES[node.id]
        raise _fail(source, node, f'the name {node.id!r}')
    if isinstance(node, ast.List):
        return [_value(e, source) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_value(e, source) for e in node.elts)
    if isinstance(node, ast.Set):
        return {_value(e, source) for e in node.elts}
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise _fail(source, node, 'a ** expansion')
        return {_value(k, source): _value(v, source) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id == 'dict' and len(node.args) <= 1 and all(
                kw.arg is not None for kw in node.keywords):
            out = {}
            if node.args:  # dict({'non-identifier key': ...}), as pretty_text writes it
                first = _value(node.args[0], source)
                if not isinstance(first, dict):
                    raise _fail(source, node, 'a dict() of a non-dict')
                out.update(first)
            out.update({kw.arg: _value(kw.value, source) for kw in node.keywords})
            return out
        if (node.func.id == 'float' and len(node.args) == 1 and not node.keywords
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and node.args[0].value.strip().lower() in ('inf', '-inf', '+inf', 'nan')):
            return float(node.args[0].value)
        raise _fail(source, node, f'a call of {node.func.id!r}')
    raise _fail(source, node, f'a {type(node).__name__} expression')


def parse_config_text(text: str, source: str = 'the checkpoint') -> Dict[str, Any]:
    """Parse mmengine's Python config text as data, without executing it.

    Args:
        text: config text as written by ``Config.pretty_text``.
        source: what the text came from, for error messages (e.g. ``'checkpoint X'``).

    Returns:
        dict: top-level key -> value (dicts, lists, tuples, literals).

    Raises:
        UnsafeConfigError: syntax error, a statement other than ``name = value``, or a value
            that is not one of the data forms of this module's docstring.
    """
    if not isinstance(text, str):
        raise UnsafeConfigError(f'the config stored in {source} is not text '
                                f'({type(text).__name__})')
    try:
        with warnings.catch_warnings():  # e.g. '\.' in a regex: invalid escape sequence
            warnings.simplefilter('ignore')
            tree = ast.parse(text, mode='exec')
    except (SyntaxError, ValueError) as err:
        raise UnsafeConfigError(f'the config stored in {source} cannot be parsed '
                                f'({type(err).__name__}: {err})') from None
    out: Dict[str, Any] = {}
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)):
            raise _fail(source, stmt, f'a {type(stmt).__name__} statement')
        name = stmt.targets[0].id
        if name in _RESERVED_KEYS:
            raise _fail(source, stmt, f'the key {name!r}')
        out[name] = _value(stmt.value, source)
    return out


def config_text_from_checkpoint(checkpoint: Any) -> Optional[str]:
    """The config text a checkpoint carries, or None.

    Looks at ``meta['cfg']`` (mmengine's runner) and then at
    ``message_hub['runtime_info']['cfg']``.
    """
    if not isinstance(checkpoint, Mapping):
        return None
    meta = checkpoint.get('meta')
    if isinstance(meta, Mapping) and isinstance(meta.get('cfg'), str) and meta['cfg']:
        return meta['cfg']
    hub = checkpoint.get('message_hub')
    info = hub.get('runtime_info') if isinstance(hub, Mapping) else None
    if isinstance(info, Mapping) and isinstance(info.get('cfg'), str) and info['cfg']:
        return info['cfg']
    return None


def config_from_checkpoint(checkpoint: Any, source: str = 'the checkpoint'):
    """The config stored in a loaded checkpoint, parsed as data.

    Args:
        checkpoint: the object returned by :func:`load_checkpoint_file`.
        source: name of the checkpoint for error messages.

    Returns:
        mmengine.config.Config: the config (plain data; ``custom_imports`` is NOT acted
        upon).

    Raises:
        UnsafeConfigError: no config is stored, or it is not plain data.
    """
    from mmengine.config import Config
    text = config_text_from_checkpoint(checkpoint)
    if text is None:
        raise UnsafeConfigError(
            f"{source} does not embed its config (no meta['cfg'], as written by mmengine's "
            'runner); pass the config file as well')
    return Config(parse_config_text(text, source))
