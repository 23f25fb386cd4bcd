// Runs the responses a negotiation agreed on, in order, and completes their operations.
//
// Each response names tensors this rank enqueued (taken out of the TensorQueue here) or, while
// this rank is joined, tensors it never had: it then takes part with stand-ins (zeros in an
// allreduce, no rows in an allgather). A multi-tensor allreduce is fused; the others run one
// tensor at a time on the data plane of the tensor's memory (host_planes.h, device_planes.h);
// averaging rounds go to AveragingRounds. What happened is reported to the ExecutionObserver.
//
// Thread-safety: the coordinator thread only.
#ifndef HILO_RUNTIME_EXECUTION_RESPONSE_EXECUTOR_H_
#define HILO_RUNTIME_EXECUTION_RESPONSE_EXECUTOR_H_

#include <deque>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/negotiation.pb.h"
#include "runtime/averaging/averaging_rounds.h"
#include "runtime/common/logging.h"
#include "runtime/execution/data_plane.h"
#include "runtime/execution/device_planes.h"
#include "runtime/observability/execution_observer.h"
#include "runtime/execution/host_planes.h"
#include "runtime/negotiation/tensor_queue.h"

namespace hilo {

class ResponseExecutor {
 public:
  // All must outlive the executor; `device` may be null (no CUDA planes: CUDA tensors fail).
  ResponseExecutor(TensorQueue& queue, HostPlanes& host, DevicePlanes* device,
                   AveragingRounds& rounds, ExecutionObserver& observer, Logger& logger)
      : queue_(queue),
        host_(host),
        device_(device),
        rounds_(rounds),
        observer_(observer),
        logger_(logger) {}

  // Runs `responses` on `kind` in order. `joined`: this rank has joined (Runtime::Join) and
  // stands in for the tensors it never enqueued.
  void Execute(CommunicatorKind kind, const proto::ResponseList& responses, bool joined);

 private:
  void ExecuteOne(CommunicatorKind kind, const proto::Response& response, bool joined);
  void ExecuteFusedAllreduce(CommunicatorKind kind, const proto::Response& response, bool joined);
  // Runs one tensor's collective (not fused) and completes its operation.
  void RunOne(CommunicatorKind kind, const proto::Response& response, TensorEntry& entry);
  // The entry for tensor `index` of `response`: this rank's, or while joined a stand-in (its
  // buffer kept in `zeros`); nullopt when this rank has neither.
  std::optional<TensorEntry> TakeEntry(CommunicatorKind kind, const proto::Response& response,
                                       int index, bool joined,
                                       std::deque<std::vector<char>>& zeros);

  TensorQueue& queue_;
  HostPlanes& host_;
  DevicePlanes* const device_;
  AveragingRounds& rounds_;
  ExecutionObserver& observer_;
  Logger& logger_;
};

// While joined, the entry that stands in for tensor `index` of `response` (which this rank never
// enqueued), as its collective's op says (CollectiveOp::StandIn: zeros in an allreduce, the
// buffer appended to `zeros`; no rows in an allgather); nullopt for the collectives that need
// this rank's data, and for device memory.
std::optional<TensorEntry> JoinedStandIn(CommunicatorKind kind, const proto::Response& response,
                                         int index, std::deque<std::vector<char>>& zeros);

}  // namespace hilo

#endif  // HILO_RUNTIME_EXECUTION_RESPONSE_EXECUTOR_H_
