#include "runtime/averaging/local_sgd_schedule.h"

#include <vector>

#include "gtest/gtest.h"

namespace hilo {
namespace {

Topology Layout(int world_size, int group_size) {
  return *MakeTopology(0, world_size, 0, world_size, world_size, world_size, group_size);
}

std::vector<int64_t> AveragingSteps(const LocalSgdSchedule& schedule, int64_t steps) {
  std::vector<int64_t> averaged;
  for (int64_t step = 0; step < steps; ++step) {
    if (schedule.Step(step).average_model) averaged.push_back(step);
  }
  return averaged;
}

TEST(LocalSgdScheduleTest, WarmupThenGroupGradientsAndPeriodicAveraging) {
  absl::StatusOr<LocalSgdSchedule> schedule = LocalSgdSchedule::Create(4, 3, Layout(8, 4));
  ASSERT_TRUE(schedule.ok());
  for (int64_t step = 0; step < 3; ++step) {
    const LocalSgdStep plan = schedule->Step(step);
    EXPECT_TRUE(plan.warmup);
    EXPECT_TRUE(plan.allreduce_gradients);
    EXPECT_EQ(plan.gradient_communicator, CommunicatorKind::kWorld);
    EXPECT_FALSE(plan.average_model);
  }
  const LocalSgdStep after = schedule->Step(3);
  EXPECT_FALSE(after.warmup);
  EXPECT_EQ(after.gradient_communicator, CommunicatorKind::kGroup);
  // tau = 4 local steps after the 3 warm-up steps: steps 6, 10, 14, ...
  EXPECT_EQ(AveragingSteps(*schedule, 20), (std::vector<int64_t>{6, 10, 14, 18}));
}

TEST(LocalSgdScheduleTest, SynchronousSgdIsOneGroupOfEverybody) {
  absl::StatusOr<LocalSgdSchedule> schedule = LocalSgdSchedule::Create(8, 0, Layout(8, 8));
  ASSERT_TRUE(schedule.ok());
  for (int64_t step = 0; step < 50; ++step) {
    const LocalSgdStep plan = schedule->Step(step);
    EXPECT_TRUE(plan.allreduce_gradients);  // the group is the world
    EXPECT_FALSE(plan.average_model);       // nothing to average across one group
  }
}

TEST(LocalSgdScheduleTest, PlainLocalSgdIsGroupsOfOne) {
  absl::StatusOr<LocalSgdSchedule> schedule = LocalSgdSchedule::Create(5, 0, Layout(8, 1));
  ASSERT_TRUE(schedule.ok());
  EXPECT_FALSE(schedule->Step(0).allreduce_gradients);  // a group of one has nobody to talk to
  EXPECT_EQ(AveragingSteps(*schedule, 16), (std::vector<int64_t>{4, 9, 14}));
}

TEST(LocalSgdScheduleTest, TauOneAveragesEveryStep) {
  absl::StatusOr<LocalSgdSchedule> schedule = LocalSgdSchedule::Create(1, 2, Layout(4, 2));
  ASSERT_TRUE(schedule.ok());
  EXPECT_EQ(AveragingSteps(*schedule, 6), (std::vector<int64_t>{2, 3, 4, 5}));
}

TEST(LocalSgdScheduleTest, BadParameters) {
  EXPECT_EQ(LocalSgdSchedule::Create(0, 0, Layout(4, 2)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LocalSgdSchedule::Create(4, -1, Layout(4, 2)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hilo
