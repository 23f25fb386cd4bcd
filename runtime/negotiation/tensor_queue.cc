#include "runtime/negotiation/tensor_queue.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/negotiation/wire_format.h"

namespace hilo {

absl::Status TensorQueue::Add(TensorEntry entry) {
  absl::MutexLock lock(&mu_);
  if (!closed_reason_.ok()) return closed_reason_;
  const int index = static_cast<int>(entry.request.communicator);
  auto& in_flight = in_flight_[index];
  const std::string name = entry.request.name;
  if (in_flight.contains(name)) {
    return absl::AlreadyExistsError(absl::StrCat(
        "a tensor named '", name, "' is already in flight on the ",
        CommunicatorKindName(entry.request.communicator),
        " communicator; wait for it before enqueueing the name again"));
  }
  in_flight.emplace(name, std::move(entry));
  unreported_[index].push_back(name);
  additions_.fetch_add(1, std::memory_order_release);
  return absl::OkStatus();
}

std::vector<proto::Request> TensorQueue::TakeNewRequests(CommunicatorKind kind,
                                                         int communicator_rank, int world_rank) {
  absl::MutexLock lock(&mu_);
  const int index = static_cast<int>(kind);
  std::vector<proto::Request> requests;
  requests.reserve(unreported_[index].size());
  for (const std::string& name : unreported_[index]) {
    auto it = in_flight_[index].find(name);
    if (it == in_flight_[index].end()) continue;
    it->second.reported_at = clock_.Now();
    proto::Request request = ToProtoRequest(it->second.request);
    request.set_communicator_rank(communicator_rank);
    request.set_world_rank(world_rank);
    requests.push_back(std::move(request));
  }
  unreported_[index].clear();
  return requests;
}

absl::StatusOr<TensorEntry> TensorQueue::Remove(CommunicatorKind kind, const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto& in_flight = in_flight_[static_cast<int>(kind)];
  auto it = in_flight.find(name);
  if (it == in_flight.end()) {
    return absl::NotFoundError(absl::StrCat("tensor '", name, "' is not in flight on the ",
                                            CommunicatorKindName(kind), " communicator"));
  }
  TensorEntry entry = std::move(it->second);
  in_flight.erase(it);
  return entry;
}

bool TensorQueue::HasWorkLocked() const {
  if (wake_requested_ || !closed_reason_.ok()) return true;
  for (const auto& names : unreported_) {
    if (!names.empty()) return true;
  }
  return false;
}

void TensorQueue::WaitForWork(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  clock_.AwaitWithDeadline(mu_, absl::Condition(this, &TensorQueue::HasWorkLocked), deadline);
  wake_requested_ = false;
}

void TensorQueue::Wake() {
  absl::MutexLock lock(&mu_);
  wake_requested_ = true;
}

std::vector<TensorEntry> TensorQueue::Close(absl::Status reason) {
  absl::MutexLock lock(&mu_);
  closed_reason_ = reason.ok() ? absl::FailedPreconditionError("hilo has been shut down") : reason;
  std::vector<TensorEntry> remaining;
  for (int index = 0; index < kNumCommunicatorKinds; ++index) {
    for (auto& [name, entry] : in_flight_[index]) remaining.push_back(std::move(entry));
    in_flight_[index].clear();
    unreported_[index].clear();
  }
  return remaining;
}

size_t TensorQueue::size() const {
  absl::MutexLock lock(&mu_);
  size_t total = 0;
  for (const auto& in_flight : in_flight_) total += in_flight.size();
  return total;
}

size_t TensorQueue::size(CommunicatorKind kind) const {
  absl::MutexLock lock(&mu_);
  return in_flight_[static_cast<int>(kind)].size();
}

}  // namespace hilo
