#include "runtime/common/shard_split.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hilo {
namespace {

TEST(ShardSplitTest, FirstShardsTakeTheRemainder) {
  EXPECT_THAT(ShardSizes(10, 4), ::testing::ElementsAre(3, 3, 2, 2));
  EXPECT_THAT(ShardSizes(2, 4), ::testing::ElementsAre(1, 1, 0, 0));
  EXPECT_EQ(ShardOffset(10, 4, 2), 6);
  EXPECT_EQ(ShardOffset(10, 4, 3), 8);
}

TEST(ShardSplitTest, ShardsCoverTheBufferInOrderAndDifferByAtMostOne) {
  for (int64_t total : {0, 1, 7, 64, 1000003}) {
    for (int shards : {1, 2, 3, 4, 8, 16}) {
      int64_t covered = 0;
      for (int j = 0; j < shards; ++j) {
        EXPECT_EQ(ShardOffset(total, shards, j), covered) << total << " / " << shards;
        const int64_t size = ShardSize(total, shards, j);
        EXPECT_TRUE(size == total / shards || size == total / shards + 1);
        covered += size;
      }
      EXPECT_EQ(covered, total);
      EXPECT_EQ(ShardOffset(total, shards, shards), total);  // one past the last shard
    }
  }
}

}  // namespace
}  // namespace hilo
