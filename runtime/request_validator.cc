#include "runtime/request_validator.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/dtype.h"
#include "runtime/common/status_macros.h"

namespace hilo {
namespace {

absl::Status ValidateAlltoallRequest(const TensorRequest& request, const Topology& topology) {
  const int size = topology.CommunicatorSize(request.communicator);
  const std::string where =
      absl::StrCat("the ", CommunicatorKindName(request.communicator), " communicator's ", size,
                   " ranks");
  if (request.splits.empty()) {
    if (request.shape[0] % size != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", request.name, "': alltoall without splits divides the first dimension (",
          request.shape[0], ") evenly among ", where, "; pass splits for an uneven division"));
    }
    return absl::OkStatus();
  }
  if (static_cast<int>(request.splits.size()) != size) {
    return absl::InvalidArgumentError(absl::StrCat("'", request.name, "': alltoall has ",
                                                   request.splits.size(), " splits for ", where));
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
    return absl::InvalidArgumentError(absl::StrCat("'", request.name, "': alltoall splits sum to ",
                                                   rows, " rows but the tensor has ",
                                                   request.shape[0]));
  }
  return absl::OkStatus();
}

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

absl::Status ValidateAveragingRequest(const TensorRequest& request) {
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
  if (collective < 0 || collective > static_cast<int>(CollectiveType::kAlltoall)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", request.name, "': unknown collective ", collective));
  }
  return absl::OkStatus();
}

// Each collective's own rules, once the shape and data are known to be sound.
absl::Status ValidateCollectiveRules(const TensorRequest& request, const Topology& topology) {
  // Allgather, reducescatter and alltoall work along the first dimension and leave their result
  // in a host buffer the operation owns.
  if (request.collective == CollectiveType::kAllgather ||
      request.collective == CollectiveType::kReducescatter ||
      request.collective == CollectiveType::kAlltoall) {
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
  }
  if (request.collective == CollectiveType::kAlltoall) {
    HILO_RETURN_IF_ERROR(ValidateAlltoallRequest(request, topology));
  }
  if (request.collective == CollectiveType::kReducescatter) {
    if (request.reduce_op != ReduceOp::kSum && request.reduce_op != ReduceOp::kAverage) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", request.name, "': reducescatter sums or averages, not ",
                       ReduceOpName(request.reduce_op), " (as Horovod's)"));
    }
  }
  if (request.collective == CollectiveType::kBroadcast) {
    const int size = topology.CommunicatorSize(request.communicator);
    if (request.root_rank < 0 || request.root_rank >= size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", request.name, "': broadcast root ", request.root_rank, " is not a rank of the ",
          CommunicatorKindName(request.communicator), " communicator (size ", size, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRequest(const TensorRequest& request, const Topology& topology,
                             bool built_with_cuda) {
  HILO_RETURN_IF_ERROR(ValidateKinds(request));
  HILO_RETURN_IF_ERROR(ValidateDevice(request, built_with_cuda));
  if (request.collective == CollectiveType::kAverageAcrossGroups) {
    return ValidateAveragingRequest(request);
  }
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
  return ValidateCollectiveRules(request, topology);
}

}  // namespace hilo
