"""hilo's process-wide basics: errors, the reduction ops and communicators (the runtime's enums),
init / shutdown / join, the topology queries, timelines, counters and what this build has."""
import collections

from hilo import _hilo


HiloError = _hilo.HiloError
# A tensor name already in flight on this rank: a HiloError and a ValueError (as Horovod raises).
DuplicateNameError = _hilo.DuplicateNameError
# INVALID_ARGUMENT (wrong arguments, alone or against the other ranks'): a HiloError and a ValueError.
InvalidArgumentError = _hilo.InvalidArgumentError

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
    """The process's hilo context (one per process, like Horovod's), the counter that names
    unnamed tensors (every rank must call collectives in the same order for names to match), and
    the handles in flight."""

    def __init__(self):
        self.context = None
        self.topology = None
        self.unnamed = 0
        # Every handle until its operation is done, in enqueue order: the runtime writes into the
        # buffers a handle holds, so a program that drops a handle (Horovod's tests do) must not
        # free them under it. Done ones leave from the front as new ones arrive.
        self.in_flight = collections.deque()

    def hold_until_done(self, handle):
        in_flight = self.in_flight
        in_flight.append(handle)
        while in_flight and in_flight[0].poll():
            in_flight.popleft()


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
        from hilo.ops import allgather  # ops build on these basics: imported when first needed
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


def join(device=-1):
    """Horovod's join: this rank has no more data. Until every rank has joined it takes part in
    the others' allreduces with zeros (an average still divides by the communicator's size, as
    Horovod's does) and in their allgathers with no rows; broadcasts, reducescatters, alltoalls
    and averaging rounds that need it fail. Host tensors only: `device` (Horovod's: the GPU its
    zeros would live on) is accepted and unused. Blocks until every rank has joined; returns the
    rank that joined last."""
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
        _state.in_flight.clear()  # every operation is done (run or failed) once shut down


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


def ccl_built():
    """Horovod's oneCCL data path: not in hilo (its CPU collectives are MPI, shared memory and
    the TCP ring)."""
    return False


def ddl_built():
    return False


def rocm_built():
    return False


def cuda_built():
    return bool(_hilo.build_info()["cuda"])


def nccl_built():
    """The NCCL version code hilo was built against (e.g. 22809 for 2.28.9); 0 (false) without
    CUDA."""
    return int(_hilo.build_info()["nccl_version"])
