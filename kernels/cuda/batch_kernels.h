// CUDA twins of the CPU kernels in kernels/kernel_set.cc: casts, batched pack/unpack, and the
// discrepancy metric's squared norms. Launch-level functions: each enqueues its work on `stream`
// (a cudaStream_t passed as void*, so that callers need no CUDA headers), returns the launch's
// cudaError_t as an int (0 = success) and does not wait. CudaKernelSet (cuda_kernel_set.h) wraps
// them behind the KernelSet interface. Thread-safe; no state.
#ifndef HILO_KERNELS_CUDA_BATCH_KERNELS_H_
#define HILO_KERNELS_CUDA_BATCH_KERNELS_H_

#include <cstdint>

#include "kernels/dtype.h"

namespace hilo::kernels::cuda {

// Same layout as kernels::PackSlice.
struct DeviceSlice {
  void* tensor;
  int64_t offset;
  int64_t bytes;
};

// `to`/`from` is kFloat16 or kBFloat16; round to nearest even, as the CPU twin.
int CastFromFloat32Async(const float* in, void* out, int64_t count, DataType to, void* stream);
int CastToFloat32Async(const void* in, DataType from, float* out, int64_t count, void* stream);

// One launch for all slices. `slices` is an array of `num_slices` DeviceSlice in DEVICE memory
// (the descriptors are read by the kernel); the largest slice has `largest_bytes` bytes.
int PackAsync(const DeviceSlice* slices, int num_slices, int64_t largest_bytes, void* buffer,
              void* stream);
int UnpackAsync(const void* buffer, const DeviceSlice* slices, int num_slices,
                int64_t largest_bytes, void* stream);

// Adds sum(data[i]^2) in float64 to *device_result (device memory; the caller zeroes it).
int SquaredNormAsync(const void* data, int64_t count, DataType dtype, double* device_result,
                     void* stream);
// data[i] /= divisor (DivideInPlace semantics), then adds the squared norm of the result.
int DivideAndSquaredNormAsync(void* data, int64_t count, DataType dtype, int64_t divisor,
                              double* device_result, void* stream);

}  // namespace hilo::kernels::cuda

#endif  // HILO_KERNELS_CUDA_BATCH_KERNELS_H_
