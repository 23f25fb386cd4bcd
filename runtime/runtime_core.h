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
  // Blocks until the coordinator thread has initialized (or failed to). Collective over all
  // ranks of the job. Errors: INVALID_ARGUMENT for a bad topology (e.g. P not divisible by G),
  // FAILED_PRECONDITION when MPI cannot be used, UNAVAILABLE for transport failures.
  //
  // `open_session` opens the job's session on the coordinator thread (MPI wants the thread that
  // initializes it to be the one that uses it); null: MPI's (transport/mpi/mpi_session.h).
  // Tests pass transport/local/local_session.h's to run whole runtimes as threads of one process.
  using SessionOpener = std::function<absl::StatusOr<std::unique_ptr<transport::Session>>()>;
  static absl::StatusOr<std::unique_ptr<RuntimeCore>> Start(const RuntimeConfig& config,
                                                        SessionOpener open_session = nullptr);

  ~RuntimeCore();  // Shuts down if Shutdown() was not called.

  RuntimeCore(const RuntimeCore&) = delete;
  RuntimeCore& operator=(const RuntimeCore&) = delete;

  const Topology& topology() const { return topology_; }
  const RuntimeConfig& config() const { return config_; }

  // Validates and queues one collective. Never blocks on the network. Errors: INVALID_ARGUMENT
  // for a malformed request, ALREADY_EXISTS for a name in flight, FAILED_PRECONDITION after
  // shutdown was requested on this rank (or the error the runtime stopped with).
  absl::StatusOr<std::shared_ptr<Operation>> Enqueue(TensorRequest request);

  // Ends the cycles on every rank and fails operations still pending with FAILED_PRECONDITION.
  // Idempotent. Returns the error the coordinator stopped with, if it stopped on one.
  absl::Status Shutdown();

  // Horovod's join: this rank has no more data. Until every rank has joined, it takes part in
  // the others' allreduces (any communicator) with zeros and in their allgathers with no rows;
  // their broadcasts, reducescatters, alltoalls and averaging rounds fail with
  // FAILED_PRECONDITION (they need its data). Blocks until every rank
  // has joined; returns the world rank that joined last. Collectives this rank enqueued before
  // still complete. FAILED_PRECONDITION if it is already joining or shutting down.
  absl::StatusOr<int> Join();

  // Horovod's start_timeline / stop_timeline: world rank 0 records the coordinator's work as a
  // Chrome trace in `path` (created or truncated; an error if it cannot be written) until
  // StopTimeline, which closes the file as valid JSON; `mark_cycles` adds an instant event per
  // coordinator cycle. Replaces a timeline already running (HILO_TIMELINE's too). On other ranks
  // both return OK and record nothing, as HILO_TIMELINE. Any thread.
  absl::Status StartTimeline(const std::string& path, bool mark_cycles);
  absl::Status StopTimeline() {
    timeline_.Stop();
    return absl::OkStatus();
  }

  // Tensors enqueued on this rank and not yet done.
  size_t queue_depth() const { return queue_.size(); }

  // Horovod's mpi_threads_supported(): MPI runs with MPI_THREAD_MULTIPLE.
  bool mpi_threads_supported() const { return mpi_threads_supported_; }

  // The program's training steps, as it reports them (CountStep), for the status endpoint and
  // hilorun's progress line. Thread-safe.
  void CountStep() { steps_.fetch_add(1, std::memory_order_relaxed); }
  int64_t steps() const { return steps_.load(std::memory_order_relaxed); }
  // Whether the coordinator still runs.
  bool running() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return !coordinator_stopped_;
  }

  // Payload this rank has handed to the transport on communicator `kind` (data collectives
  // only; see transport/counting_communicator.h). Zero before init completes.
  transport::TransportCounters transport_counters(CommunicatorKind kind) const;

  // Response-cache hits and misses of this rank, over all communicators, since init.
  CacheStats cache_stats() const;

  // Negotiation agreements (bitwise-AND allreduces) this rank took part in since init: over the
  // whole world, and over its group alone (docs/protocol.md, "Cycles").
  AgreementCounts agreement_counts() const;

  // Tensors stalled for at least HILO_STALL_WARNING_SECONDS, as this rank's last inspection saw
  // them (only a communicator's rank 0 sees its communicator's stalls), oldest first.
  std::vector<StallReport> current_stalls() const;

  // What the status endpoint serves (proto/status.proto). Thread-safe.
  status::StatusReply Snapshot() const override;

  // The most recent averaging rounds, oldest first (at most AveragingRounds::kHistoryLimit).
  std::vector<AveragingRecord> averaging_history() const;

 private:
  RuntimeCore(const RuntimeConfig& config, SessionOpener open_session);

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
