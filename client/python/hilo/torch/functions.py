"""Broadcasting an optimizer's state (horovod.torch.functions)."""
import torch

from hilo import broadcast_, broadcast_async_, synchronize


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def broadcast_optimizer_state(optimizer, root_rank=0):
    """Broadcasts `optimizer`'s state (tensors and scalars, e.g. momentum buffers and step
    counts) and its param_groups' hyper-parameters from root_rank, in place
    (horovod.torch.broadcast_optimizer_state). Every rank's optimizer must have the same
    structure: the same parameters, and state for the same ones."""
    state = optimizer.state_dict()
    handles = []
    # Numbers travel together as one float64 tensor: (dicts that hold the number, key, value).
    numbers = []
    for index, options in enumerate(state["param_groups"]):
        for key in sorted(options):
            if key != "params" and _is_number(options[key]):
                numbers.append(([options, optimizer.param_groups[index]], key, options[key]))
    per_parameter_numbers = False
    for param_id in sorted(state["state"]):
        for key in sorted(state["state"][param_id]):
            value = state["state"][param_id][key]
            if torch.is_tensor(value):
                # state_dict() refers to the optimizer's own state tensors: broadcast in place.
                handles.append(broadcast_async_(
                    value, root_rank, name="broadcast_optimizer_state.%s.%s" % (param_id, key)))
            elif _is_number(value):
                numbers.append(([state["state"][param_id]], key, value))
                per_parameter_numbers = True
    if numbers:
        packed = torch.tensor([float(value) for _, _, value in numbers], dtype=torch.float64)
        broadcast_(packed, root_rank, name="broadcast_optimizer_state.numbers")
        for (holders, key, value), received in zip(numbers, packed.tolist()):
            for holder in holders:
                holder[key] = type(value)(received)
    for handle in handles:
        synchronize(handle)
    if per_parameter_numbers:
        optimizer.load_state_dict(state)  # per-parameter numbers live in the state_dict copy
