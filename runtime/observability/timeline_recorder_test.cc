#include "runtime/observability/timeline_recorder.h"

#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hilo {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

absl::Time At(absl::Time origin, int64_t microseconds) {
  return origin + absl::Microseconds(microseconds);
}

TEST(TimelineRecorderTest, ListensOnlyWhileATimelineRuns) {
  const std::string path = ::testing::TempDir() + "/listening.json";
  TimelineRecorder recorder(absl::Now());
  EXPECT_FALSE(recorder.Listening());
  ASSERT_TRUE(recorder.Start(path, /*mark_cycles=*/false).ok());
  EXPECT_TRUE(recorder.Listening());
  recorder.Stop();
  EXPECT_FALSE(recorder.Listening());
  recorder.Stop();  // idempotent
}

TEST(TimelineRecorderTest, AFailedStartKeepsTheRunningTimeline) {
  const std::string path = ::testing::TempDir() + "/kept.json";
  const absl::Time origin = absl::FromUnixSeconds(1000);
  TimelineRecorder recorder(origin);
  ASSERT_TRUE(recorder.Start(path, false).ok());
  EXPECT_FALSE(recorder.Start("/nonexistent-directory/x.json", false).ok());
  EXPECT_TRUE(recorder.Listening());
  recorder.TransportDone("b", CommunicatorKind::kGroup, At(origin, 1), At(origin, 2));
  recorder.Stop();
  EXPECT_THAT(ReadFile(path), HasSubstr("\"name\": \"TRANSPORT\""));
}

TEST(TimelineRecorderTest, EachEventBecomesItsPhases) {
  const std::string path = ::testing::TempDir() + "/phases.json";
  const absl::Time origin = absl::FromUnixSeconds(1000);
  TimelineRecorder recorder(origin);
  ASSERT_TRUE(recorder.Start(path, /*mark_cycles=*/true).ok());
  recorder.CycleStarted();
  recorder.Negotiated("w", At(origin, 10), At(origin, 12), At(origin, 20));
  recorder.FusedAllreduceDone("w", CommunicatorKind::kGroup, 3,
                              {At(origin, 20), At(origin, 25), At(origin, 40), At(origin, 42)});
  recorder.TransportDone("b", CommunicatorKind::kCross, At(origin, 50), At(origin, 60));
  AveragingRecord record;
  record.round = 7;
  record.elements = 100;
  record.discrepancy = 0.25;
  record.duration = absl::Microseconds(30);
  recorder.RoundDone("model", At(origin, 70), At(origin, 100), &record);
  recorder.RoundDone("failed", At(origin, 110), At(origin, 120), nullptr);
  recorder.Stop();
  const std::string json = ReadFile(path);
  EXPECT_THAT(json, HasSubstr("\"name\": \"CYCLE_START\", \"ph\": \"i\""));
  EXPECT_THAT(json, HasSubstr("\"name\": \"QUEUE\", \"ph\": \"X\", \"pid\": 2, \"tid\": 0, "
                              "\"ts\": 10.000, \"dur\": 2.000"));
  EXPECT_THAT(json, HasSubstr("\"name\": \"NEGOTIATE\", \"ph\": \"X\", \"pid\": 2, \"tid\": 0, "
                              "\"ts\": 12.000, \"dur\": 8.000"));
  EXPECT_THAT(json, HasSubstr("\"name\": \"PACK\", \"ph\": \"X\", \"pid\": 2, \"tid\": 0, \"ts\": "
                              "20.000, \"dur\": 5.000, \"args\": {\"fused_tensors\": 3, "
                              "\"communicator\": \"group\"}"));
  EXPECT_THAT(json, HasSubstr("\"ts\": 25.000, \"dur\": 15.000"));  // TRANSPORT
  EXPECT_THAT(json, HasSubstr("\"ts\": 40.000, \"dur\": 2.000"));   // UNPACK
  EXPECT_THAT(json, HasSubstr("\"ts\": 50.000, \"dur\": 10.000, \"args\": {\"communicator\": "
                              "\"cross\"}"));
  EXPECT_THAT(json, HasSubstr("\"name\": \"AVERAGE_ACROSS_GROUPS\""));
  EXPECT_THAT(json, HasSubstr("\"args\": {\"name\": \"averaging rounds\"}"));
  EXPECT_THAT(json, HasSubstr("\"args\": {\"round\": 7, \"elements\": 100, \"discrepancy\": 0.25}"));
  // The failed round has its phase on its own row, and no entry among the rounds.
  EXPECT_THAT(json, HasSubstr("\"args\": {\"name\": \"failed\"}"));
  size_t rounds = 0;
  for (size_t at = 0; (at = json.find("\"round\":", at)) != std::string::npos; ++at) ++rounds;
  EXPECT_EQ(rounds, 1u);
}

TEST(TimelineRecorderTest, CyclesAreMarkedOnlyWhenAskedFor) {
  const std::string path = ::testing::TempDir() + "/no_cycles.json";
  const absl::Time origin = absl::FromUnixSeconds(1000);
  TimelineRecorder recorder(origin);
  ASSERT_TRUE(recorder.Start(path, /*mark_cycles=*/false).ok());
  recorder.CycleStarted();
  recorder.Stop();
  EXPECT_THAT(ReadFile(path), Not(HasSubstr("CYCLE_START")));
}

TEST(TimelineRecorderTest, EventsAfterStopAreDropped) {
  const std::string path = ::testing::TempDir() + "/stopped.json";
  const absl::Time origin = absl::FromUnixSeconds(1000);
  TimelineRecorder recorder(origin);
  ASSERT_TRUE(recorder.Start(path, false).ok());
  recorder.Stop();
  recorder.TransportDone("late", CommunicatorKind::kWorld, At(origin, 1), At(origin, 2));
  EXPECT_THAT(ReadFile(path), Not(HasSubstr("late")));
}

}  // namespace
}  // namespace hilo
