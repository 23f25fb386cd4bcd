"""hilo.torch on CUDA tensors: the NCCL data plane through the Python adapter.

Runs as one rank (one GPU holds one rank of a NCCL communicator). Skips, saying why, where torch
has no CUDA device (Debian's torch is CPU-only; the GPU machine runs it with a CUDA torch)."""
import pytest
import torch

import hilo
import hilo.torch as hvd

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device visible to torch")


@pytest.fixture(scope="module", autouse=True)
def runtime():
    hvd.init()
    yield
    hvd.shutdown()


def test_allreduce_and_broadcast_of_cuda_tensors():
    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.int64):
        # Produced by a kernel on torch's current stream: hilo's stream must wait for it.
        tensor = (torch.arange(1 << 20, device="cuda") % 7).to(dtype) * 2
        expected = tensor.clone()
        out = hvd.allreduce(tensor, op=hvd.Sum, name="cuda.sum.%s" % dtype)
        assert out.is_cuda and torch.equal(out, expected * hvd.size())
        averaged = hvd.allreduce(tensor, name="cuda.avg.%s" % dtype)
        assert torch.equal(averaged, expected)
        hvd.broadcast_(tensor, 0, name="cuda.bcast.%s" % dtype)
        assert torch.equal(tensor, expected)


def test_fused_cuda_allreduces():
    tensors = [torch.full((1000 + i,), float(i), device="cuda") for i in range(50)]
    handles = [hvd.allreduce_async_(t, name="cuda.fused.%d" % i) for i, t in enumerate(tensors)]
    for i, handle in enumerate(handles):
        assert torch.equal(hvd.synchronize(handle), torch.full((1000 + i,), float(i), device="cuda"))


def test_unsupported_cuda_collectives_say_so():
    with pytest.raises(hilo.HiloError, match="CUDA tensors"):
        hvd.allgather(torch.ones(2, device="cuda"), name="cuda.gather")
