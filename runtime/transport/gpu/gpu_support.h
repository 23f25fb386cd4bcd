// What the GPU stack of this build and machine offers: CUDA devices and the NCCL library.
//
// Builds with CUDA (the default wherever the toolkit is installed; //third_party:cuda.bzl) link
// CUDA and NCCL; CPU-only builds compile the same interface and answer UNAVAILABLE ("built
// without CUDA"). Whether a GPU is usable is a run-time question answered here, so that tests can
// skip with a reason and `hilorun --check-build` can report what is available. Thread-safe; no
// state.
#ifndef HILO_RUNTIME_TRANSPORT_GPU_GPU_SUPPORT_H_
#define HILO_RUNTIME_TRANSPORT_GPU_GPU_SUPPORT_H_

#include <string>

#include "absl/status/statusor.h"

namespace hilo::transport {

// Whether this build has the CUDA kernels and the NCCL data plane.
bool BuiltWithCuda();

// Number of usable CUDA devices; UNAVAILABLE with CUDA's reason when there are none (no driver,
// no device, CPU-only build, ...).
absl::StatusOr<int> CudaDeviceCount();

// NCCL_VERSION_CODE of the NCCL library loaded at run time (e.g. 22809 for 2.28.9).
absl::StatusOr<int> NcclRuntimeVersion();

// NCCL_VERSION_CODE of the nccl.h this build was compiled against; 0 in CPU-only builds.
int NcclHeaderVersion();

// "2.28.9" from a version code.
std::string NcclVersionString(int code);

}  // namespace hilo::transport

#endif  // HILO_RUNTIME_TRANSPORT_GPU_GPU_SUPPORT_H_
