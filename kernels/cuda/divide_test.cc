// Checks the CUDA division kernel against its CPU twin. Skips (with the reason) on machines
// without a usable GPU, which is every CI machine; the GPU machine runs it for real.
#include "kernels/cuda/divide.h"

#include <cuda_runtime.h>

#include <cstring>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/half.h"
#include "kernels/reduce.h"

namespace hilo::kernels::cuda {
namespace {

void SkipWithoutGpu() {
  int devices = 0;
  const cudaError_t error = cudaGetDeviceCount(&devices);
  if (error != cudaSuccess || devices == 0) {
    GTEST_SKIP() << "no usable CUDA device (" << cudaGetErrorString(error) << ")";
  }
}

// Divides `input` placed `offset` elements into a device buffer (offset 1 is not 16-byte aligned,
// which takes the scalar kernel; 0 takes the 16-byte one), bit for bit as the CPU twin does, and
// leaves the element in front of it alone.
template <typename T>
void ExpectMatchesCpu(const std::vector<T>& input, DataType dtype, int64_t divisor,
                      size_t offset) {
  std::vector<T> expected = input;
  DivideInPlace(expected.data(), static_cast<int64_t>(expected.size()), dtype, divisor);
  void* device = nullptr;
  const size_t bytes = input.size() * sizeof(T);
  ASSERT_EQ(cudaMalloc(&device, bytes + (offset + 1) * sizeof(T)), cudaSuccess);
  T* placed = static_cast<T*>(device) + offset;
  ASSERT_EQ(cudaMemset(device, 0x5a, (offset + 1) * sizeof(T) + bytes), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(placed, input.data(), bytes, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(DivideInPlaceAsync(placed, static_cast<int64_t>(input.size()), dtype, divisor, nullptr),
            0);
  std::vector<T> actual(input.size() + 1);
  ASSERT_EQ(cudaMemcpy(actual.data(), placed, bytes + sizeof(T), cudaMemcpyDeviceToHost),
            cudaSuccess);
  cudaFree(device);
  EXPECT_EQ(0, std::memcmp(actual.data(), expected.data(), bytes))
      << DataTypeName(dtype) << " at offset " << offset << ", " << input.size() << " elements";
  T untouched;
  std::memset(&untouched, 0x5a, sizeof(T));
  EXPECT_EQ(0, std::memcmp(&actual.back(), &untouched, sizeof(T))) << "wrote past the end";
}

TEST(CudaDivideTest, MatchesCpuTwinForEveryDtype) {
  SkipWithoutGpu();
  if (IsSkipped()) return;
  // 100003: a tail shorter than one 16-byte vector for every dtype.
  std::vector<float> f(100003);
  std::vector<double> d(f.size());
  std::vector<uint16_t> h(f.size()), bf(f.size());
  std::vector<int32_t> i32(f.size());
  std::vector<int64_t> i64(f.size());
  for (size_t i = 0; i < f.size(); ++i) {
    f[i] = static_cast<float>(i) * 0.37f - 1000.0f;
    d[i] = f[i];
    h[i] = FloatToFloat16(f[i] / 64);
    bf[i] = FloatToBFloat16(f[i]);
    i32[i] = static_cast<int32_t>(i) - 5000;
    i64[i] = (static_cast<int64_t>(i) << 20) - 7;
  }
  for (size_t offset : {0, 1}) {
    ExpectMatchesCpu(f, DataType::kFloat32, 3, offset);
    ExpectMatchesCpu(d, DataType::kFloat64, 3, offset);
    ExpectMatchesCpu(h, DataType::kFloat16, 3, offset);
    ExpectMatchesCpu(bf, DataType::kBFloat16, 3, offset);
    ExpectMatchesCpu(i32, DataType::kInt32, 3, offset);
    ExpectMatchesCpu(i64, DataType::kInt64, 3, offset);
  }
}

}  // namespace
}  // namespace hilo::kernels::cuda
