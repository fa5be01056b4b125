"""Resident memory of a training process over many steps (does it creep?).

Builds the model, the training data loader and the optimiser of a config, runs
``--steps`` training steps in one process and prints the resident set size (``VmRSS``)
and its peak (``ru_maxrss``) every ``--every`` steps. With the package's CPU runtime
defaults the process keeps freed heap memory for reuse
(:func:`graspcontrast_mm.cpu_runtime.reuse_freed_heap_memory`): the figure should rise
during the first steps and then stay flat. Compare with
``GRASPCONTRAST_CPU_HEAP_REUSE=0``.

Usage::

    python benchmarks/bench_train_memory.py [CONFIG] [--steps 448] [--every 32]
        [--threads 2] [--cfg-options KEY=VALUE ...]

Default CONFIG: ``configs/pretrain_fne_tiny.py`` (data: ``data/graspnet_tiny``, made by
``tools/create_graspnet_scenes.py --preset tiny``).
"""
import argparse
import os.path as osp
import resource
import sys

import graspcontrast_mm  # noqa: F401  (CPU runtime defaults before torch loads)
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def resident_mib() -> float:
    """Current resident set size of this process, MiB (Linux ``/proc/self/status``)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    return float('nan')


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', nargs='?', default=osp.join(REPO, 'configs',
                                                         'pretrain_fne_tiny.py'))
    p.add_argument('--steps', type=int, default=448)
    p.add_argument('--every', type=int, default=32)
    p.add_argument('--threads', type=int, default=torch.get_num_threads())
    p.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    args = p.parse_args(argv)
    if min(args.steps, args.every, args.threads) < 1:
        raise SystemExit('error: --steps, --every and --threads must be >= 1')
    torch.set_num_threads(args.threads)
    from _training import build_training_parts

    from graspcontrast_mm.cpu_runtime import cpu_runtime_report

    _, model, loader, optim = build_training_parts(args.config, args.cfg_options)
    print(cpu_runtime_report())
    print(f'{args.config}: {args.steps} training steps, {args.threads} thread(s)')
    print(f"{'step':>6} {'resident MiB':>13} {'peak MiB':>9}")
    step = 0
    while step < args.steps:
        for batch in loader:
            model.train_step(batch, optim)
            step += 1
            if step % args.every == 0 or step == args.steps:
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
                print(f'{step:>6} {resident_mib():>13.0f} {peak:>9.0f}', flush=True)
            if step == args.steps:
                break
    return 0


if __name__ == '__main__':
    sys.exit(main())
