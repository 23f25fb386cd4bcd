#include "runtime/request_validator.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/dtype.h"
#include "runtime/common/status_macros.h"
#include "runtime/ops/collective_op.h"

namespace hilo {
namespace {

absl::Status ValidateDevice(const TensorRequest& request, bool built_with_cuda) {
  if (request.device < -1) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", request.name, "': device ", request.device, " is not a CUDA device"));
  }
  if (request.device >= 0 && !built_with_cuda) {
    return absl::FailedPreconditionError(absl::StrCat(
        "'", request.name, "' is on CUDA device ", request.device,
        ", but this hilo was built without CUDA (hilorun --check-build says which build it is)"));
  }
  return absl::OkStatus();
}

// The request's enums and name: what any collective needs before its own rules are read.
absl::Status ValidateKinds(const TensorRequest& request) {
  if (request.name.empty()) return absl::InvalidArgumentError("tensor name must not be empty");
  const int communicator = static_cast<int>(request.communicator);
  if (communicator < 0 || communicator >= kNumCommunicatorKinds) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", request.name, "': unknown communicator ", communicator));
  }
  if (!IsValidDataType(static_cast<int>(request.dtype))) {
    return absl::InvalidArgumentError(absl::StrCat("'", request.name, "': unknown dtype ",
                                                   static_cast<int>(request.dtype)));
  }
  const int collective = static_cast<int>(request.collective);
  if (FindOp(collective) == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", request.name, "': unknown collective ", collective));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRequest(const TensorRequest& request, const Topology& topology,
                             bool built_with_cuda) {
  HILO_RETURN_IF_ERROR(ValidateKinds(request));
  HILO_RETURN_IF_ERROR(ValidateDevice(request, built_with_cuda));
  const CollectiveOp& op = OpFor(request.collective);
  if (!op.has_tensor()) return op.Validate(request, topology);
  const int reduce_op = static_cast<int>(request.reduce_op);
  if (reduce_op < 0 || reduce_op > static_cast<int>(ReduceOp::kProduct)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", request.name, "': unknown reduce op ", reduce_op));
  }
  const int64_t count = ElementCount(request.shape);
  if (count < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", request.name, "': shape ", ShapeToString(request.shape),
        " has a negative dimension or more elements than fit in 64 bits"));
  }
  if (count > 0 && request.data == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("'", request.name, "': data is null but shape ",
                                                   ShapeToString(request.shape), " has ", count,
                                                   " elements"));
  }
  return op.Validate(request, topology);
}

}  // namespace hilo
