// The tensors this rank has enqueued and not yet finished, per communicator.
//
// Framework threads Add() entries; the coordinator thread takes the requests to report in the
// next negotiation (each entry is reported once), waits for new work between cycles, and
// removes entries when their responses arrive. Names are unique per communicator while in flight.
// Thread-safe.
#ifndef HILO_RUNTIME_NEGOTIATION_TENSOR_QUEUE_H_
#define HILO_RUNTIME_NEGOTIATION_TENSOR_QUEUE_H_

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/negotiation.pb.h"
#include "runtime/common/clock.h"
#include "runtime/operation.h"
#include "runtime/topology.h"

namespace hilo {

struct TensorEntry {
  TensorRequest request;
  std::shared_ptr<Operation> operation;
  absl::Time enqueued_at;  // when the framework enqueued it
  absl::Time reported_at;  // when the coordinator took it into a negotiation
};

class TensorQueue {
 public:
  // `clock` (which must outlive the queue) times WaitForWork and the entries' reports.
  explicit TensorQueue(Clock& clock = Clock::System()) : clock_(clock) {}

  // ALREADY_EXISTS if the name is in flight on that communicator; after Close(), the status it
  // was closed with.
  absl::Status Add(TensorEntry entry) ABSL_LOCKS_EXCLUDED(mu_);

  // Requests for the entries on `kind` added since the last call, in the order they were added.
  // `communicator_rank` and `world_rank` are stamped on each.
  std::vector<proto::Request> TakeNewRequests(CommunicatorKind kind, int communicator_rank,
                                              int world_rank) ABSL_LOCKS_EXCLUDED(mu_);

  // Removes and returns the named entry; NOT_FOUND if it is not in flight.
  absl::StatusOr<TensorEntry> Remove(CommunicatorKind kind, const std::string& name)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Blocks until an entry is added that has not been reported yet, Wake() is called, or
  // the queue's clock reaches `deadline`. Returns at once if such an entry already exists.
  void WaitForWork(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);
  // Ends the current (or next) WaitForWork early.
  void Wake() ABSL_LOCKS_EXCLUDED(mu_);

  // Refuses further Adds with `reason` and returns every entry still in flight.
  std::vector<TensorEntry> Close(absl::Status reason) ABSL_LOCKS_EXCLUDED(mu_);

  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);
  // Entries in flight on one communicator (reported or not).
  size_t size(CommunicatorKind kind) const ABSL_LOCKS_EXCLUDED(mu_);

  // Entries added so far, ever (for telling whether a burst of enqueues is still going on).
  int64_t additions() const { return additions_.load(std::memory_order_acquire); }

 private:
  bool HasWorkLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Clock& clock_;
  std::atomic<int64_t> additions_{0};
  mutable absl::Mutex mu_;
  absl::Status closed_reason_ ABSL_GUARDED_BY(mu_);  // OK while open
  bool wake_requested_ ABSL_GUARDED_BY(mu_) = false;
  std::array<absl::flat_hash_map<std::string, TensorEntry>, kNumCommunicatorKinds> in_flight_
      ABSL_GUARDED_BY(mu_);
  // Names added but not yet reported, in the order they were added.
  std::array<std::vector<std::string>, kNumCommunicatorKinds> unreported_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hilo

#endif  // HILO_RUNTIME_NEGOTIATION_TENSOR_QUEUE_H_
