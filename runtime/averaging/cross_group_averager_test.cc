#include "runtime/averaging/cross_group_averager.h"

#include <cmath>
#include <array>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/kernel_set.h"
#include "runtime/transport/counting_communicator.h"
#include "runtime/transport/forwarding_communicator.h"
#include "runtime/transport/local/local_communicator.h"

namespace hilo {
namespace {

using ::testing::HasSubstr;
using transport::LocalCommunicator;

// The CPU kernels, counting the calls that touch tensor memory: the averager must do all of that
// through its planes' kernels (on a GPU they are the only code that may).
class CountingKernels final : public kernels::KernelSet {
 public:
  CountingKernels() : cpu_(kernels::MakeCpuKernelSet()) {}
  const char* name() const override { return "counting cpu"; }
  absl::Status Divide(void* data, int64_t count, DataType dtype, int64_t divisor) override {
    ++calls;
    return cpu_->Divide(data, count, dtype, divisor);
  }
  absl::Status CastFromFloat32(const float* in, void* out, int64_t count, DataType to) override {
    ++calls;
    return cpu_->CastFromFloat32(in, out, count, to);
  }
  absl::Status CastToFloat32(const void* in, DataType from, float* out, int64_t count) override {
    ++calls;
    return cpu_->CastToFloat32(in, from, out, count);
  }
  absl::Status Pack(absl::Span<const kernels::PackSlice> slices, void* buffer) override {
    ++calls;
    ++packs;
    return cpu_->Pack(slices, buffer);
  }
  absl::Status Unpack(const void* buffer, absl::Span<const kernels::PackSlice> slices) override {
    ++calls;
    ++unpacks;
    return cpu_->Unpack(buffer, slices);
  }
  absl::StatusOr<double> SquaredNorm(const void* data, int64_t count, DataType dtype) override {
    ++calls;
    return cpu_->SquaredNorm(data, count, dtype);
  }
  absl::StatusOr<double> DivideAndSquaredNorm(void* data, int64_t count, DataType dtype,
                                              int64_t divisor) override {
    ++calls;
    return cpu_->DivideAndSquaredNorm(data, count, dtype, divisor);
  }
  absl::Status CopyToHost(const void* data, int64_t bytes, void* host) override {
    ++calls;
    ++copies;
    return cpu_->CopyToHost(data, bytes, host);
  }
  absl::Status Synchronize() override { return cpu_->Synchronize(); }

  int calls = 0, packs = 0, unpacks = 0, copies = 0;

 private:
  std::unique_ptr<kernels::KernelSet> cpu_;
};

// Host memory that calls itself device memory: exercises the averager's device path on a CPU.
class PretendDeviceCommunicator final : public transport::ForwardingCommunicator {
 public:
  using ForwardingCommunicator::ForwardingCommunicator;
  transport::MemoryKind memory_kind() const override { return transport::MemoryKind::kCudaDevice; }
};

// One rank's averager and the host data planes of its world, group and cross communicators
// (counted), each with its own counting kernels and workspace.
class RankAverager {
 public:
  RankAverager(const Topology& topology, std::array<transport::CountingCommunicator*, 3> counted,
               bool pretend_device)
      : averager_(topology, counted[0]) {
    for (int kind = 0; kind < 3; ++kind) {
      transport::Communicator* communicator = counted[kind];
      if (pretend_device) {
        pretend_[kind] = std::make_unique<PretendDeviceCommunicator>(communicator);
        communicator = pretend_[kind].get();
      }
      kernels_[kind] = std::make_unique<CountingKernels>();
      workspaces_[kind] = kernels::MakeHostWorkspace();
      planes_[kind] = std::make_unique<DataPlane>(
          DataPlane{*communicator, *kernels_[kind], *workspaces_[kind]});
    }
  }

  absl::StatusOr<AveragingRoundResult> Run(absl::Span<const ParameterTensor> tensors,
                                           AveragingAlgorithm algorithm, bool check) {
    return averager_.Run(tensors, algorithm, check,
                         AveragingPlanes{planes_[0].get(), planes_[1].get(), planes_[2].get()});
  }
  void AllowConcurrentCommunicators() { averager_.set_concurrent_communicators(true); }
  const CountingKernels& kernels(CommunicatorKind kind) const {
    return *kernels_[static_cast<int>(kind)];
  }

 private:
  CrossGroupAverager averager_;
  std::array<std::unique_ptr<PretendDeviceCommunicator>, 3> pretend_;
  std::array<std::unique_ptr<CountingKernels>, 3> kernels_;
  std::array<std::unique_ptr<kernels::Workspace>, 3> workspaces_;
  std::array<std::unique_ptr<DataPlane>, 3> planes_;
};

// P = k * G ranks as threads, each with world, group and cross communicators (counted).
class Job {
 public:
  Job(int num_groups, int group_size, bool pretend_device = false)
      : k_(num_groups), g_(group_size), pretend_device_(pretend_device) {
    const int p = k_ * g_;
    world_ = LocalCommunicator::CreateGroup(p, "world");
    for (int group = 0; group < k_; ++group) groups_.push_back(LocalCommunicator::CreateGroup(g_, "group"));
    for (int member = 0; member < g_; ++member) crosses_.push_back(LocalCommunicator::CreateGroup(k_, "cross"));
    for (int r = 0; r < p; ++r) {
      std::vector<std::unique_ptr<transport::CountingCommunicator>> mine;
      mine.push_back(std::make_unique<transport::CountingCommunicator>(world_[r].get()));
      mine.push_back(std::make_unique<transport::CountingCommunicator>(groups_[r / g_][r % g_].get()));
      mine.push_back(std::make_unique<transport::CountingCommunicator>(crosses_[r % g_][r / g_].get()));
      counted_.push_back(std::move(mine));
    }
  }

  // Runs body(rank, averager) on every rank.
  void Run(const std::function<void(int, RankAverager&)>& body) {
    std::vector<std::thread> threads;
    for (int r = 0; r < k_ * g_; ++r) {
      threads.emplace_back([&, r] {
        Topology topology = *MakeTopology(r, k_ * g_, r, k_ * g_, k_ * g_, k_ * g_, g_);
        RankAverager averager(topology,
                              {counted_[r][0].get(), counted_[r][1].get(), counted_[r][2].get()},
                              pretend_device_);
        body(r, averager);
      });
    }
    for (std::thread& thread : threads) thread.join();
  }

  transport::TransportCounters counters(int rank, CommunicatorKind kind) {
    return counted_[rank][static_cast<int>(kind)]->counters();
  }

 private:
  int k_, g_;
  bool pretend_device_;
  std::vector<std::unique_ptr<LocalCommunicator>> world_;
  std::vector<std::vector<std::unique_ptr<LocalCommunicator>>> groups_, crosses_;
  std::vector<std::vector<std::unique_ptr<transport::CountingCommunicator>>> counted_;
};

// Group g's model: element i of tensor t is (g + 1) * (i + 1) / (t + 1), identical in a group.
double ModelValue(int group, int tensor, int64_t i) { return (group + 1.0) * (i + 1.0) / (tensor + 1.0); }

struct Layout {
  std::vector<int64_t> sizes;
  std::vector<DataType> dtypes;
};

// Uneven sizes: a tensor smaller than G, a total not divisible by G, mixed dtypes.
const Layout kMixed = {{3, 1000, 1, 257, 64}, {DataType::kFloat32, DataType::kFloat64, DataType::kFloat32,
                                            DataType::kFloat32, DataType::kFloat64}};

void ExpectAveragedModel(int num_groups, int group_size, AveragingAlgorithm algorithm) {
  Job job(num_groups, group_size);
  job.Run([&](int rank, RankAverager& averager) {
    const int group = rank / group_size;
    std::vector<std::vector<double>> f64(kMixed.sizes.size());
    std::vector<std::vector<float>> f32(kMixed.sizes.size());
    std::vector<ParameterTensor> tensors;
    for (size_t t = 0; t < kMixed.sizes.size(); ++t) {
      if (kMixed.dtypes[t] == DataType::kFloat64) {
        for (int64_t i = 0; i < kMixed.sizes[t]; ++i) f64[t].push_back(ModelValue(group, t, i));
        tensors.push_back({f64[t].data(), DataType::kFloat64, kMixed.sizes[t]});
      } else {
        for (int64_t i = 0; i < kMixed.sizes[t]; ++i) f32[t].push_back(static_cast<float>(ModelValue(group, t, i)));
        tensors.push_back({f32[t].data(), DataType::kFloat32, kMixed.sizes[t]});
      }
    }
    absl::StatusOr<AveragingRoundResult> result = averager.Run(tensors, algorithm, true);
    ASSERT_TRUE(result.ok()) << result.status();
    // The average over groups of (g + 1) is (k + 1) / 2.
    const double factor = (num_groups + 1) / 2.0;
    double diff = 0, norm = 0;
    for (size_t t = 0; t < kMixed.sizes.size(); ++t) {
      for (int64_t i = 0; i < kMixed.sizes[t]; ++i) {
        const double expected = factor * ModelValue(0, t, i);
        const double actual = kMixed.dtypes[t] == DataType::kFloat64 ? f64[t][i] : f32[t][i];
        ASSERT_NEAR(actual, expected, 1e-6 * std::fabs(expected)) << "tensor " << t << " element " << i;
        for (int g = 0; g < num_groups; ++g) {
          const double d = ModelValue(g, t, i) - expected;
          diff += d * d;
        }
        norm += expected * expected;
      }
    }
    EXPECT_EQ(result->elements, 1325);
    EXPECT_NEAR(result->discrepancy, diff / (num_groups * norm), 1e-6 * result->discrepancy + 1e-12);
  });
}

TEST(CrossGroupAveragerTest, ShardedAveragesExactlyAcrossLayouts) {
  ExpectAveragedModel(2, 4, AveragingAlgorithm::kSharded);
  ExpectAveragedModel(4, 2, AveragingAlgorithm::kSharded);
  ExpectAveragedModel(3, 3, AveragingAlgorithm::kSharded);
}

TEST(CrossGroupAveragerTest, PipelinedRoundGivesTheUnpipelinedResultBitForBit) {
  // Large enough for 3 pieces, not a multiple of anything: pieces and shards of unequal size.
  const int num_groups = 3, group_size = 2;
  const int64_t count = 3 * CrossGroupAverager::kPipelinePieceElements + 7;
  Job job(num_groups, group_size);
  job.Run([&](int rank, RankAverager& averager) {
    const int group = rank / group_size;
    std::vector<float> serial(count), pipelined(count);
    for (int64_t i = 0; i < count; ++i) {
      // Values whose float sum depends on the order of addition.
      serial[i] = static_cast<float>((group + 1) * 0.1 * (i % 9973) + 1.0 / (group + 3 + i % 5));
    }
    pipelined = serial;
    absl::StatusOr<AveragingRoundResult> one_piece = averager.Run(
        {{serial.data(), DataType::kFloat32, count}}, AveragingAlgorithm::kSharded, false);
    ASSERT_TRUE(one_piece.ok()) << one_piece.status();
    const int64_t cross_calls = job.counters(rank, CommunicatorKind::kCross).calls;
    averager.AllowConcurrentCommunicators();
    absl::StatusOr<AveragingRoundResult> pieces = averager.Run(
        {{pipelined.data(), DataType::kFloat32, count}}, AveragingAlgorithm::kSharded, false);
    ASSERT_TRUE(pieces.ok()) << pieces.status();
    // It really ran in pieces: one cross allreduce each, and the metric's.
    EXPECT_EQ(job.counters(rank, CommunicatorKind::kCross).calls - cross_calls, 3 + 1);
    for (int64_t i = 0; i < count; ++i) ASSERT_EQ(pipelined[i], serial[i]) << "element " << i;
    EXPECT_NEAR(pieces->discrepancy, one_piece->discrepancy, 1e-9 * one_piece->discrepancy);
    EXPECT_GT(pieces->discrepancy, 0);
    EXPECT_EQ(pieces->elements, count);
  });
}

TEST(CrossGroupAveragerTest, BaselineGivesTheSameResult) {
  ExpectAveragedModel(2, 4, AveragingAlgorithm::kWorldAllreduce);
  ExpectAveragedModel(4, 2, AveragingAlgorithm::kWorldAllreduce);
}

TEST(CrossGroupAveragerTest, PlainLocalSgdAndPlainSynchronousAreSpecialCases) {
  ExpectAveragedModel(8, 1, AveragingAlgorithm::kSharded);  // P groups of one: local SGD
  ExpectAveragedModel(1, 8, AveragingAlgorithm::kSharded);  // one group of P: a no-op, D = 0
}

TEST(CrossGroupAveragerTest, ShardedMovesGTimesLessAcrossGroups) {
  constexpr int64_t kElements = 1000003;  // not divisible by G
  for (AveragingAlgorithm algorithm : {AveragingAlgorithm::kSharded, AveragingAlgorithm::kWorldAllreduce}) {
    Job job(2, 4);
    job.Run([&](int rank, RankAverager& averager) {
      std::vector<float> model(kElements, static_cast<float>(rank / 4));
      ParameterTensor tensor{model.data(), DataType::kFloat32, kElements};
      ASSERT_TRUE(averager.Run({&tensor, 1}, algorithm, false).ok());
    });
    for (int rank = 0; rank < 8; ++rank) {
      const int64_t shard_bytes = ShardSize(kElements, 4, rank % 4) * 4;
      const transport::TransportCounters cross = job.counters(rank, CommunicatorKind::kCross);
      const transport::TransportCounters group = job.counters(rank, CommunicatorKind::kGroup);
      const transport::TransportCounters world = job.counters(rank, CommunicatorKind::kWorld);
      if (algorithm == AveragingAlgorithm::kSharded) {
        // About N/G * 4 each (the shard across groups, this rank's part of the allgather),
        // and the discrepancy partials (2 doubles) over each: nothing over the world.
        EXPECT_EQ(cross.bytes, shard_bytes + 16);
        EXPECT_EQ(group.bytes, shard_bytes + 16);
        EXPECT_EQ(world.bytes, 0);
      } else {
        EXPECT_EQ(cross.bytes, 0);
        EXPECT_EQ(group.bytes, 0);
        EXPECT_EQ(world.bytes, kElements * 4 + 16);
      }
    }
  }
}

TEST(CrossGroupAveragerTest, InconsistentGroupFailsEveryRankNamingTheMembers) {
  Job job(2, 4);
  job.Run([&](int rank, RankAverager& averager) {
    std::vector<float> model(100, static_cast<float>(rank / 4));
    if (rank == 6) model[42] += 1.0f;  // group 1, member 2 drifted
    ParameterTensor tensor{model.data(), DataType::kFloat32, 100};
    absl::StatusOr<AveragingRoundResult> result =
        averager.Run({&tensor, 1}, AveragingAlgorithm::kSharded, true);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(result.status().message(), HasSubstr("group 1: rank 6 differs from ranks 4, 5, 7"));
    EXPECT_EQ(model[0], static_cast<float>(rank / 4));  // untouched
  });
}

TEST(CrossGroupAveragerTest, TensorMemoryIsTouchedOnlyThroughThePlanesKernels) {
  // Two tensors of one dtype: packed in the packing plane's workspace, then averaged. Sharded:
  // group kernels pack and unpack, cross kernels take the norms and divide, the world's do
  // nothing (the world communicator carries only the metric's partials). Baseline: all on the
  // world plane.
  for (AveragingAlgorithm algorithm : {AveragingAlgorithm::kSharded, AveragingAlgorithm::kWorldAllreduce}) {
    Job job(2, 2);
    job.Run([&](int rank, RankAverager& averager) {
      std::vector<float> a(10, static_cast<float>(rank / 2)), b(7, 1.0f);
      const ParameterTensor tensors[] = {{a.data(), DataType::kFloat32, 10},
                                         {b.data(), DataType::kFloat32, 7}};
      ASSERT_TRUE(averager.Run(tensors, algorithm, /*check=*/false).ok());
      EXPECT_EQ(a[3], 0.5f);
      EXPECT_EQ(b[6], 1.0f);
      const CountingKernels& world = averager.kernels(CommunicatorKind::kWorld);
      const CountingKernels& group = averager.kernels(CommunicatorKind::kGroup);
      const CountingKernels& cross = averager.kernels(CommunicatorKind::kCross);
      if (algorithm == AveragingAlgorithm::kSharded) {
        EXPECT_EQ(group.packs, 1);
        EXPECT_EQ(group.unpacks, 1);
        EXPECT_EQ(group.calls, 2);
        EXPECT_EQ(cross.calls, 2);  // the norm before, divide-and-norm after
        EXPECT_EQ(world.calls, 0);
      } else {
        EXPECT_EQ(world.calls, 4);  // pack, norm, divide-and-norm, unpack
        EXPECT_EQ(group.calls + cross.calls, 0);
      }
    });
  }
}

TEST(CrossGroupAveragerTest, ConsistencyCheckCopiesDeviceParametersThroughTheKernels) {
  // Planes whose communicators say "device memory" (host memory underneath): the check must not
  // read the parameters itself but copy each through the kernels, and still find the drift.
  for (const bool drift : {false, true}) {
    Job job(2, 2, /*pretend_device=*/true);
    job.Run([&](int rank, RankAverager& averager) {
      std::vector<float> a(5, static_cast<float>(rank / 2)), b(3, 2.0f);
      if (drift && rank == 3) b[1] = 2.5f;
      const ParameterTensor tensors[] = {{a.data(), DataType::kFloat32, 5},
                                         {b.data(), DataType::kFloat32, 3}};
      const absl::StatusOr<AveragingRoundResult> result =
          averager.Run(tensors, AveragingAlgorithm::kSharded, /*check=*/true);
      EXPECT_EQ(averager.kernels(CommunicatorKind::kGroup).copies, 2);
      if (drift) {
        EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
        EXPECT_THAT(result.status().message(), HasSubstr("group 1: rank 3 differs from rank 2"));
      } else {
        ASSERT_TRUE(result.ok()) << result.status();
        EXPECT_EQ(a[4], 0.5f);
      }
    });
  }
}

TEST(CrossGroupAveragerTest, MissingPlanesAreAnErrorNotACrash) {
  const Topology topology = *MakeTopology(0, 2, 0, 2, 2, 2, 1);
  CrossGroupAverager bare(topology, /*control=*/nullptr);  // never reached: the check comes first
  float value = 1;
  ParameterTensor tensor{&value, DataType::kFloat32, 1};
  EXPECT_EQ(bare.Run({&tensor, 1}, AveragingAlgorithm::kSharded, false, AveragingPlanes{})
                .status()
                .code(),
            absl::StatusCode::kInternal);
}

TEST(CrossGroupAveragerTest, IntegersAreRejected) {
  Job job(1, 1);
  job.Run([&](int, RankAverager& averager) {
    int32_t value = 1;
    ParameterTensor tensor{&value, DataType::kInt32, 1};
    EXPECT_EQ(averager.Run({&tensor, 1}, AveragingAlgorithm::kSharded, false).status().code(),
              absl::StatusCode::kInvalidArgument);
  });
}

TEST(ShardTest, SizesCoverTheBufferWithoutGaps) {
  for (int64_t total : {0, 1, 3, 7, 8, 1000003}) {
    for (int shards : {1, 2, 3, 4, 8}) {
      int64_t covered = 0;
      for (int j = 0; j < shards; ++j) {
        EXPECT_EQ(ShardOffset(total, shards, j), covered);
        covered += ShardSize(total, shards, j);
        EXPECT_LE(ShardSize(total, shards, j), total / shards + 1);
      }
      EXPECT_EQ(covered, total);
    }
  }
}

}  // namespace
}  // namespace hilo
