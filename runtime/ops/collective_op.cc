#include "runtime/ops/collective_op.h"

#include <algorithm>
#include <array>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/dtype.h"
#include "runtime/common/rank_values.h"
#include "runtime/negotiation/wire_format.h"

namespace hilo {

// One per collective type, each defined in its own file.
const CollectiveOp& AllreduceOp();
const CollectiveOp& AllgatherOp();
const CollectiveOp& BroadcastOp();
const CollectiveOp& AveragingRoundOp();
const CollectiveOp& ReducescatterOp();
const CollectiveOp& AlltoallOp();

namespace {

// Indexed by CollectiveType's value (collective_op_test checks that each op sits at its own).
using OpTable = std::array<const CollectiveOp*, 6>;

const OpTable& Ops() {
  // Built once, on first use; the ops are immutable.
  static const OpTable* const ops = new OpTable{
      &AllreduceOp(),      &AllgatherOp(),     &BroadcastOp(),
      &AveragingRoundOp(), &ReducescatterOp(), &AlltoallOp(),
  };
  return *ops;
}

}  // namespace

const CollectiveOp* FindOp(int type) {
  const OpTable& ops = Ops();
  if (type < 0 || type >= static_cast<int>(ops.size())) return nullptr;
  return ops[type];
}

const CollectiveOp& OpFor(CollectiveType type) { return *FindOp(static_cast<int>(type)); }

const CollectiveOp& OpFor(proto::CollectiveType type) { return OpFor(FromProto(type)); }

absl::Status CollectiveOp::Validate(const TensorRequest& request, const Topology& topology) const {
  return absl::OkStatus();
}

std::string DescribeByRank(const std::vector<proto::Request>& requests,
                           const std::function<std::string(const proto::Request&)>& describe) {
  std::vector<std::pair<std::string, int>> value_by_rank;
  value_by_rank.reserve(requests.size());
  for (const proto::Request& request : requests) {
    value_by_rank.emplace_back(describe(request), request.world_rank());
  }
  return DescribeRanksByValue(value_by_rank);
}

bool SameShape(const proto::Request& a, const proto::Request& b) {
  return std::equal(a.shape().begin(), a.shape().end(), b.shape().begin(), b.shape().end());
}

bool SameRowShape(const proto::Request& a, const proto::Request& b) {
  return a.shape_size() > 0 && b.shape_size() == a.shape_size() &&
         std::equal(a.shape().begin() + 1, a.shape().end(), b.shape().begin() + 1);
}

bool SameParameters(const proto::Request& a, const proto::Request& b) {
  if (a.parameters_size() != b.parameters_size()) return false;
  for (int i = 0; i < a.parameters_size(); ++i) {
    if (a.parameters(i).dtype() != b.parameters(i).dtype() ||
        a.parameters(i).count() != b.parameters(i).count()) {
      return false;
    }
  }
  return true;
}

std::string DescribeShapes(const std::vector<proto::Request>& requests) {
  return DescribeByRank(requests, [](const proto::Request& r) {
    return ShapeToString({r.shape().begin(), r.shape().end()});
  });
}

std::string DescribeRowShapes(const std::vector<proto::Request>& requests) {
  return DescribeByRank(requests, [](const proto::Request& r) {
    if (r.shape_size() == 0) return std::string("a scalar");
    return absl::StrCat("[*, ", absl::StrJoin(r.shape().begin() + 1, r.shape().end(), ", "), "]");
  });
}

std::string DescribeReduceOps(const std::vector<proto::Request>& requests) {
  return DescribeByRank(requests, [](const proto::Request& r) {
    return std::string(ReduceOpName(FromProto(r.reduce_op())));
  });
}

absl::Status ValidateRowCollective(const TensorRequest& request) {
  const absl::string_view collective = CollectiveTypeName(request.collective);
  if (request.device >= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", request.name, "': ", collective, " of CUDA tensors is not supported yet "
        "(allreduce, broadcast and averaging rounds are); copy the tensor to host memory"));
  }
  if (request.shape.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", request.name, "': ", collective, " works along the first dimension, so the "
        "tensor needs at least one (reshape a scalar to [1])"));
  }
  return absl::OkStatus();
}

absl::StatusOr<DataPlane*> PlaneForEntry(ExecutionContext& context, const TensorEntry& entry) {
  const TensorRequest* one = &entry.request;
  return context.PlaneFor(absl::MakeConstSpan(&one, 1));
}

void CompleteWithResult(Operation& operation, absl::StatusOr<OwnedResult> result) {
  if (!result.ok()) {
    operation.Complete(result.status());
    return;
  }
  if (!result->received_splits.empty()) {
    operation.set_received_splits(std::move(result->received_splits));
  }
  operation.Complete(absl::OkStatus(), std::move(result->data), std::move(result->shape));
}

TensorEntry StandInEntry(CommunicatorKind kind, const proto::Response& response, int index) {
  TensorEntry entry;
  entry.request.name = response.tensor_names(index);
  entry.request.communicator = kind;
  entry.request.collective = FromProto(response.collective());
  entry.request.dtype = FromProto(response.dtype());
  entry.operation = std::make_shared<Operation>(nullptr);
  entry.enqueued_at = entry.reported_at = absl::Now();
  return entry;
}

}  // namespace hilo
