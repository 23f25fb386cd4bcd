// CUDA twin of kernels::DivideInPlace (kernels/reduce.h): turns a sum on the device into an
// average. Launches on the caller's stream and returns without waiting; the result is in place
// once the stream reaches it. Thread-safe; no state.
#ifndef HILO_KERNELS_CUDA_DIVIDE_H_
#define HILO_KERNELS_CUDA_DIVIDE_H_

#include <cstdint>

#include "kernels/dtype.h"

namespace hilo::kernels::cuda {

// `device_data` is device memory; `stream` is a cudaStream_t (void* keeps CUDA headers out of
// callers). Returns the cudaError_t of the launch as an int (0 = success).
int DivideInPlaceAsync(void* device_data, int64_t count, DataType dtype, int64_t divisor,
                       void* stream);

}  // namespace hilo::kernels::cuda

#endif  // HILO_KERNELS_CUDA_DIVIDE_H_
