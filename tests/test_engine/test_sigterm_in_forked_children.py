"""Processes forked while training must still die on SIGTERM.

The last validation of a fine-tuning run evaluates inside the training loop, where
SignalCheckpointHook's SIGTERM handler is installed, with a forked process pool
(GraspNetMetric, nproc > 1). A worker that inherited the handler ignored the SIGTERM of
``Pool.terminate()``, and the training process waited for it forever (seen as a run that
never ended after its validation).
"""
import multiprocessing
import signal
import time

import pytest

from graspcontrast_mm.engine.resumable import SignalCheckpointHook
from graspcontrast_mm.evaluation.graspnet_eval import runner as eval_runner

FORK = multiprocessing.get_context('fork')


def _sleep_then(prepare=None):
    if prepare is not None:
        prepare()
    time.sleep(60)


def _terminate(process):
    """SIGTERM the process and give it 10 s; SIGKILL it if it is still there."""
    process.terminate()
    process.join(10)
    code = process.exitcode
    if code is None:
        process.kill()
        process.join(10)
    return code


@pytest.fixture
def installed_hook():
    hook = SignalCheckpointHook()
    hook.before_train(runner=None)
    try:
        yield hook
    finally:
        hook.after_train(runner=None)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_child_forked_during_training_dies_on_sigterm(installed_hook):
    child = FORK.Process(target=_sleep_then)
    child.start()
    time.sleep(0.3)
    assert _terminate(child) == -signal.SIGTERM
    # the training process itself still takes the first SIGTERM as "checkpoint and stop"
    assert not installed_hook._requested
    installed_hook._handler(signal.SIGTERM, None)
    assert installed_hook._requested


def test_evaluation_pool_worker_dies_on_sigterm_under_any_handler():
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        child = FORK.Process(target=_sleep_then, args=(eval_runner._init_worker,))
        child.start()
        time.sleep(0.3)
        code = _terminate(child)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == -signal.SIGTERM
