// A cross-group averaging round: every rank's model parameters averaged over the groups
// (runtime/averaging/cross_group_averager.h), on the world communicator. It has no tensor of its
// own: its data are the parameters, whose layout every rank must agree on.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/dtype.h"
#include "runtime/common/status_macros.h"
#include "runtime/negotiation/wire_format.h"
#include "runtime/ops/collective_op.h"

namespace hilo {
namespace {

class AveragingRound final : public CollectiveOp {
 public:
  CollectiveType type() const override { return CollectiveType::kAverageAcrossGroups; }

  bool has_tensor() const override { return false; }

  absl::Status Validate(const TensorRequest& request, const Topology& topology) const override {
    if (request.communicator != CommunicatorKind::kWorld) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", request.name, "': an averaging round involves every rank; it runs on the world "
          "communicator"));
    }
    const int algorithm = static_cast<int>(request.algorithm);
    if (algorithm < 0 || algorithm > static_cast<int>(AveragingAlgorithm::kWorldAllreduce)) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", request.name, "': unknown averaging algorithm ", algorithm));
    }
    for (size_t i = 0; i < request.parameters.size(); ++i) {
      HILO_RETURN_IF_ERROR(ValidateParameter(request, i));
    }
    return absl::OkStatus();
  }

  bool Agree(const proto::Request& first, const proto::Request& other) const override {
    return other.algorithm() == first.algorithm() &&
           other.check_group_consistency() == first.check_group_consistency() &&
           SameParameters(first, other);
  }

  void DescribeDifferences(const std::vector<proto::Request>& requests,
                           Differences& differences) const override {
    differences.emplace_back("parameter layout", DescribeByRank(requests, DescribeParameters));
    differences.emplace_back("averaging algorithm",
                             DescribeByRank(requests, [](const proto::Request& r) {
                               return std::string(AveragingAlgorithmName(FromProto(r.algorithm())));
                             }));
    differences.emplace_back("group consistency check",
                             DescribeByRank(requests, [](const proto::Request& r) {
                               return std::string(r.check_group_consistency() ? "on" : "off");
                             }));
  }

  absl::Status FillResponse(const std::vector<proto::Request>& requests, int communicator_size,
                            proto::Response& response) const override {
    response.set_algorithm(requests[0].algorithm());
    response.set_check_group_consistency(requests[0].check_group_consistency());
    return absl::OkStatus();
  }

  bool cacheable() const override { return true; }

  void Execute(ExecutionContext& context, const proto::Response& response,
               TensorEntry& entry) const override {
    context.StartRound(std::move(entry), FromProto(response.algorithm()),
                       response.check_group_consistency());
  }

  bool completes_in_execute() const override { return false; }

 private:
  static absl::Status ValidateParameter(const TensorRequest& request, size_t i) {
    const ParameterTensor& parameter = request.parameters[i];
    const std::string which = absl::StrCat("'", request.name, "' parameter ", i);
    if (!IsValidDataType(static_cast<int>(parameter.dtype)) || !IsFloatingPoint(parameter.dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(
          which, ": averaging needs a floating-point dtype (float32, float64, float16, bfloat16), "
          "got ", static_cast<int>(parameter.dtype)));
    }
    if (parameter.count < 0) {
      return absl::InvalidArgumentError(absl::StrCat(which, ": negative count ", parameter.count));
    }
    if (parameter.count > 0 && parameter.data == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(which, ": data is null but count is ", parameter.count));
    }
    return absl::OkStatus();
  }

  // "3 tensors, 1325 elements: float32[3], float64[1000], float32[322]" (at most 6 listed).
  static std::string DescribeParameters(const proto::Request& request) {
    int64_t total = 0;
    std::vector<std::string> parts;
    for (const proto::ParameterSpec& spec : request.parameters()) {
      total += spec.count();
      if (parts.size() < 6) {
        parts.push_back(
            absl::StrCat(DataTypeName(FromProto(spec.dtype())), "[", spec.count(), "]"));
      }
    }
    if (request.parameters_size() > 6) parts.push_back("...");
    return absl::StrCat(request.parameters_size(), " tensors, ", total, " elements: ",
                        absl::StrJoin(parts, ", "));
  }
};

}  // namespace

const CollectiveOp& AveragingRoundOp() {
  static const AveragingRound* const op = new AveragingRound();
  return *op;
}

}  // namespace hilo
