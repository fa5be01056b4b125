"""Print how a training run went: loss at the start / end and validation metrics per epoch.

Reads the ``vis_data/scalars.json`` files that mmengine's LocalVisBackend writes under
``WORK_DIR/<timestamp>/`` (all timestamps, so a resumed run is summarised as one).

Usage: python tools/summarize_run.py WORK_DIR
"""
import argparse
import glob
import json
import os.path as osp
import sys


def load_scalars(work_dir):
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(
            f'no */vis_data/scalars.json under {work_dir}: is it a work dir of '
            'tools/train.py?')
    train, val = [], []
    for path in files:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                rec = json.loads(line)
                (train if 'loss' in rec else val).append(rec)
    return train, val


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dir')
    args = parser.parse_args(argv)
    train, val = load_scalars(args.work_dir)
    if train:
        first, last = train[0], train[-1]
        k = max(1, len(train) // 10)
        mean_first = sum(r['loss'] for r in train[:k]) / k
        mean_last = sum(r['loss'] for r in train[-k:]) / k
        print(f'train loss: first logged {first["loss"]:.4f} (iter {first["step"]}), '
              f'last logged {last["loss"]:.4f} (iter {last["step"]})')
        print(f'train loss: mean of first {k} logs {mean_first:.4f} -> '
              f'mean of last {k} logs {mean_last:.4f}')
    for rec in val:
        metrics = ', '.join(f'{k}={v:.4f}' for k, v in rec.items()
                            if k != 'step' and isinstance(v, (int, float)))
        print(f'validation at epoch {rec.get("step")}: {metrics}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
