"""Busy competitor processes for contention benchmarks (``--competitors N``).

A competitor is a separate Python process spinning in ``while True: pass``: the load a
second job, a browser or a test run puts on a shared workstation. The benchmarks measure
once on the otherwise idle machine and once with ``N`` competitors running, in the same
invocation, and report the slowdown as a ratio.
"""
import contextlib
import os
import subprocess
import sys
import time
from typing import Iterator

__all__ = ['busy_processes', 'describe_runtime']


@contextlib.contextmanager
def busy_processes(num: int) -> Iterator[None]:
    """Run ``num`` CPU-bound processes for the duration of the ``with`` block."""
    procs = [subprocess.Popen([sys.executable, '-c', 'while True: pass'])
             for _ in range(max(int(num), 0))]
    try:
        if procs:
            time.sleep(0.5)  # let the scheduler see them
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def describe_runtime() -> str:
    """Threads, cores and the CPU runtime settings of this process, in one line."""
    import torch

    from graspcontrast_mm.cpu_runtime import cpu_runtime_report
    from graspcontrast_mm.ops import get_rulebook_algorithm, get_rulebook_gemm_dtype
    return (f'torch {torch.__version__}, {torch.get_num_threads()} thread(s), '
            f'{len(os.sched_getaffinity(0))} core(s) available, {cpu_runtime_report()}, '
            f'sparse conv {get_rulebook_algorithm()} (bucketed GEMMs in '
            f'{get_rulebook_gemm_dtype()}; per_offset always in the features\' dtype)')
