"""tools/real_feature_match.py: sequence reading and its errors, argument checks, the
real-view pipeline (the study's micro test runs the whole tool on the real frames)."""
import os.path as osp
import sys

import numpy as np
import pytest
from mmengine.config import Config

from tool_helpers import REPO

sys.path.insert(0, osp.join(REPO, 'tools'))
import real_feature_match as rfm  # noqa: E402

FRAMES = osp.join(REPO, '..', 'shared', 'realdata', 'sevenscenes_multiview')


def _write_sequence(folder, n=2, pose=None):
    import cv2
    folder.mkdir()
    np.savetxt(folder / 'camera-intrinsics.txt', [[585, 0, 320], [0, 585, 240], [0, 0, 1]])
    for i in range(n):
        cv2.imwrite(str(folder / f'frame-{i:06d}.depth.png'),
                    np.full((48, 64), 900, np.uint16))
        np.savetxt(folder / f'frame-{i:06d}.pose.txt', np.eye(4) if pose is None else pose)
    return folder


def test_read_sequence_and_its_errors(tmp_path):
    frames, K = rfm.read_sequence(str(_write_sequence(tmp_path / 'ok', 3)))
    assert [f[0] for f in frames] == ['frame-000000', 'frame-000001', 'frame-000002']
    assert K[0, 0] == 585 and frames[0][2].shape == (4, 4)
    with pytest.raises(FileNotFoundError, match='not found'):
        rfm.read_sequence(str(tmp_path / 'missing'))
    bad = _write_sequence(tmp_path / 'bad', 2, pose=np.diag([2.0, 1, 1, 1]))
    with pytest.raises(ValueError, match='not a rigid'):
        rfm.read_sequence(str(bad))
    one = _write_sequence(tmp_path / 'one', 1)
    with pytest.raises(ValueError, match='fewer than two'):
        rfm.read_sequence(str(one))
    (tmp_path / 'ok' / 'frame-000001.pose.txt').unlink()
    with pytest.raises(FileNotFoundError, match='pose of'):
        rfm.read_sequence(str(tmp_path / 'ok'))


def test_arguments_are_checked():
    for argv in (['cfg.py'], ['cfg.py', '--checkpoints', 'nonamepath'],
                 ['cfg.py', '--random-init', '--max-depth', '0']):
        with pytest.raises(SystemExit):
            rfm.parse_args(argv)


def test_real_view_pipeline_drops_table_frame_steps():
    from graspcontrast_mm.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'study', 'pretrain_study_fne.py'))
    pipe = rfm.real_view_pipeline(cfg, 1.1)
    views = pipe.transforms[0].pipeline.transforms
    names = [type(t).__name__ for t in views]
    assert not set(rfm.DROPPED_VIEW_STEPS) & set(names)
    load = views[names.index('LoadDepthImage')]
    assert load.invalid_value == rfm.INVALID_DEPTH
    assert views[names.index('DepthToPoints')].max_depth == 1.1
    # the config itself is untouched
    first = cfg.val_dataloader.dataset.pipeline[0]['transforms']
    assert 'ObjectWorkspaceCrop' in [t['type'] for t in first]
