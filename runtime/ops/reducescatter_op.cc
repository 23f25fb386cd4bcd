// Reducescatter: the sum or average over the ranks, of which rank r keeps block r of the first
// dimension (Horovod's split: the first dim % size ranks one row more).
#include "absl/strings/str_cat.h"
#include "runtime/ops/collective_op.h"

namespace hilo {
namespace {

class Reducescatter final : public CollectiveOp {
 public:
  CollectiveType type() const override { return CollectiveType::kReducescatter; }

  absl::Status Validate(const TensorRequest& request, const Topology& topology) const override {
    if (absl::Status status = ValidateRowCollective(request); !status.ok()) return status;
    if (request.reduce_op != ReduceOp::kSum && request.reduce_op != ReduceOp::kAverage) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", request.name, "': reducescatter sums or averages, not ",
                       ReduceOpName(request.reduce_op), " (as Horovod's)"));
    }
    return absl::OkStatus();
  }

  bool Agree(const proto::Request& first, const proto::Request& other) const override {
    return other.reduce_op() == first.reduce_op() && SameShape(first, other);
  }

  void DescribeDifferences(const std::vector<proto::Request>& requests,
                           Differences& differences) const override {
    differences.emplace_back("reduce op", DescribeReduceOps(requests));
    differences.emplace_back("shape", DescribeShapes(requests));
  }

  // Every rank's block follows from the shape and the communicator's size.
  bool cacheable() const override { return true; }

  void Execute(ExecutionContext& context, const proto::Response& response,
               TensorEntry& entry) const override {
    absl::StatusOr<DataPlane*> plane = PlaneForEntry(context, entry);
    CompleteWithResult(*entry.operation,
                       plane.ok() ? RunReducescatter(**plane, entry.request) : plane.status());
  }
};

}  // namespace

const CollectiveOp& ReducescatterOp() {
  static const Reducescatter* const op = new Reducescatter();
  return *op;
}

}  // namespace hilo
