"""hilo.torch.DistributedOptimizer (horovod.torch.optimizer): gradients averaged in the group
every step, the model averaged across groups every tau steps."""
import contextlib
import warnings

import torch

from hilo import (Average, Sum, allreduce_async_, average_across_groups,
                  average_across_groups_async, count_step, group_size, launcher_schedule,
                  local_sgd_step, num_groups, size, synchronize)
from hilo.torch.compression import Compression
from hilo.torch.mpi_ops import sparse_allreduce_async


class _DistributedOptimizer(torch.optim.Optimizer):
    """The methods DistributedOptimizer adds to the wrapped optimizer's own class."""

    # How hilo's functions recognize one (the class is built per wrapped optimizer class).
    _hilo_distributed = True

    def __init__(self, params, named_parameters, tau, warmup_steps, op, average_buffers_of,
                 algorithm, backward_passes_per_step, compression, sparse_as_dense,
                 gradient_predivide_factor, gradient_groups, overlap_averaging):
        super(self.__class__, self).__init__(params)
        all_parameters = [p for group in self.param_groups for p in group["params"]]
        names = {}
        if named_parameters is not None:
            names = {id(p): name for name, p in named_parameters}
            unnamed = sum(1 for p in all_parameters if id(p) not in names)
            if unnamed:
                # Horovod's rule: a partial list usually means the model's and the optimizer's
                # parameters are not the same, and names would then not match across ranks.
                raise ValueError(
                    "named_parameters was given, but %d of the optimizer's %d parameters are not "
                    "in it: pass model.named_parameters() of the model the optimizer was built "
                    "over" % (unnamed, len(all_parameters)))
        self._names = {id(p): names.get(id(p), "param.%d" % i) for i, p in enumerate(all_parameters)}
        if len(set(self._names.values())) != len(self._names):
            raise ValueError("named_parameters must give every parameter a distinct name")
        launcher_tau, launcher_warmup = launcher_schedule()
        self.tau = int(tau if tau is not None else launcher_tau)
        if tau is None and self.tau < 1 and num_groups() == 1:
            # One group is synchronous SGD (Horovod's DistributedOptimizer): there is no averaging
            # round to schedule, so a Horovod program that never heard of tau runs unchanged.
            self.tau = 1
        if self.tau < 1:
            raise ValueError(
                "DistributedOptimizer needs tau >= 1 (the averaging period) when the job has "
                "several groups (here %d groups of %d: hierarchical local SGD): pass tau= or "
                "launch with hilorun --averaging-period; for synchronous SGD over every rank, "
                "as Horovod, launch one group (hilorun --group-size %d)"
                % (num_groups(), group_size(), size()))
        self.warmup_steps = int(warmup_steps if warmup_steps is not None else launcher_warmup)
        self.overlap_averaging = int(overlap_averaging)
        if num_groups() > 1 and self.overlap_averaging > self.tau:
            raise ValueError("overlap_averaging=%d must not exceed tau=%d: a round's result is "
                             "applied before the next round starts"
                             % (self.overlap_averaging, self.tau))
        # The round in flight with overlap_averaging: (handle, step index at which it applies,
        # the tensors it corrects, the snapshot being averaged, the snapshot as it was).
        self._pending_round = None
        self._snapshot = None  # (averaged, as_taken) buffers, reused from round to round
        self._op = op
        self._algorithm = algorithm
        self._buffer_owner = average_buffers_of
        self._parameters = all_parameters
        self.backward_passes_per_step = backward_passes_per_step
        self._compression = compression
        self._sparse_as_dense = sparse_as_dense
        # Parameters whose sparse gradient this step is reduced as dense (sparse_as_dense): made
        # sparse again after, as Horovod does, for optimizers that take only sparse ones.
        self._densified = set()
        self._predivide = gradient_predivide_factor
        # Horovod's groups: the gradients of a group are sent together, once all are ready.
        self._groups = _gradient_groups(all_parameters, gradient_groups)
        self._group_of = {id(p): members for members in self._groups for p in members}
        self._ready = set()  # ids of grouped parameters whose gradient is ready this step
        # id(p) -> (handle, p, the tensor being reduced, compression context): the tensor is
        # p.grad itself unless compression made a copy, which synchronize() writes back.
        self._handles = {}
        # Backward passes that produced each parameter's gradient since the last step (by id).
        self._passes = {}
        # Whether this step's gradients have been reduced (synchronize() ran after the last
        # backward pass), and whether step() is to skip synchronizing (skip_synchronize()).
        self._synchronized = False
        # Whether the program called synchronize() itself since the last step (step() then warns,
        # as Horovod's, unless inside skip_synchronize()).
        self._explicitly_synchronized = False
        self._skip_synchronize = False
        self.steps = 0
        self.discrepancy = None  # of the latest averaging round
        self._plan = local_sgd_step(self.tau, self.warmup_steps, self.steps)
        self._hooks = []
        for p in all_parameters:
            if p.requires_grad:
                # The gradient accumulator's hook runs once p.grad holds this backward's gradient:
                # its allreduce starts while backward continues with earlier layers.
                accumulator = p.expand_as(p).grad_fn.next_functions[0][0]
                accumulator.register_hook(self._make_hook(p))
                self._hooks.append(accumulator)  # keep the accumulators alive

    def _make_hook(self, p):
        def hook(*ignored):
            passes = self._passes.get(id(p), 0) + 1
            if passes > self.backward_passes_per_step:
                # The gradient's allreduce may be in flight: adding to p.grad now would race
                # with it, and the update would silently miss this pass.
                raise AssertionError(
                    "the gradient of '%s' was computed more than backward_passes_per_step=%d "
                    "times before step() or synchronize(); to accumulate gradients over more "
                    "backward passes, raise backward_passes_per_step"
                    % (self._names[id(p)], self.backward_passes_per_step))
            self._passes[id(p)] = passes
            self._synchronized = False
            if passes == self.backward_passes_per_step:
                members = self._group_of.get(id(p))
                if members is None:
                    self._send(p)
                    return
                self._ready.add(id(p))
                if all(id(m) in self._ready for m in members):
                    for m in members:
                        self._send(m)
        return hook

    def _send(self, p):
        if self._plan["allreduce_gradients"] and p.grad is not None and id(p) not in self._handles:
            if p.grad.is_sparse:
                if not self._sparse_as_dense:
                    # Horovod's sparse path: every rank's rows, gathered (the gradient stays
                    # sparse; synchronize() puts the result in p.grad).
                    wait = sparse_allreduce_async(
                        p.grad, "grad." + self._names[id(p)], self._op,
                        self._plan["gradient_communicator"])
                    self._handles[id(p)] = (wait, p, None, None)
                    return
                p.grad = p.grad.to_dense()
                self._densified.add(id(p))
            sent, ctx = self._compression.compress(p.grad)
            if self._predivide != 1.0:
                sent.div_(self._predivide)
            handle = allreduce_async_(sent, name="grad." + self._names[id(p)], op=self._op,
                                      communicator=self._plan["gradient_communicator"])
            self._handles[id(p)] = (handle, p, sent, ctx)

    @property
    def _parameter_names(self):
        """Horovod's attribute: each parameter's name (the gradient allreduce's)."""
        return {p: self._names[id(p)] for p in self._parameters}

    def synchronize(self):
        """Waits for this step's gradient allreduces: those the backward hooks started, and now
        those of gradients whose hooks did not start one (fewer backward passes than
        backward_passes_per_step, or a parameter backward did not reach). Reduces each gradient
        once per step: calling it again before the next backward pass does nothing. A parameter
        without a gradient on this rank gets a zero one, reduced with the others'."""
        if self._plan["allreduce_gradients"] and not self._synchronized:
            for p in self._parameters:
                if p.requires_grad:
                    if p.grad is None:
                        # No gradient here this step (a branch of the model this rank's forward
                        # did not take), but another rank may have one: take part with zeros,
                        # as Horovod does, or the ranks would wait for each other forever.
                        p.grad = torch.zeros_like(p)
                    self._send(p)
        # In enqueue order: the runtime completes a fused response's tensors last-enqueued first,
        # so the first wait returns once all of them are done.
        for handle, p, sent, ctx in self._handles.values():
            if sent is None:  # a sparse gradient (_send)
                p.grad = handle()
                continue
            synchronize(handle)
            if self._predivide != 1.0:
                sent.mul_(self._predivide)
            if sent is not p.grad:
                p.grad.copy_(self._compression.decompress(sent, ctx))
            if id(p) in self._densified:
                p.grad = p.grad.to_sparse()
        self._densified.clear()
        self._handles.clear()
        self._passes.clear()
        self._ready.clear()
        self._synchronized = True
        self._explicitly_synchronized = True  # step() clears it after its own call

    @contextlib.contextmanager
    def skip_synchronize(self):
        """Inside it, step() applies the gradients as they are, without synchronizing
        (horovod.torch's name): for a program that calls synchronize() itself first, e.g. to
        clip the reduced gradients."""
        self._skip_synchronize = True
        try:
            yield
        finally:
            self._skip_synchronize = False

    def step(self, closure=None):
        """Averages the gradients (world during warm-up, the group afterwards), applies the
        update, and every tau steps after warm-up averages the model across groups."""
        if self._skip_synchronize:
            if self._handles:
                raise AssertionError("step() inside skip_synchronize() while gradient allreduces "
                                     "are in flight: call synchronize() first")
            if not self._synchronized:
                warnings.warn("step() inside skip_synchronize() without synchronize() since the "
                              "last backward pass: this step applies this rank's own gradients")
            self._passes.clear()
            self._ready.clear()
        else:
            if self._synchronized and self._explicitly_synchronized:
                warnings.warn(
                    "optimizer.step() called without optimizer.skip_synchronize() context after "
                    "optimizer.synchronize(): the gradients were reduced already and are applied "
                    "as they are; wrap step() in `with optimizer.skip_synchronize():` to say so "
                    "(Horovod's advice)")
            self.synchronize()
        self._synchronized = False
        self._explicitly_synchronized = False
        loss = super(self.__class__, self).step(closure)
        if self._pending_round is not None and self.steps >= self._pending_round[1]:
            self.finish_averaging()
        if self._plan["average_model"]:
            tensors = [p.data for p in self._parameters]
            if self._buffer_owner is not None:
                tensors += [b.data for b in self._buffer_owner.buffers() if b.is_floating_point()]
            if self.overlap_averaging > 0:
                self._start_round(tensors)
            else:
                self.discrepancy = average_across_groups(tensors, name="model",
                                                         algorithm=self._algorithm)
        self.steps += 1
        count_step()
        self._plan = local_sgd_step(self.tau, self.warmup_steps, self.steps)
        return loss

    def _start_round(self, tensors):
        """overlap_averaging: averages a snapshot of `tensors` in the background; the difference
        the round makes to the snapshot is added to `tensors` overlap_averaging steps later."""
        if self._snapshot is None or len(self._snapshot[0]) != len(tensors) or any(
                s.shape != t.shape or s.dtype != t.dtype or s.device != t.device
                for s, t in zip(self._snapshot[0], tensors)):
            self._snapshot = ([torch.empty_like(t) for t in tensors],
                              [torch.empty_like(t) for t in tensors])
        averaged, as_taken = self._snapshot
        for t, a, b in zip(tensors, averaged, as_taken):
            a.copy_(t)
            b.copy_(t)
        handle = average_across_groups_async(averaged, name="model", algorithm=self._algorithm)
        self._pending_round = (handle, self.steps + self.overlap_averaging, tensors, averaged,
                               as_taken)

    def finish_averaging(self):
        """With overlap_averaging: waits for the averaging round in flight, if any, and applies
        it now — each tensor moves by what the round changed in its snapshot (w += avg(w_t) -
        w_t), keeping the local steps taken since. step() does this by itself
        overlap_averaging steps after the round started; call it after the last step, before
        evaluating or saving the final model. Every rank must call it at the same step (the
        members of a group must apply the round together to keep identical models)."""
        if self._pending_round is None:
            return
        handle, _, tensors, averaged, as_taken = self._pending_round
        self._pending_round = None
        self.discrepancy = handle.wait()
        with torch.no_grad():
            for t, a, b in zip(tensors, averaged, as_taken):
                t.add_(a).sub_(b)

    # The schedule's position travels with the optimizer's state, so that a run resumed from a
    # checkpoint continues its warm-up and averaging rounds where it stopped instead of starting
    # over. A plain torch optimizer ignores the extra key when it loads this state.
    _STEPS_KEY = "hilo_local_sgd_steps"

    def state_dict(self):
        state = super(self.__class__, self).state_dict()
        state[self._STEPS_KEY] = self.steps
        return state

    def load_state_dict(self, state_dict):
        if self._handles:
            raise AssertionError("load_state_dict() while gradient allreduces are in flight: "
                                 "call step() or synchronize() first")
        if self._pending_round is not None:
            raise AssertionError("load_state_dict() while an averaging round is in flight "
                                 "(overlap_averaging): call finish_averaging() first")
        steps = state_dict.get(self._STEPS_KEY)
        super(self.__class__, self).load_state_dict(
            {key: value for key, value in state_dict.items() if key != self._STEPS_KEY})
        if steps is not None:
            self.steps = int(steps)
            self._plan = local_sgd_step(self.tau, self.warmup_steps, self.steps)

    def zero_grad(self, *args, **kwargs):
        if self._handles:
            raise AssertionError("zero_grad() while gradient allreduces are in flight: call "
                                 "step() or synchronize() first")
        self._passes.clear()  # the accumulated gradients are gone: count passes afresh
        self._ready.clear()
        return super(self.__class__, self).zero_grad(*args, **kwargs)


def _gradient_groups(parameters, groups):
    """Horovod's `groups`: None or 0, no groups; an integer n, the parameters that need
    gradients split in order into n groups of nearly equal size; a list of lists of parameters
    (each parameter in at most one). Returns the groups as lists of parameters."""
    trainable = [p for p in parameters if p.requires_grad]
    if groups is None or (isinstance(groups, int) and not isinstance(groups, bool) and
                          groups == 0):
        return []
    if isinstance(groups, int) and not isinstance(groups, bool):
        if groups < 0:
            raise ValueError("groups must be a non-negative integer or a list of lists of "
                             "parameters, not %d" % groups)
        count = min(groups, len(trainable))
        base, extra = divmod(len(trainable), count) if count else (0, 0)
        chunks, start = [], 0
        for index in range(count):
            end = start + base + (1 if index < extra else 0)
            chunks.append(trainable[start:end])
            start = end
        return chunks
    known = {id(p) for p in trainable}
    seen = set()
    chunks = []
    for members in groups:
        members = list(members)
        for p in members:
            if id(p) not in known:
                raise ValueError("groups lists a tensor that is not a parameter of the optimizer "
                                 "that needs a gradient")
            if id(p) in seen:
                raise ValueError("groups lists a parameter twice")
            seen.add(id(p))
        if members:
            chunks.append(members)
    return chunks


def DistributedOptimizer(optimizer, named_parameters=None, compression=Compression.none,
                         backward_passes_per_step=1, op=Average, gradient_predivide_factor=1.0,
                         num_groups=0, groups=None, sparse_as_dense=False, tau=None,
                         warmup_steps=None, average_buffers_of=None, algorithm=None,
                         overlap_averaging=0):
    """Wraps `optimizer` for hierarchical local SGD, in the spirit of hvd.DistributedOptimizer.

    Gradients are averaged as backward produces them (hooks start each allreduce at once, so
    communication overlaps the rest of backward); step() waits for them and applies the update.
    For the first `warmup_steps` steps gradients are averaged over all ranks (synchronous SGD);
    afterwards only inside the group, and every `tau` steps the parameters — and the floating
    point buffers of `average_buffers_of` (e.g. the model, for BatchNorm statistics) — are
    averaged across groups (sharded, or `algorithm`). One group of size() ranks is exactly
    synchronous SGD; size() groups of one is plain local SGD. tau and warmup_steps default to
    hilorun's --averaging-period and --warmup-steps; with one group tau may be left out (there
    are no rounds), so a Horovod program runs unchanged. `discrepancy` holds the latest round's D.

    backward_passes_per_step (as Horovod's): the number of backward passes whose gradients
    accumulate in p.grad (torch adds them up) before each step(); the allreduce starts when a
    gradient's last pass has produced it, and one pass more before step() is an error. The
    passes' gradients are summed, not averaged (as in torch and Horovod): scale the loss by
    1 / backward_passes_per_step for their mean. tau counts step() calls.

    compression (as Horovod's): hvd.Compression.fp16 sends the gradients as float16 (half the
    bytes) and writes the reduced values back into p.grad in its own dtype. The averaging rounds
    always move the parameters in their own dtype.

    sparse_as_dense (as Horovod's): a sparse gradient (nn.Embedding(sparse=True)) is made dense
    before it is reduced; without it, a sparse gradient that must be reduced is an error.

    gradient_predivide_factor (as Horovod's, with op=Average): gradients are divided by it before
    the sum and multiplied by it after, so that float16 sums of many ranks stay in range.

    groups (as Horovod's; num_groups is its older spelling): an integer n splits the parameters
    in order into n groups, or a list of lists of parameters names them; the gradients of a
    group are sent together once every one of them is ready (so they travel in one fused
    transport call), instead of each as soon as it is ready. Parameters in no group go alone.

    overlap_averaging (hilo's; Overlap Local-SGD, Wang et al., ICASSP 2020): 0 (default), each
    averaging round blocks step() until the model is averaged. n >= 1 (at most tau): the round
    averages a copy of the model in the background while the next n steps compute (their
    gradient allreduces go on beside it), and n steps later the model moves by what the round
    changed in that copy, w += avg(w_t) - w_t, keeping the steps taken since. The link's time is
    hidden behind computation; the price is a round applied n steps late (docs/averaging.md
    measures its effect on accuracy) and one more copy of the model, twice. Call
    finish_averaging() after the last step. `discrepancy` is the applied round's D.

    The positional order is Horovod's (optimizer, named_parameters, compression,
    backward_passes_per_step, op, gradient_predivide_factor, num_groups, groups,
    sparse_as_dense); hilo's own options (tau, warmup_steps, average_buffers_of, algorithm,
    overlap_averaging) come after them.
    """
    if isinstance(backward_passes_per_step, bool) or not isinstance(backward_passes_per_step, int) \
            or backward_passes_per_step < 1:
        raise ValueError("backward_passes_per_step must be an integer >= 1, not %r"
                         % (backward_passes_per_step,))
    if op not in (Average, Sum):
        raise ValueError("op must be hvd.Average or hvd.Sum")
    gradient_predivide_factor = float(gradient_predivide_factor)
    if gradient_predivide_factor != 1.0 and op != Average:
        raise ValueError("gradient_predivide_factor applies to op=hvd.Average only")
    if not gradient_predivide_factor > 0:
        raise ValueError("gradient_predivide_factor must be positive")
    if isinstance(overlap_averaging, bool):
        overlap_averaging = int(overlap_averaging)  # True: one step later
    if not isinstance(overlap_averaging, int) or overlap_averaging < 0:
        raise ValueError("overlap_averaging must be an integer >= 0 (steps before a round's "
                         "result is applied; 0: rounds block), not %r" % (overlap_averaging,))
    if groups is None and num_groups:
        groups = num_groups
    cls = type(optimizer.__class__.__name__, (optimizer.__class__,),
               dict(_DistributedOptimizer.__dict__))
    return cls(optimizer.param_groups, named_parameters, tau, warmup_steps, op,
               average_buffers_of, algorithm, backward_passes_per_step, compression,
               bool(sparse_as_dense), gradient_predivide_factor, groups, overlap_averaging)
