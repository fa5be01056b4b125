"""The tools end a distributed run by destroying the process group."""
import torch.distributed as dist

from graspcontrast_mm.utils import shutdown_distributed


def test_process_group_is_destroyed_once(tmp_path):
    assert shutdown_distributed() is False  # nothing initialised: a no-op
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}', rank=0,
                            world_size=1)
    try:
        assert dist.is_initialized()
        assert shutdown_distributed() is True
        assert not dist.is_initialized()
        assert shutdown_distributed() is False
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
