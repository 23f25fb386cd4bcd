// Cross-group averaging rounds as the runtime runs them: where a round runs (the averaging thread
// or the coordinator), on which planes (host, or NCCL for CUDA parameters), and what is kept of
// it (the history behind hilo_averaging_history and the status endpoint).
//
// The coordinator hands each negotiated round to Run, in the negotiated order. Host sharded
// rounds go to the averaging thread (averaging_thread.h) when every member of the group can use
// it; device rounds and the world-allreduce baseline share their transports with the gradients
// and run on the coordinator. Before it runs anything else on the cross communicator, the
// coordinator calls WaitBefore.
//
// Thread-safety: Run, WaitBefore, Abort, Stop and Close from the coordinator thread; history,
// summary and group_counters from any thread, also after Close.
#ifndef HILO_RUNTIME_AVERAGING_AVERAGING_ROUNDS_H_
#define HILO_RUNTIME_AVERAGING_AVERAGING_ROUNDS_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/averaging/averaging_thread.h"
#include "runtime/common/logging.h"
#include "runtime/averaging/cross_group_averager.h"
#include "runtime/execution/device_planes.h"
#include "runtime/observability/execution_observer.h"
#include "runtime/execution/host_planes.h"
#include "runtime/negotiation/tensor_queue.h"
#include "runtime/topology.h"
#include "runtime/transport/shm/shm_communicator.h"

namespace hilo {

struct AveragingRoundsOptions {
  bool use_thread = true;  // HILO_AVERAGING_THREAD
  // The session's communicators may be used from two threads (MPI_THREAD_MULTIPLE).
  bool session_thread_multiple = false;
  // How long a member of the rounds' group segment may be missing before its wait gives up.
  absl::Duration segment_timeout = absl::Minutes(10);
};

class AveragingRounds {
 public:
  static constexpr size_t kHistoryLimit = 100000;  // records kept, the most recent

  // Collective over `group` (the session's group communicator): its members agree whether rounds
  // run on the averaging thread, and create its segment together. `host`, `device` (may be null
  // when no CUDA planes exist), `observer` and `logger` must outlive the result.
  static absl::StatusOr<std::unique_ptr<AveragingRounds>> Create(
      const Topology& topology, HostPlanes& host, DevicePlanes* device,
      SessionCommunicator group, const AveragingRoundsOptions& options,
      ExecutionObserver& observer, Logger& logger);
  ~AveragingRounds();

  AveragingRounds(const AveragingRounds&) = delete;
  AveragingRounds& operator=(const AveragingRounds&) = delete;

  // Runs `entry`'s round and completes its operation, on the thread that ran it: the averaging
  // thread (after this returns) or this one. Waits for the round before it first.
  void Run(TensorEntry entry, AveragingAlgorithm algorithm, bool check_group_consistency);
  // Before a response on `kind` runs on the coordinator: waits for the rounds on the averaging
  // thread when the response would use the cross communicator they use.
  void WaitBefore(CommunicatorKind kind);
  // Whether host sharded rounds run on the averaging thread.
  bool on_thread() const { return thread_ != nullptr; }

  // This rank cannot go on: members waiting in the rounds' group segment fail with `reason`.
  void Abort(const absl::Status& reason);
  // Lets the rounds already handed to the thread finish (or fail, after Abort); idempotent.
  void Stop();
  // After Stop: releases the averager and the rounds' group communicator (before the session's
  // communicators go). The readers below stay usable.
  void Close();

  std::vector<AveragingRecord> history() const ABSL_LOCKS_EXCLUDED(mu_);
  AveragingSummary summary() const ABSL_LOCKS_EXCLUDED(mu_);
  // What the rounds' own group step handed to the transport (zero when they run on the
  // coordinator: then they go through the group plane, counted there).
  transport::TransportCounters group_counters() const;

 private:
  AveragingRounds(const Topology& topology, HostPlanes& host, DevicePlanes* device,
                  ExecutionObserver& observer, Logger& logger);
  // The averaging thread and its group communicator, when every member of the group can use
  // them; else nothing (rounds stay on the coordinator).
  absl::Status StartThread(SessionCommunicator group, const AveragingRoundsOptions& options);
  // The planes a round of `request` runs on with `algorithm` on this thread: host, or NCCL when
  // its parameters are CUDA tensors (then made to wait for their events). No NCCL communicator is
  // created when the round will not read the parameters.
  absl::StatusOr<AveragingPlanes> PlanesFor(const TensorRequest& request,
                                            AveragingAlgorithm algorithm, bool reads_parameters);
  // Records the round's outcome and completes its operation (on the thread that ran it).
  void Finish(TensorEntry& entry, AveragingAlgorithm algorithm, absl::Time start,
              const absl::StatusOr<AveragingRoundResult>& result) ABSL_LOCKS_EXCLUDED(mu_);

  HostPlanes& host_;
  DevicePlanes* const device_;
  ExecutionObserver& observer_;
  Logger& logger_;
  std::unique_ptr<CrossGroupAverager> averager_;
  // The rounds' group on the thread: a second segment of the group, or (groups of one) a
  // communicator of this process, so that the thread makes no call into the session.
  std::unique_ptr<transport::ShmCommunicator> group_segment_;
  std::unique_ptr<transport::Communicator> group_alone_;
  // Null when rounds run on the coordinator. Stays after Close: its counters stay readable.
  std::unique_ptr<AveragingThread> thread_;

  mutable absl::Mutex mu_;
  int64_t rounds_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<AveragingRecord> history_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hilo

#endif  // HILO_RUNTIME_AVERAGING_AVERAGING_ROUNDS_H_
