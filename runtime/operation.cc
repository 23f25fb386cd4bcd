#include "runtime/operation.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hilo {

absl::string_view CollectiveTypeName(CollectiveType type) {
  switch (type) {
    case CollectiveType::kAllreduce: return "allreduce";
    case CollectiveType::kAllgather: return "allgather";
    case CollectiveType::kBroadcast: return "broadcast";
    case CollectiveType::kAverageAcrossGroups: return "average-across-groups";
    case CollectiveType::kReducescatter: return "reducescatter";
    case CollectiveType::kAlltoall: return "alltoall";
  }
  return "invalid";
}

absl::string_view ReduceOpName(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return "sum";
    case ReduceOp::kAverage: return "average";
    case ReduceOp::kMin: return "min";
    case ReduceOp::kMax: return "max";
    case ReduceOp::kProduct: return "product";
  }
  return "invalid";
}

void Operation::Complete(absl::Status status, std::vector<char> output,
                         std::vector<int64_t> output_shape) {
  status_ = std::move(status);
  output_ = std::move(output);
  output_shape_ = std::move(output_shape);
  // The callback runs before waiters are released, so a caller whose Wait() returned can rely on
  // the callback's effects.
  if (callback_) {
    callback_(status_);
    callback_ = nullptr;
  }
  done_.Notify();
}

int64_t ElementCount(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t dim : shape) {
    if (dim < 0) return -1;
    if (dim != 0 && count > std::numeric_limits<int64_t>::max() / dim) return -1;
    count *= dim;
  }
  return count;
}

std::string ShapeToString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

}  // namespace hilo
