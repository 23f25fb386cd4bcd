// Allgather: every rank's tensor concatenated along the first dimension, which may differ from
// rank to rank; the result is a host buffer the operation owns. A joined rank contributes no rows.
#include "runtime/ops/collective_op.h"

namespace hilo {
namespace {

class Allgather final : public CollectiveOp {
 public:
  CollectiveType type() const override { return CollectiveType::kAllgather; }

  absl::Status Validate(const TensorRequest& request, const Topology& topology) const override {
    return ValidateRowCollective(request);
  }

  bool Agree(const proto::Request& first, const proto::Request& other) const override {
    return SameRowShape(first, other);
  }

  void DescribeDifferences(const std::vector<proto::Request>& requests,
                           Differences& differences) const override {
    differences.emplace_back("shape (beyond the first dimension)", DescribeRowShapes(requests));
  }

  // Every rank's first dimension, by communicator rank: each rank's share of the result.
  absl::Status FillResponse(const std::vector<proto::Request>& requests, int communicator_size,
                            proto::Response& response) const override {
    for (const proto::Request& request : requests) {
      response.add_first_dims(request.shape_size() > 0 ? request.shape(0) : 0);
    }
    return absl::OkStatus();
  }

  // The response lists every rank's first dimension, which may change from call to call.
  bool cacheable() const override { return false; }

  bool runs_while_joined() const override { return true; }

  // The joined ranks send no rows; they receive the others' (and drop them) so that the
  // collective runs, which needs the elements per row.
  void AdmitJoined(const std::vector<const proto::Request*>& by_rank,
                   proto::Response& response) const override {
    response.clear_first_dims();
    const proto::Request* reporter = nullptr;
    for (const proto::Request* request : by_rank) {
      response.add_first_dims(request != nullptr ? request->shape(0) : 0);
      if (reporter == nullptr) reporter = request;
    }
    int64_t row_elements = 1;
    for (int d = 1; d < reporter->shape_size(); ++d) row_elements *= reporter->shape(d);
    response.set_row_elements(row_elements);
  }

  std::optional<TensorEntry> StandIn(CommunicatorKind kind, const proto::Response& response,
                                     int index,
                                     std::deque<std::vector<char>>& buffers) const override {
    if (response.row_elements() <= 0) return std::nullopt;
    TensorEntry entry = StandInEntry(kind, response, index);
    entry.request.shape = {0, response.row_elements()};
    return entry;
  }

  void Execute(ExecutionContext& context, const proto::Response& response,
               TensorEntry& entry) const override {
    CompleteWithResult(*entry.operation,
                       RunAllgather(context.HostCommunicator(), entry.request,
                                    {response.first_dims().data(),
                                     static_cast<size_t>(response.first_dims_size())}));
  }
};

}  // namespace

const CollectiveOp& AllgatherOp() {
  static const Allgather* const op = new Allgather();
  return *op;
}

}  // namespace hilo
