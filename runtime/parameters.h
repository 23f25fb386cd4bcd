// The vocabulary of cross-group averaging rounds, shared by the request that asks for one
// (operation.h) and the algorithm that runs it (cross_group_averager.h). Plain values.
#ifndef HILO_RUNTIME_PARAMETERS_H_
#define HILO_RUNTIME_PARAMETERS_H_

#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "kernels/dtype.h"

namespace hilo {

enum class AveragingAlgorithm : int {
  kSharded = 0,         // shard allreduce across groups + allgather within the group
  kWorldAllreduce = 1,  // baseline: one allreduce over all ranks, divided by P
};

absl::string_view AveragingAlgorithmName(AveragingAlgorithm algorithm);

// One parameter tensor, updated in place: in host memory, or on the CUDA device of the round's
// request (all parameters of a round are in one kind of memory).
struct ParameterTensor {
  void* data = nullptr;
  DataType dtype = DataType::kFloat32;
  int64_t count = 0;
  // Device parameters: a cudaEvent_t the framework recorded after last writing it (nullptr:
  // nothing pending); the round's streams wait for it.
  void* ready_event = nullptr;
};

// One completed cross-group averaging round.
struct AveragingRecord {
  int64_t round = 0;        // 1, 2, ... on this runtime
  double discrepancy = 0;   // D (docs/averaging.md)
  int64_t elements = 0;     // parameters averaged
  AveragingAlgorithm algorithm = AveragingAlgorithm::kSharded;
  absl::Duration duration;  // time the round took on this rank, negotiation excluded
};

// The rounds of a runtime so far, as the status endpoint shows them.
struct AveragingSummary {
  int64_t rounds = 0;
  std::optional<AveragingRecord> latest;
};

}  // namespace hilo

#endif  // HILO_RUNTIME_PARAMETERS_H_
