// The one registry of hilo's settings and the typed RuntimeConfig it produces.
//
// Every setting has one line in the registry (name, default, meaning). hilo reads the HILO_*
// environment once, at init, validates it and hands the resulting RuntimeConfig to the
// components; nothing else in hilo calls getenv. Launchers set the same variables; tests build
// configs directly or through ConfigFromLookup with a map. docs/configuration.md lists every
// entry (a test checks that it does).
//
//   absl::StatusOr<hilo::RuntimeConfig> config = hilo::ConfigFromEnvironment();
//   if (!config.ok()) { /* a bad or unknown HILO_* variable, with its name in the message */ }
//
// Thread-safety: the registry is immutable; a RuntimeConfig is a plain value.
#ifndef HILO_RUNTIME_COMMON_CONFIG_H_
#define HILO_RUNTIME_COMMON_CONFIG_H_

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "runtime/common/logging.h"
#include "runtime/parameters.h"

namespace hilo {

struct RuntimeConfig {
  // Ranks per group (G). 0 means "the number of ranks on this node", so a group is a node.
  int group_size = 0;
  // How often the coordinator thread negotiates when nothing wakes it earlier.
  absl::Duration cycle_time = absl::Milliseconds(1);
  LogLevel log_level = LogLevel::kWarning;
  // Default algorithm of cross-group averaging rounds (a round's options may override it).
  AveragingAlgorithm averaging_algorithm = AveragingAlgorithm::kSharded;
  // Default for checking, before each averaging round, that group members hold identical
  // parameters (costs one checksum pass and a tiny allgather).
  bool check_group_consistency = false;
  // Allreduces of one communicator, dtype and op that become ready together are packed into one
  // transport call of at most this many bytes. 0 disables fusion.
  int64_t fusion_threshold_bytes = int64_t{64} << 20;
  // Allreduces on the world communicator run hierarchically: reduce-scatter in the group,
  // allreduce of the shard across groups, allgather in the group (same result, G times less
  // traffic between groups).
  bool hierarchical_allreduce = false;
  // Host allreduces among ranks of one machine go through a shared-memory segment with
  // sleeping waits (runtime/transport/shm) instead of MPI.
  bool shm_allreduce = true;
  // Host averaging rounds run on a thread of their own (runtime/averaging/averaging_thread.h), with a
  // shared-memory segment of their own for the group step, so that the group allreduces of the
  // steps after a round go on while it moves data.
  bool averaging_thread = true;
  // How allreduces on the cross communicator travel when its ranks are on several machines:
  // kAuto and kTcp use hilo's TCP ring (runtime/transport/tcp: sleeping waits, pipelined
  // chunks), kMpi MPI's own path. kTcp also forces the ring when the ranks share a machine
  // (loopback; for tests), where kAuto uses shared memory.
  enum class CrossTransport { kAuto, kTcp, kMpi };
  CrossTransport cross_transport = CrossTransport::kAuto;
  // The network interface the TCP ring listens on ("eth0"); empty: the first one that is up and
  // not loopback (NCCL_SOCKET_IFNAME / GLOO_SOCKET_IFNAME in NCCL and Gloo).
  std::string socket_interface;
  // Tensors per communicator whose agreed responses are remembered, so that a repeated step
  // negotiates with one bitwise-AND allreduce. 0 disables the cache.
  int cache_capacity = 1024;
  // While this rank has work in flight, negotiation waits poll (yielding the CPU) this long
  // before sleeping between polls. Unset ("auto"): the runtime picks from the node's CPUs.
  std::optional<absl::Duration> control_spin;
  // The local-SGD schedule the launcher asks for (hilorun --averaging-period, --warmup-steps):
  // read by programs, not by the runtime. averaging_period 0: the program decides.
  int averaging_period = 0;
  int64_t warmup_steps = 0;
  // Stall inspector: a tensor some ranks submitted and others have not for stall_warning is
  // reported (every such period); after stall_shutdown (zero: never) the job stops with
  // DEADLINE_EXCEEDED on every rank.
  absl::Duration stall_warning = absl::Seconds(60);
  absl::Duration stall_shutdown = absl::ZeroDuration();
  // The gRPC status endpoint of each node's local rank 0 (0: none).
  int status_port = 0;
  std::string status_address = "127.0.0.1";
  // Where rank 0 writes a Chrome-trace timeline (runtime/observability/timeline.h); empty: none.
  std::string timeline_path;
};

struct ConfigOption {
  absl::string_view name;           // environment variable, e.g. "HILO_GROUP_SIZE"
  absl::string_view default_value;  // as it would be written in the environment
  absl::string_view description;    // one line: meaning, unit, accepted values
  // Parses `value` into `config`; INVALID_ARGUMENT naming the variable when it does not parse.
  absl::Status (*apply)(absl::string_view value, RuntimeConfig* config);
};

// Every setting hilo knows, in documentation order.
absl::Span<const ConfigOption> ConfigRegistry();

// Returns the value of a variable, or nullopt when it is unset.
using ConfigLookup = std::function<std::optional<std::string>(absl::string_view name)>;

// Builds a config from defaults overridden by whatever `lookup` returns for each registered name.
absl::StatusOr<RuntimeConfig> ConfigFromLookup(const ConfigLookup& lookup);

// Reads the process environment. A HILO_* variable that is not in the registry is an
// INVALID_ARGUMENT error (a misspelt setting must not be silently ignored).
absl::StatusOr<RuntimeConfig> ConfigFromEnvironment();

// Horovod settings a migrating job may still set, which hilo does not read: one line per such
// variable that `lookup` finds, naming hilo's equivalent, e.g. "HOROVOD_FUSION_THRESHOLD is set
// but hilo ignores it: set HILO_FUSION_THRESHOLD (bytes)". Logged at start-up, so that a tuned
// Horovod job does not silently run with hilo's defaults.
std::vector<std::string> IgnoredHorovodSettings(const ConfigLookup& lookup);
std::vector<std::string> IgnoredHorovodSettingsInEnvironment();

// "HILO_GROUP_SIZE=4 HILO_CYCLE_TIME_MS=1 ..." for the start-up log line.
std::string DescribeConfig(const RuntimeConfig& config);
// Every setting in effect, as (variable, value), in registry order.
std::vector<std::pair<std::string, std::string>> ConfigSettings(const RuntimeConfig& config);

}  // namespace hilo

#endif  // HILO_RUNTIME_COMMON_CONFIG_H_
