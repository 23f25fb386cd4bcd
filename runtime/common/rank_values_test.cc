#include "runtime/common/rank_values.h"

#include "gtest/gtest.h"

namespace hilo {
namespace {

TEST(DescribeRanksByValueTest, GroupsRanksInOrderOfFirstAppearance) {
  EXPECT_EQ(DescribeRanksByValue({{"[4]", 0}, {"[3]", 1}, {"[4]", 2}, {"[4]", 3}}),
            "[4] on ranks 0, 2, 3; [3] on rank 1");
  EXPECT_EQ(DescribeRanksByValue({{"2", 0}, {"4", 1}, {"4", 2}}), "2 on rank 0; 4 on ranks 1, 2");
}

TEST(DescribeRanksByValueTest, AgreementIsEmpty) {
  EXPECT_EQ(DescribeRanksByValue({{"x", 0}, {"x", 1}}), "");
  EXPECT_EQ(DescribeRanksByValue({}), "");
}

}  // namespace
}  // namespace hilo
