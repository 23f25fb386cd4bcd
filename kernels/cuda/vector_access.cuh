// 16-byte access for elementwise CUDA kernels. One 4-byte element per thread per load leaves too
// few bytes in flight to keep HBM busy (1.9 TB/s of an H200's 4.8 measured for the division, where
// 16-byte loads reach 3.5 and cudaMemcpy 3.9), so kernels that read and write every element once
// load aligned data 16 bytes at a time and only the tail, or unaligned views, one element at a
// time. Device code only (included by .cu files).
#ifndef HILO_KERNELS_CUDA_VECTOR_ACCESS_CUH_
#define HILO_KERNELS_CUDA_VECTOR_ACCESS_CUH_

#include <cstdint>

namespace hilo::kernels::cuda {

constexpr int kVectorBytes = 16;

// kVectorBytes of T as one aligned struct: a load or store of it is one 16-byte access.
template <typename T>
struct alignas(kVectorBytes) Lanes {
  static constexpr int kCount = kVectorBytes / sizeof(T);
  T value[kCount];
};

inline bool IsVectorAligned(const void* data) {
  return reinterpret_cast<uintptr_t>(data) % kVectorBytes == 0;
}

}  // namespace hilo::kernels::cuda

#endif  // HILO_KERNELS_CUDA_VECTOR_ACCESS_CUH_
