// 1,000 steps of 50 named tensors (the pattern of a training loop: the same names every step,
// group and world allreduces mixed) must leave resident memory flat. Prints the measurements.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/mpi/mpi_test_main.h"

namespace hilo::testing {
namespace {

int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t total_pages = 0, resident_pages = 0;
  statm >> total_pages >> resident_pages;
  return resident_pages * sysconf(_SC_PAGESIZE);
}

TEST(MemoryMpiTest, ThousandStepsOfFiftyTensorsStayFlat) {
  const Topology& t = HiloTestTopology();
  constexpr int kSteps = 1000, kTensors = 50, kWarmupSteps = 100;
  std::vector<std::vector<float>> tensors(kTensors);
  std::vector<std::string> names;
  for (int i = 0; i < kTensors; ++i) {
    tensors[i].resize(256 + 64 * i);
    names.push_back(absl::StrCat("layer", i, ".grad"));
  }
  int64_t after_warmup = 0;
  std::vector<Handle> handles(kTensors);
  for (int step = 0; step < kSteps; ++step) {
    for (int i = 0; i < kTensors; ++i) {
      std::fill(tensors[i].begin(), tensors[i].end(), static_cast<float>(t.world_rank + step % 3));
      CollectiveOptions options;
      options.communicator = i % 5 == 0 ? CommunicatorKind::kWorld : CommunicatorKind::kGroup;
      options.reduce_op = ReduceOp::kAverage;
      absl::StatusOr<Handle> handle = HiloTestContext().Allreduce(
          names[i], {tensors[i].data(), DataType::kFloat32,
                     {static_cast<int64_t>(tensors[i].size())}},
          options);
      ASSERT_TRUE(handle.ok()) << handle.status();
      handles[i] = *std::move(handle);
    }
    for (int i = 0; i < kTensors; ++i) {
      ASSERT_TRUE(handles[i].Wait(kOperationTimeout).ok()) << "step " << step << " tensor " << i;
      handles[i] = Handle();
    }
    // Spot-check a group tensor: the group's average of world_rank + step % 3.
    const float expected = t.group * t.group_size + (t.group_size - 1) / 2.0f + step % 3;
    ASSERT_FLOAT_EQ(tensors[1][0], expected) << "step " << step;
    if (step + 1 == kWarmupSteps) after_warmup = ResidentBytes();
  }
  const int64_t at_end = ResidentBytes();
  const double growth_kib = (at_end - after_warmup) / 1024.0;
  std::printf("rank %d: resident %.1f MiB after %d steps, %.1f MiB after %d steps (%+.0f KiB)\n",
              t.world_rank, after_warmup / 1048576.0, kWarmupSteps, at_end / 1048576.0, kSteps,
              growth_kib);
  // 900 steps x 50 operations: even 50 bytes leaked per operation would add 2.2 MiB.
  EXPECT_LT(growth_kib, 1024.0) << "resident memory grew over " << kSteps - kWarmupSteps
                                << " steps";
  EXPECT_EQ(*HiloTestContext().queue_depth(), 0u);
}

}  // namespace
}  // namespace hilo::testing
