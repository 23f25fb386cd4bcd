#include "runtime/parameters.h"

namespace hilo {

absl::string_view AveragingAlgorithmName(AveragingAlgorithm algorithm) {
  switch (algorithm) {
    case AveragingAlgorithm::kSharded: return "sharded";
    case AveragingAlgorithm::kWorldAllreduce: return "world-allreduce";
  }
  return "invalid";
}

}  // namespace hilo
