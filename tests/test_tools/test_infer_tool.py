"""tools/infer.py: arguments checked before any work (exit 2), one-line errors for bad
checkpoints (exit 1), a config stored in a checkpoint never executed (in-process runs of
its ``main`` with a tiny random-weight GSNet)."""
import importlib.util
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from tiny_gsnet import save_checkpoint, tiny_gsnet_model_cfg
from tool_helpers import REPO

from graspcontrast_mm.registry import MODELS

INTRINSICS = ['150', '150', '80', '60']


def _infer_main():
    spec = importlib.util.spec_from_file_location('_tools_infer',
                                                  osp.join(REPO, 'tools', 'infer.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp('infer_tool')
    cfg = Config(dict(model=tiny_gsnet_model_cfg(), test_pipeline=[
        dict(type='PointSample', num_points=2000)]))
    torch.manual_seed(0)
    state = MODELS.build(cfg.model).state_dict()
    good = str(root / 'good.pth')
    save_checkpoint(good, state, cfg.pretty_text)
    depth = np.full((120, 160), 600, np.uint16)
    depth[40:80, 55:105] = 540
    depth_path = str(root / 'depth.png')
    cv2.imwrite(depth_path, depth)
    return dict(root=root, cfg=cfg, state=state, good=good, depth=depth_path)


def _run(capsys, args):
    capsys.readouterr()
    code = _infer_main()(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_checkpoint_alone_runs(files, capsys):
    code, out, _ = _run(capsys, ['-', files['good'], '--depth', files['depth'],
                                 '--intrinsics', *INTRINSICS, '--no-collision-filter'])
    assert code == 0 and 'grasps' in out


def test_stored_config_payload_is_not_executed(files, capsys, tmp_path):
    marker = tmp_path / 'MARKER'
    text = f"_x = __import__('os').system('touch {marker}')\n" + files['cfg'].pretty_text
    evil = str(tmp_path / 'evil.pth')
    save_checkpoint(evil, files['state'], text)
    code, _, err = _run(capsys, ['-', evil, '--depth', files['depth'],
                                 '--intrinsics', *INTRINSICS])
    assert code == 1 and not marker.exists()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: ') and 'not plain data' in lines[0]


@pytest.mark.parametrize('content, expected', [
    (b'', 'empty'), (b'PK\x03\x04 truncated', 'truncated, corrupt'),
])
def test_bad_checkpoint_file_is_a_one_line_error(files, capsys, tmp_path, content,
                                                  expected):
    path = tmp_path / 'bad.pth'
    path.write_bytes(content)
    code, _, err = _run(capsys, ['-', str(path), '--depth', files['depth'],
                                 '--intrinsics', *INTRINSICS])
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and lines[0].startswith('error: ')
    assert expected in lines[0]


def test_nan_checkpoint_is_named(files, capsys, tmp_path):
    state = {k: v.clone() for k, v in files['state'].items()}
    key = 'swad_head.conv_swad.weight'
    state[key][:] = float('nan')
    path = str(tmp_path / 'nan.pth')
    save_checkpoint(path, state, files['cfg'].pretty_text)
    code, _, err = _run(capsys, ['-', path, '--depth', files['depth'],
                                 '--intrinsics', *INTRINSICS])
    assert code == 1 and 'NaN' in err and key in err


@pytest.mark.parametrize('bad', [
    ['--top-k', '-1'], ['--num-points', '0'], ['--seed', '-1'], ['--depth-scale', '0'],
    ['--collision-voxel', '0'], ['--approach-dist', '-0.1'], ['--threads', '0'],
    ['--score-thr', 'nan'], ['--print-rows', 'x'], ['--intrinsics', '150', '150', '80'],
    ['--intrinsics', '0', '150', '80', '60'],
])
def test_bad_numbers_are_rejected_before_work(files, capsys, bad):
    args = ['-', files['good'], '--depth', files['depth']]
    if bad[0] != '--intrinsics':
        args += ['--intrinsics', *INTRINSICS]
    with pytest.raises(SystemExit) as stop:
        _infer_main()(args + bad)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert 'error:' in err[-1] and bad[0].lstrip('-').split('-')[0] in err[-1]
