// What the coordinator thread builds at init, in dependency order, and releases at its exit:
// the session and its communicators, the topology the ranks agree on, the controllers, the host
// and device planes, the averaging rounds, the response executor and the cycle scheduler.
//
// Build and Release run on the coordinator thread. The session, communicators, controllers and
// executor are used by that thread alone. The planes, rounds and scheduler are kept after Release
// (never called again, their transports gone), so that other threads may read their counters
// for as long as the parts live; they may be read from any thread once Build has returned.
#ifndef HILO_RUNTIME_COORDINATOR_PARTS_H_
#define HILO_RUNTIME_COORDINATOR_PARTS_H_

#include <array>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/averaging/averaging_rounds.h"
#include "runtime/common/config.h"
#include "runtime/common/logging.h"
#include "runtime/negotiation/controller.h"
#include "runtime/negotiation/cycle_scheduler.h"
#include "runtime/execution/device_planes.h"
#include "runtime/observability/execution_observer.h"
#include "runtime/execution/host_planes.h"
#include "runtime/execution/response_executor.h"
#include "runtime/observability/stall_inspector.h"
#include "runtime/negotiation/tensor_queue.h"
#include "runtime/topology.h"
#include "runtime/transport/session.h"

namespace hilo {

class CoordinatorParts {
 public:
  // What the parts are built around; all must outlive the parts.
  struct Surroundings {
    const RuntimeConfig& config;
    Logger& logger;
    Clock& clock;  // the queue's: paces the cycles, times the stalls
    TensorQueue& queue;
    StallInspector& stalls;
    ExecutionObserver& observer;
    CycleHooks& hooks;
  };

  explicit CoordinatorParts(const Surroundings& surroundings) : around_(surroundings) {}

  // Opens `session` (its opener runs here, on the coordinator thread) and builds the rest.
  // Collective over the job. On an error the parts built so far stay, for Release.
  absl::Status Build(const transport::SessionOpener& open_session);
  // Transports before the session (MPI objects before MPI_Finalize); after an error
  // (`stopped_with` not OK) the NCCL communicators are aborted, so that no device work waits on
  // a peer that is gone. Rounds already on the averaging thread finish first.
  void Release(const absl::Status& stopped_with);
  // This rank cannot go on: every member of its node waiting in one of its shared-memory
  // segments fails at once with `reason`.
  void AbortSegments(const absl::Status& reason);

  // After Build.
  const Topology& topology() const { return topology_; }
  bool thread_multiple() const { return thread_multiple_; }
  absl::Duration control_spin() const { return control_spin_; }
  // Null until built.
  HostPlanes* host_planes() const { return host_planes_.get(); }
  DevicePlanes* device_planes() const { return device_planes_.get(); }
  AveragingRounds* rounds() const { return rounds_.get(); }
  CycleScheduler* scheduler() const { return scheduler_.get(); }
  ResponseExecutor& executor() { return *executor_; }
  // Coordinator only: the session's communicators, by CommunicatorKind.
  const std::array<std::unique_ptr<transport::RankCommunicator>, kNumCommunicatorKinds>&
  communicators() const {
    return communicators_;
  }

 private:
  // The session, the topology and the communicators on it.
  absl::Status BuildCommunicators(const transport::SessionOpener& open_session);
  // Everything that runs on the communicators; `peer_timeout` for the segments, ring and NCCL.
  absl::Status BuildComponents(absl::Duration peer_timeout);
  NegotiationChannels BuildControllers();

  const Surroundings around_;
  Topology topology_;
  bool thread_multiple_ = false;
  absl::Duration control_spin_;
  // Coordinator only.
  std::unique_ptr<transport::Session> session_;
  std::array<std::unique_ptr<transport::RankCommunicator>, kNumCommunicatorKinds> communicators_;
  std::array<std::unique_ptr<Controller>, kNumCommunicatorKinds> controllers_;
  std::unique_ptr<ResponseExecutor> executor_;
  // Kept after Release for their readers.
  std::unique_ptr<HostPlanes> host_planes_;
  std::unique_ptr<DevicePlanes> device_planes_;  // NCCL, for CUDA tensors
  std::unique_ptr<AveragingRounds> rounds_;
  std::unique_ptr<CycleScheduler> scheduler_;
};

}  // namespace hilo

#endif  // HILO_RUNTIME_COORDINATOR_PARTS_H_
