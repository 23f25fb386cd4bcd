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


def test_min_max_product_of_cuda_tensors_go_through_nccl():
    # One rank: each op returns the tensor itself, through ncclMin / ncclMax / ncclProd (alone
    # and fused).
    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.int32):
        tensor = ((torch.arange(4096, device="cuda") % 5) - 2).to(dtype)
        for op in (hvd.Min, hvd.Max, hvd.Product):
            handles = [hvd.allreduce_async(tensor, op=op, name="cuda.%s.%s.%d" % (op, dtype, i))
                       for i in range(2)]
            for handle in handles:
                out = hvd.synchronize(handle)
                assert out.is_cuda and torch.equal(out, tensor), (op, dtype)


def test_fused_cuda_allreduces():
    tensors = [torch.full((1000 + i,), float(i), device="cuda") for i in range(50)]
    handles = [hvd.allreduce_async_(t, name="cuda.fused.%d" % i) for i, t in enumerate(tensors)]
    for i, handle in enumerate(handles):
        assert torch.equal(hvd.synchronize(handle), torch.full((1000 + i,), float(i), device="cuda"))


def test_allgather_of_a_cuda_tensor_returns_a_cuda_tensor():
    # Through host memory (the runtime refuses device allgather itself); the input is produced on
    # torch's stream, so the copy to the host must follow it.
    tensor = torch.arange(12, device="cuda", dtype=torch.float32).reshape(3, 4) * 3
    gathered = hvd.allgather(tensor, name="cuda.gather")
    assert gathered.is_cuda and gathered.device == tensor.device
    assert torch.equal(gathered, torch.cat([tensor] * hvd.size()))


def test_reducescatter_and_alltoall_of_cuda_tensors_return_cuda_tensors():
    # Through host memory, as allgather. One rank (one GPU): the whole tensor comes back.
    assert hvd.size() == 1
    tensor = torch.arange(8, device="cuda", dtype=torch.float32).reshape(4, 2) + 1
    scattered = hvd.reducescatter(tensor, name="cuda.scatter", op=hvd.Sum, postscale_factor=2.0)
    assert scattered.is_cuda and torch.equal(scattered, tensor * 2)
    exchanged, received = hvd.alltoall(tensor, splits=[4], name="cuda.a2a")
    assert exchanged.is_cuda and torch.equal(exchanged, tensor)
    assert received.tolist() == [4]


def test_averaging_round_of_a_cuda_model():
    # One rank is one group: the round leaves the model as it is (D = 0), having read it through
    # the CUDA kernels and NCCL planes; then the optimizer wrapper trains it on CUDA.
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(),
                                torch.nn.Linear(16, 2)).cuda()
    before = [p.detach().clone() for p in model.parameters()]
    for algorithm in ("sharded", "world-allreduce"):
        assert hvd.average_across_groups([p.data for p in model.parameters()],
                                         name="cuda.model", algorithm=algorithm) == 0.0
    for p, b in zip(model.parameters(), before):
        assert torch.equal(p, b)
    # One group is synchronous SGD: the wrapper allreduces the CUDA gradients every step and
    # runs no averaging rounds (discrepancy stays None).
    optimizer = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                         named_parameters=model.named_parameters(), tau=2,
                                         warmup_steps=0)
    data = torch.randn(32, 8, device="cuda")
    target = torch.randint(0, 2, (32,), device="cuda")
    for _ in range(4):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(data), target).backward()
        optimizer.step()
    assert all(not torch.equal(p, b) for p, b in zip(model.parameters(), before))
    assert optimizer.discrepancy is None


def test_an_averaging_round_takes_one_kind_of_memory():
    with pytest.raises(hilo.HiloError, match="same memory"):
        hvd.average_across_groups([torch.ones(3, device="cuda"), torch.ones(3)],
                                  name="cuda.mixed")


def test_fp16_compression_of_cuda_gradients():
    tensor = torch.linspace(0, 1, 1000, device="cuda")
    out = hvd.allreduce(tensor, name="cuda.fp16", compression=hvd.Compression.fp16)
    assert out.is_cuda and out.dtype == torch.float32
    assert torch.equal(out, tensor.half().float())  # one rank: the sum is its own value
    model = torch.nn.Linear(8, 2).cuda()
    optimizer = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                         named_parameters=model.named_parameters(), tau=2,
                                         warmup_steps=0, compression=hvd.Compression.fp16)
    optimizer.zero_grad()
    model(torch.randn(16, 8, device="cuda")).sum().backward()
    reduces = hvd.local_sgd_step(2, 0, 0)["allreduce_gradients"]
    expected = [p.grad.half().float() if reduces else p.grad.clone() for p in model.parameters()]
    optimizer.synchronize()
    for p, e in zip(model.parameters(), expected):
        assert p.grad.is_cuda and p.grad.dtype == torch.float32 and torch.equal(p.grad, e)
    optimizer.step()
