"""Hooks for pre-training runs."""
from mmengine.hooks import Hook
from mmengine.logging import print_log

from graspcontrast_mm.registry import HOOKS

__all__ = ['ValidateBeforeTrainHook']


@HOOKS.register_module()
class ValidateBeforeTrainHook(Hook):
    """Run the validation loop once before the first training iteration.

    Self-supervised pre-training has no labels to watch; the label-free validation metric
    (e.g. feature-match recall on held-out view pairs) is only meaningful as a change from
    its value at initialisation. This hook logs that starting value. It is skipped when a
    run is resumed past epoch 0 / iteration 0.
    """

    # after every other before_train (CheckpointHook sets up its file backend there)
    priority = 'LOWEST'

    def before_train(self, runner) -> None:
        if runner.val_loop is None or runner.iter > 0 or runner.epoch > 0:
            return
        print_log('validating the initial model (before training)',
                  logger='current')
        runner.val_loop.run()
