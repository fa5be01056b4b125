"""tools/overfit_one_frame.py: a few steps on one generated frame, the JSON record and the
head diagnosis (AP of predicted vs target head outputs on the model's own seeds)."""
import importlib.util
import json
import math
import os.path as osp

REPO = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def _tool():
    spec = importlib.util.spec_from_file_location(
        'overfit_one_frame', osp.join(REPO, 'tools', 'overfit_one_frame.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_overfit_tool_records_curve_and_head_diagnosis(labelled_graspnet_root, tmp_path):
    out = tmp_path / 'overfit.json'
    code = _tool().main([labelled_graspnet_root, '--scene', '0', '--frame', '0',
                         '--iters', '2', '--eval-every', '1', '--num-points', '4096',
                         '--conventions', 'consistent', '--out', str(out)])
    assert code == 0
    record = json.loads(out.read_text())
    (run,) = record['runs']
    assert run['frame_consistent'] is True
    assert [c['iter'] for c in run['curve']] == [1, 2]
    diag = run['head_diagnosis']
    aps = [diag[k] for k in ('ap_predicted', 'ap_oracle_width', 'ap_oracle_score',
                             'ap_oracle_score_width', 'ap_oracle_view_score_width')]
    assert all(0.0 <= a <= 100.0 for a in aps), diag
    assert 0.0 <= diag['predicted_view_is_best'] <= 1.0
    assert 1 <= diag['unique_seeds'] <= 1024
    assert math.isnan(diag['score_correlation']) or -1.0 <= diag['score_correlation'] <= 1.0
