// What the status endpoint serves (proto/status.proto), built from plain values the runtime
// gathers: a pure function, so that what a reply says about a runtime in any state is testable
// without one.
#ifndef HILO_RUNTIME_OBSERVABILITY_STATUS_SNAPSHOT_H_
#define HILO_RUNTIME_OBSERVABILITY_STATUS_SNAPSHOT_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "proto/status.pb.h"
#include "runtime/common/config.h"
#include "runtime/parameters.h"
#include "runtime/observability/runtime_stats.h"
#include "runtime/topology.h"
#include "runtime/transport/transport_counters.h"

namespace hilo {

// One communicator's part of a snapshot.
struct CommunicatorActivity {
  transport::TransportCounters transport;
  CacheStats cache;
  int64_t agreements = 0;  // negotiation agreements over it (world and group only)
};

struct RuntimeState {
  Topology topology;
  RuntimeConfig config;
  std::string hostname;
  absl::Duration uptime;
  int64_t queue_depth = 0;
  int64_t steps = 0;
  std::array<CommunicatorActivity, kNumCommunicatorKinds> communicators{};
  AveragingSummary averaging;
  std::vector<StallReport> stalls;
  bool running = true;
  absl::Status stopped_with;  // when not running: OK after a shutdown, else the error
};

status::StatusReply MakeStatusReply(const RuntimeState& state);

}  // namespace hilo

#endif  // HILO_RUNTIME_OBSERVABILITY_STATUS_SNAPSHOT_H_
