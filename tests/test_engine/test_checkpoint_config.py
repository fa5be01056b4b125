"""Configs stored in checkpoints are parsed as data, never executed."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from graspcontrast_mm.engine import (UnsafeConfigError, config_from_checkpoint,
                                     parse_config_text)

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
PAYLOADS = [
    "_x = __import__('os').system('touch {marker}')\n",
    "import os\n_x = os.system('touch {marker}')\n",
    "_x = open('{marker}', 'w')\n",
    "model = dict(type=(lambda: open('{marker}', 'w'))())\n",
    "model = dict(type=[c for c in ().__class__.__base__.__subclasses__()])\n",
    "_base_ = '{marker}.py'\n",
    "model = dict(**{{'a': 1}})\n",
    "model = dict(type=f'{{1}}')\n",
    "model.x = 1\n",
]


@pytest.mark.parametrize('payload', PAYLOADS)
def test_payloads_are_refused_and_not_run(payload, tmp_path):
    marker = tmp_path / 'MARKER'
    text = payload.format(marker=marker) + "model = dict(type='GSNet')\n"
    with pytest.raises(UnsafeConfigError, match='not plain data|cannot be parsed'):
        parse_config_text(text, 'checkpoint evil.pth')
    assert not marker.exists()


def test_shipped_configs_round_trip_as_data():
    """pretty_text of the shipped configs (pre-training, detector with a key-mapping
    dict, project) parses to the same dict as executing it would."""
    files = [osp.join(REPO, 'configs', 'pretrain_fne_tiny.py'),
             osp.join(REPO, 'configs', 'gsnet_scratch_tiny.py'),
             osp.join(REPO, 'configs', 'gsnet', 'gsnet_fne_realsense_16of256.py')]
    files += glob.glob(osp.join(REPO, 'projects', '*', 'configs', '*.py'))[:1]
    for f in files:
        cfg = Config.fromfile(f)
        parsed = Config(parse_config_text(cfg.pretty_text, f)).to_dict()
        assert parsed == Config.fromstring(cfg.pretty_text, '.py').to_dict(), f


def test_values_forms():
    text = ("a = dict(x=-1, y=+2.5, z=inf, w=-inf, v=float('nan'))\n"
            "b = [1, (2, 3), {4}, {'k': None}, True, b'x']\n"
            "c = dict({'^final\\.': ''}, extra=1)\n")
    out = parse_config_text(text)
    assert out['a']['x'] == -1 and out['a']['z'] == float('inf')
    assert out['a']['w'] == float('-inf') and out['a']['v'] != out['a']['v']
    assert out['b'] == [1, (2, 3), {4}, {'k': None}, True, b'x']
    assert out['c'] == {'^final\\.': '', 'extra': 1}


def test_config_from_checkpoint_sources():
    text = "model = dict(type='GSNet')\n"
    assert config_from_checkpoint(dict(meta=dict(cfg=text))).model.type == 'GSNet'
    hub = dict(message_hub=dict(runtime_info=dict(cfg=text)))
    assert config_from_checkpoint(hub).model.type == 'GSNet'
    with pytest.raises(UnsafeConfigError, match='does not embed its config'):
        config_from_checkpoint(dict(state_dict={}), 'checkpoint x.pth')
    with pytest.raises(UnsafeConfigError, match='cannot be parsed'):
        parse_config_text('model = dict(', 'checkpoint x.pth')
