#include "runtime/common/config.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hilo {
namespace {

using ::testing::HasSubstr;

ConfigLookup MapLookup(std::map<std::string, std::string> values) {
  return [values = std::move(values)](absl::string_view name) -> std::optional<std::string> {
    auto it = values.find(std::string(name));
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ConfigTest, DefaultsMatchTheRegistry) {
  absl::StatusOr<RuntimeConfig> config = ConfigFromLookup(MapLookup({}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->group_size, 0);
  EXPECT_EQ(config->cycle_time, absl::Milliseconds(1));
  EXPECT_EQ(config->log_level, LogLevel::kWarning);
  EXPECT_EQ(config->averaging_algorithm, AveragingAlgorithm::kSharded);
  EXPECT_FALSE(config->check_group_consistency);
  EXPECT_EQ(config->fusion_threshold_bytes, int64_t{64} << 20);
  EXPECT_EQ(config->cache_capacity, 1024);
  EXPECT_FALSE(config->control_spin.has_value()) << "auto";
  EXPECT_TRUE(config->averaging_thread);
}

TEST(ConfigTest, ValuesOverrideDefaults) {
  absl::StatusOr<RuntimeConfig> config = ConfigFromLookup(MapLookup(
      {{"HILO_GROUP_SIZE", "4"}, {"HILO_CYCLE_TIME_MS", "2.5"}, {"HILO_LOG_LEVEL", "DEBUG"},
       {"HILO_AVERAGING_ALGORITHM", "world-allreduce"}, {"HILO_CHECK_GROUP_CONSISTENCY", "1"},
       {"HILO_FUSION_THRESHOLD", "0"}, {"HILO_CACHE_CAPACITY", "0"},
       {"HILO_CONTROL_SPIN_US", "250"}, {"HILO_AVERAGING_PERIOD", "16"},
       {"HILO_WARMUP_STEPS", "100"}, {"HILO_STALL_WARNING_SECONDS", "2.5"},
       {"HILO_STALL_SHUTDOWN_SECONDS", "30"}, {"HILO_HIERARCHICAL_ALLREDUCE", "true"},
       {"HILO_CROSS_TRANSPORT", "mpi"}, {"HILO_SOCKET_IFNAME", "eth1"},
       {"HILO_AVERAGING_THREAD", "0"}}));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_FALSE(config->averaging_thread);
  EXPECT_EQ(config->cross_transport, RuntimeConfig::CrossTransport::kMpi);
  EXPECT_EQ(config->socket_interface, "eth1");
  EXPECT_TRUE(config->hierarchical_allreduce);
  EXPECT_EQ(config->group_size, 4);
  EXPECT_EQ(config->cycle_time, absl::Microseconds(2500));
  EXPECT_EQ(config->log_level, LogLevel::kDebug);
  EXPECT_EQ(config->averaging_algorithm, AveragingAlgorithm::kWorldAllreduce);
  EXPECT_TRUE(config->check_group_consistency);
  EXPECT_EQ(config->fusion_threshold_bytes, 0);
  EXPECT_EQ(config->cache_capacity, 0);
  EXPECT_EQ(config->control_spin, absl::Microseconds(250));
  EXPECT_EQ(config->averaging_period, 16);
  EXPECT_EQ(config->warmup_steps, 100);
  EXPECT_EQ(config->stall_warning, absl::Milliseconds(2500));
  EXPECT_EQ(config->stall_shutdown, absl::Seconds(30));
}

TEST(ConfigTest, BadValuesNameTheVariable) {
  // A vector, not a map: several bad values per variable.
  for (const auto& [name, value] : std::vector<std::pair<std::string, std::string>>{
           {"HILO_GROUP_SIZE", "-1"}, {"HILO_GROUP_SIZE", "four"}, {"HILO_CYCLE_TIME_MS", "0"},
           {"HILO_CYCLE_TIME_MS", "nan"}, {"HILO_LOG_LEVEL", "loud"},
           {"HILO_AVERAGING_ALGORITHM", "ring"}, {"HILO_CHECK_GROUP_CONSISTENCY", "yes"},
           {"HILO_FUSION_THRESHOLD", "-1"}, {"HILO_FUSION_THRESHOLD", "64M"},
           {"HILO_CACHE_CAPACITY", "-5"}, {"HILO_CONTROL_SPIN_US", "-1"},
           {"HILO_CONTROL_SPIN_US", "fast"}, {"HILO_AVERAGING_PERIOD", "-8"},
           {"HILO_WARMUP_STEPS", "x"}, {"HILO_STALL_WARNING_SECONDS", "0"},
           {"HILO_STALL_SHUTDOWN_SECONDS", "-1"}, {"HILO_HIERARCHICAL_ALLREDUCE", "2"},
           {"HILO_CROSS_TRANSPORT", "gloo"}}) {
    absl::StatusOr<RuntimeConfig> config = ConfigFromLookup(MapLookup({{name, value}}));
    ASSERT_FALSE(config.ok()) << name << "=" << value;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(config.status().message(), HasSubstr(name));
  }
}

TEST(ConfigTest, SettingsListEveryRegisteredVariableInOrder) {
  const std::vector<std::pair<std::string, std::string>> settings = ConfigSettings(RuntimeConfig{});
  ASSERT_EQ(settings.size(), ConfigRegistry().size());
  for (size_t i = 0; i < settings.size(); ++i) {
    EXPECT_EQ(settings[i].first, ConfigRegistry()[i].name);
  }
}

TEST(ConfigTest, HorovodSettingsAreNamedWithTheirHiloEquivalents) {
  EXPECT_TRUE(IgnoredHorovodSettings(MapLookup({{"HILO_FUSION_THRESHOLD", "1"}})).empty());
  const std::vector<std::string> lines = IgnoredHorovodSettings(
      MapLookup({{"HOROVOD_FUSION_THRESHOLD", "1048576"}, {"HOROVOD_CYCLE_TIME", "5"}}));
  EXPECT_THAT(lines, ::testing::ElementsAre(
                         "HOROVOD_FUSION_THRESHOLD is set but hilo ignores it: set "
                         "HILO_FUSION_THRESHOLD (bytes)",
                         "HOROVOD_CYCLE_TIME is set but hilo ignores it: set HILO_CYCLE_TIME_MS "
                         "(milliseconds)"));
}

TEST(ConfigTest, UnknownHiloVariableIsAnError) {
  setenv("HILO_GROUP_SIZ", "4", 1);
  absl::StatusOr<RuntimeConfig> config = ConfigFromEnvironment();
  unsetenv("HILO_GROUP_SIZ");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("HILO_GROUP_SIZ"));
  EXPECT_THAT(config.status().message(), HasSubstr("HILO_GROUP_SIZE"));  // suggests the known ones
}

TEST(ConfigTest, EnvironmentIsRead) {
  setenv("HILO_GROUP_SIZE", "2", 1);
  absl::StatusOr<RuntimeConfig> config = ConfigFromEnvironment();
  unsetenv("HILO_GROUP_SIZE");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->group_size, 2);
}

// docs/configuration.md is the user's reference: every registered variable must appear there
// with its default.
TEST(ConfigTest, EveryOptionIsDocumented) {
  std::ifstream file("docs/configuration.md");
  ASSERT_TRUE(file.good()) << "docs/configuration.md not found in runfiles";
  std::stringstream text;
  text << file.rdbuf();
  for (const ConfigOption& option : ConfigRegistry()) {
    EXPECT_THAT(text.str(), HasSubstr(std::string("`") + std::string(option.name) + "`"));
    EXPECT_THAT(text.str(), HasSubstr(std::string(option.name) + "` | `" +
                                      std::string(option.default_value) + "`"))
        << "docs/configuration.md must give the default of " << option.name;
  }
}

}  // namespace
}  // namespace hilo
