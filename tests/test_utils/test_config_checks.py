import pytest
from mmengine.config import Config

from graspcontrast_mm.utils import check_cfg_options


def _cfg():
    return Config(dict(
        train_cfg=dict(max_epochs=3),
        model=dict(loss=dict(temperature=0.07)),
        pipeline=[dict(type='A', p=1), dict(type='B')]))


def test_existing_keys_pass():
    check_cfg_options(_cfg(), {'train_cfg.max_epochs': 2,
                               'model.loss.temperature': 0.1,
                               'pipeline.1.type': 'C'})


def test_typo_is_reported_with_suggestion():
    with pytest.raises(KeyError, match=r'max_epoch.*Did you mean: max_epochs'):
        check_cfg_options(_cfg(), {'train_cfg.max_epoch': 2})
    with pytest.raises(KeyError, match='temprature'):
        check_cfg_options(_cfg(), {'model.loss.temprature': 0.1})
    with pytest.raises(KeyError, match='pipeline.5'):
        check_cfg_options(_cfg(), {'pipeline.5.type': 'C'})
