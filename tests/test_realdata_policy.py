"""Real-sensor tests say when they do not run: a skip naming the folder locally, a failed
session under CI=true."""
import pytest

import real_kinect_frame


def test_missing_realdata_fails_under_ci_and_skips_with_the_folder_locally(monkeypatch,
                                                                           tmp_path):
    missing = str(tmp_path / 'no_such_folder')
    monkeypatch.setattr(real_kinect_frame, 'REAL', missing)
    monkeypatch.setenv('CI', 'true')
    with pytest.raises(pytest.UsageError, match='no_such_folder'):
        real_kinect_frame.check_realdata_in_ci()
    assert not real_kinect_frame.requires_realdata(missing).args[0]  # not skipped in CI
    monkeypatch.setenv('CI', 'false')
    real_kinect_frame.check_realdata_in_ci()  # locally: no failure...
    mark = real_kinect_frame.requires_realdata(missing)
    assert mark.args[0] and 'no_such_folder' in mark.kwargs['reason']  # ...a named skip
