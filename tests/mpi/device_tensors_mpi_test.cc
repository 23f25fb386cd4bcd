// CUDA tensors through the runtime, as every rank of an MPI job, on machines without a GPU (the
// GPU machine runs tests/python/test_cuda.py and runtime/transport/nccl's tests): the requests
// are checked, ranks disagreeing about host or device memory all get an error that says so, a
// job whose ranks have no usable GPU fails the collective everywhere instead of hanging, and host
// tensors keep working afterwards. In a CPU-only build, CUDA tensors are refused at once. The
// same holds for cross-group averaging rounds of CUDA parameters.
#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/transport/gpu/gpu_support.h"
#include "tests/mpi/mpi_test_main.h"

namespace hilo::testing {
namespace {

using ::testing::HasSubstr;

// Never dereferenced: every case below fails before any data moves.
void* const kFakeDevicePointer = reinterpret_cast<void*>(uintptr_t{0x7f0000001000});

TensorView DeviceTensor() {
  TensorView view{kFakeDevicePointer, DataType::kFloat32, {256}};
  view.device = 0;
  return view;
}

void ExpectHostAllreduceStillWorks(const char* name) {
  const Topology& t = HiloTestTopology();
  std::vector<float> data(16, 1.0f);
  absl::StatusOr<Handle> handle =
      HiloTestContext().Allreduce(name, {data.data(), DataType::kFloat32, {16}});
  ASSERT_TRUE(handle.ok()) << handle.status();
  ASSERT_TRUE(handle->Wait(kOperationTimeout).ok());
  EXPECT_THAT(data, ::testing::Each(static_cast<float>(t.world_size)));
}

TEST(DeviceTensorsMpiTest, CpuOnlyBuildRefusesThemAtOnce) {
  if (transport::BuiltWithCuda()) GTEST_SKIP() << "this build has CUDA";
  absl::StatusOr<Handle> handle = HiloTestContext().Allreduce("cpu_only", DeviceTensor());
  ASSERT_FALSE(handle.ok());
  EXPECT_EQ(handle.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(handle.status().message(), HasSubstr("built without CUDA"));
  absl::StatusOr<Handle> round =
      HiloTestContext().AverageAcrossGroups("cpu_only.model", {DeviceTensor()});
  ASSERT_FALSE(round.ok());
  EXPECT_EQ(round.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(round.status().message(), HasSubstr("built without CUDA"));
  ExpectHostAllreduceStillWorks("cpu_only.after");
}

TEST(DeviceTensorsMpiTest, AnAveragingRoundTakesOneKindOfMemory) {
  std::vector<float> host(8, 1.0f);
  absl::StatusOr<Handle> round = HiloTestContext().AverageAcrossGroups(
      "mixed.model", {TensorView{host.data(), DataType::kFloat32, {8}}, DeviceTensor()});
  ASSERT_FALSE(round.ok());
  EXPECT_EQ(round.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(round.status().message(),
              HasSubstr("parameter 1 is on CUDA device 0 but parameter 0 on host memory"));
}

TEST(DeviceTensorsMpiTest, UnsupportedCollectivesAreRefusedAtEnqueue) {
  if (!transport::BuiltWithCuda()) GTEST_SKIP() << "CPU-only build";
  absl::StatusOr<Handle> handle = HiloTestContext().Allgather("gather", DeviceTensor());
  ASSERT_FALSE(handle.ok());
  EXPECT_EQ(handle.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(handle.status().message(), HasSubstr("allgather of CUDA tensors is not supported"));
  TensorView bad = DeviceTensor();
  bad.device = -2;
  EXPECT_EQ(HiloTestContext().Allreduce("bad_device", bad).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DeviceTensorsMpiTest, RanksDisagreeingAboutMemoryAllGetAnError) {
  if (!transport::BuiltWithCuda()) GTEST_SKIP() << "CPU-only build";
  const Topology& t = HiloTestTopology();
  std::vector<float> host(256, 3.0f);
  const TensorView view =
      t.world_rank == 0 ? DeviceTensor() : TensorView{host.data(), DataType::kFloat32, {256}};
  absl::StatusOr<Handle> handle = HiloTestContext().Allreduce("which_memory", view);
  ASSERT_TRUE(handle.ok()) << handle.status();
  const absl::Status status = handle->Wait(kOperationTimeout);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr("memory differs across ranks"));
  EXPECT_THAT(status.message(), HasSubstr("CUDA device memory on rank 0"));
  EXPECT_THAT(host, ::testing::Each(3.0f)) << "no data may move";
  // The same for an averaging round.
  const TensorView parameter =
      t.world_rank == 1 ? DeviceTensor() : TensorView{host.data(), DataType::kFloat32, {256}};
  absl::StatusOr<Handle> round = HiloTestContext().AverageAcrossGroups("which_memory.model", {parameter});
  ASSERT_TRUE(round.ok()) << round.status();
  const absl::Status round_status = round->Wait(kOperationTimeout);
  EXPECT_EQ(round_status.code(), absl::StatusCode::kInvalidArgument) << round_status;
  EXPECT_THAT(round_status.message(), HasSubstr("CUDA device memory on rank 1"));
  EXPECT_THAT(host, ::testing::Each(3.0f)) << "no data may move";
  ExpectHostAllreduceStillWorks("which_memory.after");
}

TEST(DeviceTensorsMpiTest, NoUsableGpuFailsEveryRankInsteadOfHanging) {
  if (!transport::BuiltWithCuda()) GTEST_SKIP() << "CPU-only build";
  if (transport::CudaDeviceCount().ok()) {
    GTEST_SKIP() << "a GPU is present (one GPU cannot hold several ranks of one NCCL communicator)";
  }
  for (CommunicatorKind kind : {CommunicatorKind::kWorld, CommunicatorKind::kGroup}) {
    CollectiveOptions options;
    options.communicator = kind;
    options.reduce_op = ReduceOp::kAverage;
    absl::StatusOr<Handle> handle =
        HiloTestContext().Allreduce("no_gpu", DeviceTensor(), options);
    ASSERT_TRUE(handle.ok()) << handle.status();
    const absl::Status status = handle->Wait(kOperationTimeout);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_THAT(status.message(), HasSubstr("cudaSetDevice"));
  }
  // An averaging round of CUDA parameters needs the group's and cross's NCCL planes.
  absl::StatusOr<Handle> round =
      HiloTestContext().AverageAcrossGroups("no_gpu.model", {DeviceTensor(), DeviceTensor()});
  ASSERT_TRUE(round.ok()) << round.status();
  const absl::Status round_status = round->Wait(kOperationTimeout);
  EXPECT_EQ(round_status.code(), absl::StatusCode::kUnavailable) << round_status;
  EXPECT_THAT(round_status.message(), HasSubstr("cudaSetDevice"));
  ExpectHostAllreduceStillWorks("no_gpu.after");
}

}  // namespace
}  // namespace hilo::testing
