"""Determinism, resumability, manifest checks and the CLI of the scene generator."""
import os
import sys

import numpy as np
import pytest

from graspcontrast_mm.synthetic import (LabelConfig, ManifestMismatchError, generate_dataset,
                                        is_scene_complete)
from graspcontrast_mm.synthetic import generator as gen_mod

FAST = dict(num_views=3, image_size=(160, 90), progress=False, with_labels=False)
#: Labelled, with very coarse labels (16 grasp points per object, SDF of 30 cells).
LABELLED_CFG = gen_mod.get_preset(
    'tiny', num_views=3, image_size=(160, 90),
    labels=LabelConfig(point_spacing=0.02, max_points=16, sdf_grid_dim=30))[0]
LABELLED = dict(config=LABELLED_CFG, progress=False)


def _tree_bytes(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            with open(path, 'rb') as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def test_same_seed_same_bytes(tmp_path):
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    generate_dataset(a, 'tiny', scene_ids=[2], seed=7, **FAST)
    generate_dataset(b, 'tiny', scene_ids=[2], seed=7, **FAST)
    ta, tb = _tree_bytes(a), _tree_bytes(b)
    assert sorted(ta) == sorted(tb)
    assert any(k.endswith('.mat') for k in ta) and any(k.endswith('.ply') for k in ta)
    for key in ta:
        assert ta[key] == tb[key], key
    c = str(tmp_path / 'c')
    generate_dataset(c, 'tiny', scene_ids=[2], seed=8, **FAST)
    depth = 'scenes/scene_0002/realsense/depth/0000.png'
    assert _tree_bytes(c)[depth] != ta[depth]


def test_killed_run_is_not_complete_and_is_regenerated(tmp_path, monkeypatch):
    root = str(tmp_path / 'r')
    reference = str(tmp_path / 'ref')
    generate_dataset(reference, 'tiny', scene_ids=[0, 1], **FAST)

    # a run killed while writing scene 1 (after scene 0 finished)
    real_write = gen_mod.write_meta_mat
    calls = {'n': 0}

    def dying_write(*args, **kwargs):
        calls['n'] += 1
        if calls['n'] == FAST['num_views'] + 2:  # second frame of scene 1
            raise KeyboardInterrupt
        return real_write(*args, **kwargs)

    monkeypatch.setattr(gen_mod, 'write_meta_mat', dying_write)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(root, 'tiny', scene_ids=[0, 1], **FAST)
    monkeypatch.setattr(gen_mod, 'write_meta_mat', real_write)
    assert is_scene_complete(root, 0)
    assert not is_scene_complete(root, 1)
    assert not os.path.exists(os.path.join(root, 'scenes', 'scene_0001'))

    # a harder kill (no clean-up at all) leaves the temporary folder behind
    stale = os.path.join(root, 'scenes', '.tmp_scene_0001-99999', 'realsense', 'depth')
    os.makedirs(stale)
    open(os.path.join(stale, '0000.png'), 'wb').close()

    result = generate_dataset(root, 'tiny', scene_ids=[0, 1], **FAST)
    assert result.skipped == [0] and result.generated == [1]
    assert not any(n.startswith('.tmp') for n in os.listdir(os.path.join(root, 'scenes')))
    ta, tr = _tree_bytes(root), _tree_bytes(reference)
    assert sorted(ta) == sorted(tr)
    assert all(ta[k] == tr[k] for k in ta)

    # a rerun does nothing
    result = generate_dataset(root, 'tiny', scene_ids=[0, 1], **FAST)
    assert result.generated == [] and result.skipped == [0, 1]


def test_scene_folder_without_completion_record_is_refused(tmp_path):
    root = str(tmp_path / 'r')
    generate_dataset(root, 'tiny', scene_ids=[0], **FAST)
    os.makedirs(os.path.join(root, 'scenes', 'scene_0001'))
    assert not is_scene_complete(root, 1)
    with pytest.raises(FileExistsError, match='scene_0001'):
        generate_dataset(root, 'tiny', scene_ids=[1], **FAST)


def test_manifest_mismatch(tmp_path):
    root = str(tmp_path / 'r')
    generate_dataset(root, 'tiny', scene_ids=[0], seed=0, **FAST)
    with pytest.raises(ManifestMismatchError, match='seed'):
        generate_dataset(root, 'tiny', scene_ids=[0], seed=1, **FAST)
    with pytest.raises(ManifestMismatchError, match='num_views'):
        generate_dataset(root, 'tiny', scene_ids=[0], seed=0, num_views=4,
                         image_size=(160, 90), progress=False)
    # same settings, more scenes: fine
    result = generate_dataset(root, 'tiny', scene_ids=[0, 2], seed=0, **FAST)
    assert result.generated == [2]
    # scenes of something else and no manifest
    other = tmp_path / 'other'
    os.makedirs(other / 'scenes' / 'scene_0000')
    with pytest.raises(ManifestMismatchError, match='not a dataset of this generator'):
        generate_dataset(str(other), 'tiny', scene_ids=[0], **FAST)


def test_both_cameras_and_object_sets(tmp_path):
    root = str(tmp_path / 'r')
    generate_dataset(root, 'tiny', scene_ids=[130, 160], cameras='both', **FAST)
    for scene in (130, 160):
        for cam in ('realsense', 'kinect'):
            cam_dir = os.path.join(root, 'scenes', f'scene_{scene:04d}', cam)
            assert np.load(os.path.join(cam_dir, 'camera_poses.npy')).shape == (3, 4, 4)
        # rs_wrt_kn[i] maps realsense-frame points of view i into the kinect frame of view i
        scene_dir = os.path.join(root, 'scenes', f'scene_{scene:04d}')
        rs_wrt_kn = np.load(os.path.join(scene_dir, 'rs_wrt_kn.npy'))
        assert rs_wrt_kn.shape == (3, 4, 4)
        world = {}
        for cam in ('realsense', 'kinect'):
            d = os.path.join(scene_dir, cam)
            world[cam] = np.load(os.path.join(d, 'cam0_wrt_table.npy')) @ \
                np.load(os.path.join(d, 'camera_poses.npy'))
        p_rs = np.array([0.01, -0.02, 0.5, 1.0])
        for i in range(3):
            np.testing.assert_allclose(world['kinect'][i] @ rs_wrt_kn[i] @ p_rs,
                                       world['realsense'][i] @ p_rs, atol=1e-9)
    ids = lambda s: [int(x) for x in open(  # noqa: E731
        os.path.join(root, 'scenes', f'scene_{s:04d}', 'object_id_list.txt'))]
    assert set(ids(130)) <= set(gen_mod.PRESETS['tiny']['config']['object_pools']['similar'])
    assert set(ids(160)) <= set(gen_mod.PRESETS['tiny']['config']['object_pools']['novel'])


def test_cli(tmp_path):
    tools_dir = os.path.join(os.path.dirname(__file__), '..', '..', 'tools')
    sys.path.insert(0, os.path.abspath(tools_dir))
    try:
        import create_graspnet_scenes as cli
    finally:
        sys.path.pop(0)
    assert cli.parse_scene_ids(['0-2', '100', '5,7']) == [0, 1, 2, 5, 7, 100]
    for bad in (['x'], ['5-2'], ['-1']):
        with pytest.raises(ValueError, match='scene'):
            cli.parse_scene_ids(bad)
    assert cli.main(['--out', str(tmp_path / 'bad'), '--scene-ids', '3-1']) == 2
    root = str(tmp_path / 'cli')
    args = ['--out', root, '--preset', 'tiny', '--scene-ids', '100', '--num-views', '2',
            '--image-size', '160', '90', '--camera', 'kinect', '--no-rgb', '--no-labels',
            '--quiet']
    assert cli.main(args) == 0
    cam_dir = os.path.join(root, 'scenes', 'scene_0100', 'kinect')
    assert sorted(os.listdir(os.path.join(cam_dir, 'depth'))) == ['0000.png', '0001.png']
    assert not os.path.exists(os.path.join(cam_dir, 'rgb'))
    assert not os.path.exists(os.path.join(root, 'grasp_label'))
    assert cli.main(args[:-1] + ['--seed', '3', '--quiet']) == 2  # manifest mismatch


def test_labelled_run_killed_and_resumed_is_byte_identical(tmp_path, monkeypatch):
    """Labels are deterministic and an interrupted labelled run resumes to the same bytes;
    a scene's completion record is written after its collision labels and graspness."""
    reference = str(tmp_path / 'ref')
    generate_dataset(reference, 'tiny', scene_ids=[0, 1], **LABELLED)
    ref = _tree_bytes(reference)
    for scene in ('scene_0000', 'scene_0001'):
        assert f'collision_label/{scene}/collision_labels.npz' in ref
        assert f'graspness/{scene}/realsense/0002.npy' in ref
    assert any(k.startswith('grasp_label/') for k in ref)
    assert any(k.startswith('dex_models/') for k in ref)

    root = str(tmp_path / 'r')
    real_save = gen_mod.save_graspness_map
    calls = {'n': 0}

    def dying_save(*args, **kwargs):
        calls['n'] += 1
        if calls['n'] == LABELLED_CFG.num_views + 2:  # second graspness map of scene 1
            raise KeyboardInterrupt
        return real_save(*args, **kwargs)

    monkeypatch.setattr(gen_mod, 'save_graspness_map', dying_save)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(root, 'tiny', scene_ids=[0, 1], **LABELLED)
    monkeypatch.setattr(gen_mod, 'save_graspness_map', real_save)
    assert is_scene_complete(root, 0) and not is_scene_complete(root, 1)
    assert not os.path.exists(os.path.join(root, 'graspness', 'scene_0001'))
    assert not os.path.exists(os.path.join(root, 'collision_label', 'scene_0001'))

    # a harder kill: outputs of scene 1 without its completion record, half-written files
    os.makedirs(os.path.join(root, 'graspness', 'scene_0001', 'realsense'))
    os.makedirs(os.path.join(root, 'graspness', '.tmp_scene_0001-99999'))
    os.makedirs(os.path.join(root, 'collision_label', 'scene_0001'))
    open(os.path.join(root, 'collision_label', 'scene_0001', 'collision_labels.npz'),
         'wb').close()
    open(os.path.join(root, 'grasp_label', '000_labels.npz.tmp-99999'), 'wb').close()
    result = generate_dataset(root, 'tiny', scene_ids=[0, 1], **LABELLED)
    assert result.generated == [1] and result.skipped == [0]
    out = _tree_bytes(root)
    assert sorted(out) == sorted(ref)
    assert all(out[k] == ref[k] for k in out)

    # with and without labels are different datasets for the manifest
    with pytest.raises(ManifestMismatchError, match='with_labels'):
        generate_dataset(root, 'tiny', scene_ids=[0], config=LABELLED_CFG, with_labels=False,
                         progress=False)
    with pytest.raises(ManifestMismatchError, match='labels'):
        generate_dataset(root, 'tiny', scene_ids=[0], num_views=3, image_size=(160, 90),
                         progress=False)


def test_unusable_objects_are_left_out_with_a_reason(tmp_path, monkeypatch, caplog):
    """A mesh that fails to load (library object 188 has NaN vertices) or does not fit the
    gripper is skipped with a logged reason; the scene keeps the other objects."""
    import trimesh

    from graspcontrast_mm.synthetic import ObjectLibrary, ObjectModel, load_scene_info

    class Library(ObjectLibrary):

        def get(self, obj_id):
            if obj_id == 171:  # a 0.2 m cube: too big for the 0.1 m gripper
                box = trimesh.creation.box(extents=(0.2, 0.2, 0.2))
                return ObjectModel(171, 'big_cube', 'test', np.asarray(box.vertices),
                                   np.asarray(box.faces), 1.0)
            return super().get(obj_id)

    monkeypatch.setattr(gen_mod, 'ObjectLibrary', Library)
    cfg, _ = gen_mod.get_preset('tiny', num_objects=(3, 3),
                                object_pools={'seen': (0, ), 'similar': (170, 171, 188),
                                              'novel': (12, )})
    root = str(tmp_path / 'r')
    with caplog.at_level('WARNING'):
        generate_dataset(root, 'tiny', scene_ids=[130], config=cfg, **FAST)
    info = load_scene_info(root, 130)
    assert info['obj_ids'] == [170]
    assert sorted(info['skipped_objects']) == ['171', '188']
    assert 'too big' in info['skipped_objects']['171']
    assert 'could not be loaded' in info['skipped_objects']['188']
    assert 'object 188 left out' in caplog.text and 'object 171 left out' in caplog.text


def test_robot_preset_trains_on_seen_objects_only():
    """The robot detector's training data (preset 'robot') is fully labelled, has training
    scenes only, and draws no object of the novel set, from which the pick-and-place
    benchmark takes its objects."""
    from graspcontrast_mm.synthetic.objects import object_ids_of_set, object_set_of
    preset = gen_mod.PRESETS['robot']
    assert gen_mod.preset_unlabelled_scene_ids('robot') == ()
    assert all(s < 100 for s in preset['scene_ids'])  # ids >= 100 are test scenes
    seen = preset['config']['object_pools']['seen']
    assert len(seen) == 40
    assert all(object_set_of(i) == 'seen' for i in seen)
    assert not set(seen) & set(object_ids_of_set('novel'))
