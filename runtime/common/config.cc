#include "runtime/common/config.h"

#include <cstdlib>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/match.h"
#include "runtime/common/status_macros.h"

extern char** environ;

namespace hilo {
namespace {

absl::Status BadValue(absl::string_view name, absl::string_view value, absl::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat(name, "='", value, "' is not valid: expected ", expected));
}

absl::Status ApplyGroupSize(absl::string_view value, RuntimeConfig* config) {
  int parsed = 0;
  if (!absl::SimpleAtoi(value, &parsed) || parsed < 0) {
    return BadValue("HILO_GROUP_SIZE", value, "a whole number >= 0 (0 = ranks per node)");
  }
  config->group_size = parsed;
  return absl::OkStatus();
}

absl::Status ApplyCycleTime(absl::string_view value, RuntimeConfig* config) {
  double ms = 0;
  if (!absl::SimpleAtod(value, &ms) || !(ms > 0) || ms > 60000) {
    return BadValue("HILO_CYCLE_TIME_MS", value, "milliseconds, > 0 and <= 60000");
  }
  config->cycle_time = absl::Milliseconds(ms);
  return absl::OkStatus();
}

absl::Status ApplyLogLevel(absl::string_view value, RuntimeConfig* config) {
  absl::StatusOr<LogLevel> level = ParseLogLevel(value);
  if (!level.ok()) return BadValue("HILO_LOG_LEVEL", value, "trace, debug, info, warning or error");
  config->log_level = *level;
  return absl::OkStatus();
}

absl::Status ApplyAveragingAlgorithm(absl::string_view value, RuntimeConfig* config) {
  if (value == "sharded") {
    config->averaging_algorithm = AveragingAlgorithm::kSharded;
  } else if (value == "world-allreduce") {
    config->averaging_algorithm = AveragingAlgorithm::kWorldAllreduce;
  } else {
    return BadValue("HILO_AVERAGING_ALGORITHM", value, "sharded or world-allreduce");
  }
  return absl::OkStatus();
}

// "1"/"true" or "0"/"false" into *flag; INVALID_ARGUMENT naming `variable` otherwise.
absl::Status ParseFlag(absl::string_view variable, absl::string_view value, bool* flag) {
  if (value == "1" || value == "true") {
    *flag = true;
  } else if (value == "0" || value == "false") {
    *flag = false;
  } else {
    return BadValue(variable, value, "0 or 1");
  }
  return absl::OkStatus();
}

absl::Status ApplyCheckGroupConsistency(absl::string_view value, RuntimeConfig* config) {
  return ParseFlag("HILO_CHECK_GROUP_CONSISTENCY", value, &config->check_group_consistency);
}

absl::Status ApplyHierarchicalAllreduce(absl::string_view value, RuntimeConfig* config) {
  return ParseFlag("HILO_HIERARCHICAL_ALLREDUCE", value, &config->hierarchical_allreduce);
}

absl::Status ApplyShmAllreduce(absl::string_view value, RuntimeConfig* config) {
  return ParseFlag("HILO_SHM_ALLREDUCE", value, &config->shm_allreduce);
}

absl::Status ApplyAveragingThread(absl::string_view value, RuntimeConfig* config) {
  return ParseFlag("HILO_AVERAGING_THREAD", value, &config->averaging_thread);
}

absl::Status ApplyCrossTransport(absl::string_view value, RuntimeConfig* config) {
  if (value == "auto") {
    config->cross_transport = RuntimeConfig::CrossTransport::kAuto;
  } else if (value == "tcp") {
    config->cross_transport = RuntimeConfig::CrossTransport::kTcp;
  } else if (value == "mpi") {
    config->cross_transport = RuntimeConfig::CrossTransport::kMpi;
  } else {
    return BadValue("HILO_CROSS_TRANSPORT", value, "auto, tcp or mpi");
  }
  return absl::OkStatus();
}

absl::Status ApplySocketInterface(absl::string_view value, RuntimeConfig* config) {
  config->socket_interface = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyFusionThreshold(absl::string_view value, RuntimeConfig* config) {
  int64_t bytes = 0;
  if (!absl::SimpleAtoi(value, &bytes) || bytes < 0) {
    return BadValue("HILO_FUSION_THRESHOLD", value, "a number of bytes >= 0 (0 disables fusion)");
  }
  config->fusion_threshold_bytes = bytes;
  return absl::OkStatus();
}

absl::Status ApplyCacheCapacity(absl::string_view value, RuntimeConfig* config) {
  int capacity = 0;
  if (!absl::SimpleAtoi(value, &capacity) || capacity < 0 || capacity > (1 << 20)) {
    return BadValue("HILO_CACHE_CAPACITY", value, "a number of tensors from 0 (off) to 1048576");
  }
  config->cache_capacity = capacity;
  return absl::OkStatus();
}

absl::Status ApplyControlSpin(absl::string_view value, RuntimeConfig* config) {
  if (value == "auto") {
    config->control_spin.reset();
    return absl::OkStatus();
  }
  int64_t microseconds = 0;
  if (!absl::SimpleAtoi(value, &microseconds) || microseconds < 0 || microseconds > 1000000) {
    return BadValue("HILO_CONTROL_SPIN_US", value, "auto, or microseconds from 0 to 1000000");
  }
  config->control_spin = absl::Microseconds(microseconds);
  return absl::OkStatus();
}

absl::Status ApplyAveragingPeriod(absl::string_view value, RuntimeConfig* config) {
  int period = 0;
  if (!absl::SimpleAtoi(value, &period) || period < 0) {
    return BadValue("HILO_AVERAGING_PERIOD", value, "a number of steps >= 0 (0: the program's own)");
  }
  config->averaging_period = period;
  return absl::OkStatus();
}

absl::Status ApplyWarmupSteps(absl::string_view value, RuntimeConfig* config) {
  int64_t steps = 0;
  if (!absl::SimpleAtoi(value, &steps) || steps < 0) {
    return BadValue("HILO_WARMUP_STEPS", value, "a number of steps >= 0");
  }
  config->warmup_steps = steps;
  return absl::OkStatus();
}

absl::StatusOr<absl::Duration> ParseSeconds(absl::string_view name, absl::string_view value,
                                            bool allow_zero) {
  double seconds = 0;
  if (!absl::SimpleAtod(value, &seconds) || !(allow_zero ? seconds >= 0 : seconds > 0) ||
      seconds > 86400 * 365) {
    return BadValue(name, value, allow_zero ? "seconds, >= 0 (0: never)" : "seconds, > 0");
  }
  return absl::Seconds(seconds);
}

absl::Status ApplyStallWarning(absl::string_view value, RuntimeConfig* config) {
  HILO_ASSIGN_OR_RETURN(config->stall_warning,
                        ParseSeconds("HILO_STALL_WARNING_SECONDS", value, false));
  return absl::OkStatus();
}

absl::Status ApplyStallShutdown(absl::string_view value, RuntimeConfig* config) {
  HILO_ASSIGN_OR_RETURN(config->stall_shutdown,
                        ParseSeconds("HILO_STALL_SHUTDOWN_SECONDS", value, true));
  return absl::OkStatus();
}

absl::Status ApplyStatusPort(absl::string_view value, RuntimeConfig* config) {
  int port = 0;
  if (!absl::SimpleAtoi(value, &port) || port < 0 || port > 65535) {
    return BadValue("HILO_STATUS_PORT", value, "a TCP port, 1 to 65535, or 0 (no endpoint)");
  }
  config->status_port = port;
  return absl::OkStatus();
}

absl::Status ApplyStatusAddress(absl::string_view value, RuntimeConfig* config) {
  if (value.empty() || value.find_first_of(" /") != absl::string_view::npos) {
    return BadValue("HILO_STATUS_ADDRESS", value, "an IP address or host name to bind");
  }
  config->status_address = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyTimeline(absl::string_view value, RuntimeConfig* config) {
  config->timeline_path = std::string(value);
  return absl::OkStatus();
}

constexpr ConfigOption kRegistry[] = {
    {"HILO_GROUP_SIZE", "0",
     "Ranks per group (G). The world of P ranks is split into P/G groups of consecutive ranks; "
     "P must be divisible by G. 0 = the number of ranks on each node (every node must run the "
     "same number).",
     &ApplyGroupSize},
    {"HILO_CYCLE_TIME_MS", "1",
     "Longest time, in milliseconds, the coordinator thread waits between negotiation cycles "
     "when no tensor is enqueued; an enqueue starts the next cycle at once.",
     &ApplyCycleTime},
    {"HILO_LOG_LEVEL", "warning",
     "Least severe message written to stderr: trace, debug, info, warning or error.",
     &ApplyLogLevel},
    {"HILO_AVERAGING_ALGORITHM", "sharded",
     "Default algorithm of cross-group averaging rounds: sharded (shard allreduce across groups "
     "+ allgather in the group) or world-allreduce (one allreduce over all ranks / P).",
     &ApplyAveragingAlgorithm},
    {"HILO_CHECK_GROUP_CONSISTENCY", "0",
     "1 = before each averaging round, verify that the members of every group hold identical "
     "parameters and fail the round with FAILED_PRECONDITION naming those that differ.",
     &ApplyCheckGroupConsistency},
    {"HILO_FUSION_THRESHOLD", "67108864",
     "Largest fused allreduce in bytes: allreduces of one communicator, dtype and op that are "
     "ready in the same cycle travel in one transport call up to this size. 0 disables fusion.",
     &ApplyFusionThreshold},
    {"HILO_HIERARCHICAL_ALLREDUCE", "0",
     "1 = allreduces on the world communicator run hierarchically: reduce-scatter in the group, "
     "allreduce of each shard across groups, allgather in the group (the same sum; G times less "
     "traffic between groups).",
     &ApplyHierarchicalAllreduce},
    {"HILO_SHM_ALLREDUCE", "1",
     "1 = host allreduces on a communicator whose ranks are all on one machine go through one "
     "shared-memory segment (two barriers per MiB, waits sleep on a futex) instead of MPI; "
     "0 = always MPI.",
     &ApplyShmAllreduce},
    {"HILO_AVERAGING_THREAD", "1",
     "1 = sharded averaging rounds of host parameters run on a thread of their own, the group "
     "step through a shared-memory segment of their own, so that group allreduces go on while a "
     "round moves data (needed to hide the round behind the next steps); 0 = on the coordinator "
     "thread, which then waits for each round.",
     &ApplyAveragingThread},
    {"HILO_CROSS_TRANSPORT", "auto",
     "How allreduces on the cross communicator (the averaging rounds' and the hierarchical "
     "allreduce's step between groups) travel: auto = over hilo's TCP ring (pipelined, waits "
     "sleep in the kernel) when the cross ranks are on several machines, else through shared "
     "memory; tcp = always the TCP ring (loopback on one machine); mpi = MPI's own path.",
     &ApplyCrossTransport},
    {"HILO_SOCKET_IFNAME", "",
     "Network interface whose IPv4 address the TCP ring listens on (e.g. eth0, ib0); empty = the "
     "first interface that is up and not loopback (the loopback address if there is none).",
     &ApplySocketInterface},
    {"HILO_CACHE_CAPACITY", "1024",
     "Tensors per communicator in the response cache (LRU): a step that resubmits cached tensors "
     "negotiates with one bitwise-AND allreduce instead of the coordinator's gather and "
     "broadcast. 0 disables the cache.",
     &ApplyCacheCapacity},
    {"HILO_CONTROL_SPIN_US", "auto",
     "While a rank has tensors in flight, how long (microseconds) its negotiation waits poll, "
     "yielding the CPU between polls, before they sleep between polls. auto = 1000 when the node "
     "has a CPU for each of its ranks, else 0 (polling ranks would take the CPU from the ranks "
     "they wait for). An idle rank never polls. 0 = always sleep.",
     &ApplyControlSpin},
    {"HILO_AVERAGING_PERIOD", "0",
     "Steps between cross-group averaging rounds (tau) for programs that take it from the "
     "launcher (hilorun --averaging-period); 0 = the program's own choice.",
     &ApplyAveragingPeriod},
    {"HILO_WARMUP_STEPS", "0",
     "Fully synchronous steps before local SGD starts, for programs that take it from the "
     "launcher (hilorun --warmup-steps).",
     &ApplyWarmupSteps},
    {"HILO_TIMELINE", "",
     "File to which rank 0 writes a Chrome-trace timeline (Perfetto, chrome://tracing): per "
     "tensor its QUEUE, NEGOTIATE, PACK, TRANSPORT and UNPACK phases, and the averaging rounds. "
     "Empty: no timeline.",
     &ApplyTimeline},
    {"HILO_STALL_WARNING_SECONDS", "60",
     "A tensor that some ranks of a communicator submitted and others have not for this long is "
     "reported by that communicator's rank 0: one warning per period naming the tensors, the "
     "ranks that submitted them and the ranks that have not.",
     &ApplyStallWarning},
    {"HILO_STALL_SHUTDOWN_SECONDS", "0",
     "After a tensor has stalled this long, every rank stops: pending and later operations fail "
     "with DEADLINE_EXCEEDED naming the stalled tensor and the missing ranks. 0 = never.",
     &ApplyStallShutdown},
    {"HILO_STATUS_PORT", "0",
     "Port of the gRPC status endpoint served by each node's local rank 0 (hilo-status reads "
     "it). 0: no endpoint.",
     &ApplyStatusPort},
    {"HILO_STATUS_ADDRESS", "127.0.0.1",
     "Address the status endpoint binds (127.0.0.1: this machine only; 0.0.0.0: every "
     "interface). It is read-only and unauthenticated.",
     &ApplyStatusAddress},
};

}  // namespace

absl::Span<const ConfigOption> ConfigRegistry() { return kRegistry; }

absl::StatusOr<RuntimeConfig> ConfigFromLookup(const ConfigLookup& lookup) {
  RuntimeConfig config;
  for (const ConfigOption& option : kRegistry) {
    HILO_RETURN_IF_ERROR(option.apply(option.default_value, &config));
    if (std::optional<std::string> value = lookup(option.name); value.has_value()) {
      HILO_RETURN_IF_ERROR(option.apply(*value, &config));
    }
  }
  return config;
}

namespace {

std::optional<std::string> EnvironmentLookup(absl::string_view name) {
  const char* value = std::getenv(std::string(name).c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

}  // namespace

absl::StatusOr<RuntimeConfig> ConfigFromEnvironment() {
  std::vector<std::string> unknown;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    absl::string_view assignment(*entry);
    if (!absl::StartsWith(assignment, "HILO_")) continue;
    absl::string_view name = assignment.substr(0, assignment.find('='));
    bool known = false;
    for (const ConfigOption& option : kRegistry) known = known || option.name == name;
    if (!known) unknown.emplace_back(name);
  }
  if (!unknown.empty()) {
    std::vector<absl::string_view> names;
    for (const ConfigOption& option : kRegistry) names.push_back(option.name);
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown hilo setting(s) in the environment: ", absl::StrJoin(unknown, ", "),
        " (known: ", absl::StrJoin(names, ", "), ")"));
  }
  return ConfigFromLookup(EnvironmentLookup);
}

std::vector<std::string> IgnoredHorovodSettings(const ConfigLookup& lookup) {
  struct Equivalent {
    const char* horovod;
    const char* hilo;
  };
  static constexpr Equivalent kEquivalents[] = {
      {"HOROVOD_FUSION_THRESHOLD", "HILO_FUSION_THRESHOLD (bytes)"},
      {"HOROVOD_CYCLE_TIME", "HILO_CYCLE_TIME_MS (milliseconds)"},
      {"HOROVOD_CACHE_CAPACITY", "HILO_CACHE_CAPACITY"},
      {"HOROVOD_TIMELINE", "HILO_TIMELINE or hilorun --timeline"},
      {"HOROVOD_LOG_LEVEL", "HILO_LOG_LEVEL"},
      {"HOROVOD_STALL_CHECK_TIME_SECONDS", "HILO_STALL_WARNING_SECONDS"},
      {"HOROVOD_STALL_SHUTDOWN_TIME_SECONDS", "HILO_STALL_SHUTDOWN_SECONDS"},
      {"HOROVOD_HIERARCHICAL_ALLREDUCE", "HILO_HIERARCHICAL_ALLREDUCE"},
  };
  std::vector<std::string> lines;
  for (const Equivalent& equivalent : kEquivalents) {
    if (lookup(equivalent.horovod).has_value()) {
      lines.push_back(absl::StrCat(equivalent.horovod, " is set but hilo ignores it: set ",
                                   equivalent.hilo));
    }
  }
  return lines;
}

std::vector<std::string> IgnoredHorovodSettingsInEnvironment() {
  return IgnoredHorovodSettings(EnvironmentLookup);
}

std::vector<std::pair<std::string, std::string>> ConfigSettings(const RuntimeConfig& config) {
  auto number = [](auto value) { return absl::StrCat(value); };
  return {
      {"HILO_GROUP_SIZE", number(config.group_size)},
      {"HILO_CYCLE_TIME_MS", number(absl::ToDoubleMilliseconds(config.cycle_time))},
      {"HILO_LOG_LEVEL", std::string(LogLevelName(config.log_level))},
      {"HILO_AVERAGING_ALGORITHM", std::string(AveragingAlgorithmName(config.averaging_algorithm))},
      {"HILO_CHECK_GROUP_CONSISTENCY", config.check_group_consistency ? "1" : "0"},
      {"HILO_FUSION_THRESHOLD", number(config.fusion_threshold_bytes)},
      {"HILO_HIERARCHICAL_ALLREDUCE", config.hierarchical_allreduce ? "1" : "0"},
      {"HILO_SHM_ALLREDUCE", config.shm_allreduce ? "1" : "0"},
      {"HILO_AVERAGING_THREAD", config.averaging_thread ? "1" : "0"},
      {"HILO_CROSS_TRANSPORT",
       config.cross_transport == RuntimeConfig::CrossTransport::kTcp   ? "tcp"
       : config.cross_transport == RuntimeConfig::CrossTransport::kMpi ? "mpi"
                                                                       : "auto"},
      {"HILO_SOCKET_IFNAME", config.socket_interface},
      {"HILO_CACHE_CAPACITY", number(config.cache_capacity)},
      {"HILO_CONTROL_SPIN_US", config.control_spin
                                   ? number(absl::ToInt64Microseconds(*config.control_spin))
                                   : std::string("auto")},
      {"HILO_AVERAGING_PERIOD", number(config.averaging_period)},
      {"HILO_WARMUP_STEPS", number(config.warmup_steps)},
      {"HILO_TIMELINE", config.timeline_path},
      {"HILO_STALL_WARNING_SECONDS", number(absl::ToDoubleSeconds(config.stall_warning))},
      {"HILO_STALL_SHUTDOWN_SECONDS", number(absl::ToDoubleSeconds(config.stall_shutdown))},
      {"HILO_STATUS_PORT", number(config.status_port)},
      {"HILO_STATUS_ADDRESS", config.status_address},
  };
}

std::string DescribeConfig(const RuntimeConfig& config) {
  std::vector<std::string> parts;
  for (const auto& [name, value] : ConfigSettings(config)) parts.push_back(absl::StrCat(name, "=", value));
  return absl::StrJoin(parts, " ");
}

}  // namespace hilo
