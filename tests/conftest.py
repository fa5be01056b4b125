"""Fixtures shared by several test folders."""
import itertools

import graspcontrast_mm  # noqa: F401  (CPU runtime defaults before torch loads)
import pytest

_scope_ids = itertools.count()

#: The longest tests (minutes on 2 cores). They are collected first, so that with parallel
#: processes (tools/run_tests.sh: pytest -n) they start at once instead of finishing the
#: run alone after every other test is done.
START_FIRST = ('test_study/test_study_pipeline.py::test_study_end_to_end_micro',)


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: not item.nodeid.endswith(START_FIRST))  # stable sort


def pytest_sessionstart(session):
    """Under ``CI=true`` a missing ../shared/realdata is a failure, not silent skips."""
    import real_kinect_frame  # tests/ is on sys.path (pytest's rootdir conftest)
    real_kinect_frame.check_realdata_in_ci()


@pytest.fixture(autouse=True)
def graspcontrast_default_scope():
    """Every test starts with ``graspcontrast_mm`` as mmengine's default scope.

    A Runner built by an earlier test leaves its own scope (e.g. ``mmengine``) current,
    which would make registry look-ups of our components fail in later tests.
    """
    import graspcontrast_mm  # noqa: F401
    from mmengine.registry import DefaultScope
    DefaultScope.get_instance(f'graspcontrast_mm_test_{next(_scope_ids)}',
                              scope_name='graspcontrast_mm')
    yield

#: Scenes of :func:`labelled_graspnet_root`: one train scene, one ``test_seen`` scene.
LABELLED_SCENES = (0, 100)
#: Frames per scene of :func:`labelled_graspnet_root`.
LABELLED_VIEWS = 8


@pytest.fixture(scope='session')
def labelled_graspnet_root(tmp_path_factory):
    """A tiny labelled dataset in the GraspNet-1Billion layout (generated once per session).

    Scenes 0 and 100, 8 noise-free realsense views of 320x180, two primitive objects (the
    50 mm cube, id 0, and the r25 x 100 mm cylinder, id 4) per scene, with the generator's
    coarse labels: grasp labels, collision labels, dexnet models, graspness maps and
    graspnetAPI annotations, and rgb images. The one labelled dataset of the session.
    """
    from graspcontrast_mm.synthetic import generate_dataset
    from graspcontrast_mm.synthetic.generator import get_preset
    root = str(tmp_path_factory.mktemp('graspnet_labelled'))
    pools = {'seen': (0, 4), 'similar': (0, 4), 'novel': (0, 4)}
    cfg, _ = get_preset('tiny', num_views=LABELLED_VIEWS, image_size=(320, 180),
                        noise=False, write_rgb=True, num_objects=(2, 2),
                        object_pools=pools, with_labels=True)
    generate_dataset(root, 'tiny', config=cfg, scene_ids=list(LABELLED_SCENES),
                     progress=False)
    return root
