"""dexnet model pickles load through a restricted unpickler: data never runs code."""
import glob
import os
import pickle
import shutil

import numpy as np
import pytest

from graspcontrast_mm.evaluation import UnsafePickleError, load_dexnet_pickle
from graspcontrast_mm.evaluation.graspnet_eval import clear_caches, get_object

pytest.importorskip('graspnetAPI')


class _Touch:
    """Unpickling this calls ``os.system('touch <marker>')``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


class _Eval:
    """Unpickling this calls ``builtins.eval`` on code creating the marker."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f"open({self.marker!r}, 'w').close()", ))


def _write(path, obj):
    with open(path, 'wb') as f:
        pickle.dump(obj, f)


@pytest.fixture(scope='module')
def model_path(eval_scene_root):
    return sorted(glob.glob(os.path.join(eval_scene_root, 'dex_models', '*.pkl')))[0]


def test_real_model_loads(model_path):
    from graspnetAPI.utils.dexnet.grasping.graspable_object import GraspableObject3D
    model = load_dexnet_pickle(model_path)
    assert isinstance(model, GraspableObject3D)
    with open(model_path, 'rb') as f:
        plain = pickle.load(f)
    np.testing.assert_array_equal(model.sdf.data_, plain.sdf.data_)
    np.testing.assert_array_equal(model.sdf.surface_for_signed_val,
                                  plain.sdf.surface_for_signed_val)


@pytest.mark.parametrize('payload', [_Touch, _Eval])
def test_poisoned_pickles_never_run(payload, model_path, tmp_path):
    marker = tmp_path / 'marker'
    top = tmp_path / 'top.pkl'
    _write(top, payload(str(marker)))
    # a real model carrying the payload in an attribute
    with open(model_path, 'rb') as f:
        model = pickle.load(f)
    model.extra = payload(str(marker))
    nested = tmp_path / 'nested.pkl'
    _write(nested, model)
    for path in (top, nested):
        with pytest.raises(UnsafePickleError, match=r'(system|eval)'):
            load_dexnet_pickle(str(path))
        assert not marker.exists()
    # the payload is real: a plain pickle.load runs it
    with open(top, 'rb') as f:
        pickle.load(f)
    assert marker.exists()


def test_evaluator_loads_models_safely(eval_scene_root, tmp_path):
    """The evaluator's object loader (both back-ends) refuses a poisoned dex_models file."""
    root = tmp_path / 'root'
    shutil.copytree(os.path.join(eval_scene_root, 'models', '000'), root / 'models' / '000')
    os.makedirs(root / 'dex_models')
    marker = tmp_path / 'marker'
    _write(root / 'dex_models' / '000.pkl', _Touch(str(marker)))
    clear_caches()
    with pytest.raises(UnsafePickleError, match='000.pkl'):
        get_object(str(root), 0)
    assert not marker.exists()


def test_wrong_content_and_broken_files(tmp_path):
    arr = tmp_path / 'array.pkl'
    _write(arr, np.arange(3))
    with pytest.raises(pickle.UnpicklingError, match='ndarray'):
        load_dexnet_pickle(str(arr))
    broken = tmp_path / 'broken.pkl'
    broken.write_bytes(pickle.dumps(np.arange(1000))[:50])
    with pytest.raises(pickle.UnpicklingError, match='broken.pkl'):
        load_dexnet_pickle(str(broken))


def test_no_plain_pickle_load_in_evaluation():
    import graspcontrast_mm.evaluation as ev
    pkg = os.path.dirname(ev.__file__)
    offenders = []
    for dirpath, _, files in os.walk(pkg):
        for name in files:
            if name.endswith('.py'):
                with open(os.path.join(dirpath, name)) as f:
                    if 'pickle.load(' in f.read():
                        offenders.append(name)
    assert not offenders


def test_generator_read_back_is_restricted_too(tmp_path):
    """The generator's own reader of dex_models pickles refuses a poisoned file."""
    from graspcontrast_mm.synthetic.dexnet_models import load_dexnet_model
    marker = tmp_path / 'marker'
    path = tmp_path / '000.pkl'
    _write(path, _Touch(str(marker)))
    with pytest.raises(UnsafePickleError, match='000.pkl'):
        load_dexnet_model(str(path))
    assert not marker.exists()
