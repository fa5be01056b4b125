"""Training step of a config with 1, 2, ... torch threads and each OpenMP wait policy.

Every setting runs in its own process (the OpenMP runtime reads ``OMP_WAIT_POLICY`` when
torch is loaded): the model, the optimiser and ``--batches`` batches of the config's
training data are built, two warm-up steps run, then ``--steps`` timed training steps
(``model.train_step``: forward, loss, backward, optimiser step) on the preloaded batches.
By default every timed step gets a batch of its own (``--batches = --steps + 2``): with
fewer, batches come back, and whatever the model keeps per batch (e.g. a conv plan of a
rule-book that is still alive) makes the repeated steps look faster than training is.
Printed per setting: the median and the spread of the step. Then, in one more process
with one thread, the config's data pipeline alone: the time per sample over the first
and the second pass through the training set (the second pass finds what the pipeline
keeps between samples, e.g. the object-workspace masks). The machine should be
otherwise idle.

Usage::

    python benchmarks/bench_train_step.py [CONFIG] [--threads 1 2]
        [--wait-policy passive active] [--steps 8] [--cfg-options KEY=VALUE ...]

Default CONFIG: ``configs/pretrain_fne_tiny.py`` (data: ``data/graspnet_tiny``, made by
``tools/create_graspnet_scenes.py --preset tiny``).
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
WAIT_POLICIES = ('passive', 'active')


def measure(config: str, steps: int, batches: int, cfg_options,
            data_only: bool = False) -> dict:
    """Time the training steps (or, ``data_only``, two passes of the data pipeline) in
    this process (threads and policy set by the caller)."""
    import graspcontrast_mm  # noqa: F401  (CPU runtime defaults before torch loads)
    import torch
    from _training import build_training_parts

    torch.manual_seed(0)
    _, model, loader, optim = build_training_parts(config, cfg_options)
    if data_only:
        dataset = loader.dataset
        passes = []
        for _ in range(2):
            start = time.perf_counter()
            for i in range(len(dataset)):
                dataset[i]
            passes.append((time.perf_counter() - start) / len(dataset))
        return dict(samples=len(dataset), passes=passes)
    loaded = _load_batches(loader, batches)
    for batch in loaded[:2]:
        model.train_step(batch, optim)
    times = []
    for i in range(steps):
        batch = loaded[2 + i % (len(loaded) - 2)]
        start = time.perf_counter()
        model.train_step(batch, optim)
        times.append(time.perf_counter() - start)
    return dict(threads=torch.get_num_threads(), steps=times)


def _load_batches(loader, count: int) -> list:
    """``count`` batches of the loader, over as many epochs as that takes."""
    batches = []
    while len(batches) < count:
        before = len(batches)
        for batch in loader:
            batches.append(batch)
            if len(batches) == count:
                break
        if len(batches) == before:
            raise SystemExit('error: the training data loader yields no batch (is the '
                             "config's data present?)")
    return batches


def _child(args, what: str, threads: int, policy: str) -> dict:
    """Run :func:`measure` in a new process with the thread count and wait policy."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY=policy.upper())
    cmd = [sys.executable, osp.abspath(__file__), args.config, '--child', what,
           '--steps', str(args.steps), '--batches', str(args.batches)]
    if args.cfg_options:
        cmd += ['--cfg-options', *args.cfg_options]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        sys.stderr.write(run.stderr[-3000:])
        raise SystemExit(f'error: the {what} run with {threads} thread(s), {policy} '
                         f'waiting failed (exit {run.returncode})')
    return json.loads(run.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config', nargs='?',
                   default=osp.join(REPO, 'configs', 'pretrain_fne_tiny.py'))
    p.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    p.add_argument('--wait-policy', nargs='+', choices=WAIT_POLICIES,
                   default=list(WAIT_POLICIES),
                   help="OpenMP's OMP_WAIT_POLICY of each run (the package's default "
                   'is passive)')
    p.add_argument('--steps', type=int, default=8)
    p.add_argument('--batches', type=int, default=None,
                   help='batches loaded up front (default: --steps + 2, a fresh batch for '
                   'every timed step)')
    p.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    p.add_argument('--child', choices=('steps', 'data'), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.batches is None:
        args.batches = max(args.steps, 1) + 2
    if min(args.threads + [args.steps]) < 1 or args.batches < 3:
        raise SystemExit('error: --threads and --steps must be >= 1, --batches >= 3')
    if not osp.isfile(args.config):
        raise SystemExit(f'error: config not found: {args.config}')
    if args.child:
        print(json.dumps(measure(args.config, args.steps, args.batches, args.cfg_options,
                                 data_only=args.child == 'data')))
        return 0
    print(f'{args.config}: {args.steps} training steps per setting (batches preloaded)')
    print(f"{'threads':>7} {'wait policy':>11} {'step median s':>13} {'min-max s':>13}")
    for policy in args.wait_policy:
        for threads in args.threads:
            steps = _child(args, 'steps', threads, policy)['steps']
            print(f'{threads:>7} {policy:>11} {statistics.median(steps):>13.3f} '
                  f'{min(steps):>6.3f}-{max(steps):<6.3f}', flush=True)
    data = _child(args, 'data', 1, args.wait_policy[0])
    first, second = data['passes']
    print(f"data pipeline, one thread, {data['samples']} samples: {first * 1000:.1f} ms per "
          f'sample in the first pass, {second * 1000:.1f} ms in the second')
    return 0


if __name__ == '__main__':
    sys.exit(main())
