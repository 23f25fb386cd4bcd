"""How hilo reads a numpy array or a torch tensor: (address, dtype, shape, device), widened to
the runtime's dtypes where Horovod takes narrower ones."""

from hilo import _hilo
from hilo.basics import InvalidArgumentError


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
                raise InvalidArgumentError("INVALID_ARGUMENT: hilo works on CPU and CUDA tensors, not %s"
                                % device_type)
        if tensor.is_sparse:
            raise InvalidArgumentError("INVALID_ARGUMENT: hilo reduces dense tensors, and this one is sparse; "
                            "call .to_dense() (DistributedOptimizer: sparse_as_dense=True)")
        if not tensor.is_contiguous():
            raise InvalidArgumentError("INVALID_ARGUMENT: tensor is not contiguous; call .contiguous()")
        dtype = _torch_dtype_names().get(tensor.dtype)
        if dtype is None:
            raise InvalidArgumentError("INVALID_ARGUMENT: unsupported dtype %s (hilo takes float32, float64, "
                            "float16, bfloat16, int32, int64, and bool, uint8, int8, int16 as "
                            "int32)" % tensor.dtype)
        if device_type == "cuda":
            import torch
            if not allow_cuda:
                raise InvalidArgumentError("INVALID_ARGUMENT: this operation does not take CUDA tensors yet; "
                                "copy them to the CPU")
            device = tensor.device.index if tensor.device.index is not None \
                else torch.cuda.current_device()
            event = _record_event(device) if record_event else None
            return _Described(tensor.data_ptr(), dtype, tensor.shape, device, event)
        return _Described(tensor.data_ptr(), dtype, tensor.shape)
    import numpy
    if not isinstance(tensor, numpy.ndarray):
        raise InvalidArgumentError("INVALID_ARGUMENT: expected a numpy array or a torch tensor, got %s"
                        % type(tensor).__name__)
    if not tensor.flags["C_CONTIGUOUS"]:
        raise InvalidArgumentError("INVALID_ARGUMENT: array is not C-contiguous; use numpy.ascontiguousarray")
    if not tensor.flags["WRITEABLE"]:
        raise InvalidArgumentError("INVALID_ARGUMENT: array is read-only")
    name = _NUMPY_DTYPES.get(tensor.dtype.name)
    if name is None:
        raise InvalidArgumentError("INVALID_ARGUMENT: unsupported dtype %s (hilo takes float32, float64, "
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
