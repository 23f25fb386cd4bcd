"""Selecting CUDA code: built where a toolkit was found, unless --define=hilo_cuda=off."""

load("@cuda//:defs.bzl", "CUDA_FOUND", "CUDA_PATH")

# nvcc by its installed path: it finds its own tools (cicc, ptxas) relative to the path it was
# started from, so a symlink inside the repository will not do.
NVCC = CUDA_PATH + "/bin/nvcc"

def if_cuda(if_true, if_false = []):
    """`if_true` in builds with CUDA, `if_false` in CPU-only builds."""
    if not CUDA_FOUND:
        return if_false
    return select({
        "//:cuda_disabled": if_false,
        "//conditions:default": if_true,
    })

def cuda_only():
    """For target_compatible_with: the target exists only in builds with CUDA."""
    return if_cuda([], ["//:cuda_not_built"])
