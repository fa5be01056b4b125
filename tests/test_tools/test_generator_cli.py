"""tools/create_graspnet_scenes.py and generate_dataset: settings are checked before any
file (the manifest included) is written."""
import os.path as osp
import sys

import pytest

from graspcontrast_mm.synthetic import generate_dataset
from graspcontrast_mm.synthetic.generator import MANIFEST_NAME
from tool_helpers import REPO


@pytest.fixture(scope='module')
def cli():
    sys.path.insert(0, osp.join(REPO, 'tools'))
    try:
        import create_graspnet_scenes
    finally:
        sys.path.pop(0)
    return create_graspnet_scenes


@pytest.mark.parametrize('bad', [
    ['--num-scenes', '-1'], ['--num-scenes', '0'], ['--num-views', '0'],
    ['--seed', '-1'], ['--image-size', '0', '0'], ['--image-size', '640', '-360'],
])
def test_bad_numbers_are_argparse_errors(cli, tmp_path, capsys, bad):
    out = tmp_path / 'root'
    with pytest.raises(SystemExit) as stop:
        cli.main(['--out', str(out), '--quiet'] + bad)
    assert stop.value.code == 2
    assert 'error:' in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize('kwargs, match', [
    (dict(image_size=(0, 0)), 'image_size'),
    (dict(num_scenes=-1), 'num_scenes'),
    (dict(seed=-1), 'seed'),
    (dict(scene_ids=[]), 'no scene'),
])
def test_generate_dataset_checks_settings_before_the_manifest(tmp_path, kwargs, match):
    root = tmp_path / 'root'
    with pytest.raises(ValueError, match=match):
        generate_dataset(str(root), 'tiny', progress=False, **kwargs)
    assert not (root / MANIFEST_NAME).exists()


def test_cli_setting_error_is_one_line(cli, tmp_path, capsys):
    assert cli.main(['--out', str(tmp_path / 'r'), '--scene-ids', ',', '--quiet']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: ')
