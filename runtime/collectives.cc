#include "runtime/collectives.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "kernels/reduce.h"
#include "runtime/common/status_macros.h"

namespace hilo {
namespace {

absl::Status RequireHostMemory(const transport::Communicator& communicator) {
  if (communicator.memory_kind() == transport::MemoryKind::kHost) return absl::OkStatus();
  return absl::UnimplementedError(absl::StrCat(
      "communicator ", communicator.name(), " works on device memory, which this build's "
      "collectives do not drive yet"));
}

}  // namespace

absl::Status RunAllreduce(transport::Communicator& communicator, const TensorRequest& request) {
  HILO_RETURN_IF_ERROR(RequireHostMemory(communicator));
  const int64_t count = ElementCount(request.shape);
  if (count == 0) return absl::OkStatus();
  HILO_RETURN_IF_ERROR(communicator.AllreduceSum(request.data, count, request.dtype));
  HILO_RETURN_IF_ERROR(communicator.Synchronize());
  if (request.reduce_op == ReduceOp::kAverage && communicator.size() > 1) {
    kernels::DivideInPlace(request.data, count, request.dtype, communicator.size());
  }
  return absl::OkStatus();
}

absl::Status RunFusedAllreduce(transport::Communicator& communicator,
                               absl::Span<const TensorRequest* const> requests,
                               FusionBuffer& buffer, FusedPhaseTimes* phases) {
  HILO_RETURN_IF_ERROR(RequireHostMemory(communicator));
  if (requests.empty()) return absl::OkStatus();
  const DataType dtype = requests[0]->dtype;
  const ReduceOp op = requests[0]->reduce_op;
  const size_t element = DataTypeSize(dtype);
  int64_t total = 0;
  for (const TensorRequest* request : requests) {
    if (request->dtype != dtype || request->reduce_op != op) {
      return absl::InternalError(absl::StrCat("fused allreduce mixes '", requests[0]->name,
                                              "' and '", request->name, "'"));
    }
    total += ElementCount(request->shape);
  }
  if (total == 0) return absl::OkStatus();
  std::vector<PackedSlice> slices;
  slices.reserve(requests.size());
  for (const TensorRequest* request : requests) {
    slices.push_back({request->data, static_cast<size_t>(ElementCount(request->shape)) * element});
  }
  if (phases != nullptr) phases->pack = absl::Now();
  char* packed = buffer.Pack(slices);
  if (phases != nullptr) phases->transport = absl::Now();
  HILO_RETURN_IF_ERROR(communicator.AllreduceSum(packed, total, dtype));
  HILO_RETURN_IF_ERROR(communicator.Synchronize());
  if (op == ReduceOp::kAverage && communicator.size() > 1) {
    kernels::DivideInPlace(packed, total, dtype, communicator.size());
  }
  if (phases != nullptr) phases->unpack = absl::Now();
  buffer.Unpack(slices);
  if (phases != nullptr) phases->end = absl::Now();
  return absl::OkStatus();
}

absl::Status RunBroadcast(transport::Communicator& communicator, const TensorRequest& request) {
  HILO_RETURN_IF_ERROR(RequireHostMemory(communicator));
  const int64_t count = ElementCount(request.shape);
  if (count == 0) return absl::OkStatus();
  HILO_RETURN_IF_ERROR(
      communicator.Broadcast(request.data, count, request.dtype, request.root_rank));
  return communicator.Synchronize();
}

absl::StatusOr<AllgatherResult> RunAllgather(transport::Communicator& communicator,
                                             const TensorRequest& request,
                                             absl::Span<const int64_t> first_dims) {
  HILO_RETURN_IF_ERROR(RequireHostMemory(communicator));
  if (static_cast<int>(first_dims.size()) != communicator.size()) {
    return absl::InternalError(absl::StrCat("allgather of '", request.name, "': ",
                                            first_dims.size(), " first dims for ",
                                            communicator.size(), " ranks"));
  }
  const std::vector<int64_t> row_shape(request.shape.begin() + 1, request.shape.end());
  const int64_t row_elements = ElementCount(row_shape);
  std::vector<int64_t> counts;
  int64_t total_rows = 0;
  for (int64_t rows : first_dims) {
    counts.push_back(rows * row_elements);
    total_rows += rows;
  }
  AllgatherResult result;
  result.shape.push_back(total_rows);
  result.shape.insert(result.shape.end(), row_shape.begin(), row_shape.end());
  result.data.resize(static_cast<size_t>(total_rows * row_elements) * DataTypeSize(request.dtype));
  if (result.data.empty()) return result;
  HILO_RETURN_IF_ERROR(communicator.Allgather(request.data, counts[communicator.rank()],
                                              result.data.data(), counts, request.dtype));
  HILO_RETURN_IF_ERROR(communicator.Synchronize());
  return result;
}

}  // namespace hilo
