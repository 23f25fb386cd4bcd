#include "runtime/observability/timeline.h"

#include <fstream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hilo {
namespace {

using ::testing::HasSubstr;

TEST(TimelineTest, JsonStringsAreEscaped) {
  EXPECT_EQ(JsonString("layer\"1\"\\grad\n"), "\"layer\\\"1\\\"\\\\grad\\n\"");
  EXPECT_EQ(JsonString(std::string("a\x01", 2)), "\"a\\u0001\"");
}

TEST(TimelineTest, WritesRowsOnceAndPhasesAsCompleteEvents) {
  const std::string path = ::testing::TempDir() + "/timeline.json";
  const absl::Time origin = absl::FromUnixSeconds(1000);
  {
    absl::StatusOr<std::unique_ptr<Timeline>> timeline = Timeline::Open(path, origin);
    ASSERT_TRUE(timeline.ok()) << timeline.status();
    (*timeline)->Phase("w", "QUEUE", origin + absl::Microseconds(10), origin + absl::Microseconds(15));
    (*timeline)->Phase("w", "TRANSPORT", origin + absl::Microseconds(20),
                       origin + absl::Microseconds(50), "\"fused_tensors\": 3");
    (*timeline)->Phase("b", "QUEUE", origin, origin - absl::Microseconds(1));  // clock skew: dur 0
  }
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  const std::string json = text.str();
  EXPECT_EQ(json.front(), '[');
  EXPECT_EQ(json.substr(json.size() - 3), "\n]\n");
  EXPECT_THAT(json, HasSubstr("{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": 1, \"args\": {\"name\": \"w\"}}"));
  EXPECT_THAT(json, HasSubstr("\"name\": \"TRANSPORT\", \"ph\": \"X\", \"pid\": 1, \"tid\": 0, \"ts\": 20.000, \"dur\": 30.000, \"args\": {\"fused_tensors\": 3}"));
  EXPECT_THAT(json, HasSubstr("\"pid\": 2, \"args\": {\"name\": \"b\"}"));
  EXPECT_THAT(json, HasSubstr("\"ts\": 0.000, \"dur\": 0.000"));
  // One declaration per row.
  size_t declarations = 0;
  for (size_t at = 0; (at = json.find("process_name", at)) != std::string::npos; ++at) ++declarations;
  EXPECT_EQ(declarations, 2u);
}

TEST(TimelineTest, MarkersAreInstantEventsOnTheirRow) {
  const std::string path = ::testing::TempDir() + "/markers.json";
  const absl::Time origin = absl::FromUnixSeconds(1000);
  {
    absl::StatusOr<std::unique_ptr<Timeline>> timeline = Timeline::Open(path, origin);
    ASSERT_TRUE(timeline.ok()) << timeline.status();
    (*timeline)->Marker("coordinator cycles", "CYCLE_START", origin + absl::Microseconds(7));
  }
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("\"args\": {\"name\": \"coordinator cycles\"}"));
  EXPECT_THAT(text.str(), HasSubstr("{\"name\": \"CYCLE_START\", \"ph\": \"i\", \"s\": \"p\", "
                                    "\"pid\": 1, \"tid\": 0, \"ts\": 7.000}"));
}

TEST(TimelineTest, AnUnwritablePathIsAnError) {
  absl::StatusOr<std::unique_ptr<Timeline>> timeline =
      Timeline::Open("/nonexistent-dir/timeline.json", absl::Now());
  ASSERT_FALSE(timeline.ok());
  EXPECT_THAT(timeline.status().message(), HasSubstr("cannot write the timeline"));
}

}  // namespace
}  // namespace hilo
