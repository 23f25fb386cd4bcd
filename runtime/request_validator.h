// What Enqueue checks before a request joins the queue: everything one rank can know alone
// (name, communicator, dtype, op, shape against data, the device; then the collective's own
// rules, which its op holds: runtime/ops/collective_op.h), so that a malformed call fails at once, on the calling thread, with a message. What needs the
// other ranks (the same dtype, shape and op everywhere) is negotiation's (readiness_table.h).
// Pure functions.
#ifndef HILO_RUNTIME_REQUEST_VALIDATOR_H_
#define HILO_RUNTIME_REQUEST_VALIDATOR_H_

#include "absl/status/status.h"
#include "runtime/operation.h"
#include "runtime/topology.h"

namespace hilo {

// OK, or INVALID_ARGUMENT naming the tensor and what is wrong; FAILED_PRECONDITION for a CUDA
// tensor in a build without CUDA (`built_with_cuda`). `topology` gives the communicators' sizes
// (a broadcast root, alltoall splits).
absl::Status ValidateRequest(const TensorRequest& request, const Topology& topology,
                             bool built_with_cuda);

}  // namespace hilo

#endif  // HILO_RUNTIME_REQUEST_VALIDATOR_H_
