"""tools/real_frames_report.py: the on-object share and its argument errors (the end-to-end
run on the real frames is part of tests/test_study)."""
import os.path as osp
import sys

import numpy as np
import pytest

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
sys.path.insert(0, osp.join(ROOT, 'tools'))
import real_frames_report  # noqa: E402


def _grasp_at(x, y, z):
    row = np.zeros(17, np.float32)
    row[13:16] = (x, y, z)
    return row


def test_object_share_counts_grasp_centres_on_the_mask():
    K = np.array([[100.0, 0, 50], [0, 100.0, 40], [0, 0, 1]])
    seg = np.zeros((80, 100), np.uint8)
    seg[30:50, 40:60] = 101                       # one object around the image centre
    on = _grasp_at(0.0, 0.0, 0.5)                 # projects to (50, 40): inside
    near = _grasp_at(0.1 * 0.5 * 0.21, 0.0, 0.5)  # u = 50 + 100 * 0.0105 / 0.5 = 52.1
    off = _grasp_at(0.2, 0.15, 0.5)               # u = 90, v = 70: background
    behind_edge = _grasp_at((62 - 50) / 100 * 0.5, 0.0, 0.5)  # u = 62: 2 px from the mask
    grasps = np.stack([on, near, off, behind_edge])
    assert real_frames_report.object_share(grasps, K, seg) == pytest.approx(3 / 4)
    assert real_frames_report.object_share(grasps, K, seg, radius=0) == pytest.approx(2 / 4)
    assert real_frames_report.object_share(np.zeros((0, 17)), K, seg) is None
    # behind the camera or outside the image: off the objects, no error
    odd = np.stack([_grasp_at(0.0, 0.0, -0.5), _grasp_at(5.0, 0.0, 0.5), on])
    assert real_frames_report.object_share(odd, K, seg) == pytest.approx(1 / 3)


def test_missing_files_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        real_frames_report.parse_args(['--model', 'a', str(tmp_path / 'none.py'),
                                       str(tmp_path / 'none.pth'), '--out-dir',
                                       str(tmp_path)])
    assert stop.value.code == 2
    assert 'a: file not found' in capsys.readouterr().err
    cfg = tmp_path / 'c.py'
    cfg.write_text('')
    with pytest.raises(SystemExit):
        real_frames_report.parse_args(['--model', 'a', str(cfg), str(cfg), '--out-dir',
                                       str(tmp_path), '--realdata', str(tmp_path / 'nope')])
    assert 'real frame folder not found' in capsys.readouterr().err
