"""--wait-for of tools/train.py, test.py and infer.py (graspcontrast_mm.utils.cli)."""
import argparse
import os
import threading

import pytest

from graspcontrast_mm.utils import add_wait_args, wait_for_paths


def test_returns_at_once_when_everything_exists(tmp_path, monkeypatch):
    from graspcontrast_mm.utils import cli

    def no_sleep(seconds):
        raise AssertionError('waited although every path exists')

    monkeypatch.setattr(cli.time, 'sleep', no_sleep)
    (tmp_path / 'a').write_text('x')
    wait_for_paths([str(tmp_path / 'a'), str(tmp_path)])
    wait_for_paths([])


def test_waits_until_a_link_appears(tmp_path):
    target = tmp_path / 'epoch_20.pth'
    target.write_bytes(b'weights')
    link = tmp_path / 'final_checkpoint.pth'

    def publish():
        os.symlink(target, str(link) + '.tmp')
        os.replace(str(link) + '.tmp', link)

    timer = threading.Timer(0.4, publish)
    timer.start()
    try:
        waited = wait_for_paths([str(link)], timeout_s=10, poll_s=0.05)
    finally:
        timer.join()
    # published after 0.4 s (the 10 s timeout would raise instead of returning late)
    assert waited >= 0.3 and link.read_bytes() == b'weights'


def test_a_dangling_link_is_not_there_yet(tmp_path):
    link = tmp_path / 'final_checkpoint.pth'
    os.symlink(tmp_path / 'missing.pth', link)
    with pytest.raises(TimeoutError, match='final_checkpoint.pth'):
        wait_for_paths([str(link)], timeout_s=0.3, poll_s=0.05)


def test_timeout_names_only_the_missing_paths(tmp_path):
    (tmp_path / 'here').write_text('x')
    with pytest.raises(TimeoutError) as err:
        wait_for_paths([str(tmp_path / 'here'), str(tmp_path / 'gone')], timeout_s=0.2,
                       poll_s=0.05)
    assert 'gone' in str(err.value) and 'here' not in str(err.value)


def test_arguments():
    parser = argparse.ArgumentParser()
    add_wait_args(parser)
    args = parser.parse_args(['--wait-for', 'a', 'b', '--wait-timeout', '2.5'])
    assert args.wait_for == ['a', 'b'] and args.wait_timeout == 2.5
    assert parser.parse_args([]).wait_for == []
    with pytest.raises(SystemExit):
        parser.parse_args(['--wait-timeout', '0'])


def test_link_last_checkpoint(tmp_path):
    from graspcontrast_mm.utils import link_last_checkpoint
    work = tmp_path / 'run'
    work.mkdir()
    link = str(tmp_path / 'final_checkpoint.pth')
    with pytest.raises(FileNotFoundError, match='last_checkpoint'):
        link_last_checkpoint(str(work), link)
    (work / 'epoch_1.pth').write_bytes(b'one')
    (work / 'last_checkpoint').write_text(str(work / 'epoch_1.pth'))
    assert link_last_checkpoint(str(work), link) == str(work / 'epoch_1.pth')
    assert open(link, 'rb').read() == b'one'
    (work / 'epoch_2.pth').write_bytes(b'two')
    (work / 'last_checkpoint').write_text(str(work / 'epoch_2.pth'))
    link_last_checkpoint(str(work), link)  # replaced, not an error
    assert open(link, 'rb').read() == b'two' and os.path.islink(link)
    assert sorted(os.listdir(tmp_path)) == ['final_checkpoint.pth', 'run']  # no leftovers
    (work / 'last_checkpoint').write_text(str(work / 'epoch_3.pth'))
    with pytest.raises(FileNotFoundError, match='epoch_3.pth'):
        link_last_checkpoint(str(work), link)
