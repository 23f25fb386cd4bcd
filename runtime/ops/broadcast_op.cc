// Broadcast: the root rank's tensor on every rank, in place.
#include "absl/strings/str_cat.h"
#include "runtime/ops/collective_op.h"

namespace hilo {
namespace {

class Broadcast final : public CollectiveOp {
 public:
  CollectiveType type() const override { return CollectiveType::kBroadcast; }

  absl::Status Validate(const TensorRequest& request, const Topology& topology) const override {
    const int size = topology.CommunicatorSize(request.communicator);
    if (request.root_rank < 0 || request.root_rank >= size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", request.name, "': broadcast root ", request.root_rank, " is not a rank of the ",
          CommunicatorKindName(request.communicator), " communicator (size ", size, ")"));
    }
    return absl::OkStatus();
  }

  bool Agree(const proto::Request& first, const proto::Request& other) const override {
    return other.root_rank() == first.root_rank() && SameShape(first, other);
  }

  void DescribeDifferences(const std::vector<proto::Request>& requests,
                           Differences& differences) const override {
    differences.emplace_back("shape", DescribeShapes(requests));
    differences.emplace_back("root rank", DescribeByRank(requests, [](const proto::Request& r) {
                               return absl::StrCat("root ", r.root_rank());
                             }));
  }

  bool cacheable() const override { return true; }

  void Execute(ExecutionContext& context, const proto::Response& response,
               TensorEntry& entry) const override {
    absl::StatusOr<DataPlane*> plane = PlaneForEntry(context, entry);
    entry.operation->Complete(plane.ok() ? RunBroadcast(**plane, entry.request) : plane.status());
  }
};

}  // namespace

const CollectiveOp& BroadcastOp() {
  static const Broadcast* const op = new Broadcast();
  return *op;
}

}  // namespace hilo
