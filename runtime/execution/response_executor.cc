#include "runtime/execution/response_executor.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/execution/collectives.h"
#include "runtime/common/status_macros.h"
#include "runtime/negotiation/wire_format.h"

namespace hilo {
namespace {

// Completes an allgather, reducescatter or alltoall: the operation takes ownership of the result.
void CompleteWithResult(Operation& operation, absl::StatusOr<OwnedResult> result) {
  if (!result.ok()) {
    operation.Complete(result.status());
    return;
  }
  if (!result->received_splits.empty()) {
    operation.set_received_splits(std::move(result->received_splits));
  }
  operation.Complete(absl::OkStatus(), std::move(result->data), std::move(result->shape));
}

TensorEntry StandInEntry(CommunicatorKind kind, const proto::Response& response, int index) {
  TensorEntry entry;
  entry.request.name = response.tensor_names(index);
  entry.request.communicator = kind;
  entry.request.dtype = FromProto(response.dtype());
  entry.operation = std::make_shared<Operation>(nullptr);
  entry.enqueued_at = entry.reported_at = absl::Now();
  return entry;
}

}  // namespace

std::optional<TensorEntry> JoinedStandIn(CommunicatorKind kind, const proto::Response& response,
                                         int index, std::deque<std::vector<char>>& zeros) {
  if (response.device_memory()) return std::nullopt;
  if (response.type() == proto::Response::ALLGATHER && response.row_elements() > 0) {
    // No rows from this rank; it receives (and drops) the others' so that the collective runs.
    TensorEntry entry = StandInEntry(kind, response, index);
    entry.request.collective = CollectiveType::kAllgather;
    entry.request.shape = {0, response.row_elements()};
    return entry;
  }
  if (response.type() != proto::Response::ALLREDUCE || index >= response.tensor_sizes_size()) {
    return std::nullopt;
  }
  TensorEntry entry = StandInEntry(kind, response, index);
  const int64_t count = response.tensor_sizes(index);
  zeros.emplace_back(static_cast<size_t>(count) * DataTypeSize(entry.request.dtype), 0);
  entry.request.reduce_op = FromProto(response.reduce_op());
  entry.request.shape = {count};
  entry.request.data = zeros.back().data();
  return entry;
}

void ResponseExecutor::Execute(CommunicatorKind kind, const proto::ResponseList& responses,
                               bool joined) {
  for (const proto::Response& response : responses.responses()) {
    if (response.type() == proto::Response::ALLREDUCE && response.tensor_names_size() > 1) {
      ExecuteFusedAllreduce(kind, response, joined);
    } else {
      ExecuteOne(kind, response, joined);
    }
  }
}

std::optional<TensorEntry> ResponseExecutor::TakeEntry(CommunicatorKind kind,
                                                       const proto::Response& response, int index,
                                                       bool joined,
                                                       std::deque<std::vector<char>>& zeros) {
  absl::StatusOr<TensorEntry> entry = queue_.Remove(kind, response.tensor_names(index));
  if (entry.ok()) return *std::move(entry);
  if (joined) {
    if (std::optional<TensorEntry> stand_in = JoinedStandIn(kind, response, index, zeros)) {
      return stand_in;
    }
  }
  // An ERROR may name a tensor this rank never submitted: one it finished (shut down) without,
  // which fails on the ranks that did. Any other response names tensors this rank reported, so
  // this is a bug in hilo; the other ranks still run the collective, so say loudly that this
  // rank could not.
  if (response.type() != proto::Response::ERROR) {
    HILO_LOG(logger_, LogLevel::kError, "response for unknown tensor: ", entry.status().message());
  }
  return std::nullopt;
}

void ResponseExecutor::ExecuteFusedAllreduce(CommunicatorKind kind,
                                             const proto::Response& response, bool joined) {
  rounds_.WaitBefore(kind);
  std::vector<TensorEntry> entries;
  std::deque<std::vector<char>> zeros;  // a joined rank's stand-ins for tensors it never had
  for (int index = 0; index < response.tensor_names_size(); ++index) {
    if (std::optional<TensorEntry> entry = TakeEntry(kind, response, index, joined, zeros)) {
      entries.push_back(*std::move(entry));
    }
  }
  std::vector<const TensorRequest*> requests;
  for (const TensorEntry& entry : entries) requests.push_back(&entry.request);
  const bool listening = observer_.Listening();
  FusedPhaseTimes phases;
  absl::StatusOr<DataPlane*> plane = PlaneFor(kind, requests);
  const absl::Status status =
      plane.ok() ? RunFusedAllreduce(**plane, requests, listening ? &phases : nullptr)
                 : plane.status();
  if (listening && status.ok()) {
    for (const TensorEntry& entry : entries) {
      observer_.Negotiated(entry.request.name, entry.enqueued_at, entry.reported_at, phases.pack);
      observer_.FusedAllreduceDone(entry.request.name, kind, static_cast<int>(entries.size()),
                                   phases);
    }
  }
  // Last enqueued first: a framework thread usually waits for its handles in enqueue order, so
  // it then wakes once, when the first is done, instead of once per tensor (a futex wake and a
  // context switch each, which cost more than the transport for small tensors on a busy node).
  for (auto entry = entries.rbegin(); entry != entries.rend(); ++entry) {
    entry->operation->Complete(status);
  }
}

void ResponseExecutor::ExecuteOne(CommunicatorKind kind, const proto::Response& response,
                                  bool joined) {
  if (response.type() != proto::Response::ERROR) rounds_.WaitBefore(kind);
  std::deque<std::vector<char>> zeros;  // a joined rank's stand-in for a tensor it never had
  for (int index = 0; index < response.tensor_names_size(); ++index) {
    std::optional<TensorEntry> entry = TakeEntry(kind, response, index, joined, zeros);
    if (!entry.has_value()) continue;
    const absl::Time started = absl::Now();
    const bool listening = observer_.Listening();
    if (listening) {
      observer_.Negotiated(entry->request.name, entry->enqueued_at, entry->reported_at, started);
    }
    RunOne(kind, response, *entry);
    // A round took the entry with it and reports itself when it finishes (AveragingRounds): it
    // may run on the averaging thread after this returns.
    if (listening && response.type() != proto::Response::ERROR &&
        response.type() != proto::Response::AVERAGE_ACROSS_GROUPS) {
      observer_.TransportDone(entry->request.name, kind, started, absl::Now());
    }
  }
}

void ResponseExecutor::RunOne(CommunicatorKind kind, const proto::Response& response,
                              TensorEntry& entry) {
  const TensorRequest& request = entry.request;
  Operation& operation = *entry.operation;
  const TensorRequest* one = &request;
  switch (response.type()) {
    case proto::Response::ERROR:
      operation.Complete(response.peer_finished()
                             ? absl::FailedPreconditionError(response.error_message())
                             : absl::InvalidArgumentError(response.error_message()));
      return;
    case proto::Response::ALLREDUCE:
    case proto::Response::BROADCAST: {
      absl::StatusOr<DataPlane*> plane = PlaneFor(kind, absl::MakeConstSpan(&one, 1));
      if (!plane.ok()) {
        operation.Complete(plane.status());
      } else {
        operation.Complete(response.type() == proto::Response::ALLREDUCE
                               ? RunAllreduce(**plane, request)
                               : RunBroadcast(**plane, request));
      }
      return;
    }
    case proto::Response::ALLGATHER:
      CompleteWithResult(operation, RunAllgather(host_.Counted(kind), request,
                                                 std::vector<int64_t>(response.first_dims().begin(),
                                                                      response.first_dims().end())));
      return;
    case proto::Response::REDUCESCATTER: {
      absl::StatusOr<DataPlane*> plane = PlaneFor(kind, absl::MakeConstSpan(&one, 1));
      CompleteWithResult(operation, plane.ok() ? RunReducescatter(**plane, request) : plane.status());
      return;
    }
    case proto::Response::ALLTOALL:
      CompleteWithResult(operation, RunAlltoall(host_.Counted(kind), request,
                                                std::vector<int64_t>(response.splits().begin(),
                                                                     response.splits().end())));
      return;
    case proto::Response::AVERAGE_ACROSS_GROUPS:
      rounds_.Run(std::move(entry), FromProto(response.algorithm()),
                  response.check_group_consistency());
      return;
    default:
      operation.Complete(absl::InternalError(absl::StrCat(
          "unknown response type ", response.type(), " for '", request.name, "'")));
  }
}

absl::StatusOr<DataPlane*> ResponseExecutor::PlaneFor(
    CommunicatorKind kind, absl::Span<const TensorRequest* const> requests) {
  if (requests.empty() || requests[0]->device < 0) return &host_.For(kind);
  if (device_ == nullptr) return absl::FailedPreconditionError("no device planes in this runtime");
  HILO_ASSIGN_OR_RETURN(DataPlane * plane, device_->For(kind, requests[0]->device));
  // The framework's pending work on the tensors, waited for on the transport's stream.
  for (const TensorRequest* request : requests) {
    if (request->ready_event != nullptr) {
      HILO_RETURN_IF_ERROR(device_->WaitForEvent(kind, request->ready_event));
    }
  }
  return plane;
}

}  // namespace hilo
