"""hilo: hierarchical local SGD communication for deep-learning training.

Horovod's API on hilo's runtime: ``hilo.init()``, ``hilo.rank()``, ``hilo.allreduce(...)``... work
on numpy arrays and CPU torch tensors in place (no copies for contiguous memory). Where
``horovod.torch`` has a function, ``hilo.torch`` has the same name, arguments and semantics, so a
Horovod program switches by changing its import. Beyond Horovod: groups (``group()``,
``communicator='group'``) and cross-group model averaging (``average_across_groups``).

Errors from the runtime are raised as ``hilo.HiloError`` (a RuntimeError) carrying its status code
and message, e.g. ``INVALID_ARGUMENT: tensor 'w' on communicator world: shape differs ...``.
"""
import ctypes as _ctypes
import pickle as _pickle

# OpenMPI loads its components with dlopen and needs libmpi's symbols global; Python imports
# extensions with RTLD_LOCAL, so load libmpi globally first (as mpi4py does).
_ctypes.CDLL("libmpi.so.40", mode=_ctypes.RTLD_GLOBAL)

from hilo import _hilo  # noqa: E402

HiloError = _hilo.HiloError

# Reduction ops, as horovod's hvd.Average / hvd.Sum / hvd.Min / hvd.Max / hvd.Product: the
# runtime's own enum (the binding takes it as it is; nothing parses a name).
Average = _hilo.ReduceOp.AVERAGE
Sum = _hilo.ReduceOp.SUM
Min = _hilo.ReduceOp.MIN
Max = _hilo.ReduceOp.MAX
Product = _hilo.ReduceOp.PRODUCT

# Communicators. The API documents 'world', 'group' and 'cross' too (and local_sgd_step hands
# them out as names): _communicator() takes either.
WORLD, GROUP, CROSS = _hilo.Communicator.WORLD, _hilo.Communicator.GROUP, _hilo.Communicator.CROSS


def _enum_member(enum, value, what, names, choices):
    """`value` as a member of the binding's `enum`: a member, or one of `names` (its documented
    spelling, looked up in the enum's own table); ValueError saying `what` must be `choices`."""
    if isinstance(value, enum):
        return value
    if isinstance(value, str) and value.lower() in names:
        member = enum.__members__.get(value.upper().replace("-", "_"))
        if member is not None:
            return member
    raise ValueError("%s must be %s, not %r (or by name: %s)"
                     % (what, choices, value, ", ".join(repr(name) for name in names)))


def _communicator(value):
    return _enum_member(_hilo.Communicator, value, "communicator", ("world", "group", "cross"),
                        "hilo.WORLD, hilo.GROUP or hilo.CROSS")


class _State:
    """The process's hilo context (one per process, like Horovod's) and the counter that names
    unnamed tensors: every rank must call collectives in the same order for names to match."""

    def __init__(self):
        self.context = None
        self.topology = None
        self.unnamed = 0


_state = _State()


def init():
    """Starts hilo on every rank (collective). Reads the HILO_* environment. Idempotent."""
    if _state.context is None:
        _state.context = _hilo.Context.init()
        topology = _state.context.topology()
        _state.topology = topology
        # Horovod's cross ranks: the ranks with this rank's local rank, one per node. One tiny
        # allgather now, while every rank is here, so that cross_rank() and friends never start
        # a collective that only some ranks would join.
        import numpy
        mine = numpy.array([[topology["local_rank"], topology["local_size"]]], dtype=numpy.int64)
        everyone = allgather(mine, name="hilo.init.local_ranks")
        topology.update(_cross_layout([tuple(row) for row in everyone.tolist()], topology["rank"]))


def _cross_layout(local_rank_and_size, rank):
    """Horovod's cross_rank, cross_size and is_homogeneous of world rank `rank`, from every
    rank's (local_rank, local_size) in world rank order."""
    mine = local_rank_and_size[rank][0]
    same = [r for r, (local_rank, _) in enumerate(local_rank_and_size) if local_rank == mine]
    sizes = {local_size for _, local_size in local_rank_and_size}
    return {"cross_rank": same.index(rank), "cross_size": len(same),
            "is_homogeneous": len(sizes) == 1}


def join():
    """Horovod's join: this rank has no more data. Until every rank has joined it takes part in
    the others' allreduces with zeros (an average still divides by the communicator's size, as
    Horovod's does) and in their allgathers with no rows; broadcasts, reducescatters, alltoalls
    and averaging rounds that need it fail. Host tensors only. Blocks until
    every rank has joined; returns the rank that joined last."""
    return _context().join()


def start_timeline(file_path, mark_cycles=False):
    """Horovod's start_timeline: rank 0 records a Chrome trace (chrome://tracing, Perfetto) of
    hilo's negotiation, transport and averaging rounds in `file_path` until stop_timeline();
    `mark_cycles` also marks each coordinator cycle. Other ranks record nothing. Replaces a
    running timeline (HILO_TIMELINE's too)."""
    _context().start_timeline(str(file_path), bool(mark_cycles))


def stop_timeline():
    """Closes the timeline start_timeline() (or HILO_TIMELINE) opened, as valid JSON."""
    _context().stop_timeline()


def shutdown():
    """Stops hilo (collective); pending operations fail. Safe to call twice."""
    if _state.context is not None:
        context, _state.context, _state.topology = _state.context, None, None
        context.shutdown()


def is_initialized():
    return _state.context is not None


def _context():
    if _state.context is None:
        raise ValueError("hilo has not been initialized; call hilo.init() first")
    return _state.context


def _topology(key):
    _context()
    return _state.topology[key]


def rank():
    return _topology("rank")


def size():
    return _topology("size")


def local_rank():
    return _topology("local_rank")


def local_size():
    return _topology("local_size")


def cross_rank():
    """Horovod's cross rank: this rank's index among the ranks with its local rank (one per
    node), i.e. its node's index when every node runs the same number of ranks. Not hilo's
    CROSS communicator, which is built from groups."""
    return _topology("cross_rank")


def cross_size():
    """Horovod's cross size: the number of ranks with this rank's local rank (the number of
    nodes, when every node runs the same number of ranks)."""
    return _topology("cross_size")


def is_homogeneous():
    """True if every node runs the same number of ranks (Horovod's)."""
    return _topology("is_homogeneous")


def group():
    """This rank's group (0 .. num_groups() - 1)."""
    return _topology("group")


def group_rank():
    """This rank's rank within its group."""
    return _topology("group_rank")


def group_size():
    return _topology("group_size")


def num_groups():
    return _topology("num_groups")


def count_step():
    """Tells hilo a training step finished (for the status endpoint and hilorun --progress)."""
    _context().count_step()


def transport_counters(communicator=WORLD):
    """{'calls', 'bytes'} this rank handed to the transport on `communicator` since init."""
    return _context().transport_counters(_communicator(communicator))


# ----------------------------------------------------------------------------------------------
# Tensors: numpy arrays and torch tensors, described as (address, dtype, shape).

_NUMPY_DTYPES = {name: getattr(_hilo.DataType, name)
                 for name in ("float32", "float64", "float16", "int32", "int64")}


def _is_torch(tensor):
    return type(tensor).__module__.startswith("torch")


# Narrow dtypes Horovod also takes: the runtime's integers are int32 and int64, so these travel
# as int32 (exact for every value; a copy each way) and come back in their own dtype.
_NARROW_NUMPY = ("bool", "uint8", "int8", "uint16", "int16")


def _widen(tensor):
    """(the tensor the runtime sees, the caller's dtype to convert the result back to, or None)."""
    if _is_torch(tensor):
        if tensor.dtype in _torch_dtype_names():  # the common case, decided from the cached table
            return tensor, None
        import torch
        if tensor.dtype in (torch.bool, torch.uint8, torch.int8, torch.int16):
            return tensor.to(torch.int32), tensor.dtype
        return tensor, None
    if getattr(getattr(tensor, "dtype", None), "name", None) in _NARROW_NUMPY:
        return tensor.astype("int32"), tensor.dtype
    return tensor, None


def _narrow(value, dtype):
    """`value` (int32) in the caller's narrow dtype, by the framework's own conversion: for bool
    nonzero is True (so a sum is a logical or, a min a logical and); integers wrap."""
    return value.to(dtype) if _is_torch(value) else value.astype(dtype)


class _Described:
    """Where a tensor is, for the runtime: address, dtype name, shape, and for CUDA tensors the
    device and an event recorded on the current stream after the work that produced the tensor
    (hilo's NCCL stream waits for it; the event is kept alive with the handle)."""

    def __init__(self, address, dtype, shape, device=-1, event=None):
        self.address, self.dtype, self.shape, self.device, self.event = (
            address, dtype, shape, device, event)

    @property
    def event_handle(self):
        return 0 if self.event is None else int(self.event.cuda_event)

    def as_tuple(self):
        return self.address, self.dtype, self.shape


# torch dtype -> hilo dtype (the binding's enum); filled at the first torch tensor (hilo does not import torch
# unless the program uses it). A module-level table: building it per call cost more than the
# rest of describing a tensor, and a step describes every gradient.
_TORCH_DTYPES = {}


def _torch_dtype_names():
    if not _TORCH_DTYPES:
        import torch
        dtype = _hilo.DataType
        _TORCH_DTYPES.update({torch.float32: dtype.float32, torch.float64: dtype.float64,
                              torch.float16: dtype.float16, torch.bfloat16: dtype.bfloat16,
                              torch.int32: dtype.int32, torch.int64: dtype.int64})
    return _TORCH_DTYPES


def _describe(tensor, allow_cuda=True, record_event=True):
    """The _Described of a tensor hilo may read and write in place. `record_event=False`: the
    caller records one event for several CUDA tensors itself."""
    if _is_torch(tensor):
        if tensor.is_cuda:
            device_type = "cuda"
        else:
            device_type = tensor.device.type
            if device_type != "cpu":
                raise HiloError("INVALID_ARGUMENT: hilo works on CPU and CUDA tensors, not %s"
                                % device_type)
        if tensor.is_sparse:
            raise HiloError("INVALID_ARGUMENT: hilo reduces dense tensors, and this one is sparse; "
                            "call .to_dense() (DistributedOptimizer: sparse_as_dense=True)")
        if not tensor.is_contiguous():
            raise HiloError("INVALID_ARGUMENT: tensor is not contiguous; call .contiguous()")
        dtype = _torch_dtype_names().get(tensor.dtype)
        if dtype is None:
            raise HiloError("INVALID_ARGUMENT: unsupported dtype %s (hilo takes float32, float64, "
                            "float16, bfloat16, int32, int64, and bool, uint8, int8, int16 as "
                            "int32)" % tensor.dtype)
        if device_type == "cuda":
            import torch
            if not allow_cuda:
                raise HiloError("INVALID_ARGUMENT: this operation does not take CUDA tensors yet; "
                                "copy them to the CPU")
            device = tensor.device.index if tensor.device.index is not None \
                else torch.cuda.current_device()
            event = _record_event(device) if record_event else None
            return _Described(tensor.data_ptr(), dtype, tensor.shape, device, event)
        return _Described(tensor.data_ptr(), dtype, tensor.shape)
    import numpy
    if not isinstance(tensor, numpy.ndarray):
        raise HiloError("INVALID_ARGUMENT: expected a numpy array or a torch tensor, got %s"
                        % type(tensor).__name__)
    if not tensor.flags["C_CONTIGUOUS"]:
        raise HiloError("INVALID_ARGUMENT: array is not C-contiguous; use numpy.ascontiguousarray")
    if not tensor.flags["WRITEABLE"]:
        raise HiloError("INVALID_ARGUMENT: array is read-only")
    name = _NUMPY_DTYPES.get(tensor.dtype.name)
    if name is None:
        raise HiloError("INVALID_ARGUMENT: unsupported dtype %s (hilo takes float32, float64, "
                        "float16, int32, int64, and bool, uint8, int8, uint16, int16 as int32)"
                        % tensor.dtype)
    return _Described(tensor.ctypes.data, name, tensor.shape)


def _record_event(device):
    """A CUDA event recorded on torch's current stream of `device`: hilo's streams wait for it."""
    import torch
    event = torch.cuda.Event()
    event.record(torch.cuda.current_stream(device))
    return event


def _copy(tensor):
    return tensor.clone() if _is_torch(tensor) else tensor.copy()


def _from_bytes(data, like, shape):
    """A new tensor of `like`'s kind and dtype holding `data` in `shape`."""
    if _is_torch(like):
        import torch
        if len(data) == 0:
            return torch.empty(shape, dtype=like.dtype)
        return torch.frombuffer(bytearray(data), dtype=like.dtype).reshape(shape)
    import numpy
    return numpy.frombuffer(bytearray(data), dtype=like.dtype).reshape(shape)


def _name(name, kind):
    if name is not None:
        return str(name)
    _state.unnamed += 1
    return "%s.noname.%d" % (kind, _state.unnamed)


def _op(average, op):
    """Horovod's rule: `op` wins; `average` (deprecated there) maps True/False to Average/Sum."""
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

    def poll(self):
        return self._native.poll()

    def wait(self, timeout=None):
        self._native.wait(timeout)
        if self._kind in ("allgather", "reducescatter", "alltoall"):
            result = _from_bytes(self._native.output(), self._like, self._native.output_shape())
            if self._postscale != 1.0:
                result *= self._postscale
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
            self._output *= self._postscale
            self._postscale = 1.0
        if self._narrow_to is not None:
            self._target[...] = _narrow(self._output, self._narrow_to)
            return self._target
        return self._output


def _scale_factor(tensor, factor, which):
    """Checks a prescale / postscale factor (Horovod's): floating-point tensors only, since an
    integer tensor cannot hold the scaled values in place."""
    factor = float(factor)
    if factor != 1.0:
        dtype = tensor.dtype if hasattr(tensor, "dtype") else None
        floating = (getattr(dtype, "is_floating_point", None) if _is_torch(tensor)
                    else getattr(dtype, "kind", "") == "f")
        if not floating:
            raise ValueError("%s applies to floating-point tensors, not %s" % (which, dtype))
    return factor


def allreduce_async_(tensor, average=None, name=None, op=None, prescale_factor=1.0,
                     postscale_factor=1.0, communicator=WORLD):
    """Starts an allreduce of `tensor` in place; returns a handle. As in Horovod, the tensor is
    multiplied by `prescale_factor` before the reduction and the result by `postscale_factor`
    (floating-point tensors)."""
    prescale = _scale_factor(tensor, prescale_factor, "prescale_factor")
    postscale = _scale_factor(tensor, postscale_factor, "postscale_factor")
    reduce_op = _op(average, op)
    target = tensor
    tensor, narrow_to = _widen(tensor)
    d = _describe(tensor)
    if prescale != 1.0:
        tensor *= prescale
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
        raise HiloError("INVALID_ARGUMENT: %s needs at least one dimension" % collective)
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
        tensor *= prescale
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


class AveragingHandle:
    """An averaging round in flight (average_across_groups_async). Keeps the tensors alive until
    it is done; wait() returns the round's model discrepancy D."""

    def __init__(self, native, tensors, described):
        self._native = native
        self._tensors = tensors
        self._described = described

    def poll(self):
        return self._native.poll()

    def wait(self, timeout=None):
        self._native.wait(timeout)
        return self._native.discrepancy()


def average_across_groups_async(tensors, name="model", algorithm=None):
    """Starts one cross-group averaging round over `tensors` (floating point, averaged in place,
    the same list on every rank; collective over the world) and returns an AveragingHandle at
    once. The tensors must not be written until it is done. Host rounds run beside the
    coordinator (HILO_AVERAGING_THREAD), so collectives enqueued meanwhile go on."""
    tensors = list(tensors)
    described = [_describe(t, record_event=False) for t in tensors]
    devices = sorted({d.device for d in described})
    # One event after the work that last wrote any of them (all on one device; hilo says so
    # otherwise). The round completes with every stream it used finished.
    event = _record_event(devices[-1]) if devices and devices[-1] >= 0 else None
    if algorithm is not None:
        algorithm = _enum_member(_hilo.AveragingAlgorithm, algorithm, "algorithm",
                                 ("sharded", "world-allreduce"),
                                 "hilo's AveragingAlgorithm")
    native = _context().average_across_groups(
        str(name), [d.as_tuple() + (d.device,) for d in described], algorithm,
        0 if event is None else int(event.cuda_event))
    return AveragingHandle(native, tensors, (described, event))


def average_across_groups(tensors, name="model", algorithm=None):
    """One cross-group averaging round over `tensors` (floating point, in place, same list on
    every rank; collective over the world). Returns the round's model discrepancy D."""
    return average_across_groups_async(tensors, name, algorithm).wait()


def local_sgd_step(tau, warmup_steps, step):
    """The hierarchical local-SGD plan of 0-based `step`: a dict with 'warmup',
    'allreduce_gradients', 'gradient_communicator' ('world' or 'group') and 'average_model'
    (docs/averaging.md). One group of size() ranks is synchronous SGD; size() groups of one is
    plain local SGD."""
    return _context().local_sgd_step(int(tau), int(warmup_steps), int(step))


def launcher_schedule():
    """(tau, warmup_steps) from hilorun --averaging-period / --warmup-steps (0, 0 if unset)."""
    return _context().schedule_settings()


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


# What this build has, as horovod's *_built() / *_enabled(): callable before init().
def mpi_built():
    return True


def mpi_enabled():
    return True


def mpi_threads_supported():
    """Horovod's: whether MPI runs with MPI_THREAD_MULTIPLE, so that other threads of the program
    (mpi4py, say) may call MPI too. hilo asks for it when it initializes MPI."""
    return bool(_context().mpi_threads_supported())


def gloo_built():
    return False


def gloo_enabled():
    return False


def cuda_built():
    return bool(_hilo.build_info()["cuda"])


def nccl_built():
    """The NCCL version code hilo was built against (e.g. 22809 for 2.28.9); 0 (false) without
    CUDA."""
    return int(_hilo.build_info()["nccl_version"])
