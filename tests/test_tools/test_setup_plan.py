"""tools/setup_plan.py (version logic of the set-up) and tools/setup_env.sh --dry-run."""
import importlib.util
import os
import os.path as osp
import shutil
import subprocess

import pytest

from tool_helpers import REPO

PLAN_PATH = osp.join(REPO, 'tools', 'setup_plan.py')
SETUP_SH = osp.join(REPO, 'tools', 'setup_env.sh')
BASH = shutil.which('bash')
_spec = importlib.util.spec_from_file_location('setup_plan', PLAN_PATH)
plan = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plan)

NVCC_12_6 = """nvcc: NVIDIA (R) Cuda compiler driver
Copyright (c) 2005-2024 NVIDIA Corporation
Built on Tue_Oct_29_23:50:19_PDT_2024
Cuda compilation tools, release 12.6, V12.6.85
Build cuda_12.6.r12.6/compiler.35059454_0
"""
SMI_12_4 = """Mon Nov 24 10:00:00 2025
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.15              Driver Version: 550.54.15      CUDA Version: 12.4     |
|-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
"""


# ----------------------------------------------------------------------- parsing
def test_parse_nvcc_and_driver_versions():
    assert plan.parse_nvcc_version(NVCC_12_6) == (12, 6)
    assert plan.parse_nvcc_version('Cuda compilation tools, release 13.0, V13.0.88') \
        == (13, 0)
    assert plan.parse_driver_cuda(SMI_12_4) == (12, 4)
    with pytest.raises(plan.PlanError, match='nvcc'):
        plan.parse_nvcc_version('command not found')
    with pytest.raises(plan.PlanError, match='CUDA Version'):
        plan.parse_driver_cuda('NVIDIA-SMI has failed because it could not communicate')


@pytest.mark.parametrize('text, expected', [('12.6', (12, 6)), ('13', (13, 0)),
                                            ('12.6.3', (12, 6)), (' 11.8 ', (11, 8))])
def test_parse_version(text, expected):
    assert plan.parse_version(text) == expected


@pytest.mark.parametrize('text', ['', 'cu126', '12.x', 'twelve'])
def test_parse_version_rejects_garbage(text):
    with pytest.raises(plan.PlanError):
        plan.parse_version(text)


@pytest.mark.parametrize('tag, version', [('cu126', (12, 6)), ('cu130', (13, 0)),
                                          ('cu118', (11, 8)), ('cu92', (9, 2))])
def test_cuda_tags_round_trip(tag, version):
    assert plan.parse_cuda_tag(tag) == version
    assert plan.cuda_tag(version) == tag


# ----------------------------------------------------------------------- spconv
@pytest.mark.parametrize('cuda, package, exact', [
    ((12, 6), 'spconv-cu126', True),
    ((12, 4), 'spconv-cu124', True),
    ((12, 1), 'spconv-cu121', True),
    ((11, 8), 'spconv-cu118', True),
    ((11, 4), 'spconv-cu114', True),
    ((13, 0), 'spconv-cu126', False),   # the registry's torch: nearest older wheel
    ((12, 8), 'spconv-cu126', False),
    ((12, 5), 'spconv-cu124', False),
    ((12, 2), 'spconv-cu121', False),
    ((12, 0), 'spconv-cu118', False),   # spconv-cu120 stops at 2.3.6
    ((11, 7), 'spconv-cu114', False),   # spconv-cu117 / cu116 stop at 2.3.6
])
def test_spconv_package_for_torch_cuda(cuda, package, exact):
    choice = plan.spconv_package(cuda)
    assert choice.package == package
    assert choice.exact is exact
    assert package in choice.note
    assert ('nearest older' in choice.note) is (not exact)


def test_spconv_package_is_not_newer_than_the_driver():
    assert plan.spconv_package((12, 6), driver_cuda=(12, 1)).package == 'spconv-cu121'
    assert plan.spconv_package((12, 1), driver_cuda=(12, 6)).package == 'spconv-cu121'
    assert plan.spconv_package((13, 0), driver_cuda=(13, 1)).package == 'spconv-cu126'


def test_spconv_package_too_old_cuda():
    with pytest.raises(plan.PlanError, match='no CUDA wheel'):
        plan.spconv_package((11, 3))


def test_spconv_builds_are_the_published_2_3_8_wheels():
    # cu113, cu116, cu117 and cu120 have no 2.3.8 release (they stop at 2.3.6)
    assert [plan.cuda_tag(v) for v in plan.SPCONV_CUDA_BUILDS] == [
        'cu114', 'cu118', 'cu121', 'cu124', 'cu126']
    assert list(plan.SPCONV_CUDA_BUILDS) == sorted(plan.SPCONV_CUDA_BUILDS)


# ------------------------------------------------------------------------ torch
def test_cuda13_machine_takes_the_registry_build():
    src = plan.torch_source_cuda((13, 0), (13, 0))
    assert src.spec == 'torch===2.13.0'
    assert src.index_args == ()
    assert src.cuda == (13, 0)


def test_registry_spec_excludes_a_local_cpu_file():
    """'===' pins the registry's plain 2.13.0; '==' would also take a '+cpu' file."""
    packaging = pytest.importorskip('packaging.specifiers')
    strict = packaging.SpecifierSet('===2.13.0')
    assert '2.13.0' in strict and '2.13.0+cpu' not in strict
    assert '2.13.0+cpu' in packaging.SpecifierSet('==2.13.0')
    assert '2.13.0+cu126' in packaging.SpecifierSet('==2.13.0+cu126')
    assert '2.13.0+cpu' not in packaging.SpecifierSet('==2.13.0+cu126')


@pytest.mark.parametrize('toolkit, driver', [((12, 6), (12, 6)), ((12, 1), (12, 1)),
                                             ((12, 8), (13, 0))])
def test_cuda12_machine_takes_pytorch_cu126_index(toolkit, driver):
    src = plan.torch_source_cuda(toolkit, driver)
    assert src.spec == 'torch==2.13.0+cu126'
    assert src.index_args == ('--index-url', 'https://download.pytorch.org/whl/cu126')
    assert src.cuda == (12, 6)


def test_named_torch_index():
    src = plan.torch_source_cuda((12, 4), (12, 8),
                                 'https://download.pytorch.org/whl/cu128/')
    assert src.spec == 'torch==2.13.0+cu128'
    assert src.cuda == (12, 8)
    assert src.index_args[0] == '--index-url'


@pytest.mark.parametrize('toolkit, driver, index, message', [
    ((11, 8), (12, 0), None, 'CUDA 12.x or 13.x toolkit'),
    ((13, 0), (12, 8), None, 'driver supports CUDA up to 12.8'),
    ((12, 6), (11, 8), None, 'needs a driver for CUDA 12.0'),
    ((12, 6), (13, 0), 'https://download.pytorch.org/whl/cu130', 'major version'),
    ((12, 6), (12, 6), 'https://example.org/simple', 'cannot tell the CUDA version'),
])
def test_incompatible_machines_are_refused(toolkit, driver, index, message):
    with pytest.raises(plan.PlanError, match=message):
        plan.torch_source_cuda(toolkit, driver, index)


def test_cpu_sources_prefer_pytorch_cpu_index():
    preferred, fallback = plan.torch_sources_cpu()
    assert preferred.spec == 'torch==2.13.0+cpu'
    assert preferred.index_args == ('--extra-index-url',
                                    'https://download.pytorch.org/whl/cpu')
    assert fallback.spec == 'torch==2.13.0' and fallback.index_args == ()


# ------------------------------------------------------------------------- mmcv
def test_mmcv_build_flags():
    env, args = plan.mmcv_build('cpu')
    assert env == {'MMCV_WITH_OPS': '1', 'FORCE_CUDA': '0'}
    assert args == ('--no-build-isolation',)
    env, args = plan.mmcv_build('cuda')
    assert env == {'MMCV_WITH_OPS': '1', 'FORCE_CUDA': '1'}
    # a CPU build of the same sdist may sit in pip's wheel cache under the same name
    assert '--no-cache-dir' in args and '--no-build-isolation' in args
    with pytest.raises(plan.PlanError):
        plan.mmcv_build('rocm')


# ------------------------------------------------------------------ requirements
def test_filter_requirements_drops_only_spconv():
    with open(osp.join(REPO, 'requirements', 'runtime.txt')) as f:
        lines = f.read().splitlines()
    kept = plan.filter_requirements(lines, ['spconv'])
    names = [plan.requirement_name(x) for x in kept]
    assert 'spconv' not in names
    assert 'mmengine' in names and 'open3d' in names
    assert all(not x.startswith('#') and x for x in kept)
    all_names = {plan.requirement_name(x) for x in lines} - {None}
    assert set(names) == all_names - {'spconv'}
    assert plan.filter_requirements(['spconv-cu126==2.3.8', 'Spconv>=2'], ['spconv']) \
        == ['spconv-cu126==2.3.8']


def test_spconv_conflicts():
    freeze = ['cumm==0.7.11', 'spconv==2.3.8', 'numpy==2.4.6', 'spconv-cu121==2.3.8',
              'cumm-cu121 @ file:///tmp/cumm.whl', '-e git+https://x/y#egg=z']
    assert plan.spconv_conflicts(freeze, 'spconv-cu126') == [
        'cumm', 'spconv', 'spconv-cu121', 'cumm-cu121']
    assert plan.spconv_conflicts(freeze, 'spconv') == ['spconv-cu121', 'cumm-cu121']
    assert plan.spconv_conflicts(['spconv==2.3.8', 'cumm==0.7.11'], 'spconv') == []


# ------------------------------------------------------------------- shell plan
def _eval_plan(*args, echo='$SPCONV_PKG|$TORCH_SPEC|${TORCH_INDEX_ARGS[*]}|'
                            '${MMCV_ENV[*]}|$TORCH_CUDA'):
    proc = subprocess.run(
        ['bash', '-c', f'set -eu; eval "$(python3 "$0" "$@")"; echo "{echo}"',
         PLAN_PATH, *args], capture_output=True, text=True, timeout=60)
    return proc


def test_shell_plan_evaluates_in_bash():
    proc = _eval_plan('shell', '--mode', 'cuda', '--assume-cuda', '12.1')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        'spconv-cu121|torch==2.13.0+cu126|--index-url '
        'https://download.pytorch.org/whl/cu126|MMCV_WITH_OPS=1 FORCE_CUDA=1|12.6')
    proc = _eval_plan('shell', '--mode', 'cuda', '--nvcc-text',
                      'Cuda compilation tools, release 13.0, V13.0.88',
                      '--smi-text', '| Driver Version: 580.65  CUDA Version: 13.0 |')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == \
        'spconv-cu126|torch===2.13.0||MMCV_WITH_OPS=1 FORCE_CUDA=1|13.0'
    proc = _eval_plan('shell', '--mode', 'cpu')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        'spconv|torch==2.13.0+cpu|--extra-index-url https://download.pytorch.org/whl/cpu|'
        'MMCV_WITH_OPS=1 FORCE_CUDA=0|')


def test_shell_plan_errors_exit_2_with_a_message(capsys):
    assert plan.main(['shell', '--mode', 'cuda', '--nvcc-text', NVCC_12_6,
                      '--smi-text', 'no driver']) == 2
    assert 'CUDA Version' in capsys.readouterr().err
    assert plan.main(['shell', '--mode', 'cpu', '--assume-cuda', '12.6']) == 2
    assert plan.main(['shell', '--mode', 'cpu', '--torch-index',
                      'https://download.pytorch.org/whl/cu126']) == 2


def test_spconv_subcommand(capsys):
    assert plan.main(['spconv', '--torch-cuda', '13.0', '--driver-cuda', '13.0']) == 0
    out = capsys.readouterr().out
    assert 'SPCONV_PKG=spconv-cu126' in out and 'nearest older' in out


def test_probe_of_an_unreachable_url_is_quick():
    # a closed local port: refused at once
    assert plan.probe('http://127.0.0.1:9/', timeout=2) is False


# --------------------------------------------------------- setup_env.sh --dry-run
def _setup(tmp_path, *args, path=None, extra_env=None):
    env = dict(os.environ, GRASPCONTRAST_VENV=str(tmp_path / 'venv'))
    for key in ('GRASPCONTRAST_DEVICE', 'GRASPCONTRAST_TORCH_INDEX', 'CUDA_HOME',
                'CUDA_PATH'):
        env.pop(key, None)
    if path is not None:
        env['PATH'] = path
    env.update(extra_env or {})
    proc = subprocess.run([BASH, SETUP_SH, *args], capture_output=True, text=True,
                          env=env, timeout=120)
    assert not (tmp_path / 'venv').exists(), 'a dry run / refused run created the venv'
    return proc


def _commands(stdout):
    return [line[2:] for line in stdout.splitlines() if line.startswith('+ ')]


def test_dry_run_cuda_12_6(tmp_path):
    proc = _setup(tmp_path, '--dry-run', '--assume-cuda', '12.6')
    assert proc.returncode == 0, proc.stderr
    cmds = '\n'.join(_commands(proc.stdout))
    assert ('torch==2.13.0+cu126 --index-url https://download.pytorch.org/whl/cu126'
            in cmds)
    assert 'env MMCV_WITH_OPS=1 FORCE_CUDA=1 ' in cmds and '--no-cache-dir mmcv==2.1.0' in cmds
    assert 'spconv-cu126==2.3.8' in cmds
    assert ' spconv==' not in cmds and 'runtime.txt' not in cmds
    assert _commands(proc.stdout)[-1].endswith(' benchmarks/gpu_check.py --require-cuda')
    assert 'exact match' in proc.stdout


def test_dry_run_cuda_12_1_uses_spconv_cu121(tmp_path):
    proc = _setup(tmp_path, '--dry-run', '--assume-cuda', '12.1')
    assert proc.returncode == 0, proc.stderr
    cmds = '\n'.join(_commands(proc.stdout))
    assert 'spconv-cu121==2.3.8' in cmds and 'torch==2.13.0+cu126' in cmds


def test_dry_run_cuda_13_0_uses_registry_torch(tmp_path):
    proc = _setup(tmp_path, '--dry-run', '--assume-cuda', '13.0')
    assert proc.returncode == 0, proc.stderr
    cmds = '\n'.join(_commands(proc.stdout))
    assert 'torch===2.13.0' in cmds and '--index-url' not in cmds
    assert 'spconv-cu126==2.3.8' in cmds
    assert 'nearest older' in proc.stdout


def test_dry_run_cpu_default(tmp_path):
    proc = _setup(tmp_path, '--dry-run')
    assert proc.returncode == 0, proc.stderr
    cmds = _commands(proc.stdout)
    text = '\n'.join(cmds)
    assert 'torch==2.13.0+cpu --extra-index-url https://download.pytorch.org/whl/cpu' \
        in text
    assert any(c.endswith(' -q torch==2.13.0') for c in cmds)  # the fall-back
    assert 'FORCE_CUDA=0' in text and 'FORCE_CUDA=1' not in text
    assert '-r requirements/runtime.txt' in text
    assert 'spconv-cu' not in text and 'gpu_check' not in text
    assert 'ninja' not in text
    # torch 2.13.0 needs setuptools >= 77.0.3; mmcv's setup.py needs pkg_resources (< 81)
    assert "--upgrade 'pip<26' wheel 'setuptools>=77.0.3,<81'" in text


def test_cuda_mode_without_nvidia_smi_fails_before_installing(tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    for tool in ('python3', 'dirname', 'cat', 'sha256sum', 'cut', 'sed', 'id', 'readlink'):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    proc = _setup(tmp_path, '--cuda', path=str(bin_dir))
    assert proc.returncode == 1
    assert 'needs nvidia-smi' in proc.stderr and 'Nothing was installed' in proc.stderr


def _fake_tools(tmp_path, nvcc_release, smi_cuda, with_nvcc=True):
    bin_dir = tmp_path / 'fakebin'
    bin_dir.mkdir()
    (bin_dir / 'nvidia-smi').write_text(
        f'#!/bin/sh\necho "| NVIDIA-SMI 580.65   Driver Version: 580.65   '
        f'CUDA Version: {smi_cuda} |"\n')
    if with_nvcc:
        (bin_dir / 'nvcc').write_text(
            f'#!/bin/sh\necho "Cuda compilation tools, release {nvcc_release}, '
            f'V{nvcc_release}.1"\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return bin_dir


def test_cuda_mode_without_nvcc_fails_before_installing(tmp_path):
    fake = _fake_tools(tmp_path, '12.6', '12.6', with_nvcc=False)
    empty_cuda = tmp_path / 'cuda'
    (empty_cuda / 'bin').mkdir(parents=True)
    proc = _setup(tmp_path, '--cuda', path=f'{fake}:{os.environ["PATH"]}',
                  extra_env=dict(CUDA_HOME=str(empty_cuda)))
    assert proc.returncode == 1
    assert 'needs nvcc' in proc.stderr and str(empty_cuda) in proc.stderr
    assert 'Nothing was installed' in proc.stderr


def test_cuda_mode_uses_the_nvcc_of_cuda_home(tmp_path):
    """With CUDA_HOME set, its nvcc is the one checked (as torch's builder uses it)."""
    fake = _fake_tools(tmp_path, '12.6', '12.4')         # nvcc 12.6 on PATH ...
    cuda_home = tmp_path / 'cuda'
    (cuda_home / 'bin').mkdir(parents=True)
    (cuda_home / 'bin' / 'nvcc').write_text(              # ... but CUDA_HOME has 11.8
        '#!/bin/sh\necho "Cuda compilation tools, release 11.8, V11.8.89"\n')
    (cuda_home / 'bin' / 'nvcc').chmod(0o755)
    proc = _setup(tmp_path, '--cuda', path=f'{fake}:{os.environ["PATH"]}',
                  extra_env=dict(CUDA_HOME=str(cuda_home)))
    assert proc.returncode == 1
    assert 'nvcc is CUDA 11.8' in proc.stderr


@pytest.mark.parametrize('nvcc, smi, message', [
    ('11.8', '12.4', 'CUDA 12.x or 13.x toolkit'),
    ('13.0', '12.8', 'driver supports CUDA up to 12.8'),
])
def test_cuda_mode_refuses_unusable_machines_before_installing(tmp_path, nvcc, smi,
                                                               message):
    fake = _fake_tools(tmp_path, nvcc, smi)
    proc = _setup(tmp_path, '--cuda', path=f'{fake}:{os.environ["PATH"]}')
    assert proc.returncode == 1
    assert message in proc.stderr
    assert '+ ' not in proc.stdout and 'installing' not in proc.stdout


def test_assume_cuda_needs_dry_run_and_bad_options_fail(tmp_path):
    proc = _setup(tmp_path, '--assume-cuda', '12.6')
    assert proc.returncode == 1 and 'only applies to --dry-run' in proc.stderr
    proc = _setup(tmp_path, '--no-such-option')
    assert proc.returncode == 1 and 'unknown option' in proc.stderr
    proc = _setup(tmp_path, '--help')
    assert proc.returncode == 0 and '--assume-cuda' in proc.stdout
