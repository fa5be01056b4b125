"""CPU runtime defaults (graspcontrast_mm.cpu_runtime): set before torch loads, never
overriding the user, switchable off."""
import os
import subprocess
import sys

from graspcontrast_mm.cpu_runtime import (CPU_RUNTIME_DEFAULTS, CPU_RUNTIME_ENV_VAR,
                                          apply_cpu_runtime_defaults)


def test_defaults_fill_only_missing_variables():
    env = {'OMP_WAIT_POLICY': 'ACTIVE'}
    applied = apply_cpu_runtime_defaults(env)
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
           if k not in CPU_RUNTIME_DEFAULTS and k != CPU_RUNTIME_ENV_VAR}
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
