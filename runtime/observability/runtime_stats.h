// Plain values the runtime reports about itself (the client API, the status endpoint, logs):
// no protocol, negotiation or transport types behind them, so that client/hilo_cpp.h can
// include this instead of the controller.
#ifndef HILO_RUNTIME_OBSERVABILITY_RUNTIME_STATS_H_
#define HILO_RUNTIME_OBSERVABILITY_RUNTIME_STATS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace hilo {

struct CacheStats {
  int64_t hits = 0;    // requests served from the response cache
  int64_t misses = 0;  // cacheable requests that needed the full negotiation
};

// Negotiation agreements (bitwise-AND allreduces) a rank took part in: world cycles, and cycles
// its group negotiated alone.
struct AgreementCounts {
  int64_t world = 0;
  int64_t group = 0;
};

// A tensor that some ranks of a communicator submitted and others have not, for a while.
struct StallReport {
  std::string communicator;  // "world", "group 1", ...
  std::string tensor;
  absl::Duration waiting;
  std::vector<int> submitted_by;  // world ranks
  std::vector<int> missing;       // world ranks
};
// "tensor 'w' on world: submitted by ranks 0, 1, 3, not by rank 2, for 12.5s".
std::string DescribeStall(const StallReport& stall);

}  // namespace hilo

#endif  // HILO_RUNTIME_OBSERVABILITY_RUNTIME_STATS_H_
