#include "runtime/transport/gpu/gpu_support.h"

#ifdef HILO_WITH_CUDA
#include <cuda_runtime.h>
#include <nccl.h>
#endif

#include "absl/strings/str_cat.h"

namespace hilo::transport {

#ifdef HILO_WITH_CUDA

bool BuiltWithCuda() { return true; }

absl::StatusOr<int> CudaDeviceCount() {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    return absl::UnavailableError(
        absl::StrCat("cudaGetDeviceCount: ", cudaGetErrorString(error)));
  }
  if (count == 0) return absl::UnavailableError("cudaGetDeviceCount: no CUDA device");
  return count;
}

absl::StatusOr<int> NcclRuntimeVersion() {
  int version = 0;
  const ncclResult_t result = ncclGetVersion(&version);
  if (result != ncclSuccess) {
    return absl::UnavailableError(absl::StrCat("ncclGetVersion: ", ncclGetErrorString(result)));
  }
  return version;
}

int NcclHeaderVersion() { return NCCL_VERSION_CODE; }

#else  // CPU-only build

bool BuiltWithCuda() { return false; }

absl::StatusOr<int> CudaDeviceCount() {
  return absl::UnavailableError("this hilo was built without CUDA");
}

absl::StatusOr<int> NcclRuntimeVersion() {
  return absl::UnavailableError("this hilo was built without NCCL");
}

int NcclHeaderVersion() { return 0; }

#endif

std::string NcclVersionString(int code) {
  // NCCL encodes 2.8.x and older as X*1000+Y*100+Z, newer ones as X*10000+Y*100+Z.
  if (code < 10000) return absl::StrCat(code / 1000, ".", (code % 1000) / 100, ".", code % 100);
  return absl::StrCat(code / 10000, ".", (code % 10000) / 100, ".", code % 100);
}

}  // namespace hilo::transport
