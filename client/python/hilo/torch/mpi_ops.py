"""hilo.torch's collectives (horovod.torch.mpi_ops): hilo's own (hilo/ops.py) on torch tensors,
the allreduces that take a Compression, and the collectives that return a new tensor as autograd
functions, so that a loss computed through them backpropagates as through Horovod's:

* allreduce: the gradient is allreduced the same way (op and scale factors);
* allgather: the gradient is averaged over the ranks, and each rank takes back its rows;
* broadcast: the gradient is averaged over the ranks and flows to the root only;
* alltoall: the gradient's rows go back where they came from (an alltoall with the received
  splits);
* reducescatter: the gradient blocks are gathered again (times the size for a sum, times the
  scale factors).

Tensors that do not require a gradient (or with autograd off) take the plain path, without an
autograd node."""
import torch

import hilo as _hilo_package
from hilo import Average, Sum, WORLD
from hilo.functions import _communicator_rank, _communicator_size
from hilo.torch.compression import Compression


def _tracked(tensor):
    return torch.is_grad_enabled() and torch.is_tensor(tensor) and tensor.requires_grad


class _Allreduce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, average, name, op, prescale_factor, postscale_factor, communicator):
        ctx.options = (average, op, prescale_factor, postscale_factor, communicator)
        return _hilo_package.allreduce(tensor, average, name, op, prescale_factor,
                                       postscale_factor, communicator)

    @staticmethod
    def backward(ctx, grad_output):
        average, op, prescale_factor, postscale_factor, communicator = ctx.options
        grad = _hilo_package.allreduce(grad_output.contiguous(), average, None, op,
                                       prescale_factor, postscale_factor, communicator)
        return (grad,) + (None,) * 6


class _Allgather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, name, communicator):
        ctx.rows, ctx.communicator = tensor.shape[0], communicator
        return _hilo_package.allgather(tensor, name, communicator)

    @staticmethod
    def backward(ctx, grad_output):
        grad = _hilo_package.allreduce(grad_output.contiguous(), None, None, Average, 1.0, 1.0,
                                       ctx.communicator)
        rows = _hilo_package.allgather(torch.tensor([ctx.rows], dtype=torch.int64), None,
                                       ctx.communicator)
        offset = int(rows[:_communicator_rank(ctx.communicator)].sum())
        return grad.narrow(0, offset, ctx.rows), None, None


class _Broadcast(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, root_rank, name, communicator):
        ctx.root_rank, ctx.communicator = root_rank, communicator
        return _hilo_package.broadcast(tensor, root_rank, name, communicator)

    @staticmethod
    def backward(ctx, grad_output):
        grad = _hilo_package.allreduce(grad_output.contiguous(), None, None, Average, 1.0, 1.0,
                                       ctx.communicator)
        if _communicator_rank(ctx.communicator) != ctx.root_rank:
            grad.zero_()
        return grad, None, None, None


class _Alltoall(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, splits, name, communicator):
        # Backwards needs the splits received: without splits, ask for the even split explicitly
        # (what the runtime would fill in) to learn them, and return the rows alone.
        sent = splits
        if sent is None:
            size = _communicator_size(communicator)
            sent = torch.full((size,), tensor.shape[0] // size, dtype=torch.int32)
        output, received = _hilo_package.alltoall(tensor, sent, name, communicator)
        ctx.received, ctx.communicator = received, communicator
        if splits is None:
            return output
        ctx.mark_non_differentiable(received)
        return output, received

    @staticmethod
    def backward(ctx, grad_output, *unused):
        grad, _ = _hilo_package.alltoall(grad_output.contiguous(), ctx.received, None,
                                         ctx.communicator)
        return grad, None, None, None


class _Reducescatter(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, name, op, prescale_factor, postscale_factor, communicator):
        ctx.options = (op, prescale_factor, postscale_factor, communicator)
        return _hilo_package.reducescatter(tensor, name, op, prescale_factor, postscale_factor,
                                           communicator)

    @staticmethod
    def backward(ctx, grad_output):
        op, prescale_factor, postscale_factor, communicator = ctx.options
        scale = prescale_factor * postscale_factor
        if _hilo_package.ops._op(None, op) == Sum:
            scale *= _communicator_size(communicator)
        grad = grad_output.contiguous() * scale if scale != 1.0 else grad_output.contiguous()
        return (_hilo_package.allgather(grad, None, communicator),) + (None,) * 5


def allreduce(tensor, average=None, name=None, compression=Compression.none, op=None,
              prescale_factor=1.0, postscale_factor=1.0, communicator=WORLD):
    """The average (default), sum, min, max or product of `tensor` over `communicator`, as a new
    tensor of `tensor`'s dtype; `compression` and the scale factors as in horovod.torch.allreduce
    (the same positional order). Differentiable."""
    compressed, ctx = compression.compress(tensor)
    if _tracked(compressed):
        reduced = _Allreduce.apply(compressed, average, name, op, prescale_factor,
                                   postscale_factor, communicator)
    else:
        reduced = _hilo_package.allreduce(compressed, average, name, op, prescale_factor,
                                          postscale_factor, communicator)
    return compression.decompress(reduced, ctx)


def grouped_allreduce(tensors, average=None, name=None, compression=Compression.none, op=None,
                      prescale_factor=1.0, postscale_factor=1.0, communicator=WORLD):
    """horovod.torch.grouped_allreduce: the allreduce of every tensor of the list, negotiated
    together, as a list of new tensors of the tensors' dtypes. Differentiable (each tensor's
    gradient is allreduced as in allreduce)."""
    compressed = [compression.compress(tensor) for tensor in tensors]
    if any(_tracked(c) for c, _ in compressed):
        names = _hilo_package.ops._grouped_names(name, len(compressed))
        reduced = [_Allreduce.apply(c, average, n, op, prescale_factor, postscale_factor,
                                    communicator) for (c, _), n in zip(compressed, names)]
    else:
        reduced = _hilo_package.grouped_allreduce([c for c, _ in compressed], average, name, op,
                                                  prescale_factor, postscale_factor,
                                                  communicator)
    return [compression.decompress(r, ctx) for r, (_, ctx) in zip(reduced, compressed)]


def allgather(tensor, name=None, communicator=WORLD):
    """Every rank's `tensor` concatenated along the first dimension (which may differ).
    Differentiable."""
    if _tracked(tensor):
        return _Allgather.apply(tensor, name, communicator)
    return _hilo_package.allgather(tensor, name, communicator)


def grouped_allgather(tensors, name=None, communicator=WORLD):
    """The allgather of every tensor of the list. Differentiable."""
    if any(_tracked(t) for t in tensors):
        names = _hilo_package.ops._grouped_names(name, len(tensors), "grouped_allgather")
        return [_Allgather.apply(t, n, communicator) for t, n in zip(tensors, names)]
    return _hilo_package.grouped_allgather(tensors, name, communicator)


def broadcast(tensor, root_rank, name=None, communicator=WORLD):
    """`root_rank`'s tensor, as a new tensor on every rank. Differentiable."""
    if _tracked(tensor):
        return _Broadcast.apply(tensor, root_rank, name, communicator)
    return _hilo_package.broadcast(tensor, root_rank, name, communicator)


def alltoall(tensor, splits=None, name=None, communicator=WORLD):
    """The rows every rank sends this one; with `splits`, a tuple (rows, received_splits).
    Differentiable."""
    if _tracked(tensor):
        return _Alltoall.apply(tensor, splits, name, communicator)
    return _hilo_package.alltoall(tensor, splits, name, communicator)


def reducescatter(tensor, name=None, op=Average, prescale_factor=1.0, postscale_factor=1.0,
                  communicator=WORLD):
    """This rank's block of the reduced tensor, as a new tensor. Differentiable."""
    if _tracked(tensor):
        return _Reducescatter.apply(tensor, name, op, prescale_factor, postscale_factor,
                                    communicator)
    return _hilo_package.reducescatter(tensor, name, op, prescale_factor, postscale_factor,
                                       communicator)


def grouped_reducescatter(tensors, name=None, op=Average, prescale_factor=1.0,
                          postscale_factor=1.0, communicator=WORLD):
    """The reducescatter of every tensor of the list. Differentiable."""
    if any(_tracked(t) for t in tensors):
        names = _hilo_package.ops._grouped_names(name, len(tensors), "grouped_reducescatter")
        return [_Reducescatter.apply(t, n, op, prescale_factor, postscale_factor, communicator)
                for t, n in zip(tensors, names)]
    return _hilo_package.grouped_reducescatter(tensors, name, op, prescale_factor,
                                               postscale_factor, communicator)


def sparse_allreduce_async(tensor, name, op, communicator=WORLD):
    """horovod.torch.sparse_allreduce_async: the sum (op=Sum) or average (op=Average) over
    `communicator` of a sparse COO tensor, as the allgather of every rank's indices and values;
    returns a function that waits and returns the result, a sparse tensor of `tensor`'s size
    whose entries are every rank's (not coalesced: an index present on several ranks appears
    once per rank, and its values add up when it is coalesced or made dense)."""
    reduce_op = _hilo_package.ops._op(None, op)
    if reduce_op not in (Average, Sum):
        raise ValueError("sparse_allreduce_async sums or averages, not %r" % (op,))
    indices = _hilo_package.allgather_async(tensor._indices().t().contiguous(),
                                            "%s.indices" % name, communicator)
    values = _hilo_package.allgather_async(tensor._values().contiguous(), "%s.values" % name,
                                           communicator)

    def wait():
        gathered_values = _hilo_package.synchronize(values)
        gathered_indices = _hilo_package.synchronize(indices)
        if reduce_op == Average:
            gathered_values = gathered_values / _communicator_size(communicator)
        return torch.sparse_coo_tensor(gathered_indices.t(), gathered_values, tensor.size())

    return wait
