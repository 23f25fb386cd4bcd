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

# OpenMPI loads its components with dlopen and needs libmpi's symbols global; Python imports
# extensions with RTLD_LOCAL, so load libmpi globally first (as mpi4py does).
_ctypes.CDLL("libmpi.so.40", mode=_ctypes.RTLD_GLOBAL)

from hilo import _hilo  # noqa: E402

# The package is several modules (basics, ops, averaging, functions, as horovod's common and
# torch packages); every name, public or used by hilo.torch and the tests, is here too.
from hilo.basics import (  # noqa: E402,F401
    Average,
    CROSS,
    GROUP,
    DuplicateNameError,
    HiloError,
    InvalidArgumentError,
    Max,
    Min,
    Product,
    Sum,
    WORLD,
    _State,
    _communicator,
    _context,
    _cross_layout,
    _enum_member,
    _state,
    _topology,
    ccl_built,
    count_step,
    cross_rank,
    cross_size,
    cuda_built,
    ddl_built,
    gloo_built,
    gloo_enabled,
    group,
    group_rank,
    group_size,
    init,
    is_homogeneous,
    is_initialized,
    join,
    local_rank,
    local_size,
    mpi_built,
    mpi_enabled,
    mpi_threads_supported,
    nccl_built,
    num_groups,
    rank,
    rocm_built,
    shutdown,
    size,
    start_timeline,
    stop_timeline,
    transport_counters)
from hilo._tensors import (  # noqa: E402,F401
    _Described,
    _NARROW_NUMPY,
    _NUMPY_DTYPES,
    _TORCH_DTYPES,
    _copy,
    _describe,
    _from_bytes,
    _is_torch,
    _narrow,
    _record_event,
    _torch_dtype_names,
    _widen)
from hilo.ops import (  # noqa: E402,F401
    Handle,
    _GroupedHandle,
    _grouped_names,
    _name,
    _op,
    _scale_factor,
    _through_host,
    allgather,
    allgather_async,
    allreduce,
    allreduce_,
    allreduce_async,
    allreduce_async_,
    alltoall,
    alltoall_async,
    broadcast,
    broadcast_,
    broadcast_async,
    broadcast_async_,
    grouped_allgather,
    grouped_allgather_async,
    grouped_allreduce,
    grouped_allreduce_,
    grouped_allreduce_async,
    grouped_allreduce_async_,
    grouped_reducescatter,
    grouped_reducescatter_async,
    poll,
    reducescatter,
    reducescatter_async,
    synchronize)
from hilo.averaging import (  # noqa: E402,F401
    AveragingHandle,
    average_across_groups,
    average_across_groups_async,
    launcher_schedule,
    local_sgd_step)
from hilo.functions import (  # noqa: E402,F401
    _communicator_rank,
    _to_words,
    _word_count,
    allgather_object,
    barrier,
    broadcast_object,
    broadcast_parameters)
