// CUDA tensors end to end through the C++ client API on a GPU: one rank (one GPU holds one rank
// of a NCCL communicator), so the NCCL world, group and cross communicators all have one member.
// Skips, saying why, without a usable GPU (every CI machine); the GPU machine runs it for real.
#include <cuda_runtime.h>

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/transport/gpu/gpu_support.h"
#include "tests/mpi/mpi_test_main.h"

namespace hilo::testing {
namespace {

TEST(DeviceTensorsGpuMpiTest, AllreduceAndBroadcastOfDeviceMemory) {
  absl::StatusOr<int> devices = transport::CudaDeviceCount();
  if (!devices.ok()) GTEST_SKIP() << "no usable CUDA device: " << devices.status().message();
  ASSERT_EQ(HiloTestTopology().world_size, 1) << "run this as one rank per GPU";
  constexpr int kCount = 1 << 20;
  std::vector<float> host(kCount);
  for (int i = 0; i < kCount; ++i) host[i] = 0.5f * static_cast<float>(i % 13);
  float* device = nullptr;
  ASSERT_EQ(cudaMalloc(&device, kCount * sizeof(float)), cudaSuccess);
  // Produced on the framework's stream; hilo must wait for the event, not for the host.
  cudaStream_t framework;
  ASSERT_EQ(cudaStreamCreate(&framework), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(device, host.data(), kCount * sizeof(float), cudaMemcpyHostToDevice,
                            framework),
            cudaSuccess);
  cudaEvent_t ready;
  ASSERT_EQ(cudaEventCreate(&ready), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(ready, framework), cudaSuccess);
  for (CommunicatorKind kind :
       {CommunicatorKind::kWorld, CommunicatorKind::kGroup, CommunicatorKind::kCross}) {
    TensorView view{device, DataType::kFloat32, {kCount}};
    view.device = 0;
    view.ready_event = ready;
    CollectiveOptions options;
    options.communicator = kind;
    options.reduce_op = ReduceOp::kAverage;
    absl::StatusOr<Handle> reduced = HiloTestContext().Allreduce("gpu.allreduce", view, options);
    ASSERT_TRUE(reduced.ok()) << reduced.status();
    ASSERT_TRUE(reduced->Wait(kOperationTimeout).ok()) << *reduced->result();
    absl::StatusOr<Handle> broadcast = HiloTestContext().Broadcast("gpu.broadcast", view, options);
    ASSERT_TRUE(broadcast.ok()) << broadcast.status();
    ASSERT_TRUE(broadcast->Wait(kOperationTimeout).ok()) << *broadcast->result();
  }
  std::vector<float> back(kCount);
  ASSERT_EQ(cudaMemcpy(back.data(), device, kCount * sizeof(float), cudaMemcpyDeviceToHost),
            cudaSuccess);
  EXPECT_EQ(back, host);  // one rank: the average and the broadcast are the input
  // The device traffic is counted with the host traffic.
  EXPECT_GT(HiloTestContext().TransportCounters(CommunicatorKind::kWorld)->bytes,
            int64_t{kCount} * 4);
  cudaEventDestroy(ready);
  cudaStreamDestroy(framework);
  cudaFree(device);
}

TEST(DeviceTensorsGpuMpiTest, AveragingRoundOfDeviceParameters) {
  absl::StatusOr<int> devices = transport::CudaDeviceCount();
  if (!devices.ok()) GTEST_SKIP() << "no usable CUDA device: " << devices.status().message();
  ASSERT_EQ(HiloTestTopology().world_size, 1) << "run this as one rank per GPU";
  // One rank is one group, so the average is the model itself; with the consistency check on,
  // the round still reads both tensors through the CUDA kernels (copies to the host), and both
  // algorithms create their NCCL planes.
  std::vector<float> weights(1000, 0.25f), bias(7, -1.5f);
  float* device_weights = nullptr;
  float* device_bias = nullptr;
  ASSERT_EQ(cudaMalloc(&device_weights, weights.size() * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&device_bias, bias.size() * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(device_weights, weights.data(), weights.size() * sizeof(float),
                       cudaMemcpyHostToDevice),
            cudaSuccess);
  ASSERT_EQ(cudaMemcpy(device_bias, bias.data(), bias.size() * sizeof(float),
                       cudaMemcpyHostToDevice),
            cudaSuccess);
  // Pageable uploads may still be in flight when cudaMemcpy returns; the round's streams do not
  // wait for the legacy stream, and no ready event is given.
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<TensorView> parameters = {
      {device_weights, DataType::kFloat32, {static_cast<int64_t>(weights.size())}},
      {device_bias, DataType::kFloat32, {static_cast<int64_t>(bias.size())}}};
  for (TensorView& parameter : parameters) parameter.device = 0;
  for (AveragingAlgorithm algorithm :
       {AveragingAlgorithm::kSharded, AveragingAlgorithm::kWorldAllreduce}) {
    AveragingOptions options;
    options.algorithm = algorithm;
    options.check_group_consistency = true;
    absl::StatusOr<Handle> round =
        HiloTestContext().AverageAcrossGroups("gpu.model", parameters, options);
    ASSERT_TRUE(round.ok()) << round.status();
    ASSERT_TRUE(round->Wait(kOperationTimeout).ok()) << *round->result();
    EXPECT_EQ(round->discrepancy(), 0.0);
  }
  std::vector<float> back(bias.size());
  ASSERT_EQ(cudaMemcpy(back.data(), device_bias, bias.size() * sizeof(float),
                       cudaMemcpyDeviceToHost),
            cudaSuccess);
  EXPECT_EQ(back, bias);
  cudaFree(device_weights);
  cudaFree(device_bias);
}

}  // namespace
}  // namespace hilo::testing
