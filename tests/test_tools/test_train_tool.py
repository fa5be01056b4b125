"""tools/train.py and tools/test.py end to end on a micro generated dataset: training,
kill + --resume, distributed (2 processes, gloo), config typos, missing data."""
import glob
import os.path as osp
import shutil
import signal
import subprocess
import time

import pytest

from tool_helpers import MICRO_CONFIG, PYTHON, REPO, micro_options, run_tool


def _train_cmd(data_root, work_dir, *extra):
    return [PYTHON, osp.join(REPO, 'tools', 'train.py'), MICRO_CONFIG,
            '--work-dir', str(work_dir), '--cfg-options',
            *micro_options(data_root, work_dir), *extra]


def _check(proc):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]


@pytest.fixture(scope='module')
def one_epoch_run(micro_graspnet_root, tmp_path_factory):
    """One epoch of the micro config, with an iteration checkpoint every 2 iterations
    (the pre-training configs' iteration CheckpointHook): shared by the tests that only
    read it, or copy it before they resume it."""
    work = tmp_path_factory.mktemp('one_epoch') / 'work'
    _check(run_tool(_train_cmd(micro_graspnet_root, work, 'train_cfg.max_epochs=1',
                               'custom_hooks.1.interval=2')))
    return work


@pytest.mark.xdist_group('one_epoch_run')  # one process: the module fixture runs once
def test_train_then_test_reports_metric(micro_graspnet_root, one_epoch_run, tmp_path):
    work = one_epoch_run
    ckpt = work / 'epoch_1.pth'
    assert ckpt.is_file()
    proc = run_tool([PYTHON, osp.join(REPO, 'tools', 'test.py'), MICRO_CONFIG,
                     str(ckpt), '--work-dir', str(tmp_path / 'test'),
                     '--cfg-options', *micro_options(micro_graspnet_root, work)])
    _check(proc)
    assert 'feature_match/hit_ratio' in proc.stdout
    # summarize_run reads the logs and shows validation before training (epoch 0)
    proc = run_tool([PYTHON, osp.join(REPO, 'tools', 'summarize_run.py'), str(work)])
    _check(proc)
    assert 'validation at epoch 0' in proc.stdout
    assert 'validation at epoch 1' in proc.stdout


def test_kill_then_resume_continues(micro_graspnet_root, tmp_path):
    work = tmp_path / 'work'
    cmd = _train_cmd(micro_graspnet_root, work, 'train_cfg.max_epochs=3')
    env_proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    deadline = time.time() + 400
    try:
        while time.time() < deadline and env_proc.poll() is None:
            if (work / 'epoch_1.pth').is_file() and (work / 'last_checkpoint').is_file():
                break
            time.sleep(0.5)
        assert (work / 'epoch_1.pth').is_file(), 'no checkpoint before the deadline'
    finally:
        if env_proc.poll() is None:
            env_proc.send_signal(signal.SIGKILL)
        env_proc.wait()
    assert not (work / 'epoch_3.pth').is_file(), 'the run ended before it was killed'
    proc = run_tool(cmd + ['--resume'])
    _check(proc)
    assert (work / 'epoch_3.pth').is_file()
    log = (proc.stdout + proc.stderr).lower()
    # mmengine logs where it resumed; epoch 1 or 2 depending on when the kill landed
    assert 'resumed epoch: 1' in log or 'resumed epoch: 2' in log, log[-2000:]


def test_distributed_two_processes_on_cpu(micro_graspnet_root, tmp_path):
    work = tmp_path / 'work'
    cmd = [PYTHON, '-m', 'torch.distributed.run', '--nproc_per_node=2',
           '--master_port=29517', osp.join(REPO, 'tools', 'train.py'), MICRO_CONFIG,
           '--launcher', 'pytorch', '--work-dir', str(work), '--cfg-options',
           *micro_options(micro_graspnet_root, work), 'train_cfg.max_epochs=1']
    proc = run_tool(cmd)
    _check(proc)
    assert (work / 'epoch_1.pth').is_file()
    log = ''.join(open(p).read() for p in glob.glob(str(work / '*' / '*.log')))
    assert 'Distributed training: True' in log
    # 6 anchor frames, batch 2 per process, 2 processes -> 2 iterations per epoch
    # (a single process would need 3)
    assert 'Epoch(train) [1][2/2]' in log


def test_cfg_option_typo_is_an_error(micro_graspnet_root, tmp_path):
    proc = run_tool(_train_cmd(micro_graspnet_root, tmp_path, 'train_cfg.max_epoch=1'))
    assert proc.returncode != 0
    assert 'Did you mean: max_epochs' in proc.stderr


def test_missing_data_root_names_the_path(tmp_path):
    missing = tmp_path / 'no_such_dataset'
    proc = run_tool(_train_cmd(str(missing), tmp_path / 'work'))
    assert proc.returncode != 0
    assert str(missing) in proc.stderr


@pytest.mark.xdist_group('one_epoch_run')
def test_iteration_checkpoint_and_resume_from_it(micro_graspnet_root, one_epoch_run,
                                                 tmp_path):
    """Mid-epoch checkpoints (the pre-training configs' iteration CheckpointHook) can be
    resumed from."""
    work = tmp_path / 'work'
    shutil.copytree(one_epoch_run, work)
    iter_ckpts = glob.glob(str(work / 'iter_*.pth'))
    assert len(iter_ckpts) == 1, iter_ckpts  # max_keep_ckpts=1
    proc = run_tool(_train_cmd(micro_graspnet_root, work, 'train_cfg.max_epochs=2',
                               'custom_hooks.1.interval=2') + ['--resume', iter_ckpts[0]])
    _check(proc)
    # iter_2 is mid-epoch 1 (3 iterations per epoch): mmengine resumes at epoch 0, iter 2
    assert 'resumed epoch: 0, iter: 2' in (proc.stdout + proc.stderr).lower()
    assert (work / 'epoch_2.pth').is_file()
