#include "runtime/execution/response_executor.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/execution/collectives.h"
#include "runtime/ops/collective_op.h"
#include "runtime/common/status_macros.h"
#include "runtime/negotiation/wire_format.h"

namespace hilo {
namespace {

// What the executor lends the ops on one communicator: its data planes and averaging rounds.
class CommunicatorContext final : public ExecutionContext {
 public:
  CommunicatorContext(CommunicatorKind kind, HostPlanes& host, DevicePlanes* device,
                      AveragingRounds& rounds)
      : kind_(kind), host_(host), device_(device), rounds_(rounds) {}

  // Every rank's requests of one response agree on the memory (negotiation checks it).
  absl::StatusOr<DataPlane*> PlaneFor(absl::Span<const TensorRequest* const> requests) override {
    if (requests.empty() || requests[0]->device < 0) return &host_.For(kind_);
    if (device_ == nullptr) {
      return absl::FailedPreconditionError("no device planes in this runtime");
    }
    HILO_ASSIGN_OR_RETURN(DataPlane * plane, device_->For(kind_, requests[0]->device));
    // The framework's pending work on the tensors, waited for on the transport's stream.
    for (const TensorRequest* request : requests) {
      if (request->ready_event != nullptr) {
        HILO_RETURN_IF_ERROR(device_->WaitForEvent(kind_, request->ready_event));
      }
    }
    return plane;
  }

  transport::Communicator& HostCommunicator() override { return host_.Counted(kind_); }

  void StartRound(TensorEntry entry, AveragingAlgorithm algorithm,
                  bool check_group_consistency) override {
    rounds_.Run(std::move(entry), algorithm, check_group_consistency);
  }

 private:
  const CommunicatorKind kind_;
  HostPlanes& host_;
  DevicePlanes* const device_;
  AveragingRounds& rounds_;
};

}  // namespace

std::optional<TensorEntry> JoinedStandIn(CommunicatorKind kind, const proto::Response& response,
                                         int index, std::deque<std::vector<char>>& zeros) {
  if (response.error() || response.device_memory()) return std::nullopt;
  const CollectiveOp* op = FindOp(response.collective());
  return op != nullptr ? op->StandIn(kind, response, index, zeros) : std::nullopt;
}

void ResponseExecutor::Execute(CommunicatorKind kind, const proto::ResponseList& responses,
                               bool joined) {
  for (const proto::Response& response : responses.responses()) {
    if (!response.error() && response.collective() == proto::ALLREDUCE &&
        response.tensor_names_size() > 1) {
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
  if (!response.error()) {
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
  CommunicatorContext context(kind, host_, device_, rounds_);
  absl::StatusOr<DataPlane*> plane = context.PlaneFor(requests);
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
  if (!response.error()) rounds_.WaitBefore(kind);
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
    if (listening && !response.error() && OpFor(response.collective()).completes_in_execute()) {
      observer_.TransportDone(entry->request.name, kind, started, absl::Now());
    }
  }
}

void ResponseExecutor::RunOne(CommunicatorKind kind, const proto::Response& response,
                              TensorEntry& entry) {
  if (response.error()) {
    entry.operation->Complete(response.peer_finished()
                                  ? absl::FailedPreconditionError(response.error_message())
                                  : absl::InvalidArgumentError(response.error_message()));
    return;
  }
  const CollectiveOp* op = FindOp(response.collective());
  if (op == nullptr) {
    entry.operation->Complete(absl::InternalError(absl::StrCat(
        "unknown collective ", response.collective(), " for '", entry.request.name, "'")));
    return;
  }
  CommunicatorContext context(kind, host_, device_, rounds_);
  op->Execute(context, response, entry);
}

}  // namespace hilo
