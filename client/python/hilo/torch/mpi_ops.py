"""hilo.torch's collectives: hilo's own (hilo/__init__.py) on torch tensors, plus the allreduces
that take a Compression (horovod.torch.mpi_ops)."""
import hilo as _hilo_package
from hilo import WORLD
from hilo.torch.compression import Compression


def allreduce(tensor, average=None, name=None, compression=Compression.none, op=None,
              prescale_factor=1.0, postscale_factor=1.0, communicator=WORLD):
    """The average (default), sum, min, max or product of `tensor` over `communicator`, as a new
    tensor of `tensor`'s dtype; `compression` and the scale factors as in horovod.torch.allreduce
    (the same positional order)."""
    compressed, ctx = compression.compress(tensor)
    reduced = _hilo_package.allreduce(compressed, average, name, op, prescale_factor,
                                      postscale_factor, communicator)
    return compression.decompress(reduced, ctx)


def grouped_allreduce(tensors, average=None, name=None, compression=Compression.none, op=None,
                      prescale_factor=1.0, postscale_factor=1.0, communicator=WORLD):
    """horovod.torch.grouped_allreduce: the allreduce of every tensor of the list, negotiated
    together, as a list of new tensors of the tensors' dtypes."""
    compressed = [compression.compress(tensor) for tensor in tensors]
    reduced = _hilo_package.grouped_allreduce([c for c, _ in compressed], average, name, op,
                                              prescale_factor, postscale_factor, communicator)
    return [compression.decompress(r, ctx) for r, (_, ctx) in zip(reduced, compressed)]
