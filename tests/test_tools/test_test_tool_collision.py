"""tools/test.py --collision-thresh sets GSNet's test-time collision detection."""
import importlib.util
import os.path as osp

import pytest
import torch
from tool_helpers import REPO


class _Built(Exception):
    def __init__(self, cfg):
        super().__init__('runner built')
        self.cfg = cfg


def _tool(monkeypatch):
    spec = importlib.util.spec_from_file_location('_tools_test_collision',
                                                  osp.join(REPO, 'tools', 'test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class StopRunner:
        @staticmethod
        def from_cfg(cfg):
            raise _Built(cfg)

    monkeypatch.setattr(module, 'Runner', StopRunner)
    return module.main


@pytest.mark.parametrize('flag, expected', [([], -1.0), (['--collision-thresh', '0.01'], 0.01)])
def test_collision_thresh_flag(monkeypatch, tmp_path, flag, expected):
    ckpt = tmp_path / 'model.pth'
    torch.save(dict(state_dict={}), ckpt)
    main = _tool(monkeypatch)
    with pytest.raises(_Built) as built:
        main([osp.join(REPO, 'configs', 'gsnet_scratch_tiny.py'), str(ckpt),
              '--work-dir', str(tmp_path / 'work')] + flag)
    assert built.value.cfg.model.test_cfg.collision_thresh == expected
