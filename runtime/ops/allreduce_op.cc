// Allreduce: every rank's tensor reduced elementwise (sum, average, min, max, product), in place.
// Several agreed allreduces of one dtype, op and memory are fused into one transport call by the
// executor (negotiation/fusion.h plans it); a joined rank takes part with zeros.
#include "absl/strings/str_cat.h"
#include "kernels/dtype.h"
#include "runtime/negotiation/wire_format.h"
#include "runtime/ops/collective_op.h"

namespace hilo {
namespace {

class Allreduce final : public CollectiveOp {
 public:
  CollectiveType type() const override { return CollectiveType::kAllreduce; }

  bool Agree(const proto::Request& first, const proto::Request& other) const override {
    return other.reduce_op() == first.reduce_op() && SameShape(first, other);
  }

  void DescribeDifferences(const std::vector<proto::Request>& requests,
                           Differences& differences) const override {
    differences.emplace_back("reduce op", DescribeReduceOps(requests));
    differences.emplace_back("shape", DescribeShapes(requests));
  }

  absl::Status FillResponse(const std::vector<proto::Request>& requests, int communicator_size,
                            proto::Response& response) const override {
    // The element count, for fusion's decisions and for a joined rank's zeros.
    int64_t elements = 1;
    for (int64_t dim : requests[0].shape()) elements *= dim;
    response.add_tensor_sizes(elements);
    return absl::OkStatus();
  }

  bool cacheable() const override { return true; }

  bool runs_while_joined() const override { return true; }

  // Zeros of the tensor's size: the joined rank adds nothing to the sum (Horovod's rule; an
  // average still divides by every rank).
  std::optional<TensorEntry> StandIn(CommunicatorKind kind, const proto::Response& response,
                                     int index,
                                     std::deque<std::vector<char>>& buffers) const override {
    if (index >= response.tensor_sizes_size()) return std::nullopt;
    TensorEntry entry = StandInEntry(kind, response, index);
    const int64_t count = response.tensor_sizes(index);
    buffers.emplace_back(static_cast<size_t>(count) * DataTypeSize(entry.request.dtype), 0);
    entry.request.reduce_op = FromProto(response.reduce_op());
    entry.request.shape = {count};
    entry.request.data = buffers.back().data();
    return entry;
  }

  void Execute(ExecutionContext& context, const proto::Response& response,
               TensorEntry& entry) const override {
    absl::StatusOr<DataPlane*> plane = PlaneForEntry(context, entry);
    entry.operation->Complete(plane.ok() ? RunAllreduce(**plane, entry.request) : plane.status());
  }
};

}  // namespace

const CollectiveOp& AllreduceOp() {
  static const Allreduce* const op = new Allreduce();
  return *op;
}

}  // namespace hilo
