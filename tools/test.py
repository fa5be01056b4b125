"""Evaluate a checkpoint with the config's test dataloader and evaluator.

Examples:
    python tools/test.py configs/pretrain_fne_tiny.py work_dirs/tiny/epoch_6.pth
    python tools/test.py CFG CKPT --cfg-options test_dataloader.dataset.split=test_novel
    python tools/test.py configs/gsnet_fne_tiny.py CKPT --dump-dir work_dirs/dump
"""
import argparse
import os.path as _osp
import sys

# the repository root, so that configs can pull in projects/ with custom_imports
sys.path.insert(0, _osp.abspath(_osp.join(_osp.dirname(__file__), '..')))

from mmengine.runner import Runner

from graspcontrast_mm.engine import load_checkpoint_file
from graspcontrast_mm.utils import (add_common_args, load_cli_config,
                                    register_all_modules, setup_cpu_distributed)


def parse_args():
    parser = argparse.ArgumentParser(description='Test a graspcontrast_mm model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--dump-dir',
        help='write the predicted grasps in graspnetAPI\'s dump layout '
        '(DIR/scene_XXXX/<camera>/NNNN.npy); GraspNetMetric evaluators only')
    add_common_args(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    register_all_modules()
    # Fail early, with the file name, on a missing or corrupt checkpoint.
    load_checkpoint_file(args.checkpoint)
    cfg = load_cli_config(args)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    # Evaluation does not need the hooks that only make sense while training.
    cfg.custom_hooks = [h for h in cfg.get('custom_hooks', [])
                        if h.get('type') != 'ValidateBeforeTrainHook']
    if args.dump_dir is not None:
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) \
            else [cfg.test_evaluator]
        grasp_metrics = [e for e in evaluators if e.get('type') == 'GraspNetMetric']
        if not grasp_metrics:
            raise SystemExit('--dump-dir needs a GraspNetMetric test_evaluator; '
                             f'this config has {[e.get("type") for e in evaluators]}')
        for e in grasp_metrics:
            e['dump_dir'] = args.dump_dir
    setup_cpu_distributed(cfg)

    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    for name, value in metrics.items():
        print(f'{name}: {value:.4f}' if isinstance(value, float) else
              f'{name}: {value}')


if __name__ == '__main__':
    main()
