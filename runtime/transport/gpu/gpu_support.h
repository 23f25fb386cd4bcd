// What the GPU stack of this build and machine offers: CUDA devices and the NCCL library.
//
// hilo always compiles and links CUDA and NCCL (from /usr/local/cuda); whether a GPU is usable is
// a run-time question answered here, so that tests can skip with a reason and the launcher can
// report what is available. Also the link-time proof that the NCCL data plane's dependency
// resolves. Thread-safe; no state.
#ifndef HILO_RUNTIME_TRANSPORT_GPU_GPU_SUPPORT_H_
#define HILO_RUNTIME_TRANSPORT_GPU_GPU_SUPPORT_H_

#include <string>

#include "absl/status/statusor.h"

namespace hilo::transport {

// Number of usable CUDA devices; UNAVAILABLE with CUDA's reason when there are none (no driver,
// no device, ...).
absl::StatusOr<int> CudaDeviceCount();

// NCCL_VERSION_CODE of the NCCL library loaded at run time (e.g. 22809 for 2.28.9).
absl::StatusOr<int> NcclRuntimeVersion();

// NCCL_VERSION_CODE of the nccl.h this build was compiled against.
int NcclHeaderVersion();

// "2.28.9" from a version code.
std::string NcclVersionString(int code);

}  // namespace hilo::transport

#endif  // HILO_RUNTIME_TRANSPORT_GPU_GPU_SUPPORT_H_
