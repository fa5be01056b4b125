"""Train a graspcontrast_mm model from an mm-style config.

Examples:
    python tools/train.py configs/pretrain_fne.py
    python tools/train.py configs/pretrain_fne_tiny.py --work-dir work_dirs/tiny \
        --cfg-options train_cfg.max_epochs=2
    python tools/train.py configs/pretrain_fne.py --resume            # latest in work-dir
    torchrun --nproc_per_node=2 tools/train.py CFG --launcher pytorch  # DDP (gloo on CPU)

Every run is resumable to the same weights (graspcontrast_mm.engine.resumable): checkpoints
carry the random-number state, an epoch-based loop resumes inside an epoch where its
checkpoint stopped, and SIGTERM (e.g. from a cluster scheduler) saves ``iter_N.pth`` after
the current iteration and exits with status 143; ``--resume`` continues from it.

``--wait-for PATH`` imports and loads the config, then waits for PATH before it builds
and trains; ``--link-last-checkpoint PATH`` links PATH to the last checkpoint once training
has finished (tools/run_main_job.sh starts the fine-tuning this way while the pre-training
still runs, waiting for the pre-training's link).
"""
import argparse
import os.path as _osp
import sys

# the repository root, so that configs can pull in projects/ with custom_imports
sys.path.insert(0, _osp.abspath(_osp.join(_osp.dirname(__file__), '..')))
import graspcontrast_mm  # noqa: F401,E402  (CPU runtime defaults before torch loads)
import logging
import os.path as osp

import torch
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.dist import is_main_process
from mmengine.runner import Runner

from graspcontrast_mm.engine import prepare_resumable_training
from graspcontrast_mm.utils import (add_common_args, add_wait_args, link_last_checkpoint,
                                    load_cli_config, register_all_modules,
                                    setup_cpu_distributed, shutdown_distributed,
                                    wait_for_paths)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a graspcontrast_mm model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--amp', action='store_true', default=False,
        help='enable automatic mixed precision (CUDA only)')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the learning rate linearly with the total batch size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint; without a path, from the latest '
        'checkpoint in the work dir')
    parser.add_argument(
        '--link-last-checkpoint', metavar='PATH',
        help='once training has finished successfully, make PATH a symbolic link to the '
        'last checkpoint (atomically, before the process exits): a dependent run started '
        'with --wait-for PATH then begins at once')
    add_common_args(parser)
    add_wait_args(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    register_all_modules()
    cfg = load_cli_config(args)

    if args.amp:
        if not torch.cuda.is_available():
            raise SystemExit('--amp needs a CUDA device (mmengine\'s AmpOptimWrapper '
                             'does not support CPU training); drop --amp on CPU')
        optim_wrapper = cfg.optim_wrapper.type
        if optim_wrapper == 'AmpOptimWrapper':
            print_log('AMP training is already enabled in your config.',
                      logger='current', level=logging.WARNING)
        else:
            assert optim_wrapper == 'OptimWrapper', (
                f'--amp needs optim_wrapper.type OptimWrapper, got {optim_wrapper}')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'

    if args.auto_scale_lr:
        if 'auto_scale_lr' in cfg and 'enable' in cfg.auto_scale_lr:
            cfg.auto_scale_lr.enable = True
        else:
            raise RuntimeError('--auto-scale-lr needs auto_scale_lr = dict('
                               'enable=False, base_batch_size=...) in the config')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume checkpoint not found: {args.resume}')
        cfg.resume = True
        cfg.load_from = args.resume

    prepare_resumable_training(cfg)
    try:
        wait_for_paths(args.wait_for, args.wait_timeout)
    except TimeoutError as err:
        raise SystemExit(f'error: {err}') from None
    setup_cpu_distributed(cfg)
    try:
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
        runner.train()
        if args.link_last_checkpoint and is_main_process():
            try:
                link_last_checkpoint(runner.work_dir, args.link_last_checkpoint)
            except FileNotFoundError as err:  # e.g. no checkpoint saved by the schedule
                raise SystemExit(f'error: --link-last-checkpoint: {err}') from None
    finally:
        shutdown_distributed()


if __name__ == '__main__':
    main()
