// A one-rank NCCL communicator end to end on device memory (one GPU can hold only one rank of a
// NCCL communicator). Skips, saying why, without a usable GPU.
#include "runtime/transport/nccl/nccl_communicator.h"

#include <cuda_runtime.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/dtype.h"
#include "kernels/reduce.h"
#include "runtime/transport/gpu/gpu_support.h"
#include "runtime/transport/local/local_communicator.h"

namespace hilo::transport {
namespace {

class NcclCommunicatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<int> devices = CudaDeviceCount();
    if (!devices.ok()) GTEST_SKIP() << "no usable CUDA device: " << devices.status().message();
    bootstrap_ = std::move(LocalCommunicator::CreateGroup(1, "world")[0]);
    absl::StatusOr<std::unique_ptr<NcclCommunicator>> made =
        NcclCommunicator::Create(*bootstrap_, 0, "world", absl::Seconds(60));
    ASSERT_TRUE(made.ok()) << made.status();
    nccl_ = *std::move(made);
  }

  template <typename T>
  T* Device(const std::vector<T>& host) {
    void* device = nullptr;
    EXPECT_EQ(cudaMalloc(&device, host.size() * sizeof(T) + 1), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(device, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice),
              cudaSuccess);
    // From pageable memory the DMA may still be in flight, and NCCL's stream does not wait for
    // the legacy stream.
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    allocations_.push_back(device);
    return static_cast<T*>(device);
  }
  template <typename T>
  std::vector<T> Host(const T* device, size_t count) {
    std::vector<T> host(count);
    EXPECT_EQ(cudaMemcpy(host.data(), device, count * sizeof(T), cudaMemcpyDeviceToHost),
              cudaSuccess);
    return host;
  }
  void TearDown() override {
    nccl_.reset();
    for (void* allocation : allocations_) cudaFree(allocation);
  }

  std::unique_ptr<LocalCommunicator> bootstrap_;
  std::unique_ptr<NcclCommunicator> nccl_;
  std::vector<void*> allocations_;
};

TEST_F(NcclCommunicatorTest, CollectivesOnDeviceMemory) {
  EXPECT_EQ(nccl_->memory_kind(), MemoryKind::kCudaDevice);
  EXPECT_EQ(nccl_->size(), 1);
  std::vector<float> values = {1.5f, -2.0f, 3.25f};
  float* data = Device(values);
  ASSERT_TRUE(nccl_->AllreduceSum(data, 3, DataType::kFloat32).ok());
  ASSERT_TRUE(nccl_->Broadcast(data, 3, DataType::kFloat32, 0).ok());
  ASSERT_TRUE(nccl_->Synchronize().ok());
  EXPECT_EQ(Host(data, 3), values);  // one rank: the sum is the input

  std::vector<int64_t> gathered(3, 0);
  int64_t* recv = Device(gathered);
  std::vector<int64_t> mine = {7, 8, 9};
  ASSERT_TRUE(nccl_->Allgather(Device(mine), 3, recv, {3}, DataType::kInt64).ok());
  std::vector<int32_t> scatter = {4, 5};
  int32_t* scattered = Device(std::vector<int32_t>(2, 0));
  ASSERT_TRUE(nccl_->ReduceScatterSum(Device(scatter), scattered, {2}, DataType::kInt32).ok());
  ASSERT_TRUE(nccl_->Barrier().ok());
  EXPECT_EQ(Host(recv, 3), mine);
  EXPECT_EQ(Host(scattered, 2), scatter);
}

TEST_F(NcclCommunicatorTest, MinMaxAndProductRunOnEveryDtype) {
  // One rank: each op's result is its input, so this checks that NCCL takes every op on every
  // dtype hilo has (bfloat16 needs NCCL 2.10) and leaves the data intact; the arithmetic across
  // ranks is NCCL's.
  for (const kernels::Reduction op :
       {kernels::Reduction::kMin, kernels::Reduction::kMax, kernels::Reduction::kProduct}) {
    for (int value = 0; value < kNumDataTypes; ++value) {
      const DataType dtype = static_cast<DataType>(value);
      const std::string what =
          absl::StrCat("dtype ", DataTypeName(dtype), ", op ", static_cast<int>(op));
      std::vector<uint8_t> bytes(5 * DataTypeSize(dtype));
      for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(17 * i + 3);
      uint8_t* data = Device(bytes);
      const absl::Status status = nccl_->AllreduceWith(data, 5, dtype, op);
      ASSERT_TRUE(status.ok()) << status << " for " << what;
      ASSERT_TRUE(nccl_->Synchronize().ok());
      EXPECT_EQ(Host(data, bytes.size()), bytes) << what;
    }
  }
}

TEST_F(NcclCommunicatorTest, WaitsForTheFrameworksStreamOnTheDevice) {
  cudaStream_t framework;
  ASSERT_EQ(cudaStreamCreate(&framework), cudaSuccess);
  std::vector<float> zeros(1 << 20, 0.0f);
  float* data = Device(zeros);
  // The framework fills the tensor on its own stream and records an event; the transport's
  // stream waits for that event, so it reads the filled tensor.
  ASSERT_EQ(cudaMemsetAsync(data, 0x3f, zeros.size() * 4, framework), cudaSuccess);
  cudaEvent_t ready;
  ASSERT_EQ(cudaEventCreate(&ready), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(ready, framework), cudaSuccess);
  ASSERT_TRUE(nccl_->WaitForEvent(ready).ok());
  ASSERT_TRUE(nccl_->AllreduceSum(data, zeros.size(), DataType::kFloat32).ok());
  ASSERT_TRUE(nccl_->Synchronize().ok());
  const std::vector<float> result = Host(data, zeros.size());
  uint32_t bits;
  std::memcpy(&bits, &result[12345], 4);
  EXPECT_EQ(bits, 0x3f3f3f3fu);
  cudaEventDestroy(ready);
  cudaStreamDestroy(framework);
}

TEST_F(NcclCommunicatorTest, ErrorsNameTheCallAndAbortedCommunicatorsRefuseWork) {
  nccl_->Abort();
  std::vector<float> values = {1.0f};
  const absl::Status status = nccl_->AllreduceSum(Device(values), 1, DataType::kFloat32);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), ::testing::HasSubstr("ncclAllReduce"));
  EXPECT_THAT(status.message(), ::testing::HasSubstr("aborted"));
  EXPECT_THAT(status.message(), ::testing::HasSubstr("rank 0 of 1"));
}

}  // namespace
}  // namespace hilo::transport
