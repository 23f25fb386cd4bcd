// The data movement for one negotiated tensor, written against transport::Communicator only.
//
// Called by the coordinator thread, in the negotiated order, identically on every rank of the
// communicator. Averaging is a sum followed by the division kernel, so it is the same for every
// transport and dtype (16-bit floats are divided in float32 and rounded once). A DataPlane pairs
// the communicator with kernels and a fusion buffer for its memory: MPI with the CPU kernels on
// host memory, NCCL with the CUDA kernels on its own stream in device memory.
#ifndef HILO_RUNTIME_EXECUTION_COLLECTIVES_H_
#define HILO_RUNTIME_EXECUTION_COLLECTIVES_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "runtime/execution/data_plane.h"
#include "runtime/observability/execution_observer.h"
#include "runtime/operation.h"
#include "runtime/transport/communicator.h"

namespace hilo {

// In place on request.data: the sum, or the average over the communicator's ranks.
absl::Status RunAllreduce(DataPlane& plane, const TensorRequest& request);

// Several allreduces of one dtype and reduce op as one transport call: the tensors are packed
// into the fusion buffer (one kernel launch on a GPU), reduced together, divided once for an
// average, and unpacked in place. `phases`, if given, receives when packing, the transport and
// unpacking were started on this thread, and when everything had finished
// (execution_observer.h).
absl::Status RunFusedAllreduce(DataPlane& plane, absl::Span<const TensorRequest* const> requests,
                               FusedPhaseTimes* phases = nullptr);

// In place on request.data: root's data on every rank.
absl::Status RunBroadcast(DataPlane& plane, const TensorRequest& request);

// The result of a collective whose output is not its input's shape: a host buffer the operation
// will own, and its shape.
struct OwnedResult {
  std::vector<char> data;
  std::vector<int64_t> shape;
  std::vector<int64_t> received_splits;  // alltoall: rows from each rank, in rank order
};

// Concatenates every rank's tensor along the first dimension; first_dims[r] is rank r's. The
// result's shape is [sum of first dims, rest of the request's shape...]. Host memory only.
absl::StatusOr<OwnedResult> RunAllgather(transport::Communicator& communicator,
                                         const TensorRequest& request,
                                         absl::Span<const int64_t> first_dims);

// The sum (or average) over the communicator's ranks of the request's tensor, of which this rank
// keeps its block of the first dimension: with d rows and s ranks, rank r keeps
// d / s + (r < d % s ? 1 : 0) rows, blocks in rank order (Horovod's split). Host memory only.
absl::StatusOr<OwnedResult> RunReducescatter(DataPlane& plane, const TensorRequest& request);

// Sends rows splits[rank * size + j] of this rank's tensor to rank j (`splits`: every rank's
// splits, size x size, by communicator rank) and returns the rows received from every rank,
// concatenated in rank order, with how many came from each. Host memory only.
absl::StatusOr<OwnedResult> RunAlltoall(transport::Communicator& communicator,
                                        const TensorRequest& request,
                                        absl::Span<const int64_t> splits);

// The first-dimension block sizes RunReducescatter gives the ranks of a `size`-rank communicator.
std::vector<int64_t> ReducescatterRows(int64_t rows, int size);

}  // namespace hilo

#endif  // HILO_RUNTIME_EXECUTION_COLLECTIVES_H_
