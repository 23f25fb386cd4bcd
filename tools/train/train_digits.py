"""One training run of the main job: an MLP (64-H-H-10, H = 256 by default) on scikit-learn's
handwritten digits (shipped with Debian's python3-sklearn; no download), data sharded over the
ranks, in one of three modes — synchronous SGD, plain local SGD, hierarchical local SGD — on one
of three stacks: hilo (hilo.torch.DistributedOptimizer), PyTorch's own torch.distributed over Gloo
(gradient all_reduce, HierarchicalModelAverager), or Horovod (horovod.torch, with process sets
for hierarchical local SGD). Run as every rank of an MPI job (tools/train/compare.py and
tools/train/across_nodes.py start the jobs); rank 0 prints per-epoch progress and one JSON line
with the results.

The modes, for P ranks in groups of G (nodes):
  sync          every step, gradients averaged over all P ranks
  local         no gradient exchange; parameters averaged over all P ranks every tau steps
  hierarchical  every step, gradients averaged inside the group of G; every tau steps,
                parameters averaged across groups
Each run ends with one more averaging of the parameters (local and hierarchical), so the final
accuracy is that of the consensus model every rank holds.

"Cross-node bytes" are the bytes this rank handed to collectives whose members span more than one
node of G ranks (the slow links); "total bytes" all collective payload, both per rank.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
from sklearn.datasets import load_digits


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", choices=["hilo", "torch", "horovod"], required=True)
    parser.add_argument("--mode", choices=["sync", "local", "hierarchical"], required=True)
    parser.add_argument("--node-size", type=int, default=4, help="ranks per group (node), G")
    parser.add_argument("--tau", type=int, default=8, help="steps between averaging rounds")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8, help="per rank")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--port", type=int, default=29500, help="torch stack: rendezvous port")
    parser.add_argument("--hidden", type=int, default=256, help="width of the two hidden layers")
    parser.add_argument("--overlap", type=int, default=0,
                        help="hilo: apply each averaging round this many steps after it starts, "
                             "computing those steps while it runs (DistributedOptimizer's "
                             "overlap_averaging); 0: rounds block")
    parser.add_argument("--eval-every", type=int, default=0,
                        help="also evaluate rank 0's model every this many steps (a multiple of "
                             "tau: right after an averaging round, the consensus model), for "
                             "the time to a target accuracy; 0: only at epoch ends")
    return parser.parse_args()


def load_data(rank, size):
    """This rank's shard of the training set, the test set, and the whole training set's size."""
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(12345))  # fixed split
    test, train = order[:360], order[360:]
    mine = train[rank::size]
    return (x[mine], y[mine]), (x[test], y[test]), len(train)


def make_model(seed, hidden):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, 10))


def rendezvous_address():
    """Where rank 0 is: mpirun's own address (rank 0 runs beside mpirun), else this machine."""
    # e.g. "4230021120.0;tcp://10.20.0.1,172.17.0.2:41347;tcp6://[...]:41348": its IPv4 addresses.
    for part in os.environ.get("OMPI_MCA_orte_hnp_uri", "").split(";"):
        if part.startswith("tcp://"):
            return part[len("tcp://"):].rsplit(":", 1)[0].split(",")[0]
    return "127.0.0.1"


def accuracy(model, test):
    with torch.no_grad():
        return (model(test[0]).argmax(dim=1) == test[1]).float().mean().item()


class HiloStack:
    """hilo: the mode is the group size the job was launched with (hilorun --group-size)."""

    def __init__(self, args):
        import hilo.torch as hvd
        self.hvd = hvd
        hvd.init()
        self.rank, self.size = hvd.rank(), hvd.size()
        expected = {"sync": self.size, "local": 1, "hierarchical": args.node_size}[args.mode]
        if hvd.group_size() != expected:
            raise SystemExit("mode %s needs hilorun --group-size %d, not %d"
                             % (args.mode, expected, hvd.group_size()))

    def wrap(self, model, optimizer, args):
        hvd = self.hvd
        hvd.broadcast_parameters(model.state_dict(), root_rank=0)
        # sync: one group of P; local: P groups of one; hierarchical: groups of G. The same
        # optimizer wrapper, the runtime's schedule decides what each step exchanges.
        self.optimizer = hvd.DistributedOptimizer(
            optimizer, named_parameters=model.named_parameters(), tau=args.tau, warmup_steps=0,
            overlap_averaging=args.overlap)
        return self.optimizer

    def final_average(self, model):
        self.optimizer.finish_averaging()  # a round still in flight (--overlap)
        if self.hvd.num_groups() > 1:
            self.hvd.average_across_groups([p.data for p in model.parameters()], name="final")

    def bytes(self, node_size):
        hvd = self.hvd
        # Communicator: (members, whether they span more than one node of `node_size` ranks).
        # A communicator of one rank moves nothing, whatever it was handed.
        layout = {hvd.WORLD: (self.size, self.size > node_size),
                  hvd.GROUP: (hvd.group_size(), hvd.group_size() > node_size),
                  hvd.CROSS: (hvd.num_groups(), hvd.num_groups() > 1 and self.size > node_size)}
        crossing = total = 0
        for communicator, (members, crosses_nodes) in layout.items():
            if members < 2:
                continue
            sent = hvd.transport_counters(communicator)["bytes"]
            total += sent
            crossing += sent if crosses_nodes else 0
        return crossing, total

    def shutdown(self):
        self.hvd.shutdown()


class TorchStack:
    """PyTorch's own: torch.distributed over Gloo, as a user of DDP and its model averagers
    would write it."""

    def __init__(self, args):
        self.rank = int(os.environ["OMPI_COMM_WORLD_RANK"])
        self.size = int(os.environ["OMPI_COMM_WORLD_SIZE"])
        dist.init_process_group("gloo", init_method="tcp://%s:%d" % (rendezvous_address(), args.port),
                                rank=self.rank, world_size=self.size)
        self.node_size = args.node_size
        # Every rank creates every subgroup (a torch.distributed rule); this rank's is its node's.
        # (dist.new_subgroups would do it, but in torch 1.13 only with CUDA.)
        self.node_group = None
        for first in range(0, self.size, args.node_size):
            group = dist.new_group(list(range(first, min(first + args.node_size, self.size))))
            if first <= self.rank < first + args.node_size:
                self.node_group = group
        self.crossing_bytes = 0
        self.total_bytes = 0

    def _all_reduce(self, tensor, group, crosses_nodes):
        dist.all_reduce(tensor, group=group)
        nbytes = tensor.numel() * tensor.element_size()
        self.total_bytes += nbytes
        if crosses_nodes:
            self.crossing_bytes += nbytes

    def wrap(self, model, optimizer, args):
        from torch.distributed.algorithms.model_averaging.hierarchical_model_averager import (
            HierarchicalModelAverager)
        for p in model.parameters():  # broadcast_parameters
            dist.broadcast(p.data, src=0)
        stack, mode, params = self, args.mode, list(model.parameters())
        averager = None
        if mode != "sync":
            averager = HierarchicalModelAverager(period_group_size_dict={args.tau: self.size},
                                                 warmup_steps=0)

        class Wrapped:
            def zero_grad(self):
                optimizer.zero_grad()

            def step(self):
                if mode in ("sync", "hierarchical"):
                    # Gradients flattened into one bucket, as DDP does, averaged over the world
                    # (sync) or the node (hierarchical).
                    flat = torch.cat([p.grad.flatten() for p in params])
                    group = None if mode == "sync" else stack.node_group
                    members = stack.size if mode == "sync" else stack.node_size
                    stack._all_reduce(flat, group, mode == "sync" and stack.size > stack.node_size)
                    flat /= members
                    offset = 0
                    for p in params:
                        p.grad.copy_(flat[offset:offset + p.numel()].view_as(p))
                        offset += p.numel()
                optimizer.step()
                if averager is not None:
                    # HierarchicalModelAverager averages (one all_reduce of all parameters,
                    # flattened, over the world) when its step count is a multiple of tau.
                    averages_now = averager.step % args.tau == 0
                    averager.average_parameters(params)
                    if averages_now:
                        nbytes = sum(p.numel() * p.element_size() for p in params)
                        stack.total_bytes += nbytes
                        stack.crossing_bytes += nbytes if stack.size > stack.node_size else 0
        return Wrapped()

    def final_average(self, model):
        for p in model.parameters():
            self._all_reduce(p.data, None, self.size > self.node_size)
            p.data /= self.size

    def bytes(self, node_size):
        return self.crossing_bytes, self.total_bytes

    def shutdown(self):
        # PyTorch's Gloo teardown (destroying the world and the per-node groups) aborted with
        # std::terminate after the results were out, in two fresh-clone runs of the across-nodes
        # smoke test, even with every rank at a barrier first. It is PyTorch's, not what this
        # reference run measures: once every rank is past the barrier (and its last messages had
        # a moment to land), leave without tearing Gloo down.
        dist.barrier()
        sys.stdout.flush()
        sys.stderr.flush()
        time.sleep(0.2)
        os._exit(0)


class HorovodStack:
    """Horovod (horovod.torch over MPI), as a Horovod user would write each mode: sync is its
    DistributedOptimizer (HOROVOD_HIERARCHICAL_ALLREDUCE, if set, is Horovod's own business);
    hierarchical local SGD uses a process set per node for the gradients and a world average of
    the parameters every tau steps; local SGD only the world average."""

    def __init__(self, args):
        import horovod.torch as hvd
        self.hvd = hvd
        size = int(os.environ["OMPI_COMM_WORLD_SIZE"])
        self.node_sets = [hvd.ProcessSet(list(range(first, min(first + args.node_size, size))))
                          for first in range(0, size, args.node_size)]
        if args.mode == "hierarchical":
            hvd.init(process_sets=self.node_sets)
        else:
            hvd.init()
        self.rank, self.size = hvd.rank(), hvd.size()
        self.node_size = args.node_size

    def wrap(self, model, optimizer, args):
        hvd = self.hvd
        hvd.broadcast_parameters(model.state_dict(), root_rank=0)
        params = list(model.parameters())
        if args.mode == "sync":
            return hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters())
        if args.mode == "hierarchical":
            optimizer = hvd.DistributedOptimizer(
                optimizer, named_parameters=model.named_parameters(),
                process_set=self.node_sets[self.rank // self.node_size])
        stack = self

        class Wrapped:
            steps = 0

            def zero_grad(self):
                optimizer.zero_grad()

            def step(self):
                optimizer.step()
                Wrapped.steps += 1
                if Wrapped.steps % args.tau == 0:
                    stack.average(params)

        return Wrapped()

    def average(self, params):
        averaged = self.hvd.grouped_allreduce([p.data for p in params], op=self.hvd.Average,
                                              name="model")
        for p, value in zip(params, averaged):
            p.data.copy_(value)

    def final_average(self, model):
        self.average(list(model.parameters()))

    def bytes(self, node_size):
        return -1, -1  # not counted here: tools/train/across_nodes.py reads the links' counters

    def shutdown(self):
        self.hvd.shutdown()


def main():
    args = parse_args()
    if args.overlap and args.stack != "hilo":
        raise SystemExit("--overlap is hilo's option (DistributedOptimizer(overlap_averaging=))")
    torch.set_num_threads(1)  # many ranks share few cores
    stack = {"hilo": HiloStack, "torch": TorchStack, "horovod": HorovodStack}[args.stack](args)
    rank, size = stack.rank, stack.size
    train, test, train_size = load_data(rank, size)
    model = make_model(args.seed, args.hidden)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    optimizer = stack.wrap(model, optimizer, args)
    loss_fn = torch.nn.CrossEntropyLoss()
    # The smallest shard decides, so that every rank runs the same number of steps.
    steps_per_epoch = (train_size // size) // args.batch_size
    history, history_seconds = [], []
    # (training seconds, step, accuracy) every --eval-every steps; evaluating is not training, so
    # its own time is left out of the clock.
    checkpoints = []
    evaluating = 0.0
    steps_done = 0
    start = time.time()
    for epoch in range(args.epochs):
        order = torch.randperm(len(train[0]), generator=torch.Generator().manual_seed(
            args.seed * 1000 + epoch * 100 + rank))
        for step in range(steps_per_epoch):
            batch = order[step * args.batch_size:(step + 1) * args.batch_size]
            optimizer.zero_grad()
            loss_fn(model(train[0][batch]), train[1][batch]).backward()
            optimizer.step()
            steps_done += 1
            # With --overlap the round's result lands that many steps after the round.
            if rank == 0 and args.eval_every > 0 and steps_done > args.overlap and \
                    (steps_done - args.overlap) % args.eval_every == 0:
                clock = time.time()
                checkpoints.append((clock - start - evaluating, steps_done, accuracy(model, test)))
                evaluating += time.time() - clock
        if rank == 0:
            history.append(accuracy(model, test))
            history_seconds.append(time.time() - start)
            print("  [%s %s P=%d] epoch %2d: rank 0's model %.1f%% on the test set"
                  % (args.stack, args.mode, size, epoch + 1, 100 * history[-1]), flush=True)
    if args.mode != "sync":
        stack.final_average(model)
    wall = time.time() - start
    crossing, total = stack.bytes(args.node_size)
    final = accuracy(model, test)
    if rank == 0:
        print("RESULT " + json.dumps({
            "stack": args.stack, "mode": args.mode, "ranks": size, "node_size": args.node_size,
            "tau": args.tau, "overlap": args.overlap, "seed": args.seed, "epochs": args.epochs,
            "steps": steps_per_epoch * args.epochs, "final_accuracy": final,
            "hidden": args.hidden, "parameters": sum(p.numel() for p in model.parameters()),
            "epoch_accuracy": history, "epoch_seconds": history_seconds, "wall_seconds": wall,
            "checkpoints": checkpoints,
            "cross_node_bytes_per_rank": crossing, "total_bytes_per_rank": total}), flush=True)
    stack.shutdown()


if __name__ == "__main__":
    sys.exit(main())
