"""Arguments and config loading shared by tools/train.py and tools/test.py."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction

from .config_checks import check_cfg_options

__all__ = ['add_common_args', 'load_cli_config']


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--work-dir``, ``--cfg-options``, ``--allow-new-keys``, ``--launcher`` and
    ``--local-rank`` (the mm tools' common flags)."""
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. train_cfg.max_epochs=2. A key that '
        'does not exist in the config is an error unless --allow-new-keys')
    parser.add_argument(
        '--allow-new-keys', action='store_true',
        help='accept --cfg-options keys that the config does not define')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_cli_config(args: argparse.Namespace) -> Config:
    """Load ``args.config`` and apply the common flags of :func:`add_common_args`.

    Sets ``LOCAL_RANK`` when the launcher did not, checks ``--cfg-options`` keys
    (:func:`check_cfg_options`), and picks the work dir: ``--work-dir`` > the config's
    ``work_dir`` > ``./work_dirs/<config name>``.

    Raises:
        FileNotFoundError: the config file does not exist.
        KeyError: a ``--cfg-options`` key is not in the config (typo).
    """
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
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
    return cfg
