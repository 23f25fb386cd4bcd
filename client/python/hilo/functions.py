"""Helpers built on the collectives: broadcast_parameters, objects (pickled into int64 words)
and barrier."""
import pickle as _pickle

from hilo.basics import (CROSS, GROUP, Sum, WORLD, _communicator, group, group_rank, group_size,
                         num_groups, rank, size)
from hilo.ops import _name, allgather, allreduce_, broadcast_, broadcast_async_, synchronize


def broadcast_parameters(params, root_rank=0):
    """Broadcasts `params` — a state_dict, a dict or a list of (name, tensor) — from root_rank,
    in place (horovod.torch.broadcast_parameters)."""
    items = sorted(params.items()) if isinstance(params, dict) else list(params)
    handles = [broadcast_async_(tensor, root_rank, name="broadcast_parameters." + str(key))
               for key, tensor in items]
    for handle in handles:
        synchronize(handle)


def _communicator_rank(communicator):
    """This rank's rank within `communicator` (a cross communicator's members are ordered by
    group)."""
    ranks = {WORLD: rank, GROUP: group_rank, CROSS: group}
    return ranks[_communicator(communicator)]()


def _communicator_size(communicator):
    """How many ranks `communicator` has (a cross communicator: one per group)."""
    sizes = {WORLD: size, GROUP: group_size, CROSS: num_groups}
    return sizes[_communicator(communicator)]()


def _word_count(payload_bytes):
    """The int64 words that carry `payload_bytes` bytes (the last one zero-padded)."""
    return (payload_bytes + 7) // 8


def _to_words(payload):
    """`payload` bytes in an int64 array (zero-padded to whole words): a dtype the runtime moves."""
    import numpy
    words = numpy.zeros(_word_count(len(payload)), dtype=numpy.int64)
    words.view(numpy.uint8)[:len(payload)] = numpy.frombuffer(payload, dtype=numpy.uint8)
    return words


def broadcast_object(obj, root_rank=0, name=None, communicator=WORLD):
    """`root_rank`'s `obj` (anything picklable) on every rank of `communicator`, as
    horovod.torch.broadcast_object: the root gets its own object back, the others a copy."""
    import numpy
    name = _name(name, "broadcast_object")
    is_root = _communicator_rank(communicator) == root_rank
    payload = _pickle.dumps(obj) if is_root else b""
    length = numpy.array([len(payload)], dtype=numpy.int64)
    broadcast_(length, root_rank, name=name + ".length", communicator=communicator)
    words = _to_words(payload) if is_root else numpy.zeros(_word_count(int(length[0])),
                                                           dtype=numpy.int64)
    broadcast_(words, root_rank, name=name + ".data", communicator=communicator)
    if is_root:
        return obj
    return _pickle.loads(words.view(numpy.uint8)[:int(length[0])].tobytes())


def allgather_object(obj, name=None, communicator=WORLD):
    """Every rank's `obj` (anything picklable), as a list in rank order of `communicator`
    (horovod.torch.allgather_object)."""
    import numpy
    name = _name(name, "allgather_object")
    payload = _pickle.dumps(obj)
    lengths = allgather(numpy.array([len(payload)], dtype=numpy.int64), name=name + ".lengths",
                        communicator=communicator)
    words = allgather(_to_words(payload), name=name + ".data", communicator=communicator)
    objects, offset = [], 0
    for length in lengths.tolist():
        count = _word_count(length)
        objects.append(_pickle.loads(words[offset:offset + count].view(numpy.uint8)[:length]
                                     .tobytes()))
        offset += count
    return objects


def barrier(communicator=WORLD):
    """Returns once every rank of `communicator` has called it (horovod.torch.barrier)."""
    import numpy
    allreduce_(numpy.zeros(1, dtype=numpy.int32), name=_name(None, "barrier"), op=Sum,
               communicator=communicator)
