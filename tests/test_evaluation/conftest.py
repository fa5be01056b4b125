"""Fixtures of the evaluation tests."""
import pytest


@pytest.fixture(scope='session')
def eval_scene_root(tmp_path_factory):
    """A labelled scene with four object shapes and both cameras (see eval_scenes.py)."""
    from eval_scenes import generate
    return generate(str(tmp_path_factory.mktemp('graspnet_eval_scene')))
