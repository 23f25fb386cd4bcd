// The hierarchical allreduce against the flat sum, with ranks as threads over in-process
// communicators laid out as hilo's topology lays them out (world rank = group * G + member).
#include "runtime/transport/hierarchical_communicator.h"

#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/transport/sharded_steps.h"
#include "runtime/transport/counting_communicator.h"
#include "runtime/transport/local/local_communicator.h"

namespace hilo {
namespace {

using transport::LocalCommunicator;

struct Layout {
  int num_groups;
  int group_size;
};

// Runs `body(world_rank, communicator)` on P threads, each with a HierarchicalCommunicator over
// its world, group and cross communicators; returns each rank's counted cross communicator.
struct Job {
  explicit Job(Layout layout) : layout(layout) {
    const int p = layout.num_groups * layout.group_size;
    world = LocalCommunicator::CreateGroup(p, "world");
    for (int g = 0; g < layout.num_groups; ++g) {
      groups.push_back(LocalCommunicator::CreateGroup(layout.group_size, "group"));
    }
    for (int j = 0; j < layout.group_size; ++j) {
      crosses.push_back(LocalCommunicator::CreateGroup(layout.num_groups, "cross"));
    }
    for (int r = 0; r < p; ++r) {
      const int g = r / layout.group_size, j = r % layout.group_size;
      counted_cross.push_back(std::make_unique<transport::CountingCommunicator>(crosses[j][g].get()));
      shards.push_back(kernels::MakeHostWorkspace());
      hierarchical.push_back(std::make_unique<HierarchicalCommunicator>(
          world[r].get(), groups[g][j].get(), counted_cross[r].get(), shards[r].get()));
    }
  }
  template <typename Body>
  void Run(Body body) {
    std::vector<std::thread> threads;
    for (int r = 0; r < static_cast<int>(hierarchical.size()); ++r) {
      threads.emplace_back([&, r] { body(r, *hierarchical[r]); });
    }
    for (std::thread& thread : threads) thread.join();
  }

  Layout layout;
  std::vector<std::unique_ptr<LocalCommunicator>> world;
  std::vector<std::vector<std::unique_ptr<LocalCommunicator>>> groups, crosses;
  std::vector<std::unique_ptr<transport::CountingCommunicator>> counted_cross;
  std::vector<std::unique_ptr<kernels::Workspace>> shards;
  std::vector<std::unique_ptr<HierarchicalCommunicator>> hierarchical;
};

class HierarchicalAllreduceTest : public ::testing::TestWithParam<Layout> {};

TEST_P(HierarchicalAllreduceTest, EqualsTheFlatSum) {
  const Layout layout = GetParam();
  const int p = layout.num_groups * layout.group_size;
  // Counts not divisible by G, smaller than G, and empty.
  for (int64_t count : {int64_t{1003}, int64_t{3}, int64_t{0}, int64_t{4096}}) {
    Job job(layout);
    std::vector<std::vector<int64_t>> ints(p);
    std::vector<std::vector<float>> floats(p);
    job.Run([&](int r, transport::Communicator& communicator) {
      ints[r].resize(count);
      floats[r].resize(count);
      for (int64_t i = 0; i < count; ++i) {
        ints[r][i] = (r + 1) * 1000003 + i;
        floats[r][i] = 0.25f * static_cast<float>((r + 1) * (i % 97));  // sums are exact
      }
      ASSERT_TRUE(communicator.AllreduceSum(ints[r].data(), count, DataType::kInt64).ok());
      ASSERT_TRUE(communicator.AllreduceSum(floats[r].data(), count, DataType::kFloat32).ok());
    });
    for (int r = 0; r < p; ++r) {
      for (int64_t i = 0; i < count; ++i) {
        int64_t int_sum = 0;
        float float_sum = 0;
        for (int q = 0; q < p; ++q) {
          int_sum += (q + 1) * 1000003 + i;
          float_sum += 0.25f * static_cast<float>((q + 1) * (i % 97));
        }
        ASSERT_EQ(ints[r][i], int_sum) << "rank " << r << " element " << i << " of " << count;
        ASSERT_EQ(floats[r][i], float_sum) << "rank " << r << " element " << i << " of " << count;
      }
    }
    if (layout.num_groups > 1 && layout.group_size > 1) {
      // Across groups, each rank sent only its shard: 1/G of the data (for both dtypes).
      for (int r = 0; r < p; ++r) {
        const int64_t shard = ShardSize(count, layout.group_size, r % layout.group_size);
        EXPECT_EQ(job.counted_cross[r]->counters().bytes, shard * (8 + 4)) << "rank " << r;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, HierarchicalAllreduceTest,
                         ::testing::Values(Layout{2, 4}, Layout{4, 2}, Layout{3, 3}, Layout{1, 4},
                                           Layout{4, 1}),
                         [](const ::testing::TestParamInfo<Layout>& info) {
                           return std::to_string(info.param.num_groups) + "_groups_of_" +
                                  std::to_string(info.param.group_size);
                         });

}  // namespace
}  // namespace hilo
