import pytest


@pytest.fixture(scope='session')
def micro_graspnet_root(tmp_path_factory):
    """A 2-scene GraspNet-layout dataset (train scene 0, test_seen scene 100), 6 views,
    320x180 depth, no grasp labels."""
    from graspcontrast_mm.synthetic import generate_dataset
    root = tmp_path_factory.mktemp('micro_graspnet')
    generate_dataset(str(root), preset='tiny', scene_ids=[0, 100], num_views=6,
                     image_size=(320, 180), with_labels=False, progress=False)
    return str(root)
