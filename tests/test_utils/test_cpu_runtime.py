"""CPU runtime defaults (graspcontrast_mm.cpu_runtime): set before torch loads, never
overriding the user, switchable off."""
import os
import subprocess
import sys

import pytest

from graspcontrast_mm.cpu_runtime import (CPU_DEPENDENT_DEFAULTS, CPU_RUNTIME_DEFAULTS,
                                          CPU_RUNTIME_ENV_VAR, HEAP_REUSE_ENV_VAR,
                                          apply_cpu_runtime_defaults, cpu_flags,
                                          reuse_freed_heap_memory)

AVX512 = frozenset({'sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512bw'})


def test_defaults_fill_only_missing_variables():
    env = {'OMP_WAIT_POLICY': 'ACTIVE'}
    applied = apply_cpu_runtime_defaults(env, flags=frozenset())
    assert env['OMP_WAIT_POLICY'] == 'ACTIVE'  # the user's choice wins
    assert 'OMP_WAIT_POLICY' not in applied
    assert env['THP_MEM_ALLOC_ENABLE'] == '1' and applied == {'THP_MEM_ALLOC_ENABLE': '1'}
    assert CPU_RUNTIME_DEFAULTS['OMP_WAIT_POLICY'] == 'PASSIVE'


def test_defaults_can_be_switched_off():
    for off in ('0', 'false', 'OFF'):
        env = {CPU_RUNTIME_ENV_VAR: off}
        assert apply_cpu_runtime_defaults(env) == {}
        assert set(env) == {CPU_RUNTIME_ENV_VAR}


def _child(code, **env_updates):
    env = {k: v for k, v in os.environ.items()
           if k not in CPU_RUNTIME_DEFAULTS and k not in CPU_DEPENDENT_DEFAULTS
           and k not in (CPU_RUNTIME_ENV_VAR, HEAP_REUSE_ENV_VAR)}
    env.update(env_updates)
    return subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_importing_the_package_first_sets_the_defaults_before_torch_loads():
    code = ('import sys, os; import graspcontrast_mm.cpu_runtime as r; '
            'print(os.environ.get("OMP_WAIT_POLICY"), "torch" in sys.modules, '
            'r._STATE["torch_was_loaded"])')
    # the package __init__ applies the defaults before its own imports load torch
    assert _child(code) == 'PASSIVE True False'
    assert _child(code, OMP_WAIT_POLICY='ACTIVE') == 'ACTIVE True False'


def test_report_says_when_torch_was_loaded_first(monkeypatch):
    from graspcontrast_mm import cpu_runtime
    monkeypatch.setitem(cpu_runtime._STATE, 'torch_was_loaded', True)
    assert 'torch was imported before graspcontrast_mm' in cpu_runtime.cpu_runtime_report()
    monkeypatch.setitem(cpu_runtime._STATE, 'torch_was_loaded', False)
    report = cpu_runtime.cpu_runtime_report()
    assert 'torch was imported' not in report and 'OMP_WAIT_POLICY=' in report


def test_openblas_kernel_is_pinned_only_on_avx512_cpus(tmp_path):
    env = {}
    assert apply_cpu_runtime_defaults(env, flags=AVX512)['OPENBLAS_CORETYPE'] == 'Haswell'
    env = {}
    apply_cpu_runtime_defaults(env, flags=AVX512 - {'avx512f', 'avx512bw'})  # AVX2 CPU
    assert 'OPENBLAS_CORETYPE' not in env
    env = {}
    apply_cpu_runtime_defaults(env, flags=frozenset({'sse2', 'avx512f'}))  # no AVX2 / FMA
    assert 'OPENBLAS_CORETYPE' not in env
    env = {'OPENBLAS_CORETYPE': 'SkylakeX'}
    assert 'OPENBLAS_CORETYPE' not in apply_cpu_runtime_defaults(env, flags=AVX512)
    assert env['OPENBLAS_CORETYPE'] == 'SkylakeX'  # the user's choice wins
    info = tmp_path / 'cpuinfo'
    info.write_text('processor\t: 0\nflags\t\t: fpu avx2 fma avx512f\n\nprocessor\t: 1\n')
    assert cpu_flags(str(info)) == {'fpu', 'avx2', 'fma', 'avx512f'}
    assert cpu_flags(str(tmp_path / 'missing')) == frozenset()


def test_numpy_sums_3_vectors_left_to_right_after_importing_the_package():
    """What the fast GraspNet evaluator needs to reproduce dexnet bit for bit
    (sdf_grid.check_numerics). Fails on AVX-512 CPUs without the OPENBLAS_CORETYPE
    default: OpenBLAS's AVX-512 dot kernels sum in another order."""
    code = ('import graspcontrast_mm.cpu_runtime as r; r.apply_cpu_runtime_defaults(); '
            'from graspcontrast_mm.evaluation.graspnet_eval.sdf_grid import check_numerics; '
            'print(check_numerics())')
    assert _child(code) == 'True'


# A 200 MB buffer is written and freed 3 times (warm-up), then 3 more times while the
# child counts minor page faults (THP off, so 4 KiB pages).
_REFAULT = (
    'import resource, graspcontrast_mm.cpu_runtime as r, torch\n'
    'def cycle():\n'
    '    a = torch.empty(50_000_000); a.fill_(1); del a\n'
    'for _ in range(3): cycle()\n'
    'f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n'
    'for _ in range(3): cycle()\n'
    'print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0, r._STATE["heap_reuse"])')


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='glibc malloc policy')
def test_freed_large_buffers_are_reused_without_page_faults():
    faults, active = _child(_REFAULT, THP_MEM_ALLOC_ENABLE='0').split()
    faults_off, active_off = _child(_REFAULT, THP_MEM_ALLOC_ENABLE='0',
                                    **{HEAP_REUSE_ENV_VAR: '0'}).split()
    assert (active, active_off) == ('True', 'False')
    assert int(faults) < 1_000
    # glibc's default maps every buffer afresh: one fault per 4 KiB page, unless the
    # kernel backs every mapping with huge pages (THP 'always': one per 2 MiB)
    try:
        with open('/sys/kernel/mm/transparent_hugepage/enabled') as f:
            thp_always = '[always]' in f.read()
    except OSError:
        thp_always = False
    assert int(faults_off) > (3 * 50 if thp_always else 3 * 40_000)
    assert int(faults_off) > 10 * int(faults)


def test_heap_reuse_can_be_switched_off():
    for env in ({HEAP_REUSE_ENV_VAR: 'off'}, {CPU_RUNTIME_ENV_VAR: '0'}):
        assert reuse_freed_heap_memory(env) is False


def test_env_switch_reads_off_values_in_any_case():
    from graspcontrast_mm.cpu_runtime import env_switch_on
    for off in ('0', 'false', ' OFF ', 'No'):
        assert env_switch_on('X', {'X': off}) is False
    for on in ('1', 'yes', 'on', ''):
        assert env_switch_on('X', {'X': on}) is True
    assert env_switch_on('X', {}) is True
