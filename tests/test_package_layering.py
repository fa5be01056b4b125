"""The package's imports run one way: apis -> models, datasets, evaluation,
visualization -> structures, registry. The synthetic generator writes through the
dataset's file formats (``datasets.graspnet_io``), never the other way round: datasets and
evaluation read every GraspNet file without the generator. Nothing imports tools,
robot_integration or projects."""
import ast
import os.path as osp
import pathlib

import pytest

PKG = pathlib.Path(__file__).resolve().parents[1] / 'graspcontrast_mm'

# subpackage -> subpackages it must not import (directly or lazily inside functions)
FORBIDDEN = {
    'structures': {'datasets', 'models', 'evaluation', 'apis', 'visualization', 'engine',
                   'synthetic'},
    'datasets': {'models', 'evaluation', 'apis', 'visualization', 'synthetic'},
    'evaluation': {'models', 'apis', 'visualization', 'synthetic'},
    'visualization': {'models', 'datasets', 'evaluation', 'apis', 'synthetic'},
    'models': {'datasets', 'evaluation', 'apis', 'visualization', 'synthetic'},
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


def test_reading_the_dataset_does_not_load_the_generator():
    """Importing the dataset, its transforms and the evaluators leaves the generator
    unloaded: every GraspNet file they read goes through ``datasets.graspnet_io``."""
    import subprocess
    import sys
    code = ('import sys, graspcontrast_mm.datasets, graspcontrast_mm.evaluation; '
            'print(sorted(m for m in sys.modules if m.startswith("graspcontrast_mm.synthetic")))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         cwd=str(PKG.parent), check=True).stdout.strip().splitlines()[-1]
    assert out == '[]', out


def test_robot_integration_is_installed_and_nothing_edits_sys_path(tmp_path):
    """``robot_integration`` imports from any working directory (it is installed with the
    package), so neither it nor the package touches ``sys.path``. Only ``tools/train.py``
    and ``tools/test.py`` put the repository root on it, for configs that import
    ``projects.*`` with ``custom_imports`` (mmdet3d's projects convention)."""
    import subprocess
    import sys
    code = 'import robot_integration.pick_and_place as m; print(m.__file__)'
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr[-2000:]
    assert pathlib.Path(out.stdout.strip()).parent == PKG.parent / 'robot_integration'
    root = PKG.parent
    editing = sorted(str(p.relative_to(root)) for d in ('graspcontrast_mm', 'robot_integration',
                                                        'tools', 'benchmarks', 'projects')
                     for p in (root / d).rglob('*.py') if 'sys.path.' in p.read_text())
    assert editing == ['tools/test.py', 'tools/train.py'], editing
