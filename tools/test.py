"""Evaluate a checkpoint with the config's test dataloader and evaluator.

Examples:
    python tools/test.py configs/pretrain_fne_tiny.py work_dirs/tiny/epoch_6.pth
    python tools/test.py CFG CKPT --cfg-options test_dataloader.dataset.split=test_novel
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from graspcontrast_mm.engine import load_checkpoint_file
from graspcontrast_mm.utils import (check_cfg_options, register_all_modules,
                                    setup_cpu_distributed)


def parse_args():
    parser = argparse.ArgumentParser(description='Test a graspcontrast_mm model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save evaluation logs')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings; unknown keys are an error unless '
        '--allow-new-keys')
    parser.add_argument('--allow-new-keys', action='store_true')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main():
    args = parse_args()
    register_all_modules()
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
    # Fail early, with the file name, on a missing or corrupt checkpoint.
    load_checkpoint_file(args.checkpoint)

    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        if not args.allow_new_keys:
            check_cfg_options(cfg, args.cfg_options)
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    cfg.resume = False
    # Evaluation does not need the hooks that only make sense while training.
    cfg.custom_hooks = [h for h in cfg.get('custom_hooks', [])
                        if h.get('type') != 'ValidateBeforeTrainHook']
    setup_cpu_distributed(cfg)

    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    for name, value in metrics.items():
        print(f'{name}: {value:.4f}' if isinstance(value, float) else
              f'{name}: {value}')


if __name__ == '__main__':
    main()
