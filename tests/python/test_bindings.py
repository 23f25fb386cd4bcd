"""The hilo Python package under mpirun (4 ranks in 2 groups of 2): values of the bindings, every
collective on numpy arrays and torch tensors, in place and not, async handles, errors as
exceptions with the runtime's message, and the Horovod-style helpers. Every rank runs every test
in the same order (collectives must match)."""
import json
import os

import numpy as np
import pytest
import torch

import hilo
import hilo.torch as hvd


@pytest.fixture(scope="session", autouse=True)
def runtime():
    hilo.init()
    yield
    hilo.shutdown()


def test_topology_matches_mpirun():
    assert hilo.is_initialized()
    assert hilo.size() == int(os.environ["OMPI_COMM_WORLD_SIZE"]) == 4
    assert hilo.rank() == int(os.environ["OMPI_COMM_WORLD_RANK"])
    assert hilo.local_rank() == int(os.environ["OMPI_COMM_WORLD_LOCAL_RANK"])
    assert hilo.group_size() == 2 and hilo.num_groups() == 2
    assert hilo.group() == hilo.rank() // 2 and hilo.group_rank() == hilo.rank() % 2
    hilo.init()  # idempotent
    assert hvd.rank() == hilo.rank() and hvd.size() == hilo.size()


def test_allreduce_numpy_in_place_and_not():
    values = np.full(8, hilo.rank(), dtype=np.float32)
    summed = hilo.allreduce(values, op=hilo.Sum, name="np.sum")
    assert np.all(summed == 6.0) and np.all(values == hilo.rank()), "allreduce leaves its input"
    hilo.allreduce_(values, name="np.avg")  # Horovod's default: average
    assert np.all(values == 1.5)
    legacy = np.full(3, 2.0 * hilo.rank(), dtype=np.float64)
    hilo.allreduce_(legacy, average=False, name="np.legacy")  # Horovod's deprecated flag
    assert np.all(legacy == 12.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16,
                                   torch.int32, torch.int64])
def test_allreduce_torch_every_dtype(dtype):
    tensor = torch.full((5, 3), hilo.rank() + 1, dtype=dtype)
    result = hvd.allreduce(tensor, op=hvd.Sum, name="torch.sum.%s" % dtype)
    assert result.dtype == dtype and result.shape == (5, 3)
    assert torch.all(result == 10)
    assert torch.all(tensor == hilo.rank() + 1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16,
                                   torch.int32, torch.int64])
def test_min_max_product_every_dtype_on_every_communicator(dtype):
    """Horovod's hvd.Min / hvd.Max / hvd.Product, element-wise: fused (two tensors per op
    enqueued together) and alone, on the world, the group and the cross communicator."""
    for communicator in (hvd.WORLD, hvd.GROUP, hvd.CROSS):
        members = [r for r in range(hilo.size())
                   if (communicator == hvd.WORLD
                       or (communicator == hvd.GROUP and r // hilo.group_size() == hilo.group())
                       or (communicator == hvd.CROSS
                           and r % hilo.group_size() == hilo.group_rank()))]
        # Rank r holds [r + 1, 3 - r, 2] times 1 and 2 (two tensors per op, which fuse): min and
        # max pick different ranks per element; every product is exact in 16-bit floats.
        def values(r, scale):
            return torch.tensor([r + 1, 3 - r, 2], dtype=dtype) * scale

        def expected(op, scale):
            everyone = torch.stack([values(r, scale) for r in members])
            if op == hvd.Min:
                return everyone.min(dim=0).values
            if op == hvd.Max:
                return everyone.max(dim=0).values
            return everyone.to(torch.float64).prod(dim=0).to(dtype)

        handles = {(op, scale): hvd.allreduce_async(
                       values(hilo.rank(), scale), op=op, communicator=communicator,
                       name="mmp.%s.%s.%s.%d" % (dtype, communicator, op, scale))
                   for op in (hvd.Min, hvd.Max, hvd.Product) for scale in (1, 2)}
        for (op, scale), handle in handles.items():
            result = hvd.synchronize(handle)
            assert result.dtype == dtype
            assert torch.equal(result, expected(op, scale)), (communicator, op, scale, result)
        alone = hvd.allreduce(values(hilo.rank(), 1), op=hvd.Max, communicator=communicator,
                              name="mmp.alone.%s.%s" % (dtype, communicator))
        assert torch.equal(alone, expected(hvd.Max, 1))


def test_horovod_cross_rank_size_and_homogeneity():
    # This job: one node, so one rank per local rank.
    assert (hvd.cross_rank(), hvd.cross_size(), hvd.is_homogeneous()) == (0, 1, True)
    # Two nodes of 3 and one of 2 (world ranks 0-2, 3-5, 6-7), as the init-time allgather sees
    # them: local rank 2 exists on two nodes only.
    layout = [(0, 3), (1, 3), (2, 3), (0, 3), (1, 3), (2, 3), (0, 2), (1, 2)]
    cross = [hilo._cross_layout(layout, r) for r in range(8)]
    assert [c["cross_rank"] for c in cross] == [0, 0, 0, 1, 1, 1, 2, 2]
    assert [c["cross_size"] for c in cross] == [3, 3, 2, 3, 3, 2, 3, 3]
    assert not hilo._cross_layout(layout, 0)["is_homogeneous"]
    assert hilo._cross_layout(layout[:6], 4) == {"cross_rank": 1, "cross_size": 2,
                                                 "is_homogeneous": True}


def test_prescale_postscale_and_grouped_allreduce():
    # Horovod's factors: (sum of 2 * x) * 0.25 over 4 ranks of x = rank + 1 is 5.
    x = torch.full((3,), float(hilo.rank() + 1))
    result = hvd.allreduce(x, op=hvd.Sum, prescale_factor=2.0, postscale_factor=0.25,
                           name="scaled")
    assert torch.equal(result, torch.full((3,), 5.0))
    assert torch.equal(x, torch.full((3,), hilo.rank() + 1.0)), "the input is not scaled"
    in_place = np.full(2, float(hilo.rank() + 1))
    handle = hilo.allreduce_async_(in_place, op=hilo.Average, postscale_factor=2.0,
                                   name="scaled.np")
    assert hilo.synchronize(handle) is in_place and np.array_equal(in_place, [5.0, 5.0])
    assert np.array_equal(hilo.synchronize(handle), [5.0, 5.0]), "the factor applies once"
    # Integers scale as Horovod's: in float64, truncated toward zero (per rank, then summed).
    ints = torch.tensor([3, -3, 7], dtype=torch.int32)
    assert torch.equal(hvd.allreduce(ints, op=hvd.Sum, prescale_factor=0.5, name="scaled.int"),
                       torch.tensor([1, -1, 3], dtype=torch.int32) * hilo.size())
    assert torch.equal(hvd.allreduce(ints, op=hvd.Sum, postscale_factor=0.3, name="scaled.int2"),
                       (torch.tensor([3, -3, 7]) * hilo.size() * 0.3).to(torch.int32))
    with pytest.raises(ValueError, match="must be a number"):
        hvd.allreduce(torch.ones(2), prescale_factor="x", name="scaled.bad")
    # 16-bit floats scale in float32, rounded once (Horovod's CPU arithmetic), not in float16.
    halves = torch.arange(-100, 100, dtype=torch.float16)
    factor = 0.1915194503788923
    assert torch.equal(hvd.allreduce(halves, op=hvd.Sum, prescale_factor=factor, name="scaled.h"),
                       (halves.float() * factor).half() * hilo.size())
    # A grouped allreduce: a list in, a list out, the inputs untouched; fp16 compression keeps
    # each tensor's dtype.
    tensors = [torch.full((2,), float(hilo.rank())), torch.full((5, 1), 1.0, dtype=torch.float64)]
    reduced = hvd.grouped_allreduce(tensors, op=hvd.Sum, name="grouped",
                                    compression=hvd.Compression.fp16)
    assert [r.dtype for r in reduced] == [torch.float32, torch.float64]
    assert torch.equal(reduced[0], torch.full((2,), 6.0))
    assert torch.equal(reduced[1], torch.full((5, 1), 4.0, dtype=torch.float64))
    assert torch.equal(tensors[0], torch.full((2,), float(hilo.rank())))
    handle = hvd.grouped_allreduce_async_(tensors, name="grouped.inplace")
    assert hvd.synchronize(handle)[0] is tensors[0]
    assert torch.equal(tensors[0], torch.full((2,), 1.5))


def test_join_lets_the_others_finish_their_allreduces_with_zeros():
    """Horovod's join, in 2 groups of 2: rank 3 has no more data and joins at once; the others
    run two more steps of world and group allreduces, in which rank 3 counts as zeros (the
    average still divides by 4, as Horovod's); an allgather runs with no rows from rank 3; a
    broadcast cannot run while rank 3 is joined and fails on the others with a message; then they
    join too and everything runs as before."""
    r = hilo.rank()
    if r == 3:
        assert hvd.join() in (0, 1, 2)
    else:
        for step in range(2):
            world = hvd.allreduce(torch.full((3,), r + 1.0), op=hvd.Sum, name="join.world")
            average = hvd.allreduce(torch.full((3,), r + 1.0), name="join.average")
            group = hvd.allreduce(torch.full((2,), r + 1.0), op=hvd.Sum, name="join.group",
                                  communicator=hvd.GROUP)
            assert torch.equal(world, torch.full((3,), 6.0)), step  # 1 + 2 + 3 + 0
            assert torch.equal(average, torch.full((3,), 1.5)), step  # (1 + 2 + 3 + 0) / 4
            # Group 0: 1 + 2; group 1: rank 2's 3 + joined rank 3's zeros.
            assert torch.equal(group, torch.full((2,), 3.0)), step
        # An allgather runs too, with no rows from the joined rank.
        gathered = hvd.allgather(torch.full((r + 1, 2), float(r)), name="join.gather")
        assert gathered[:, 0].tolist() == [0.0, 1.0, 1.0, 2.0, 2.0, 2.0]
        with pytest.raises(hilo.HiloError, match="broadcast cannot run while ranks have joined"):
            hvd.broadcast(torch.ones(1), root_rank=0, name="join.broadcast")
        assert hvd.join(hvd.local_rank()) in (0, 1, 2)  # Horovod passes a device; unused
    # Everyone is back: the same names, cached or not, reduce over all four ranks again.
    world = hvd.allreduce(torch.full((3,), r + 1.0), op=hvd.Sum, name="join.world")
    assert torch.equal(world, torch.full((3,), 10.0))
    group = hvd.allreduce(torch.full((2,), r + 1.0), op=hvd.Sum, name="join.group",
                          communicator=hvd.GROUP)
    assert torch.equal(group, torch.full((2,), 3.0 if r < 2 else 7.0))


def test_group_communicator_and_async_handles():
    tensors = [torch.full((100,), float(hilo.rank() * 10 + i)) for i in range(8)]
    handles = [hvd.allreduce_async_(t, name="group.%d" % i, communicator=hvd.GROUP)
               for i, t in enumerate(tensors)]
    for i, handle in enumerate(handles):
        output = hvd.synchronize(handle)
        assert output is tensors[i], "the in-place variant returns the same tensor"
        first = hilo.group() * 2
        assert torch.all(output == (first * 10 + i + (first + 1) * 10 + i) / 2.0)
        assert hvd.poll(handle)


def test_allgather_with_different_first_dimensions():
    rows = hilo.rank() + 1
    gathered = hilo.allgather(np.full((rows, 2), hilo.rank(), dtype=np.int64), name="np.gather")
    assert gathered.shape == (10, 2)
    assert list(gathered[:, 0]) == [0, 1, 1, 2, 2, 2, 3, 3, 3, 3]
    in_group = hvd.allgather(torch.full((1,), float(hilo.rank())), name="torch.gather",
                             communicator=hvd.GROUP)
    assert in_group.tolist() == [hilo.group() * 2.0, hilo.group() * 2.0 + 1]


def test_reducescatter_keeps_this_ranks_rows_of_the_average_or_sum():
    # 6 rows of 2 over 4 ranks: ranks 0 and 1 keep 2 rows, ranks 2 and 3 one (Horovod's split).
    first_row, rows = [(0, 2), (2, 2), (4, 1), (5, 1)][hilo.rank()]
    grid = np.arange(12, dtype=np.float32).reshape(6, 2)  # element (i, j) = 2 i + j
    mine = grid + hilo.rank()
    before = mine.copy()
    block = hilo.reducescatter(mine, name="np.scatter")  # Average, as Horovod's default
    assert block.shape == (rows, 2) and block.dtype == np.float32
    np.testing.assert_array_equal(block, grid[first_row:first_row + rows] + 1.5)
    np.testing.assert_array_equal(mine, before)  # the input is left alone
    summed = hvd.reducescatter(torch.from_numpy(mine), name="torch.scatter", op=hvd.Sum,
                               prescale_factor=2.0, postscale_factor=0.5)
    assert summed.dtype == torch.float32
    assert torch.equal(summed, torch.from_numpy(4 * grid[first_row:first_row + rows] + 6))
    np.testing.assert_array_equal(mine, before)
    # In the group of 2 (world ranks 2g, 2g + 1): 3 rows of int64, 2 to group rank 0, 1 to 1.
    handle = hvd.reducescatter_async(torch.full((3,), hilo.rank(), dtype=torch.int64),
                                     name="torch.scatter.group", op=hvd.Sum,
                                     communicator=hvd.GROUP)
    in_group = hvd.synchronize(handle)
    assert in_group.dtype == torch.int64
    assert in_group.tolist() == [4 * hilo.group() + 1] * (2 if hilo.group_rank() == 0 else 1)


def test_alltoall_with_splits_returns_the_received_splits():
    me = hilo.rank()
    splits = [(me + j) % 2 + 1 for j in range(4)]  # rows to each rank
    rows = [np.full((splits[j], 3), 10.0 * me + j, dtype=np.float32) for j in range(4)]
    mine = np.concatenate(rows)
    got, received = hilo.alltoall(mine, splits=np.array(splits), name="np.a2a")
    expected_splits = [(a + me) % 2 + 1 for a in range(4)]
    assert received.tolist() == expected_splits and received.dtype == np.int32
    expected = np.concatenate([np.full((expected_splits[a], 3), 10.0 * a + me, dtype=np.float32)
                               for a in range(4)])
    np.testing.assert_array_equal(got, expected)
    # torch, even split (no splits: just the tensor back, as Horovod's), in the group of 2.
    tensor = torch.arange(4, dtype=torch.int64) + 100 * me  # rows 0-1 to group rank 0, 2-3 to 1
    out = hvd.alltoall(tensor, name="torch.a2a", communicator=hvd.GROUP)
    peers = [2 * hilo.group(), 2 * hilo.group() + 1]
    start = 2 * hilo.group_rank()
    assert out.tolist() == [100 * p + start + i for p in peers for i in range(2)]
    handle = hvd.alltoall_async(torch.ones(4, 2), splits=torch.tensor([4, 0, 0, 0]),
                                name="torch.a2a.async")
    out, received = hvd.synchronize(handle)
    assert received.dtype == torch.int32
    assert received.tolist() == ([4, 4, 4, 4] if me == 0 else [0, 0, 0, 0])
    assert tuple(out.shape) == ((16, 2) if me == 0 else (0, 2))


def test_alltoall_errors():
    with pytest.raises(hilo.HiloError, match="evenly"):
        hvd.alltoall(torch.ones(5))
    with pytest.raises(hilo.HiloError, match="splits sum to"):
        hvd.alltoall(torch.ones(5), splits=[1, 1, 1, 1])
    with pytest.raises(hilo.HiloError, match="at least one dimension"):
        hvd.alltoall(torch.tensor(1.0))


def test_start_and_stop_timeline(tmp_path):
    path = tmp_path / ("timeline.%d.json" % hilo.rank())
    hvd.start_timeline(path, mark_cycles=True)
    hvd.allreduce(torch.ones(3), name="timed.in.python")
    hvd.stop_timeline()
    if hilo.rank() == 0:
        events = json.loads(path.read_text())  # closed: valid JSON
        names = {e.get("args", {}).get("name") for e in events if e["ph"] == "M"}
        assert "timed.in.python" in names
        assert any(e["name"] == "CYCLE_START" for e in events)
    else:
        assert not path.exists()


def test_grouped_allgather_and_reducescatter():
    r = hilo.rank()
    gathered = hvd.grouped_allgather([torch.full((1,), float(r)), torch.full((r + 1, 2), r)],
                                     name="grouped.gather")
    assert gathered[0].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert gathered[1].shape == (10, 2) and gathered[1].dtype == torch.int64
    blocks = hvd.grouped_reducescatter([torch.ones(4), torch.full((8, 1), float(r))],
                                       op=hvd.Sum, name="grouped.scatter")
    assert blocks[0].tolist() == [4.0]
    assert blocks[1].tolist() == [[6.0], [6.0]]


def test_narrow_dtypes_travel_as_int32_and_come_back_in_their_own():
    r = hilo.rank()
    flags = torch.tensor([r == 0, r < 2, True])
    assert hvd.allreduce(flags, op=hvd.Sum, name="bool.or").tolist() == [True, True, True]
    assert hvd.allreduce(flags, op=hvd.Min, name="bool.and").tolist() == [False, False, True]
    assert flags.tolist() == [r == 0, r < 2, True]  # the out-of-place form leaves it alone
    small = torch.tensor([100, -100, r], dtype=torch.int8)
    total = hvd.allreduce(small, op=hvd.Sum, name="int8.sum")
    assert total.dtype == torch.int8 and total[2].item() == 6
    assert total[0].item() == 400 - 512  # wraps, as int8 arithmetic would
    image = torch.full((2, 3), 10 * r, dtype=torch.uint8)
    hvd.broadcast_(image, root_rank=3, name="uint8.broadcast")
    assert image.dtype == torch.uint8
    assert torch.equal(image, torch.full((2, 3), 30, dtype=torch.uint8))
    counts = np.array([r, 2], dtype=np.int16)
    assert hilo.allreduce(counts, op=hilo.Max, name="np.int16.max").tolist() == [3, 2]
    hilo.allreduce_(counts, op=hilo.Sum, name="np.int16.sum_")
    assert counts.dtype == np.int16 and counts.tolist() == [6, 8]
    gathered = hvd.allgather(torch.tensor([r % 2 == 0]), name="bool.gather")
    assert gathered.dtype == torch.bool and gathered.tolist() == [True, False, True, False]
    with pytest.raises(hilo.HiloError, match="hilo takes float32"):
        hvd.allreduce(torch.zeros(2, dtype=torch.complex64), name="complex")


def test_reducescatter_errors():
    with pytest.raises(ValueError, match="hilo.Average or hilo.Sum"):
        hvd.reducescatter(torch.ones(4), op=hvd.Max)
    with pytest.raises(hilo.HiloError, match="at least one dimension"):
        hvd.reducescatter(torch.tensor(1.0))
    assert torch.equal(hvd.reducescatter(torch.full((4,), 3, dtype=torch.int32), op=hvd.Sum,
                                         prescale_factor=0.5),
                       torch.full((1,), hilo.size(), dtype=torch.int32))  # 3 * 0.5 -> 1 per rank


def test_broadcast_and_broadcast_parameters():
    value = torch.full((4,), float(hilo.rank()))
    assert torch.all(hvd.broadcast(value, root_rank=1, name="b") == 1.0)
    assert torch.all(value == hilo.rank())
    hvd.broadcast_(value, root_rank=3, name="b_")
    assert torch.all(value == 3.0)
    torch.manual_seed(hilo.rank())
    model = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    for mine, root in zip(model.parameters(), reference.parameters()):
        assert torch.equal(mine, root)


def test_broadcast_optimizer_state():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1 * (hilo.rank() + 1), momentum=0.9)
    model(torch.full((1, 3), float(hilo.rank()))).sum().backward()
    optimizer.step()  # momentum buffers now differ per rank
    hvd.broadcast_optimizer_state(optimizer, root_rank=2)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.3)
    buffers = [optimizer.state[p]["momentum_buffer"] for p in model.parameters()]
    gathered = hvd.allgather(torch.cat([b.flatten() for b in buffers]).unsqueeze(0), name="opt")
    assert all(torch.equal(gathered[0], gathered[r]) for r in range(4)), "same state everywhere"


def test_broadcast_optimizer_state_creates_a_new_optimizers_state_and_sends_every_option():
    """Horovod's cases: the root's optimizer has stepped and a fresh one elsewhere has no state
    yet (it is created by a zero-gradient step of the wrapped optimizer), and the options are
    not all numbers (Adam's betas tuple, amsgrad, maximize)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    if hilo.rank() == 0:  # a plain optimizer that has stepped
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9), amsgrad=True)
        model(torch.ones(1, 3)).sum().backward()
        optimizer.step()
    else:  # a fresh DistributedOptimizer: its state is created without a distributed step
        optimizer = hvd.DistributedOptimizer(torch.optim.Adam(model.parameters()),
                                             named_parameters=model.named_parameters(), tau=1)
    hvd.broadcast_optimizer_state(optimizer, root_rank=0)
    group = optimizer.param_groups[0]
    assert (group["lr"], group["betas"], group["amsgrad"]) == (0.01, (0.8, 0.9), True)
    state = torch.cat([torch.cat([optimizer.state[p][key].flatten().double()
                                  for key in ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")])
                       for p in model.parameters()]).unsqueeze(0)
    gathered = hvd.allgather(state, name="opt.adam")
    assert all(torch.equal(gathered[0], gathered[r]) for r in range(hilo.size()))
    assert float(optimizer.state[next(model.parameters())]["step"]) == 1.0


def test_average_across_groups():
    model = [np.full(10, float(hilo.group()), dtype=np.float32),
             np.full((2, 3), 2.0 * hilo.group(), dtype=np.float64)]
    discrepancy = hilo.average_across_groups(model, name="model")
    assert np.all(model[0] == 0.5) and np.all(model[1] == 1.0)
    assert discrepancy > 0


def test_errors_are_exceptions_with_the_runtime_message():
    # Ranks disagree on the shape: every rank gets INVALID_ARGUMENT naming the ranks.
    with pytest.raises(hilo.HiloError, match=r"INVALID_ARGUMENT: .*'mismatch'.*shape differs"):
        hilo.allreduce(np.zeros(4 if hilo.rank() != 1 else 3, dtype=np.float32), name="mismatch")
    with pytest.raises(hilo.HiloError, match="not contiguous"):
        hvd.allreduce(torch.zeros(4, 4).t(), name="strided")
    with pytest.raises(hilo.HiloError, match="unsupported dtype"):
        hilo.allreduce(np.zeros(2, dtype=np.complex64), name="complex64")
    with pytest.raises(hilo.HiloError, match="numpy array or a torch tensor"):
        hilo.allreduce([1.0, 2.0], name="list")
    with pytest.raises(hilo.HiloError, match="CPU and CUDA tensors, not meta"):
        hilo.allreduce(torch.empty(3, device="meta"), name="meta")
    with pytest.raises(ValueError, match="hilo.Average, hilo.Sum, hilo.Min, hilo.Max or "
                                         "hilo.Product, not 'maximum'"):
        hilo.allreduce(np.zeros(2, dtype=np.float32), op="maximum", name="op")
    # A name already in flight on this rank. Rank 0 submits it only after the barrier, so that
    # the others' first one cannot complete while they check (the test would race otherwise).
    if hilo.rank() != 0:
        first = hilo.allreduce_async(np.ones(2, dtype=np.float32), name="twice")
        with pytest.raises(hilo.HiloError, match="ALREADY_EXISTS"):
            hilo.allreduce_async(np.ones(2, dtype=np.float32), name="twice")
        with pytest.raises(ValueError, match="ALREADY_EXISTS"):  # Horovod's type for it
            hilo.allreduce_async(np.ones(2, dtype=np.float32), name="twice")
    hilo.barrier()
    if hilo.rank() == 0:
        first = hilo.allreduce_async(np.ones(2, dtype=np.float32), name="twice")
    assert issubclass(hilo.DuplicateNameError, hilo.HiloError)
    assert np.all(hilo.synchronize(first) == 1.0)
    # The runtime keeps working after all of that.
    assert np.all(hilo.allreduce(np.ones(2, dtype=np.float32), op=hilo.Sum, name="after") == 4)


def test_horovod_names_exist():
    for name in ["init", "shutdown", "rank", "size", "local_rank", "local_size", "allreduce",
                 "allreduce_", "allreduce_async", "allreduce_async_", "allgather",
                 "allgather_async", "broadcast", "broadcast_", "broadcast_async",
                 "broadcast_async_", "synchronize", "poll", "broadcast_parameters",
                 "broadcast_optimizer_state", "Average", "Sum", "Min", "Max", "Product",
                 "is_initialized", "SyncBatchNorm", "grouped_allreduce", "grouped_allreduce_",
                 "grouped_allreduce_async", "grouped_allreduce_async_", "cross_rank",
                 "cross_size", "is_homogeneous", "join"]:
        assert hasattr(hvd, name), name


def test_object_collectives_and_barrier():
    # Root 1 of the world, then the root of each group (its rank 1): objects of any size.
    config = {"lr": 0.1, "rank": hilo.rank(), "blob": b"x" * (13 + 100 * hilo.rank())}
    received = hvd.broadcast_object(config, root_rank=1, name="config")
    assert received == {"lr": 0.1, "rank": 1, "blob": b"x" * 113}
    in_group = hvd.broadcast_object([hilo.rank()], root_rank=1, communicator=hvd.GROUP)
    assert in_group == [hilo.group() * 2 + 1]
    everyone = hvd.allgather_object(("rank", hilo.rank(), "y" * hilo.rank()))
    assert everyone == [("rank", r, "y" * r) for r in range(4)]
    # Across groups: the members with this rank's group rank, ordered by group.
    across = hvd.allgather_object(hilo.rank(), name="across", communicator=hvd.CROSS)
    assert across == [hilo.group_rank(), 2 + hilo.group_rank()]
    hvd.barrier()
    hvd.barrier(communicator=hvd.GROUP)
    with pytest.raises(ValueError, match="communicator"):
        hvd.broadcast_object(1, communicator="nodes")


def test_build_queries():
    assert hvd.mpi_built() and hvd.mpi_enabled()
    assert not hvd.gloo_built() and not hvd.gloo_enabled()
    assert not hvd.ccl_built() and not hvd.ddl_built() and not hvd.rocm_built()
    assert hvd.cuda_built() == (hvd.nccl_built() > 0)
    # The CPU-only build (--define=hilo_cuda=off) has neither; a build with CUDA both.
    assert hvd.nccl_built() == 0 or hvd.nccl_built() > 2000
    # hilo asks for MPI_THREAD_MULTIPLE when it initializes MPI; Debian's OpenMPI provides it.
    assert hvd.mpi_threads_supported() is True


def test_allreduce_with_fp16_compression_keeps_the_dtype():
    tensor = torch.linspace(0, 1, 50) + hilo.rank()
    exact = hvd.allreduce(tensor, name="fp16.exact")
    # Horovod's positional order: tensor, average, name, compression.
    compressed = hvd.allreduce(tensor, None, "fp16.compressed", hvd.Compression.fp16)
    assert compressed.dtype == torch.float32
    assert torch.allclose(compressed, exact, rtol=1e-3)
    assert not torch.equal(compressed, exact), "float16 rounds: the values must show it"
    integers = torch.arange(6, dtype=torch.int64)
    assert torch.equal(hvd.allreduce(integers, op=hvd.Sum, name="fp16.ints",
                                     compression=hvd.Compression.fp16), integers * 4)


def test_sparse_tensors_are_refused_with_a_way_out():
    sparse = torch.eye(3).to_sparse()
    with pytest.raises(hilo.HiloError, match="to_dense"):
        hvd.allreduce(sparse, name="sparse")


def test_constants_are_the_runtimes_enums_and_documented_names_are_taken_too():
    from hilo import _hilo
    assert hilo.Average is _hilo.ReduceOp.AVERAGE and hvd.Sum is _hilo.ReduceOp.SUM
    assert hilo.GROUP is _hilo.Communicator.GROUP and hvd.CROSS is _hilo.Communicator.CROSS
    # 'group' and 'sum' as documented: the same collective as the constants.
    by_name = hilo.allreduce(np.full(4, hilo.rank(), dtype=np.int64), op="sum",
                             communicator="group", name="enum.by_name")
    by_enum = hilo.allreduce(np.full(4, hilo.rank(), dtype=np.int64), op=hilo.Sum,
                             communicator=hilo.GROUP, name="enum.by_enum")
    assert np.array_equal(by_name, by_enum)
    assert np.all(by_name == (1 if hilo.group() == 0 else 5))  # ranks {0, 1} and {2, 3}
    with pytest.raises(ValueError, match=r"communicator must be hilo.WORLD, hilo.GROUP or "
                                         r"hilo.CROSS, not 'grp' \(or by name: 'world', 'group'"):
        hilo.allreduce(np.zeros(1, dtype=np.float32), communicator="grp", name="enum.bad")
    with pytest.raises(ValueError, match="op must be hilo.Average.*not 'mean'"):
        hilo.allreduce(np.zeros(1, dtype=np.float32), op="mean", name="enum.bad_op")
    with pytest.raises(ValueError, match="algorithm must be .*by name: 'sharded', 'world-allreduce'"):
        hilo.average_across_groups([np.zeros(2, dtype=np.float32)], algorithm="ring")
    model = np.full(4, float(hilo.group()), dtype=np.float32)
    hilo.average_across_groups([model], name="enum.round", algorithm="world-allreduce")
    assert np.all(model == 0.5)


@pytest.mark.parametrize("communicator", ["world", "group"])
def test_collectives_are_differentiable_as_horovods(communicator):
    """A loss through hilo.torch's collectives backpropagates as through horovod.torch's."""
    comm = hvd.WORLD if communicator == "world" else hvd.GROUP
    n = hvd.size() if communicator == "world" else hilo.group_size()
    r = hvd.rank() if communicator == "world" else hilo.group_rank()
    x = torch.ones(3, requires_grad=True)
    hvd.allreduce(x, op=hvd.Sum, communicator=comm).sum().backward()
    assert torch.equal(x.grad, torch.full((3,), float(n)))  # the gradient summed back
    # Allgather: every rank's rows; the gradient is averaged and each rank takes its own rows.
    t = torch.full((r + 1, 2), float(r), requires_grad=True)
    gathered = hvd.allgather(t, communicator=comm)
    assert gathered.requires_grad and gathered.shape[0] == n * (n + 1) // 2
    gathered.backward(torch.arange(gathered.shape[0], dtype=torch.float32).unsqueeze(1).expand(-1, 2))
    first = r * (r + 1) // 2
    assert torch.equal(t.grad, torch.arange(first, first + r + 1, dtype=torch.float32)
                       .unsqueeze(1).expand(-1, 2))
    b = torch.full((2,), float(r), requires_grad=True)
    hvd.broadcast(b, 1, communicator=comm).sum().backward()
    assert torch.equal(b.grad, torch.full((2,), 1.0 if r == 1 else 0.0))  # to the root only
    a = torch.arange(n * 2, dtype=torch.float32).reshape(n * 2, 1).requires_grad_()
    out = hvd.alltoall(a, communicator=comm)
    out.backward(torch.full_like(out, float(r + 1)))
    # Rank j's rows 2j, 2j+1 went to rank j, whose gradient (j + 1) comes back to them.
    assert torch.equal(a.grad, torch.arange(n).repeat_interleave(2).float().add(1).unsqueeze(1))
    s = torch.ones(n * 2, 2, requires_grad=True)
    scattered = hvd.reducescatter(s, op=hvd.Sum, communicator=comm)
    scattered.backward(torch.ones_like(scattered))
    assert torch.equal(s.grad, torch.full_like(s, float(n)))
    # Without requires_grad: no autograd node, the plain result.
    assert hvd.allgather(torch.ones(1, 1), communicator=comm).grad_fn is None


def test_build_queries_of_paths_hilo_does_not_have():
    assert hvd.ccl_built() is False and hvd.ddl_built() is False and hvd.rocm_built() is False


def test_a_dropped_handle_keeps_its_buffers_until_the_operation_is_done():
    """Horovod's tests drop handles (`hvd.allreduce_async(t, name=...)` as a statement): the
    runtime still writes into the copy the handle held, so hilo keeps it alive until done."""
    import gc
    for i in range(20):
        if hilo.rank() == 0:
            hvd.allreduce_async(torch.ones(1 << 16), name="dropped.%d" % i)  # handle dropped
        gc.collect()
        hvd.barrier()  # rank 0's allreduce waits in the runtime while the others pass
        if hilo.rank() != 0:
            hvd.allreduce_async(torch.ones(1 << 16), name="dropped.%d" % i)
        gc.collect()
        # Memory freed under the runtime would be reused by these and corrupted by the transport.
        garbage = [torch.full((1 << 16,), 7.0) for _ in range(8)]
        hvd.barrier()
        assert all(bool((g == 7.0).all()) for g in garbage)
    hvd.barrier()
