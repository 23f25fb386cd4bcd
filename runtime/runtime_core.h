// The hilo runtime of one process, behind the facade (runtime.h): the one object that owns all of
// hilo's state. Only runtime.cc and the runtime's own tests include this header.
//
// What the facade's methods promise is written there; this class keeps the state: the queue, the
// stall inspector, the timeline, the coordinator thread and the parts it builds (CoordinatorParts),
// and the join and shutdown state. It is the scheduler's CycleHooks and the status endpoint's
// StatusSource.
#ifndef HILO_RUNTIME_RUNTIME_CORE_H_
#define HILO_RUNTIME_RUNTIME_CORE_H_

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "runtime/common/config.h"
#include "runtime/common/logging.h"
#include "runtime/coordinator_parts.h"
#include "runtime/negotiation/cycle_scheduler.h"
#include "runtime/operation.h"
#include "runtime/observability/runtime_stats.h"
#include "runtime/observability/stall_inspector.h"
#include "runtime/status/status_server.h"
#include "runtime/negotiation/tensor_queue.h"
#include "runtime/observability/timeline_recorder.h"
#include "runtime/topology.h"
#include "runtime/transport/session.h"

namespace hilo {

class RuntimeCore final : public StatusSource, private CycleHooks {
 public:
  // What each of these promises (errors, blocking, threads) is written once, on the facade
  // (runtime.h), which forwards to them.
  using SessionOpener = transport::SessionOpener;
  static absl::StatusOr<std::unique_ptr<RuntimeCore>> Start(const RuntimeConfig& config,
                                                            SessionOpener open_session = nullptr,
                                                            Clock& clock = Clock::System());
  ~RuntimeCore();  // Shuts down if Shutdown() was not called.

  RuntimeCore(const RuntimeCore&) = delete;
  RuntimeCore& operator=(const RuntimeCore&) = delete;

  const Topology& topology() const { return topology_; }
  const RuntimeConfig& config() const { return config_; }
  absl::StatusOr<std::shared_ptr<Operation>> Enqueue(TensorRequest request);
  absl::Status Shutdown();
  absl::StatusOr<int> Join();
  absl::Status StartTimeline(const std::string& path, bool mark_cycles);
  absl::Status StopTimeline() {
    timeline_.Stop();
    return absl::OkStatus();
  }
  size_t queue_depth() const { return queue_.size(); }
  bool mpi_threads_supported() const { return mpi_threads_supported_; }
  void CountStep() { steps_.fetch_add(1, std::memory_order_relaxed); }
  int64_t steps() const { return steps_.load(std::memory_order_relaxed); }
  bool running() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return !coordinator_stopped_;
  }
  transport::TransportCounters transport_counters(CommunicatorKind kind) const;
  CacheStats cache_stats() const;
  AgreementCounts agreement_counts() const;
  std::vector<StallReport> current_stalls() const;
  std::vector<AveragingRecord> averaging_history() const;

  // What the status endpoint serves (proto/status.proto). Thread-safe.
  status::StatusReply Snapshot() const override;

 private:
  RuntimeCore(const RuntimeConfig& config, SessionOpener open_session, Clock& clock);

  void CoordinatorMain();
  // The parts (session, topology, communicators and everything on them), the timeline;
  // collective.
  absl::Status InitializeOnCoordinator();
  // After the cycles: fails what is left, ends a join, releases the transports in order.
  void TearDownOnCoordinator(const absl::Status& stopped_with);
  // CycleHooks, on the coordinator thread.
  RankState BeginCycle() override ABSL_LOCKS_EXCLUDED(mu_);
  void SetControlSpin(absl::Duration spin) override;
  void Execute(CommunicatorKind kind, const proto::ResponseList& responses) override;
  // Every rank has joined: Join() returns on this rank.
  void CompleteJoin(const proto::ResponseList& responses) ABSL_LOCKS_EXCLUDED(mu_);

  const RuntimeConfig config_;
  const SessionOpener open_session_;
  const absl::Time started_at_ = absl::Now();
  Clock& clock_;
  Logger logger_;
  TensorQueue queue_;
  // Fed by the coordinator thread; its current stalls readable from any thread.
  StallInspector stalls_;
  // World rank 0's timeline (HILO_TIMELINE from init, or StartTimeline from any thread).
  TimelineRecorder timeline_;

  // Written by the coordinator thread before init_done_ is notified; read-only afterwards.
  Topology topology_;
  absl::Status init_status_;
  absl::Notification init_done_;
  bool mpi_threads_supported_ = false;

  // Built by the coordinator thread at init, before init_done_ is notified, and released at its
  // exit; the planes, rounds and scheduler stay readable from any thread (coordinator_parts.h).
  CoordinatorParts parts_;
  // Coordinator thread only: whether this rank is joined in the cycle being run.
  bool joined_this_cycle_ = false;

  std::atomic<int64_t> steps_{0};

  mutable absl::Mutex mu_;
  bool shutdown_requested_ ABSL_GUARDED_BY(mu_) = false;
  // Set by Join(), completed (and reset) when every rank has joined.
  std::shared_ptr<Operation> join_ ABSL_GUARDED_BY(mu_);
  absl::Status final_status_ ABSL_GUARDED_BY(mu_);
  bool coordinator_stopped_ ABSL_GUARDED_BY(mu_) = false;
  // Serializes concurrent Shutdown() calls around the join.
  absl::Mutex join_mu_;
  std::thread coordinator_ ABSL_GUARDED_BY(join_mu_);
  // Node-local rank 0 with HILO_STATUS_PORT set; stopped by Shutdown().
  std::unique_ptr<StatusServer> status_server_ ABSL_GUARDED_BY(join_mu_);
};

}  // namespace hilo

#endif  // HILO_RUNTIME_RUNTIME_CORE_H_
