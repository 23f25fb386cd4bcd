"""hilo.torch.DistributedOptimizer under mpirun, in whatever layout the job has (the BUILD file
runs it as 4 ranks in groups of 2 (hierarchical), of 4 (synchronous SGD) and of 1 (plain local
SGD)): a short training run's loss decreases; the members of a group hold identical parameters
after every step; all ranks hold identical parameters right after each averaging round (and,
in synchronous SGD, after every step)."""
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


def test_optimizer_rules():
    model = torch.nn.Linear(2, 1)
    base = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="tau"):
        hvd.DistributedOptimizer(base, tau=0)
    with pytest.raises(NotImplementedError):
        hvd.DistributedOptimizer(base, tau=2, backward_passes_per_step=2)
    wrapped = hvd.DistributedOptimizer(base, tau=2)
    assert isinstance(wrapped, torch.optim.SGD)
