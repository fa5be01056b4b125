"""Seed selection when the graspable candidates hold fewer distinct points than seeds
(a small frame padded by repeated points): farthest point sampling returns only the
distinct points, and the seeds are cycled to ``num_seeds`` rows."""
import torch

from graspcontrast_mm.registry import MODELS
from test_gsnet import tiny_cfg


def test_fps_on_repeated_points_still_gives_num_seeds():
    model = MODELS.build(tiny_cfg(num_seeds=32))
    distinct = torch.rand(10, 3)
    points = distinct[torch.arange(100) % 10]          # 100 candidates, 10 distinct
    logits = torch.tensor([[-1.0, 1.0]]).repeat(100, 1)  # every point an object point
    graspness = torch.full((100, ), 0.5)
    idx, n = model.select_seeds(points, logits, graspness)
    assert n == 100 and idx.shape == (32, )
    chosen = {tuple(p.tolist()) for p in points[idx]}
    assert chosen == {tuple(p.tolist()) for p in distinct}  # every distinct point used
