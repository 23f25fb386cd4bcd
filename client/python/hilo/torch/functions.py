"""Broadcasting an optimizer's state (horovod.torch.functions)."""
import torch

from hilo import broadcast_async_, broadcast_object, synchronize


def _initialize_state(optimizer):
    """A new optimizer has no state (momentum buffers, step counts) until its first step, so
    the root's state would have nothing to land in: take one step with zero gradients to create
    it, as Horovod does. A DistributedOptimizer steps its wrapped optimizer's own step(), since
    its own would start collectives that the other ranks are not running."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.requires_grad and p.grad is None:
                p.grad = torch.zeros_like(p)
    if getattr(optimizer, "_hilo_distributed", False):
        super(optimizer.__class__, optimizer).step()
    else:
        optimizer.step()


def broadcast_optimizer_state(optimizer, root_rank=0):
    """Broadcasts `optimizer`'s state and hyper-parameters from root_rank, in place
    (horovod.torch.broadcast_optimizer_state): every param_group's options (numbers, booleans,
    tuples such as Adam's betas) and the per-parameter values that are not tensors as one object,
    then the state tensors (momentum buffers, step counts), one collective each. Every rank's
    optimizer must be of the same class over the same parameters. An optimizer that has not
    stepped yet gets its state created first (see _initialize_state); a rank whose state lacks a
    tensor the root's has (another option, such as amsgrad) gets it, and drops those the root's
    does not have, so that every rank ends with the root's state."""
    if isinstance(optimizer, torch.optim.LBFGS):
        raise ValueError("cannot broadcast torch.optim.LBFGS state (as Horovod)")
    if not optimizer.state_dict()["state"]:
        _initialize_state(optimizer)
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    values = {"param_groups": [{key: value for key, value in group.items() if key != "params"}
                               for group in optimizer.param_groups],
              "state": {}, "tensors": {}}
    for index, p in enumerate(parameters):
        for key, value in optimizer.state.get(p, {}).items():
            if torch.is_tensor(value):
                values["tensors"].setdefault(index, {})[key] = (list(value.shape),
                                                                str(value.dtype))
            else:
                values["state"].setdefault(index, {})[key] = value
    received = broadcast_object(values, root_rank, name="broadcast_optimizer_state.values")
    for group, options in zip(optimizer.param_groups, received["param_groups"]):
        group.update(options)
    handles = []
    for index in sorted(received["tensors"]):
        p = parameters[index]
        state = optimizer.state[p]
        for key in [k for k, v in state.items()
                    if torch.is_tensor(v) and k not in received["tensors"][index]]:
            del state[key]
        for key in sorted(received["tensors"][index]):
            shape, dtype = received["tensors"][index][key]
            dtype = getattr(torch, dtype.replace("torch.", ""))
            value = state.get(key)
            if not torch.is_tensor(value) or list(value.shape) != shape or value.dtype != dtype:
                state[key] = value = torch.zeros(shape, dtype=dtype, device=p.device)
            handles.append(broadcast_async_(
                value, root_rank, name="broadcast_optimizer_state.%d.%s" % (index, key)))
    for index, entries in received["state"].items():
        optimizer.state[parameters[index]].update(entries)
    for handle in handles:
        synchronize(handle)
