"""Gradient compression for hilo.torch (horovod.torch.compression): how a tensor travels."""
import torch


class Compressor:
    """How a tensor travels (horovod.torch's interface): compress() returns the tensor to send and
    a context, decompress() turns the reduced tensor back into the original dtype."""

    @staticmethod
    def compress(tensor):
        return tensor, None

    @staticmethod
    def decompress(tensor, ctx):
        return tensor


class NoneCompressor(Compressor):
    """Sends the tensor as it is."""


class FP16Compressor(Compressor):
    """Sends floating-point tensors as float16 (half the bytes; summed in float16 by hilo's
    kernels, so large sums lose precision and may overflow past 65504) and casts the result
    back. Other dtypes travel as they are."""

    @staticmethod
    def compress(tensor):
        if tensor.dtype.is_floating_point and tensor.dtype != torch.float16:
            return tensor.to(torch.float16), tensor.dtype
        return tensor, None

    @staticmethod
    def decompress(tensor, ctx):
        return tensor if ctx is None else tensor.to(ctx)


class Compression:
    """hvd.Compression.none / hvd.Compression.fp16, as in horovod.torch."""
    none = NoneCompressor
    fp16 = FP16Compressor
