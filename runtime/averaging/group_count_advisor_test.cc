#include "runtime/averaging/group_count_advisor.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hilo {
namespace {

using ::testing::HasSubstr;

TEST(GroupCountAdvisorTest, LargestCountUnderTheThreshold) {
  // D grows with the number of groups, crossing 0.01 between 4 and 8 groups.
  absl::StatusOr<GroupCountAdvice> advice = AdviseGroupCount({
      {8, {0.03, 0.05, 0.04}},
      {1, {0.0, 0.0}},
      {2, {0.001, 0.002, 0.0015}},
      {4, {0.006, 0.009, 0.5}},  // one outlier round: the median ignores it
  });
  ASSERT_TRUE(advice.ok()) << advice.status();
  EXPECT_EQ(advice->recommended_groups, 4);
  EXPECT_TRUE(advice->within_threshold);
  ASSERT_EQ(advice->trials.size(), 4u);
  EXPECT_EQ(advice->trials[0].num_groups, 1);  // sorted
  EXPECT_DOUBLE_EQ(advice->trials[1].median_discrepancy, 0.0015);
  EXPECT_DOUBLE_EQ(advice->trials[2].median_discrepancy, 0.009);
  EXPECT_THAT(advice->explanation, HasSubstr("8 groups reach 0.04"));
}

TEST(GroupCountAdvisorTest, ANoisyPassAboveAFailureDoesNotWin) {
  absl::StatusOr<GroupCountAdvice> advice =
      AdviseGroupCount({{2, {0.001}}, {4, {0.02}}, {8, {0.005}}});
  ASSERT_TRUE(advice.ok());
  EXPECT_EQ(advice->recommended_groups, 2);
}

TEST(GroupCountAdvisorTest, EverythingPassesOrNothingPasses) {
  absl::StatusOr<GroupCountAdvice> all = AdviseGroupCount({{2, {0.001}}, {16, {0.002}}});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->recommended_groups, 16);
  EXPECT_THAT(all->explanation, HasSubstr("larger counts were not tried"));

  absl::StatusOr<GroupCountAdvice> none = AdviseGroupCount({{2, {0.2}}, {4, {0.3}}});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->recommended_groups, 2);
  EXPECT_FALSE(none->within_threshold);
  EXPECT_THAT(none->explanation, HasSubstr("even 2 groups exceed"));
}

TEST(GroupCountAdvisorTest, ThresholdIsAParameter) {
  absl::StatusOr<GroupCountAdvice> strict = AdviseGroupCount({{2, {0.001}}, {4, {0.004}}}, 0.002);
  ASSERT_TRUE(strict.ok());
  EXPECT_EQ(strict->recommended_groups, 2);
  absl::StatusOr<GroupCountAdvice> boundary = AdviseGroupCount({{2, {0.01}}}, 0.01);
  ASSERT_TRUE(boundary.ok());
  EXPECT_TRUE(boundary->within_threshold);  // at the threshold counts as within
}

TEST(GroupCountAdvisorTest, BadInput) {
  EXPECT_FALSE(AdviseGroupCount({}).ok());
  EXPECT_FALSE(AdviseGroupCount({{2, {}}}).ok());
  EXPECT_FALSE(AdviseGroupCount({{0, {0.1}}}).ok());
  EXPECT_FALSE(AdviseGroupCount({{2, {0.1}}, {2, {0.2}}}).ok());
  EXPECT_FALSE(AdviseGroupCount({{2, {-0.1}}}).ok());
  EXPECT_FALSE(AdviseGroupCount({{2, {0.1}}}, 0).ok());
}

}  // namespace
}  // namespace hilo
