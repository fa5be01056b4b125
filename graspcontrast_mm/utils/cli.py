"""Arguments and config loading shared by tools/train.py, tools/test.py and tools/infer.py."""
import argparse
import math
import os
import os.path as osp
import sys
import time
from typing import Optional, Sequence

from mmengine.config import Config, DictAction

from .config_checks import check_cfg_options

__all__ = ['add_common_args', 'load_cli_config', 'int_at_least', 'float_in_range',
           'positive_float', 'non_negative_float', 'finite_float', 'add_wait_args',
           'wait_for_paths', 'link_last_checkpoint']


def int_at_least(minimum: int):
    """argparse ``type``: an integer >= ``minimum`` (else argparse's one-line error, exit 2)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected an integer, got {text!r}') from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f'must be >= {minimum}, got {value}')
        return value
    parse.__name__ = f'integer >= {minimum}'
    return parse


def float_in_range(low: float = -math.inf, high: float = math.inf, *,
                   low_inclusive: bool = True, high_inclusive: bool = True):
    """argparse ``type``: a finite float in the given range (else a one-line error)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected a number, got {text!r}') from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f'must be a finite number, got {text}')
        ok_low = value >= low if low_inclusive else value > low
        ok_high = value <= high if high_inclusive else value < high
        if not (ok_low and ok_high):
            if math.isinf(high):
                rule = f'must be {">=" if low_inclusive else ">"} {low:g}'
            elif math.isinf(low):
                rule = f'must be {"<=" if high_inclusive else "<"} {high:g}'
            else:
                rule = (f'must be in {"[" if low_inclusive else "("}{low:g}, '
                        f'{high:g}{"]" if high_inclusive else ")"}')
            raise argparse.ArgumentTypeError(f'{rule}, got {value:g}')
        return value
    parse.__name__ = 'number'
    return parse


#: argparse ``type``: a finite number > 0.
positive_float = float_in_range(0.0, low_inclusive=False)
#: argparse ``type``: a finite number >= 0.
non_negative_float = float_in_range(0.0)
#: argparse ``type``: any finite number.
finite_float = float_in_range()


def add_wait_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--wait-for PATH ...`` and ``--wait-timeout SECONDS`` (see
    :func:`wait_for_paths`)."""
    parser.add_argument(
        '--wait-for', nargs='+', default=[], metavar='PATH',
        help='do the work only once every PATH exists (checked every 0.2 s): a pipeline '
        'can start this process, which imports and builds what it can first, while the '
        'run that writes PATH is still going (write PATH last, e.g. a link to the final '
        'checkpoint made with ln -s + mv)')
    parser.add_argument('--wait-timeout', type=positive_float, default=None,
                        metavar='SECONDS',
                        help='give up --wait-for after this many seconds (exit status 1); '
                        'default: wait as long as it takes')


def link_last_checkpoint(work_dir: str, link: str) -> str:
    """Make ``link`` a symbolic link to the checkpoint named in ``work_dir/last_checkpoint``
    (mmengine's record of the latest save), replacing any older link atomically: a process
    waiting for ``link`` (``--wait-for``) never sees it half made.

    Returns:
        The absolute path of the checkpoint linked to.

    Raises:
        FileNotFoundError: no ``last_checkpoint`` record, or the checkpoint it names is
            missing.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        raise FileNotFoundError(f'no checkpoint was saved in {work_dir} '
                                f'({record} is missing)')
    with open(record) as f:
        target = f.read().strip()
    # mmengine records the path it saved to: absolute, or relative to the process's
    # working directory when the work dir was given relative
    target = osp.abspath(target)
    if not osp.isfile(target):
        raise FileNotFoundError(f'{record} names {target}, which does not exist')
    os.makedirs(osp.dirname(osp.abspath(link)), exist_ok=True)
    tmp = f'{link}.tmp{os.getpid()}'
    if osp.lexists(tmp):
        os.remove(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, link)
    return target


def wait_for_paths(paths: Sequence[str], timeout_s: Optional[float] = None,
                   poll_s: float = 0.2) -> float:
    """Block until every path in ``paths`` exists (files, directories or links to an
    existing target).

    Args:
        paths: the paths to wait for; none returns at once.
        timeout_s: give up after this many seconds (``None``: no limit).
        poll_s: seconds between checks.

    Returns:
        The seconds waited.

    Raises:
        TimeoutError: some path still missing after ``timeout_s``; the message names
            them.
    """
    start = time.monotonic()
    missing = [p for p in paths if not osp.exists(p)]
    if missing:
        print(f'waiting for {", ".join(missing)}', file=sys.stderr, flush=True)
    while missing:
        waited = time.monotonic() - start
        if timeout_s is not None and waited >= timeout_s:
            raise TimeoutError(f'still missing after {waited:.0f} s of --wait-for: '
                               f'{", ".join(missing)}')
        time.sleep(poll_s if timeout_s is None else min(poll_s, timeout_s - waited))
        missing = [p for p in missing if not osp.exists(p)]
    return time.monotonic() - start


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
