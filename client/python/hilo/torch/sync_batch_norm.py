"""hilo.torch.SyncBatchNorm (horovod.torch.sync_batch_norm): batch statistics over the ranks of a
communicator."""
import itertools

import torch

from hilo import GROUP, Sum, WORLD, _communicator, allreduce_, group_size, size


class _SyncBatchNormFunction(torch.autograd.Function):
    """Batch normalization over the union of the batches of a communicator's ranks: forward sums
    each channel's count, sum and sum of squares over the ranks (one allreduce, in float64 so
    that var = E[x^2] - E[x]^2 keeps its digits); backward sums the two per-channel terms of the
    input gradient (one allreduce). The weight and bias gradients stay this rank's own, as in
    torch's SyncBatchNorm: the gradient allreduce of DistributedOptimizer combines them."""

    @staticmethod
    def forward(ctx, input, weight, bias, running_mean, running_var, eps, momentum, name,
                communicator):
        channels = input.shape[1]
        dims = [0] + list(range(2, input.dim()))
        shape = [1, channels] + [1] * (input.dim() - 2)
        x = input.double()
        count = input.numel() // channels
        stats = torch.cat([x.sum(dims), (x * x).sum(dims),
                           torch.tensor([float(count)], dtype=torch.float64, device=input.device)])
        allreduce_(stats, name=name + ".forward", op=Sum, communicator=communicator)
        total = stats[-1].item()
        mean = stats[:channels] / total
        var = (stats[channels:2 * channels] / total - mean * mean).clamp_(min=0)
        invstd = torch.rsqrt(var + eps)
        if running_mean is not None:
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(mean.to(running_mean.dtype), alpha=momentum)
                unbiased = var * (total / max(total - 1, 1))
                running_var.mul_(1 - momentum).add_(unbiased.to(running_var.dtype), alpha=momentum)
        mean = mean.to(input.dtype).view(shape)
        invstd = invstd.to(input.dtype).view(shape)
        normalized = (input - mean) * invstd
        output = normalized
        if weight is not None:
            output = output * weight.view(shape) + bias.view(shape)
        ctx.save_for_backward(normalized, weight, invstd)
        ctx.total = total
        ctx.name = name
        ctx.communicator = communicator
        ctx.dims = dims
        ctx.shape = shape
        return output

    @staticmethod
    def backward(ctx, grad_output):
        normalized, weight, invstd = ctx.saved_tensors
        channels = normalized.shape[1]
        local = torch.cat([grad_output.sum(ctx.dims), (grad_output * normalized).sum(ctx.dims)])
        grad_weight = grad_bias = None
        if weight is not None:
            grad_weight = local[channels:].clone().to(weight.dtype)
            grad_bias = local[:channels].clone().to(weight.dtype)
        summed = local.double()
        allreduce_(summed, name=ctx.name + ".backward", op=Sum, communicator=ctx.communicator)
        mean_dy = (summed[:channels] / ctx.total).to(grad_output.dtype).view(ctx.shape)
        mean_dy_normalized = (summed[channels:] / ctx.total).to(grad_output.dtype).view(ctx.shape)
        scale = invstd if weight is None else invstd * weight.view(ctx.shape)
        grad_input = scale * (grad_output - mean_dy - normalized * mean_dy_normalized)
        return grad_input, grad_weight, grad_bias, None, None, None, None, None, None


class SyncBatchNorm(torch.nn.modules.batchnorm._BatchNorm):
    """horovod.torch's SyncBatchNorm: in training, the batch statistics are those of the union of
    the batches of every rank in `communicator`, so that small per-rank batches normalize as one
    large batch. Default: this rank's group — the ranks that run synchronous SGD together (with
    one group, every rank, as in Horovod); the groups' statistics meet in the averaging rounds
    (DistributedOptimizer's average_buffers_of). In eval mode, or on a communicator of one rank,
    it is torch's BatchNorm. Every rank of the communicator must run the layer the same number
    of times, and create its SyncBatchNorm layers in the same order (their collectives are named
    by that order)."""

    _created = itertools.count()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, communicator=GROUP):
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.communicator = communicator
        self._hilo_name = "sync_batch_norm.%d" % next(SyncBatchNorm._created)

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError("SyncBatchNorm expects an input of at least 2 dimensions (N, C, ...), "
                             "got %dD" % input.dim())

    def forward(self, input):
        self._check_input_dim(input)
        communicator_size = {WORLD: size, GROUP: group_size}.get(_communicator(self.communicator))
        alone = communicator_size is not None and communicator_size() == 1
        if not self.training or alone:
            return super().forward(input)
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if momentum is None:  # cumulative moving average, as torch's BatchNorm
                momentum = 1.0 / float(self.num_batches_tracked)
        return _SyncBatchNormFunction.apply(
            input, self.weight, self.bias,
            self.running_mean if self.track_running_stats else None,
            self.running_var if self.track_running_stats else None,
            self.eps, momentum, self._hilo_name, self.communicator)
