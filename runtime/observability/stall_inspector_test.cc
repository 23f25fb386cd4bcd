#include "runtime/observability/stall_inspector.h"

#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/transport/local/local_communicator.h"

namespace hilo {
namespace {

using ::testing::HasSubstr;

StallReport Stall(const std::string& tensor, absl::Duration waiting) {
  return StallReport{"world", tensor, waiting, {0, 1}, {2}};
}

const absl::Time kStart = absl::FromUnixSeconds(1000000);

TEST(StallInspectorTest, InspectsAtMostOnceASecondOrEveryHalfWarningPeriod) {
  const Logger logger(LogLevel::kError);
  StallInspector slow(absl::Seconds(60), absl::ZeroDuration(), &logger);
  EXPECT_TRUE(slow.Due(kStart));
  EXPECT_FALSE(slow.Due(kStart + absl::Milliseconds(999)));
  EXPECT_TRUE(slow.Due(kStart + absl::Seconds(1)));
  StallInspector quick(absl::Milliseconds(400), absl::ZeroDuration(), &logger);
  EXPECT_TRUE(quick.Due(kStart));
  EXPECT_FALSE(quick.Due(kStart + absl::Milliseconds(199)));
  EXPECT_TRUE(quick.Due(kStart + absl::Milliseconds(200)));
}

TEST(StallInspectorTest, KeepsTheStallsOldestFirstAndWarnsOncePerPeriod) {
  const Logger logger(LogLevel::kError);  // the warnings themselves are not printed here
  StallInspector inspector(absl::Seconds(10), absl::ZeroDuration(), &logger);
  EXPECT_FALSE(inspector.Inspect(kStart, {}).warned) << "nothing stalled, nothing to say";
  StallInspector::Outcome first = inspector.Inspect(
      kStart, {Stall("young", absl::Seconds(11)), Stall("old", absl::Seconds(30))});
  EXPECT_TRUE(first.warned);
  EXPECT_FALSE(first.armed_stop) << "no shutdown time configured";
  std::vector<StallReport> current = inspector.Current();
  ASSERT_EQ(current.size(), 2u);
  EXPECT_EQ(current[0].tensor, "old");
  EXPECT_EQ(current[1].tensor, "young");
  EXPECT_FALSE(inspector.Inspect(kStart + absl::Seconds(9), {Stall("old", absl::Seconds(39))})
                   .warned);
  EXPECT_TRUE(inspector.Inspect(kStart + absl::Seconds(10), {Stall("old", absl::Seconds(40))})
                  .warned);
  inspector.Inspect(kStart + absl::Seconds(11), {});
  EXPECT_TRUE(inspector.Current().empty()) << "a stall that resolved is no longer reported";
  EXPECT_TRUE(inspector.stop_reason().empty());
}

TEST(StallInspectorTest, TheOldestStallArmsTheStopOnceItLastedTheShutdownTime) {
  const Logger logger(LogLevel::kError);
  StallInspector inspector(absl::Seconds(5), absl::Seconds(20), &logger);
  EXPECT_FALSE(inspector.Inspect(kStart, {Stall("w", absl::Seconds(19))}).armed_stop);
  EXPECT_TRUE(inspector.stop_reason().empty());
  EXPECT_TRUE(inspector.Inspect(kStart + absl::Seconds(1),
                                {Stall("b", absl::Seconds(3)), Stall("w", absl::Seconds(20))})
                  .armed_stop);
  EXPECT_THAT(inspector.stop_reason(), HasSubstr("'w'"));
  EXPECT_FALSE(inspector.Inspect(kStart + absl::Seconds(2), {Stall("w", absl::Seconds(21))})
                   .armed_stop)
      << "armed once";
}

// Three ranks as threads: two inspected the same stall, one none; every rank gets one error that
// names it once.
TEST(StallInspectorTest, StopErrorIsTheSameOnEveryRankAndNamesEachStallOnce) {
  const Logger logger(LogLevel::kError);
  auto world = transport::LocalCommunicator::CreateGroup(3, "world");
  std::vector<absl::Status> errors(3);
  std::vector<std::thread> ranks;
  for (int r = 0; r < 3; ++r) {
    ranks.emplace_back([&, r] {
      StallInspector inspector(absl::Seconds(1), absl::Seconds(2), &logger);
      if (r != 1) inspector.Inspect(kStart, {Stall("grad.w", absl::Seconds(5))});
      errors[r] = inspector.StopError(*world[r]);
    });
  }
  for (std::thread& rank : ranks) rank.join();
  for (const absl::Status& error : errors) {
    EXPECT_EQ(error.code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_EQ(error, errors[0]);
    EXPECT_THAT(error.message(), HasSubstr("HILO_STALL_SHUTDOWN_SECONDS=2"));
    const std::string message(error.message());
    const size_t first = message.find("'grad.w'");
    ASSERT_NE(first, std::string::npos) << message;
    EXPECT_EQ(message.find("'grad.w'", first + 1), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace hilo
