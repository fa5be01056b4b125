"""A SparseUNet state dict written without mmdet3d loads unchanged with mmdet3d's spconv
loader (which permutes kernels of state dicts not marked version 2)."""
import os
import subprocess
import sys

import torch

SAVE = r'''
import sys, torch
import graspcontrast_mm  # noqa: F401  (not mmdet3d.models)
assert 'mmdet3d.models' not in sys.modules
from graspcontrast_mm.models.backbones import SparseUNet
torch.manual_seed(0)
net = SparseUNet(in_channels=1, out_channels=8, planes=(8, 8, 8, 8, 8, 8, 8, 8), init_dim=8)
torch.save(net.state_dict(), sys.argv[1])
'''

LOAD = r'''
import sys, torch
import mmdet3d.models  # noqa: F401  installs mmdet3d's spconv state-dict loader
import graspcontrast_mm  # noqa: F401
from graspcontrast_mm.models.backbones import SparseUNet
saved = torch.load(sys.argv[1])
net = SparseUNet(in_channels=1, out_channels=8, planes=(8, 8, 8, 8, 8, 8, 8, 8), init_dim=8)
net.load_state_dict(saved)
bad = [k for k, v in net.state_dict().items() if not torch.equal(v, saved[k])]
assert not bad, f'changed on load: {bad[:5]}'
print('OK')
'''


def test_state_dict_round_trip_across_mmdet3d_loader(tmp_path):
    path = str(tmp_path / 'unet.pth')
    env = dict(os.environ, OMP_NUM_THREADS='1')
    for script, args in ((SAVE, [path]), (LOAD, [path])):
        proc = subprocess.run([sys.executable, '-c', script, *args], env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'OK' in proc.stdout
