// KernelSet on CUDA device memory: every call is enqueued on one CUDA stream and returns without
// waiting (the norms, which return a value, wait for their result). Errors name the call and the
// device. See kernels/kernel_set.h for the contract and batch_kernels.h for the kernels.
#ifndef HILO_KERNELS_CUDA_CUDA_KERNEL_SET_H_
#define HILO_KERNELS_CUDA_CUDA_KERNEL_SET_H_

#include <memory>

#include "absl/status/statusor.h"
#include "kernels/kernel_set.h"

namespace hilo::kernels::cuda {

// A KernelSet on `device`, enqueueing on `stream` (a cudaStream_t as void*; nullptr: a new
// non-blocking stream owned by the set). UNAVAILABLE when there is no such CUDA device.
absl::StatusOr<std::unique_ptr<KernelSet>> MakeCudaKernelSet(int device, void* stream = nullptr);

// A Workspace in device memory on `device`. Growing synchronizes `stream` (a cudaStream_t as
// void*, the one the buffer's users run on) before freeing the old buffer.
std::unique_ptr<Workspace> MakeCudaWorkspace(int device, void* stream);

}  // namespace hilo::kernels::cuda

#endif  // HILO_KERNELS_CUDA_CUDA_KERNEL_SET_H_
