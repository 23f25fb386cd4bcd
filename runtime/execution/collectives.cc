#include "runtime/execution/collectives.h"

#include <optional>

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

// Min, max and product: the reductions other than the sum (and the average, a divided sum).
std::optional<kernels::Reduction> OtherReduction(ReduceOp op) {
  switch (op) {
    case ReduceOp::kMin:
      return kernels::Reduction::kMin;
    case ReduceOp::kMax:
      return kernels::Reduction::kMax;
    case ReduceOp::kProduct:
      return kernels::Reduction::kProduct;
    case ReduceOp::kSum:
    case ReduceOp::kAverage:
      break;
  }
  return std::nullopt;
}

}  // namespace

absl::Status RunAllreduce(DataPlane& plane, const TensorRequest& request) {
  const int64_t count = ElementCount(request.shape);
  if (count == 0) return absl::OkStatus();
  transport::Communicator& communicator = plane.communicator;
  if (const std::optional<kernels::Reduction> other = OtherReduction(request.reduce_op)) {
    HILO_RETURN_IF_ERROR(communicator.AllreduceWith(request.data, count, request.dtype, *other));
    HILO_RETURN_IF_ERROR(communicator.Synchronize());
    return plane.kernels.Synchronize();
  }
  HILO_RETURN_IF_ERROR(communicator.AllreduceSum(request.data, count, request.dtype));
  if (request.reduce_op == ReduceOp::kAverage && communicator.size() > 1) {
    HILO_RETURN_IF_ERROR(
        plane.kernels.Divide(request.data, count, request.dtype, communicator.size()));
  }
  HILO_RETURN_IF_ERROR(communicator.Synchronize());
  return plane.kernels.Synchronize();
}

absl::Status RunFusedAllreduce(DataPlane& plane, absl::Span<const TensorRequest* const> requests,
                               FusedPhaseTimes* phases) {
  if (requests.empty()) return absl::OkStatus();
  const DataType dtype = requests[0]->dtype;
  const ReduceOp op = requests[0]->reduce_op;
  const size_t element = DataTypeSize(dtype);
  int64_t total = 0;
  std::vector<kernels::PackSlice> slices;
  slices.reserve(requests.size());
  for (const TensorRequest* request : requests) {
    if (request->dtype != dtype || request->reduce_op != op) {
      return absl::InternalError(absl::StrCat("fused allreduce mixes '", requests[0]->name,
                                              "' and '", request->name, "'"));
    }
    const int64_t count = ElementCount(request->shape);
    slices.push_back({request->data, total * static_cast<int64_t>(element),
                      count * static_cast<int64_t>(element)});
    total += count;
  }
  if (total == 0) return absl::OkStatus();
  transport::Communicator& communicator = plane.communicator;
  const bool average = op == ReduceOp::kAverage && communicator.size() > 1;
  if (phases != nullptr) phases->pack = absl::Now();
  // A transport that copies the data anyway (shared memory) gathers from the tensors and
  // scatters back to them itself: no fusion buffer, no pack or unpack copies. Min, max and
  // product always pack.
  if (phases != nullptr) phases->transport = phases->pack;
  const std::optional<kernels::Reduction> other = OtherReduction(op);
  if (!other && communicator.capabilities().sums_slices) {
    HILO_RETURN_IF_ERROR(communicator.AllreduceSumSlices(slices, dtype));
    if (phases != nullptr) phases->unpack = absl::Now();
    for (const TensorRequest* request : requests) {
      if (average) {
        HILO_RETURN_IF_ERROR(plane.kernels.Divide(request->data, ElementCount(request->shape),
                                                  dtype, communicator.size()));
      }
    }
  } else {
    HILO_ASSIGN_OR_RETURN(void* packed,
                          plane.fusion.Reserve(static_cast<size_t>(total) * element));
    HILO_RETURN_IF_ERROR(plane.kernels.Pack(slices, packed));
    if (phases != nullptr) phases->transport = absl::Now();
    HILO_RETURN_IF_ERROR(other ? communicator.AllreduceWith(packed, total, dtype, *other)
                               : communicator.AllreduceSum(packed, total, dtype));
    if (average) {
      HILO_RETURN_IF_ERROR(plane.kernels.Divide(packed, total, dtype, communicator.size()));
    }
    if (phases != nullptr) phases->unpack = absl::Now();
    HILO_RETURN_IF_ERROR(plane.kernels.Unpack(packed, slices));
  }
  HILO_RETURN_IF_ERROR(communicator.Synchronize());
  HILO_RETURN_IF_ERROR(plane.kernels.Synchronize());
  if (phases != nullptr) phases->end = absl::Now();
  return absl::OkStatus();
}

absl::Status RunBroadcast(DataPlane& plane, const TensorRequest& request) {
  const int64_t count = ElementCount(request.shape);
  if (count == 0) return absl::OkStatus();
  HILO_RETURN_IF_ERROR(
      plane.communicator.Broadcast(request.data, count, request.dtype, request.root_rank));
  return plane.communicator.Synchronize();
}

absl::StatusOr<OwnedResult> RunAllgather(transport::Communicator& communicator,
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
  OwnedResult result;
  result.shape.push_back(total_rows);
  result.shape.insert(result.shape.end(), row_shape.begin(), row_shape.end());
  result.data.resize(static_cast<size_t>(total_rows * row_elements) * DataTypeSize(request.dtype));
  if (result.data.empty()) return result;
  HILO_RETURN_IF_ERROR(communicator.Allgather(request.data, counts[communicator.rank()],
                                              result.data.data(), counts, request.dtype));
  HILO_RETURN_IF_ERROR(communicator.Synchronize());
  return result;
}

absl::StatusOr<OwnedResult> RunAlltoall(transport::Communicator& communicator,
                                        const TensorRequest& request,
                                        absl::Span<const int64_t> splits) {
  HILO_RETURN_IF_ERROR(RequireHostMemory(communicator));
  const int size = communicator.size();
  const int me = communicator.rank();
  if (static_cast<int64_t>(splits.size()) != int64_t{size} * size || request.shape.empty()) {
    return absl::InternalError(absl::StrCat("alltoall of '", request.name, "': ", splits.size(),
                                            " splits for ", size, " ranks"));
  }
  const std::vector<int64_t> row_shape(request.shape.begin() + 1, request.shape.end());
  const int64_t row_elements = ElementCount(row_shape);
  std::vector<int64_t> send_counts(size), recv_counts(size);
  OwnedResult result;
  int64_t rows = 0;
  for (int r = 0; r < size; ++r) {
    send_counts[r] = splits[static_cast<size_t>(me) * size + r] * row_elements;
    const int64_t from_r = splits[static_cast<size_t>(r) * size + me];
    result.received_splits.push_back(from_r);
    recv_counts[r] = from_r * row_elements;
    rows += from_r;
  }
  result.shape.push_back(rows);
  result.shape.insert(result.shape.end(), row_shape.begin(), row_shape.end());
  result.data.resize(static_cast<size_t>(rows * row_elements) * DataTypeSize(request.dtype));
  HILO_RETURN_IF_ERROR(communicator.Alltoall(request.data, send_counts, result.data.data(),
                                             recv_counts, request.dtype));
  HILO_RETURN_IF_ERROR(communicator.Synchronize());
  return result;
}

std::vector<int64_t> ReducescatterRows(int64_t rows, int size) {
  std::vector<int64_t> blocks(size, rows / size);
  for (int r = 0; r < rows % size; ++r) ++blocks[r];
  return blocks;
}

absl::StatusOr<OwnedResult> RunReducescatter(DataPlane& plane, const TensorRequest& request) {
  transport::Communicator& communicator = plane.communicator;
  HILO_RETURN_IF_ERROR(RequireHostMemory(communicator));
  if (request.shape.empty()) {
    return absl::InternalError(absl::StrCat("reducescatter of '", request.name, "': a scalar"));
  }
  const std::vector<int64_t> row_shape(request.shape.begin() + 1, request.shape.end());
  const int64_t row_elements = ElementCount(row_shape);
  std::vector<int64_t> counts = ReducescatterRows(request.shape[0], communicator.size());
  OwnedResult result;
  result.shape.push_back(counts[communicator.rank()]);
  result.shape.insert(result.shape.end(), row_shape.begin(), row_shape.end());
  for (int64_t& count : counts) count *= row_elements;
  const int64_t mine = counts[communicator.rank()];
  result.data.resize(static_cast<size_t>(mine) * DataTypeSize(request.dtype));
  if (ElementCount(request.shape) == 0) return result;
  HILO_RETURN_IF_ERROR(communicator.ReduceScatterSum(request.data, result.data.data(), counts,
                                                     request.dtype));
  if (request.reduce_op == ReduceOp::kAverage && mine > 0) {
    HILO_RETURN_IF_ERROR(
        plane.kernels.Divide(result.data.data(), mine, request.dtype, communicator.size()));
  }
  HILO_RETURN_IF_ERROR(communicator.Synchronize());
  HILO_RETURN_IF_ERROR(plane.kernels.Synchronize());
  return result;
}

}  // namespace hilo
