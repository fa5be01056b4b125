"""Training that can be stopped at any time and resumed to the same weights.

Three pieces, put in place by :func:`prepare_resumable_training` (``tools/train.py`` calls
it for every run):

- :class:`RandomStateHook` stores the random-number state (Python ``random``, numpy's global
  generator, torch CPU and CUDA) in every checkpoint the runner writes (``rng_state``) and
  restores it when a run is resumed. Validation runs with its own copy of the state and
  hands the training state back unchanged, so how often (or whether) one validates does not
  change the training run, and a run resumed from an epoch checkpoint continues exactly as
  the uninterrupted one (same augmentations, same partner views, same weights).
- :class:`ResumableEpochBasedTrainLoop`: mmengine's ``EpochBasedTrainLoop`` restarts an epoch
  from its first batch when it resumes from a checkpoint written inside that epoch (an
  iteration checkpoint, or the SIGTERM checkpoint below). This loop skips the batches the
  checkpoint has already trained on (they are drawn, in the same order, and dropped, as
  mmengine's ``IterBasedTrainLoop`` does) and restores the random state after them.
- :class:`SignalCheckpointHook`: on SIGTERM (what a cluster scheduler or ``kill`` sends), the
  current iteration finishes, a checkpoint ``iter_N.pth`` is written (and named in
  ``last_checkpoint``, so ``--resume`` without a path picks it), and the process exits with
  status 143. A second SIGTERM exits at once. In distributed runs the ranks agree on the
  stop after every iteration, so they save at the same iteration.

Limits: the restored state is the one of rank 0 (exact when ranks share a seed, mmengine's
default ``diff_rank_seed=False``); dataloader worker processes re-derive their seeds from
the restored state at the start of each epoch, as in the uninterrupted run.
"""
import os
import os.path as osp
import random
import signal
import threading
from typing import Any, Dict, Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop

from graspcontrast_mm.registry import HOOKS, LOOPS
from .checkpoint_config import UnsafeConfigError, parse_config_text

__all__ = [
    'capture_rng_state', 'restore_rng_state', 'RandomStateHook', 'SignalCheckpointHook',
    'ResumableEpochBasedTrainLoop', 'prepare_resumable_training', 'SIGTERM_EXIT_CODE'
]

#: Exit status after a SIGTERM checkpoint (128 + 15, the shell's convention).
SIGTERM_EXIT_CODE = 143


# ----------------------------------------------------------------------------- state
def capture_rng_state() -> Dict[str, Any]:
    """The random-number state of this process, in a form a checkpoint can hold.

    Returns:
        dict: ``python`` (``random.getstate()``), ``numpy`` (the global generator's MT19937
        key as an int64 tensor, ``pos``, ``has_gauss``, ``gauss``), ``torch`` (CPU state) and
        ``cuda`` (one state per device; empty without CUDA).
    """
    np_state = np.random.get_state(legacy=False)
    return dict(
        python=random.getstate(),
        numpy=dict(bit_generator=str(np_state['bit_generator']),
                   key=torch.from_numpy(np.asarray(np_state['state']['key'],
                                                   np.int64).copy()),
                   pos=int(np_state['state']['pos']),
                   has_gauss=int(np_state['has_gauss']),
                   gauss=float(np_state['gauss'])),
        torch=torch.get_rng_state(),
        cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [])


def restore_rng_state(state: Dict[str, Any]) -> None:
    """Restore what :func:`capture_rng_state` captured (missing parts are left alone)."""
    if state.get('python') is not None:
        version, internal, gauss = state['python']
        random.setstate((version, tuple(internal), gauss))
    np_state = state.get('numpy')
    if np_state is not None:
        key = np_state['key']
        key = key.numpy() if torch.is_tensor(key) else np.asarray(key)
        np.random.set_state((np_state.get('bit_generator', 'MT19937'),
                             key.astype(np.uint32), int(np_state['pos']),
                             int(np_state['has_gauss']), float(np_state['gauss'])))
    if state.get('torch') is not None:
        torch.set_rng_state(state['torch'].cpu())
    cuda = state.get('cuda') or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


# ----------------------------------------------------------------------------- hooks
@HOOKS.register_module()
class RandomStateHook(Hook):
    """Keep the random-number state in checkpoints and restore it on resume.

    See the module docstring. Also drops a ``meta['config']`` entry that is not plain data
    from a checkpoint being resumed (mmengine's resume would execute it as Python).
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._train_state: Optional[Dict[str, Any]] = None

    # validation must not move the training state
    def before_val(self, runner) -> None:
        self._train_state = capture_rng_state()

    def after_val(self, runner) -> None:
        if self._train_state is not None:
            restore_rng_state(self._train_state)
            self._train_state = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # a checkpoint written during validation (best metric) keeps the training state
        checkpoint['rng_state'] = (self._train_state if self._train_state is not None
                                   else capture_rng_state())

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta')
        if isinstance(meta, dict) and 'config' in meta:
            try:
                parse_config_text(meta['config'], 'the resumed checkpoint')
            except UnsafeConfigError as err:
                print_log(f'{err}; the entry meta["config"] is ignored', logger='current',
                          level=30)
                del meta['config']
        if not getattr(runner, '_resume', False):
            return  # load_from: weights only, the run keeps its own seed
        state = checkpoint.get('rng_state')
        if state is None:
            print_log('the resumed checkpoint holds no random-number state (written before '
                      'it was stored); the run continues from the configured seed and will '
                      'not repeat the uninterrupted run exactly', logger='current', level=30)
            return
        loop = getattr(runner, '_train_loop', None)
        if isinstance(loop, ResumableEpochBasedTrainLoop):
            loop.pending_rng_state = state  # restored after the skipped batches
        else:
            restore_rng_state(state)


@HOOKS.register_module()
class SignalCheckpointHook(Hook):
    """On SIGTERM, finish the iteration, save a resumable checkpoint and exit (status 143).

    Args:
        signals: signal names to handle (default ``('SIGTERM',)``).
    """

    priority = 'VERY_LOW'  # after the optimizer step and the logger of the iteration

    def __init__(self, signals=('SIGTERM',)) -> None:
        self.signals = tuple(signals)
        self._requested = False
        self._previous: Dict[int, Any] = {}
        self._pid = os.getpid()

    def _handler(self, signum, frame) -> None:
        if os.getpid() != self._pid:
            # A process forked while training (the evaluator's pool workers, a data
            # worker) inherits this handler; it has no checkpoint to save, and keeping
            # the handler would make it ignore the SIGTERM that Pool.terminate() sends,
            # so that its parent waits for it forever. Die as the signal asks.
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if self._requested:  # second signal: stop now
            raise SystemExit(SIGTERM_EXIT_CODE)
        self._requested = True

    def before_train(self, runner) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be installed from the main thread
        self._pid = os.getpid()
        for name in self.signals:
            signum = getattr(signal, name)
            self._previous[signum] = signal.signal(signum, self._handler)

    def after_train(self, runner) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

    def _stop_requested(self) -> bool:
        flag = self._requested
        if torch.distributed.is_available() and torch.distributed.is_initialized() and \
                torch.distributed.get_world_size() > 1:
            t = torch.tensor([int(flag)], dtype=torch.int32)
            if torch.distributed.get_backend() == 'nccl':
                t = t.cuda()
            torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
            flag = bool(t.item())
        return flag

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if not self._stop_requested():
            return
        filename = f'iter_{runner.iter + 1}.pth'
        print_log(f'SIGTERM received: saving {filename} (resume with --resume) and '
                  'stopping', logger='current', level=30)
        runner.save_checkpoint(runner.work_dir, filename, by_epoch=False)
        from mmengine.dist import barrier, is_main_process
        if is_main_process():
            with open(osp.join(runner.work_dir, 'last_checkpoint'), 'w') as f:
                f.write(osp.join(runner.work_dir, filename))
        barrier()
        self.after_train(runner)
        raise SystemExit(SIGTERM_EXIT_CODE)


# ----------------------------------------------------------------------------- loop
@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` that resumes inside an epoch where the checkpoint stopped.

    Same arguments as mmengine's loop. On a resume from a checkpoint written after
    ``k`` iterations of an epoch, the first ``k`` batches of that epoch are drawn and
    dropped, and the random state of the checkpoint (:class:`RandomStateHook`) is restored
    after them, so the next batch, and everything after it, is what the uninterrupted run
    saw.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        #: Random state to restore at the resume point (set by :class:`RandomStateHook`).
        self.pending_rng_state: Optional[Dict[str, Any]] = None

    def run_epoch(self) -> None:
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        num_batches = len(self.dataloader)
        skip = min(max(self._iter - self._epoch * num_batches, 0), num_batches)
        pending, self.pending_rng_state = self.pending_rng_state, None
        if skip:
            print_log(f'resuming inside epoch {self._epoch + 1}: skipping the {skip} '
                      'batch(es) the checkpoint has already trained on', logger='current')
        elif pending is not None:
            restore_rng_state(pending)
            pending = None
        for idx, data_batch in enumerate(self.dataloader):
            if idx < skip:
                if idx == skip - 1 and pending is not None:
                    restore_rng_state(pending)  # before the next batch is drawn
                    pending = None
                continue
            self.run_iter(idx, data_batch)
        if pending is not None:
            restore_rng_state(pending)
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1


# ----------------------------------------------------------------------------- config
def prepare_resumable_training(cfg) -> None:
    """Make a training config resumable (in place).

    - ``train_cfg`` of type ``EpochBasedTrainLoop`` (or ``by_epoch=True`` without a type)
      becomes :class:`ResumableEpochBasedTrainLoop` (same arguments);
    - :class:`RandomStateHook` and :class:`SignalCheckpointHook` are added to
      ``custom_hooks`` unless the config already has them.

    Args:
        cfg: an mmengine ``Config``.
    """
    train_cfg = cfg.get('train_cfg')
    if isinstance(train_cfg, dict):
        kind = train_cfg.get('type')
        if kind in ('EpochBasedTrainLoop', 'mmengine.EpochBasedTrainLoop') or (
                kind is None and train_cfg.get('by_epoch', False)):
            train_cfg.pop('by_epoch', None)
            train_cfg['type'] = 'graspcontrast_mm.ResumableEpochBasedTrainLoop'
    hooks = list(cfg.get('custom_hooks', None) or [])
    present = {str(h.get('type', '')).split('.')[-1] for h in hooks if isinstance(h, dict)}
    for name in ('RandomStateHook', 'SignalCheckpointHook'):
        if name not in present:
            hooks.append(dict(type=f'graspcontrast_mm.{name}'))
    cfg.custom_hooks = hooks
