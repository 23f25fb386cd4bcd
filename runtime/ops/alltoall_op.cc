// Alltoall: rank r sends splits[j] rows of its tensor's first dimension to rank j and receives,
// in rank order, the rows every rank sends it; the result is a host buffer the operation owns.
#include "absl/strings/str_cat.h"
#include "runtime/ops/collective_op.h"

namespace hilo {
namespace {

class Alltoall final : public CollectiveOp {
 public:
  CollectiveType type() const override { return CollectiveType::kAlltoall; }

  absl::Status Validate(const TensorRequest& request, const Topology& topology) const override {
    if (absl::Status status = ValidateRowCollective(request); !status.ok()) return status;
    const int size = topology.CommunicatorSize(request.communicator);
    const std::string where = absl::StrCat(
        "the ", CommunicatorKindName(request.communicator), " communicator's ", size, " ranks");
    if (request.splits.empty()) {
      if (request.shape[0] % size != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "'", request.name, "': alltoall without splits divides the first dimension (",
            request.shape[0], ") evenly among ", where, "; pass splits for an uneven division"));
      }
      return absl::OkStatus();
    }
    if (static_cast<int>(request.splits.size()) != size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", request.name, "': alltoall has ", request.splits.size(), " splits for ", where));
    }
    int64_t rows = 0;
    for (int64_t split : request.splits) {
      if (split < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("'", request.name, "': alltoall split ", split, " is negative"));
      }
      rows += split;
    }
    if (rows != request.shape[0]) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", request.name, "': alltoall splits sum to ", rows,
                       " rows but the tensor has ", request.shape[0]));
    }
    return absl::OkStatus();
  }

  // Horovod's default: the first dimension evenly over the ranks (Validate checked that it
  // divides).
  void ApplyDefaults(TensorRequest& request, const Topology& topology) const override {
    if (!request.splits.empty()) return;
    const int size = topology.CommunicatorSize(request.communicator);
    request.splits.assign(size, request.shape[0] / size);
  }

  bool Agree(const proto::Request& first, const proto::Request& other) const override {
    return SameRowShape(first, other);
  }

  void DescribeDifferences(const std::vector<proto::Request>& requests,
                           Differences& differences) const override {
    differences.emplace_back("shape (beyond the first dimension)", DescribeRowShapes(requests));
  }

  // Every rank's splits, row by row: each rank learns what it receives from whom.
  absl::Status FillResponse(const std::vector<proto::Request>& requests, int communicator_size,
                            proto::Response& response) const override {
    for (const proto::Request& request : requests) {
      if (request.splits_size() != communicator_size) {
        response.clear_splits();
        return absl::InvalidArgumentError(
            absl::StrCat("rank ", request.world_rank(), " split its alltoall ",
                         request.splits_size(), " ways for ", communicator_size, " ranks"));
      }
      response.mutable_splits()->Add(request.splits().begin(), request.splits().end());
    }
    return absl::OkStatus();
  }

  // The splits, outside the signature, may change from step to step.
  bool cacheable() const override { return false; }

  void Execute(ExecutionContext& context, const proto::Response& response,
               TensorEntry& entry) const override {
    CompleteWithResult(*entry.operation,
                       RunAlltoall(context.HostCommunicator(), entry.request,
                                   {response.splits().data(),
                                    static_cast<size_t>(response.splits_size())}));
  }
};

}  // namespace

const CollectiveOp& AlltoallOp() {
  static const Alltoall* const op = new Alltoall();
  return *op;
}

}  // namespace hilo
