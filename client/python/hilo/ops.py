"""The collectives, as horovod.torch's (allreduce, allgather, alltoall, reducescatter,
broadcast, grouped variants), their handles, synchronize and poll."""

from hilo import _hilo
from hilo._tensors import _copy, _describe, _from_bytes, _is_torch, _narrow, _widen
from hilo.basics import (Average, InvalidArgumentError, Sum, WORLD,
                         _communicator, _context, _enum_member, _state)


def _name(name, kind):
    if name is not None:
        return str(name)
    _state.unnamed += 1
    return "%s.noname.%d" % (kind, _state.unnamed)


def _op(average, op):
    """Horovod's rule: `op` wins; `average` (deprecated there) maps True/False to Average/Sum."""
    if isinstance(op, str) and op == "adasum":
        raise NotImplementedError("Adasum (hvd.Adasum) is not in hilo: use hvd.Average or hvd.Sum "
                                  "(a RuntimeError, as Horovod raises where Adasum is not built)")
    if op is not None:
        return _enum_member(_hilo.ReduceOp, op, "op", ("average", "sum", "min", "max", "product"),
                            "hilo.Average, hilo.Sum, hilo.Min, hilo.Max or hilo.Product")
    if average is not None:
        return Average if average else Sum
    return Average


class Handle:
    """An enqueued collective. `synchronize(handle)` waits and returns its output."""

    def __init__(self, native, output, like=None, kind="allreduce", described=None,
                 output_device=None, postscale_factor=1.0, with_splits=False, narrow_to=None,
                 target=None):
        self._native = native
        self._output = output  # the tensor being written (kept alive until done)
        self._described = described  # keeps a CUDA tensor's ready event alive
        self._like = like
        self._kind = kind
        # allgather / reducescatter of a CUDA tensor: where the result goes
        self._output_device = output_device
        self._postscale = postscale_factor  # applied once, by the first wait that returns
        self._with_splits = with_splits  # alltoall with explicit splits: also the received ones
        # A narrow dtype sent as int32 (_widen): the dtype to return in, and for in-place
        # collectives the caller's tensor to write the result back into.
        self._narrow_to = narrow_to
        self._target = target
        _state.hold_until_done(self)

    def poll(self):
        return self._native.poll()

    def wait(self, timeout=None):
        self._native.wait(timeout)
        if self._kind in ("allgather", "reducescatter", "alltoall"):
            result = _from_bytes(self._native.output(), self._like, self._native.output_shape())
            if self._postscale != 1.0:
                _scale_in_place(result, self._postscale)
            if self._output_device is not None:
                result = result.to(self._output_device)
            if self._narrow_to is not None:
                result = _narrow(result, self._narrow_to)
            if not self._with_splits:
                return result
            received = self._native.received_splits()
            if _is_torch(self._like):
                import torch
                return result, torch.tensor(received, dtype=torch.int32)
            import numpy
            return result, numpy.array(received, dtype=numpy.int32)
        if self._postscale != 1.0:
            _scale_in_place(self._output, self._postscale)
            self._postscale = 1.0
        if self._narrow_to is not None:
            self._target[...] = _narrow(self._output, self._narrow_to)
            return self._target
        return self._output


def _scale_factor(tensor, factor, which):
    """A prescale / postscale factor as a float (Horovod's; `which` names it in errors)."""
    try:
        return float(factor)
    except (TypeError, ValueError):
        raise ValueError("%s must be a number, not %r" % (which, factor)) from None


def _scale_in_place(tensor, factor):
    """tensor *= factor, as Horovod scales: in the tensor's own type for float32 and float64, in
    float32 rounded once for float16 and bfloat16, and in float64 truncated toward zero for
    integers."""
    if _is_torch(tensor):
        import torch
        if tensor.dtype in (torch.float32, torch.float64):
            tensor *= factor
        else:
            wide = torch.float32 if tensor.is_floating_point() else torch.float64
            tensor.copy_((tensor.to(wide) * factor).to(tensor.dtype))
    elif tensor.dtype.kind == "f" and tensor.dtype.itemsize >= 4:
        tensor *= factor
    else:
        wide = "float32" if tensor.dtype.kind == "f" else "float64"
        tensor[...] = (tensor.astype(wide) * factor).astype(tensor.dtype)


def allreduce_async_(tensor, average=None, name=None, op=None, prescale_factor=1.0,
                     postscale_factor=1.0, communicator=WORLD):
    """Starts an allreduce of `tensor` in place; returns a handle. As in Horovod, the tensor is
    multiplied by `prescale_factor` before the reduction and the result by `postscale_factor`
    (integers scaled in float64 and truncated, as Horovod's)."""
    prescale = _scale_factor(tensor, prescale_factor, "prescale_factor")
    postscale = _scale_factor(tensor, postscale_factor, "postscale_factor")
    reduce_op = _op(average, op)
    target = tensor
    tensor, narrow_to = _widen(tensor)
    d = _describe(tensor)
    if prescale != 1.0:
        _scale_in_place(tensor, prescale)
    native = _context().enqueue(_hilo.Collective.ALLREDUCE, _name(name, "allreduce"),
                                d.address, d.dtype, d.shape, _communicator(communicator),
                                reduce_op, 0, d.device, d.event_handle)
    return Handle(native, tensor, described=d, postscale_factor=postscale, narrow_to=narrow_to,
                  target=target)


def allreduce_async(tensor, average=None, name=None, op=None, prescale_factor=1.0,
                    postscale_factor=1.0, communicator=WORLD):
    """Starts an allreduce into a copy of `tensor`; synchronize() returns the copy."""
    return allreduce_async_(_copy(tensor), average, name, op, prescale_factor, postscale_factor,
                            communicator)


def allreduce_(tensor, average=None, name=None, op=None, prescale_factor=1.0,
               postscale_factor=1.0, communicator=WORLD):
    return synchronize(allreduce_async_(tensor, average, name, op, prescale_factor,
                                        postscale_factor, communicator))


def allreduce(tensor, average=None, name=None, op=None, prescale_factor=1.0,
              postscale_factor=1.0, communicator=WORLD):
    """The average (default), sum, min, max or product (`op=`) of `tensor` over
    `communicator`, as a new tensor."""
    return synchronize(allreduce_async(tensor, average, name, op, prescale_factor,
                                       postscale_factor, communicator))


def _grouped_names(name, count, collective="grouped_allreduce"):
    base = _name(name, collective)
    return ["%s.%d" % (base, i) for i in range(count)]


def grouped_allreduce_async_(tensors, average=None, name=None, op=None, prescale_factor=1.0,
                             postscale_factor=1.0, communicator=WORLD):
    """Horovod's grouped allreduce: starts the allreduce of every tensor of the list in place at
    once (they are negotiated together and fused where they fit); returns one handle whose
    synchronize() returns the list."""
    names = _grouped_names(name, len(tensors))
    return _GroupedHandle([allreduce_async_(t, average, n, op, prescale_factor, postscale_factor,
                                            communicator) for t, n in zip(tensors, names)])


def grouped_allreduce_async(tensors, average=None, name=None, op=None, prescale_factor=1.0,
                            postscale_factor=1.0, communicator=WORLD):
    return grouped_allreduce_async_([_copy(t) for t in tensors], average, name, op,
                                    prescale_factor, postscale_factor, communicator)


def grouped_allreduce_(tensors, average=None, name=None, op=None, prescale_factor=1.0,
                       postscale_factor=1.0, communicator=WORLD):
    return synchronize(grouped_allreduce_async_(tensors, average, name, op, prescale_factor,
                                                postscale_factor, communicator))


def grouped_allreduce(tensors, average=None, name=None, op=None, prescale_factor=1.0,
                      postscale_factor=1.0, communicator=WORLD):
    """The allreduce of each tensor of the list, as a list of new tensors."""
    return synchronize(grouped_allreduce_async(tensors, average, name, op, prescale_factor,
                                               postscale_factor, communicator))


class _GroupedHandle:
    """The handles of one grouped collective: done when all are."""

    def __init__(self, handles):
        self._handles = handles

    def poll(self):
        return all(handle.poll() for handle in self._handles)

    def wait(self, timeout=None):
        # Last enqueued first: the runtime completes a fused response's tensors in that order,
        # so this wakes once for the group.
        results = [handle.wait(timeout) for handle in reversed(self._handles)]
        return results[::-1]


def _through_host(tensor, collective):
    """For the collectives whose output is a new host buffer (allgather, reducescatter, alltoall;
    docs/python.md): a CUDA tensor goes through host memory, a copy each way, and the result
    returns to the input's device; a narrow dtype travels as int32 (_widen). Returns (host
    tensor, device for the result or None, its description, the dtype to return in or None)."""
    output_device = None
    if _is_torch(tensor) and tensor.device.type == "cuda":
        output_device = tensor.device
        tensor = tensor.detach().to("cpu")
    tensor, narrow_to = _widen(tensor)
    d = _describe(tensor, allow_cuda=False)
    if not d.shape:
        raise InvalidArgumentError("INVALID_ARGUMENT: %s needs at least one dimension" % collective)
    return tensor, output_device, d, narrow_to


def allgather_async(tensor, name=None, communicator=WORLD):
    tensor, output_device, d, narrow_to = _through_host(tensor, "allgather")
    native = _context().enqueue(_hilo.Collective.ALLGATHER, _name(name, "allgather"),
                                d.address, d.dtype, d.shape, _communicator(communicator), Sum, 0)
    return Handle(native, tensor, like=tensor, kind="allgather", output_device=output_device,
                  narrow_to=narrow_to)


def allgather(tensor, name=None, communicator=WORLD):
    """Every rank's `tensor` concatenated along the first dimension (which may differ)."""
    return synchronize(allgather_async(tensor, name, communicator))


def alltoall_async(tensor, splits=None, name=None, communicator=WORLD):
    """Starts an alltoall (Horovod's): rows splits[j] of the first dimension go to rank j of
    `communicator` (default: an even split, the first dimension must divide); synchronize()
    returns every rank's rows for this one, concatenated in rank order, and with `splits` given
    also how many rows came from each rank (int32, as Horovod's). `tensor` is left unchanged; a
    CUDA tensor goes through host memory."""
    split_list = []
    if splits is not None:
        values = splits.tolist() if hasattr(splits, "tolist") else list(splits)
        if any(isinstance(v, float) or not isinstance(v, int) for v in values):
            raise ValueError("alltoall splits must be integers (rows per rank), not %s"
                             % getattr(splits, "dtype", type(splits).__name__))
        split_list = [int(v) for v in values]
    tensor, output_device, d, narrow_to = _through_host(tensor, "alltoall")
    native = _context().enqueue(_hilo.Collective.ALLTOALL, _name(name, "alltoall"), d.address,
                                d.dtype, d.shape, _communicator(communicator), Sum, 0,
                                splits=split_list)
    return Handle(native, tensor, like=tensor, kind="alltoall", output_device=output_device,
                  with_splits=splits is not None, narrow_to=narrow_to)


def alltoall(tensor, splits=None, name=None, communicator=WORLD):
    """The rows every rank sends this one (see alltoall_async); with `splits`, a tuple (rows,
    received_splits)."""
    return synchronize(alltoall_async(tensor, splits, name, communicator))


def grouped_allgather_async(tensors, name=None, communicator=WORLD):
    """Horovod's grouped allgather: the allgather of every tensor of the list, enqueued at once;
    one handle whose synchronize() returns the list of results."""
    names = _grouped_names(name, len(tensors), "grouped_allgather")
    return _GroupedHandle([allgather_async(t, n, communicator) for t, n in zip(tensors, names)])


def grouped_allgather(tensors, name=None, communicator=WORLD):
    return synchronize(grouped_allgather_async(tensors, name, communicator))


def grouped_reducescatter_async(tensors, name=None, op=Average, prescale_factor=1.0,
                                postscale_factor=1.0, communicator=WORLD):
    """Horovod's grouped reducescatter: the reducescatter of every tensor of the list, enqueued
    at once; one handle whose synchronize() returns the list of this rank's blocks."""
    names = _grouped_names(name, len(tensors), "grouped_reducescatter")
    return _GroupedHandle([reducescatter_async(t, n, op, prescale_factor, postscale_factor,
                                               communicator) for t, n in zip(tensors, names)])


def grouped_reducescatter(tensors, name=None, op=Average, prescale_factor=1.0,
                          postscale_factor=1.0, communicator=WORLD):
    return synchronize(grouped_reducescatter_async(tensors, name, op, prescale_factor,
                                                   postscale_factor, communicator))


def reducescatter_async(tensor, name=None, op=Average, prescale_factor=1.0,
                        postscale_factor=1.0, communicator=WORLD):
    """Starts a reducescatter (Horovod's): the average (default) or sum of `tensor` over
    `communicator`, of which this rank keeps its block of the first dimension (d rows over s
    ranks: d // s each, one more on the first d % s ranks). `tensor` is left unchanged; the
    result is a new tensor (on the input's device; a CUDA tensor goes through host memory)."""
    op = Average if op is None else _op(None, op)
    if op not in (Average, Sum):
        raise ValueError("reducescatter's op must be hilo.Average or hilo.Sum, not %r" % (op,))
    prescale = _scale_factor(tensor, prescale_factor, "prescale_factor")
    postscale = _scale_factor(tensor, postscale_factor, "postscale_factor")
    tensor, output_device, d, narrow_to = _through_host(tensor, "reducescatter")
    if prescale != 1.0:
        if output_device is None:
            tensor = _copy(tensor)  # the caller's tensor stays as it was
        _scale_in_place(tensor, prescale)
        d = _describe(tensor, allow_cuda=False)
    native = _context().enqueue(_hilo.Collective.REDUCESCATTER, _name(name, "reducescatter"),
                                d.address, d.dtype, d.shape, _communicator(communicator), op, 0)
    return Handle(native, tensor, like=tensor, kind="reducescatter", output_device=output_device,
                  postscale_factor=postscale, narrow_to=narrow_to)


def reducescatter(tensor, name=None, op=Average, prescale_factor=1.0, postscale_factor=1.0,
                  communicator=WORLD):
    """This rank's block of the reduced tensor, as a new tensor (see reducescatter_async)."""
    return synchronize(reducescatter_async(tensor, name, op, prescale_factor, postscale_factor,
                                           communicator))


def broadcast_async_(tensor, root_rank, name=None, communicator=WORLD):
    target = tensor
    tensor, narrow_to = _widen(tensor)
    d = _describe(tensor)
    native = _context().enqueue(_hilo.Collective.BROADCAST, _name(name, "broadcast"),
                                d.address, d.dtype, d.shape, _communicator(communicator), Sum,
                                int(root_rank), d.device, d.event_handle)
    return Handle(native, tensor, described=d, narrow_to=narrow_to, target=target)


def broadcast_async(tensor, root_rank, name=None, communicator=WORLD):
    return broadcast_async_(_copy(tensor), root_rank, name, communicator)


def broadcast_(tensor, root_rank, name=None, communicator=WORLD):
    return synchronize(broadcast_async_(tensor, root_rank, name, communicator))


def broadcast(tensor, root_rank, name=None, communicator=WORLD):
    """`root_rank`'s tensor, as a new tensor on every rank."""
    return synchronize(broadcast_async(tensor, root_rank, name, communicator))


def synchronize(handle, timeout=None):
    """Waits for `handle` and returns its output; raises HiloError if the operation failed."""
    return handle.wait(timeout)


def poll(handle):
    """True once the operation is done (successfully or not); never blocks."""
    return handle.poll()
