"""Shared helpers of the tool tests."""
import os
import os.path as osp
import subprocess
import sys


REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
MICRO_CONFIG = osp.join(REPO, 'tests', 'data', 'pretrain_micro.py')


def micro_options(data_root, work_dir):
    """--cfg-options pointing the micro config at a data root, small point counts."""
    views = 'train_dataloader.dataset.pipeline.0.transforms'
    val_views = 'val_dataloader.dataset.pipeline.0.transforms'
    return [
        f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        f'{views}.1.num_points=2048', f'{val_views}.1.num_points=2048',  # PointSample
        'train_dataloader.dataset.pipeline.2.num_key_points=256',
        'val_dataloader.dataset.pipeline.2.num_key_points=256',
    ]


def run_tool(args, cwd=REPO, timeout=600, env_extra=None):
    env = dict(os.environ)
    env.setdefault('OMP_NUM_THREADS', '1')
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    if env_extra:
        env.update(env_extra)
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


PYTHON = sys.executable
