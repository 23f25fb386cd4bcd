"""hilo for PyTorch: ``import hilo.torch as hvd`` where a program had ``import horovod.torch as
hvd``. Same names, arguments and semantics for init, rank, size, local_rank, allreduce(_)(_async),
allgather, reducescatter(_async), alltoall(_async), broadcast(_)(_async), synchronize, poll,
broadcast_parameters, broadcast_optimizer_state, broadcast_object, allgather_object, barrier,
grouped_allreduce(_)(_async), grouped_allgather(_async), grouped_reducescatter(_async),
cross_rank, cross_size, is_homogeneous, join, start_timeline, stop_timeline, the *_built()
queries, Average, Sum, Min, Max, Product, Compression (none, fp16) and SyncBatchNorm; plus hilo's
groups and cross-group averaging."""
from hilo import (  # noqa: F401
    Average, AveragingHandle, CROSS, DuplicateNameError, GROUP, Handle, HiloError,
    InvalidArgumentError, Max, Min, Product, Sum, WORLD,
    allgather_async, allgather_object, allreduce_, allreduce_async, allreduce_async_,
    alltoall_async, average_across_groups, average_across_groups_async, barrier, broadcast_,
    broadcast_async, broadcast_async_, broadcast_object, broadcast_parameters, ccl_built,
    count_step, cross_rank, cross_size, cuda_built, ddl_built, gloo_built, gloo_enabled, group,
    group_rank, group_size, grouped_allgather_async, grouped_allreduce_,
    grouped_allreduce_async, grouped_allreduce_async_, grouped_reducescatter_async, init, is_homogeneous, is_initialized, join, launcher_schedule,
    local_rank, local_sgd_step, local_size, mpi_built, mpi_enabled, mpi_threads_supported,
    nccl_built, num_groups, poll, rank, reducescatter_async, rocm_built, shutdown, size,
    start_timeline, stop_timeline, synchronize, transport_counters)
# Horovod's names for what hilo raises and does not have: HorovodInternalError is hilo's error
# (a program's `except hvd.HorovodInternalError` catches what hilo raises); Adasum is not an op
# hilo has, so op=hvd.Adasum raises NotImplementedError (a RuntimeError) saying so.
HorovodInternalError = HiloError
Adasum = "adasum"

from hilo.torch.compression import (  # noqa: F401,E402
    Compression, Compressor, FP16Compressor, NoneCompressor)
from hilo.torch.functions import broadcast_optimizer_state  # noqa: F401,E402
from hilo.torch.mpi_ops import (  # noqa: F401,E402
    allgather, allreduce, alltoall, broadcast, grouped_allgather, grouped_allreduce,
    grouped_reducescatter, reducescatter, sparse_allreduce_async)
from hilo.torch.optimizer import DistributedOptimizer  # noqa: F401,E402
from hilo.torch.sync_batch_norm import SyncBatchNorm  # noqa: F401,E402
