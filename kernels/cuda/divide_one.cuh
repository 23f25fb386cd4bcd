// The division of one element, as the CPU twin (kernels/reduce.h) does it: native types in their
// own precision, 16-bit floats through float32 and rounded once to nearest. Shared by the division
// kernel and the fused division and squared norm, so both stay bit-exact with the CPU. Device code
// only (included by .cu files).
#ifndef HILO_KERNELS_CUDA_DIVIDE_ONE_CUH_
#define HILO_KERNELS_CUDA_DIVIDE_ONE_CUH_

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace hilo::kernels::cuda {

template <typename T>
inline __device__ T DivideOne(T v, int64_t divisor) {
  return v / static_cast<T>(divisor);
}
template <>
inline __device__ __half DivideOne<__half>(__half v, int64_t divisor) {
  return __float2half_rn(__half2float(v) / static_cast<float>(divisor));
}
template <>
inline __device__ __nv_bfloat16 DivideOne<__nv_bfloat16>(__nv_bfloat16 v, int64_t divisor) {
  return __float2bfloat16_rn(__bfloat162float(v) / static_cast<float>(divisor));
}

}  // namespace hilo::kernels::cuda

#endif  // HILO_KERNELS_CUDA_DIVIDE_ONE_CUH_
