"""The package's imports run one way: apis -> models, datasets, evaluation,
visualization -> structures, registry. Nothing imports tools, robot_integration or
projects."""
import ast
import os.path as osp
import pathlib

import pytest

PKG = pathlib.Path(__file__).resolve().parents[1] / 'graspcontrast_mm'

# subpackage -> subpackages it must not import (directly or lazily inside functions)
FORBIDDEN = {
    'structures': {'datasets', 'models', 'evaluation', 'apis', 'visualization', 'engine'},
    'datasets': {'models', 'evaluation', 'apis', 'visualization'},
    'evaluation': {'models', 'apis', 'visualization'},
    'visualization': {'models', 'datasets', 'evaluation', 'apis'},
    'models': {'datasets', 'evaluation', 'apis', 'visualization'},
    'synthetic': {'models', 'apis', 'evaluation', 'visualization'},
}
OUTSIDE = ('tools', 'robot_integration', 'projects')


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = list(path.relative_to(PKG.parent).with_suffix('').parts)[:-node.level]
                yield '.'.join(base + ([node.module] if node.module else []))
            elif node.module:
                yield node.module


@pytest.mark.parametrize('sub', sorted(FORBIDDEN))
def test_subpackage_does_not_import_upwards(sub):
    bad = []
    for path in (PKG / sub).rglob('*.py'):
        for name in _imports(path):
            parts = name.split('.')
            if parts[0] == 'graspcontrast_mm' and len(parts) > 1 and \
                    parts[1] in FORBIDDEN[sub]:
                bad.append(f'{path.relative_to(PKG.parent)} imports {name}')
    assert not bad, '\n'.join(bad)


def test_package_never_imports_tools_or_integration():
    bad = [f'{p.relative_to(PKG.parent)} imports {n}' for p in PKG.rglob('*.py')
           for n in _imports(p) if n.split('.')[0] in OUTSIDE]
    assert not bad, '\n'.join(bad)
