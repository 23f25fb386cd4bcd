"""hilo.torch.DistributedOptimizer under mpirun, in whatever layout the job has (the BUILD file
runs it as 4 ranks in groups of 2 (hierarchical), of 4 (synchronous SGD) and of 1 (plain local
SGD)): a short training run's loss decreases; the members of a group hold identical parameters
after every step; all ranks hold identical parameters right after each averaging round (and,
in synchronous SGD, after every step); gradient accumulation and explicit synchronize() give
the update computed by hand."""
import copy
import itertools
import warnings

import pytest
import torch

import hilo.torch as hvd

TAU = 4
WARMUP = 3


@pytest.fixture(scope="module", autouse=True)
def runtime():
    hvd.init()
    yield
    hvd.shutdown()


def flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()] +
                     [b.detach().flatten().double() for b in model.buffers() if b.is_floating_point()]
                     ).double()


def identical_on(model, communicator, name):
    """True if every rank of `communicator` holds exactly this rank's parameters and buffers."""
    mine = flat(model).unsqueeze(0)
    everyone = hvd.allgather(mine, name=name, communicator=communicator)
    return all(torch.equal(everyone[0], row) for row in everyone)


def data_for_this_rank(steps, batch):
    # Each rank its own shard of one regression problem: y = x @ w_true + noise.
    generator = torch.Generator().manual_seed(1234 + hvd.rank())
    w_true = torch.arange(1.0, 9.0).unsqueeze(1) / 8
    x = torch.randn(steps * batch, 8, generator=generator)
    y = x @ w_true + 0.01 * torch.randn(steps * batch, 1, generator=generator)
    return [(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]) for i in range(steps)]


def test_training_with_hierarchical_local_sgd():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.BatchNorm1d(16),
                                torch.nn.ReLU(), torch.nn.Linear(16, 1))
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters(),
                                         tau=TAU, warmup_steps=WARMUP, average_buffers_of=model)
    hvd.broadcast_optimizer_state(optimizer, root_rank=0)
    synchronous = hvd.num_groups() == 1
    losses, rounds = [], 0
    for step, (x, y) in enumerate(data_for_this_rank(steps=40, batch=32)):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        plan = hvd.local_sgd_step(TAU, WARMUP, step)
        # Gradients are averaged inside the group every step, so a group never drifts apart
        # (BatchNorm statistics are local, and only averaged in rounds: parameters only here).
        params = torch.cat([p.detach().flatten() for p in model.parameters()]).unsqueeze(0)
        in_group = hvd.allgather(params, name="group.check.%d" % step, communicator=hvd.GROUP)
        assert all(torch.equal(in_group[0], row) for row in in_group), "group drifted at %d" % step
        if plan["average_model"]:
            rounds += 1
            assert identical_on(model, hvd.WORLD, "world.check.%d" % step), "round %d" % step
            assert optimizer.discrepancy is not None and optimizer.discrepancy >= 0
        elif synchronous or plan["warmup"]:
            world_params = hvd.allgather(params, name="sync.check.%d" % step)
            assert all(torch.equal(world_params[0], row) for row in world_params)
    assert optimizer.steps == 40
    assert rounds == (0 if synchronous else (40 - WARMUP) // TAU)
    # Each rank's own mini-batch losses are noisy (32 samples, BatchNorm): compare averages.
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:5]) / 5, losses
    print("rank %d (%d groups of %d): loss %.4f -> %.4f, %d averaging rounds, last D %s"
          % (hvd.rank(), hvd.num_groups(), hvd.group_size(), losses[0], losses[-1], rounds,
             optimizer.discrepancy))


_reference_names = itertools.count()
# The single-step tests below run with no warm-up and no averaging round in sight: a step only
# reduces the gradients (where the layout reduces them at all) and applies them.
_FAR_TAU = 1000


def first_step_plan():
    return hvd.local_sgd_step(_FAR_TAU, 0, 0)


def wrapped_sgd(model, lr=0.1, **options):
    """Plain SGD on `model`, wrapped for the single-step tests with the wrapper's `options`."""
    return hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=lr),
                                    named_parameters=model.named_parameters(), tau=_FAR_TAU,
                                    warmup_steps=0, **options)


def first_step_reference(model, batches, lr, op):
    """A copy of `model` after the plain SGD update DistributedOptimizer's first step should make
    (tau large, no warm-up) from `batches`: the passes' gradients summed, reduced with `op` over
    the group (when this layout reduces gradients at all), subtracted times lr."""
    plan = first_step_plan()
    reference = copy.deepcopy(model)
    for x, y in batches:
        torch.nn.functional.mse_loss(reference(x), y).backward()
    with torch.no_grad():
        for p in reference.parameters():
            gradient = p.grad
            if plan["allreduce_gradients"]:
                gradient = hvd.allreduce(gradient, name="reference.%d" % next(_reference_names),
                                         op=op, communicator=plan["gradient_communicator"])
            p -= lr * gradient
    return reference


def assert_same_parameters(model, reference):
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        # The fused and the single allreduce may add the ranks' values in different orders.
        assert torch.allclose(p, q, rtol=1e-5, atol=1e-7), (name, p, q)


def fresh_model(seed):
    torch.manual_seed(seed)
    model = torch.nn.Linear(8, 1)
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    return model


def test_gradient_accumulation_sums_the_passes_then_reduces_once():
    model = fresh_model(1)
    batches = data_for_this_rank(steps=2, batch=16)
    expected = first_step_reference(model, batches, lr=0.1, op=hvd.Average)
    optimizer = wrapped_sgd(model, backward_passes_per_step=2)
    reduces = first_step_plan()["allreduce_gradients"]
    optimizer.zero_grad()
    for passes, (x, y) in enumerate(batches, start=1):
        torch.nn.functional.mse_loss(model(x), y).backward()
        # Each allreduce starts after the last pass, not before: whether an early one gives the
        # wrong update depends on when it runs, so the values below alone would not tell.
        assert len(optimizer._handles) == (2 if reduces and passes == 2 else 0), passes
    optimizer.step()
    assert_same_parameters(model, expected)
    # A third pass before step() would add to gradients whose allreduce is in flight.
    x, y = batches[0]
    optimizer.zero_grad()
    for _ in range(2):
        torch.nn.functional.mse_loss(model(x), y).backward()
    with pytest.raises(Exception, match="backward_passes_per_step=2"):
        torch.nn.functional.mse_loss(model(x), y).backward()
    optimizer.synchronize()  # every rank completes the allreduces of the first two passes


def test_a_second_backward_without_step_raises():
    model = fresh_model(2)
    optimizer = wrapped_sgd(model)
    x, y = data_for_this_rank(steps=1, batch=4)[0]
    torch.nn.functional.mse_loss(model(x), y).backward()
    with pytest.raises(Exception, match="more than backward_passes_per_step=1"):
        torch.nn.functional.mse_loss(model(x), y).backward()
    optimizer.synchronize()
    optimizer.step()


@pytest.mark.parametrize("skip", [False, True])
def test_synchronize_then_step_reduces_once(skip):
    # op=Sum: a second reduction of the already reduced gradients would multiply them.
    model = fresh_model(3)
    batch = data_for_this_rank(steps=1, batch=16)
    expected = first_step_reference(model, batch, lr=0.05, op=hvd.Sum)
    optimizer = wrapped_sgd(model, lr=0.05, op=hvd.Sum)
    optimizer.zero_grad()
    torch.nn.functional.mse_loss(model(batch[0][0]), batch[0][1]).backward()
    optimizer.synchronize()
    optimizer.synchronize()  # nothing new to reduce
    if skip:
        with optimizer.skip_synchronize():
            optimizer.step()
    else:
        optimizer.step()
    assert_same_parameters(model, expected)


def test_a_parameter_without_a_gradient_on_some_ranks_is_reduced_with_zeros():
    """Horovod's rule (its test_force_allreduce): a rank whose forward skipped a branch still
    takes part in that branch's gradient allreduce, with zeros, instead of leaving the others
    waiting for it."""
    used, skipped = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    base = torch.optim.SGD([used, skipped], lr=1.0)
    optimizer = hvd.DistributedOptimizer(
        base, named_parameters=[("used", used), ("skipped", skipped)], op=hvd.Sum, tau=1,
        warmup_steps=1)  # step 0 is warm-up: reduced over the world
    loss = used.sum() + (skipped.sum() if hvd.rank() == 0 else 0)
    loss.backward()
    optimizer.step()
    assert torch.equal(skipped.grad, torch.ones(2))  # rank 0's gradient, zeros from the rest
    assert torch.equal(skipped.detach(), torch.zeros(2))


def test_horovods_optimizer_checks_and_attributes():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    base = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="2 of the optimizer's 4 parameters are not in it"):
        hvd.DistributedOptimizer(base, named_parameters=list(model.named_parameters())[:2], tau=1)
    # Without names: distinct ones, the same on every rank (Horovod's _parameter_names).
    optimizer = hvd.DistributedOptimizer(base, tau=1)
    names = sorted(optimizer._parameter_names.values())
    assert len(set(names)) == 4
    assert all(other == names for other in hvd.allgather_object(names, name="param.names"))
    # synchronize() then step() outside skip_synchronize(): Horovod's warning.
    optimizer.zero_grad()
    model(torch.ones(1, 2)).sum().backward()
    optimizer.synchronize()
    with pytest.warns(UserWarning, match=r"optimizer.step\(\) called without "
                                         r"optimizer.skip_synchronize\(\)"):
        optimizer.step()
    optimizer.zero_grad()
    model(torch.ones(1, 2)).sum().backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optimizer.step()  # no explicit synchronize(): no warning
    assert hvd.HorovodInternalError is hvd.HiloError
    for collective in (hvd.allreduce, hvd.reducescatter):
        with pytest.raises(NotImplementedError, match="Adasum"):
            collective(torch.ones(4), op=hvd.Adasum)


def test_optimizer_rules():
    model = torch.nn.Linear(2, 1)
    base = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="tau"):
        hvd.DistributedOptimizer(base, tau=0)
    for passes in (0, 1.5, True):
        with pytest.raises(ValueError, match="backward_passes_per_step"):
            hvd.DistributedOptimizer(base, tau=2, backward_passes_per_step=passes)
    wrapped = hvd.DistributedOptimizer(base, tau=2, backward_passes_per_step=3)
    assert isinstance(wrapped, torch.optim.SGD)
    assert wrapped.backward_passes_per_step == 3


def test_a_horovod_program_without_tau_runs_with_one_group_only():
    """horovod.torch's DistributedOptimizer has no tau: with one group (synchronous SGD) hilo's
    runs such a program unchanged, every rank holding the same parameters after each step; with
    several groups it must be told the averaging period, and says so. (These jobs are launched
    without hilorun --averaging-period.)"""
    assert hvd.launcher_schedule()[0] == 0
    model = fresh_model(9)
    base = torch.optim.SGD(model.parameters(), lr=0.1)
    if hvd.num_groups() > 1:
        with pytest.raises(ValueError, match="several groups .*hilorun --group-size 4"):
            hvd.DistributedOptimizer(base, named_parameters=model.named_parameters())
        return
    optimizer = hvd.DistributedOptimizer(base, named_parameters=model.named_parameters())
    for x, y in data_for_this_rank(steps=3, batch=8):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        assert identical_on(model, hvd.WORLD, "no.tau.params")


def test_groups_send_a_groups_gradients_together():
    """Horovod's groups=: a grouped gradient waits for the rest of its group before it is sent.
    Here backward reaches only the second layer, so its weight (grouped with the first layer's)
    waits until step(), while its bias (in no group) is sent at once; the update is the same."""
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 1))
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    reference = copy.deepcopy(model)
    first, second = model[0], model[1]
    optimizer = wrapped_sgd(model, groups=[[first.weight, second.weight]])
    x = torch.randn(8, 4) + hvd.rank()
    torch.nn.functional.mse_loss(second(x), torch.zeros(8, 1)).backward()
    if first_step_plan()["allreduce_gradients"]:
        assert id(second.bias) in optimizer._handles
        assert id(second.weight) not in optimizer._handles
    optimizer.step()
    assert not optimizer._handles
    plan = first_step_plan()
    torch.nn.functional.mse_loss(reference[1](x), torch.zeros(8, 1)).backward()
    with torch.no_grad():
        for index, p in enumerate(reference[1].parameters()):
            gradient = p.grad
            if plan["allreduce_gradients"]:
                gradient = hvd.allreduce(gradient, name="groups.reference.%d" % index,
                                         communicator=plan["gradient_communicator"])
            p -= 0.1 * gradient
    assert_same_parameters(model[1], reference[1])
    assert torch.equal(model[0].weight, reference[0].weight)  # no gradient, no update


def test_horovods_positional_order_and_integer_groups():
    model = fresh_model(4)
    base = torch.optim.SGD(model.parameters(), lr=0.1)
    # optimizer, named_parameters, compression, backward_passes_per_step, op (Horovod's order).
    optimizer = hvd.DistributedOptimizer(base, model.named_parameters(), hvd.Compression.fp16, 2,
                                         hvd.Sum, tau=_FAR_TAU)
    assert optimizer._compression is hvd.Compression.fp16
    assert optimizer.backward_passes_per_step == 2 and optimizer._op == hvd.Sum
    grouped = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                       num_groups=2, tau=_FAR_TAU)
    assert [len(members) for members in grouped._groups] == [1, 1]  # weight, bias
    with pytest.raises(ValueError, match="not a parameter"):
        hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                 groups=[[torch.zeros(1)]], tau=_FAR_TAU)
    with pytest.raises(ValueError, match="non-negative"):
        hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), groups=-1,
                                 tau=_FAR_TAU)


def test_fp16_compression_halves_the_gradient_bytes():
    plan = first_step_plan()
    communicator = plan["gradient_communicator"]
    x, y = data_for_this_rank(steps=1, batch=16)[0]
    updated, sent = [], []
    for compression in (hvd.Compression.none, hvd.Compression.fp16):
        model = fresh_model(4)
        optimizer = wrapped_sgd(model, compression=compression)
        optimizer.zero_grad()
        # Counted from before backward: its hooks start the gradient allreduces, and some may
        # be done before step() is called.
        before = hvd.transport_counters(communicator)["bytes"]
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        sent.append(hvd.transport_counters(communicator)["bytes"] - before)
        assert all(p.grad.dtype == torch.float32 for p in model.parameters())
        updated.append(model)
    if plan["allreduce_gradients"]:
        assert sent[1] * 2 == sent[0] > 0, sent
        assert identical_on(updated[1], communicator, "fp16.identical")
    else:
        assert sent == [0, 0]
    # float16 keeps about 3 significant digits of each gradient.
    for p, q in zip(updated[1].parameters(), updated[0].parameters()):
        assert torch.allclose(p, q, rtol=1e-3, atol=1e-4), (p, q)


def test_gradient_predivide_factor_changes_the_scaling_not_the_average():
    x, y = data_for_this_rank(steps=1, batch=16)[0]
    models = []
    for factor in (1.0, 4.0):
        model = fresh_model(7)
        optimizer = wrapped_sgd(model, gradient_predivide_factor=factor)
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
        models.append(model)
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        assert torch.allclose(p, q, rtol=1e-6, atol=1e-7), (p, q)
    base = torch.optim.SGD(models[0].parameters(), lr=0.1)
    with pytest.raises(ValueError, match="op=hvd.Average"):
        hvd.DistributedOptimizer(base, tau=2, op=hvd.Sum, gradient_predivide_factor=2.0)
    with pytest.raises(ValueError, match="positive"):
        hvd.DistributedOptimizer(base, tau=2, gradient_predivide_factor=0)


@pytest.mark.parametrize("sparse_as_dense", [False, True])
def test_sparse_gradients(sparse_as_dense):
    torch.manual_seed(5)
    embedding = torch.nn.Embedding(10, 4, sparse=True)
    hvd.broadcast_parameters(embedding.state_dict(), root_rank=0)
    optimizer = wrapped_sgd(embedding, sparse_as_dense=sparse_as_dense)
    rows = torch.tensor([hvd.rank(), 9 - hvd.rank()])
    reduces = first_step_plan()["allreduce_gradients"]
    embedding(rows).sum().backward()
    optimizer.step()
    if reduces:
        # sparse_as_dense: reduced as a dense tensor and made sparse again (for SparseAdam); else
        # Horovod's sparse path, every rank's rows gathered into a sparse gradient.
        assert embedding.weight.grad.is_sparse
        embedding.weight.grad = embedding.weight.grad.to_dense()
        communicator = first_step_plan()["gradient_communicator"]
        assert identical_on(embedding, communicator, "sparse.identical.%s" % sparse_as_dense)
        # The reduced gradient covers exactly the rows the communicator's members looked up.
        if communicator == hvd.WORLD:
            members = range(hvd.size())
        else:
            first = hvd.group() * hvd.group_size()
            members = range(first, first + hvd.group_size())
        looked_up = {row for member in members for row in (member, 9 - member)}
        nonzero = (embedding.weight.grad != 0).any(dim=1)
        assert set(torch.nonzero(nonzero).flatten().tolist()) == looked_up


def test_sparse_allreduce_async_equals_the_dense_allreduce():
    torch.manual_seed(hvd.rank())
    dense = torch.rand(12, 3)
    dense[dense < 0.7] = 0
    for op in (hvd.Average, hvd.Sum):
        wait = hvd.sparse_allreduce_async(dense.to_sparse(), name="sparse.%s" % op, op=op)
        expected = hvd.allreduce(dense, op=op, name="sparse.dense.%s" % op)
        assert torch.allclose(wait().to_dense(), expected, atol=1e-6)


def test_a_resumed_run_continues_its_schedule():
    model = fresh_model(6)
    optimizer = hvd.DistributedOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
        named_parameters=model.named_parameters(), tau=TAU, warmup_steps=WARMUP)
    for x, y in data_for_this_rank(steps=5, batch=8):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    checkpoint = copy.deepcopy(optimizer.state_dict())
    assert checkpoint["hilo_local_sgd_steps"] == 5
    # A new process resuming from the checkpoint: step 5 is past warm-up and one step before
    # the next averaging round, as in the run that wrote it.
    resumed = hvd.DistributedOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
        named_parameters=model.named_parameters(), tau=TAU, warmup_steps=WARMUP)
    assert resumed.steps == 0 and resumed._plan == hvd.local_sgd_step(TAU, WARMUP, 0)
    resumed.load_state_dict(checkpoint)
    assert resumed.steps == 5 and resumed._plan == hvd.local_sgd_step(TAU, WARMUP, 5)
    assert resumed.state_dict()["state"].keys() == checkpoint["state"].keys()
    # The momentum buffers came back too, and a plain torch optimizer still loads the state.
    plain = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    plain.load_state_dict(checkpoint)
    for key, value in checkpoint["state"].items():
        assert torch.equal(plain.state_dict()["state"][key]["momentum_buffer"],
                           value["momentum_buffer"])


@pytest.mark.parametrize("affine", [True, False])
def test_sync_batch_norm_equals_batch_norm_over_the_group_batch(affine):
    """SyncBatchNorm on each rank's own batch (batch sizes differ per rank) gives the outputs,
    input gradients, running statistics and summed weight gradients of torch's BatchNorm run on
    the group's batches concatenated, with the loss summed over the group."""
    generator = torch.Generator().manual_seed(77 + hvd.rank())
    batch = 3 + hvd.group_rank()  # uneven batches: the statistics must weigh them by count
    x = torch.randn(batch, 5, 4, generator=generator, dtype=torch.float64) * 3 + 2
    upstream = torch.randn(batch, 5, 4, generator=generator, dtype=torch.float64)
    torch.manual_seed(5)
    sync = hvd.SyncBatchNorm(5, momentum=0.3, affine=affine).double()
    reference = torch.nn.BatchNorm1d(5, momentum=0.3, affine=affine).double()
    if affine:
        with torch.no_grad():
            sync.weight.uniform_(0.5, 1.5)
            sync.bias.uniform_(-1, 1)
        reference.load_state_dict(sync.state_dict())

    for step in range(2):  # twice: the running statistics move on from the first update
        mine = x.clone().requires_grad_()
        output = sync(mine)
        (output * upstream).sum().backward()

        # The reference: the group's batches and upstream gradients gathered, one BatchNorm.
        everyone = hvd.allgather(x, name="sbn.x", communicator=hvd.GROUP).clone().requires_grad_()
        everyone_upstream = hvd.allgather(upstream, name="sbn.up", communicator=hvd.GROUP)
        reference.zero_grad()
        expected = reference(everyone)
        (expected * everyone_upstream).sum().backward()
        offset = sum(3 + r for r in range(hvd.group_rank()))
        mine_in_reference = slice(offset, offset + batch)

        assert torch.allclose(output, expected[mine_in_reference], atol=1e-10)
        assert torch.allclose(mine.grad, everyone.grad[mine_in_reference], atol=1e-10)
        assert torch.allclose(sync.running_mean, reference.running_mean, atol=1e-12)
        assert torch.allclose(sync.running_var, reference.running_var, atol=1e-12)
        assert int(sync.num_batches_tracked) == step + 1
        if affine:
            for name, parameter in [("weight", sync.weight), ("bias", sync.bias)]:
                summed = hvd.allreduce(parameter.grad, op=hvd.Sum, name="sbn.d" + name,
                                       communicator=hvd.GROUP)
                assert torch.allclose(summed, getattr(reference, name).grad, atol=1e-10), name
            sync.zero_grad()

    # Eval mode normalizes with the running statistics, as BatchNorm does, without collectives.
    sync.eval()
    reference.eval()
    assert torch.allclose(sync(x), reference(x), atol=1e-12)


@pytest.mark.parametrize("delay", [1, 2])
def test_overlap_averaging_applies_each_round_delay_steps_later(delay):
    """overlap_averaging=n: the round started after step t averages a copy of the model, and
    after step t+n each group's model moves by what the round changed in its copy. Checked
    against the same arithmetic done by hand for every group: each group's gradient is its own
    constant, so every step's model is known exactly."""
    steps, lr, tau = 12, 0.125, 4
    w = torch.nn.Parameter(torch.ones(5))
    base = torch.optim.SGD([w], lr=lr)
    optimizer = hvd.DistributedOptimizer(base, named_parameters=[("w", w)], tau=tau,
                                         warmup_steps=0, overlap_averaging=delay)
    groups = hvd.num_groups()
    slopes = [torch.arange(1.0, 6.0) * (g + 1) for g in range(groups)]
    expected = [torch.ones(5, dtype=torch.float64) for _ in range(groups)]
    pending = None  # (apply after this step, the snapshot of every group)
    saw_unapplied_round = False
    for step in range(steps):
        optimizer.zero_grad()
        (w * slopes[hvd.group()]).sum().backward()
        optimizer.step()
        expected = [e - lr * slopes[g].double() for g, e in enumerate(expected)]
        if pending is not None and step == pending[0]:
            mean = sum(pending[1]) / groups
            expected = [e + mean - s for e, s in zip(expected, pending[1])]
            pending = None
        if hvd.local_sgd_step(tau, 0, step)["average_model"]:
            pending = (step + delay, [e.clone() for e in expected])
            # The round is in flight: the groups' models still differ.
            saw_unapplied_round = saw_unapplied_round or (
                groups > 1 and not identical_on(torch.nn.ParameterList([w]), hvd.WORLD,
                                                "overlap.check.%d.%d" % (delay, step)))
        assert torch.allclose(w.detach().double(), expected[hvd.group()], atol=1e-5), \
            "step %d: %s, expected %s" % (step, w.detach(), expected[hvd.group()])
    optimizer.finish_averaging()
    if groups == 1:  # synchronous SGD: no rounds at all
        assert pending is None and optimizer.discrepancy is None
        return
    assert pending is not None and pending[0] >= steps, "the test must end with a round in flight"
    mean = sum(pending[1]) / groups
    assert torch.allclose(w.detach().double(), expected[hvd.group()] + mean - pending[1][hvd.group()],
                          atol=1e-5)
    assert saw_unapplied_round
    assert optimizer.discrepancy is not None and optimizer.discrepancy > 0


def test_overlap_averaging_rules():
    model = torch.nn.Linear(2, 1)
    base = torch.optim.SGD(model.parameters(), lr=0.1)
    for bad in (-1, 1.5, "1"):
        with pytest.raises(ValueError, match="overlap_averaging"):
            hvd.DistributedOptimizer(base, tau=2, overlap_averaging=bad)
    if hvd.num_groups() > 1:
        with pytest.raises(ValueError, match="must not exceed tau"):
            hvd.DistributedOptimizer(base, tau=2, overlap_averaging=3)
    assert hvd.DistributedOptimizer(base, tau=2, overlap_averaging=True).overlap_averaging == 1
