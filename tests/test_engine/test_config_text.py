"""Config text is formatted once per distinct text and style, with the same result as
mmengine's own formatting."""
import os.path as osp

from mmengine.config import Config
from mmengine.config import config as mmengine_config

from graspcontrast_mm.engine import (config_formatting_memoized, memoize_config_formatting,
                                     restore_config_formatting)
from graspcontrast_mm.engine import config_text

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_pretty_text_is_mmengines_and_formatted_once(monkeypatch):
    assert config_formatting_memoized()  # installed by importing graspcontrast_mm.engine
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'pretrain_fne_tiny.py'))
    restore_config_formatting()
    try:
        assert not config_formatting_memoized()
        plain = cfg.pretty_text
    finally:
        memoize_config_formatting()
    # count the real formatter's calls behind a fresh memo
    calls = []
    original = config_text._ORIGINAL['FormatCode']

    def counting(text, **kwargs):
        calls.append(text)
        return original(text, **kwargs)

    monkeypatch.setattr(mmengine_config, 'FormatCode', config_text._memoized(counting))
    assert cfg.pretty_text == plain
    assert cfg.pretty_text == plain
    assert len(calls) == 1
    cfg.merge_from_dict(dict(train_cfg=dict(max_epochs=3)))
    changed = cfg.pretty_text  # another text: formatted again
    assert len(calls) == 2 and changed != plain and 'max_epochs=3' in changed


def test_memo_keys_on_text_and_style():
    calls = []

    def fake(text, style_config=None):
        calls.append((text, style_config))
        return text.upper() + str(sorted((style_config or {}).items())), True

    memo = config_text._memoized(fake)
    a = memo('a = 1', style_config=dict(based_on_style='pep8'))
    assert memo('a = 1', style_config=dict(based_on_style='pep8')) == a
    assert memo('a = 1', style_config=dict(based_on_style='google')) != a
    assert memo('b = 1', style_config=dict(based_on_style='pep8')) != a
    assert len(calls) == 3
    # positional extras or an unhashable style value: passed through, not cached
    memo('a = 1', dict(based_on_style='pep8'))
    memo('a = 1', style_config=dict(based_on_style=bytearray(b'x')))
    assert len(calls) == 5


def test_install_and_restore_are_idempotent():
    assert memoize_config_formatting() and memoize_config_formatting()
    wrapped = mmengine_config.FormatCode
    assert wrapped._graspcontrast_original is config_text._ORIGINAL['FormatCode']
    assert restore_config_formatting() is False
    assert mmengine_config.FormatCode is wrapped._graspcontrast_original
    assert restore_config_formatting() is False
    memoize_config_formatting()
    assert config_formatting_memoized()
