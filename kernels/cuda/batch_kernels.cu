#include "kernels/cuda/batch_kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "kernels/cuda/divide_one.cuh"
#include "kernels/cuda/vector_access.cuh"

namespace hilo::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 4096;

int BlocksFor(int64_t work) {
  const int64_t wanted = (work + kThreads - 1) / kThreads;
  return static_cast<int>(wanted < 1 ? 1 : (wanted < kMaxBlocks ? wanted : kMaxBlocks));
}

// ---- casts ----------------------------------------------------------------------------------

__global__ void FloatToHalfKernel(const float* in, __half* out, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{blockDim.x} * gridDim.x) {
    out[i] = __float2half_rn(in[i]);
  }
}
__global__ void FloatToBFloat16Kernel(const float* in, __nv_bfloat16* out, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{blockDim.x} * gridDim.x) {
    out[i] = __float2bfloat16_rn(in[i]);
  }
}
__global__ void HalfToFloatKernel(const __half* in, float* out, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{blockDim.x} * gridDim.x) {
    out[i] = __half2float(in[i]);
  }
}
__global__ void BFloat16ToFloatKernel(const __nv_bfloat16* in, float* out, int64_t count) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count;
       i += int64_t{blockDim.x} * gridDim.x) {
    out[i] = __bfloat162float(in[i]);
  }
}

// ---- batched pack / unpack --------------------------------------------------------------------

// Copies `bytes` bytes with the widest access both pointers allow: 16-byte vectors when both are
// 16-byte aligned (the usual case: framework allocations and 16-byte aligned fusion offsets),
// else 4-byte words, else bytes. The block's threads stride over the slice.
__device__ void CopySlice(char* dst, const char* src, int64_t bytes, int64_t first, int64_t stride) {
  const unsigned long long alignment =
      reinterpret_cast<unsigned long long>(dst) | reinterpret_cast<unsigned long long>(src);
  int64_t done = 0;
  if ((alignment & 15) == 0) {
    const int64_t vectors = bytes / 16;
    const uint4* in = reinterpret_cast<const uint4*>(src);
    uint4* out = reinterpret_cast<uint4*>(dst);
    for (int64_t i = first; i < vectors; i += stride) out[i] = in[i];
    done = vectors * 16;
  } else if ((alignment & 3) == 0) {
    const int64_t words = bytes / 4;
    const uint32_t* in = reinterpret_cast<const uint32_t*>(src);
    uint32_t* out = reinterpret_cast<uint32_t*>(dst);
    for (int64_t i = first; i < words; i += stride) out[i] = in[i];
    done = words * 4;
  }
  for (int64_t i = done + first; i < bytes; i += stride) dst[i] = src[i];
}

// grid.y walks the slices (striding when there are more than 65535); grid.x splits a slice.
template <bool kPack>
__global__ void BatchCopyKernel(const DeviceSlice* slices, int num_slices, char* buffer) {
  const int64_t stride = int64_t{blockDim.x} * gridDim.x;
  const int64_t first = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  for (int s = blockIdx.y; s < num_slices; s += gridDim.y) {
    const DeviceSlice slice = slices[s];
    char* in_buffer = buffer + slice.offset;
    char* tensor = static_cast<char*>(slice.tensor);
    if (kPack) {
      CopySlice(in_buffer, tensor, slice.bytes, first, stride);
    } else {
      CopySlice(tensor, in_buffer, slice.bytes, first, stride);
    }
  }
}

template <bool kPack>
int LaunchBatchCopy(const DeviceSlice* slices, int num_slices, int64_t largest_bytes,
                    void* buffer, cudaStream_t stream) {
  if (num_slices == 0 || largest_bytes == 0) return cudaSuccess;
  // Enough blocks per slice to cover the largest in 16-byte vectors, within a total budget.
  const int per_slice_budget = num_slices >= kMaxBlocks ? 1 : kMaxBlocks / num_slices;
  int blocks_x = BlocksFor((largest_bytes + 15) / 16);
  if (blocks_x > per_slice_budget) blocks_x = per_slice_budget;
  const dim3 grid(blocks_x, num_slices < 65535 ? num_slices : 65535);
  BatchCopyKernel<kPack><<<grid, kThreads, 0, stream>>>(slices, num_slices,
                                                        static_cast<char*>(buffer));
  return static_cast<int>(cudaGetLastError());
}

// ---- squared norms ----------------------------------------------------------------------------

template <typename T>
__device__ double Widen(T v) { return static_cast<double>(v); }
template <>
__device__ double Widen<__half>(__half v) { return static_cast<double>(__half2float(v)); }
template <>
__device__ double Widen<__nv_bfloat16>(__nv_bfloat16 v) {
  return static_cast<double>(__bfloat162float(v));
}

// One element's contribution to the squared norm, dividing it in place first when kDivide.
template <typename T, bool kDivide>
__device__ double SquareOne(T& value, int64_t divisor) {
  if (kDivide) value = DivideOne<T>(value, divisor);
  const double widened = Widen<T>(value);
  return widened * widened;
}

// Each thread sums in float64, the block reduces in shared memory, one atomic per block. Aligned
// data is read (and, dividing, written) 16 bytes at a time (vector_access.cuh).
template <typename T, bool kDivide>
__global__ void NormKernel(T* data, int64_t count, int64_t divisor, bool aligned, double* result) {
  __shared__ double partial[kThreads];
  const int64_t stride = int64_t{blockDim.x} * gridDim.x;
  const int64_t first = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  double sum = 0;
  int64_t scalar_from = 0;
  if (aligned) {
    const int64_t vectors = count / Lanes<T>::kCount;
    Lanes<T>* packed = reinterpret_cast<Lanes<T>*>(data);
    for (int64_t v = first; v < vectors; v += stride) {
      Lanes<T> lanes = packed[v];
#pragma unroll
      for (int lane = 0; lane < Lanes<T>::kCount; ++lane) {
        sum += SquareOne<T, kDivide>(lanes.value[lane], divisor);
      }
      if (kDivide) packed[v] = lanes;
    }
    scalar_from = vectors * Lanes<T>::kCount;
  }
  for (int64_t i = scalar_from + first; i < count; i += stride) {
    T value = data[i];
    sum += SquareOne<T, kDivide>(value, divisor);
    if (kDivide) data[i] = value;
  }
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) atomicAdd(result, partial[0]);
}

template <typename T, bool kDivide>
int LaunchNorm(const void* data, int64_t count, int64_t divisor, double* result,
               cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  const bool aligned = IsVectorAligned(data);
  const int64_t work = aligned ? count / Lanes<T>::kCount + 1 : count;
  NormKernel<T, kDivide><<<BlocksFor(work), kThreads, 0, stream>>>(
      static_cast<T*>(const_cast<void*>(data)), count, divisor, aligned, result);
  return static_cast<int>(cudaGetLastError());
}

template <bool kDivide>
int NormFor(const void* data, int64_t count, DataType dtype, int64_t divisor, double* result,
            cudaStream_t stream) {
  switch (dtype) {
    case DataType::kFloat32: return LaunchNorm<float, kDivide>(data, count, divisor, result, stream);
    case DataType::kFloat64: return LaunchNorm<double, kDivide>(data, count, divisor, result, stream);
    case DataType::kFloat16: return LaunchNorm<__half, kDivide>(data, count, divisor, result, stream);
    case DataType::kBFloat16:
      return LaunchNorm<__nv_bfloat16, kDivide>(data, count, divisor, result, stream);
    case DataType::kInt32: return LaunchNorm<int32_t, kDivide>(data, count, divisor, result, stream);
    case DataType::kInt64: return LaunchNorm<int64_t, kDivide>(data, count, divisor, result, stream);
  }
  return static_cast<int>(cudaErrorInvalidValue);
}

}  // namespace

int CastFromFloat32Async(const float* in, void* out, int64_t count, DataType to, void* stream) {
  if (count == 0) return cudaSuccess;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (to == DataType::kFloat16) {
    FloatToHalfKernel<<<BlocksFor(count), kThreads, 0, s>>>(in, static_cast<__half*>(out), count);
  } else if (to == DataType::kBFloat16) {
    FloatToBFloat16Kernel<<<BlocksFor(count), kThreads, 0, s>>>(
        in, static_cast<__nv_bfloat16*>(out), count);
  } else {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  return static_cast<int>(cudaGetLastError());
}

int CastToFloat32Async(const void* in, DataType from, float* out, int64_t count, void* stream) {
  if (count == 0) return cudaSuccess;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (from == DataType::kFloat16) {
    HalfToFloatKernel<<<BlocksFor(count), kThreads, 0, s>>>(static_cast<const __half*>(in), out,
                                                            count);
  } else if (from == DataType::kBFloat16) {
    BFloat16ToFloatKernel<<<BlocksFor(count), kThreads, 0, s>>>(
        static_cast<const __nv_bfloat16*>(in), out, count);
  } else {
    return static_cast<int>(cudaErrorInvalidValue);
  }
  return static_cast<int>(cudaGetLastError());
}

int PackAsync(const DeviceSlice* slices, int num_slices, int64_t largest_bytes, void* buffer,
              void* stream) {
  return LaunchBatchCopy<true>(slices, num_slices, largest_bytes, buffer,
                               static_cast<cudaStream_t>(stream));
}

int UnpackAsync(const void* buffer, const DeviceSlice* slices, int num_slices,
                int64_t largest_bytes, void* stream) {
  return LaunchBatchCopy<false>(slices, num_slices, largest_bytes, const_cast<void*>(buffer),
                                static_cast<cudaStream_t>(stream));
}

int SquaredNormAsync(const void* data, int64_t count, DataType dtype, double* device_result,
                     void* stream) {
  return NormFor<false>(data, count, dtype, 1, device_result, static_cast<cudaStream_t>(stream));
}

int DivideAndSquaredNormAsync(void* data, int64_t count, DataType dtype, int64_t divisor,
                              double* device_result, void* stream) {
  return NormFor<true>(data, count, dtype, divisor, device_result,
                       static_cast<cudaStream_t>(stream));
}

}  // namespace hilo::kernels::cuda
