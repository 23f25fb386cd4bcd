"""Cross-group model averaging rounds and the hierarchical local-SGD schedule."""

from hilo import _hilo
from hilo._tensors import _describe, _record_event
from hilo.basics import _context, _enum_member, _state


class AveragingHandle:
    """An averaging round in flight (average_across_groups_async). Keeps the tensors alive until
    it is done; wait() returns the round's model discrepancy D."""

    def __init__(self, native, tensors, described):
        self._native = native
        self._tensors = tensors
        self._described = described
        _state.hold_until_done(self)

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
