"""CPU runtime defaults: how torch's OpenMP threads wait, and how large buffers are paged.

Why
---
torch's CPU kernels (and MKL's GEMMs inside them) run as OpenMP parallel regions; every
region ends at a barrier where the fast threads wait for the slow ones. GNU OpenMP's
default is to *spin* at that barrier for a long time (about 300 000 iterations) before
sleeping. On an idle machine that saves a wake-up; on a shared one it is a disaster: when
another busy process takes a core, one of our threads is descheduled, its partner burns
its own time slice spinning, and every one of the thousands of short regions of a sparse
UNet step waits for the scheduler. Measured on a 2-core machine (the real GraspNet Kinect
frame, reference-width UNet, 2 threads, other jobs running): forward 11-15 s and
forward + backward 40-47 s with the default policy, 1.9 s and 4.3-5.1 s with passive
waiting (``docs/benchmarks.md``). A thread that sleeps at once gives its core to whoever
can use it, which is the fair share a user expects.

The second default asks c10's CPU allocator to back large tensors with transparent huge
pages (``THP_MEM_ALLOC_ENABLE=1``): a freshly allocated 86 MB gather buffer otherwise
costs about 60 ms of page faults before the first byte is written (4x less with huge
pages), and a sparse conv allocates several of those per call.

How
---
Both settings are read by the OpenMP runtime and by c10 when torch is *loaded*, so they
must be in the environment before ``import torch``. :func:`apply_cpu_runtime_defaults`
sets them (never overriding a value the user exported) and is called first thing by
``import graspcontrast_mm``; the tools import the package before torch. When torch was
imported earlier (for example by a user script that imports torch first), the call changes
nothing and :func:`cpu_runtime_report` says so; export the variables in the shell instead.
Set ``GRASPCONTRAST_CPU_RUNTIME=0`` to keep the libraries' own defaults.

The third default concerns how memory is returned to the operating system. glibc's
``malloc`` maps every allocation above 32 MiB (at most) afresh with ``mmap`` and unmaps it
on ``free``, so a 67 MB feature map or a 550 MB gather buffer of a sparse conv costs page
faults and kernel zeroing on every call (in a paper-scale pre-training step a ReLU on
87 000 x 192 features took 85 ms instead of 6 ms, a batch norm 61 ms instead of 11 ms).
:func:`reuse_freed_heap_memory` asks glibc (``mallopt``, at run time, so it also works
when torch was imported first) to serve large allocations from the heap and to keep freed
heap memory for the next allocation (``M_MMAP_MAX=0``, ``M_TRIM_THRESHOLD`` at its
largest value). The process then keeps its peak memory until it exits instead of
returning it between steps. Set ``GRASPCONTRAST_CPU_HEAP_REUSE=0`` to keep glibc's
defaults; on other C libraries nothing is changed.

The fourth default concerns numpy, not torch: on x86-64 CPUs with AVX-512, numpy's
OpenBLAS picks AVX-512 kernels whose dot product of two 3-vectors (what dexnet's
``np.linalg.norm`` / ``ndarray.dot`` compute per contact point in graspnetAPI's
evaluation) sums in another order than left to right. The fast GraspNet evaluator
(:mod:`graspcontrast_mm.evaluation.graspnet_eval`) reproduces dexnet bit for bit only with
left-to-right sums; elsewhere it falls back to dexnet itself (the same AP, several times
slower). ``OPENBLAS_CORETYPE=Haswell`` (AVX2 + FMA kernels, which every AVX-512 CPU runs)
restores the left-to-right sums; it is set only on CPUs that report ``avx512f``, ``avx2``
and ``fma`` (Linux ``/proc/cpuinfo``), so that no CPU is told to run instructions it lacks.
torch uses MKL and is not affected. The variable is read when numpy is *loaded*: import
this package before numpy (the tools do).

This module imports only the standard library.
"""
import os
import sys
from typing import Dict, FrozenSet, Optional, Tuple

__all__ = ['CPU_RUNTIME_DEFAULTS', 'CPU_DEPENDENT_DEFAULTS', 'CPU_RUNTIME_ENV_VAR',
           'HEAP_REUSE_ENV_VAR', 'apply_cpu_runtime_defaults', 'cpu_flags',
           'cpu_runtime_report', 'env_switch_on', 'reuse_freed_heap_memory']

#: The environment defaults applied before torch is loaded (see the module docstring).
CPU_RUNTIME_DEFAULTS: Dict[str, str] = {
    'OMP_WAIT_POLICY': 'PASSIVE',
    'THP_MEM_ALLOC_ENABLE': '1',
}
#: Defaults that depend on the CPU: ``{variable: (value, CPU flags that must all be
#: present)}`` (see the module docstring).
CPU_DEPENDENT_DEFAULTS: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    'OPENBLAS_CORETYPE': ('Haswell', ('avx512f', 'avx2', 'fma')),
}
#: ``0`` / ``false`` / ``off`` disables :func:`apply_cpu_runtime_defaults`.
CPU_RUNTIME_ENV_VAR = 'GRASPCONTRAST_CPU_RUNTIME'
#: ``0`` / ``false`` / ``off`` keeps glibc's own allocation policy
#: (:func:`reuse_freed_heap_memory`).
HEAP_REUSE_ENV_VAR = 'GRASPCONTRAST_CPU_HEAP_REUSE'

_STATE = {'applied': {}, 'torch_was_loaded': None, 'heap_reuse': False}
_OFF = ('0', 'false', 'no', 'off')


def env_switch_on(name: str, environ=None) -> bool:
    """Whether the on/off environment variable ``name`` is on: unset or anything but
    ``0`` / ``false`` / ``no`` / ``off`` (any case, surrounding spaces ignored)."""
    env = os.environ if environ is None else environ
    return env.get(name, '1').strip().lower() not in _OFF

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_C_INT_MAX = 2 ** 31 - 1


def reuse_freed_heap_memory(environ=None) -> bool:
    """Serve large allocations from glibc's heap and keep freed memory for reuse.

    Calls ``mallopt(M_MMAP_MAX, 0)`` and ``mallopt(M_TRIM_THRESHOLD, 2**31 - 1)`` (see the
    module docstring). Safe to call at any time and more than once.

    Args:
        environ: where to read :data:`HEAP_REUSE_ENV_VAR` and
            :data:`CPU_RUNTIME_ENV_VAR` (default ``os.environ``).

    Returns:
        True when the policy is in effect after the call; False when disabled by the
        environment or when the C library is not glibc.
    """
    env = os.environ if environ is None else environ
    if not (env_switch_on(CPU_RUNTIME_ENV_VAR, env) and env_switch_on(HEAP_REUSE_ENV_VAR, env)):
        return False
    if _STATE['heap_reuse']:
        return True
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    if not hasattr(libc, 'gnu_get_libc_version'):
        return False  # not glibc: other C libraries read these parameter numbers otherwise
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _C_INT_MAX))
    _STATE['heap_reuse'] = ok
    return ok


def cpu_flags(cpuinfo_path: str = '/proc/cpuinfo') -> FrozenSet[str]:
    """The feature flags of the first CPU in ``cpuinfo_path`` (empty when unreadable, e.g.
    not Linux)."""
    try:
        with open(cpuinfo_path) as f:
            for line in f:
                if line.startswith('flags'):
                    return frozenset(line.split(':', 1)[1].split())
    except OSError:
        pass
    return frozenset()


def apply_cpu_runtime_defaults(environ=None,
                               flags: Optional[FrozenSet[str]] = None) -> Dict[str, str]:
    """Put the CPU runtime defaults into the environment, unless already set.

    Args:
        environ: the mapping to modify (default ``os.environ``; tests pass a dict).
        flags: CPU feature flags for :data:`CPU_DEPENDENT_DEFAULTS` (default
            :func:`cpu_flags`).

    Returns:
        The variables this call set (empty when disabled, or when every variable was
        already set by the user).
    """
    env = os.environ if environ is None else environ
    if not env_switch_on(CPU_RUNTIME_ENV_VAR, env):
        return {}
    applied = {}
    defaults = dict(CPU_RUNTIME_DEFAULTS)
    flags = cpu_flags() if flags is None else frozenset(flags)
    for name, (value, needed) in CPU_DEPENDENT_DEFAULTS.items():
        if flags.issuperset(needed):
            defaults[name] = value
    for name, value in defaults.items():
        if name not in env:
            env[name] = value
            applied[name] = value
    if environ is None:
        _STATE['applied'] = dict(applied)
        _STATE['torch_was_loaded'] = 'torch' in sys.modules
        reuse_freed_heap_memory()
    return applied


def cpu_runtime_report() -> str:
    """One line saying which CPU runtime settings are in effect in this process."""
    values = ', '.join(f'{k}={os.environ.get(k, "<unset>")}'
                       for k in list(CPU_RUNTIME_DEFAULTS) + list(CPU_DEPENDENT_DEFAULTS))
    values += f", freed heap reused: {'yes' if _STATE['heap_reuse'] else 'no'}"
    if _STATE['torch_was_loaded']:
        return (f'{values} (torch was imported before graspcontrast_mm: settings made by '
                f'this package take effect only in new processes; export them instead)')
    return values
