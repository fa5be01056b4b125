"""Evaluate a checkpoint with the config's test dataloader and evaluator.

Examples:
    python tools/test.py configs/pretrain_fne_tiny.py work_dirs/tiny/epoch_6.pth
    python tools/test.py CFG CKPT --cfg-options test_dataloader.dataset.split=test_novel
    python tools/test.py configs/gsnet_fne_tiny.py CKPT --dump-dir work_dirs/dump
    python tools/test.py configs/gsnet_fne_tiny.py CKPT --collision-thresh 0.01
    python tools/test.py configs/gsnet_fne_tiny.py CKPT --graspnet-backend graspnetapi

The checkpoint is loaded strictly (graspcontrast_mm.engine.load_model_checkpoint, as the
Inferencer loads it): missing, unexpected or wrong-shape keys and NaN / inf weights are a
one-line error naming them (exit status 1); ``--non-strict-load`` evaluates anyway.
"""
import argparse
import os.path as _osp
import sys

# the repository root, so that configs can pull in projects/ with custom_imports
sys.path.insert(0, _osp.abspath(_osp.join(_osp.dirname(__file__), '..')))
import graspcontrast_mm  # noqa: F401,E402  (CPU runtime defaults before torch loads)

from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from graspcontrast_mm.engine import (CheckpointLoadError, CheckpointMismatchError,
                                     NonFiniteWeightsError, load_checkpoint_file,
                                     load_model_checkpoint)
from graspcontrast_mm.utils import (add_common_args, add_wait_args, load_cli_config,
                                    register_all_modules, setup_cpu_distributed,
                                    shutdown_distributed, wait_for_paths)


def _fail(err: Exception) -> None:
    """One-line error on stderr, exit status 1."""
    print(f'error: {err}', file=sys.stderr)
    raise SystemExit(1)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a graspcontrast_mm model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--dump-dir',
        help='write the predicted grasps in graspnetAPI\'s dump layout '
        '(DIR/scene_XXXX/<camera>/NNNN.npy); GraspNetMetric evaluators only')
    parser.add_argument(
        '--collision-thresh', type=float, default=None,
        help="sets model.test_cfg.collision_thresh: the GSNet reference's test-time "
        'collision detection (gripper IoU threshold with the 1 cm-voxel workspace cloud, '
        'e.g. 0.01); -1 = off, the configs\' default (the reference\'s published protocol)')
    parser.add_argument(
        '--graspnet-backend', choices=('fast', 'graspnetapi'), default=None,
        help="GraspNetMetric's AP evaluator: 'fast' (the configs' default: graspnetAPI's "
        "numbers, 30-50x faster) or 'graspnetapi' (graspnetAPI's own eval_grasp)")
    parser.add_argument('--graspnet-nproc', type=int, default=None,
                        help="processes of GraspNetMetric's frame evaluation")
    parser.add_argument(
        '--non-strict-load', action='store_true',
        help='evaluate even if the checkpoint does not fit the model (missing, unexpected '
        'or wrong-shape keys, NaN weights): the parameters it lacks stay random. By '
        'default any of these is an error naming the keys')
    add_common_args(parser)
    add_wait_args(parser)
    args = parser.parse_args(argv)
    if args.graspnet_nproc is not None and args.graspnet_nproc < 1:
        parser.error(f'--graspnet-nproc must be >= 1, got {args.graspnet_nproc}')
    return args


def main(argv=None):
    args = parse_args(argv)
    register_all_modules()
    try:
        wait_for_paths(args.wait_for, args.wait_timeout)
    except TimeoutError as err:
        _fail(err)
    # Fail early, with the file name, on a missing or corrupt checkpoint.
    try:
        checkpoint = load_checkpoint_file(args.checkpoint)
    except CheckpointLoadError as err:
        _fail(err)
    cfg = load_cli_config(args)
    # The weights are loaded below by the shared strict loader (the Inferencer's too), not
    # by the runner's load_from, which loads non-strictly and lets mmdet3d's spconv hook
    # permute kernels of state dicts without version metadata.
    cfg.load_from = None
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
    if args.graspnet_backend is not None or args.graspnet_nproc is not None:
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) \
            else [cfg.test_evaluator]
        grasp_metrics = [e for e in evaluators if e.get('type') == 'GraspNetMetric']
        if not grasp_metrics:
            raise SystemExit('--graspnet-backend / --graspnet-nproc need a GraspNetMetric '
                             f'test_evaluator; this config has '
                             f'{[e.get("type") for e in evaluators]}')
        for e in grasp_metrics:
            if args.graspnet_backend is not None:
                e['backend'] = args.graspnet_backend
            if args.graspnet_nproc is not None:
                e['nproc'] = args.graspnet_nproc
    if args.collision_thresh is not None:
        if not isinstance(cfg.model.get('test_cfg'), dict):
            raise SystemExit('--collision-thresh needs a model with a test_cfg (GSNet)')
        cfg.model.test_cfg['collision_thresh'] = args.collision_thresh
    setup_cpu_distributed(cfg)

    try:
        runner = Runner.from_cfg(cfg)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        try:
            load_model_checkpoint(model, checkpoint, strict=not args.non_strict_load,
                                  source=f'checkpoint {args.checkpoint}')
        except (CheckpointLoadError, CheckpointMismatchError,
                NonFiniteWeightsError) as err:
            _fail(err)
        metrics = runner.test()
    finally:
        shutdown_distributed()
    for name, value in metrics.items():
        print(f'{name}: {value:.4f}' if isinstance(value, float) else
              f'{name}: {value}')


if __name__ == '__main__':
    main()
