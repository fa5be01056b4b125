"""Small synthetic datasets generated once per test session.

``clean_root`` is the one labelled dataset of the session (tiny preset: coarse grasp labels,
dexnet models, collision labels, graspness maps); the graspnetAPI compatibility tests and
the layout tests share it.
"""
import pytest

from graspcontrast_mm.synthetic import generate_dataset

#: Noise-free scenes: exact geometry up to the 1 mm quantisation.
CLEAN_KW = dict(scene_ids=[0, 100], num_views=6, image_size=(320, 180), noise=False,
                write_rgb=True, progress=False)


@pytest.fixture(scope='session')
def clean_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('graspnet_clean')
    generate_dataset(str(root), 'tiny', **CLEAN_KW)
    return str(root)


@pytest.fixture(scope='session')
def noisy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('graspnet_noisy')
    generate_dataset(str(root), 'tiny', scene_ids=[1], num_views=4, image_size=(320, 180),
                     progress=False, with_labels=False)
    return str(root)
