#include "kernels/cuda/divide.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace hilo::kernels::cuda {
namespace {

template <typename T>
__global__ void DivideKernel(T* data, int64_t count, T divisor) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{blockDim.x} * gridDim.x) {
    data[i] = data[i] / divisor;
  }
}

// 16-bit floats divide in float32 and round once, exactly as the CPU twin does.
template <typename T>
__global__ void Divide16Kernel(T* data, int64_t count, float divisor) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{blockDim.x} * gridDim.x) {
    data[i] = T(float(data[i]) / divisor);
  }
}

template <typename Kernel, typename T, typename D>
int Launch(Kernel kernel, void* data, int64_t count, D divisor, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  constexpr int kThreads = 256;
  const int64_t wanted = (count + kThreads - 1) / kThreads;
  const int blocks = static_cast<int>(wanted < 65535 ? wanted : 65535);
  kernel<<<blocks, kThreads, 0, stream>>>(static_cast<T*>(data), count, divisor);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace

int DivideInPlaceAsync(void* device_data, int64_t count, DataType dtype, int64_t divisor,
                       void* stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case DataType::kFloat32:
      return Launch<decltype(&DivideKernel<float>), float>(DivideKernel<float>, device_data, count,
                                                           static_cast<float>(divisor), s);
    case DataType::kFloat64:
      return Launch<decltype(&DivideKernel<double>), double>(
          DivideKernel<double>, device_data, count, static_cast<double>(divisor), s);
    case DataType::kFloat16:
      return Launch<decltype(&Divide16Kernel<__half>), __half>(
          Divide16Kernel<__half>, device_data, count, static_cast<float>(divisor), s);
    case DataType::kBFloat16:
      return Launch<decltype(&Divide16Kernel<__nv_bfloat16>), __nv_bfloat16>(
          Divide16Kernel<__nv_bfloat16>, device_data, count, static_cast<float>(divisor), s);
    case DataType::kInt32:
      return Launch<decltype(&DivideKernel<int32_t>), int32_t>(
          DivideKernel<int32_t>, device_data, count, static_cast<int32_t>(divisor), s);
    case DataType::kInt64:
      return Launch<decltype(&DivideKernel<int64_t>), int64_t>(DivideKernel<int64_t>, device_data,
                                                               count, divisor, s);
  }
  return static_cast<int>(cudaErrorInvalidValue);
}

}  // namespace hilo::kernels::cuda
