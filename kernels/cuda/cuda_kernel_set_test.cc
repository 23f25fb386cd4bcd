// The CUDA kernel set against its CPU twins (kernels/kernel_set.h). Skips, saying why, on machines
// without a usable GPU; the GPU machine runs it for real.
#include "kernels/cuda/cuda_kernel_set.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/half.h"
#include "kernels/kernel_set.h"

namespace hilo::kernels::cuda {
namespace {

// Device memory holding a copy of `bytes`, freed at scope exit.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) { cudaMalloc(&data_, bytes == 0 ? 1 : bytes); }
  // A cudaMemcpy from pageable memory may return before its DMA lands, and the kernel set's
  // stream is non-blocking (it does not wait for the legacy stream): wait for the device.
  DeviceBuffer(const void* host, size_t bytes) : DeviceBuffer(bytes) {
    cudaMemcpy(data_, host, bytes, cudaMemcpyHostToDevice);
    cudaDeviceSynchronize();
  }
  ~DeviceBuffer() { cudaFree(data_); }
  void* get() const { return data_; }
  std::vector<char> Read() const {
    std::vector<char> host(bytes_);
    cudaMemcpy(host.data(), data_, bytes_, cudaMemcpyDeviceToHost);
    return host;
  }

 private:
  void* data_ = nullptr;
  size_t bytes_;
};

class CudaKernelSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<KernelSet>> set = MakeCudaKernelSet(0);
    if (!set.ok()) GTEST_SKIP() << "no usable CUDA device: " << set.status().message();
    gpu_ = *std::move(set);
    cpu_ = MakeCpuKernelSet();
  }

  // Random values of `dtype` that do not overflow when squared and summed.
  static std::vector<char> RandomValues(DataType dtype, int64_t count, unsigned seed) {
    std::mt19937 random(seed);
    std::uniform_real_distribution<float> uniform(-100.0f, 100.0f);
    std::vector<char> bytes(count * DataTypeSize(dtype));
    for (int64_t i = 0; i < count; ++i) {
      const float v = uniform(random);
      char* out = bytes.data() + i * DataTypeSize(dtype);
      switch (dtype) {
        case DataType::kFloat32: std::memcpy(out, &v, 4); break;
        case DataType::kFloat64: { double d = v * 1.000001; std::memcpy(out, &d, 8); break; }
        case DataType::kFloat16: { uint16_t h = FloatToFloat16(v); std::memcpy(out, &h, 2); break; }
        case DataType::kBFloat16: { uint16_t h = FloatToBFloat16(v); std::memcpy(out, &h, 2); break; }
        case DataType::kInt32: { int32_t x = static_cast<int32_t>(v * 1000); std::memcpy(out, &x, 4); break; }
        case DataType::kInt64: { int64_t x = static_cast<int64_t>(v * 1e6); std::memcpy(out, &x, 8); break; }
      }
    }
    return bytes;
  }

  std::unique_ptr<KernelSet> gpu_, cpu_;
};

constexpr DataType kAllDtypes[] = {DataType::kFloat32, DataType::kFloat64, DataType::kFloat16,
                                   DataType::kBFloat16, DataType::kInt32, DataType::kInt64};

TEST_F(CudaKernelSetTest, DivideIsBitExactForEveryDtype) {
  for (DataType dtype : kAllDtypes) {
    const int64_t count = 100003;
    std::vector<char> host = RandomValues(dtype, count, 1);
    DeviceBuffer device(host.data(), host.size());
    ASSERT_TRUE(cpu_->Divide(host.data(), count, dtype, 7).ok());
    ASSERT_TRUE(gpu_->Divide(device.get(), count, dtype, 7).ok());
    ASSERT_TRUE(gpu_->Synchronize().ok());
    EXPECT_EQ(device.Read(), host) << DataTypeName(dtype);
  }
}

TEST_F(CudaKernelSetTest, CastsAreBitExact) {
  const int64_t count = 65537;
  std::vector<char> floats = RandomValues(DataType::kFloat32, count, 2);
  DeviceBuffer device_floats(floats.data(), floats.size());
  for (DataType dtype : {DataType::kFloat16, DataType::kBFloat16}) {
    std::vector<uint16_t> expected(count);
    ASSERT_TRUE(cpu_->CastFromFloat32(reinterpret_cast<const float*>(floats.data()),
                                      expected.data(), count, dtype).ok());
    DeviceBuffer halves(count * 2);
    ASSERT_TRUE(gpu_->CastFromFloat32(static_cast<const float*>(device_floats.get()), halves.get(),
                                      count, dtype).ok());
    ASSERT_TRUE(gpu_->Synchronize().ok());
    std::vector<char> actual = halves.Read();
    EXPECT_EQ(0, std::memcmp(actual.data(), expected.data(), count * 2)) << DataTypeName(dtype);
    std::vector<float> widened(count);
    ASSERT_TRUE(cpu_->CastToFloat32(expected.data(), dtype, widened.data(), count).ok());
    DeviceBuffer back(count * 4);
    ASSERT_TRUE(gpu_->CastToFloat32(halves.get(), dtype, static_cast<float*>(back.get()), count).ok());
    ASSERT_TRUE(gpu_->Synchronize().ok());
    std::vector<char> back_host = back.Read();
    EXPECT_EQ(0, std::memcmp(back_host.data(), widened.data(), count * 4)) << DataTypeName(dtype);
  }
}

TEST_F(CudaKernelSetTest, BatchedPackAndUnpackMatchTheCpu) {
  // Aligned and odd sizes (the 4-byte and byte paths), and more slices than one grid row.
  for (int num_tensors : {1, 100, 70000}) {
    std::vector<std::unique_ptr<DeviceBuffer>> tensors;
    std::vector<std::vector<char>> host_tensors;
    std::vector<PackSlice> device_slices, host_slices;
    int64_t offset = 0;
    for (int t = 0; t < num_tensors; ++t) {
      const int64_t bytes = num_tensors > 1000 ? 4 + (t % 3) : (t % 2 == 0 ? 4096 : 4 * t + 1);
      host_tensors.push_back(RandomValues(DataType::kInt32, (bytes + 3) / 4, t));
      host_tensors.back().resize(bytes);
      tensors.push_back(std::make_unique<DeviceBuffer>(host_tensors.back().data(), bytes));
      device_slices.push_back({tensors.back()->get(), offset, bytes});
      host_slices.push_back({host_tensors.back().data(), offset, bytes});
      offset += bytes;
    }
    std::vector<char> expected(offset);
    ASSERT_TRUE(cpu_->Pack(host_slices, expected.data()).ok());
    DeviceBuffer buffer(offset);
    ASSERT_TRUE(gpu_->Pack(device_slices, buffer.get()).ok());
    ASSERT_TRUE(gpu_->Synchronize().ok());
    ASSERT_EQ(buffer.Read(), expected) << num_tensors << " tensors";
    for (auto& tensor : tensors) cudaMemset(tensor->get(), 0, 1);
    ASSERT_TRUE(gpu_->Unpack(buffer.get(), device_slices).ok());
    ASSERT_TRUE(gpu_->Synchronize().ok());
    for (int t = 0; t < num_tensors; ++t) {
      ASSERT_EQ(tensors[t]->Read(), host_tensors[t]) << "tensor " << t << " of " << num_tensors;
    }
  }
}

TEST_F(CudaKernelSetTest, NormsMatchTheCpuWithinFloat64Rounding) {
  // Offset 0 takes the 16-byte loads, offset 1 (not 16-byte aligned) one element at a time; the
  // odd count leaves a tail shorter than one vector for every dtype.
  const int64_t count = (1 << 20) + 3;
  for (DataType dtype : kAllDtypes) {
    for (int64_t offset : {0, 1}) {
      const size_t element = DataTypeSize(dtype);
      std::vector<char> host = RandomValues(dtype, count, 3);
      std::vector<char> placed(static_cast<size_t>(offset) * element, 0);
      placed.insert(placed.end(), host.begin(), host.end());
      DeviceBuffer buffer(placed.data(), placed.size());
      void* device = static_cast<char*>(buffer.get()) + offset * element;
      const double expected = *cpu_->SquaredNorm(host.data(), count, dtype);
      const absl::StatusOr<double> actual = gpu_->SquaredNorm(device, count, dtype);
      ASSERT_TRUE(actual.ok()) << actual.status();
      EXPECT_NEAR(*actual, expected, 1e-11 * expected) << DataTypeName(dtype) << " at " << offset;
      const double expected_after = *cpu_->DivideAndSquaredNorm(host.data(), count, dtype, 3);
      const absl::StatusOr<double> after = gpu_->DivideAndSquaredNorm(device, count, dtype, 3);
      ASSERT_TRUE(after.ok()) << after.status();
      EXPECT_NEAR(*after, expected_after, 1e-11 * expected_after)
          << DataTypeName(dtype) << " at " << offset;
      std::copy(host.begin(), host.end(), placed.begin() + offset * element);
      EXPECT_EQ(buffer.Read(), placed) << "divided values differ, " << DataTypeName(dtype)
                                       << " at " << offset;
    }
  }
}

TEST_F(CudaKernelSetTest, CopyToHostWaitsForEarlierWorkOnTheStream) {
  const int64_t count = 1 << 20;
  std::vector<char> host = RandomValues(DataType::kFloat32, count, 5);
  DeviceBuffer device(host.data(), host.size());
  ASSERT_TRUE(gpu_->Divide(device.get(), count, DataType::kFloat32, 7).ok());  // queued
  std::vector<char> copy(host.size());
  ASSERT_TRUE(gpu_->CopyToHost(device.get(), static_cast<int64_t>(copy.size()), copy.data()).ok());
  ASSERT_TRUE(cpu_->Divide(host.data(), count, DataType::kFloat32, 7).ok());
  EXPECT_EQ(copy, host);
}

}  // namespace
}  // namespace hilo::kernels::cuda
