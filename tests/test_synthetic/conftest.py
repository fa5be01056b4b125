"""Small synthetic datasets generated once per test session.

``clean_root`` is the session's one labelled dataset (``labelled_graspnet_root`` of
tests/conftest.py: tiny preset, coarse grasp labels, dexnet models, collision labels,
graspness maps); the graspnetAPI compatibility tests and the layout tests share it.
"""
import pytest

from graspcontrast_mm.synthetic import generate_dataset


@pytest.fixture(scope='session')
def clean_root(labelled_graspnet_root):
    """Noise-free labelled scenes 0 and 100: exact geometry up to the 1 mm quantisation
    (the session's labelled dataset, tests/conftest.py)."""
    return labelled_graspnet_root


@pytest.fixture(scope='session')
def noisy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('graspnet_noisy')
    generate_dataset(str(root), 'tiny', scene_ids=[1], num_views=4, image_size=(320, 180),
                     progress=False, with_labels=False)
    return str(root)
