#include "runtime/transport/local/local_session.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace hilo::transport {
namespace {

TEST(LocalSessionTest, RanksKnowTheirPlaceOnTheirPretendMachine) {
  LocalJobSessions job(6, 3);
  std::unique_ptr<Session> session = job.SessionFor(4);
  EXPECT_EQ(session->world_rank(), 4);
  EXPECT_EQ(session->world_size(), 6);
  EXPECT_EQ(session->local_rank(), 1);
  EXPECT_EQ(session->local_size(), 3);
}

TEST(LocalSessionTest, SplitsGroupByColorAndOrderByKeyAsMpiDoes) {
  constexpr int kRanks = 4;
  LocalJobSessions job(kRanks, kRanks);
  std::vector<int> world_rank(kRanks), world_size(kRanks), split_rank(kRanks), split_size(kRanks);
  std::vector<std::vector<float>> sums(kRanks);
  std::vector<std::thread> threads;
  for (int r = 0; r < kRanks; ++r) {
    threads.emplace_back([&, r] {
      std::unique_ptr<Session> session = job.SessionFor(r);
      auto world = session->World("world");
      ASSERT_TRUE(world.ok());
      world_rank[r] = (*world)->rank();
      world_size[r] = (*world)->size();
      // Colors r % 2, keys descending: {0, 2} and {1, 3}, each in reverse rank order.
      auto split = session->Split(r % 2, -r, "pairs");
      ASSERT_TRUE(split.ok());
      split_rank[r] = (*split)->rank();
      split_size[r] = (*split)->size();
      sums[r] = {static_cast<float>(r)};
      ASSERT_TRUE((*split)->AllreduceSum(sums[r].data(), 1, DataType::kFloat32).ok());
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int r = 0; r < kRanks; ++r) {
    EXPECT_EQ(world_rank[r], r);
    EXPECT_EQ(world_size[r], kRanks);
    EXPECT_EQ(split_size[r], 2);
    EXPECT_EQ(sums[r][0], r % 2 == 0 ? 2.0f : 4.0f);
  }
  EXPECT_EQ(split_rank[2], 0);  // key -2 before key 0
  EXPECT_EQ(split_rank[0], 1);
  EXPECT_EQ(split_rank[3], 0);
}

}  // namespace
}  // namespace hilo::transport
