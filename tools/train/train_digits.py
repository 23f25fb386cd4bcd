"""One training run of the main job: an MLP (64-256-256-10) on scikit-learn's handwritten digits
(shipped with Debian's python3-sklearn; no download), data sharded over the ranks, in one of three
modes — synchronous SGD, plain local SGD, hierarchical local SGD — on one of two stacks: hilo
(hilo.torch.DistributedOptimizer) or PyTorch's own torch.distributed over Gloo (gradient
all_reduce, HierarchicalModelAverager). Run as every rank of an MPI job (tools/train/compare.py
starts the jobs); rank 0 prints per-epoch progress and one JSON line with the results.

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
    parser.add_argument("--stack", choices=["hilo", "torch"], required=True)
    parser.add_argument("--mode", choices=["sync", "local", "hierarchical"], required=True)
    parser.add_argument("--node-size", type=int, default=4, help="ranks per group (node), G")
    parser.add_argument("--tau", type=int, default=8, help="steps between averaging rounds")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8, help="per rank")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--port", type=int, default=29500, help="torch stack: rendezvous port")
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


def make_model(seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(),
                               torch.nn.Linear(256, 256), torch.nn.ReLU(),
                               torch.nn.Linear(256, 10))


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
        return hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters(),
                                        tau=args.tau, warmup_steps=0)

    def final_average(self, model):
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
        dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % args.port,
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
        dist.destroy_process_group()


def main():
    args = parse_args()
    torch.set_num_threads(1)  # many ranks share few cores
    stack = HiloStack(args) if args.stack == "hilo" else TorchStack(args)
    rank, size = stack.rank, stack.size
    train, test, train_size = load_data(rank, size)
    model = make_model(args.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    optimizer = stack.wrap(model, optimizer, args)
    loss_fn = torch.nn.CrossEntropyLoss()
    # The smallest shard decides, so that every rank runs the same number of steps.
    steps_per_epoch = (train_size // size) // args.batch_size
    history = []
    start = time.time()
    for epoch in range(args.epochs):
        order = torch.randperm(len(train[0]), generator=torch.Generator().manual_seed(
            args.seed * 1000 + epoch * 100 + rank))
        for step in range(steps_per_epoch):
            batch = order[step * args.batch_size:(step + 1) * args.batch_size]
            optimizer.zero_grad()
            loss_fn(model(train[0][batch]), train[1][batch]).backward()
            optimizer.step()
        if rank == 0:
            history.append(accuracy(model, test))
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
            "tau": args.tau, "seed": args.seed, "epochs": args.epochs,
            "steps": steps_per_epoch * args.epochs, "final_accuracy": final,
            "epoch_accuracy": history, "wall_seconds": wall,
            "cross_node_bytes_per_rank": crossing, "total_bytes_per_rank": total}), flush=True)
    stack.shutdown()


if __name__ == "__main__":
    sys.exit(main())
